"""The tracking speed ratio to MediaPipe Hands with the two pipelines' passes interleaved in time.

``benchmarks/real_images.py`` times all of our passes, then all of MediaPipe's; this machine's speed drifts by a
tenth within minutes, so a ratio from one such run moves with it. Here each round times one pass of ours over the
fingerspelling video (325 frames, :class:`handpose.inference.tracking.VideoTracker`, ONNX Runtime, one thread, as
``real_images.py`` runs it), then one pass of MediaPipe Hands over the same frames (tracking mode, one hand,
model_complexity 1, in a process of ``.venv-teacher`` started for that pass and ended before ours runs again: an
idle MediaPipe process beside ours slowed ours by about 5 %), and prints both medians and their ratio per round,
then the median over rounds of each and of the per-round ratios::

    .venv/bin/python benchmarks/tracking_ratio.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

WORKER = r"""
import sys, time
import numpy as np
import mediapipe as mp

video = np.load(sys.argv[1])
with mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=1, model_complexity=1,
                              min_detection_confidence=0.5, min_tracking_confidence=0.5) as det:
    times = []
    for rgb in video:
        t = time.perf_counter()
        det.process(np.ascontiguousarray(rgb))
        times.append((time.perf_counter() - t) * 1000)
print(float(np.median(times)), flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--realdata", type=Path, default=Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" /
                                                                         "realdata")))  # fmt: skip
    ap.add_argument("--mediapipe-python", type=Path, default=REPO / ".venv-teacher" / "bin" / "python")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator
    from handpose.inference.tracking import VideoTracker

    asl = open_dataset(args.realdata / "asl_video", "asl_video")
    frames = [asl.read_frame(i) for i in range(len(asl))]
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "video.npy", np.stack(frames))
        (Path(tmp) / "worker.py").write_text(WORKER)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.setdefault("GLOG_minloglevel", "2")
        for r in range(args.rounds):
            tracker, times = VideoTracker(est), []
            for i, frame in enumerate(frames):
                t = time.perf_counter()
                tracker.update(frame, i / asl.fps)
                times.append(time.perf_counter() - t)
            ours = 1000.0 * float(np.median(times))
            # MediaPipe's pass in a process of its own that ends before our next pass starts
            proc = subprocess.run([str(args.mediapipe_python), str(Path(tmp) / "worker.py"), str(Path(tmp) /
                                   "video.npy")], capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
            if proc.returncode != 0 or not proc.stdout.strip():
                print("MediaPipe's worker failed (is .venv-teacher built? make teacher)", file=sys.stderr)
                return 2
            theirs = float(proc.stdout.strip().splitlines()[-1])
            rows.append((ours, theirs))
            print(f"round {r + 1}: ours {ours:.3f} ms, MediaPipe {theirs:.3f} ms, ratio {ours / theirs:.3f}",
                  flush=True)  # fmt: skip
    ours_m, theirs_m = (float(np.median([row[k] for row in rows])) for k in (0, 1))
    ratios = [o / t for o, t in rows]
    print(f"median over {len(rows)} rounds: ours {ours_m:.3f} ms, MediaPipe {theirs_m:.3f} ms; ratio of medians "
          f"{ours_m / theirs_m:.3f}; per-round ratios {min(ratios):.3f}-{max(ratios):.3f}, median "
          f"{float(np.median(ratios)):.3f}")  # fmt: skip
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, {"rounds": [{"ours_ms": o, "mediapipe_ms": t} for o, t in rows],
                                      "ratio_median": float(np.median(ratios))})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
