"""The pose network's time per crop in ONNX Runtime at other channel widths, in one run (untrained weights: the
time does not depend on them).

ONNX Runtime runs convolutions in a blocked layout (NCHWc) whose block is 8 channels with AVX2 and 16 with AVX-512;
a layer of 24 channels is computed as 32 where the block is 16. This prints the median ms per call of ``msahp_t``
(104 x 104 crop, presence head, one thread) at each ``--widths`` (rows 1, 3-4, 6-7, 9-10), the models taking turns,
so that a retraining can choose widths that fill whole blocks on the machine that will run it. ``--model ssd_hand``
times the hand detector's trunk widths (stem and four stages) instead, at its own input::

    .venv/bin/python benchmarks/pose_width_cost.py [--widths 16,24,32,64 16,32,32,64 ...] [--rounds 3]
    .venv/bin/python benchmarks/pose_width_cost.py --model ssd_hand --widths 16,24,32,64,96 16,32,32,64,96
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", nargs="+", default=["16,24,32,64", "16,32,32,64", "16,16,32,64", "16,32,48,64"])
    ap.add_argument("--model", default="msahp_t", help="msahp_t (104 x 104, presence head) or ssd_hand")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args(argv)
    import onnxruntime as ort
    import torch

    from handpose.engine.checkpoint import save_checkpoint
    from handpose.inference.export import export_onnx
    from handpose.registry import create_model

    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.widths:
            widths = [int(v) for v in spec.split(",")]
            torch.manual_seed(0)
            extra = {"presence": True, "input_size": 104} if args.model == "msahp_t" else {}
            model = create_model(args.model, widths=widths, **extra).eval()
            out = Path(tmp) / f"w{spec.replace(',', '-')}.onnx"
            export_onnx(save_checkpoint(Path(tmp) / f"ckpt{spec.replace(',', '-')}", model), out, check=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 3
            sessions[spec] = ort.InferenceSession(str(out), sess_options=opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, *model.spec.input_size), dtype=np.float32)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(args.rounds):
        for spec, sess in sessions.items():
            for _ in range(30):
                sess.run(None, {"input": x})
            ts = []
            for _ in range(args.calls):
                t = time.perf_counter()
                sess.run(None, {"input": x})
                ts.append((time.perf_counter() - t) * 1000)
            times[spec].append(float(np.median(ts)))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} ms" for k, v in times.items()), flush=True)
    base = float(np.median(times[args.widths[0]]))
    for spec, v in times.items():
        print(f"widths {spec}: median {np.median(v):.3f} ms a call, {np.median(v) / base:.2f} of {args.widths[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
