"""Function-preserving widening of the MSAHP encoder (handpose.models.widen, benchmarks/widen_checkpoint.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from handpose.config import load_config
from handpose.engine.checkpoint import save_checkpoint
from handpose.engine.run import init_from
from handpose.errors import ConfigError
from handpose.models.widen import widen_model
from handpose.registry import create_model

REPO = Path(__file__).resolve().parents[1]


def _trained_like(seed: int = 0, **kwargs):
    """msahp_t with random weights and BatchNorm statistics (as after training, not the identity defaults)."""
    torch.manual_seed(seed)
    model = create_model("msahp_t", input_size=64, presence=True, **kwargs)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.uniform_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_the_widened_network_computes_what_the_narrow_one_did() -> None:
    model = _trained_like()
    wide = widen_model(model, [24, 32, 48, 64], seed=3).eval()
    assert wide.config["widths"] == [24, 32, 48, 64] and model.config["widths"] == [16, 24, 32, 64]
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = model(x), wide(x)
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6)
    # the old weights are copied, the new channels are drawn, and read with zeros
    row4_old, row4_new = model.encoder.row4[0].weight, wide.encoder.row4[0].weight
    assert torch.equal(row4_new[:24, :24], row4_old)
    assert torch.count_nonzero(row4_new[:, 24:]) == 0  # what row 3's new channels give is read with zero weights
    assert torch.count_nonzero(row4_new[24:, :24]) > 0  # row 4's new channels are drawn
    assert torch.count_nonzero(wide.encoder.row6[0].weight[:, 24:]) == 0
    assert torch.count_nonzero(wide.encoder.row9[0].weight[:, 32:]) == 0
    # a narrower network is a different function: the check above can fail
    other = widen_model(_trained_like(seed=1), [16, 24, 32, 64]).eval()
    with torch.no_grad():
        assert not torch.allclose(other(x)["heatmaps"], a["heatmaps"], atol=1e-3)


def test_the_new_channels_learn() -> None:
    wide = widen_model(_trained_like(), [16, 32, 32, 64]).train()
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    for _ in range(2):  # the zero weights move at the first step, the new channels' own weights at the second
        opt.zero_grad()
        wide(x)["heatmaps"].square().mean().backward()
        opt.step()
    assert torch.count_nonzero(wide.encoder.row4[0].weight[:, 24:]) > 0
    assert torch.count_nonzero(wide.encoder.row6[0].weight[:, 24:]) > 0


@pytest.mark.parametrize("widths", [[16, 16, 32, 64], [16, 32, 32, 96], [16, 32, 32]])
def test_widening_refuses_narrower_or_another_bottleneck(widths) -> None:
    with pytest.raises(ConfigError, match="widths"):
        widen_model(_trained_like(), widths)


def test_msahp_bottleneck_is_refused_by_the_layers_that_read_it() -> None:
    # the attention's LayerNorm and Linear layers (and the presence head) read rows 9-10: no zero-read exists there
    with pytest.raises(ConfigError, match="only ungrouped convolutions and BatchNorms"):
        widen_model(_trained_like(), [16, 24, 32, 80])


def test_the_widened_detector_computes_what_the_narrow_one_did() -> None:
    torch.manual_seed(0)
    det = create_model("ssd_hand")
    with torch.no_grad():  # statistics as after training, and a residual sum on every stage
        for m in det.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    det.eval()
    wide = widen_model(det, [16, 32, 32, 64, 96], seed=1).eval()
    assert wide.config["widths"] == [16, 32, 32, 64, 96]
    x = torch.rand(2, 3, *det.spec.input_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = det(x), wide(x)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-5)
    assert torch.count_nonzero(wide.stage8[0].conv1[0].weight[:, 24:]) == 0
    assert torch.count_nonzero(wide.stage8[0].shortcut[0].weight[:, 24:]) == 0


def test_the_widened_checkpoint_starts_the_recipe(tmp_path) -> None:
    cfg = load_config(REPO / "configs" / "msahp_real_w32.yaml")
    assert cfg.model.kwargs["widths"] == [16, 32, 32, 64] and cfg.model.kwargs["input_size"] == 104
    torch.manual_seed(0)
    narrow = create_model("msahp_t", input_size=104).eval()
    save_checkpoint(tmp_path / "narrow", narrow)
    spec = importlib.util.spec_from_file_location("widen_checkpoint", REPO / "benchmarks" / "widen_checkpoint.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tmp_path / "narrow"), str(tmp_path / "wide"), "--widths", "16,32,32,64"]) == 0
    model = create_model(cfg.model.name, **cfg.model.kwargs).eval()
    init_from(model, tmp_path / "wide")  # the recipe's builder arguments and every shape
    x = torch.rand(2, 3, 104, 104, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x)["heatmaps"], narrow(x)["heatmaps"], rtol=0, atol=1e-6)
