"""The CUDA paths: training with bf16 autocast and channels-last, its exact resume after SIGKILL, a checkpoint written
on the GPU and read on the CPU, and the shipped models giving the CPU's answers on the GPU.

The project never needs a GPU: where torch sees no CUDA device (CI, the project's own machine) these tests are
skipped. On a GPU machine: ``pytest tests/test_cuda.py`` (docs/benchmarks.md records the last run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
GPU = "cuda"

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_amp_training_killed_on_the_gpu_resumes_exactly(tmp_path):
    """handpose train's own path on CUDA (bf16 autocast, channels-last, 2 DataLoader workers) killed by SIGKILL
    mid-epoch and resumed: the same weights as an uninterrupted run, bit for bit, and the same learning rates."""
    from .test_engine import kill_and_resume

    kill_and_resume(tmp_path, GPU)


def _synthetic(root: Path, count: int, split: str) -> None:
    from handpose.data.synthetic import generate

    generate(root, count, seed=7, preset="easy", modality="rgb", split=split, workers=4, progress=False,
             no_hand_rate=0)  # fmt: skip


@pytest.mark.timeout(600)
def test_amp_training_learns_and_its_checkpoint_runs_on_the_cpu(tmp_path):
    """The pose model of the shipped pipeline trained on CUDA with bf16 autocast learns (validation EPE under half
    the untrained network's), and its checkpoint, read on the CPU, scores what the GPU scores in float32."""
    from handpose.config import load_config
    from handpose.engine.checkpoint import load_checkpoint
    from handpose.engine.data import build_dataset
    from handpose.engine.evaluate import evaluate
    from handpose.engine.run import run_training
    from handpose.registry import create_model

    data = tmp_path / "data"
    _synthetic(data, 512, "train")
    _synthetic(data, 64, "val")
    cfg = load_config(REPO / "configs" / "msahp_synthetic.yaml", [
        f"data.root={data}", "model.name=msahp_t", "data.batch_size=64", "data.workers=4",
        "schedule.kind=cosine", "schedule.warmup_steps=20", "schedule.milestones=[]", "schedule.values=[]",
        "optim.lr=0.003", "train.steps=400", "train.val_every=400", "train.checkpoint_every=200",
        "train.progress=false", f"train.device={GPU}", "train.amp=true", "data.max_val_samples=64",
    ])  # fmt: skip
    result = run_training(cfg, tmp_path / "run")
    trained_cpu, _ = load_checkpoint(result.last, map_location="cpu")
    trained_gpu, _ = load_checkpoint(result.last, map_location=GPU)
    val = build_dataset(trained_cpu, cfg, "val", train=False)
    untrained = create_model("msahp_t", seed=1)
    epe0 = evaluate(untrained, val, "cpu")["epe"]
    on_cpu = evaluate(trained_cpu, val, "cpu")["epe"]
    on_gpu = evaluate(trained_gpu, val, GPU)["epe"]
    assert on_cpu < epe0 / 2, (on_cpu, epe0)
    assert on_gpu == pytest.approx(on_cpu, abs=0.05)  # px
    assert result.final_metrics["epe"] == pytest.approx(on_gpu, abs=0.5)  # the run's own final validation


@pytest.mark.timeout(300)
@pytest.mark.parametrize("photo", ["webcam_1.jpg", "two_hands.jpg", "sign_digit_2.jpg"])
def test_the_shipped_rgb_pipeline_gives_the_cpus_answers_on_the_gpu(photo):
    """The shipped detector, pose model and GestureNet run by PyTorch on CUDA find the same hands as on the CPU:
    boxes and joints within 1 px, the same gesture."""
    from handpose.data.image_io import read_image
    from handpose.inference.backends import load_model
    from handpose.inference.estimator import PRETRAINED, HandPoseEstimator, pretrained_path

    roles = ("detector", "pose2d", "gesture")
    frame = read_image(REPO / "examples" / photo)
    hands = {}
    for device in ("cpu", GPU):
        models = [load_model(pretrained_path(PRETRAINED[r]), "torch", device=device) for r in roles]
        hands[device] = HandPoseEstimator(models)(frame)
    assert len(hands["cpu"]) == len(hands[GPU]) > 0
    for a, b in zip(hands["cpu"], hands[GPU], strict=True):
        assert np.abs(a.bbox - b.bbox).max() < 1.0
        assert np.abs(a.joints_2d - b.joints_2d).max() < 1.0
        assert a.gesture == b.gesture
