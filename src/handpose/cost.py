"""Model cost: parameter count, FLOPs / MACs, and latency.

These are the numbers a model card reports next to its accuracy. They are measured, never estimated by hand:

* :func:`count_parameters` sums ``numel()`` over the model's parameters.
* :func:`count_flops` runs one forward pass under ``torch.utils.flop_counter.FlopCounterMode`` and reports what that
  counter reports. **Convention:** torch's counter reports FLOPs = 2 x MACs for matrix multiplies and convolutions
  (one multiply and one add per multiply-accumulate), so ``macs = flops / 2``. It counts only the operators in its
  registry: ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``_scaled_mm``, the convolutions (forward and backward) and
  scaled-dot-product / flex attention. It does **not** count element-wise work (activations, additions, biases
  outside ``addmm``, batch/layer norm, softmax outside fused attention), pooling, interpolation / resizing,
  gathers, sorting or any custom or non-torch code. For the small convolutional networks of this project the
  uncounted part is a few percent of the total.
* :func:`measure_latency` times a callable with ``time.perf_counter`` after warm-up runs and reports the median,
  the 95th percentile and the mean in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of scalar parameters of a ``torch.nn.Module`` (shared parameters counted once).

    Args:
        model: the module.
        trainable_only: count only parameters with ``requires_grad``.
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += int(p.numel())
    return total


def count_flops(model: Any, inputs: Any) -> dict[str, Any]:
    """FLOPs and MACs of one forward pass, as counted by ``torch.utils.flop_counter.FlopCounterMode``.

    The model runs once in eval mode under ``torch.no_grad()`` (its train/eval mode is restored afterwards).

    Args:
        model: a ``torch.nn.Module`` (or any callable running torch operators).
        inputs: one tensor, a tuple/list of positional arguments, or a dict of keyword arguments.

    Returns:
        ``{"flops": int, "macs": int, "by_operator": {name: flops}, "counter": "torch.utils.flop_counter"}``
        where ``flops`` is torch's count (2 x MACs for matmul / conv) and ``macs = flops // 2``. Operators the
        counter does not know (element-wise ops, norms, pooling, resizing) contribute nothing; see the module
        docstring.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            if isinstance(inputs, Mapping):
                model(**inputs)
            elif isinstance(inputs, Sequence) and not isinstance(inputs, torch.Tensor):
                model(*inputs)
            else:
                model(inputs)
    finally:
        if was_training and hasattr(model, "train"):
            model.train(True)
    flops = int(counter.get_total_flops())
    by_operator: dict[str, int] = {}
    for op, count in counter.get_flop_counts().get("Global", {}).items():
        by_operator[str(op)] = by_operator.get(str(op), 0) + int(count)
    return {"flops": flops, "macs": flops // 2, "by_operator": by_operator, "counter": "torch.utils.flop_counter"}


def measure_latency(
    fn: Callable[[], Any],
    warmup: int = 5,
    repeats: int = 30,
    sync: Callable[[], Any] | None = None,
) -> dict[str, float | int]:
    """Wall-clock latency of ``fn()`` after ``warmup`` untimed calls.

    Args:
        fn: the callable to time (no arguments); wrap the model call in a lambda.
        warmup: untimed calls first (allocator, caches, lazy init), >= 0.
        repeats: timed calls, >= 1.
        sync: called after each ``fn()`` inside the timed region (e.g. ``torch.cuda.synchronize``) so that
            asynchronous work is included.

    Returns:
        ``{"median_ms", "p95_ms", "mean_ms", "min_ms", "runs"}`` -- milliseconds per call and the number of timed
        runs. ``p95_ms`` is ``numpy.percentile(times, 95)`` with linear interpolation.
    """
    if int(warmup) < 0:
        raise ConfigError(f"warmup must be >= 0, got {warmup}", field="warmup")
    if int(repeats) < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}", field="repeats")
    for _ in range(int(warmup)):
        fn()
        if sync is not None:
            sync()
    times = np.empty(int(repeats), dtype=np.float64)
    for i in range(int(repeats)):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times[i] = (time.perf_counter() - start) * 1000.0
    return {
        "median_ms": float(np.median(times)),
        "p95_ms": float(np.percentile(times, 95)),
        "mean_ms": float(times.mean()),
        "min_ms": float(times.min()),
        "runs": int(repeats),
    }
