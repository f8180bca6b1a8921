"""``handpose evaluate-predictions``: score a prediction file against ground truth.

    handpose evaluate-predictions --dataset NAME --gt FILE --pred FILE [--frames N] [--format F] [--match M]
        [--out DIR] [--json]

Files are the depth-benchmark text format, COCO-style keypoint JSON or ``.npz`` (see
:mod:`handpose.evaluation.files`). The dataset name gives the joint order and the camera (ICVL 16 joints, NYU 14,
MSRA 21, ...). 3D files are scored in camera space (mm) with the published metric (per-joint mean over frames, then
over joints); 2D files in pixels. ``--frames N`` compares only the first N frames (for a prediction file covering a
prefix of the test set); without it a different frame count is an error. ``--match nearest`` scores a pipeline's
hands (``handpose predict``'s ``predictions.json``: any number per image, in any order, images named by id, file
name or stem) against a COCO keypoint file: each ground-truth hand is paired with the nearest predicted hand of its
image, one to one; the metrics are those of the hands found, and PCK with the missed hands counted wrong is reported
beside them. ``--out DIR`` writes ``report.json`` (every number) and PNG plots; ``--json`` prints the JSON instead of
the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

NAME = "evaluate-predictions"
HELP = "score a prediction file against ground truth (depth text, COCO JSON or .npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name: icvl, nyu, msra, synthetic, freihand, ...")
    parser.add_argument("--gt", required=True, type=Path, help="ground-truth file")
    parser.add_argument("--pred", required=True, type=Path, help="prediction file")
    parser.add_argument(
        "--frames", type=int, default=None, help="compare only the first N frames (a prediction file of a prefix)"
    )
    parser.add_argument(
        "--format", default="auto", choices=("auto", "text", "json", "npz"), help="file format (default: detect)"
    )
    parser.add_argument(
        "--match",
        default="key",
        choices=("key", "nearest"),
        help="pair frames by key or order (default), or a pipeline's hands with the nearest ground-truth hand of "
        "each image (COCO JSON; missed hands counted wrong in PCK)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for report.json and the PNG plots")
    parser.add_argument("--json", action="store_true", help="print the JSON report to stdout instead of a table")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, so that the JSON is strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_outputs(report: dict[str, Any], out: Path) -> list[Path]:
    """Write ``report.json`` and the plots of ``report`` into ``out`` (atomically); return the paths written."""
    import numpy as np

    from ..io import write_json_atomic
    from ..report import plots

    out.mkdir(parents=True, exist_ok=True)
    label = Path(report["pred"]).stem
    written = []
    path = out / "report.json"
    write_json_atomic(path, json_safe(report))
    written.append(path)
    if "mean_error_mm" in report:
        sr = report["success_rate"]
        written.append(
            plots.plot_success_curve(
                np.array(sr["thresholds_mm"]), {label: np.array(sr["max"])}, out / "success_rate.png", report["dataset"]
            )
        )
        written.append(
            plots.plot_per_joint_errors(
                report["joint_names"], report["per_joint_error_mm"], out / "per_joint_error.png", "mm", label
            )
        )
        pck = report["pck3d"]
        written.append(
            plots.plot_pck_curve(
                np.array(pck["thresholds_mm"]), {label: np.array(pck["mean"])}, out / "pck.png", "mm", report["dataset"]
            )
        )
    elif "epe_px" in report:  # (no plot when no hand was found)
        written.append(
            plots.plot_per_joint_errors(
                report["joint_names"], report["per_joint_error_px"], out / "per_joint_error.png", "px", label
            )
        )
        pck = report["pck_px"]
        written.append(
            plots.plot_pck_curve(
                np.array(pck["thresholds_px"]), {label: np.array(pck["mean"])}, out / "pck.png", "px", report["dataset"]
            )
        )
    return written


def print_table(report: dict[str, Any]) -> None:
    """The report as rich tables: the summary, then the per-joint errors."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not squeeze the tables into 80 columns
        console = Console(width=max(console.width, 110))
    three_d = "mean_error_mm" in report
    frames = f"{report['frames']}"
    if report["frames_option"] is not None:
        frames += f" (--frames; ground truth has {report['frames_in_gt']}, prediction {report['frames_in_pred']})"
    summary = Table(title=f"{Path(report['pred']).name} on {report['dataset']} ({report['space']})", show_header=True)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    hands = report.get("hands")
    if hands is None:
        summary.add_row("frames", frames)
    summary.add_row("joints", str(report["joints"]))
    if hands is not None:
        summary.add_row("hands found (nearest in each image)", f"{hands['found']} of {hands['hands']}")
        summary.add_row("predictions not paired with a hand", str(hands["extra_predictions"]))
        wrong = hands["pck_bbox_misses_wrong"]
        for t in ("0.05", "0.1", "0.2"):
            v = wrong[t]
            summary.add_row(f"PCK@{t} of all hands, misses wrong ({wrong['normaliser']})",
                            "-" if v is None else f"{100 * v:.1f} %")  # fmt: skip
    if three_d:
        sr = report["success_rate"]
        rows = [
            ("mean error (per joint, then joints)", f"{report['mean_error_mm']:.3f} mm"),
            ("MPJPE (pooled)", f"{report['mpjpe_mm']:.3f} mm"),
            ("median / max joint error", f"{report['median_error_mm']:.3f} / {report['max_error_mm']:.3f} mm"),
            (f"root-relative MPJPE (root {report['root_joint']})", f"{report['root_relative_mpjpe_mm']:.3f} mm"),
            ("PA-MPJPE", f"{report['pa_mpjpe_mm']:.3f} mm"),
            ("3D PCK AUC 20-50 mm", f"{report['pck3d_auc_20_50mm']:.4f}"),
        ]
        rows += [(f"frames with max error <= {t} mm", f"{100 * sr['max'][t]:.1f} %") for t in (10, 20, 30, 40, 50, 80)]
    elif "epe_px" not in report:  # no hand found
        rows = []
    else:
        rows = [
            ("EPE (mean)", f"{report['epe_px']:.3f} px"),
            ("median / max joint error", f"{report['median_error_px']:.3f} / {report['max_error_px']:.3f} px"),
            ("AUC 0-30 px (20 thresholds)", f"{report['auc_0_30px']:.4f}"),
        ]
        rows += [(f"PCK@{t} px", f"{100 * report['pck_px']['mean'][t]:.1f} %") for t in (5, 10, 20, 30)]
        rows += [(f"PCK@{t} bbox", f"{100 * v:.1f} %") for t, v in report.get("pck_bbox", {}).items()]
    for name, value in rows:
        summary.add_row(name if hands is None else f"{name}, hands found", value)
    console.print(summary)
    unit = "mm" if three_d else "px"
    if f"per_joint_error_{unit}" not in report:
        return
    joints = Table(title="per-joint mean error", show_header=True)
    joints.add_column("#", justify="right")
    joints.add_column("joint")
    joints.add_column(f"error ({unit})", justify="right")
    for i, (name, err) in enumerate(zip(report["joint_names"], report[f"per_joint_error_{unit}"], strict=True)):
        joints.add_row(str(i), name, "-" if err is None else f"{err:.3f}")
    console.print(joints)


#: the files ``write_outputs`` may write into ``--out``
OUTPUT_NAMES = ("report.json", "success_rate.png", "per_joint_error.png", "pck.png")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..evaluation import evaluate_files
    from ._args import refuse_overwriting_inputs, require_output_folder

    require_output_folder(args.out)
    if Path(args.pred).resolve() == Path(args.gt).resolve():
        raise ConfigError(f"{args.pred} is the ground-truth file itself; give the predictions to score", field="--pred")
    if args.out is not None:
        refuse_overwriting_inputs([args.out / name for name in OUTPUT_NAMES], [args.gt, args.pred])
    report = evaluate_files(args.dataset, args.gt, args.pred, frames=args.frames, fmt=args.format, match=args.match)
    written = write_outputs(report, args.out) if args.out is not None else []
    if args.json:
        sys.stdout.write(json.dumps(json_safe(report), indent=2) + "\n")
    else:
        print_table(report)
        for path in written:
            print(f"wrote {path}")
    return 0
