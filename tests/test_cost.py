"""Model cost helpers against hand-computed parameter and MAC counts."""

from __future__ import annotations

import time

import pytest
import torch

from handpose.cost import count_flops, count_parameters, measure_latency
from handpose.errors import ConfigError


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=3, padding=1),  # 8*3*9 weights + 8 bias = 224
        torch.nn.ReLU(),
        torch.nn.BatchNorm2d(8),  # 16 parameters (weight, bias); running stats are buffers
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),  # 1280 + 10 = 1290
    )


def test_count_parameters_by_hand() -> None:
    assert count_parameters(_net()) == 224 + 16 + 1290


def test_count_parameters_shared_and_trainable() -> None:
    lin = torch.nn.Linear(5, 5)  # 30
    tied = torch.nn.Sequential(lin, torch.nn.ReLU(), lin)
    assert count_parameters(tied) == 30
    frozen = _net()
    for p in frozen[0].parameters():
        p.requires_grad_(False)
    assert count_parameters(frozen, trainable_only=True) == 16 + 1290


def test_count_flops_conv_and_linear_by_hand() -> None:
    batch, h, w = 2, 4, 4
    conv_macs = batch * 8 * h * w * (3 * 3 * 3)  # out elements x (in_ch * k * k)
    lin_macs = batch * 128 * 10
    net = _net()
    net.train()
    out = count_flops(net, torch.randn(batch, 3, h, w))
    assert out["macs"] == conv_macs + lin_macs
    assert out["flops"] == 2 * (conv_macs + lin_macs)  # torch counts FLOPs = 2 x MACs
    assert out["by_operator"]["aten.convolution"] == 2 * conv_macs
    assert out["by_operator"]["aten.addmm"] == 2 * lin_macs
    assert net.training  # mode restored


def test_count_flops_ignores_elementwise_and_takes_kwargs() -> None:
    class Elementwise(torch.nn.Module):
        def forward(self, x: torch.Tensor, *, y: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) + y * 2

    assert count_flops(Elementwise(), {"x": torch.ones(3), "y": torch.ones(3)})["flops"] == 0

    class MatMul(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a @ b

    assert count_flops(MatMul(), (torch.ones(4, 5), torch.ones(5, 6)))["macs"] == 4 * 5 * 6


def test_measure_latency_counts_and_times() -> None:
    calls = []

    def fn() -> None:
        calls.append(1)
        time.sleep(0.002)

    out = measure_latency(fn, warmup=2, repeats=5)
    assert len(calls) == 7
    assert out["runs"] == 5
    assert 2.0 <= out["min_ms"] <= out["median_ms"] <= out["p95_ms"]
    assert out["mean_ms"] >= 2.0


def test_measure_latency_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        measure_latency(lambda: None, warmup=0, repeats=0)
    with pytest.raises(ConfigError):
        measure_latency(lambda: None, warmup=-1, repeats=3)
