"""Temporal smoothing of joint trajectories with the One Euro filter.

The filter (Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012) is a first-order low-pass filter whose cut-off frequency rises with the signal's
speed: slow movements are smoothed strongly (less jitter), fast ones lightly (less lag).

    tau = 1 / (2 pi f_c),  alpha = 1 / (1 + tau / dt)
    dx_hat = lowpass(dx / dt, alpha(d_cutoff))
    f_c = min_cutoff + beta * |dx_hat|
    x_hat = lowpass(x, alpha(f_c))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class OneEuroConfig:
    """Filter settings.

    Attributes:
        min_cutoff: cut-off frequency (Hz) at rest; lower = smoother, more lag when still.
        beta: speed coefficient; higher = less lag on fast movements.
        d_cutoff: cut-off frequency (Hz) of the derivative estimate.
        enabled: False passes values through unchanged.
        relative: the speed that ``beta`` weighs is in object sizes per second (the ``scale`` each call gives,
            for example the hand's size in px) instead of the values' own units per second, so that one setting
            smooths a hand of 50 px and one of 300 px alike (MediaPipe's landmark smoothing scales by the object
            too); without a ``scale`` the filter works in the values' units.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    enabled: bool = True
    relative: bool = False


def hand_smoothing() -> OneEuroConfig:
    """The video trackers' default: relative to the hand's size, 2 Hz at rest, beta 6.5 per hand size per second.
    Chosen on clips moved from held-out webcam photos, at their size and twice it (``benchmarks/tracking_clips.py
    --smoothing-sweep``): the same agreement with the teacher as the pixel filter used before (min_cutoff 1 Hz,
    beta 0.05 per px/s), with less jitter at both sizes, the more so on the larger hands, which that filter hardly
    smoothed when they moved."""
    return OneEuroConfig(min_cutoff=2.0, beta=6.5, relative=True)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over arrays of any fixed shape (for example 21 joints x 2 pixel coordinates).

    Each element is filtered independently. A NaN input (a joint that went missing) resets that element: its output
    is NaN and the next finite value starts afresh.
    """

    def __init__(self, config: OneEuroConfig | None = None):
        self.config = config or OneEuroConfig()
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, timestamp: float, scale: float | None = None) -> np.ndarray:
        """Filter one observation ``x`` taken at ``timestamp`` seconds; returns the smoothed value (same shape).
        ``scale``: the object's size in the values' units (used when the config is ``relative``)."""
        x = np.asarray(x, dtype=np.float64)
        cfg = self.config
        if not cfg.enabled:
            return x.copy()
        if self._x is None or self._t is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(timestamp)
            return x.copy()
        dt = float(timestamp) - self._t
        if dt <= 0:
            dt = 1e-3  # repeated or out-of-order timestamps: treat as a tiny step
        self._t = float(timestamp)
        fresh = ~np.isfinite(self._x)  # elements that were missing restart from the new value
        prev = np.where(fresh, x, self._x)
        dx = (x - prev) / dt
        a_d = _alpha(cfg.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * np.where(fresh, 0.0, self._dx)
        speed = np.abs(dx_hat)
        if cfg.relative and scale is not None and np.isfinite(scale) and scale > 0:
            speed = speed / float(scale)
        cutoff = cfg.min_cutoff + cfg.beta * speed
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * prev
        missing = ~np.isfinite(x)
        x_hat[missing] = np.nan
        dx_hat[missing] = 0.0
        self._x, self._dx = x_hat, dx_hat
        return x_hat.copy()
