"""Time per tracked frame of RGB pipelines on the fingerspelling video, interleaved in one process.

Each pipeline (a set of model folders, or the shipped models) follows the video's 325 frames with
:class:`handpose.inference.tracking.VideoTracker` (ONNX Runtime, one thread, as ``benchmarks/real_images.py`` runs
it), pass after pass, the pipelines taking turns, so that the machine's drift between runs falls on all of them
alike. Prints the median ms per frame of each pass, the median over passes, and each pipeline's ratio to the first.
MediaPipe is not run: ``benchmarks/real_images.py`` gives the ratio to it; this compares our pipelines (a pipeline
given twice is timed as two, numbered: the spread of an A/A comparison)::

    .venv/bin/python benchmarks/tracking_speed.py shipped B/ssd_hand,B/msahp_t,B/gesturenet_digits [--detection]

``--detection`` also times, in each pass, detection on every frame as ``real_images.py`` does: each of the
``webcam_hands`` test photos (312) through the whole pipeline, up to two hands.

(``B``: a folder holding another pipeline's three model folders, e.g. the shipped ones at an earlier commit).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pipelines", nargs="+",
                    help="'shipped', or comma-separated model folders (detector, pose, gesture)")  # fmt: skip
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--detection", action="store_true", help="also time detection on every webcam test photo")
    ap.add_argument("--realdata", type=Path, default=Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" /
                                                                         "realdata")))  # fmt: skip
    args = ap.parse_args(argv)

    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator
    from handpose.inference.tracking import VideoTracker

    asl = open_dataset(args.realdata / "asl_video", "asl_video")
    frames = [asl.read_frame(i) for i in range(len(asl))]
    photos = []
    if args.detection:
        web = open_dataset(args.realdata / "webcam_hands", "webcam_hands", split="test")
        photos = [read_image(path) for path, _ in web.image_boxes()]

    def pipeline(spec: str, max_hands: int) -> HandPoseEstimator:
        if spec == "shipped":
            return HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=max_hands, threads=1)
        return HandPoseEstimator(spec.split(","), backend="onnx", max_hands=max_hands, threads=1)

    # a spec given twice is timed twice (an A/A comparison: the spread two copies of one pipeline show)
    names = [f"{spec} (#{k + 1})" if args.pipelines.count(spec) > 1 else spec for k, spec in enumerate(args.pipelines)]
    ests = {name: (pipeline(spec, 1), pipeline(spec, 2)) for name, spec in zip(names, args.pipelines)}
    medians: dict[str, list[float]] = {k: [] for k in ests}
    detect: dict[str, list[float]] = {k: [] for k in ests}
    for _ in range(args.passes):
        for name, (est, est2) in ests.items():
            tracker, times = VideoTracker(est), []
            for i, frame in enumerate(frames):
                t = time.perf_counter()
                tracker.update(frame, i / asl.fps)
                times.append(time.perf_counter() - t)
            medians[name].append(1000.0 * float(np.median(times)))
            if photos:
                times = []
                for img in photos:
                    t = time.perf_counter()
                    est2(img)
                    times.append(time.perf_counter() - t)
                detect[name].append(1000.0 * float(np.median(times)))
    report(f"asl_video, {len(frames)} frames, tracking", medians, names[0])
    if photos:
        report(f"webcam_hands test, {len(photos)} photos, detection on every frame", detect, names[0])
    return 0


def report(what: str, medians: dict[str, list[float]], first_name: str) -> None:
    """Print each pipeline's per-pass medians (ms per frame), their median and its ratio to the first pipeline's."""
    first = float(np.median(medians[first_name]))
    print(f"{what}, ONNX Runtime one thread: median ms per frame of each pass")
    for name, values in medians.items():
        m = float(np.median(values))
        print(f"{name}: {' '.join(f'{v:.3f}' for v in values)}; median {m:.3f}; ratio to the first {m / first:.3f}")


if __name__ == "__main__":
    sys.exit(main())
