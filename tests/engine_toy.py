"""A tiny registered model and dataset for engine tests, runnable as a script (for SIGKILL and torchrun tests).

python -m tests.engine_toy OUT_DIR [--resume] [--steps N] [--sleep S] [--report FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from handpose.codecs.base import Codec
from handpose.config import ExperimentConfig
from handpose.models.base import HandModel, ModelSpec
from handpose.registry import register_model


class ToyCodec(Codec):
    name = "toy"
    frame = "crop_px"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def encode(self, joints, visibility=None):
        return {"joints": np.asarray(joints, np.float32) / self.scale}

    def decode(self, outputs):
        j = np.asarray(outputs["joints"]) * self.scale
        return {"joints": j, "confidence": np.ones(j.shape[:2])}

    def state(self):
        return {"scale": self.scale}


class ToyModel(HandModel):
    def __init__(self, hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        self.config = {"hidden": hidden, "dropout": dropout}
        self.spec = ModelSpec("toy_engine", "baseline", "rgb", 1, (4, 4), 3, "pose2d", "epe", False, ("joints",))
        self.codec = ToyCodec()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(16, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 6)
        )

    def forward_impl(self, x):
        return {"joints": self.net(x).view(-1, 3, 2)}

    def loss(self, outputs, targets):
        loss = (outputs["joints"] - targets["joints"]).abs().mean()
        return loss, {"l1": float(loss.detach())}


def register() -> None:
    """Register ``toy_engine`` (needed to rebuild it from a checkpoint); tests undo it with :func:`unregister` so the
    registry-wide model tests never see it."""
    from handpose import registry

    if "toy_engine" not in registry._MODELS:
        register_model("toy_engine")(ToyModel)


def unregister() -> None:
    from handpose import registry

    registry._MODELS.pop("toy_engine", None)


class ToyDataset(torch.utils.data.Dataset):
    """x: (1, 4, 4) random; target: a fixed linear function of x (learnable)."""

    def __init__(self, n: int = 64, sleep: float = 0.0, seed: int = 0):
        g = np.random.default_rng(seed)
        self.x = g.normal(size=(n, 1, 4, 4)).astype(np.float32)
        w = g.normal(size=(16, 6)).astype(np.float32) / 4
        self.y = (self.x.reshape(n, 16) @ w).reshape(n, 3, 2)
        self.sleep = sleep

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if self.sleep:
            time.sleep(self.sleep)
        return {"input": torch.from_numpy(self.x[i]), "targets": {"joints": torch.from_numpy(self.y[i])}}


def evaluate(model, dataset, device):
    x = torch.from_numpy(dataset.x).to(device)
    pred = model.decode(model(x))["joints"]
    return {"epe": float(np.linalg.norm(pred - dataset.y, axis=-1).mean())}


def make_config(steps: int = 24, batch: int = 8) -> ExperimentConfig:
    cfg = ExperimentConfig(name="toy")
    cfg.model.name = "toy_engine"
    cfg.data.batch_size = batch
    cfg.optim.lr = 3e-2
    cfg.train.steps = steps
    cfg.train.val_every = 8
    cfg.train.checkpoint_every = 2
    cfg.train.log_every = 4
    cfg.train.progress = False
    cfg.train.device = "cpu"
    cfg.train.threads = 1
    return cfg


def weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    from handpose.engine.distributed import shutdown_distributed
    from handpose.engine.trainer import fit

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--report", default="")
    args = ap.parse_args(argv)
    register()
    torch.manual_seed(0)
    model = ToyModel()
    data = ToyDataset(sleep=args.sleep)
    fit(model, data, make_config(args.steps), args.out, val_set=data, evaluate=evaluate, resume=args.resume)
    digest = weights_digest(model)
    import torch.distributed as dist

    if dist.is_initialized():
        digests = [None] * dist.get_world_size()
        dist.all_gather_object(digests, digest)
        if dist.get_rank() == 0 and args.report:
            with open(args.report, "w") as fh:
                json.dump({"digests": digests}, fh)
        shutdown_distributed(exit_code=0)
    elif args.report:
        with open(args.report, "w") as fh:
            json.dump({"digests": [digest]}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
