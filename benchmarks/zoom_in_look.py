"""The detector's zoomed-in look on held-out frames, off and at several scores, in one run: on a still image, each
first-pass box scoring under the detector's threshold (but at least half of it) is looked at again in a region twice
its size, and kept when that look scores it ``zoom_in_score`` or more (:class:`handpose.inference.stages.
DetectorStage`).

Sets and scoring as in ``whole_frame_look.py``: the webcam ``holdout`` sets of ``detector_closeups.py`` scored on the
boxes of the hands the whole pipeline reports (the shipped pipeline: second, turned and tiled looks, presence veto,
whole-frame look), hand-free views and large frames drawn anew from the same pool, and the synthetic validation
frames under ``--work`` through the whole pipeline (PCK@0.2, misses counted wrong); the detector's own figures
(``detector_closeups.holdout_figures``) are what the calibration of ``train_real_models.py`` reads. ONNX Runtime, one
thread; ms per frame is the mean over the holdout photos and their hand-free crops.

    .venv/bin/python benchmarks/zoom_in_look.py [--scores 0 0.6 0.7 ...] [--json FILE]
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
    from whole_frame_look import add_held_out_args

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=float, nargs="+", default=[0.0, 0.6, 0.65, 0.7, 0.75, 0.8],
                    help="zoomed-in look scores (0: off)")  # fmt: skip
    ap.add_argument("--floors", type=float, nargs="+", default=None,
                    help="instead of --scores: the look's floors (shares of the threshold), each with its score "
                    "calibrated by the recipe's rule (train_real_models.calibrate_extra_looks)")  # fmt: skip
    add_held_out_args(ap)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from whole_frame_look import held_out_sets, look_setting_line, look_setting_rows

    from handpose.inference import HandPoseEstimator

    held = held_out_sets(args.work, args.synthetic_count)
    sets = held["holdout"]
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    presence = est.whole_frame_presence
    report: dict[str, Any] = {"whole_frame_presence": presence, "settings": {}}
    shipped_floor = est.detector.zoom_in_floor
    settings = [(score, shipped_floor) for score in args.scores]
    if args.floors:
        from train_real_models import calibrate_extra_looks

        settings = [(0.0, shipped_floor)]
        for floor in args.floors:
            est.detector.zoom_in_floor = floor
            cal = calibrate_extra_looks(est, sets, ("zoom_in_score",))
            print(f"floor {floor:g}: zoom_in_score {cal['zoom_in_score']} by the recipe's rule", flush=True)
            settings.append((cal["zoom_in_score"], floor))
    for score, floor in settings:
        est.detector.zoom_in_score, est.detector.zoom_in_floor = score, floor
        detector_row, row = look_setting_rows(est, held, presence, "zoomed_in_looks")
        report["settings"][f"{score:g} floor {floor:g}"] = {"pipeline": row, "detector": detector_row}
        label = "zoomed-in look " + ("off" if not score else f"score {score:g}, floor {floor:g}")
        print(look_setting_line(label, detector_row, row, "zoomed_in_looks"), flush=True)
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
