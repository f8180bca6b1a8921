"""A shipped pose model as a checkpoint a recipe can start from (``model.init``): the float16 weights as float32,
without the hand-presence head (trained after the pose network, with it fixed; :mod:`handpose.engine.presence`).

A fine-tuning stage of ``benchmarks/train_real_models.py`` starts from the previous stage's run; where that run is not
on the machine, this gives the shipped weights in its place::

    .venv/bin/python benchmarks/pose_init_from_shipped.py src/handpose/pretrained/msahp_t runs/real/shipped_pose
    .venv/bin/handpose train configs/msahp_real_tilt_photos.yaml --set model.init=runs/real/shipped_pose
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shipped", type=Path, help="a shipped pose model folder (model.json + model.safetensors)")
    ap.add_argument("out", type=Path, help="the checkpoint folder to write")
    args = ap.parse_args(argv)

    import numpy as np
    from safetensors.numpy import load_file, save

    from handpose.engine.checkpoint import SIDECAR, WEIGHTS
    from handpose.io import sha256_file, write_bytes_atomic, write_json_atomic

    weights = {k: (v.astype(np.float32) if v.dtype == np.float16 else v)
               for k, v in load_file(str(args.shipped / WEIGHTS)).items()
               if not k.startswith("presence_head.")}  # fmt: skip
    side = json.loads((args.shipped / SIDECAR).read_text())
    side["model_kwargs"].pop("presence", None)
    side.pop("presence_training", None)
    args.out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out / WEIGHTS, save(weights))
    side["weights_dtype"] = "float32"
    side["weights_sha256"] = sha256_file(args.out / WEIGHTS)
    write_json_atomic(args.out / SIDECAR, side)
    print(f"{args.out}: {len(weights)} tensors of {side['model']} from {args.shipped}, float32, no presence head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
