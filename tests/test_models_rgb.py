"""The RGB models against their papers' tables and loss definitions.

- ``msahp``: every row of Table 1 of "Multihead Self Attention Hand Pose Estimation", read by forward hooks at the
  paper's 256² input; the loss α·CE + (1 − α)·L2 recomputed by hand.
- ``gesturenet``: every row of Table 3 of the same paper.
- ``multiscale_heatmap``: the five scales and the δ-weighted loss of "Skeleton-aware multi-scale heatmap regression
  for 2D hand pose estimation"; ``skeleton_unet``: 0.4·L1 + 0.6·SoftDice.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handpose import create_model
from handpose.errors import ModelInputError
from handpose.layers.attention import MultiHeadSelfAttention2d
from handpose.layers.resnet import RESNET_TRUNK_PARAMS

# Table 1: (row id, name, H, W, C) -- the "Dimensionality" column
TABLE1 = [
    (1, "Conv+relu+bn", 256, 256, 64),
    (2, "maxpool", 128, 128, 64),
    (3, "Conv+relu+bn", 128, 128, 96),
    (4, "Conv+relu+bn", 128, 128, 96),
    (5, "maxpool", 64, 64, 96),
    (6, "Conv+relu+bn", 64, 64, 128),
    (7, "Conv+relu+bn", 64, 64, 128),
    (8, "maxpool", 32, 32, 128),
    (9, "Conv+relu+bn", 32, 32, 256),
    (10, "Conv+relu+bn", 32, 32, 256),
    (11, "conv", 32, 32, 21),
    (12, "Concat(10,11)", 32, 32, 277),
    (13, "Conv+relu+bn", 32, 32, 128),
    (14, "Conv+relu+bn", 32, 32, 128),
    (15, "Conv+relu+bn", 32, 32, 128),
    (16, "Conv+relu+bn", 32, 32, 128),
    (17, "ElementAdd(16,15)", 32, 32, 128),
    (18, "Conv+relu", 32, 32, 128),
    (19, "conv", 32, 32, 21),
    (20, "conv", 32, 32, 21),
    (21, "conv", 32, 32, 21),
]

TABLE1_KERNELS = {1: 3, 3: 3, 4: 3, 6: 3, 7: 3, 9: 3, 10: 3, 11: (1, 1), 13: 3, 14: 3, 15: 5, 16: 5, 18: 3}


@pytest.fixture(scope="module")
def msahp_paper():
    torch.manual_seed(0)
    return create_model("msahp").eval()


def test_msahp_matches_table1_row_by_row(msahp_paper) -> None:
    model = msahp_paper
    stage = model.refine[0]
    seen: dict[int, tuple[int, ...]] = {}
    modules = {i: getattr(model.encoder, f"row{i}") for i in range(1, 11)}
    modules[11] = model.row11
    modules.update({i: getattr(stage, f"row{i}") for i in (13, 14, 15, 16, 18, 19, 20, 21)})
    handles = []
    for i, module in modules.items():
        handles.append(module.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(i, tuple(out.shape))))
    # rows 12 and 17 are not modules: the concat is the input of row 13, the sum the input of row 18
    handles.append(stage.row13.register_forward_pre_hook(lambda m, a: seen.__setitem__(12, tuple(a[0].shape))))
    handles.append(stage.row18.register_forward_pre_hook(lambda m, a: seen.__setitem__(17, tuple(a[0].shape))))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 256, 256))
    for h in handles:
        h.remove()
    for row, name, h, w, c in TABLE1:
        assert seen[row] == (1, c, h, w), f"row {row} ({name}): {seen[row]} != (1, {c}, {h}, {w})"
    assert tuple(out["heatmaps"].shape) == (1, 21, 32, 32)
    # kernels, and the order conv -> ReLU -> BN of "Conv+relu+bn"
    for row, k in TABLE1_KERNELS.items():
        conv = modules[row][0] if isinstance(modules[row], torch.nn.Sequential) else modules[row]
        assert conv.kernel_size == ((k, k) if isinstance(k, int) else k), row
    assert [type(m).__name__ for m in model.encoder.row1] == ["Conv2d", "ReLU", "BatchNorm2d"]
    assert [type(m).__name__ for m in stage.row18] == ["Conv2d", "ReLU"]
    assert stage.row19.kernel_size == (1, 3) and stage.row20.kernel_size == (3, 1) and stage.row21.kernel_size == (1, 1)


def test_msahp_attention_bottleneck_placement(msahp_paper) -> None:
    assert isinstance(msahp_paper.attention, MultiHeadSelfAttention2d)
    assert msahp_paper.attention.channels == 256 and msahp_paper.attention.heads == 8
    small = dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2)
    count = lambda m: sum(isinstance(x, MultiHeadSelfAttention2d) for x in m.modules())  # noqa: E731
    assert count(create_model("msahp", attention="none", **small)) == 0
    assert count(create_model("msahp", attention="encoder", **small)) == 1
    assert count(create_model("msahp", attention="refine", stages=3, **small)) == 2
    assert count(create_model("msahp", attention="both", **small)) == 2
    with pytest.raises(ValueError):
        create_model("msahp", attention="decoder", **small)


def test_msahp_loss_is_alpha_ce_plus_l2_by_hand() -> None:
    torch.manual_seed(0)
    model = create_model("msahp", input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0)
    rng = np.random.default_rng(0)
    joints = [np.stack([rng.uniform(0, 63, 21), rng.uniform(0, 63, 21)], 1) for _ in range(2)]
    vis = np.ones(21, bool)
    vis[3] = False
    enc = [model.codec.encode(j, vis) for j in joints]
    targets = {k: torch.from_numpy(np.stack([e[k] for e in enc])) for k in enc[0]}
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
        loss, parts = model.loss(out, targets)
    t = targets["heatmaps"].double().numpy()
    expected = 0.0
    for stage in ("heatmaps_stage1", "heatmaps_stage2"):
        z = out[stage].double().numpy()
        ce_sum, ce_n, l2_sum = 0.0, 0, 0.0
        for b in range(2):
            for j in range(21):
                logits = z[b, j].ravel()
                p = np.exp(logits - logits.max())
                p /= p.sum()
                if t[b, j].sum() > 0:
                    q = t[b, j].ravel() / t[b, j].sum()
                    ce_sum += -(q * np.log(p)).sum()
                    ce_n += 1
                l2_sum += ((p * 2 * math.pi * 1.0**2 - t[b, j].ravel()) ** 2).sum()
        ce, l2 = ce_sum / ce_n, l2_sum / (2 * 21)
        expected += 0.7 * ce + 0.3 * l2
    assert ce_n == 2 * 20  # the invisible joint is left out of CE
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert parts["loss"] == pytest.approx(expected, rel=1e-5)


def test_msahp_variants_and_stages() -> None:
    small = create_model("msahp_s")
    assert small.spec.input_size == (128, 128) and small.spec.name == "msahp_s"
    m = create_model("msahp", input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, stages=3)
    out = m(torch.rand(1, 3, 64, 64))
    assert {"heatmaps_stage1", "heatmaps_stage2", "heatmaps_stage3"} <= set(out)
    assert torch.equal(out["heatmaps"], out["heatmaps_stage3"])


# Table 3: (row id, name, dimensionality as (C, H, W) of our tensors) -- "2*21*16" is 2 rows x 21 joints x 16 ch
TABLE3 = [
    ("conv1", "Conv+relu 1*7", (16, 2, 21)),
    ("conv2", "Conv+relu 1*7", (16, 2, 21)),
    ("meanpool", "meanpool 2*1", (16, 1, 21)),
]


def test_gesturenet_matches_table3() -> None:
    model = create_model("gesturenet", num_classes=35).eval()
    seen = {}
    for name, _, _ in TABLE3:
        getattr(model.features, name).register_forward_hook(
            lambda m, a, o, name=name: seen.__setitem__(name, tuple(o.shape))
        )
    model.classifier.fc1.register_forward_hook(lambda m, a, o: seen.__setitem__("fc1", tuple(o.shape)))
    with torch.no_grad():
        out = model(torch.randn(4, 2, 21))
    for name, label, shape in TABLE3:
        assert seen[name] == (4, *shape), label
    assert seen["fc1"] == (4, 128)
    assert tuple(out["logits"].shape) == (4, 35)
    assert model.features.conv1.kernel_size == (1, 7) and model.features.conv2.kernel_size == (1, 7)
    assert model.classifier.dropout.p == 0.5
    # parameters by hand: two convs, FC 336 -> 128, FC 128 -> 35
    expected = (1 * 16 * 7 + 16) + (16 * 16 * 7 + 16) + (16 * 21 * 128 + 128) + (128 * 35 + 35)
    assert model.num_parameters() == expected


def test_gesturenet_default_classes_are_the_synthetic_vocabulary() -> None:
    from handpose.data.synthetic import GESTURES

    model = create_model("gesturenet")
    expected = len(GESTURES)
    assert expected == 13  # the synthetic world's 13 named gestures (docs/synthetic.md)
    assert model.codec.num_classes == expected
    assert list(model.codec.class_names) == list(GESTURES)
    assert tuple(model(torch.zeros(1, 2, 21))["logits"].shape) == (1, expected)


def test_multiscale_heatmap_scales_and_loss_weights() -> None:
    torch.manual_seed(0)
    model = create_model("multiscale_heatmap", width=8)
    assert model.spec.in_channels == 4
    with torch.no_grad():
        out = model(torch.rand(2, 4, 128, 128))
    sizes = {k: tuple(v.shape[-2:]) for k, v in out.items()}
    assert sizes == {
        "heatmaps_down1": (32, 32),
        "heatmaps_down2": (16, 16),
        "heatmaps_up1": (32, 32),
        "heatmaps_up2": (64, 64),
        "heatmaps": (128, 128),
    }
    assert all(float(v.min()) >= 0 and float(v.max()) <= 1 for v in out.values())  # sigmoid heads
    rng = np.random.default_rng(0)
    enc = [model.codec.encode(np.stack([rng.uniform(0, 127, 21), rng.uniform(0, 127, 21)], 1)) for _ in range(2)]
    targets = {k: torch.from_numpy(np.stack([e[k] for e in enc])) for k in enc[0]}
    loss, _ = model.loss(out, targets)
    # the paper's Eq. 4, Σ δ_i ‖x_i − x̂_i‖²: each map's squared error summed over its pixels (averaged over the
    # maps), weighted delta = 1, 1/2, 1/4 for scales 128, 64, 32 (our choice: 1/8 for 16)
    delta = {128: 1.0, 64: 0.5, 32: 0.25, 16: 0.125}
    expected = 0.0
    for value in out.values():
        size = value.shape[-1]
        target = targets[f"heatmaps_s{128 // size}"]
        expected += delta[size] * float(((value - target) ** 2).sum(dim=(-2, -1)).mean())
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_multiscale_heatmap_without_skeleton_takes_rgb() -> None:
    model = create_model("multiscale_heatmap", width=8, use_skeleton=False)
    assert model.spec.in_channels == 3
    assert tuple(model(torch.rand(1, 3, 128, 128))["heatmaps"].shape) == (1, 21, 128, 128)
    with pytest.raises(ModelInputError, match=r"\(B, 3, 128, 128\)"):
        model(torch.rand(1, 4, 128, 128))


def test_skeleton_unet_loss_is_04_l1_plus_06_soft_dice() -> None:
    torch.manual_seed(0)
    model = create_model("skeleton_unet_s")
    assert model.spec.input_size == (120, 160) and model.spec.task == "skeleton"
    with torch.no_grad():
        out = model(torch.rand(2, 3, 120, 160))
    target = torch.from_numpy(np.stack([model.codec.encode(np.full((21, 2), np.nan))["skeleton"]] * 2))
    target[0, 0, 40:60, 50:90] = 1.0
    loss, parts = model.loss(out, {"skeleton": target})
    p, t = out["skeleton"].double(), target.double()
    l1 = float((p - t).abs().mean())
    dice = float(
        np.mean(
            [
                1 - (2 * float((p[b] * t[b]).sum()) + 1) / (float((p[b] ** 2).sum()) + float((t[b] ** 2).sum()) + 1)
                for b in range(2)
            ]
        )
    )
    assert float(loss) == pytest.approx(0.4 * l1 + 0.6 * dice, rel=1e-5)
    assert parts["l1"] == pytest.approx(l1, rel=1e-5) and parts["soft_dice"] == pytest.approx(dice, rel=1e-5)


def test_cpm_stages_are_configurable_and_supervised() -> None:
    small = dict(input_size=64, widths=(8, 8, 16, 32), stage_width=16, kernel=3)
    for stages in (1, 2, 4):
        model = create_model("cpm", stages=stages, **small)
        out = model(torch.rand(1, 3, 64, 64))
        assert {f"heatmaps_stage{k}" for k in range(1, stages + 1)} <= set(out)
        target = torch.zeros(1, 21, 8, 8)
        loss, parts = model.loss(out, {"heatmaps": target})
        manual = sum(float((out[f"heatmaps_stage{k}"].detach() ** 2).mean()) for k in range(1, stages + 1))
        assert float(loss.detach()) == pytest.approx(manual, rel=1e-5)
    assert create_model("cpm").stages[0].body[0][0].kernel_size == (7, 7)


def test_resnet50_reg2d_uses_the_resnet50_trunk() -> None:
    model = create_model("resnet50_reg2d")
    trunk = sum(p.numel() for p in model.trunk.parameters())
    assert trunk == RESNET_TRUNK_PARAMS[50]
    assert model.num_parameters() == trunk + 2048 * 42 + 42
    small = create_model("resnet_reg2d_s")
    assert tuple(small(torch.rand(2, 3, 128, 128))["coords"].shape) == (2, 21, 2)


@pytest.mark.parametrize(
    "name", ["msahp_s", "cpm_s", "unet_heatmap_s", "multiscale_heatmap_t", "skeleton_unet_t", "resnet_reg2d_s"]
)
def test_bad_input_errors_name_the_expected_input(name: str) -> None:
    model = create_model(name)
    c, (h, w) = model.spec.in_channels, model.spec.input_size
    with pytest.raises(ModelInputError, match=rf"{name} expects rgb input of shape \(B, {c}, {h}, {w}\)"):
        model(torch.zeros(1, c, h // 2, w))
    with pytest.raises(ModelInputError, match="floating-point"):
        model(torch.zeros(1, c, h, w, dtype=torch.uint8))
    with pytest.raises(ModelInputError, match="NaN"):
        model(torch.full((1, c, h, w), float("nan")))
    with pytest.raises(ModelInputError, match="divide by 255"):
        model(torch.full((1, c, h, w), 255.0))


def test_models_command_lists_counts_and_paper_figures(capsys) -> None:
    import json

    from handpose.cli import main

    assert main(["models", "msahp_s", "gesturenet", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"msahp_s", "gesturenet"}
    model = create_model("msahp_s")
    assert rows["msahp_s"]["params"] == model.num_parameters()
    assert rows["msahp_s"]["input_size"] == [128, 128] and rows["msahp_s"]["modality"] == "rgb"
    assert rows["msahp_s"]["flops"] == 2 * rows["msahp_s"]["macs"] > 0
    # gesturenet by hand: conv 1x7 (1->16) over 2x21, conv 1x7 (16->16), FC 336->128, FC 128->classes
    k = create_model("gesturenet").codec.num_classes
    assert rows["gesturenet"]["macs"] == 2 * 21 * 16 * 7 + 2 * 21 * 16 * 16 * 7 + 336 * 128 + 128 * k
    assert main(["models", "resnet50_reg2d", "--no-flops"]) == 0
    text = capsys.readouterr().out
    assert "resnet50_reg2d" in text and "23.51 M" in text
    assert main(["models", "no_such_model"]) == 2
    assert "no registered model matches" in capsys.readouterr().err
