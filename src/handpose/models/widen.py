"""Function-preserving widening of the MSAHP encoder (the way of Net2Net's "wider" step, with zeros in place of
copied units): a trained network with more channels in rows 1-7 that computes exactly what it computed before, so
that fine-tuning it starts from the trained function and the new channels learn what the old ones did not.

Each new output channel of a convolution gets the fresh random weights of a newly built layer; its BatchNorm starts as
an identity (scale 1, shift 0, running mean 0, variance 1); every weight that reads a new channel in the next
convolution starts at zero. The old channels' weights are copied. The bottleneck width (rows 9-10, ``widths[3]``) is
not widened: the attention, the score maps and the presence head read it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .msahp import MSAHP


def widen_msahp(model: MSAHP, widths: tuple[int, int, int, int] | list[int], seed: int = 0) -> MSAHP:
    """A copy of ``model`` with encoder widths ``widths`` (each >= the model's; the last one equal) that gives the
    same outputs in eval mode (to the rounding of sums of zeros). ``seed`` draws the new channels' weights.

    Raises:
        ConfigError: a narrower width, or another bottleneck width.
    """
    old = [int(w) for w in model.config["widths"]]
    new = [int(w) for w in widths]
    if len(new) != 4 or any(n < o for n, o in zip(new, old)) or new[3] != old[3]:
        raise ConfigError(f"widths {new} must be 4 numbers, none under {old}, the last (bottleneck) equal to {old[3]}",
                          field="widths")  # fmt: skip
    config: dict[str, Any] = {**model.config, "widths": new}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        wide = MSAHP(**config)
    src, dst = model.state_dict(), wide.state_dict()
    with torch.no_grad():
        for key, value in src.items():
            target = dst[key]
            if value.dim() == 0:
                target.copy_(value)
                continue
            index = tuple(slice(0, n) for n in value.shape)
            target[index] = value
        convs = [m for m in wide.encoder.modules() if isinstance(m, nn.Conv2d)]
        old_convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
        for conv, old_conv in zip(convs, old_convs):
            conv.weight[:, old_conv.in_channels :] = 0.0  # the new input channels are read with zero weights
    wide.load_state_dict(dst)
    wide.train(model.training)
    return wide
