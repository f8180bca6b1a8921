"""Depth / 3D layers: Ghost module and bottleneck, separable linear attention, residual attention module, PCA prior.

Each layer is checked against an independent computation: a naive loop of the paper's equation, the same operation
rebuilt from the layer's own weights with functional calls, or values set by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from handpose.cost import count_flops
from handpose.layers.conv import PreActBottleneck
from handpose.layers.ghost import GhostBottleneck, GhostModule
from handpose.layers.linear_attention import SeparableAttentionBlock, SeparableLinearAttention
from handpose.layers.pca import PCAPrior
from handpose.layers.residual_attention import ResidualAttentionModule, SoftMaskBranch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread is faster than two spin-waiting on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters (eval mode then matters)."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def _bn_eval(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


# ------------------------------------------------------------------------------------------------------ Ghost


def test_ghost_module_is_primary_conv_plus_cheap_depthwise_ghosts():
    torch.manual_seed(0)
    m = GhostModule(6, 10, kernel_size=1, ratio=2, dw_size=3)
    _randomise_bn(m)
    m.eval()
    x = torch.randn(2, 6, 9, 7)
    with torch.no_grad():
        out = m(x)
        conv1, bn1 = m.primary[0], m.primary[1]
        conv2, bn2 = m.cheap[0], m.cheap[1]
        # Eq. 1: Y' = X * f' (m = ceil(10 / 2) = 5 intrinsic maps)
        intrinsic = F.relu(_bn_eval(F.conv2d(x, conv1.weight), bn1))
        # Eq. 2: y_ij = Φ_ij(y'_i), one 3×3 depthwise filter per intrinsic map
        ghosts = F.relu(_bn_eval(F.conv2d(intrinsic, conv2.weight, padding=1, groups=5), bn2))
    assert out.shape == (2, 10, 9, 7)
    assert conv2.weight.shape == (5, 1, 3, 3)
    torch.testing.assert_close(out[:, :5], intrinsic)
    torch.testing.assert_close(out[:, 5:], ghosts)


def test_ghost_module_odd_width_ratio_three_and_cost():
    m = GhostModule(8, 7, ratio=3)
    # ceil(7 / 3) = 3 intrinsic maps, 6 ghosts, cut to 7 channels
    assert m(torch.randn(1, 8, 5, 5)).shape == (1, 7, 5, 5)
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    # primary 1×1: 8 · 3 weights; cheap depthwise 3×3: 6 · 9; no conv biases (BN follows)
    assert sum(c.weight.numel() for c in convs) == 8 * 3 + 6 * 9
    assert all(c.bias is None for c in convs)
    # a Ghost module of width 32 (s = 2, d = 3) costs (c·n/s + n/s·d²) / (c·n) = 656 / 1024 of a plain 1×1 conv
    x = torch.randn(1, 32, 16, 16)
    ghost_macs = count_flops(GhostModule(32, 32), x)["macs"]
    plain_macs = count_flops(nn.Conv2d(32, 32, 1, bias=False), x)["macs"]
    assert ghost_macs == 16 * 16 * (32 * 16 + 16 * 9)
    assert ghost_macs * 1024 == plain_macs * 656


def test_ghost_module_rejects_ratio_below_two():
    with pytest.raises(ValueError, match="ratio"):
        GhostModule(4, 4, ratio=1)


def test_ghost_bottleneck_identity_shortcut_and_strided_shapes():
    torch.manual_seed(0)
    block = GhostBottleneck(12, 24, 12)
    # zero the last BN of the projecting Ghost module: the residual branch outputs zeros, the block is the identity
    for bn in (block.project.primary[1], block.project.cheap[1]):
        nn.init.zeros_(bn.weight)
        nn.init.zeros_(bn.bias)
    block.eval()
    x = torch.randn(2, 12, 8, 8)
    torch.testing.assert_close(block(x), x)

    down = GhostBottleneck(12, 24, 20, stride=2, se=True).eval()
    assert down(torch.randn(2, 12, 9, 9)).shape == (2, 20, 5, 5)
    assert not isinstance(down.shortcut, nn.Identity)
    with pytest.raises(ValueError, match="stride"):
        GhostBottleneck(4, 8, 4, stride=3)


# ------------------------------------------------------------------------------------------- linear attention


def _naive_separable_attention(layer: SeparableLinearAttention, x: torch.Tensor) -> torch.Tensor:
    """Eq. 11 of the light-weight depth paper, one batch element and one token at a time, in float64."""
    wi, bi = layer.to_score.weight.detach().double(), layer.to_score.bias.detach().double()
    wk, bk = layer.to_key.weight.detach().double(), layer.to_key.bias.detach().double()
    wv, bv = layer.to_value.weight.detach().double(), layer.to_value.bias.detach().double()
    wo, bo = layer.out.weight.detach().double(), layer.out.bias.detach().double()
    out = torch.zeros(x.shape, dtype=torch.float64)
    for b in range(x.shape[0]):
        tokens = x[b].detach().double()
        logits = [float(wi[0] @ tokens[i] + bi[0]) for i in range(len(tokens))]
        top = max(logits)
        weights = [np.exp(v - top) for v in logits]
        scores = [w / sum(weights) for w in weights]  # c_s, softmax over the k tokens
        context = sum(scores[i] * (wk @ tokens[i] + bk) for i in range(len(tokens)))  # c_v, Eq. 10
        for i in range(len(tokens)):
            out[b, i] = wo @ (context * torch.relu(wv @ tokens[i] + bv)) + bo
    return out


def test_separable_attention_matches_a_naive_loop_of_eq_11():
    torch.manual_seed(1)
    layer = SeparableLinearAttention(6)
    x = torch.randn(3, 5, 6)
    with torch.no_grad():
        got = layer(x).double()
    torch.testing.assert_close(got, _naive_separable_attention(layer, x), rtol=1e-5, atol=1e-5)


def test_separable_attention_is_permutation_equivariant_and_linear_in_tokens():
    torch.manual_seed(2)
    layer = SeparableAttentionBlock(8, mlp_ratio=2.0).eval()
    x = torch.randn(2, 7, 8)
    perm = torch.randperm(7)
    with torch.no_grad():
        torch.testing.assert_close(layer(x)[:, perm], layer(x[:, perm]))
    # counted FLOPs grow linearly with the number of tokens (dot-product attention would grow quadratically)
    small = count_flops(layer.attn, torch.randn(1, 64, 8))["flops"]
    large = count_flops(layer.attn, torch.randn(1, 256, 8))["flops"]
    assert large == 4 * small


# ------------------------------------------------------------------------------------- residual attention


def test_residual_attention_module_output_is_one_plus_mask_times_trunk():
    torch.manual_seed(3)
    module = ResidualAttentionModule(16, p=1, t=2, r=1, mask_levels=2)
    _randomise_bn(module)
    module.eval()
    module.keep_mask = True
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        out = module(x)
        pre = module.pre(x)
        trunk = module.trunk(pre)
        mask = module.mask(pre)
        expected = module.post((1 + mask) * trunk)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(module.last_mask, mask)
    assert out.shape == x.shape
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0

    # a mask forced to 0 leaves the trunk unchanged; forced to 1 doubles it (Eq. 1)
    last_conv = module.mask.to_mask[-2]
    for bias, factor in ((-1e4, 1.0), (1e4, 2.0)):
        nn.init.zeros_(last_conv.weight)
        nn.init.constant_(last_conv.bias, bias)
        with torch.no_grad():
            torch.testing.assert_close(module(x), module.post(factor * module.trunk(module.pre(x))))


def test_residual_attention_hyper_parameters_p_t_r_and_mask_depth():
    module = ResidualAttentionModule(8, p=1, t=2, r=1, mask_levels=3)
    assert len(module.pre) == 1 and len(module.post) == 1  # p
    assert len(module.trunk) == 2  # t
    assert all(isinstance(u, PreActBottleneck) for u in module.trunk)
    assert all(len(level) == 1 for level in module.mask.down) and len(module.mask.bottom) == 1  # r
    # the mask goes down three times: 32 -> 16 -> 8 -> 4 at its bottom
    sizes = []
    module.mask.bottom.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
    module.eval()(torch.randn(1, 8, 32, 32))
    assert sizes == [(4, 4)]
    # odd sizes come back to the input size
    branch = SoftMaskBranch(8, levels=2).eval()
    assert branch(torch.randn(1, 8, 13, 11)).shape == (1, 8, 13, 11)


# ------------------------------------------------------------------------------------------------ PCA prior


def test_pca_prior_is_a_fixed_linear_map_in_the_state_dict():
    rng = np.random.default_rng(0)
    layer = PCAPrior(4, 9)
    assert list(layer.parameters()) == []
    assert {"mean", "components", "fitted"} <= set(layer.state_dict())
    assert not bool(layer.fitted)
    # the unfitted basis is orthonormal
    torch.testing.assert_close(layer.components @ layer.components.T, torch.eye(4))

    q, _ = np.linalg.qr(rng.normal(size=(9, 4)))
    components, mean = q.T, rng.normal(size=9)
    layer.load_basis(mean, components)
    assert bool(layer.fitted)
    code = rng.normal(size=(5, 4))
    expected = code @ components + mean  # computed in float64 numpy
    got = layer(torch.tensor(code, dtype=torch.float32))
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(layer.project(got).detach().numpy(), code, atol=1e-5)

    # gradients reach the code, never the basis
    c = torch.tensor(code, dtype=torch.float32, requires_grad=True)
    layer(c).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), np.tile(components.sum(axis=1), (5, 1)), atol=1e-5)

    # a fresh layer loaded from the state dict reproduces the map
    other = PCAPrior(4, 9)
    other.load_state_dict(layer.state_dict())
    torch.testing.assert_close(other(c.detach()), layer(c.detach()))


def test_pca_prior_rejects_bad_bases():
    layer = PCAPrior(3, 6)
    with pytest.raises(ValueError, match="components must have shape"):
        layer.load_basis(np.zeros(6), np.zeros((2, 6)))
    with pytest.raises(ValueError, match="mean must have shape"):
        layer.load_basis(np.zeros(5), np.zeros((3, 6)))
    with pytest.raises(ValueError, match="NaN"):
        layer.load_basis(np.full(6, np.nan), np.zeros((3, 6)))
    with pytest.raises(ValueError, match="num_components"):
        PCAPrior(7, 6)
