"""benchmarks/pose_init_from_shipped.py: the shipped pose model as the start of a fine-tuning recipe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from handpose.config import load_config
from handpose.engine.run import init_from
from handpose.registry import create_model

REPO = Path(__file__).resolve().parents[1]


def test_shipped_pose_weights_start_a_recipe(tmp_path):
    spec = importlib.util.spec_from_file_location("pose_init", REPO / "benchmarks" / "pose_init_from_shipped.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shipped = REPO / "src" / "handpose" / "pretrained" / "msahp_t"
    assert script.main([str(shipped), str(tmp_path / "init")]) == 0

    cfg = load_config(REPO / "configs" / "msahp_real_tilt_photos.yaml")
    model = create_model(cfg.model.name, **cfg.model.kwargs)
    init_from(model, tmp_path / "init")  # checks the builder arguments, the checksum and every shape
    theirs = load_file(str(shipped / "model.safetensors"))
    ours = {k: v.numpy() for k, v in model.state_dict().items()}
    assert set(ours) == {k for k in theirs if not k.startswith("presence_head.")}
    for k, v in ours.items():
        want = theirs[k].astype(np.float32) if theirs[k].dtype == np.float16 else theirs[k]
        assert v.dtype == want.dtype and np.array_equal(v, want), k
