"""The benchmark plans: every row of the quick and the full plan trains what its label says, and no two rows train
the same thing (a row whose mode-specific overrides are missing falls back to another row's recipe unchanged)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handpose.benchmark.plan import PLANS
from handpose.benchmark.runner import RESULT, experiment_config
from handpose.config import to_dict
from handpose.io import write_json_atomic
from handpose.registry import create_model


def _configs(mode: str, out: Path) -> list:
    """(experiment, config) of every row of the plan, in a benchmark folder ``out`` where the rows that others use
    (``after``) have a result pointing at a checkpoint."""
    plan = PLANS[mode]
    for exp in plan.experiments:
        for dep in exp.after:
            write_json_atomic(out / "runs" / dep / RESULT, {"checkpoint": f"runs/{dep}/best"})
    return [(exp, experiment_config(exp, plan, out / "data")) for exp in plan.experiments]


def _training(cfg) -> dict:
    """What a config trains, without the names that only label it."""
    d = to_dict(cfg)
    d.pop("name", None)
    d.pop("description", None)
    return d


@pytest.mark.parametrize("mode", sorted(PLANS))
def test_no_two_rows_train_the_same_model_on_the_same_data(mode, tmp_path):
    seen: dict[str, str] = {}
    for exp, cfg in _configs(mode, tmp_path):
        key = repr(_training(cfg))
        assert key not in seen, f"{mode}: {exp.key} trains exactly what {seen.get(key)} trains"
        seen[key] = exp.key


@pytest.mark.parametrize("mode", sorted(PLANS))
def test_a_row_labelled_with_a_resnet_depth_trains_that_depth(mode, tmp_path):
    checked = 0
    for exp, cfg in _configs(mode, tmp_path):
        depth = re.search(r"ResNet-(\d+)", exp.label)
        if not depth:
            continue
        model = create_model(cfg.model.name, **cfg.model.kwargs)
        assert model.trunk.depth == int(depth.group(1)), (mode, exp.key, cfg.model.name)
        checked += 1
    assert checked >= 3  # ResNet-18, ResNet-34, ResNet-34 without augmentation
