"""Every recipe in configs/ loads, validates its crop / augmentation settings and builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from handpose.config import load_config
from handpose.data.readers import list_formats
from handpose.engine.data import augment_config, crop_config
from handpose.registry import list_models

RECIPES = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_is_a_recipe_per_paper_experiment():
    names = {p.stem for p in RECIPES}
    for needed in ("msahp_stb", "cpm_stb", "gesturenet_rwth", "res_attention_icvl", "res_attention_nyu",
                   "res_attention_msra", "skeleton_unet_lsmv", "multiscale_heatmap_lsmv", "light_depth_icvl",
                   "light_depth_nyu", "resnet101_reg3d_freihand"):  # fmt: skip
        assert needed in names
    assert sum(n.endswith("_synthetic") for n in names) >= 15


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_is_valid(path):
    cfg = load_config(path)
    assert cfg.name == path.stem and cfg.description
    assert cfg.model.name in list_models()
    if cfg.model.name.startswith("ssd_"):  # a box detector reads whole frames from several sources
        assert cfg.data.format == "detection" and cfg.data.options["sources"]
    else:
        assert cfg.data.format in list_formats()
    crop_config(cfg.data)
    augment_config(cfg.data)
    assert cfg.train.steps > 0 or cfg.train.epochs > 0
