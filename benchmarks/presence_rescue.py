"""The presence rescue on held-out frames, off and at several presences, in one run: on a still image with fewer
than ``max_hands`` hands, each of the detector's unsure boxes (under its threshold, at least its floor) that overlaps
no kept hand is posed, and kept when the pose model's presence output reaches ``--presence``
(:meth:`handpose.inference.HandPoseEstimator.rescue_unsure`).

Sets and scoring as in ``whole_frame_look.py``: the webcam ``holdout`` sets of ``detector_closeups.py`` scored on the
boxes of the hands the whole pipeline reports (the shipped pipeline: every look of the detector, the presence veto,
the whole-frame look), hand-free views and large frames drawn anew from the same pool, and the synthetic validation
frames under ``--work`` through the whole pipeline (PCK@0.2, misses counted wrong). The rescue's presence is
calibrated as the whole-frame look's (:func:`whole_frame_look.calibrate_whole_frame`'s rule: the lowest presence at
which no hand-free holdout set shows a hand more than 0.005 more often than without it). ONNX Runtime, one thread;
ms per frame is the mean over the holdout photos and their hand-free crops.

    .venv/bin/python benchmarks/presence_rescue.py [--presence 0.5 0.9 ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    from whole_frame_look import EMPTY_ROOM, GRID, add_held_out_args, lowest_clean

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presence", type=float, nargs="+", default=list(GRID),
                    help="the presences an unsure box's crop needs (the rescue on)")  # fmt: skip
    add_held_out_args(ap)
    ap.add_argument("--second-only", action="store_true", help="rescue only beside a hand already kept")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from whole_frame_look import WholeFrameRuns, held_out_sets, pipeline_line, timed_pipeline_row

    from handpose.inference import HandPoseEstimator

    held = held_out_sets(args.work, args.synthetic_count)
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    whole = est.whole_frame_presence
    est.rescue_second_only = args.second_only
    rows: dict[float | None, dict[str, float]] = {}
    for presence in [None, *args.presence]:
        est.rescue_presence = presence
        rows[presence] = row = timed_pipeline_row(WholeFrameRuns(est), held, whole)
        label = "off" if presence is None else f"presence >= {presence:g}"
        print(f"presence rescue {label}: " + pipeline_line(row), flush=True)
    chosen = lowest_clean(rows)
    print(f"calibrated (the lowest presence whose hand-free holdout sets gain at most {EMPTY_ROOM:g}): {chosen}")
    if args.json:
        from handpose.io import write_json_atomic

        settings = {"off" if p is None else f"{p:g}": r for p, r in rows.items()}
        report: dict[str, Any] = {"calibrated_presence": chosen, "whole_frame_presence": whole, "settings": settings}
        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
