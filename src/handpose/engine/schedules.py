"""Learning-rate schedules of the papers, as pure functions of the step (so a resumed run is exact).

- "Multihead Self Attention Hand Pose Estimation" §3.3: 2,000 warm-up steps, then 3e-4 until step 10,000, 3e-5 for
  the following 8,000 steps and 3e-6 until the end (30,000) — ``piecewise``.
- "Residual Attention Regression for 3D Hand Pose Estimation": 1e-4 divided by 10 after 30 epochs, 70 epochs,
  weight decay 3e-4 — ``step`` with ``gamma`` 0.1.
- "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation": 1e-2 decreased by 10% every 8 epochs
  — ``step`` with ``gamma`` 0.9.
- ResNet 3D regression from RGB with augmentation: cosine annealing — ``cosine``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..config import ScheduleConfig
from ..errors import ConfigError


def lr_function(
    cfg: ScheduleConfig, base_lr: float, total_steps: int, steps_per_epoch: int = 1
) -> Callable[[int], float]:
    """Return ``lr(step)`` (absolute learning rate) for a schedule config.

    Args:
        cfg: the schedule.
        base_lr: ``optim.lr``.
        total_steps: length of the run in optimisation steps.
        steps_per_epoch: converts epoch-based milestones / step sizes when ``cfg.unit == "epoch"``.
    """
    unit = steps_per_epoch if cfg.unit == "epoch" else 1
    warmup = max(0, cfg.warmup_steps)

    def warm(step: int, lr: float) -> float:
        if warmup and step < warmup:
            return lr * (step + 1) / warmup
        return lr

    if cfg.kind == "constant":
        return lambda step: warm(step, base_lr)
    if cfg.kind == "piecewise":
        values = list(cfg.values) or [base_lr]
        milestones = [m * unit for m in cfg.milestones]
        if len(values) != len(milestones) + 1:
            raise ConfigError(
                f"piecewise schedule needs len(values) == len(milestones) + 1, got {len(values)} and {len(milestones)}",
                field="schedule.values",
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ConfigError("milestones must increase", field="schedule.milestones")

        def piecewise(step: int) -> float:
            i = sum(step >= m for m in milestones)
            return warm(step, values[i])

        return piecewise
    if cfg.kind == "step":
        size = cfg.step_size * unit
        if size <= 0:
            raise ConfigError("step schedule needs step_size > 0", field="schedule.step_size")
        return lambda step: warm(step, base_lr * cfg.gamma ** (step // size))
    if cfg.kind == "cosine":
        span = max(1, total_steps - warmup)

        def cosine(step: int) -> float:
            if step < warmup:
                return warm(step, base_lr)
            t = min(1.0, (step - warmup) / span)
            return cfg.min_lr + 0.5 * (base_lr - cfg.min_lr) * (1 + math.cos(math.pi * t))

        return cosine
    raise ConfigError(f"unknown schedule kind {cfg.kind!r}", field="schedule.kind")  # pragma: no cover
