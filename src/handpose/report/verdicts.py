"""Verdicts that are earned: a claim of a paper is marked **holds** or **does not hold** only when every model it
compares has converged far enough to be compared; otherwise it is **inconclusive at this budget**.

The convergence check of a trained model is the halving of its trivial floor's error: a pose model's error must be
at most half that of the mean pose of its task (the training set's mean pose in the model's frame), GestureNet's
error rate at most half the majority class's, a detector's 1 − IoU at most half the mean training box's. A model
that has not halved its floor has learnt too little for a comparison with another to mean anything about the two
methods: the comparison is then reported with its numbers and the steps the model trained, and left undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: the floor / model ratio a model's convergence check needs
CONVERGED_RATIO = 2.0

#: the verdicts, as printed
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_TESTED = "holds", "does not hold", "inconclusive at this budget", "not tested"


@dataclass
class Check:
    """One model's convergence check.

    Attributes:
        key: the experiment.
        floor: what it is measured against (an experiment key, "majority class" or "mean box").
        metric: the error compared ("epe", "mpjpe", "pa_mpjpe", "error_rate", "1 − IoU").
        model_error, floor_error: the two errors.
        steps: the training steps the model had.
        failed: the model's run failed (no numbers).
    """

    key: str
    floor: str
    metric: str
    model_error: float
    floor_error: float
    steps: int
    failed: bool = False

    @property
    def ratio(self) -> float:
        """floor error / model error (inf for a perfect model, NaN when either is unknown)."""
        if self.failed or not np.isfinite(self.floor_error) or not self.model_error >= 0:
            return float("nan")
        return float("inf") if self.model_error == 0 else self.floor_error / self.model_error

    @property
    def passed(self) -> bool:
        return not self.failed and self.ratio >= CONVERGED_RATIO

    def words(self) -> str:
        if self.failed:
            return f"{self.key} failed"
        return (
            f"{self.key} at {self.ratio:.2f}× its floor after {self.steps} steps (the check needs {CONVERGED_RATIO:g}×)"
        )


#: the error each pose task's convergence check compares (others: the model's main metric)
ERROR_METRIC = {"pose2d": "epe", "pose3d": None}


def convergence_checks(results: dict[str, dict[str, Any]], plan: Any) -> dict[str, Check]:
    """The convergence check of every trained model of ``results`` that has a trivial floor: pose models against
    their mean-pose experiment (``Experiment.floor``), GestureNet against the majority class, the detectors
    against the mean training box (``extra`` figures written by the benchmark)."""

    def m(key: str, metric: str) -> float:
        return float(results.get(key, {}).get("metrics", {}).get(metric, float("nan")))

    checks: dict[str, Check] = {}
    for exp in plan.experiments:
        res = results.get(exp.key)
        if res is None:
            continue
        failed = "error" in res
        steps = int(res.get("steps", 0)) if not failed else 0
        if exp.floor is not None:
            metric = "–" if failed else (ERROR_METRIC.get(res["task"]) or res["main_metric"])
            floor = m(exp.floor, metric) if exp.floor in results and "error" not in results[exp.floor] else np.nan
            checks[exp.key] = Check(exp.key, exp.floor, metric, m(exp.key, metric), floor, steps, failed)
        elif exp.key == "gesturenet":
            floor = float(res.get("extra", {}).get("majority_error_rate", np.nan)) if not failed else np.nan
            checks[exp.key] = Check(exp.key, "majority class", "error_rate", m(exp.key, "error_rate"), floor, steps,
                                    failed)  # fmt: skip
        elif exp.key in ("skeleton_unet", "box_regressor"):
            floor = 1.0 - float(res.get("extra", {}).get("mean_box_iou", np.nan)) if not failed else np.nan
            checks[exp.key] = Check(exp.key, "mean box, always 'hand'", "1 − IoU", 1.0 - m(exp.key, "iou"), floor,
                                    steps, failed)  # fmt: skip
    return checks


def verdict(holds: bool | None, models: tuple[str, ...], checks: dict[str, Check],
            results: dict[str, Any]) -> tuple[str, str]:  # fmt: skip
    """(verdict, reason) of a claim comparing ``models`` whose outcome on the numbers is ``holds`` (None: it could
    not be computed). "not tested" when a model is missing or failed; "inconclusive at this budget" when one has
    not passed its convergence check (the reason names each with its ratio and its steps: it needs more than that
    many); else "holds" / "does not hold"."""
    missing = [k for k in models if k not in results or "error" in results[k]]
    if holds is None or missing:
        return NOT_TESTED, f"{', '.join(missing) or 'a model'} did not run or failed"
    short = [checks[k] for k in models if k in checks and not checks[k].passed]
    if short:
        return INCONCLUSIVE, "; ".join(f"{c.words()}: it needs more than {c.steps} steps" for c in short)
    return (HOLDS if holds else DOES_NOT_HOLD), ""


def verdict_text(label: str, reason: str) -> str:
    """The verdict in Markdown: bold, with the reason after an inconclusive or untested one."""
    return f"**{label}**" + (f" ({reason})" if reason and label in (INCONCLUSIVE, NOT_TESTED) else "")
