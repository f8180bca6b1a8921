"""Run the benchmark: generate (or reuse) the synthetic data, train every experiment, evaluate it on the fixed test
split, and write results that the report is built from.

Everything it writes is resumable: a finished experiment leaves ``runs/<key>/result.json`` and is skipped next
time; an interrupted training resumes from its last checkpoint; the data generator resumes its shards. A result or
a checkpoint is reused only when its fingerprint (the experiment's config, the data's generation records and the
fingerprints of the experiments it uses) is the current one: a folder left by other settings (another
``--steps-scale``, a newer plan) is trained again, never mixed in. Experiments
run in ``jobs`` worker processes (one CPU thread each) so both cores of a small machine stay busy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ExperimentConfig, load_config, to_dict
from ..errors import ConfigError, HandposeError
from ..io import read_json, save_npz_atomic, write_json_atomic
from .plan import PLANS, Experiment, Plan

RESULT = "result.json"
STAMP = "benchmark.json"  # the fingerprint of the settings a run directory was started with
PREDICTIONS = "predictions.npz"


def recipes_dir() -> Path:
    """The ``configs/`` folder of the checkout (the recipes the benchmark starts from)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs").is_dir() and (parent / "pyproject.toml").is_file():
            return parent / "configs"
    raise ConfigError("cannot find the configs/ folder of the handpose checkout")


def experiment_config(exp: Experiment, plan: Plan, data_root: Path) -> ExperimentConfig:
    """The experiment's config: its recipe, the mode's overrides, and the benchmark's data."""
    overrides = exp.quick if plan.mode == "quick" else exp.full
    items = [f"{k}={json.dumps(_resolve(v, data_root.parent))}" for k, v in overrides.items()]
    cfg = load_config(recipes_dir() / f"{exp.recipe}.yaml", items)
    cfg.name = exp.key
    cfg.data.format = "synthetic"
    cfg.data.root = str(data_root)
    cfg.data.train_split, cfg.data.val_split, cfg.data.test_split = "train", "val", "test"
    cfg.train.progress = False
    return cfg


def _resolve(value: Any, out: Path) -> Any:
    """``"@KEY"`` stands for the best checkpoint of experiment KEY of this benchmark (which has run before), in a
    list too."""
    if isinstance(value, list):
        return [_resolve(v, out) for v in value]
    if not (isinstance(value, str) and value.startswith("@")):
        return value
    done = out / "runs" / value[1:] / RESULT
    result = read_json(done) if done.is_file() else {}
    if "checkpoint" not in result:
        raise ConfigError(f"experiment {value[1:]!r} has no trained checkpoint to use", field=value)
    return str(out / result["checkpoint"])


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def ensure_data(plan: Plan, root: Path, workers: int, progress: bool = True) -> dict[str, Any]:
    """Generate the benchmark's three splits under ``root`` (the generator reuses complete shards)."""
    from ..data.synthetic import generate
    from ..data.synthetic.generate import shared_workers

    d = plan.data
    summary = {}
    with shared_workers(workers):  # one pool for the three splits: its workers start once
        for split, count in (("train", d.train), ("val", d.val), ("test", d.test)):
            summary[split] = generate(
                root,
                count,
                seed=d.seed,
                preset=d.preset,
                split=split,
                workers=workers,
                no_hand_rate=d.no_hand_rate,
                progress=progress,
            )
    return summary


# --------------------------------------------------------------------------------------------------------------
# One experiment
# --------------------------------------------------------------------------------------------------------------


def _predictions_arrays(preds: Any) -> dict[str, np.ndarray]:
    out = {}
    for k, v in asdict(preds).items():
        if isinstance(v, np.ndarray):
            out[k] = v if v.dtype != object else v.astype(str)
    return out


def model_cost(model: Any) -> dict[str, float]:
    """Parameters, MACs and FLOPs at the trained input size, and CPU latency at batch 1 (one thread)."""
    import torch

    from ..cost import count_flops, count_parameters, measure_latency

    model = model.eval().cpu()
    x = torch.zeros(model.spec.input_shape(1))
    if model.spec.modality == "depth":
        x.fill_(0.5)
    flops = count_flops(model, x)
    with torch.no_grad():
        lat = measure_latency(lambda: model(x), warmup=3, repeats=15)
    return {
        "params": float(count_parameters(model)),
        "macs": float(flops["macs"]),
        "flops": float(flops["flops"]),
        "latency_ms": float(lat["median_ms"]),
    }


def experiment_fingerprint(exp: Experiment, cfg: ExperimentConfig, out: Path) -> str:
    """A short hash of what decides an experiment's result: its config, the generation records of the benchmark's
    data and the fingerprints of the experiments it uses (``exp.after``). Paths inside ``out`` are hashed relative
    to it, so a benchmark folder that was moved or is named differently keeps its fingerprints."""
    text = json.dumps(to_dict(cfg), sort_keys=True, default=str).replace(str(out), "<out>")
    h = hashlib.sha256(text.encode())
    for split in ("train", "val", "test"):
        record = out / "data" / split / "generation.json"
        h.update(record.read_bytes() if record.is_file() else b"-")
    for dep in exp.after:
        done = out / "runs" / dep / RESULT
        h.update(str(read_json(done).get("fingerprint", "")).encode() if done.is_file() else b"-")
    return h.hexdigest()[:16]


def run_experiment(exp: Experiment, plan: Plan, out: Path) -> dict[str, Any]:
    """Train (or resume) one experiment, evaluate it on the test split, write ``result.json``; return the result.

    A finished or interrupted run of the same fingerprint (:func:`experiment_fingerprint`) is reused or resumed;
    one of other settings is deleted and trained again."""
    import torch

    from ..engine.checkpoint import load_checkpoint
    from ..engine.data import build_dataset
    from ..engine.evaluate import predict, score
    from ..engine.run import run_training

    run_dir = out / "runs" / exp.key
    done = run_dir / RESULT
    cfg = experiment_config(exp, plan, out / "data")
    fingerprint = experiment_fingerprint(exp, cfg, out)
    stamp = run_dir / STAMP
    same = stamp.is_file() and read_json(stamp).get("fingerprint") == fingerprint
    if done.is_file() and same:
        return read_json(done)
    torch.set_num_threads(max(1, cfg.train.threads))
    resume = same and (run_dir / "latest.json").is_file()
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)  # killed before its first checkpoint, or left by other settings: start again
    write_json_atomic(stamp, {"fingerprint": fingerprint})
    t0, c0 = time.perf_counter(), time.process_time()
    trained = run_training(cfg, run_dir, resume=resume, keypoint_source=_keypoint_source)
    train_seconds, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    best = trained.best or trained.last
    model, _ = load_checkpoint(best)
    t1 = time.perf_counter()
    test_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, max_val_samples=0))  # every test frame
    test_set = build_dataset(model, test_cfg, "test", train=False, keypoints=_keypoint_source(cfg.data))
    preds = predict(model, test_set, "cpu", batch_size=64)
    metrics = score(preds)
    eval_seconds = time.perf_counter() - t1
    save_npz_atomic(run_dir / PREDICTIONS, **_predictions_arrays(preds))
    result = {
        "key": exp.key,
        "fingerprint": fingerprint,
        "paper": exp.paper,
        "label": exp.label,
        "model": model.spec.name,
        "task": model.spec.task,
        "main_metric": model.spec.main_metric,
        "higher_is_better": model.spec.higher_is_better,
        "input_size": list(model.spec.input_size) if model.spec.input_size else None,
        "steps": trained.steps,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu,
        "eval_seconds": eval_seconds,
        "train_samples_per_second": trained.samples_per_second,
        "metrics": metrics,
        "cost": model_cost(model),
        "checkpoint": str(Path(best).relative_to(out)),
        "config": to_dict(cfg),
    }
    if exp.key == "gesturenet":
        result["extra"] = gesture_references(model, cfg)
    write_json_atomic(done, result)
    return result


def _keypoint_source(data: Any) -> Any:
    """``split -> keypoints`` of the fixed pose pipeline a keypoint recipe names (``data.keypoints_from``), run
    with the torch backend (no ONNX export in the benchmark's folders); None for other recipes."""
    from ..inference.keypoints import keypoint_source

    return keypoint_source(data, backend="torch")


def gesture_references(model: Any, cfg: ExperimentConfig) -> dict[str, Any]:
    """What GestureNet's error rate on the pose network's keypoints is compared with (Table 4 of "Multihead Self
    Attention Hand Pose Estimation"): the appearance-based nearest neighbour standing in for Dreuw et al.
    (:mod:`handpose.benchmark.baselines`), and the same GestureNet on the test frames' true keypoints."""
    import torch

    from ..codecs.gesture import normalize_keypoints
    from ..data.synthetic import SyntheticDataset
    from .baselines import appearance_nearest_neighbour

    root = Path(cfg.data.root)
    train = SyntheticDataset(root, "train", ("rgb",), skeleton=False, masks=False)
    test = SyntheticDataset(root, "test", ("rgb",), skeleton=False, masks=False)
    appearance = appearance_nearest_neighbour(train, test)
    table = test.joints_all()
    gesture = np.asarray(table.gesture, np.int64)
    keep = (gesture >= 0) & np.asarray(table.joint_mask, bool).all(axis=1)
    x = np.stack([normalize_keypoints(j) for j in np.asarray(table.joints_2d, np.float64)[keep]])
    with torch.no_grad():
        label = model.decode(model(torch.from_numpy(x).float()))["label"]
    return {
        "appearance_error_rate": appearance["error_rate"],
        "appearance_train_frames": appearance["train_frames"],
        "appearance_test_frames": appearance["test_frames"],
        "error_rate_on_true_keypoints": float(np.mean(np.asarray(label) != gesture[keep])),
        "true_keypoint_frames": int(keep.sum()),
    }


def _worker(key: str, plan: Plan, out: str) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        return run_experiment(plan.get(key), plan, Path(out))
    except HandposeError as exc:
        return {"key": key, "error": str(exc)}
    except Exception:  # noqa: BLE001 - report the failure of one experiment and keep the others running
        return {"key": key, "error": traceback.format_exc(limit=8)}


# --------------------------------------------------------------------------------------------------------------
# The whole benchmark
# --------------------------------------------------------------------------------------------------------------


def run_benchmark(
    mode: str = "quick",
    out: str | Path | None = None,
    jobs: int = 2,
    only: list[str] | None = None,
    data_workers: int = 2,
    progress: bool = True,
    log: Any = print,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """Run the benchmark and write its results and report under ``out``.

    Args:
        mode: "quick" or "full" (picks the plan unless ``plan`` is given).
        out: output folder (default ``runs/benchmark-<mode>``).
        jobs: experiments trained at the same time, each in its own process with one CPU thread.
        only: run only these experiment keys.
        data_workers: processes generating the synthetic data.
        progress: progress bars for the data generation.
        log: where progress lines go.
        plan: an explicit plan (for example :func:`handpose.benchmark.plan.scaled` for a smoke test).

    Returns the collected results: ``{"plan", "data", "results": {key: result}, "seconds", "report"}``.
    """
    if plan is None:
        if mode not in PLANS:
            raise ConfigError(f"unknown benchmark mode {mode!r}; use quick or full", field="mode")
        plan = PLANS[mode]
    mode = plan.mode
    out = Path(out or f"runs/benchmark-{mode}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    keys = [e.key for e in plan.experiments]
    if only:
        unknown = sorted(set(only) - set(keys))
        if unknown:
            raise ConfigError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(keys)}", field="--only")
        needed = set(only)
        for k in only:  # and the experiments they use
            needed.update(plan.get(k).after)
        keys = [k for k in keys if k in needed]
    log(f"[1/3] synthetic data ({plan.data.train}/{plan.data.val}/{plan.data.test} frames, preset {plan.data.preset})")
    data_summary = ensure_data(plan, out / "data", workers=data_workers, progress=progress)
    log(f"      ready in {time.perf_counter() - t0:.0f} s at {out / 'data'}")
    log(f"[2/3] training and testing {len(keys)} models ({jobs} at a time)")
    results: dict[str, dict[str, Any]] = {}
    for r in _schedule(plan, keys, jobs, out):
        results[r["key"]] = r
        _log_result(log, r)
    derive_extras(out, results)
    seconds = time.perf_counter() - t0
    collected = {
        "mode": mode,
        "plan": {"data": asdict(plan.data), "notes": list(plan.notes)},
        "data": {
            k: {kk: vv for kk, vv in v.items() if isinstance(vv, (int, float, str))} for k, v in data_summary.items()
        },
        "results": {k: results[k] for k in keys if k in results},
        "seconds": seconds,
    }
    write_json_atomic(out / "results.json", collected)
    log("[3/3] report")
    from ..report.benchmark import write_report

    report = write_report(out, collected, plan)
    collected["report"] = report
    return collected


def derive_extras(out: Path, results: dict[str, dict[str, Any]]) -> None:
    """Figures that need the data's labels: the majority-class error rate (GestureNet's trivial floor) and the IoU
    of the mean training box (the detectors' trivial floor). Stored under ``extra`` in each result."""
    from ..data.synthetic import SyntheticDataset
    from ..engine.checkpoint import load_checkpoint
    from ..metrics import box_iou_matched

    data = out / "data"
    train = SyntheticDataset(data, "train", ("rgb",), skeleton=False).labels()
    test = SyntheticDataset(data, "test", ("rgb",), skeleton=False).labels()

    def ok(key: str) -> bool:
        return key in results and "error" not in results[key]

    def save(key: str, extra: dict[str, Any]) -> None:
        merged = {**results[key].get("extra", {}), **extra}
        if merged != results[key].get("extra"):  # a resumed benchmark leaves finished results untouched
            results[key]["extra"] = merged
            write_json_atomic(out / "runs" / key / RESULT, results[key])

    if ok("gesturenet"):
        g_train, g_test = train["gesture"].astype(int), test["gesture"].astype(int)
        majority = np.bincount(g_train[g_train >= 0]).argmax()
        labelled = g_test >= 0
        extra: dict[str, Any] = {"majority_error_rate": float(np.mean(g_test[labelled] != majority))}
        model, _ = load_checkpoint(out / results["gesturenet"]["checkpoint"])
        extra["num_classes"] = int(model.codec.num_classes)
        save("gesturenet", extra)
    boxes = train["bbox"][np.all(np.isfinite(train["bbox"]), axis=1)]
    if len(boxes):
        mean_box = boxes.mean(axis=0)
        gt = test["bbox"][np.all(np.isfinite(test["bbox"]), axis=1)]
        mean_iou = float(box_iou_matched(np.repeat(mean_box[None], len(gt), 0), gt).mean())
        for key in ("skeleton_unet", "box_regressor"):
            if ok(key):
                save(key, {"mean_box_iou": mean_iou})


def _schedule(plan: Plan, keys: list[str], jobs: int, out: Path) -> Iterator[dict[str, Any]]:
    """Run the experiments ``jobs`` at a time, each once the experiments it uses (``after``) are done, the
    longest chain first so that the pool drains evenly; yield each result as it comes."""
    after = {k: [d for d in plan.get(k).after if d in keys] for k in keys}

    def chain(k: str) -> float:  # expected cost of k and everything that waits for it
        return _expected_cost(plan.get(k)) + sum(chain(j) for j in keys if k in after[j])

    waiting = sorted(keys, key=lambda k: -chain(k))
    done: set[str] = set()

    def next_ready() -> str | None:
        for k in waiting:
            if all(d in done for d in after[k]):
                waiting.remove(k)
                return k
        return None

    if jobs <= 1:
        while (k := next_ready()) is not None:
            r = _worker(k, plan, str(out))
            done.add(k)
            yield r
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes=jobs, maxtasksperchild=1) as pool:
        running: dict[str, Any] = {}
        while waiting or running:
            while len(running) < jobs and (k := next_ready()) is not None:
                running[k] = pool.apply_async(_worker, (k, plan, str(out)))
            finished = [k for k, p in running.items() if p.ready()]
            if not finished:
                time.sleep(0.2)
                continue
            for k in finished:
                r = running.pop(k).get()
                done.add(k)
                yield r


def _expected_cost(exp: Experiment) -> float:
    steps = exp.quick.get("train.steps", 1)
    model = str(exp.quick.get("model.name", ""))
    weight = 3.0 if "unet_heatmap" in model or "cpm" in model or "multiscale" in model else 1.0
    return steps * weight


def _log_result(log: Any, r: dict[str, Any]) -> None:
    if "error" in r:
        log(f"      {r['key']}: FAILED: {r['error'].strip().splitlines()[-1]}")
        return
    m = r["metrics"].get(r["main_metric"], float("nan"))
    log(f"      {r['key']:24s} {r['main_metric']} = {m:.4f}   ({r['steps']} steps, {r['train_seconds']:.0f} s)")
