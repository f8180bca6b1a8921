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


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_base_recipe_is_read_first_and_merged_key_by_key(tmp_path):
    _write(tmp_path / "first.yaml", "name: first\ndescription: d\nmodel: {name: msahp_t, init: a/best}\n"
           "data: {format: synthetic, root: x, augment: {flip: true, blur: true}, options: {sources: [1, 2]}}\n"
           "optim: {lr: 0.002, weight_decay: 0.01}\ntrain: {steps: 100}\n")  # fmt: skip
    _write(tmp_path / "second.yaml", "base: first.yaml\nname: second\nmodel: {init: b/best}\n"
           "data: {augment: {blur: false}, options: {sources: [3]}}\noptim: {lr: 0.0005}\n")  # fmt: skip
    cfg = load_config(tmp_path / "second.yaml")
    assert (cfg.name, cfg.description) == ("second", "d")
    assert (cfg.model.name, cfg.model.init) == ("msahp_t", "b/best")
    assert cfg.data.augment == {"flip": True, "blur": False}  # merged, not replaced
    assert cfg.data.options["sources"] == [3]  # a list is replaced whole
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.train.steps) == (0.0005, 0.01, 100)
    # a chain of bases, and the command line over all of them
    _write(tmp_path / "third.yaml", "base: second.yaml\nname: third\n")
    cfg = load_config(tmp_path / "third.yaml", ["optim.lr=0.1"])
    assert (cfg.name, cfg.model.init, cfg.optim.lr, cfg.optim.weight_decay) == ("third", "b/best", 0.1, 0.01)


def test_bad_base_names_the_file(tmp_path):
    from handpose.errors import ConfigError

    _write(tmp_path / "a.yaml", "base: missing.yaml\nname: a\n")
    with pytest.raises(ConfigError, match="not found") as err:
        load_config(tmp_path / "a.yaml")
    assert "missing.yaml" in str(err.value)
    _write(tmp_path / "b.yaml", "base: c.yaml\nname: b\n")
    _write(tmp_path / "c.yaml", "base: b.yaml\nname: c\n")
    with pytest.raises(ConfigError, match="leads back"):
        load_config(tmp_path / "b.yaml")
    _write(tmp_path / "d.yaml", "base: [x]\nname: d\n")
    with pytest.raises(ConfigError, match="base") as err:
        load_config(tmp_path / "d.yaml")
    assert "d.yaml" in str(err.value)
