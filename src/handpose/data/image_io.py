"""Reading colour images and depth maps, with one typed error per way a file can be wrong.

Every reader and the inference code go through these functions, so a missing, empty, truncated or corrupt file,
or a 16-bit depth map passed where a colour photo is expected, always gives a :class:`~handpose.errors.DataError`
that names the file and the problem instead of a ``None`` from OpenCV or a grey half-image.

Depth encodings (all returned as float32 millimetres, 0 = no measurement):

``png16``
    single-channel 16-bit PNG holding millimetres (ICVL; most modern sensors' exports).
``nyu``
    NYU Hand Pose Dataset: an 8-bit RGB PNG with the depth's high byte in G and its low byte in B,
    ``d = 256 * G + B`` mm (the dataset's ``depth_*.png`` / ``synthdepth_*.png`` files).
``stb``
    Stereo Hand Pose Tracking Benchmark ``SK_depth_*.png``: low byte in R, high byte in G, ``d = R + 256 * G`` mm.
``rhd``
    Rendered Hand Pose Dataset ``depth/*.png``: high byte in R, low byte in G, scaled so that 65535 is 5 m
    (``d = (256 * R + G) / 65535 * 5000`` mm), as the dataset's README and sample script define it.
``msra_bin``
    MSRA Hand Gesture 2015 ``*_depth.bin``: six little-endian uint32 ``img_width img_height left top right bottom``
    followed by ``(right-left) * (bottom-top)`` float32 millimetres of the hand box in row order (dataset README).
``auto``
    ``msra_bin`` for ``.bin`` files, ``png16`` for single-channel 16-bit images; anything else must be named.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

DEPTH_ENCODINGS: tuple[str, ...] = ("auto", "png16", "nyu", "stb", "rhd", "msra_bin")

#: the largest image, in pixels, that is decoded: 8192 x 8192 (a 50-megapixel photo fits). A file that declares
#: more is refused before a single pixel is allocated -- a corrupt or hostile header cannot make a reader ask for
#: gigabytes. ``HANDPOSE_MAX_IMAGE_PIXELS`` raises or lowers it. (OpenCV gets the same limit for the formats whose
#: headers are not read here: see ``OPENCV_IO_MAX_IMAGE_PIXELS`` in :mod:`handpose`.)
MAX_IMAGE_PIXELS = 1 << 26

_JPEG_MAGIC = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_MSRA_HEADER_BYTES = 24
#: JPEG start-of-frame markers (the ones that carry the image size): C0-CF except DHT (C4), JPG (C8), DAC (CC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def max_image_pixels() -> int:
    """The decoding limit in pixels: ``HANDPOSE_MAX_IMAGE_PIXELS`` if set (a positive integer), else
    :data:`MAX_IMAGE_PIXELS`."""
    text = os.environ.get("HANDPOSE_MAX_IMAGE_PIXELS", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise DataError(f"must be a positive integer, got {text!r}", field="HANDPOSE_MAX_IMAGE_PIXELS")
        return value
    return MAX_IMAGE_PIXELS


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) that a PNG or JPEG file's header declares, read without decoding; None for other formats or
    a header too damaged to say (the decoder then reports it)."""
    if data.startswith(_PNG_MAGIC):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        return None
    if not data.startswith(_JPEG_MAGIC):
        return None
    i, n = 2, len(data)
    while i + 4 <= n:  # marker segments: FF xx [length (2 bytes, big-endian, includes itself)] ...; i only grows
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers (TEM, RSTn, SOI): no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan data begins before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if length < 7 or i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + max(length, 2)
    return None


def _check_declared_size(data: bytes, path: Path) -> None:
    size = declared_size(data)
    if size is None:
        return
    width, height = size
    if width == 0 or height == 0:
        raise DataError(f"the header declares a {width} x {height} image (zero size)", path=path)
    limit = max_image_pixels()
    if width * height > limit:
        raise DataError(
            f"the header declares a {width} x {height} image ({width * height:,} pixels), more than the {limit:,} "
            "that are read (set HANDPOSE_MAX_IMAGE_PIXELS to read larger images)",
            path=path,
        )


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``; a missing, unreadable or empty file raises :class:`DataError` naming it."""
    path = Path(path)
    try:
        if not path.exists():
            raise DataError("file not found", path=path)
        if not path.is_file():
            raise DataError("not a regular file", path=path)
        data = path.read_bytes()
    except OSError as exc:  # a name too long, a folder that cannot be listed, a read error
        raise DataError(f"cannot read file ({exc.strerror or exc})", path=path) from None
    if not data:
        raise DataError("empty file (0 bytes)", path=path)
    return data


def _check_complete(data: bytes, path: Path) -> None:
    """Catch truncated JPEG and PNG files, which OpenCV would otherwise decode into a partly grey image."""
    if data.startswith(_JPEG_MAGIC):
        tail = data.rstrip(b"\x00\r\n ")
        # the end-of-image marker closes every complete JPEG; a few cameras append data after it
        if not tail.endswith(b"\xff\xd9") and b"\xff\xd9" not in data[-4096:]:
            raise DataError("truncated JPEG (no end-of-image marker)", path=path)
    elif data.startswith(_PNG_MAGIC):
        if _PNG_END not in data[-64:]:
            raise DataError("truncated PNG (no IEND chunk)", path=path)


def _decode(data: bytes, path: Path) -> np.ndarray:
    _check_complete(data, path)
    _check_declared_size(data, path)
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        # ANYDEPTH keeps 16-bit data 16-bit (so it can be recognised), ANYCOLOR keeps grey images grey;
        # EXIF orientation is applied as cv2.imread does by default
        img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as exc:
        raise DataError(f"corrupt image ({' '.join(str(exc).split())[:120]})", path=path) from None
    if img is None:
        raise DataError("corrupt or unsupported image (the decoder could not read it)", path=path)
    if img.size == 0:
        raise DataError("image has zero size", path=path)
    return img


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a colour image as (H, W, 3) uint8 RGB.

    Grey 8-bit images are repeated into three channels and an alpha channel is dropped; a 16-bit colour image (a
    high-bit-depth photo) keeps its top 8 bits.

    Raises:
        DataError: naming the file, when it is missing, empty, truncated, corrupt, of zero size, or holds
            single-channel 16-bit or floating-point data (a depth map given where a photo was expected).
    """
    path = Path(path)
    img = _decode(read_bytes(path), path)
    if img.dtype == np.uint16 and img.ndim == 3:  # a high-bit-depth colour photo: its top 8 bits
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        bits = 8 * img.dtype.itemsize
        kind = "single-channel " if img.ndim == 2 else ""
        raise DataError(
            f"{bits}-bit {img.dtype} {kind}image where an 8-bit RGB image was expected (a depth map? read it as depth: "
            "handpose predict --depth, or handpose.data.image_io.read_depth)",
            path=path,
        )
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    raise DataError(f"unsupported image layout {img.shape}", path=path)


def read_mask(path: str | os.PathLike[str], threshold: int = 127) -> np.ndarray:
    """Read a binary mask image (any 8-bit PNG / JPEG) as (H, W) bool: True where the grey value > ``threshold``."""
    path = Path(path)
    img = _decode(read_bytes(path), path)
    if img.dtype != np.uint8:
        return img.reshape(img.shape[0], img.shape[1], -1).max(axis=2) > 0
    if img.ndim == 3:
        img = img[..., :3].max(axis=2)
    return img > threshold


def read_label_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit class-label image (such as RHD's ``mask/*.png``) as (H, W) uint8, without interpolation."""
    path = Path(path)
    img = _decode(read_bytes(path), path)
    if img.dtype != np.uint8:
        raise DataError(f"label image must be 8-bit, got {img.dtype}", path=path)
    return img if img.ndim == 2 else img[..., 0]


def read_msra_bin(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Read an MSRA 2015 ``*_depth.bin`` file.

    Returns:
        (depth, box): depth is the full (img_height, img_width) float32 map in mm with the stored hand box filled in
        and 0 elsewhere; box is (left, top, right, bottom) in pixels, right/bottom exclusive.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < _MSRA_HEADER_BYTES:
        raise DataError(f"truncated MSRA depth file: {len(data)} bytes, the header alone is 24", path=path)
    width, height, left, top, right, bottom = (int(v) for v in np.frombuffer(data[:24], dtype="<u4"))
    if not (0 < width <= 16384 and 0 < height <= 16384):
        raise DataError(f"corrupt MSRA header: image size {width}x{height}", path=path)
    if width * height > max_image_pixels():  # the full frame is allocated whatever the size of the box
        raise DataError(
            f"corrupt MSRA header: a {width} x {height} image, more than the {max_image_pixels():,} pixels that are "
            "read (set HANDPOSE_MAX_IMAGE_PIXELS to read larger images)",
            path=path,
        )
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise DataError(
            f"corrupt MSRA header: box left={left} top={top} right={right} bottom={bottom} "
            f"outside the {width}x{height} image",
            path=path,
        )
    count = (right - left) * (bottom - top)
    expected = _MSRA_HEADER_BYTES + 4 * count
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "corrupt"
        raise DataError(f"{kind} MSRA depth file: {len(data)} bytes, expected {expected} for the header box", path=path)
    crop = np.frombuffer(data[_MSRA_HEADER_BYTES:], dtype="<f4").reshape(bottom - top, right - left)
    depth = np.zeros((height, width), np.float32)
    depth[top:bottom, left:right] = crop
    return _clean_depth(depth), (left, top, right, bottom)


def read_depth(path: str | os.PathLike[str], encoding: str = "auto") -> np.ndarray:
    """Read a depth map as (H, W) float32 millimetres, 0 where the sensor has no measurement.

    Args:
        path: the depth file.
        encoding: one of :data:`DEPTH_ENCODINGS` (see the module docstring for each dataset's packing).

    Raises:
        DataError: naming the file, when it is missing, empty, truncated, corrupt, or not in the named encoding.
    """
    path = Path(path)
    if encoding not in DEPTH_ENCODINGS:
        raise DataError(f"unknown depth encoding {encoding!r}; known: {', '.join(DEPTH_ENCODINGS)}", path=path)
    if encoding == "msra_bin" or (encoding == "auto" and path.suffix.lower() == ".bin"):
        return read_msra_bin(path)[0]
    img = _decode(read_bytes(path), path)
    if encoding in ("auto", "png16"):
        if img.ndim != 2 or img.dtype != np.uint16:
            raise DataError(
                f"expected a single-channel 16-bit depth image (mm), got {img.dtype} with shape {img.shape}"
                + (
                    "; name the packing (handpose predict --depth-encoding nyu, stb or rhd; encoding= in Python)"
                    if img.ndim == 3
                    else ""
                ),
                path=path,
            )
        return img.astype(np.float32)
    if img.ndim != 3 or img.shape[2] < 3 or img.dtype != np.uint8:
        raise DataError(
            f"{encoding} depth must be an 8-bit 3-channel PNG, got {img.dtype} with shape {img.shape}", path=path
        )
    b, g, r = (img[..., k].astype(np.float32) for k in range(3))  # OpenCV decodes to BGR
    if encoding == "nyu":
        depth = 256.0 * g + b
    elif encoding == "stb":
        depth = r + 256.0 * g
    else:  # rhd
        depth = (256.0 * r + g) * (5000.0 / 65535.0)
    return _clean_depth(depth)


def _clean_depth(depth: np.ndarray) -> np.ndarray:
    depth = depth.astype(np.float32, copy=False)
    bad = ~np.isfinite(depth) | (depth < 0)
    if bad.any():
        depth = depth.copy()
        depth[bad] = 0.0
    return depth
