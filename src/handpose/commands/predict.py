"""``handpose predict INPUT``: hands in an image, a folder, a video file or a camera.

Examples::

    handpose predict photo.jpg --out results/                      # the shipped small models
    handpose predict frames/ --model runs/det/best --model runs/pose/best --out results/ --backend onnx
    handpose predict clip.mp4 --out results/ --gesture runs/gesture/best
    handpose predict depth.png --depth --intrinsics 241.42,241.42,160,120 --out results/
    handpose predict 0 --max-frames 300 --out results/             # camera 0

With ``--out DIR``: one JSON per input (``NAME.json``: our hands and COCO-style ``annotations``; for a video
``NAME.jsonl`` with one frame record per line, written as frames arrive) and an overlay (``NAME.png``, or
``NAME.mp4`` for a video) with the skeleton, joint confidences (dot size) and the gesture label. A folder also gets
``predictions.json``: every hand of every image as COCO keypoint results. An output that would replace an input
(``--out`` set to the inputs' own folder) is refused before anything is written. Without ``--out`` a one-line
summary per input is printed. In a folder, a file that cannot be read is reported on stderr and skipped; the exit
code is then 2 (after the other files are done).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ._args import nonnegative_float, positive_float, positive_int, unit_float

NAME = "predict"
HELP = "detect hands and estimate their pose in an image, folder, video or camera (JSON + overlays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="image, folder of images, video file, or camera index (0, 1, ...)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="CKPT",
        help="checkpoint folder or .onnx file (repeatable; default: the shipped small models)",
    )
    parser.add_argument("--gesture", metavar="CKPT", default=None, help="GestureNet checkpoint (or .onnx)")
    parser.add_argument("--no-gesture", action="store_true", help="no gesture model, not even the shipped one")
    parser.add_argument("--out", type=Path, default=None, help="output folder for JSON and overlays")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--threads", type=positive_int, default=None, help="intra-op threads per model")
    parser.add_argument("--depth", action="store_true", help="inputs are depth frames (16-bit PNG in mm, ...)")
    parser.add_argument("--depth-encoding", default="auto", help="png16, nyu, stb, rhd, msra_bin or auto")
    parser.add_argument(
        "--intrinsics",
        default=None,
        metavar="FX,FY,CX,CY",
        help="depth camera (default: the synthetic ICVL-like camera scaled to the frame)",
    )
    parser.add_argument("--camera-preset", default=None, help="depth camera by dataset name (icvl, nyu, msra, ...)")
    parser.add_argument("--max-hands", type=int, default=2)
    parser.add_argument(
        "--min-score",
        type=unit_float,
        default=None,
        help="hand score threshold (default: the pose model's calibrated value)",
    )
    parser.add_argument("--no-track", action="store_true", help="video: run the detector on every frame")
    parser.add_argument("--no-smooth", action="store_true", help="video: no One Euro smoothing")
    parser.add_argument("--min-cutoff", type=positive_float, default=None, help="One Euro min_cutoff (Hz)")
    parser.add_argument("--beta", type=nonnegative_float, default=None, help="One Euro beta (per hand size per second)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="video / camera: stop after N frames")
    parser.add_argument("--no-overlay", action="store_true", help="write JSON only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _parse_intrinsics(args: argparse.Namespace) -> Any:
    from ..errors import ConfigError
    from ..geometry import Intrinsics, intrinsics_for

    if args.intrinsics:
        try:
            fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
        except ValueError:
            raise ConfigError(f"expected FX,FY,CX,CY, got {args.intrinsics!r}", field="--intrinsics") from None
        if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
            raise ConfigError(
                f"the focal lengths must be positive and every value finite, got {args.intrinsics!r}",
                field="--intrinsics",
            )
        return Intrinsics(fx, fy, cx, cy)
    if args.camera_preset:
        return intrinsics_for(args.camera_preset)
    return None


def build_estimator(args: argparse.Namespace) -> Any:
    """The estimator of the command line: the given checkpoints, or the shipped models for the modality."""
    from ..inference.estimator import PRETRAINED, HandPoseEstimator, pretrained_path

    models: list[Any] = list(args.model)
    if not models:
        roles = ["depth"] if args.depth else ["detector", "pose2d"]
        models = [pretrained_path(PRETRAINED[r]) for r in roles]
        if args.gesture is None and not args.no_gesture:
            models.append(pretrained_path(PRETRAINED["gesture"]))
    gesture = args.gesture if args.gesture and not args.no_gesture else None
    est = HandPoseEstimator(models, gesture=gesture, backend=args.backend, threads=args.threads,
                            max_hands=args.max_hands, min_hand_score=args.min_score,
                            intrinsics=_parse_intrinsics(args))  # fmt: skip
    want = "depth" if args.depth else "rgb"
    if want not in est.modalities:
        from ..errors import CheckpointError

        have = ", ".join(f"{m.info.name} ({m.info.modality})" for m in est.models.values())
        what = "--depth input needs a depth model" if args.depth else "RGB input needs an RGB model (--depth for depth)"
        raise CheckpointError(f"{what}; the models given are {have}")
    return est


class _Bar:
    """A rich progress bar on stderr (nothing when disabled)."""

    def __init__(self, enabled: bool, total: int | None, what: str) -> None:
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=True)  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task(what, total=total)

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _read(path: Path, args: argparse.Namespace) -> Any:
    from ..data.image_io import read_depth, read_image

    return read_depth(path, args.depth_encoding) if args.depth else read_image(path)


def _one_frame(est: Any, frame: Any, args: argparse.Namespace) -> list:
    if args.depth:
        return est(frame, modality="depth")
    return est(frame, modality="rgb")


def _summary(name: str, hands: list) -> str:
    parts = [f"{h.gesture or '-'} score {h.score:.2f}" for h in hands]
    return f"{name}: {len(hands)} hand(s)" + (f" [{'; '.join(parts)}]" if parts else "")


def _write_image_outputs(out: Path, stem: str, frame: Any, hands: list, rec: dict, args: argparse.Namespace) -> None:
    from ..data.readers.summary import save_png
    from ..inference.sources import draw_hands
    from ..io import write_json_atomic

    write_json_atomic(out / f"{stem}.json", rec)
    if not args.no_overlay:
        save_png(out / f"{stem}.png", draw_hands(frame, hands, depth=args.depth))


#: the folder's combined output (``predictions.json``): an image of that name keeps its suffix in its own outputs
COMBINED = "predictions"


def _stems(files: list[Path], root: Path) -> list[str]:
    """Output names: the file's relative path without suffix ('/' -> '__'); the suffix kept where two collide, and
    for an image named like the folder's combined output (:data:`COMBINED`)."""
    base = [f.relative_to(root).with_suffix("").as_posix().replace("/", "__") for f in files]
    seen: dict[str, int] = {COMBINED: 1}
    for b in base:
        seen[b] = seen.get(b, 0) + 1
    return [b if seen[b] == 1 else f"{b}{f.suffix.replace('.', '_')}" for b, f in zip(base, files)]


def run_images(est: Any, files: list[Path], root: Path | None, args: argparse.Namespace) -> int:
    from ..errors import HandposeError, one_line
    from ..inference.results import frame_record
    from ..io import write_json_atomic
    from ._args import refuse_overwriting_inputs

    out: Path | None = args.out
    stems = _stems(files, root) if root is not None else [files[0].stem]
    if out is not None:
        written = [out / f"{stem}.{ext}" for stem in stems for ext in ("json", "png")]
        refuse_overwriting_inputs(written + ([out / f"{COMBINED}.json"] if root is not None else []), files)
    bar = _Bar(not args.quiet and len(files) > 1, len(files), "predict")
    coco: list[dict] = []
    failed = 0
    try:
        for path, stem in zip(files, stems):
            try:
                frame = _read(path, args)
                hands = _one_frame(est, frame, args)
            except HandposeError as exc:
                if root is None:
                    raise
                failed += 1
                msg = one_line(exc)  # names the file already when the error has its path
                sys.stderr.write(f"handpose: skipped {msg if str(path) in msg else f'{path}: {msg}'}\n")
                bar.advance()
                continue
            h, w = frame.shape[:2]
            rec = frame_record(hands, source=str(path), width=w, height=h, image_id=stem)
            coco.extend(rec["annotations"])
            if out is not None:
                _write_image_outputs(out, stem, frame, hands, rec, args)
            else:
                print(_summary(str(path), hands))
            bar.advance()
    finally:
        bar.close()
    if root is not None:
        if out is not None:
            write_json_atomic(out / f"{COMBINED}.json", coco)
        done = len(files) - failed
        sys.stderr.write(f"handpose: {done} of {len(files)} file(s) processed, {failed} skipped\n")
    return 2 if failed else 0


def run_video(est: Any, spec: Any, args: argparse.Namespace) -> int:
    from ..errors import HandposeError, one_line
    from ..inference.results import frame_record
    from ..inference.smoothing import hand_smoothing
    from ..inference.sources import VideoSource, VideoWriter, draw_hands
    from ..inference.tracking import VideoTracker
    from ..io import atomic_write

    src = VideoSource(spec.path, spec.camera, max_frames=args.max_frames)
    smoothing: Any = False
    if not args.no_smooth:
        cfg = hand_smoothing()
        if args.min_cutoff is not None:
            cfg.min_cutoff = float(args.min_cutoff)
        if args.beta is not None:
            cfg.beta = float(args.beta)
        smoothing = cfg
    tracker = VideoTracker(est, smoothing=smoothing, tracking=not args.no_track)
    stem = spec.path.stem if spec.path is not None else f"camera{spec.camera}"
    out: Path | None = args.out
    # written as NAME.partial.*, renamed to NAME.* once the whole video is done: a video that ends early or an
    # interrupted run keeps its frames without replacing the results of an earlier, complete run
    part = {ext: out / f"{stem}.partial.{ext}" for ext in ("jsonl", "mp4")} if out is not None else {}
    if out is not None and spec.path is not None:
        from ._args import refuse_overwriting_inputs

        refuse_overwriting_inputs([*part.values(), *(out / f"{stem}.{ext}" for ext in part)], [spec.path])
    interrupted = False
    writer = None
    total = len(src) or None
    bar = _Bar(not args.quiet, total, "video")
    error: HandposeError | None = None
    frames = 0
    with ExitStack() as stack:
        fh = stack.enter_context(atomic_write(part["jsonl"], "w")) if out is not None else None
        try:
            if fh is not None:
                header = {"source": spec.name, "fps": src.fps, "width": src.width, "height": src.height,
                          "declared_frames": src.declared_frames, "tracking": not args.no_track,
                          "smoothing": not args.no_smooth}  # fmt: skip
                fh.write(json.dumps({"header": header}) + "\n")
            try:
                for i, frame in enumerate(src):
                    t = i / src.fps
                    hands = tracker.update(frame, t)
                    frames += 1
                    h, w = frame.shape[:2]
                    rec = frame_record(hands, source=spec.name, width=w, height=h, image_id=i, frame_index=i,
                                       timestamp=t, names=False)  # fmt: skip
                    if fh is not None:
                        fh.write(json.dumps(rec) + "\n")
                        if not args.no_overlay:
                            if writer is None:
                                writer = VideoWriter(part["mp4"], src.fps, (w, h))
                            writer.write(draw_hands(frame, hands))
                    elif i % max(int(src.fps), 1) == 0:
                        print(_summary(f"{spec.name} frame {i}", hands))
                    bar.advance()
            except HandposeError as exc:
                error = exc  # a video that ends early: keep what was done, report, exit 2
            except KeyboardInterrupt:  # the way a camera run ends; a video file stopped part-way is incomplete
                interrupted = spec.kind != "camera"
                sys.stderr.write("handpose: interrupted; keeping the frames done so far\n")
            if fh is not None:
                footer = {"frames": frames, "complete": error is None and not interrupted,
                          "detector_runs": tracker.detector_runs}  # fmt: skip
                fh.write(json.dumps({"footer": footer}) + "\n")
        except BaseException:
            if writer is not None:
                writer.discard()
            raise
        finally:
            bar.close()
    if writer is not None:
        writer.close()
    done = error is None and not interrupted
    kept = [part[ext] for ext, used in (("jsonl", fh is not None), ("mp4", writer is not None)) if used]
    for p in kept if done else ():
        os.replace(p, p.with_name(p.name.replace(".partial.", ".")))
    for stale in set(part.values()) - set(kept) if done else ():  # an earlier failed run's, now superseded
        stale.unlink(missing_ok=True)
    where = "" if done or not kept else f"; the frames done so far are in {', '.join(str(p) for p in kept)}"
    sys.stderr.write(f"handpose: {frames} frame(s), detector on {tracker.detector_runs}{where}\n")
    if error is not None:
        sys.stderr.write(f"handpose: error: {one_line(error)}\n")
        return 2
    return 130 if interrupted else 0


def run(args: argparse.Namespace) -> int:
    from ..inference.sources import list_folder, resolve_input
    from ._args import require_output_folder

    spec = resolve_input(args.input, depth=args.depth)
    require_output_folder(args.out)
    if spec.kind == "folder":
        files = list_folder(spec.path, depth=args.depth)
        if not files:
            from ..errors import DataError

            raise DataError("no image files in the folder", path=spec.path)
    est = build_estimator(args)
    if spec.kind == "folder":
        return run_images(est, files, spec.path, args)
    if spec.kind == "image":
        return run_images(est, [spec.path], None, args)
    if args.depth:
        from ..errors import ConfigError

        raise ConfigError("depth input must be image files (16-bit PNG), not a video or camera", field="--depth")
    return run_video(est, spec, args)
