"""``handpose reproduce-published``: re-score the published ICVL and NYU predictions with our evaluator.

Evaluates every published ICVL and NYU prediction file of the real-data fixtures (``depth_eval``) with the standard
depth-benchmark metric and prints our measured mean errors beside the published ones. The fixtures are found at
``$HANDPOSE_FIXTURES``, else ``../shared/fixtures`` beside the checkout, else ``../shared/fixtures`` from the current
folder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

NAME = "reproduce-published"
HELP = "re-score the published ICVL / NYU predictions of the fixtures and compare with the published mean errors"

#: the published mean errors (mm) listed in shared/fixtures/README.md; None: no published figure for that file
PUBLISHED_MM: dict[str, dict[str, float | None]] = {
    "icvl": {
        "CVPR18_ICVL_V2V_PoseNet": 6.284,
        "ECCV18_ICVL_Point-to-Point": 6.328,
        "TMM21_ICVL_SRNet": 6.152,
        "JVCI18_ICVL_REN_9x6x6": 7.305,
        "IJCAI16_ICVL_DeepModel": 11.561,
        "CVWW15_ICVL_Prior": None,
    },
    "nyu": {
        "CVPR18_NYU_V2V_PoseNet": 8.419,
        "ECCV18_NYU_Point-to-Point": 9.045,
        "ICCVW17_NYU_DeepPrior++": 12.238,
        "CVPR18_NYU_DeepPrior++_FM": 7.441,
        "JVCI18_NYU_REN_9x6x6": 12.694,
        "CVWW15_NYU_Prior": 20.750,
    },
}
#: prediction files that cover only a prefix of the test set, with their frame count (stated by the fixtures)
PREFIX_FRAMES: dict[str, int] = {"CVWW15_ICVL_Prior": 702}
GROUND_TRUTH = {
    "icvl": "groundtruth/icvl/icvl_test_groundtruth_label.txt",
    "nyu": "groundtruth/nyu/nyu_test_groundtruth_label.txt",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=None,
        help="fixtures folder (default: $HANDPOSE_FIXTURES or ../shared/fixtures)",
    )


def find_fixtures(explicit: Path | None = None) -> Path:
    """The fixtures folder holding ``depth_eval``; :class:`DataError` (one line) when there is none."""
    from ..errors import DataError

    if explicit is not None or os.environ.get("HANDPOSE_FIXTURES"):
        root = Path(explicit if explicit is not None else os.environ["HANDPOSE_FIXTURES"])
        if not (root / "depth_eval").is_dir():
            raise DataError("no depth_eval/ folder in the fixtures folder", path=root)
        return root
    checkout = Path(__file__).resolve().parents[3]  # src/handpose/commands/demo.py -> the checkout
    candidates = [checkout.parent / "shared" / "fixtures", Path.cwd().parent / "shared" / "fixtures"]
    for root in candidates:
        if (root / "depth_eval").is_dir():
            return root
    raise DataError(
        "real-data fixtures not found (looked for depth_eval/ in "
        + ", ".join(str(c) for c in candidates)
        + "); set HANDPOSE_FIXTURES or pass --fixtures"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..evaluation import eval_dataset, evaluate_files, read_poses

    root = find_fixtures(args.fixtures) / "depth_eval"
    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not squeeze the table into 80 columns
        console = Console(width=max(console.width, 110))
    console.print(
        "[bold]handpose reproduce-published[/bold]: re-scores the published ICVL and NYU prediction files in "
        f"{root} with the evaluation toolkit and compares our mean errors with the published ones."
    )
    table = Table(title="mean 3D joint error (mm): per joint over frames, then over joints, in camera space")
    for name, justify in (
        ("prediction file", "left"),
        ("frames", "right"),
        ("measured", "right"),
        ("published", "right"),
        ("difference", "right"),
        ("PA-MPJPE", "right"),
        ("max err <= 20 mm", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    worst = 0.0
    for dataset, published in PUBLISHED_MM.items():
        spec = eval_dataset(dataset)
        gt_path = root / GROUND_TRUTH[dataset]
        gt = read_poses(gt_path, spec.num_joints, role="gt")
        for method, value in published.items():
            frames = PREFIX_FRAMES.get(method)
            report = evaluate_files(dataset, gt_path, root / "results" / dataset / f"{method}.txt", frames, gt=gt)
            measured = report["mean_error_mm"]
            diff = "" if value is None else f"{measured - value:+.4f}"
            if value is not None:
                worst = max(worst, abs(measured - value))
            table.add_row(
                method,
                f"{report['frames']}" + (" (first)" if frames else ""),
                f"{measured:.3f}",
                "-" if value is None else f"{value:.3f}",
                diff,
                f"{report['pa_mpjpe_mm']:.3f}",
                f"{100 * report['success_rate']['max'][20]:.1f} %",
            )
    console.print(table)
    console.print(
        f"Largest difference from a published figure: {worst:.4f} mm (published figures have 3 decimals). "
        "CVWW15_ICVL_Prior covers test_seq_1 only: it is scored on the first 702 ground-truth frames "
        "(handpose evaluate-predictions --frames 702); the fixtures list no published figure for it."
    )
    return 0
