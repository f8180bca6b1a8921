"""Value-range checks shared by the depth / 3D models, on top of :meth:`HandModel.check_input` (shape, dtype, NaN).

The input conventions (:mod:`handpose.models.base`) are depth normalised to [-1, 1] within the hand cube and RGB in
[0, 1]. The two common mistakes are feeding raw depth in millimetres (hundreds) and 0-255 pixels; both are far
outside the convention, while augmentation noise or a standardised test tensor stays within a few units. So a value
whose magnitude exceeds :data:`MAX_ABS_VALUE` is rejected with a message naming the expected range.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ModelInputError

#: inputs with any |value| above this are rejected (raw millimetres or 0-255 pixels, not normalised values)
MAX_ABS_VALUE = 10.0

EXPECTED_RANGE = {
    "depth": "depth normalised to [-1, 1] within the hand cube (1 = background); raw millimetres? "
    "crop with handpose.data.crop first",
    "rgb": "RGB values in [0, 1]; 0-255 pixels? divide by 255",
}


def check_value_range(name: str, modality: str, x: Tensor) -> None:
    """Raise :class:`ModelInputError` if ``x`` holds values far outside ``modality``'s convention."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return
    if modality not in EXPECTED_RANGE or x.numel() == 0:
        return
    biggest = float(x.detach().abs().max())
    if biggest > MAX_ABS_VALUE:
        lo, hi = float(x.detach().min()), float(x.detach().max())
        raise ModelInputError(
            f"{name} expects {EXPECTED_RANGE[modality]}; got values in [{lo:.4g}, {hi:.4g}]", field="input"
        )
