"""Cost of every registered model: parameters, MACs, FLOPs, CPU latency at batch 1 and throughput at batch 32.

For each model (default: all of ``handpose.list_models()``), in eval mode under ``torch.inference_mode``:

- parameters (:func:`handpose.cost.count_parameters`), MACs and FLOPs of one batch-1 forward pass
  (:func:`handpose.cost.count_flops`, torch's flop counter: FLOPs = 2 × MACs for conv / matmul / attention);
- latency at batch 1: median and 95th percentile of ``--repeats`` timed forward passes after warm-up
  (:func:`handpose.cost.measure_latency`); the number of timed runs shrinks for slow models so that one model's
  measurement stays near ``--budget`` seconds (never fewer than 5 runs); the first, untimed call is the warm-up
  (two more untimed calls when it took under a second);
- throughput at batch 32: samples per second from the median of timed batch-32 forward passes (at least 2 runs).

The forward pass includes the model's input check, not the codec's decoding. Inputs are random tensors in the
model's input convention. The machine is whatever runs the script: the project's CPU machine has 2 cores shared with
other work, so latencies there carry that noise; ``--threads`` pins torch's intra-op threads.

    .venv/bin/python benchmarks/models_cost.py [NAME_OR_GLOB ...] [--threads 2] [--repeats 30] [--budget 20]
        [--json OUT.json] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any

import torch

from handpose.commands.models import model_row, select_models
from handpose.cost import measure_latency
from handpose.registry import create_model


def make_input(model: Any, batch: int) -> torch.Tensor:
    x = torch.rand(model.spec.input_shape(batch=batch))
    return x * 2 - 1 if model.spec.modality == "depth" else x


def measure(name: str, repeats: int, budget_s: float, batch_large: int) -> dict[str, Any]:
    row = model_row(name, flops=True)
    model = create_model(name, seed=0).eval()
    x1 = make_input(model, 1)
    with torch.inference_mode():
        start = time.perf_counter()
        model(x1)  # first call: allocation, kernel selection
        first = time.perf_counter() - start
        runs = max(5, min(repeats, int(budget_s / 2 / max(first, 1e-4))))
        lat = measure_latency(lambda: model(x1), warmup=2 if first < 1.0 else 0, repeats=runs)
        xb = make_input(model, batch_large)
        start = time.perf_counter()
        model(xb)
        first_b = time.perf_counter() - start
        runs_b = max(2, min(repeats, int(budget_s / 2 / max(first_b, 1e-4))))
        thr = measure_latency(lambda: model(xb), warmup=1 if first_b < 1.0 else 0, repeats=runs_b)
    row.update(
        latency_ms_median=lat["median_ms"],
        latency_ms_p95=lat["p95_ms"],
        latency_runs=lat["runs"],
        throughput_batch=batch_large,
        throughput_per_s=batch_large / (thr["median_ms"] / 1000.0),
        throughput_runs=thr["runs"],
    )
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | input | params (M) | MACs (G) | FLOPs (G) | latency b=1 median (ms) | p95 (ms) | "
        "throughput b=32 (samples/s) | paper |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        size = "×".join(str(s) for s in r["input_size"]) if r["input_size"] else "21 points"
        fig = r["paper_figures"] or {}
        paper = ", ".join(
            p
            for p in (
                f"{fig['params_m']} M" if "params_m" in fig else "",
                f"{fig['flops_g']} G 'FLOPs'" if "flops_g" in fig else "",
            )
            if p
        )
        lines.append(
            f"| {r['name']} | {r['in_channels']}×{size} | {r['params'] / 1e6:.3f} | {r['macs'] / 1e9:.4g} | "
            f"{r['flops'] / 1e9:.4g} | {r['latency_ms_median']:.2f} | {r['latency_ms_p95']:.2f} | "
            f"{r['throughput_per_s']:.1f} | {paper or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="model names or glob patterns (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=30, help="most timed runs per measurement (default 30)")
    parser.add_argument("--budget", type=float, default=20.0, help="target seconds per model (default 20)")
    parser.add_argument("--batch", type=int, default=32, help="batch of the throughput measurement (default 32)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = select_models(args.names)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at start",
        file=sys.stderr,
    )
    rows = []
    for name in names:
        row = measure(name, args.repeats, args.budget, args.batch)
        rows.append(row)
        print(
            f"{name:24s} params {row['params'] / 1e6:8.3f} M  MACs {row['macs'] / 1e9:8.4g} G  "
            f"FLOPs {row['flops'] / 1e9:8.4g} G  b=1 {row['latency_ms_median']:8.2f} ms (p95 "
            f"{row['latency_ms_p95']:8.2f})  b={args.batch} {row['throughput_per_s']:8.1f}/s",
            file=sys.stderr,
            flush=True,
        )
    print(f"# load average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, rows)
    if args.markdown:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
