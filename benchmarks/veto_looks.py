"""The detector's extra looks after the presence veto, off and on, in one run: on a still image whose detected hands
the presence veto drops, every one, the turned and tiled looks run as on a frame without a box
(``HandPoseEstimator.veto_looks``), before the whole-frame look.

Sets and scoring as in ``whole_frame_look.py`` (the webcam ``holdout`` sets of ``detector_closeups.py`` scored on the
boxes of the hands the whole pipeline reports, hand-free views and large frames drawn anew, the synthetic
validation frames through the whole pipeline); the shipped pipeline otherwise. ONNX Runtime, one thread; ms per frame
is the mean over the holdout photos and their hand-free crops.

    .venv/bin/python benchmarks/veto_looks.py [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    from whole_frame_look import add_held_out_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_held_out_args(ap)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from whole_frame_look import WholeFrameRuns, held_out_sets, pipeline_line, timed_pipeline_row

    from handpose.inference import HandPoseEstimator

    held = held_out_sets(args.work, args.synthetic_count)
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    report = {}
    for on in (False, True):
        est.veto_looks = on
        report["on" if on else "off"] = row = timed_pipeline_row(WholeFrameRuns(est), held, est.whole_frame_presence)
        print(f"extra looks after the veto {'on' if on else 'off'}: " + pipeline_line(row), flush=True)
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
