"""Score-map decodings side by side: the shipped pose model's maps decoded by arg-max with the three-point parabola
on the log map (the heatmap codec's decoding) and by the expectation of the map's softmax over a window around the
arg-max (a local soft-argmax: 3 x 3, 5 x 5, 7 x 7 cells, and the whole map).

The sets and the boxes are those of ``pose_crop_robustness.py`` (held out, none trained on: the webcam ``holdout``
hands with teacher joints, the synthetic validation frames under ``--work``), each hand posed from its box unmoved
and moved by every setting there, with the pose model's second look as shipped. Prints per set PCK@0.1, PCK@0.2
and the mean error as a share of the joints' box (mean over the settings), and the same on the unmoved boxes.

    .venv/bin/python benchmarks/pose_decoders.py [--work runs/real] [--synthetic-count 300]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


def windowed_expectation(half: int | None) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """A stand-in for :func:`handpose.codecs.heatmap.decode_heatmaps` on (B, J, h, w) log maps: the coordinates
    (B, J, 2) map px are the softmax-weighted mean of the cells within ``half`` cells of the arg-max (every cell
    when None); the peaks (B, J) are the arg-max values, as the codec's confidence needs them."""

    def decode(heatmaps: np.ndarray, log_domain: bool = False) -> tuple[np.ndarray, np.ndarray]:
        hm = np.asarray(heatmaps, np.float64)
        b, j, h, w = hm.shape
        flat = hm.reshape(b * j, h * w)
        idx = flat.argmax(1)
        py, px = np.divmod(idx, w)
        peak = flat[np.arange(b * j), idx]
        weight = np.exp(flat - peak[:, None]) if log_domain else np.maximum(flat, 0.0)
        ys, xs = np.divmod(np.arange(h * w), w)
        if half is not None:
            weight = weight * ((np.abs(xs[None] - px[:, None]) <= half) & (np.abs(ys[None] - py[:, None]) <= half))
        total = weight.sum(1)
        coords = np.stack([(weight * xs[None]).sum(1) / total, (weight * ys[None]).sum(1) / total], 1)
        return coords.reshape(b, j, 2), peak.reshape(b, j)

    return decode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "real", help="where the synthetic worlds are")
    ap.add_argument("--synthetic-count", type=int, default=300, help="validation frames per synthetic world")
    args = ap.parse_args(argv)
    import pose_crop_robustness as crops

    import handpose.codecs.heatmap as heatmap
    from handpose.inference import HandPoseEstimator

    decodings = {"parabola (shipped)": heatmap.decode_heatmaps, "window 3 x 3": windowed_expectation(1),
                 "window 5 x 5": windowed_expectation(2), "window 7 x 7": windowed_expectation(3),
                 "whole map": windowed_expectation(None)}  # fmt: skip
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=1)
    sets = crops.held_out_sets(args.work, args.synthetic_count)
    boxes = {name: crops.moved_boxes(items) for name, items in sets.items()}
    print(f"pose model {est.pose.model.info.name}, second look {est.pose.repose_iou}; sets: "
          + ", ".join(f"{k} ({len(v)} hands)" for k, v in sets.items()))  # fmt: skip
    try:
        for label, decode in decodings.items():
            heatmap.decode_heatmaps = decode  # the codec's decode() looks the function up at each call
            means = []
            print(label)
            for name, items in sets.items():
                n = len(crops.SETTINGS)
                within_1, within_2, error, total = np.zeros(n), np.zeros(n), np.zeros(n), 0
                for (img, j, m), hand_boxes in zip(items, boxes[name]):
                    norm = float(np.max(j[m].max(0) - j[m].min(0)))
                    for k, p in enumerate(est.pose_boxes(img, hand_boxes, None)):
                        e = np.linalg.norm(p.joints_2d[m] - j[m], axis=1) / norm
                        within_1[k] += np.sum(e <= 0.1)
                        within_2[k] += np.sum(e <= 0.2)
                        error[k] += e.sum()
                    total += int(m.sum())
                row = [within_1.mean() / total, within_2.mean() / total, error.mean() / total]
                means.append(row)
                print(f"  {name:26s} PCK@0.1 {row[0]:.4f}  PCK@0.2 {row[1]:.4f}  error {row[2]:.4f}  |  unmoved: "
                      f"PCK@0.1 {within_1[0] / total:.4f}  PCK@0.2 {within_2[0] / total:.4f}", flush=True)  # fmt: skip
            mean = np.mean(means, axis=0)
            print(f"  mean over the sets: PCK@0.1 {mean[0]:.4f}  PCK@0.2 {mean[1]:.4f}  error {mean[2]:.4f}")
    finally:
        heatmap.decode_heatmaps = decodings["parabola (shipped)"]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
