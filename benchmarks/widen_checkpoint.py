"""A trained checkpoint (the pose network, the hand detector: a model built with ``widths``) widened without changing
what it computes (:func:`handpose.models.widen.widen_model`), as a checkpoint a recipe can start from
(``model.init``)::

    .venv/bin/python benchmarks/widen_checkpoint.py runs/real/msahp_t_104/best runs/real/msahp_t_104_w32_init \\
        --widths 16,32,32,64
    .venv/bin/handpose train configs/msahp_real_w32.yaml --out runs/real/msahp_t_w32

It prints the largest difference between the two networks' outputs on two random inputs (eval mode).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a checkpoint folder (model.json + model.safetensors)")
    ap.add_argument("out", type=Path, help="the checkpoint folder to write")
    ap.add_argument("--widths", required=True, help="comma-separated widths, as many as the model's, e.g. 16,32,32,64")
    ap.add_argument("--seed", type=int, default=0, help="draws the new channels' weights")
    args = ap.parse_args(argv)

    from handpose.engine.checkpoint import load_checkpoint, save_checkpoint
    from handpose.models.widen import largest_output_difference, widen_model

    model, info = load_checkpoint(args.checkpoint)
    wide = widen_model(model, [int(w) for w in args.widths.split(",")], seed=args.seed).eval()
    diff = largest_output_difference(model, wide)
    save_checkpoint(args.out, wide, step=0, config=info.get("config") or {},
                    extra={"widened_from": str(args.checkpoint)})  # fmt: skip
    n_old = sum(p.numel() for p in model.parameters())
    n_new = sum(p.numel() for p in wide.parameters())
    print(f"{args.out}: {info['model']} widths {model.config['widths']} -> {wide.config['widths']}, "
          f"{n_old} -> {n_new} parameters; largest output difference {diff:.2e}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
