"""Training speed of every model of the quick benchmark, fed from synthetic shards.

For each experiment of the quick plan (the same configs `handpose benchmark --quick` trains) it measures, in one run:

- data: samples/s of the pipeline alone (shards -> crop -> augment -> encode, in this process);
- step: samples/s of forward + loss + backward + optimiser step on a fixed batch (the model alone), with
  contiguous (NCHW) tensors, and again with channels-last (NHWC) weights and activations;
- loop: samples/s of the whole training loop (data in this process, then the step, in the layout the trainer
  uses: ``train.channels_last``, on by default), as the benchmark runs it. The loop passes over the items that the
  data measure built first, so cached per-frame work (the depth crops' cube centres) is warm, as from the second
  epoch of a training.

On a CUDA machine it also measures the step with bf16 autocast and channels-last (AMP).

    python benchmarks/train_speed.py [--data DIR] [--steps 20] [--threads 1] [--only KEY,...] [--json OUT]

Synthetic shards are generated into --data when missing (500 frames of the quick plan's preset).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch


def with_untrained_refs(exp, plan, root: Path):
    """An experiment that uses another's trained model (an override "@KEY", e.g. the multi-scale network's skeleton
    detector) gets a freshly initialised network of the same kind: its cost does not depend on the weights."""
    import dataclasses

    from handpose.engine.checkpoint import save_checkpoint
    from handpose.registry import create_model

    quick = dict(exp.quick)
    for k, v in quick.items():
        if isinstance(v, str) and v.startswith("@"):
            dep = plan.get(v[1:])
            ckpt = root / "untrained" / dep.key
            if not (ckpt / "model.json").is_file():
                save_checkpoint(ckpt, create_model(dep.quick["model.name"], seed=0).eval())
            quick[k] = str(ckpt)
    return dataclasses.replace(exp, quick=quick)


def measure(exp, plan, data_root: Path, steps: int, device: torch.device) -> dict:
    from handpose.benchmark.runner import experiment_config
    from handpose.data.dataset import collate
    from handpose.engine.data import build_dataset
    from handpose.engine.trainer import build_optimizer, to_device
    from handpose.registry import create_model

    cfg = experiment_config(exp, plan, data_root)
    model = create_model(cfg.model.name, **cfg.model.kwargs).to(device)
    train_set = build_dataset(model, cfg, "train", train=True)
    batch_size = cfg.data.batch_size
    n = min(len(train_set), batch_size * steps)
    # data alone
    t = time.perf_counter()
    items = [train_set[i % len(train_set)] for i in range(n)]
    data_sps = n / (time.perf_counter() - t)
    batch = to_device(collate(items[:batch_size]), device)
    optimizer = build_optimizer(cfg.optim, model)
    has_params = any(p.requires_grad for p in model.parameters())

    def step(b, amp: bool = False) -> None:
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else torch.autocast("cpu", enabled=False)
        with ctx:
            loss, _ = model.loss(model(b["input"]), b["targets"])
        if has_params:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def timed(fn, repeats: int) -> float:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / repeats

    model.train()
    step_s = timed(lambda: step(batch), max(3, steps // 4))
    # the same step with NHWC (channels-last) weights and activations, as the trainer runs it by default
    model = model.to(memory_format=torch.channels_last)
    batch_nhwc = to_device(collate(items[:batch_size]), device, channels_last=True)
    nhwc_s = timed(lambda: step(batch_nhwc), max(3, steps // 4))
    if not cfg.train.channels_last:
        model = model.to(memory_format=torch.contiguous_format)
    # the loop: build each batch in this process, then step (what the quick benchmark does with workers=0)
    loop_batches = [list(range(i * batch_size, (i + 1) * batch_size)) for i in range(max(1, n // batch_size))]

    def loop() -> None:
        for idx in loop_batches:
            step(to_device(collate([train_set[i % len(train_set)] for i in idx]), device, cfg.train.channels_last))

    loop_s = timed(loop, 1) / len(loop_batches)
    out = {
        "experiment": exp.key,
        "model": cfg.model.name,
        "input": list(model.spec.input_shape(1)[1:]),
        "batch": batch_size,
        "data_samples_per_s": data_sps,
        "step_samples_per_s": batch_size / step_s,
        "step_nhwc_samples_per_s": batch_size / nhwc_s,
        "loop_samples_per_s": batch_size / loop_s,
    }
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        amp_s = timed(lambda: step(batch, amp=True), max(3, steps // 4))
        out["amp_step_samples_per_s"] = batch_size / amp_s
    return out


def main() -> None:
    from handpose.benchmark.plan import QUICK
    from handpose.data.synthetic import generate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="runs/data/train-speed", help="synthetic dataset root (generated if missing)")
    ap.add_argument("--steps", type=int, default=20, help="batches timed per measurement")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the quick benchmark uses 1 per job)")
    ap.add_argument("--only", default="", help="comma-separated experiment keys")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))  # fmt: skip
    root = Path(args.data)
    for split, count in (("train", 500), ("val", 20), ("test", 20)):
        generate(root, count, preset=QUICK.data.preset, split=split, workers=2, progress=False)
    keys = [k for k in args.only.split(",") if k] or [e.key for e in QUICK.experiments if not e.key.startswith("mean")]
    rows = []
    print(f"machine: {platform.node()} {platform.machine()}, torch {torch.__version__}, device {device}, "
          f"{args.threads} thread(s)")  # fmt: skip
    header = (f"{'experiment':24s} {'model':22s} {'input':>12s} {'data/s':>8s} {'step/s':>8s} {'NHWC/s':>8s} "
              f"{'loop/s':>8s}")  # fmt: skip
    print(header + ("  amp step/s" if device.type == "cuda" else ""))
    for key in keys:
        r = measure(with_untrained_refs(QUICK.get(key), QUICK, root), QUICK, root, args.steps, device)
        rows.append(r)
        shape = "x".join(str(s) for s in r["input"])
        line = (f"{r['experiment']:24s} {r['model']:22s} {shape:>12s} {r['data_samples_per_s']:8.0f} "
                f"{r['step_samples_per_s']:8.0f} {r['step_nhwc_samples_per_s']:8.0f} "
                f"{r['loop_samples_per_s']:8.0f}")  # fmt: skip
        if "amp_step_samples_per_s" in r:
            line += f"  {r['amp_step_samples_per_s']:10.0f}"
        print(line, flush=True)
    print(f"median loop samples/s: {np.median([r['loop_samples_per_s'] for r in rows]):.0f}")
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, {"device": str(device), "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
