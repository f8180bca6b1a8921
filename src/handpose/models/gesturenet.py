"""GestureNet of "Multihead Self Attention Hand Pose Estimation" (Table 3): static gesture classification from the
21 predicted 2D points.

Table 3 (input "PointsPre" 2×21: the x row and the y row of the normalised points, see
:func:`handpose.codecs.gesture.normalize_keypoints`)::

    1  Conv+relu 1×7          -> 2×21×16
    2  Conv+relu 1×7          -> 2×21×16
    3  meanpool 2×1           -> 1×21×16
    4  FC+ReLU+Dropout(0.5)   -> 128
    5  FC                     -> classes (35 in the paper)

The points are treated as a one-channel 2×21 image; the 1×7 convolutions slide along the joint axis (padding 3, so
21 positions stay 21) and the 2×1 mean pool averages the x and y rows. Table 3 writes "FC+ReLU+Dropout(0.2)" for the
last layer; a ReLU and dropout on the class logits would clip negative logits and add noise to the prediction, so the
last layer here is a plain linear layer to the logits (``final_dropout`` applies dropout *before* it if wanted).

Classes: configurable. The default is the synthetic gesture vocabulary (``len(handpose.data.synthetic.GESTURES)``);
if that module cannot be imported the default falls back to 12 classes (``DEFAULT_CLASSES_FALLBACK``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import Tensor, nn

from ..codecs.gesture import GestureCodec
from ..losses import cross_entropy
from ..registry import register_model
from ..skeleton import NUM_JOINTS
from .base import HandModel, ModelSpec

PAPER = "Multihead Self Attention Hand Pose Estimation"
PAPER_CLASSES = 35
DEFAULT_CLASSES_FALLBACK = 12


def default_gesture_classes() -> tuple[int, list[str] | None]:
    """(number of classes, names) of the synthetic gesture vocabulary, or (12, None) if it is not available."""
    try:
        from ..data.synthetic import GESTURES  # type: ignore[attr-defined]
    except ImportError:
        try:
            from ..data.synthetic.gestures import GESTURES
        except ImportError:
            return DEFAULT_CLASSES_FALLBACK, None
    names = [str(g if isinstance(g, str) else getattr(g, "name", g)) for g in GESTURES]
    return len(names), names


class GestureNet(HandModel):
    """Table 3 of the MSAHP paper.

    Args:
        num_classes: output classes (None: the synthetic vocabulary, see the module docstring).
        class_names: optional class names (kept in the codec).
        num_joints: points per hand (21).
        channels: channels of the two 1×7 convolutions (16).
        kernel: kernel length along the joints (7).
        hidden: width of the first FC layer (128).
        dropout: dropout after the first FC layer (0.5).
        final_dropout: dropout before the last FC layer (0: none).
        name: registry name stored in the spec.

    Input: (B, 2, J) normalised points. Output: ``logits`` (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        num_joints: int = NUM_JOINTS,
        channels: int = 16,
        kernel: int = 7,
        hidden: int = 128,
        dropout: float = 0.5,
        final_dropout: float = 0.0,
        name: str = "gesturenet",
    ) -> None:
        super().__init__()
        if num_classes is None:
            num_classes, default_names = default_gesture_classes()
            class_names = class_names if class_names is not None else default_names
        self.config: dict[str, Any] = dict(
            num_classes=num_classes,
            class_names=class_names,
            num_joints=num_joints,
            channels=channels,
            kernel=kernel,
            hidden=hidden,
            dropout=dropout,
            final_dropout=final_dropout,
            name=name,
        )
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="keypoints",
            in_channels=2,
            input_size=None,
            num_joints=num_joints,
            task="gesture",
            main_metric="accuracy",
            higher_is_better=True,
            outputs=("logits",),
        )
        self.codec = GestureCodec(num_classes, class_names)
        pad = (0, kernel // 2)
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, channels, (1, kernel), padding=pad),
                relu1=nn.ReLU(inplace=True),
                conv2=nn.Conv2d(channels, channels, (1, kernel), padding=pad),
                relu2=nn.ReLU(inplace=True),
                meanpool=nn.AvgPool2d((2, 1)),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(channels * num_joints, hidden),
                relu=nn.ReLU(inplace=True),
                dropout=nn.Dropout(dropout),
                final_dropout=nn.Dropout(final_dropout),
                fc2=nn.Linear(hidden, num_classes),
            )
        )

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        f = self.features(x.unsqueeze(1))  # (B, 1, 2, J) -> (B, C, 1, J)
        return {"logits": self.classifier(f.flatten(1))}  # (B, K)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        ce = cross_entropy(outputs["logits"], targets["label"].reshape(-1))  # (B,) or a collated (B, 1)
        return ce, {"loss": float(ce.detach()), "ce": float(ce.detach())}


@register_model("gesturenet")
def gesturenet(**kwargs: Any) -> GestureNet:
    """Table 3 with the synthetic gesture vocabulary as classes (``num_classes=35`` for the paper's RWTH setup)."""
    kwargs.setdefault("name", "gesturenet")
    return GestureNet(**kwargs)
