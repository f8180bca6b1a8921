"""Shared layers and losses, checked against published parameter counts and naive re-implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from handpose.errors import CheckpointError
from handpose.layers.attention import MultiHeadSelfAttention2d, sincos_position_encoding_2d
from handpose.layers.conv import BasicBlock, Bottleneck, ConvBNAct, ImageNormalize, PreActBottleneck, ResidualBlock
from handpose.layers.resnet import RESNET_TRUNK_PARAMS, ResNetTrunk, load_safetensors_weights, resnet_trunk
from handpose.layers.unet import UNet, UNetUp
from handpose.losses import l1_loss, l2_loss, soft_dice_loss, spatial_softmax_cross_entropy

# Published ImageNet model sizes (with the 1000-way classifier), "Deep Residual Learning for Image Recognition" /
# the reference implementations: ResNet-18 11.69 M, -34 21.80 M, -50 25.56 M, -101 44.55 M.
PUBLISHED_WITH_FC = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_resnet_trunk_has_the_published_parameter_count(depth: int) -> None:
    trunk = resnet_trunk(depth)
    classifier = trunk.out_channels * 1000 + 1000  # the ImageNet FC the trunk leaves out
    assert n_params(trunk) + classifier == PUBLISHED_WITH_FC[depth]
    assert n_params(trunk) == RESNET_TRUNK_PARAMS[depth]
    assert trunk.out_channels == (512 if depth < 50 else 2048)


def test_resnet50_trunk_is_about_23_5_million() -> None:
    assert abs(n_params(resnet_trunk(50)) - 23.5e6) < 0.05e6


def test_resnet_stage_strides_and_channels() -> None:
    trunk = ResNetTrunk(50, in_channels=4, width=8)
    feats = trunk.forward_stages(torch.zeros(2, 4, 96, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 32, 24, 16), (2, 64, 12, 8), (2, 128, 6, 4), (2, 256, 3, 2)]
    assert trunk.stage_channels == [32, 64, 128, 256]
    assert tuple(trunk(torch.zeros(1, 4, 96, 64)).shape) == (1, 256, 3, 2)
    with pytest.raises(ValueError, match="depth"):
        ResNetTrunk(42)


def test_zero_init_residual_makes_blocks_start_as_identity_plus_relu() -> None:
    trunk = ResNetTrunk(18, width=16)  # initialises its blocks' last BN to zero
    block = trunk.stages[0][0]
    block.eval()
    x = torch.randn(2, 16, 8, 8)
    assert torch.allclose(block(x), torch.relu(x))


def test_conv_blocks_shapes_and_shortcuts() -> None:
    x = torch.randn(2, 8, 15, 15)
    assert tuple(ConvBNAct(8, 12, 5)(x).shape) == (2, 12, 15, 15)
    assert tuple(ConvBNAct(8, 12, 3, stride=2)(x).shape) == (2, 12, 8, 8)
    assert tuple(ConvBNAct(8, 12, (1, 7))(x).shape) == (2, 12, 15, 15)
    assert tuple(BasicBlock(8, 8)(x).shape) == (2, 8, 15, 15)
    assert isinstance(BasicBlock(8, 8).shortcut, nn.Identity)
    assert not isinstance(BasicBlock(8, 16, stride=2).shortcut, nn.Identity)
    assert tuple(Bottleneck(8, 4, stride=2)(x).shape) == (2, 16, 8, 8)
    assert tuple(ResidualBlock(8, 20, stride=2)(x).shape) == (2, 20, 8, 8)
    assert tuple(PreActBottleneck(8, 32, stride=2)(x).shape) == (2, 32, 8, 8)
    assert PreActBottleneck(8, 8).project is None


def test_bottleneck_parameter_count_by_hand() -> None:
    # 1x1 64->64, 3x3 64->64, 1x1 64->256 (+ BN gamma/beta), projection 1x1 64->256 + BN
    expected = 64 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256) + 64 * 256 + 2 * 256
    assert n_params(Bottleneck(64, 64)) == expected


def test_image_normalize_rgb_and_extra_channel() -> None:
    norm = ImageNormalize(4)
    x = torch.rand(1, 4, 3, 3)
    y = norm(x)
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(y[0, :3], (x[0, :3] - mean[:, None, None]) / std[:, None, None])
    assert torch.allclose(y[0, 3], 2 * x[0, 3] - 1)


def test_safetensors_weights_round_trip_and_errors(tmp_path) -> None:
    src = resnet_trunk(18, width=8)
    for p in src.parameters():
        nn.init.normal_(p)
    path = tmp_path / "w.safetensors"
    save_file({f"trunk.{k}": v.contiguous() for k, v in src.state_dict().items()}, str(path))
    dst = resnet_trunk(18, width=8)
    assert load_safetensors_weights(dst, path, prefix="trunk.") == []
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(CheckpointError, match="does not match"):
        load_safetensors_weights(resnet_trunk(18, width=16), path, prefix="trunk.")
    with pytest.raises(CheckpointError, match="missing"):
        load_safetensors_weights(resnet_trunk(18, width=8), path)  # no prefix stripping: nothing fits
    with pytest.raises(CheckpointError, match="not found"):
        load_safetensors_weights(dst, tmp_path / "absent.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_safetensors_weights(dst, junk)


# ---------------------------------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------------------------------


def test_sincos_position_encoding_matches_its_formula() -> None:
    h, w, c = 3, 5, 8
    pe = sincos_position_encoding_2d(h, w, c)
    assert tuple(pe.shape) == (h * w, c)
    q = c // 4
    for y in range(h):
        for x in range(w):
            row = pe[y * w + x]
            for i in range(q):
                omega = 1.0 / 10000 ** (i / q)
                assert math.isclose(row[i], math.sin(y * omega), abs_tol=1e-6)
                assert math.isclose(row[q + i], math.cos(y * omega), abs_tol=1e-6)
                assert math.isclose(row[2 * q + i], math.sin(x * omega), abs_tol=1e-6)
                assert math.isclose(row[3 * q + i], math.cos(x * omega), abs_tol=1e-6)
    with pytest.raises(ValueError):
        sincos_position_encoding_2d(2, 2, 6)


def naive_attention_block(block: MultiHeadSelfAttention2d, x: torch.Tensor) -> torch.Tensor:
    """The block written with explicit loops over batch and heads and an explicit softmax."""
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    pe = sincos_position_encoding_2d(h, w, c) if block.position == "sincos" else torch.zeros(h * w, c)
    dh = c // block.heads
    for n in range(b):
        tokens = x[n].reshape(c, h * w).T  # (T, C)
        z = F.layer_norm(tokens + pe, (c,), block.norm.weight, block.norm.bias)
        qkv = z @ block.qkv.weight.T + block.qkv.bias  # (T, 3C)
        heads = []
        for k in range(block.heads):
            q = qkv[:, k * dh : (k + 1) * dh]
            kk = qkv[:, c + k * dh : c + (k + 1) * dh]
            v = qkv[:, 2 * c + k * dh : 2 * c + (k + 1) * dh]
            scores = q @ kk.T / math.sqrt(dh)
            weights = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
            weights = weights / weights.sum(dim=1, keepdim=True)
            heads.append(weights @ v)
        attn = torch.cat(heads, dim=1) @ block.proj.weight.T + block.proj.bias
        out[n] = (tokens + attn).T.reshape(c, h, w)
    return out


@pytest.mark.parametrize("position", ["sincos", "none"])
def test_attention_matches_a_naive_implementation(position: str) -> None:
    torch.manual_seed(0)
    block = MultiHeadSelfAttention2d(16, heads=4, position=position).eval()
    x = torch.randn(2, 16, 3, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), naive_attention_block(block, x), atol=1e-5)


def test_attention_without_position_is_permutation_equivariant_and_with_it_is_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 4)
    perm = torch.randperm(16)
    permute = lambda t: t.flatten(2)[:, :, perm].reshape_as(t)  # noqa: E731
    plain = MultiHeadSelfAttention2d(8, heads=2, position="none").eval()
    placed = MultiHeadSelfAttention2d(8, heads=2, position="sincos").eval()
    placed.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert torch.allclose(plain(permute(x)), permute(plain(x)), atol=1e-5)
        assert not torch.allclose(placed(permute(x)), permute(placed(x)), atol=1e-3)


def test_attention_learned_position_and_mlp_shapes_and_errors() -> None:
    block = MultiHeadSelfAttention2d(8, heads=2, position="learned", size=(4, 6), mlp_ratio=2.0)
    assert tuple(block(torch.randn(2, 8, 4, 6)).shape) == (2, 8, 4, 6)
    with pytest.raises(ValueError):
        block(torch.randn(1, 8, 5, 6))
    with pytest.raises(ValueError):
        MultiHeadSelfAttention2d(10, heads=4)
    with pytest.raises(ValueError):
        MultiHeadSelfAttention2d(8, position="learned")


# ---------------------------------------------------------------------------------------------------------------
# UNet
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["transpose", "bilinear"])
def test_unet_keeps_the_input_size_even_for_odd_sizes(mode: str) -> None:
    net = UNet(3, width=4, depth=3, mode=mode)
    assert tuple(net(torch.zeros(1, 3, 32, 48)).shape) == (1, 4, 32, 48)
    assert tuple(net(torch.zeros(1, 3, 37, 45)).shape) == (1, 4, 37, 45)


def test_unet_up_pads_rather_than_crops() -> None:
    up = UNetUp(8, 4, 4, mode="bilinear")
    assert tuple(up(torch.zeros(1, 8, 3, 3), torch.zeros(1, 4, 7, 7)).shape) == (1, 4, 7, 7)


def test_unet_2015_widths() -> None:
    net = UNet(3, width=64, depth=4)
    assert [d.out_channels for d in net.downs] == [128, 256, 512, 1024]
    assert net.out_channels == 64


# ---------------------------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------------------------


def test_spatial_cross_entropy_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5))
    target = rng.random((2, 3, 4, 5))
    target[1, 2] = 0.0  # an invisible joint: left out
    weight = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    total, count = 0.0, 0
    for b in range(2):
        for j in range(3):
            if target[b, j].sum() == 0 or weight[b, j] == 0:
                continue
            z = logits[b, j].ravel()
            log_p = z - np.log(np.exp(z).sum())
            t = target[b, j].ravel() / target[b, j].sum()
            total += -(t * log_p).sum()
            count += 1
    got = spatial_softmax_cross_entropy(torch.tensor(logits), torch.tensor(target), torch.tensor(weight))
    assert math.isclose(float(got), total / count, rel_tol=1e-9)


def test_spatial_cross_entropy_floor_is_the_target_entropy() -> None:
    t = torch.rand(1, 1, 6, 6) + 0.01
    p = t / t.sum()
    ce = spatial_softmax_cross_entropy(torch.log(p), t)
    assert math.isclose(float(ce), float(-(p * p.log()).sum()), rel_tol=1e-5)


def test_l1_l2_weighted_and_plain() -> None:
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [1.0, 1.0]]])  # (B=2, J=2, 2)
    target = torch.zeros_like(pred)
    assert math.isclose(float(l2_loss(pred, target)), (1 + 4 + 9 + 16 + 0 + 0 + 1 + 1) / 8)
    assert math.isclose(float(l1_loss(pred, target)), (1 + 2 + 3 + 4 + 0 + 0 + 1 + 1) / 8)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # per-(B, J) means: (1+4)/2 for (0,0), (1+1)/2 for (1,1); weighted mean over the two labelled joints
    assert math.isclose(float(l2_loss(pred, target, w)), ((1 + 4) / 2 + (1 + 1) / 2) / 2)
    assert math.isclose(float(l1_loss(pred, target, w)), ((1 + 2) / 2 + (1 + 1) / 2) / 2)
    assert float(l2_loss(pred, target, torch.zeros(2, 2))) == 0.0


def test_soft_dice_by_hand() -> None:
    x_hat = torch.tensor([[0.5, 1.0, 0.0, 0.0]])
    x = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    inter, denom = 0.5 + 1.0, (0.25 + 1.0) + 3.0
    assert math.isclose(float(soft_dice_loss(x_hat, x, eps=0.0)), 1 - 2 * inter / denom, rel_tol=1e-6)
    assert float(soft_dice_loss(x, x, eps=0.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(soft_dice_loss(torch.zeros(1, 4), torch.zeros(1, 4))) == 0.0  # empty frame, empty prediction
