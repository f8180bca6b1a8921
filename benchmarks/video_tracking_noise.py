"""How much the fingerspelling video's tracking figure moves under noise far below a pixel's worth.

Tracking feeds each frame's joints into the next frame's crop, so a difference of 1e-6 in the pose network's
outputs (another ONNX graph of the same weights, another CPU) can send a track elsewhere a few frames later. This
tracks ``asl_video`` (the test video of ``benchmarks/real_images.py``; nothing here chooses a model or a setting)
``--seeds`` times with Gaussian noise of σ ``--sigma`` (in [0, 1] pixel units: 1e-4 is 0.03 grey levels) added to
the pose network's input, and prints the agreement with the reference landmarks (PCK@0.2 of the reference box per
frame, misses wrong, as ``real_images.py`` scores it) of each track and their spread.

    .venv/bin/python benchmarks/video_tracking_noise.py [--seeds 8] [--sigma 1e-4]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--sigma", type=float, default=1e-4)
    args = ap.parse_args(argv)
    from real_images import video_scores

    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "asl_video"
    asl = open_dataset(root, "asl_video")
    frames = [asl.read_frame(i) for i in range(len(asl))]
    ref = asl.joints_all().joints_2d.astype(np.float64)
    figures = []
    for seed in [None, *range(args.seeds)]:  # None: the track without noise
        est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=1)
        if seed is not None:
            rng, run = np.random.default_rng(seed), est.pose.infer

            def noisy(x: np.ndarray, rng: np.random.Generator = rng, run=run) -> dict:
                return run((x + rng.normal(0.0, args.sigma, x.shape)).astype(np.float32))

            est.pose.infer = noisy  # type: ignore[method-assign]
        track = []
        for found in est.track(iter(frames), fps=asl.fps):
            track.append(found[0].joints_2d if found else None)
            if len(track) == len(frames):
                break
        pck = video_scores(track, ref)["pck@0.2"]
        print(f"{'no noise' if seed is None else f'seed {seed}'}: PCK@0.2 {pck:.4f}", flush=True)
        if seed is not None:
            figures.append(pck)
    f = np.array(figures)
    spread = f"mean {f.mean():.4f}, sd {f.std(ddof=1):.4f}, range {f.min():.4f}-{f.max():.4f}"
    print(f"with noise σ {args.sigma:g}: {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
