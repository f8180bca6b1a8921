"""The training engine: configs, schedules, checkpoints, exact resume after SIGKILL, and 2-process DDP."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.config import ExperimentConfig, ScheduleConfig, load_config
from handpose.engine.checkpoint import decode_state, encode_state, load_checkpoint, save_checkpoint
from handpose.engine.distributed import DistInfo, ResumableSampler
from handpose.engine.schedules import lr_function
from handpose.engine.trainer import fit
from handpose.errors import CheckpointError, ConfigError

from .engine_toy import ToyDataset, ToyModel, evaluate, make_config, register, unregister, weights_digest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def toy_model_registered():
    register()
    yield
    unregister()


# ---------------------------------------------------------------------------------------------------- configs


def test_config_from_yaml_with_overrides(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("name: exp\noptim:\n  lr: 0.001\n  betas: [0.8, 0.9]\ntrain:\n  steps: 10\n")
    cfg = load_config(p, ["train.steps=20", "optim.name=adamw", "data.crop.size=96", "model.kwargs.width=8"])
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.name == "exp" and cfg.optim.lr == 0.001 and cfg.optim.betas == (0.8, 0.9)
    assert cfg.train.steps == 20 and cfg.optim.name == "adamw"
    assert cfg.data.crop == {"size": 96} and cfg.model.kwargs == {"width": 8}
    assert cfg.train.val_every == ExperimentConfig().train.val_every  # defaults kept


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("optim:\n  lrr: 1\n", [], "optim.lrr: unknown key"),
        ("optim:\n  lr: fast\n", [], "optim.lr: expected a number"),
        ("train:\n  steps: 1.5\n", [], "train.steps: expected an integer"),
        ("optim:\n  name: rmsprop\n", [], "optim.name: expected one of"),
        ("", ["train.nope=1"], "train.nope: unknown key"),
        ("", ["train.steps"], "must look like key.path=value"),
        ("optim: [1, 2\n", [], "invalid YAML"),
        ("", ["data.batch_size=0"], "data.batch_size: must be >= 1, got 0"),
        ("", ["optim.lr=.inf"], "optim.lr: must be a finite number"),
        ("", ["optim.lr=-1"], "optim.lr: must be > 0.0, got -1.0"),
        ("", ["data.workers=-1"], "data.workers: must be >= 0"),
        ("", ["optim.betas=[0.9, 1.5]"], "optim.betas[1]: must be in [0, 1)"),
        ("train:\n  epochs: -3\n", [], "train.epochs: must be >= 0, got -3"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, text, overrides, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p, overrides)
    assert message in str(exc.value)
    if not overrides:
        assert str(p) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_steps_set_on_the_command_line_win_over_the_recipes_epochs(tmp_path):
    p = tmp_path / "epochs.yaml"
    p.write_text("train:\n  epochs: 30\n  steps: 1000\n")
    assert load_config(p).train.epochs == 30
    cfg = load_config(p, ["train.steps=6"])
    assert (cfg.train.steps, cfg.train.epochs) == (6, 0)
    cfg = load_config(p, ["train.steps=6", "train.epochs=2"])  # both given: as given (epochs win in the trainer)
    assert (cfg.train.steps, cfg.train.epochs) == (6, 2)


def test_a_bad_value_given_with_set_is_blamed_on_set_not_on_the_file(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("optim:\n  lr: 0.001\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p, ["optim.lr=-1"])
    assert str(exc.value) == "--set optim.lr: must be > 0.0, got -1.0"
    with pytest.raises(ConfigError) as exc:
        load_config(p, ["optim.betas=[0.9, 1.5]"])
    assert str(exc.value) == "--set optim.betas[1]: must be in [0, 1), got 1.5"
    p.write_text("optim:\n  lr: -1\n")
    with pytest.raises(ConfigError, match="ok.yaml: optim.lr: must be > 0.0"):
        load_config(p, ["train.steps=5"])
    # no steps at all is a valid run: the mean-pose floors have nothing to train
    assert load_config(REPO / "configs" / "mean_pose_2d_synthetic.yaml", ["train.steps=0"]).train.steps == 0


def test_a_model_keyword_it_does_not_take_is_a_config_error():
    from handpose.registry import create_model

    with pytest.raises(ConfigError, match="'toy_engine' cannot be built with \\['bogus'\\]"):
        create_model("toy_engine", bogus=1)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")


# ---------------------------------------------------------------------------------------------------- schedules


def test_msahp_schedule_matches_the_paper():
    # "Multihead Self Attention Hand Pose Estimation" §3.3: 2000 warm-up steps, 3e-4 for the first 10000
    # iterations, 3e-5 for the following 8000, 3e-6 until the end
    cfg = ScheduleConfig(kind="piecewise", warmup_steps=2000, milestones=[10000, 18000], values=[3e-4, 3e-5, 3e-6])
    lr = lr_function(cfg, 3e-4, 30000)
    assert lr(0) == pytest.approx(3e-4 / 2000)
    assert lr(999) == pytest.approx(3e-4 * 1000 / 2000)
    assert lr(2000) == lr(9999) == 3e-4
    assert lr(10000) == lr(17999) == 3e-5
    assert lr(18000) == lr(29999) == 3e-6


def test_step_and_cosine_schedules():
    # "Residual Attention Regression": 1e-4 divided by 10 after 30 epochs
    ra = lr_function(ScheduleConfig(kind="step", unit="epoch", step_size=30, gamma=0.1), 1e-4, 70 * 5, 5)
    assert ra(30 * 5 - 1) == 1e-4 and ra(30 * 5) == pytest.approx(1e-5)
    # "Skeleton-aware multi-scale heatmap regression": 1e-2, -10% every 8 epochs
    sk = lr_function(ScheduleConfig(kind="step", unit="epoch", step_size=8, gamma=0.9), 1e-2, 30 * 10, 10)
    assert sk(16 * 10) == pytest.approx(1e-2 * 0.81)
    cos = lr_function(ScheduleConfig(kind="cosine"), 1.0, 101)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.5, abs=0.01) and cos(101) == pytest.approx(0.0)
    with pytest.raises(ConfigError):
        lr_function(ScheduleConfig(kind="piecewise", milestones=[5], values=[1.0]), 1.0, 10)


def test_sampler_resumes_mid_epoch_and_shards():
    full = list(ResumableSampler(20, 4, seed=3))
    s = ResumableSampler(20, 4, seed=3)
    s.set_epoch(0, start_batch=2)
    assert list(s) == full[8:]
    a = ResumableSampler(12, 3, seed=1, info=DistInfo(0, 2, 0))
    b = ResumableSampler(12, 3, seed=1, info=DistInfo(1, 2, 0))
    assert sorted(list(a) + list(b)) == list(range(12))  # disjoint shards covering the epoch
    assert len(list(ResumableSampler(10, 2, seed=1, info=DistInfo(0, 2, 0)))) == 4  # partial batch dropped


# ---------------------------------------------------------------------------------------------------- checkpoints


def test_overwriting_a_checkpoint_never_leaves_none(tmp_path, monkeypatch):
    """Saving over ``best/``: a run killed at any rename of the save still has a whole checkpoint there."""
    from handpose.engine.checkpoint import exchange_paths

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "in_a").touch()
    if not exchange_paths(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system has no atomic exchange of two folders (renameat2 RENAME_EXCHANGE)")
    assert (tmp_path / "b" / "in_a").is_file() and not any((tmp_path / "a").iterdir())
    shutil.rmtree(tmp_path / "a")
    shutil.rmtree(tmp_path / "b")
    torch.manual_seed(1)
    first, second = ToyModel(hidden=8), ToyModel(hidden=8)
    folder = save_checkpoint(tmp_path / "best", first, step=1)
    real_replace = os.replace
    for kill_at in range(1, 10):  # each os.replace of the save in turn (the files, then the folder) is where it dies
        calls = 0

        def replace(src, dst, kill_at=kill_at):
            nonlocal calls
            calls += 1
            if calls == kill_at:
                raise KeyboardInterrupt  # the kill
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        try:
            save_checkpoint(folder, second, step=2)
            finished = True
        except KeyboardInterrupt:
            finished = False
        monkeypatch.setattr(os, "replace", real_replace)
        loaded, info = load_checkpoint(folder)  # the old checkpoint or the new one, whole
        assert weights_digest(loaded) == weights_digest(first if info["step"] == 1 else second)
        if finished:
            break
    assert finished and info["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # nothing left beside it


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(1)
    model = ToyModel(hidden=8)
    model.codec.scale = 2.5
    folder = save_checkpoint(tmp_path / "ck", model, step=7, metrics={"epe": 1.5})
    loaded, info = load_checkpoint(folder / "model.safetensors")
    assert info["step"] == 7 and info["model"] == "toy_engine" and info["metrics"]["epe"] == 1.5
    assert weights_digest(loaded) == weights_digest(model)
    assert loaded.codec.scale == 2.5 and loaded.config["hidden"] == 8
    with pytest.raises(CheckpointError, match="not 'light_depth'"):
        load_checkpoint(folder, expected_model="light_depth")
    # a corrupted weights file is caught by the checksum, a truncated one too
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(folder)
    sidecar = json.loads((folder / "model.json").read_text())
    sidecar.pop("weights_sha256")
    (folder / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        load_checkpoint(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt sidecar"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing")
    # no temporary folders left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_codec_state_arrays_survive_json():
    state = {"basis": np.arange(6, dtype=np.float32).reshape(2, 3), "k": 2, "nested": [np.float64(1.5)]}
    back = decode_state(json.loads(json.dumps(encode_state(state))))
    assert back["basis"].dtype == np.float32 and np.array_equal(back["basis"], state["basis"])
    assert back["k"] == 2 and back["nested"] == [1.5]


# ---------------------------------------------------------------------------------------------------- training


def test_fit_learns_and_keeps_the_best(tmp_path):
    torch.manual_seed(0)
    model = ToyModel()
    data = ToyDataset()
    before = evaluate(model.eval(), data, torch.device("cpu"))["epe"]
    result = fit(model, data, make_config(steps=40), tmp_path / "run", val_set=data, evaluate=evaluate)
    assert result.steps == 40 and result.best is not None
    assert result.best_metric < before / 2
    best, info = load_checkpoint(result.best)
    assert info["metrics"]["epe"] == pytest.approx(result.best_metric)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) > 5
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 40
    with pytest.raises(ConfigError, match="already holds a run"):
        fit(ToyModel(), data, make_config(steps=4), tmp_path / "run")


def test_resuming_from_corrupt_weights_is_a_checkpoint_error(tmp_path):
    torch.manual_seed(0)
    data = ToyDataset()
    fit(ToyModel(), data, make_config(steps=4), tmp_path / "run")
    latest = json.loads((tmp_path / "run" / "latest.json").read_text())["checkpoint"]
    weights = tmp_path / "run" / latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="checksum") as exc:
        fit(ToyModel(), data, make_config(steps=8), tmp_path / "run", resume=True)
    assert str(weights) in str(exc.value)


def _run_toy(out: Path, *extra: str, sleep: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tests.engine_toy", str(out), "--steps", "60", "--sleep", str(sleep), *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_same_weights(tmp_path):
    ref = _run_toy(tmp_path / "ref", "--report", str(tmp_path / "ref.json"))
    assert ref.wait(timeout=120) == 0, ref.stdout.read().decode()
    victim = _run_toy(tmp_path / "run", sleep=0.004)
    latest = tmp_path / "run" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if latest.exists() and json.loads(latest.read_text())["step"] >= 11:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    killed_at = json.loads(latest.read_text())["step"]
    assert killed_at < 60 and killed_at % 8 != 0  # mid-epoch: 64 samples / batch 8 = 8 steps per epoch
    assert not (tmp_path / "run" / "summary.json").exists()
    # every checkpoint folder that exists is complete
    for folder in (tmp_path / "run" / "checkpoints").glob("step_*"):
        load_checkpoint(folder)
    resumed = _run_toy(tmp_path / "run", "--resume", "--report", str(tmp_path / "resumed.json"))
    assert resumed.wait(timeout=120) == 0, resumed.stdout.read().decode()
    ref_digest = json.loads((tmp_path / "ref.json").read_text())["digests"][0]
    assert json.loads((tmp_path / "resumed.json").read_text())["digests"][0] == ref_digest


def test_pruning_killed_midway_leaves_no_half_deleted_checkpoint(tmp_path, monkeypatch):
    """A run killed while old checkpoints are deleted leaves only complete checkpoint folders behind."""
    import shutil

    from handpose.engine import trainer

    ckpts = tmp_path / "checkpoints"
    model = ToyModel()
    for step in (2, 4, 6):
        save_checkpoint(ckpts / f"step_{step:08d}", model, step=step)

    def killed_rmtree(path, ignore_errors=False):  # deletes one file, then the process "dies"
        next(f for f in sorted(Path(path).iterdir())).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_rmtree)
    with pytest.raises(KeyboardInterrupt):
        trainer._prune(ckpts, keep=2)
    monkeypatch.undo()
    visible = sorted(p.name for p in ckpts.glob("step_*"))
    assert visible == ["step_00000004", "step_00000006"]
    register()
    try:
        for name in visible:
            assert load_checkpoint(ckpts / name)[1]["step"] == int(name[5:])
    finally:
        unregister()
    trainer._prune(ckpts, keep=2)  # the next pruning clears the hidden leftover
    assert sorted(p.name for p in ckpts.iterdir()) == visible


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_on_cpu(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    cmd = [
        str(torchrun), "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "tests.engine_toy", str(out), "--steps", "12", "--report", str(tmp_path / "ddp.json"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    # the ranks' own messages come first in stderr, torchrun's summary of the failure last
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[:2000] + "\n...\n" + proc.stderr[-1000:]
    digests = json.loads((tmp_path / "ddp.json").read_text())["digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    # only rank 0 wrote: one set of files, no per-rank duplicates
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "summary.json" in written and "metrics.csv" in written
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2
    assert not [w for w in written if "rank" in w]


def test_more_processes_than_gpus_is_a_config_error_naming_the_fix(monkeypatch):
    """NCCL needs one GPU per process: a second rank on a one-GPU machine is told so before CUDA is touched."""
    import torch.distributed as dist

    from handpose.engine.distributed import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda _: pytest.fail("CUDA was touched"))
    with pytest.raises(ConfigError, match="needs a GPU of its own and the machine has 1.*--nproc_per_node 1"):
        init_distributed("cuda")


def test_two_trainings_of_one_recipe_end_with_the_same_weights(tmp_path):
    """The recipe's seed fixes the initial weights too (torch seeds every process at random): two trainings of one
    recipe, started from different global RNG states, end with identical weights."""
    from handpose.data.synthetic import generate
    from handpose.engine.run import run_training

    root = tmp_path / "data"
    for split, n in (("train", 96), ("val", 16)):
        generate(root, n, seed=3, preset="easy", modality="rgb", split=split, workers=1, progress=False)
    recipe = Path(__file__).resolve().parents[1] / "configs" / "gesturenet_synthetic.yaml"
    overrides = [f"data.root={root}", "data.batch_size=16", "data.workers=0", "train.steps=6", "train.epochs=0"]
    overrides += ["train.val_every=0", "train.checkpoint_every=6", "train.threads=1", "train.progress=false"]
    overrides += ["data.keypoints_from=null"]  # the labels' keypoints: the seeding is the point here
    digests = []
    for run, other_state in (("a", 1), ("b", 2)):
        torch.manual_seed(other_state)
        cfg = load_config(recipe, overrides)
        run_training(cfg, tmp_path / run)
        latest = json.loads((tmp_path / run / "latest.json").read_text())["checkpoint"]
        model, _ = load_checkpoint(tmp_path / run / latest)
        digests.append(weights_digest(model))
    assert digests[0] == digests[1]


def test_a_seeded_model_is_the_same_network_and_leaves_the_global_rng_alone():
    from handpose.registry import create_model

    torch.manual_seed(1)
    a = create_model("gesturenet", seed=5)
    after_a = torch.rand(3)
    torch.manual_seed(2)
    b = create_model("gesturenet", seed=5)
    torch.manual_seed(1)
    assert torch.equal(after_a, torch.rand(3))  # building the model drew nothing from the global RNG
    assert weights_digest(a) == weights_digest(b)
    assert weights_digest(create_model("gesturenet", seed=6)) != weights_digest(a)


def _run_real(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    # the repository first (for tests.*), then what the caller had (handpose from a source tree, as on a GPU machine)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "tests.resume_real", str(data), str(out), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_pipeline_killed_at_a_fixed_step_resumes_exactly(tmp_path):
    """handpose train's own path (recipe, synthetic frames, every augmentation, 2 DataLoader workers, warm-up then a
    learning rate halved every epoch) killed by SIGKILL when step 9 starts (mid-epoch 2, after the warm-up and the
    first epoch's decay), then resumed: the final weights equal an uninterrupted run's bit for bit."""
    kill_and_resume(tmp_path, "cpu")


def kill_and_resume(tmp_path: Path, device: str) -> None:
    """The exact-resume check on ``device`` (``tests/test_cuda.py`` runs it on a GPU, with bf16 autocast)."""
    from handpose.data.synthetic import generate

    from .resume_real import BATCH, CHECKPOINT_EVERY, EPOCHS, WARMUP

    data = tmp_path / "data"
    generate(data, 40, seed=4, preset="easy", modality="rgb", split="train", workers=1, progress=False, no_hand_rate=0)
    generate(data, 8, seed=4, preset="easy", modality="rgb", split="val", workers=1, progress=False, no_hand_rate=0)
    per_epoch = 40 // BATCH
    kill_at = 9
    assert WARMUP < kill_at and per_epoch < kill_at < 2 * per_epoch and (kill_at - 1) % CHECKPOINT_EVERY == 0
    dev = ("--device", device)
    ref = _run_real(data, tmp_path / "ref", *dev, "--report", str(tmp_path / "ref.json"))
    assert ref.returncode == 0, ref.stderr[-3000:]
    victim = _run_real(data, tmp_path / "run", *dev, "--kill-at", str(kill_at))
    assert victim.returncode == -signal.SIGKILL, victim.stderr[-3000:]
    latest = json.loads((tmp_path / "run" / "latest.json").read_text())
    assert latest["step"] == kill_at - 1  # killed in step 9: the checkpoint of step 8 is the newest
    assert not (tmp_path / "run" / "summary.json").exists()
    resumed = _run_real(data, tmp_path / "run", *dev, "--resume", "--report", str(tmp_path / "resumed.json"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ref", "resumed"))
    assert a["steps"] == b["steps"] == EPOCHS * per_epoch
    assert a["digest"] == b["digest"]
    # the learning rates logged across the kill are the schedule's: a linear warm-up over 7 steps, then 0.003 halved
    # at each epoch (row k is step k, which ran with the rate of its start, step index k - 1)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    lrs = {int(r["step"]): float(r["lr"]) for r in rows if r.get("lr")}
    assert sorted(lrs) == list(range(1, EPOCHS * per_epoch + 1))
    for k, lr in lrs.items():
        s = k - 1
        expected = 0.003 * 0.5 ** (s // per_epoch) * ((s + 1) / WARMUP if s < WARMUP else 1.0)
        assert lr == pytest.approx(expected, rel=1e-12), (k, lr, expected)
