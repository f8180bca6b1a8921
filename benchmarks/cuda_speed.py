"""Training and inference speed of the papers' networks on a CUDA GPU, float32 against bf16 autocast + channels-last,
and the GPU hours the full benchmark's schedules need at those speeds.

For each experiment of the full benchmark (``handpose benchmark --full``: the papers' network sizes and schedules)
it measures, in one run, on random inputs of the network's input shape at the recipe's batch size:

- train fp32 / amp: samples/s of forward + a stand-in loss (the mean square of every output) + backward + Adam
  step, first in float32 (cuDNN may use TF32, PyTorch's default), then with bf16 autocast and channels-last
  weights and activations (what the trainer does on CUDA);
- infer fp32 / amp: samples/s of a forward pass at batch 256, without and with bf16 autocast;
- hours: the recipe's steps (``train.steps``, or epochs over the full benchmark's 100,000 frames) at the amp speed:
  the network's share of the full benchmark, data loading excluded (the data pipeline runs on the CPU workers).

The stand-in loss costs about what the real ones cost (an elementwise reduction), so the figures are the networks'
own speed; ``handpose train`` on the same recipe adds the data pipeline and the periodic validation.

    python benchmarks/cuda_speed.py [--only KEY,...] [--steps 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
from pathlib import Path

import torch


def stand_in_loss(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(v.float().pow(2).mean() for v in outputs.values() if v.is_floating_point())


def timed(fn, repeats: int) -> float:
    """Seconds per call of ``fn`` (mean, after two warm-up calls), the GPU synchronised after each call
    (:func:`handpose.cost.measure_latency`)."""
    from handpose.cost import measure_latency

    return measure_latency(fn, warmup=2, repeats=repeats, sync=torch.cuda.synchronize)["mean_ms"] / 1000.0


def measure(name: str, batch: int, steps: int, device: torch.device) -> dict:
    from handpose.registry import create_model

    model = create_model(name, seed=0).to(device)
    x = torch.randn(model.spec.input_shape(batch), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    out: dict = {"model": name, "input": list(x.shape[1:]), "batch": batch,
                 "params": sum(p.numel() for p in model.parameters())}  # fmt: skip

    def step(inp: torch.Tensor, amp: bool) -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = stand_in_loss(model(inp))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    out["train_fp32"] = batch / timed(lambda: step(x, False), steps)
    model.to(memory_format=torch.channels_last)
    x_nhwc = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
    out["train_amp"] = batch / timed(lambda: step(x_nhwc, True), steps)
    model.eval()
    big = torch.randn(model.spec.input_shape(256), device=device)
    big_nhwc = big.contiguous(memory_format=torch.channels_last) if big.ndim == 4 else big
    with torch.inference_mode():
        out["infer_fp32"] = 256 / timed(lambda: model(big), steps)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out["infer_amp"] = 256 / timed(lambda: model(big_nhwc), steps)
    out["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return out


def main() -> None:
    from handpose.benchmark.plan import FULL
    from handpose.benchmark.runner import experiment_config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated experiment keys of the full benchmark")
    ap.add_argument("--steps", type=int, default=20, help="timed calls per measurement")
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("cuda_speed.py: no CUDA device (this benchmark measures a GPU)")
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    keys = [k for k in args.only.split(",") if k] or [e.key for e in FULL.experiments if not e.key.startswith("mean")]
    print(f"machine: {platform.node()}, {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}")  # fmt: skip
    print(f"{'experiment':24s} {'model':20s} {'input':>12s} {'batch':>5s} {'train fp32':>10s} {'train amp':>10s} "
          f"{'x':>5s} {'infer fp32':>10s} {'infer amp':>10s} {'steps':>7s} {'hours':>6s}")  # fmt: skip
    rows, hours = [], 0.0
    for key in keys:
        exp = FULL.get(key)  # without the trained models some experiments take in ("@KEY"): not needed for speed
        exp = dataclasses.replace(exp, full={k: v for k, v in exp.full.items() if "@" not in str(v)})
        cfg = experiment_config(exp, FULL, Path("runs/unused"))
        batch = cfg.data.batch_size
        steps = cfg.train.steps if cfg.train.epochs <= 0 else cfg.train.epochs * math.ceil(FULL.data.train / batch)
        try:
            r = measure(cfg.model.name, batch, args.steps, device)
        except torch.OutOfMemoryError:
            print(f"{key:24s} {cfg.model.name:20s} out of memory", flush=True)
            torch.cuda.empty_cache()
            continue
        r.update(experiment=key, recipe_steps=steps, hours=steps * batch / r["train_amp"] / 3600)
        hours += r["hours"]
        rows.append(r)
        shape = "x".join(str(s) for s in r["input"])
        print(f"{key:24s} {r['model']:20s} {shape:>12s} {batch:5d} {r['train_fp32']:10.0f} {r['train_amp']:10.0f} "
              f"{r['train_amp'] / r['train_fp32']:5.2f} {r['infer_fp32']:10.0f} {r['infer_amp']:10.0f} {steps:7d} "
              f"{r['hours']:6.2f}", flush=True)  # fmt: skip
    print(f"networks' share of the full benchmark at the amp speed: {hours:.2f} GPU hours (data loading excluded)")
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
                                      "rows": rows, "hours": hours})  # fmt: skip


if __name__ == "__main__":
    main()
