"""The One Euro filter against a scalar reference implementation and on noisy trajectories."""

from __future__ import annotations

import math

import numpy as np

from handpose.inference.smoothing import OneEuroConfig, OneEuroFilter


def reference_one_euro(xs, ts, min_cutoff, beta, d_cutoff):
    """Scalar One Euro filter written from the paper's pseudo-code, one value at a time."""

    def alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    out, x_prev, dx_prev, t_prev = [], None, 0.0, None
    for x, t in zip(xs, ts):
        if x_prev is None:
            x_prev, t_prev = x, t
            out.append(x)
            continue
        dt = t - t_prev
        t_prev = t
        dx = (x - x_prev) / dt
        a_d = alpha(d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = min_cutoff + beta * abs(dx_hat)
        a = alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * x_prev
        x_prev, dx_prev = x_hat, dx_hat
        out.append(x_hat)
    return np.array(out)


def test_matches_the_scalar_reference(rng):
    ts = np.cumsum(rng.uniform(0.02, 0.05, size=60))
    xs = np.cumsum(rng.normal(size=(60, 21, 2)), axis=0)
    cfg = OneEuroConfig(min_cutoff=1.3, beta=0.2, d_cutoff=0.9)
    f = OneEuroFilter(cfg)
    ours = np.stack([f(x, t) for x, t in zip(xs, ts)])
    for j, c in [(0, 0), (7, 1), (20, 0)]:
        ref = reference_one_euro(xs[:, j, c], ts, cfg.min_cutoff, cfg.beta, cfg.d_cutoff)
        np.testing.assert_allclose(ours[:, j, c], ref, rtol=1e-12, atol=1e-12)


def test_reduces_jitter_and_follows_motion(rng):
    t = np.arange(300) / 30.0
    truth = np.stack([100 + 40 * np.sin(t), 80 + 20 * np.cos(0.5 * t)], axis=-1)  # slow movement, px
    noisy = truth + rng.normal(scale=2.0, size=truth.shape)
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.01))
    smooth = np.stack([f(x, ti) for x, ti in zip(noisy, t)])

    def jitter(a):
        return np.linalg.norm(np.diff(a, 2, axis=0), axis=-1).mean()  # mean acceleration magnitude

    assert jitter(smooth) < 0.25 * jitter(noisy)
    assert np.linalg.norm(smooth[30:] - truth[30:], axis=-1).mean() < np.linalg.norm(noisy - truth, axis=-1).mean()


def test_missing_values_reset_the_element():
    f = OneEuroFilter()
    f(np.array([1.0, 1.0]), 0.0)
    out = f(np.array([np.nan, 2.0]), 0.1)
    assert np.isnan(out[0]) and 1.0 < out[1] < 2.0
    out = f(np.array([50.0, 2.0]), 0.2)
    assert out[0] == 50.0  # restarts from the new observation, no pull towards the old value


def test_disabled_passes_through():
    f = OneEuroFilter(OneEuroConfig(enabled=False))
    x = np.array([3.0, 4.0])
    f(x, 0.0)
    np.testing.assert_array_equal(f(x + 10, 0.1), x + 10)


def test_relative_filter_smooths_a_hand_alike_at_any_size():
    """relative=True: the speed is divided by the scale given, so a trajectory k times larger (scale k times
    larger) is filtered to exactly k times the output; a pixel filter smooths the larger one less."""
    rng = np.random.default_rng(3)
    ts = np.arange(60) / 30.0
    xs = np.cumsum(rng.normal(0, 2.0, size=(60, 21, 2)), axis=0) + 100.0
    cfg = OneEuroConfig(min_cutoff=2.0, beta=6.5, relative=True)
    small, large = OneEuroFilter(cfg), OneEuroFilter(cfg)
    out_small = np.array([small(x, t, 50.0) for x, t in zip(xs, ts)])
    out_large = np.array([large(4.0 * x, t, 200.0) for x, t in zip(xs, ts)])
    np.testing.assert_allclose(out_large, 4.0 * out_small, rtol=1e-9, atol=1e-9)
    # the same numbers with relative=False: beta weighs px/s, and the larger trajectory is smoothed less
    px = OneEuroConfig(min_cutoff=2.0, beta=6.5 / 50.0)
    a, b = OneEuroFilter(px), OneEuroFilter(px)
    pa = np.array([a(x, t) for x, t in zip(xs, ts)])
    pb = np.array([b(4.0 * x, t) for x, t in zip(xs, ts)])
    np.testing.assert_allclose(pa, out_small, rtol=1e-9, atol=1e-9)  # at the reference size the two agree
    rough = lambda y: float(np.abs(np.diff(y, 2, axis=0)).mean())  # noqa: E731
    assert rough(pb) / 4.0 > 1.05 * rough(out_small)
    # a relative filter without a scale works in the values' units
    c = OneEuroFilter(OneEuroConfig(min_cutoff=2.0, beta=6.5 / 50.0, relative=True))
    np.testing.assert_allclose(np.array([c(x, t) for x, t in zip(xs, ts)]), pa, rtol=1e-9, atol=1e-9)


def test_trackers_smooth_relative_to_the_hand():
    from handpose.inference.smoothing import hand_smoothing
    from handpose.inference.tracking import hand_size

    cfg = hand_smoothing()
    assert cfg.relative and cfg.enabled and cfg.min_cutoff == 2.0 and cfg.beta == 6.5
    j = np.array([[10.0, 20.0], [70.0, 40.0], [np.nan, np.nan], [30.0, 100.0]])
    assert hand_size(j) == 80.0
    assert hand_size(np.array([[1.0, 2.0, 3.0], [4.0, 2.0, 13.0]])) == 10.0
    assert hand_size(np.array([[1.0, 2.0], [np.nan, 0.0]])) is None
