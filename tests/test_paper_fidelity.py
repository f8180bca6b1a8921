"""The papers' protocols where the code used to depart from them (issue 14): each test states the paper's words and
checks the behaviour against values written out here, independently of the code under test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handpose.codecs.multiscale import target_key
from handpose.registry import create_model

# ------------------------------------------------------------------------------------------------------------------
# 002: "δ_i is set be 1, 1/2 and 1/4 for scales 128, 64 and 32" (Eq. 4: L = Σ δ_i ‖x_i − x̂_i‖²)
# ------------------------------------------------------------------------------------------------------------------


def test_multiscale_loss_weights_each_scale_by_the_papers_delta():
    model = create_model("multiscale_heatmap", input_size=128, width=4, use_skeleton=False)
    rng = np.random.default_rng(0)
    joints = rng.uniform(20, 108, size=(21, 2))
    targets = {k: torch.from_numpy(v)[None] for k, v in model.codec.encode(joints).items()}  # B = 1
    base = {name: targets[target_key(stride)].clone() for name, stride, _ in model.heads}
    loss0, _ = model.loss(base, targets)
    assert float(loss0) == 0.0
    # one pixel of one map of one head off by 1: ‖x_i − x̂_i‖² = 1 for that map, whatever the map's size; the loss
    # is the mean over the B·J = 21 maps of each head, times δ_i
    delta = {128: 1.0, 64: 0.5, 32: 0.25, 16: 0.125}  # the paper's δ by map side (16²: the halving continued)
    for name, stride, _ in model.heads:
        outputs = {k: v.clone() for k, v in base.items()}
        outputs[name][0, 3, 2, 5] += 1.0
        loss, _ = model.loss(outputs, targets)
        side = 128 // stride
        assert float(loss) == pytest.approx(delta[side] / 21, rel=1e-5), (name, side)
