"""Data pipeline speed: synthetic shards -> crop -> augment -> encode, in samples per second, against the training
step of the smallest registered model.

Measures, with training-time augmentation on:

- a 256² RGB heatmap model's pipeline (the spec and codec of ``msahp``: bbox crop, one random affine, background
  replacement, occluders, colour / blur / noise, Gaussian heatmap targets);
- a 128² depth model's pipeline (the spec and codec of a registered depth model: centre-of-mass cube crop, rotation /
  scale / cube / translation jitter, depth noise and holes, its targets);

each with 0 and 2 DataLoader workers (batch 32), and the training step (forward, loss, backward, Adam step; batch 32)
of the smallest registered image model by parameter count, with that model's own pipeline too (plus, for context,
the training steps of the two models whose pipelines are measured). The machine is shared: each pipeline figure is
the best of ``--repeats`` runs (the closest to an idle machine) with the median beside it, and each training step
figure the best of ``--steps`` steps with the median beside it. Because wall-clock rates swing with the other jobs,
the script also compares CPU time per sample, which they hardly change: the pipeline in the main process (0
workers, OpenCV single-threaded) against the smallest model's training step on one torch thread.

Run (from the repository root)::

    .venv/bin/python benchmarks/pipeline_speed.py [--frames 512] [--batches 12] [--repeats 3] [--data DIR] [--json OUT]

Without ``--data`` it first generates ``--frames`` synthetic frames (RGB and depth) into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from handpose.data.augment import AugmentConfig
from handpose.data.crop import CropConfig
from handpose.data.dataset import HandPoseDataset, collate, worker_init_fn
from handpose.registry import create_model, list_models

BATCH = 32


def synthetic_reader(root: Path, modality: str, skeleton: bool = False) -> Any:
    """The synthetic split, decoding only ``modality``. The pipeline draws the skeleton channel of the crop itself,
    so the reader's own full-frame skeleton image is switched off unless asked for."""
    from handpose.data.synthetic import SyntheticDataset

    return SyntheticDataset(root, split="train", modality=(modality,), skeleton=skeleton)


def reader_ms(reader: Any, n: int) -> float:
    """Milliseconds per sample of reading alone (shard decoding)."""
    t = time.perf_counter()
    for i in range(n):
        reader[i % len(reader)]
    return 1000 * (time.perf_counter() - t) / n


def needs_fitting(model: Any) -> bool:
    """Codecs learnt from the labels (the PCA space) need fitting before they can encode."""
    return getattr(model.codec, "name", "") == "pca"


def pick_depth_model() -> str:
    """The depth model whose pipeline is measured: light_depth when registered, else the smallest 128² depth model
    whose codec encodes without fitting."""
    names = list_models()
    if "light_depth" in names:
        return "light_depth"
    sizes = {}
    for name in names:
        model = create_model(name)
        if model.spec.modality == "depth" and model.spec.input_size == (128, 128) and not needs_fitting(model):
            sizes[name] = model.num_parameters()
    return max(sizes, key=sizes.get)


def smallest_image_model() -> tuple[str, int]:
    """The registered RGB / depth model with the fewest parameters (parameter-free baselines and models whose codec
    needs fitting left out)."""
    best: tuple[str, int] | None = None
    for name in list_models():
        model = create_model(name)
        n = model.num_parameters()
        if model.spec.modality not in ("rgb", "depth") or n == 0 or needs_fitting(model):
            continue
        if best is None or n < best[1]:
            best = (name, n)
    if best is None:
        raise SystemExit("no trainable image model is registered")
    return best


def make_dataset(model: Any, reader: Any) -> HandPoseDataset:
    return HandPoseDataset(reader, model.spec, model.codec, crop=CropConfig(), augment=AugmentConfig(), train=True)


def pipeline_rate(ds: HandPoseDataset, workers: int, batches: int) -> dict[str, float]:
    """Samples/s of iterating a DataLoader over ``ds`` (the first batch, worker start-up included, is left out)."""
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn if workers else None,
        drop_last=True,
        timeout=300 if workers else 0,  # a stuck worker becomes an error, not a silent hang
    )
    n = 0
    start = None
    cpu_start = 0.0
    first = 0.0
    t_first = time.perf_counter()
    while n < batches * BATCH:
        for batch in loader:
            if start is None:
                start = time.perf_counter()
                cpu_start = time.process_time()
                first = start - t_first
                continue
            n += len(batch["input"])
            if n >= batches * BATCH:
                break
        ds.set_epoch(ds.epoch + 1)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    out = {"samples_per_s": n / seconds, "samples": n, "seconds": seconds, "first_batch_s": first}
    if workers == 0:  # all the work is in this process: its CPU time is the pipeline's cost, whatever else runs
        out["cpu_ms_per_sample"] = 1000 * cpu / n
    return out


def train_step_rate(model: Any, ds: HandPoseDataset, steps: int) -> dict[str, float]:
    """Full training steps (forward, loss, backward, Adam) at batch 32 on one pre-built batch: the best and the
    median step time over ``steps`` timed steps (the first, with its allocations, is left out), as samples/s."""
    batch = collate([ds[i % len(ds)] for i in range(BATCH)])
    x, targets = batch["input"], batch["targets"]
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for k in range(steps + 1):
        t = time.perf_counter()
        out = model(x)
        loss, _ = model.loss(out, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k:
            times.append(time.perf_counter() - t)
    median, best = statistics.median(times), min(times)
    return {
        "samples_per_s": BATCH / best,
        "samples_per_s_median": BATCH / median,
        "step_ms": 1000 * best,
        "step_ms_median": 1000 * median,
        "steps": steps,
    }


def train_step_cpu(model: Any, ds: HandPoseDataset, steps: int) -> dict[str, float]:
    """CPU milliseconds per sample of training steps on one torch thread: the cost of a step that other jobs on a
    shared machine do not inflate (two threads spin-wait for each other when a core is taken away)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batch = collate([ds[i % len(ds)] for i in range(BATCH)])
        x, targets = batch["input"], batch["targets"]
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        cpu = []
        for k in range(steps + 1):
            c = time.process_time()
            loss, _ = model.loss(model(x), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if k:
                cpu.append(time.process_time() - c)
    finally:
        torch.set_num_threads(threads)
    return {
        "cpu_ms_per_sample": 1000 * min(cpu) / BATCH,
        "cpu_ms_per_sample_median": 1000 * statistics.median(cpu) / BATCH,
    }


def best_pipeline_rate(ds: HandPoseDataset, workers: int, batches: int, repeats: int) -> dict[str, Any]:
    """:func:`pipeline_rate` repeated: the best and the median of the repeats."""
    runs = [pipeline_rate(ds, workers, batches) for _ in range(repeats)]
    rates = [r["samples_per_s"] for r in runs]
    out = {"samples_per_s": max(rates), "samples_per_s_median": statistics.median(rates), "runs": runs}
    if workers == 0:
        out["cpu_ms_per_sample"] = min(r["cpu_ms_per_sample"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="existing synthetic data folder (default: generate into a temp dir)")
    parser.add_argument("--frames", type=int, default=512, help="frames to generate without --data")
    parser.add_argument("--batches", type=int, default=12, help="timed batches of 32 per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each pipeline measurement")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps of the smallest model")
    parser.add_argument("--paired-steps", type=int, default=3, help="timed steps of the measured pipelines' models")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    tmp = None
    root = args.data
    if root is None:
        from handpose.data.synthetic import generate

        tmp = tempfile.TemporaryDirectory(prefix="handpose_pipeline_")
        root = Path(tmp.name)
        t = time.perf_counter()
        generate(root, args.frames, seed=0, modality=("rgb", "depth"), split="train", workers=2, progress=False)
        print(f"generated {args.frames} synthetic RGB + depth frames in {time.perf_counter() - t:.1f} s")

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "batch": BATCH,
        "pipelines": [],
    }
    results["reader_ms_per_sample"] = {
        "rgb": reader_ms(synthetic_reader(root, "rgb"), 64),
        "rgb_with_reader_skeleton": reader_ms(synthetic_reader(root, "rgb", skeleton=True), 64),
        "depth": reader_ms(synthetic_reader(root, "depth"), 64),
    }
    print("reading alone (ms/sample):", {k: round(v, 2) for k, v in results["reader_ms_per_sample"].items()})

    small, n_params = smallest_image_model()
    configs = [
        ("rgb 256² heatmap", "msahp", "rgb"),
        ("depth 128²", pick_depth_model(), "depth"),
        (f"{small} input", small, ""),
    ]
    for label, name, _ in configs:
        model = create_model(name)
        ds = make_dataset(model, synthetic_reader(root, model.spec.modality))
        for workers in args.workers:
            rate = best_pipeline_rate(ds, workers, args.batches, args.repeats)
            row = {"pipeline": label, "model": name, "codec": type(model.codec).__name__, "workers": workers, **rate}
            results["pipelines"].append(row)
            cpu = f", CPU {rate['cpu_ms_per_sample']:.2f} ms/sample" if "cpu_ms_per_sample" in rate else ""
            print(
                f"{label:24s} ({name}, {row['codec']}) workers={workers}: "
                f"best {rate['samples_per_s']:6.1f}, median {rate['samples_per_s_median']:6.1f} samples/s{cpu}"
            )
        if name == small:
            step = train_step_rate(model, ds, args.steps)
            step.update(train_step_cpu(model, ds, args.steps))
            results["smallest_model"] = {"model": small, "parameters": n_params, **step}
            print(
                f"{'':24s} its training step on one thread: CPU {step['cpu_ms_per_sample']:.2f} ms/sample "
                f"(median {step['cpu_ms_per_sample_median']:.2f})"
            )
            what = f"the smallest model {small} ({n_params} parameters)"
        elif args.paired_steps > 0:
            step = train_step_rate(model, ds, args.paired_steps)
            results.setdefault("paired_models", []).append({"model": name, **step})
            what = f"{name} itself"
        else:
            continue
        print(
            f"{'':24s} training step of {what}, batch {BATCH}: best {step['step_ms']:.0f} ms "
            f"= {step['samples_per_s']:.1f} samples/s (median {step['step_ms_median']:.0f} ms)"
        )

    train = results["smallest_model"]["samples_per_s"]
    verdicts = {}
    for label, _, _ in configs:
        best = max(r["samples_per_s"] for r in results["pipelines"] if r["pipeline"] == label)
        verdicts[label] = best / train
        word = "out-runs" if best > train else "does NOT out-run"
        print(f"{label:24s} best {best:6.1f} samples/s {word} the smallest model's training step ({best / train:.2f}x)")
    results["pipeline_over_smallest_train_step"] = verdicts
    step_cpu = results["smallest_model"]["cpu_ms_per_sample"]
    cpu_verdicts = {}
    for label, _, _ in configs:
        cost = min(r["cpu_ms_per_sample"] for r in results["pipelines"] if r["pipeline"] == label and not r["workers"])
        cpu_verdicts[label] = step_cpu / cost
        word = "cheaper" if cost < step_cpu else "NOT cheaper"
        print(
            f"{label:24s} CPU {cost:.2f} ms/sample: {word} than the smallest model's step "
            f"({step_cpu:.2f} ms/sample on one thread; {step_cpu / cost:.2f}x)"
        )
    results["smallest_train_step_cpu_over_pipeline_cpu"] = cpu_verdicts
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, results)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
