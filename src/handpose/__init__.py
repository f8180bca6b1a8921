"""handpose: hand pose estimation — five published systems, trained, evaluated and deployed on a CPU.

The flat public API is imported lazily so that ``import handpose`` stays fast and does not pull torch in.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# FFmpeg prints its own notes on broken videos ("moov atom not found") to stderr while OpenCV opens or reads them;
# handpose's errors say what went wrong in one line. OpenCV reads this once, at the first video it opens in the
# process, so it is set here, before any; a user who wants FFmpeg's notes sets the variable.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
# The same limit on decoded image size as handpose.data.image_io.MAX_IMAGE_PIXELS, for the image formats whose
# headers handpose does not read itself (OpenCV's default, 2^30 pixels, lets one corrupt header ask for 3 GB). OpenCV
# reads it when it is loaded, so it is set here, before cv2 is imported.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 26))

_LAZY = {
    "create_model": "handpose.registry",
    "list_models": "handpose.registry",
    "register_model": "handpose.registry",
    "load_checkpoint": "handpose.engine.checkpoint",
    "HandPoseEstimator": "handpose.inference",
    "draw_hand": "handpose.report.draw",
    "Sample": "handpose.data.sample",
    "Intrinsics": "handpose.geometry",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'handpose' has no attribute {name!r}")
