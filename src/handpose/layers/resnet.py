"""ResNet-18/34/50/101 trunks of "Deep Residual Learning for Image Recognition", written here (no torchvision).

A trunk is the stem (7×7/2 conv, 3×3/2 max-pool) and the four stages; it has no pooling head and no classifier, so
a model adds its own. With the standard width (64) the parameter counts match the published ones without the
final fully connected layer: ResNet-18 11,176,512; ResNet-34 21,284,672; ResNet-50 23,508,032; ResNet-101
42,500,160. Weights are trained from scratch or loaded from a user-supplied safetensors file
(:func:`load_safetensors_weights`); nothing is downloaded.

Shapes: (B, C_in, H, W) -> stage outputs at strides 4, 8, 16, 32 with ``width · (1, 2, 4, 8) · expansion``
channels (expansion 1 for 18/34, 4 for 50/101).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from torch import Tensor, nn

from ..errors import CheckpointError
from .conv import BasicBlock, Bottleneck, ConvBNAct

#: depth -> (block class, blocks per stage)
RESNET_LAYOUTS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}

#: published trunk parameter counts (ImageNet models without the 1000-way classifier), width 64, 3 input channels
RESNET_TRUNK_PARAMS = {18: 11_176_512, 34: 21_284_672, 50: 23_508_032, 101: 42_500_160}


class ResNetTrunk(nn.Module):
    """ResNet stem + four stages.

    Args:
        depth: 18, 34, 50 or 101.
        in_channels: input channels (3 for RGB; 4 for RGB + skeleton; 1 for depth).
        width: channels of the stem and of the first stage's bottleneck (64 standard; smaller for CPU variants).
        zero_init_residual: start every residual branch's last BN at zero (each block then begins as the
            identity), which helps training from scratch.

    Attributes:
        out_channels: channels of the last stage (512 for 18/34, 2048 for 50/101 at width 64).
        stage_channels: channels of the four stages.
    """

    def __init__(self, depth: int = 50, in_channels: int = 3, width: int = 64, zero_init_residual: bool = True) -> None:
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYOUTS)}, got {depth}")
        block, counts = RESNET_LAYOUTS[depth]
        self.depth = depth
        self.stem = nn.Sequential(
            ConvBNAct(in_channels, width, 7, stride=2),  # (B, w, H/2, W/2)
            nn.MaxPool2d(3, stride=2, padding=1),  # (B, w, H/4, W/4)
        )
        stages: list[nn.Module] = []
        channels_in = width
        self.stage_channels: list[int] = []
        for i, n in enumerate(counts):
            channels = width * 2**i
            stride = 1 if i == 0 else 2
            blocks: list[nn.Module] = []
            for b in range(n):
                unit = block(channels_in, channels, stride=stride if b == 0 else 1)
                blocks.append(unit)
                channels_in = unit.out_channels
            stages.append(nn.Sequential(*blocks))
            self.stage_channels.append(channels_in)
        self.stages = nn.ModuleList(stages)
        self.out_channels = channels_in
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.conv3[1].weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.conv2[1].weight)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """(B, C_in, H, W) -> the four stage outputs, at strides 4, 8, 16 and 32."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, out_channels, H/32, W/32)."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


def resnet_trunk(
    depth: int = 50, in_channels: int = 3, width: int = 64, zero_init_residual: bool = True
) -> ResNetTrunk:
    """Build a ResNet trunk (see :class:`ResNetTrunk`)."""
    return ResNetTrunk(depth, in_channels=in_channels, width=width, zero_init_residual=zero_init_residual)


def load_safetensors_weights(
    module: nn.Module, path: str | PathLike[str], prefix: str = "", strict: bool = True
) -> list[str]:
    """Load a user-supplied safetensors file into ``module`` (no pickle, nothing downloaded).

    Args:
        module: the module to fill (a trunk, or a whole model).
        path: the ``.safetensors`` file.
        prefix: keep only tensors whose names start with this and strip it (for example "backbone.").
        strict: raise if a parameter of ``module`` is missing from the file or a tensor's shape differs; unexpected
            tensors in the file are always reported in the error when ``strict``.

    Returns:
        names of ``module``'s parameters and buffers not found in the file (empty when ``strict``).

    Raises:
        CheckpointError: missing or unreadable file, shape mismatch, or (strict) missing / unexpected keys.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError("weights file not found", path=p)
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"not a readable safetensors file ({exc})", path=p) from exc
    if prefix:
        tensors = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = module.state_dict()
    for key, value in tensors.items():
        if key in own and tuple(own[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"tensor shape {tuple(value.shape)} does not match the model's {tuple(own[key].shape)}",
                path=p,
                field=key,
            )
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if strict and (missing or unexpected):
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} (first: {missing[0]})")
        if unexpected:
            detail.append(f"unexpected {len(unexpected)} (first: {unexpected[0]})")
        raise CheckpointError("weights do not fit the model: " + "; ".join(detail), path=p)
    module.load_state_dict({k: v for k, v in tensors.items() if k in own}, strict=False)
    return missing
