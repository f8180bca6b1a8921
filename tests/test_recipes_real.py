"""Every real-dataset recipe (STB, ICVL, NYU, MSRA, LSMV, FreiHAND, RWTH) end to end: ``handpose train``'s path
(:func:`handpose.engine.run.run_training`) for a few steps on a tiny copy of the dataset in its own file layout
(``tests/dataset_layouts.py``), then ``handpose evaluate``'s (:func:`handpose.engine.run.run_evaluation`) on the
recipe's test split. The recipes run as they are (their networks, crops, augmentation, splits and protocols); only
the data root, the number of steps, the batch size and the workers change, and the whole-frame skeleton UNet is
narrowed (width 8) to keep the module near two minutes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handpose.config import load_config
from handpose.data.readers import open_dataset
from handpose.engine.run import run_evaluation, run_training
from handpose.inference.keypoints import keypoint_source

from .dataset_layouts import freihand_root, icvl_root, lsmv_root, msra_root, nyu_root, rwth_root, stb_root

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "src" / "handpose" / "pretrained"

#: a few steps, tiny batches, no workers; validation and a checkpoint at the end
QUICK = [
    "train.steps=2",
    "data.batch_size=2",
    "data.workers=0",
    "data.max_val_samples=2",
    "train.val_every=2",
    "train.checkpoint_every=2",
    "train.log_every=1",
    "train.threads=1",
    "train.progress=false",
    "train.device=cpu",
]

RECIPES = {
    "stb": ("msahp_stb", "cpm_stb"),
    "icvl": ("res_attention_icvl", "deepprior_icvl", "light_depth_icvl", "a2j_icvl"),
    "nyu": ("res_attention_nyu", "deepprior_nyu", "light_depth_nyu", "a2j_nyu"),
    "msra": ("res_attention_msra", "deepprior_msra"),
    "lsmv": ("skeleton_unet_lsmv", "multiscale_heatmap_lsmv", "multiscale_heatmap_noskeleton_lsmv",
             "resnet50_reg2d_lsmv", "unet_heatmap_lsmv"),
    "freihand": ("resnet34_reg3d_freihand", "resnet50_reg3d_freihand", "resnet101_reg3d_freihand"),
    "rwth": ("gesturenet_rwth",),
}  # fmt: skip


def test_every_real_dataset_recipe_is_run_here():
    real = {p.stem for p in (REPO / "configs").glob("*.yaml")}
    real = {n for n in real if n.rsplit("_", 1)[-1] in RECIPES}
    assert real == {n for names in RECIPES.values() for n in names}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """Each dataset's tiny copy, made once for the module."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            tmp = tmp_path_factory.mktemp(name)
            build = {"stb": lambda: stb_root(tmp, frames=2), "icvl": lambda: icvl_root(tmp, 6, 2, 3),
                     "nyu": lambda: nyu_root(tmp, {"train": 6, "test": 3}), "msra": lambda: msra_root(tmp),
                     "lsmv": lambda: lsmv_root(tmp, folders=2, frames=6), "freihand": lambda: freihand_root(tmp, 10, 2),
                     "rwth": lambda: rwth_root(tmp)}  # fmt: skip
            made[name] = build[name]()
        return made[name]

    return get


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The run folders of the recipes trained in this module (the multi-scale recipe reads the detector's)."""
    return tmp_path_factory.mktemp("runs")


def train(name: str, root: Path, runs: Path):
    """Train recipe ``name`` on ``root`` for a few steps into ``runs / name`` (once per module); its config."""
    out = runs / name
    extra = []
    if name == "skeleton_unet_lsmv":  # the one size change: the whole-frame UNet at width 8 (64: 40 s on this CPU)
        extra.append("model.kwargs.width=8")
    if name == "multiscale_heatmap_lsmv":  # the skeleton channel: the detector its recipe names, trained first
        train("skeleton_unet_lsmv", root, runs)
        extra.append(f"data.skeleton_detector={runs / 'skeleton_unet_lsmv' / 'best'}")
    if name == "gesturenet_rwth":  # the fixed pipeline: the shipped detector and pose network
        from handpose.inference.estimator import PRETRAINED as SHIPPED

        extra.append(f"data.keypoints_from=[{PRETRAINED / SHIPPED['detector']}, {PRETRAINED / SHIPPED['pose2d']}]")
    cfg = load_config(REPO / "configs" / f"{name}.yaml", [f"data.root={root}", *QUICK, *extra])
    if not (out / "best").is_dir():
        result = run_training(cfg, out, keypoint_source=lambda data: keypoint_source(data, backend="torch"))
        assert result.steps == 2 and (out / "best").is_dir()
    return cfg


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("dataset, name", [(d, n) for d, names in RECIPES.items() for n in names], ids=lambda v: str(v))
def test_real_dataset_recipe_trains_and_evaluates(dataset, name, roots, runs):
    root = roots(dataset)
    cfg = train(name, root, runs)
    out = runs / name
    metrics, preds, info = run_evaluation(out / "best", device="cpu", keypoint_source=keypoint_source)
    assert info["config"]["data"]["test_split"] == cfg.data.test_split
    main = info["spec"]["main_metric"]
    assert np.isfinite(metrics[main]), (name, metrics)
    if cfg.model.name != "gesturenet":  # every hand of the recipe's test split was scored
        test = open_dataset(root, cfg.data.format, split=cfg.data.test_split, **cfg.data.options)
        hands = int(np.asarray(test.joints_all().joint_mask).any(axis=1).sum())
        assert metrics["samples"] == hands > 0, (name, metrics["samples"], hands)
    else:
        assert 0 < metrics["samples"] <= len(open_dataset(root, "rwth", split="val", **cfg.data.options))
    if cfg.data.joint_set == "native":  # scored in the dataset's own joints
        assert preds.joints_3d.shape[1] == cfg.model.kwargs["num_joints"]
