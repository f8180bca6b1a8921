"""The detector's white-balanced look on held-out frames, off and at its calibrated score, in one run: on a still
image that gives no hand, the detector looks again at the frame balanced by the grey-world assumption
(:func:`handpose.inference.stages.grey_world_balanced`) and keeps its boxes scoring ``balanced_score`` or more
(:class:`handpose.inference.stages.DetectorStage`).

The score is calibrated by the recipe's rule for the extra looks (``train_real_models.calibrate_extra_looks``:
the lowest of its grid that keeps the holdout photos' F1 and close-ups found within 0.005 and the hand-free views and
large frames with a box within 0.01 of the shipped detector with its looks), unless ``--scores`` are given. Sets and
scoring as in ``whole_frame_look.py`` (the webcam ``holdout`` sets scored on the boxes of the hands the whole
pipeline reports, hand-free views and large frames drawn anew, the synthetic validation frames through the whole
pipeline); the shipped pipeline otherwise. The same holdout photos under other light are measured by
``lighting_robustness.py`` (``--balanced-score``). ONNX Runtime, one thread.

    .venv/bin/python benchmarks/balanced_look.py [--scores 0 0.8 ...] [--exposure] [--json FILE]
    .venv/bin/python benchmarks/balanced_look.py --look turn_score --scores 0.8 0.7 ...  # another look's score
    .venv/bin/python benchmarks/balanced_look.py --look mirror_score  # another look, calibrated by the same rule
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


#: each look's counter on :class:`handpose.inference.stages.DetectorStage`
COUNTERS = {"balanced_score": "balanced_looks", "turn_score": "turned_looks", "tile_score": "tiled_looks",
            "mirror_score": "mirrored_looks"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from whole_frame_look import add_held_out_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=float, nargs="+", default=None,
                    help="balanced look scores to measure (0: off); default: off and the calibrated score")  # fmt: skip
    ap.add_argument("--look", default="balanced_score",
                    choices=["balanced_score", "turn_score", "tile_score", "mirror_score"],
                    help="the extra look whose score to calibrate or vary (the others as shipped)")  # fmt: skip
    add_held_out_args(ap)
    ap.add_argument("--exposure", action="store_true", help="the balanced look also corrects exposure")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from whole_frame_look import held_out_sets, look_setting_line, look_setting_rows

    from handpose.inference import HandPoseEstimator

    held = held_out_sets(args.work, args.synthetic_count)
    sets = held["holdout"]
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    presence = est.whole_frame_presence
    est.detector.balance_exposure = args.exposure
    report: dict[str, Any] = {"whole_frame_presence": presence, "exposure": args.exposure, "settings": {}}
    scores = args.scores
    if scores is None:
        from train_real_models import calibrate_extra_looks

        cal = calibrate_extra_looks(est, sets, (args.look,))
        report["calibration"] = cal["extra_looks"]
        print(f"{args.look} {cal[args.look]} by the recipe's rule", flush=True)
        scores = [0.0, cal[args.look]] if cal[args.look] else [0.0]
    look = args.look
    counter = COUNTERS[look]
    for score in scores:
        setattr(est.detector, look, score)
        detector_row, row = look_setting_rows(est, held, presence, counter)
        report["settings"][f"{look} {score:g}"] = {"pipeline": row, "detector": detector_row}
        print(look_setting_line(f"{look} {score:g}", detector_row, row, counter), flush=True)
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
