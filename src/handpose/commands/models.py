"""``handpose models [NAME ...] [--json] [--no-flops]``: every registered model with its modality, input, task,
parameters, MACs and FLOPs, and the paper's figure beside ours where the paper gives one.

MACs and FLOPs come from one batch-1 forward pass under ``torch.utils.flop_counter`` (:func:`handpose.cost.count_flops`;
FLOPs = 2 × MACs for convolutions and matrix multiplies, element-wise work not counted). ``--no-flops`` skips the
forward passes (a few seconds for the largest models).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from typing import Any

NAME = "models"
HELP = "list the registered models with modality, input size, parameters, MACs and FLOPs"

_RESNET = "Deep Residual Learning for Image Recognition (trunk without the ImageNet classifier; ours adds its FC)"
_LIGHT = "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from Depth, Tables 1-2"

#: figures the papers state: parameters in millions, and the compute figure with the unit the paper names
PAPER_FIGURES: dict[str, dict[str, Any]] = {
    "light_depth": {"params_m": 0.18, "flops_g": 0.27, "source": _LIGHT},
    "a2j": {"params_m": 82.01, "flops_g": 6.21, "source": _LIGHT + " (its figures for A2J)"},
    "resnet18_reg3d": {"params_m": 11.18, "source": _RESNET},
    "resnet34_reg3d": {"params_m": 21.28, "source": _RESNET},
    "resnet50_reg3d": {"params_m": 23.51, "source": _RESNET},
    "resnet101_reg3d": {"params_m": 42.50, "source": _RESNET},
    "resnet50_reg2d": {"params_m": 23.51, "source": _RESNET},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="model names or glob patterns (default: every registered model)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--no-flops", action="store_true", help="skip the forward passes that count MACs / FLOPs")


def select_models(patterns: list[str]) -> list[str]:
    """Registered names matching any of ``patterns`` (all when empty); an unmatched pattern is an error."""
    from ..errors import UnknownNameError
    from ..registry import list_models

    names = list_models()
    if not patterns:
        return names
    chosen: list[str] = []
    for pattern in patterns:
        hits = fnmatch.filter(names, pattern)
        if not hits:
            raise UnknownNameError(f"no registered model matches {pattern!r}; known: {', '.join(names)}", field="name")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def model_row(name: str, flops: bool = True) -> dict[str, Any]:
    """One model's description: spec fields, parameters, MACs / FLOPs at batch 1, and the paper's figures."""
    import torch

    from ..cost import count_flops, count_parameters
    from ..registry import create_model

    model = create_model(name, seed=0).eval()
    spec = model.spec
    row: dict[str, Any] = {
        "name": name,
        "paper": spec.paper,
        "modality": spec.modality,
        "in_channels": spec.in_channels,
        "input_size": list(spec.input_size) if spec.input_size is not None else None,
        "task": spec.task,
        "codec": model.codec.name,
        "frame": model.codec.frame,
        "outputs": list(spec.outputs),
        "params": count_parameters(model),
        "macs": None,
        "flops": None,
        "paper_figures": PAPER_FIGURES.get(name),
    }
    if flops:
        x = torch.rand(spec.input_shape(batch=1), generator=torch.Generator().manual_seed(0))
        if spec.modality == "depth":
            x = x * 2 - 1
        counted = count_flops(model, x)
        row["macs"], row["flops"] = counted["macs"], counted["flops"]
    return row


def _paper_text(fig: dict[str, Any] | None) -> str:
    if not fig:
        return "-"
    parts = []
    if "params_m" in fig:
        parts.append(f"{fig['params_m']:.2f} M")
    if "flops_g" in fig:
        parts.append(f"{fig['flops_g']:.2f} G 'FLOPs'")
    return ", ".join(parts)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a fixed-width text table."""
    header = ("model", "modality", "input", "task", "params (M)", "MACs (G)", "FLOPs (G)", "paper")
    lines = []
    for r in rows:
        size = "x".join(str(s) for s in r["input_size"]) if r["input_size"] else f"{r['in_channels']}x(J)"
        size = f"{r['in_channels']}x{size}" if r["input_size"] else size
        macs = "-" if r["macs"] is None else f"{r['macs'] / 1e9:.4g}"
        flops = "-" if r["flops"] is None else f"{r['flops'] / 1e9:.4g}"
        lines.append(
            (
                r["name"],
                r["modality"],
                size,
                r["task"],
                f"{r['params'] / 1e6:.3f}",
                macs,
                flops,
                _paper_text(r["paper_figures"]),
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths)))
    notes = {r["paper_figures"]["source"] for r in rows if r["paper_figures"]}
    if notes:
        out.append("")
        out.extend(f"paper: {n}" for n in sorted(notes))
    out.append("MACs / FLOPs: torch.utils.flop_counter at batch 1, FLOPs = 2 x MACs (conv, matmul, attention only).")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    names = select_models(list(args.names))
    rows = [model_row(n, flops=not args.no_flops) for n in names]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(rows) + "\n")
    return 0
