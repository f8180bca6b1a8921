"""Function-preserving widening of a convolutional network (the way of Net2Net's "wider" step, with zeros in place of
copied units): a trained network with more channels that computes exactly what it computed before, so that
fine-tuning it starts from the trained function and the new channels learn what the old ones did not.

Any model whose builder takes ``widths`` (the MSAHP pose network's encoder, the SSD hand detector's trunk) is rebuilt
with the wider ``widths``. Each new output channel of a convolution gets the fresh random weights of the newly built
layer; its BatchNorm starts as an identity (scale 1, shift 0, running mean 0, variance 1); every weight that reads a
new channel in a later convolution starts at zero, so whatever a new channel holds (also through a residual sum, which
adds channel to channel) adds nothing. The old channels' weights are copied. Only convolutions (ungrouped) and
BatchNorms may change shape: a widening that would reach a linear layer, a normalisation over channels or an attention
block (MSAHP's bottleneck width, ``widths[3]``) is refused.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import create_model

#: the layers a widening may change the shape of (their weights are sliced per channel)
WIDENABLE = (nn.Conv2d, nn.BatchNorm2d)


def widen_model(model: nn.Module, widths: tuple[int, ...] | list[int], seed: int = 0) -> nn.Module:
    """A copy of ``model`` (built by the registry with ``widths`` among its arguments) with ``widths`` (each at least
    the model's) that gives the same outputs in eval mode (to the rounding of sums of zeros). ``seed`` draws the new
    channels' weights.

    Raises:
        ConfigError: a width narrower than the model's or a different count, or a layer other than a convolution or
        a BatchNorm whose shape would change.
    """
    config: dict[str, Any] = dict(model.config)  # type: ignore[arg-type]
    old = [int(w) for w in config["widths"]]
    new = [int(w) for w in widths]
    if len(new) != len(old) or any(n < o for n, o in zip(new, old)):
        raise ConfigError(f"widths {new} must be {len(old)} numbers, none under {old}", field="widths")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        wide = create_model(model.spec.name, **{**config, "widths": new})  # type: ignore[union-attr]
    mods = dict(model.named_modules())
    for name, m in wide.named_modules():
        before = mods.get(name)
        grown = [k for k, v in m.named_parameters(recurse=False) if before is None
                 or getattr(before, k).shape != v.shape]  # fmt: skip
        if not grown:
            continue
        if not isinstance(m, WIDENABLE) or (isinstance(m, nn.Conv2d) and m.groups != 1):
            raise ConfigError(f"widths {new}: {name or 'the model'} ({type(m).__name__}) reads the widened channels; "
                              "only ungrouped convolutions and BatchNorms can be widened", field="widths")  # fmt: skip
    src, dst = model.state_dict(), wide.state_dict()
    with torch.no_grad():
        for key, value in src.items():
            dst[key][tuple(slice(0, n) for n in value.shape)] = value  # the old channels (a 0-d tensor: all of it)
        for name, m in wide.named_modules():
            if isinstance(m, nn.Conv2d) and m.in_channels > mods[name].in_channels:
                m.weight[:, mods[name].in_channels :] = 0.0  # a new channel is read with zero weights
    diff = largest_output_difference(model, wide)
    if diff > 1e-4:  # a layer that mixes channels without weights (none in the models built here)
        raise ConfigError(f"widths {new}: the widened network does not compute what the model did (outputs differ by "
                          f"{diff:.2e})", field="widths")  # fmt: skip
    wide.train(model.training)
    return wide


def largest_output_difference(a: nn.Module, b: nn.Module) -> float:
    """The largest difference between two models' outputs (eval mode) on two random inputs of ``a``'s spec."""
    spec = a.spec  # type: ignore[union-attr]
    x = torch.rand(2, spec.in_channels, *spec.input_size, generator=torch.Generator().manual_seed(0))
    modes = a.training, b.training
    a.eval(), b.eval()
    with torch.no_grad():
        ya, yb = a(x), b(x)
    a.train(modes[0]), b.train(modes[1])
    return max(float((ya[k] - yb[k]).abs().max()) for k in ya if isinstance(ya[k], torch.Tensor))
