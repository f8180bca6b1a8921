"""Evaluation plots as PNG files: success-frame curves, per-joint error bars, PCK curves.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display needed) and written atomically.
Every function takes plain arrays and a path and returns the path.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float = 6.4, height: float = 4.2) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def plot_curves(
    thresholds: np.ndarray,
    curves: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Rates in [0, 1] against thresholds, one line per entry of ``curves`` (label -> (T,) values), drawn in %."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, values in curves.items():
        ax.plot(np.asarray(thresholds), 100.0 * np.asarray(values, dtype=np.float64), label=label, linewidth=1.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_xlim(float(np.min(thresholds)), float(np.max(thresholds)))
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    if len(curves) > 1 or any(curves):
        ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_success_curve(
    thresholds_mm: np.ndarray, curves: Mapping[str, np.ndarray], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Success-frame rate: % of frames whose maximum joint error is at most each threshold (mm)."""
    return plot_curves(thresholds_mm, curves, path, "maximum joint error threshold (mm)", "frames within (%)", title)


def plot_pck_curve(
    thresholds: np.ndarray, curves: Mapping[str, np.ndarray], path: str | os.PathLike[str], unit: str, title: str = ""
) -> Path:
    """PCK: % of joints whose error is below each threshold (``unit``: "px", "mm", or a normalised unit)."""
    return plot_curves(thresholds, curves, path, f"error threshold ({unit})", "correct keypoints (%)", title)


def plot_per_joint_errors(
    joint_names: Sequence[str],
    errors: Sequence[float | None],
    path: str | os.PathLike[str],
    unit: str = "mm",
    title: str = "",
) -> Path:
    """Bars of each joint's mean error (``None`` / NaN joints are left empty), with the mean over joints as a line."""
    values = np.array([np.nan if e is None else float(e) for e in errors], dtype=np.float64)
    fig = _figure(max(6.4, 0.38 * len(joint_names) + 1.5), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(joint_names))
    ax.bar(x, np.nan_to_num(values), color="#3a7bd5")
    if np.isfinite(values).any():
        ax.axhline(float(np.nanmean(values)), color="#d53a3a", linewidth=1.2, label=f"mean {np.nanmean(values):.2f}")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(list(joint_names), rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"mean error ({unit})")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)
