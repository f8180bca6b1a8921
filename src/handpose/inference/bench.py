"""Inference speed: per model and for the whole pipeline, PyTorch and ONNX Runtime, against the machine's matmul peak.

What is measured (``handpose bench`` and ``benchmarks/inference_speed.py`` print it):

- per model: latency at batch 1 (median and 95th percentile of timed forward passes, after warm-up) and throughput
  at batch 32 (samples/s from the median batch time), in PyTorch (eager, ``torch.inference_mode``) and in ONNX
  Runtime (CPU provider, sequential execution, all graph optimisations), both with the same intra-op thread count;
  MACs from :func:`handpose.cost.count_flops`; achieved GFLOP/s = 2 × MACs / median latency, and its share of the
  matmul peak below.
- matmul peak: GFLOP/s of float32 square matrix products (``torch.mm``, 256² to 1024²) with the same thread count,
  best of 20 runs per size — what the machine's BLAS reaches on the friendliest operation.
- pipeline: the whole :class:`HandPoseEstimator` call on a 320 × 240 frame (detection + pose (+ gesture)): crops,
  skeleton channel, decoding and going back to the frame included; tracking mode (the hand followed from the
  previous frame, no detector); the depth pipeline (centre of mass, cube crop, pose, decoding) on a 320 × 240 depth
  frame.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cost import measure_latency


def matmul_peak_gflops(threads: int = 1, sizes: tuple[int, ...] = (256, 512, 1024), repeats: int = 20) -> float:
    """Best GFLOP/s of square float32 ``torch.mm`` products (n × n, n in ``sizes``; 2 n³ FLOPs each) on
    ``threads`` threads, best of ``repeats`` runs per size: the most this machine's BLAS gets out of a core."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    best_rate = 0.0
    try:
        for n in sizes:
            a = torch.randn(n, n)
            b = torch.randn(n, n)
            torch.mm(a, b)
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                torch.mm(a, b)
                best = min(best, time.perf_counter() - t)
            best_rate = max(best_rate, 2.0 * n**3 / best / 1e9)
    finally:
        torch.set_num_threads(old)
    return best_rate


def _timed(fn: Callable[[], Any], budget_s: float, warmup: int = 3, max_runs: int = 200) -> dict[str, float | int]:
    """measure_latency with as many runs as fit in ``budget_s`` (at least 5)."""
    fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-6)
    runs = int(min(max_runs, max(5, budget_s / one)))
    return measure_latency(fn, warmup=warmup, repeats=runs)


def _batch_affordable(latency: dict[str, Any], limit_s: float = 5.0) -> bool:
    """Whether a batch of 32 takes less than ``limit_s`` (judged from batch-1 latency): the paper-size GPU
    networks (tens of G MACs) would take minutes per timed batch on a CPU, so their throughput is not measured."""
    return 32 * float(latency["median_ms"]) / 1000.0 < limit_s


def bench_model(
    checkpoint: str | Path,
    *,
    backends: tuple[str, ...] = ("torch", "onnx"),
    threads: int = 1,
    budget_s: float = 2.0,
    workdir: str | Path | None = None,
    peak_gflops: float | None = None,
) -> list[dict[str, Any]]:
    """Latency (batch 1) and throughput (batch 32) of one checkpoint in each backend; one row per backend."""
    import torch

    from ..cost import count_flops
    from ..engine.checkpoint import load_checkpoint
    from .backends import OnnxModel
    from .export import example_input, export_onnx

    model, _ = load_checkpoint(checkpoint)
    spec = model.spec
    macs = count_flops(model, torch.from_numpy(example_input(spec, 1)))["macs"]
    params = sum(p.numel() for p in model.parameters())
    x1, x32 = example_input(spec, 1), example_input(spec, 32)
    rows = []
    tmp = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="handpose-bench-"))
    for backend in backends:
        if backend == "torch":
            old = torch.get_num_threads()
            torch.set_num_threads(int(threads))
            t1, t32 = torch.from_numpy(x1), torch.from_numpy(x32)

            def run1(t: Any = t1) -> Any:
                with torch.inference_mode():
                    return model(t)

            def run32(t: Any = t32) -> Any:
                with torch.inference_mode():
                    return model(t)

            lat = _timed(run1, budget_s)
            thr = _timed(run32, budget_s, warmup=1, max_runs=20) if _batch_affordable(lat) else None
            torch.set_num_threads(old)
        else:
            onnx_path = tmp / f"{spec.name}.onnx"
            export_onnx(checkpoint, onnx_path, check=False)
            ort_model = OnnxModel(onnx_path, threads=threads)
            lat = _timed(lambda m=ort_model: m.run(x1), budget_s)
            thr = _timed(lambda m=ort_model: m.run(x32), budget_s, warmup=1, max_runs=20) \
                if _batch_affordable(lat) else None  # fmt: skip
        med = float(lat["median_ms"])
        gflops = 2.0 * macs / (med / 1000.0) / 1e9 if med > 0 else float("nan")
        rows.append({
            "model": spec.name,
            "backend": backend,
            "input": "x".join(str(s) for s in spec.input_shape(1)[1:]),
            "params": int(params),
            "macs": int(macs),
            "latency_median_ms": med,
            "latency_p95_ms": float(lat["p95_ms"]),
            "latency_runs": int(lat["runs"]),
            "throughput_b32": 32.0 / (float(thr["median_ms"]) / 1000.0) if thr else float("nan"),
            "gflops": gflops,
            "peak_share": gflops / peak_gflops if peak_gflops else None,
            "threads": threads,
        })  # fmt: skip
    return rows


def bench_pipeline(
    estimator: Any,
    frame: np.ndarray,
    *,
    name: str,
    budget_s: float = 3.0,
    depth_kwargs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Median / p95 latency of the estimator on one frame: detection mode (and tracking mode for RGB)."""
    from .tracking import VideoTracker

    rows = []
    if frame.ndim == 2:
        kw = depth_kwargs or {}
        lat = _timed(lambda: estimator(frame, modality="depth", **kw), budget_s)
        hands = len(estimator(frame, modality="depth", **kw))
        rows.append({"pipeline": name, "mode": "depth (CoM + cube crop + pose)", "hands": hands, **_ms(lat)})
        return rows
    lat = _timed(lambda: estimator(frame), budget_s)
    hands = len(estimator(frame))
    rows.append({"pipeline": name, "mode": "detection + pose", "hands": hands, **_ms(lat)})
    tracker = VideoTracker(estimator, smoothing=True, tracking=True)
    clock = [0.0]

    def step() -> Any:
        clock[0] += 1 / 30
        return tracker.update(frame, clock[0])

    step()
    before_runs, before_frames = tracker.detector_runs, tracker.frames
    lat = _timed(step, budget_s)
    det_share = (tracker.detector_runs - before_runs) / max(tracker.frames - before_frames, 1)
    rows.append({"pipeline": name, "mode": "tracking (+ One Euro)", "hands": len(step()),
                 "detector_share": det_share, **_ms(lat)})  # fmt: skip
    return rows


def _ms(lat: dict[str, float | int]) -> dict[str, Any]:
    return {"latency_median_ms": float(lat["median_ms"]), "latency_p95_ms": float(lat["p95_ms"]),
            "runs": int(lat["runs"])}  # fmt: skip


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A markdown table of ``rows``: ``columns`` are (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("-" if v is None else (format(v, fmt) if fmt else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


MODEL_COLUMNS = [
    ("model", "model", ""),
    ("backend", "backend", ""),
    ("input", "input", ""),
    ("params", "params", ","),
    ("macs", "MACs", ","),
    ("latency_median_ms", "b=1 median ms", ".3f"),
    ("latency_p95_ms", "b=1 p95 ms", ".3f"),
    ("throughput_b32", "b=32 samples/s", ".0f"),
    ("gflops", "GFLOP/s", ".2f"),
    ("peak_share", "share of matmul peak", ".1%"),
]
PIPELINE_COLUMNS = [
    ("pipeline", "pipeline", ""),
    ("mode", "mode", ""),
    ("hands", "hands", ""),
    ("latency_median_ms", "median ms", ".3f"),
    ("latency_p95_ms", "p95 ms", ".3f"),
    ("detector_share", "detector runs / frame", ".2f"),
]
