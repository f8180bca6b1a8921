"""A real training run for the exact-resume test, killed by SIGKILL at a chosen step (run as a script).

python -m tests.resume_real DATA_ROOT OUT_DIR [--kill-at STEP] [--resume] [--report FILE] [--device cpu|cuda]

The run is ``handpose train``'s own path (:func:`handpose.engine.run.run_training`) on the recipe
``configs/unet_heatmap_synthetic.yaml``, shrunk to a few seconds: the small UNet at 64 x 64, the synthetic frames in
``DATA_ROOT``, every geometric and colour augmentation on (each sample's draws come from the augmentation RNG),
two DataLoader workers, a 7-step linear warm-up and a learning rate halved every epoch, 3 epochs. ``--kill-at N``
kills the process (SIGKILL, no clean-up of any kind) when step N asks for its loss, so the kill lands at the same
step on every run whatever the machine's speed: the last checkpoint is that of step N - 1 when N - 1 is a multiple
of ``checkpoint_every``. ``--report`` writes the SHA-256 of the final weights.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 3
BATCH = 8
WARMUP = 7
CHECKPOINT_EVERY = 2


def overrides(data_root: str, device: str = "cpu") -> list[str]:
    return [
        f"data.root={data_root}",
        "model.name=unet_heatmap_s",
        "model.kwargs={input_size: 64, width: 8}",
        f"data.batch_size={BATCH}",
        "data.workers=2",
        "data.augment={rotation: true, scale: true, translation: true, flip: true, color: true, occlusion: true, "
        "blur: true, noise: true, background: false}",
        f"schedule.warmup_steps={WARMUP}",
        "schedule.kind=step",
        "schedule.unit=epoch",
        "schedule.step_size=1",
        "schedule.gamma=0.5",
        "optim.lr=0.003",
        f"train.epochs={EPOCHS}",
        "train.val_every=4",
        "train.log_every=1",
        f"train.checkpoint_every={CHECKPOINT_EVERY}",
        "train.keep_checkpoints=2",
        "train.threads=1",
        "train.progress=false",
        f"train.device={device}",
        "data.max_val_samples=8",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_root")
    ap.add_argument("out")
    ap.add_argument("--kill-at", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report", default="")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast and channels-last there)")
    args = ap.parse_args(argv)

    from handpose.config import load_config
    from handpose.engine.run import run_training

    from .engine_toy import weights_digest

    if args.kill_at:
        from handpose.models.unet_heatmap import UNetHeatmap

        original = UNetHeatmap.loss
        calls = {"n": 0}

        def loss_or_die(self, outputs, targets):  # called once per step, in the main process
            calls["n"] += 1
            if calls["n"] == args.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, outputs, targets)

        UNetHeatmap.loss = loss_or_die  # type: ignore[method-assign]
    cfg = load_config(REPO / "configs" / "unet_heatmap_synthetic.yaml", overrides(args.data_root, args.device))
    result = run_training(cfg, args.out, resume=args.resume)
    if args.report:
        from handpose.engine.checkpoint import load_checkpoint

        model, _ = load_checkpoint(result.last)
        Path(args.report).write_text(json.dumps({"digest": weights_digest(model), "steps": result.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
