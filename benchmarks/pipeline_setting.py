"""The shipped RGB pipeline on the held-out sets at several values of one of its settings, in one run.

``SETTING`` names an attribute of :class:`handpose.inference.HandPoseEstimator` or of one of its stages
(``veto_looks``, ``pose.repose_looks``, ``pose.repose_iou``, ``detector.turn_score``, ...); each value (parsed as
a Python literal: ``2``, ``0.7``, ``True``) is set in turn on one pipeline and scored on the sets of
``whole_frame_look.py`` (the webcam ``holdout`` sets of ``detector_closeups.py`` scored on the boxes of the hands the
whole pipeline reports, hand-free views and large frames drawn anew, the synthetic validation frames through the
whole pipeline). ONNX Runtime, one thread; ms per frame is the mean over the holdout photos and their hand-free
crops (first value first: compare times only across a run).

    .venv/bin/python benchmarks/pipeline_setting.py pose.repose_looks 1 2 [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


def owner_of(est: Any, setting: str) -> tuple[Any, str]:
    """The object holding ``setting`` (dotted: ``pose.repose_looks``) and the attribute's name; a setting the
    pipeline does not have raises ``SystemExit`` with one line."""
    *path, name = setting.split(".")
    obj = est
    for part in path:
        obj = getattr(obj, part, None)
    if obj is None or not hasattr(obj, name):
        raise SystemExit(f"pipeline_setting.py: the pipeline has no setting {setting!r}")
    return obj, name


def main(argv: list[str] | None = None) -> int:
    from whole_frame_look import WholeFrameRuns, add_held_out_args, held_out_sets, pipeline_line, timed_pipeline_row

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("setting", help="an attribute of the pipeline or of one of its stages, dotted")
    ap.add_argument("values", nargs="+", help="values to set, as Python literals")
    add_held_out_args(ap)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from handpose.inference import HandPoseEstimator

    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    owner, name = owner_of(est, args.setting)
    values = [ast.literal_eval(v) for v in args.values]
    held = held_out_sets(args.work, args.synthetic_count)
    report = {"setting": args.setting, "rows": {}}
    for value in values:
        setattr(owner, name, value)
        row = timed_pipeline_row(WholeFrameRuns(est), held, est.whole_frame_presence)
        report["rows"][repr(value)] = row
        print(f"{args.setting} = {value!r}: " + pipeline_line(row), flush=True)
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
