"""Uploaded bytes to an RGB frame, with the size checked from the header before anything is decoded.

:func:`image_header` reads the format and the declared width x height from the first bytes of a JPEG, PNG, BMP
or WebP file (the formats browsers and cameras send), so an image that declares 100,000 x 100,000 pixels is
refused by :func:`check_image` before a decoder allocates anything. :func:`decode_rgb` then decodes the way
:func:`handpose.data.image_io.read_image` reads a file (OpenCV, EXIF orientation applied, grey and BGRA turned
into RGB, 16-bit refused; a JPEG without its end-of-image marker or a PNG without IEND is truncated), so the server
sees the same pixels as ``handpose predict`` does for the same file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .config import RequestError

FORMATS = ("jpeg", "png", "bmp", "webp")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header declares: ``format`` (one of :data:`FORMATS`), ``width`` and ``height`` px."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _bad(problem: str, code: str = "not_an_image", status: int = 415) -> RequestError:
    return RequestError(problem, status=status, code=code, field="image")


def _truncated(fmt: str) -> RequestError:
    return _bad(f"truncated {fmt} (the header ends early)", code="corrupt_image", status=400)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first start-of-frame marker; markers before it are skipped by their lengths."""
    i, n = 2, len(data)
    while True:
        while i < n and data[i] != 0xFF:  # garbage between segments: tolerated, as decoders do
            i += 1
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise _truncated("JPEG")
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):
            raise _bad("JPEG without a frame header before its image data", code="corrupt_image", status=400)
        if i + 2 > n:
            raise _truncated("JPEG")
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2:
            raise _bad(f"JPEG segment of impossible length {length}", code="corrupt_image", status=400)
        if marker in _JPEG_SOF:
            if i + 7 > n:
                raise _truncated("JPEG")
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return width, height
        i += length


def image_header(data: bytes) -> ImageHeader:
    """Format and declared size of an encoded image, from its first bytes only.

    Raises:
        RequestError: 415 ``not_an_image`` for anything that is not JPEG, PNG, BMP or WebP; 400 ``corrupt_image``
            when the header is cut short or inconsistent.
    """
    if data.startswith(b"\xff\xd8"):
        fmt = "jpeg"
        width, height = _jpeg_size(data)
    elif data.startswith(_PNG_MAGIC):
        fmt = "png"
        if len(data) < 24:
            raise _truncated("PNG")
        if data[12:16] != b"IHDR":
            raise _bad("PNG without an IHDR chunk first", code="corrupt_image", status=400)
        width, height = struct.unpack(">II", data[16:24])
    elif data.startswith(b"BM"):
        fmt = "bmp"
        if len(data) < 26:
            raise _truncated("BMP")
        (dib,) = struct.unpack("<I", data[14:18])
        if dib == 12:
            width, height = struct.unpack("<HH", data[18:22])
        else:
            width, height = struct.unpack("<ii", data[18:26])
            width, height = abs(width), abs(height)  # a negative height is a top-down bitmap
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt = "webp"
        if len(data) < 30:
            raise _truncated("WebP")
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
        elif chunk == b"VP8L":
            if data[20] != 0x2F:
                raise _bad("WebP lossless chunk without its signature", code="corrupt_image", status=400)
            (bits,) = struct.unpack("<I", data[21:25])
            width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        elif chunk == b"VP8 ":
            if data[23:26] != b"\x9d\x01\x2a":
                raise _bad("WebP lossy chunk without its start code", code="corrupt_image", status=400)
            w16, h16 = struct.unpack("<HH", data[26:30])
            width, height = w16 & 0x3FFF, h16 & 0x3FFF
        else:
            raise _bad(f"WebP with an unknown first chunk {chunk!r}", code="corrupt_image", status=400)
    else:
        raise _bad("not an image (send JPEG, PNG, BMP or WebP bytes)")
    if width <= 0 or height <= 0:
        raise _bad(f"the {fmt.upper()} header declares a zero size ({width} x {height})", code="corrupt_image",
                   status=400)  # fmt: skip
    return ImageHeader(fmt, int(width), int(height))


def check_image(data: bytes, max_pixels: int) -> ImageHeader:
    """:func:`image_header`, and 413 ``too_many_pixels`` when the declared size exceeds ``max_pixels``."""
    header = image_header(data)
    if header.pixels > max_pixels:
        raise RequestError(
            f"declares {header.width} x {header.height} = {header.pixels / 1e6:.1f} megapixels; the "
            f"limit is {max_pixels / 1e6:g} megapixels",
            status=413,
            code="too_many_pixels",
            field="image",
        )
    return header


def _check_complete(data: bytes, header: ImageHeader) -> None:
    """Truncated JPEG / PNG files, which OpenCV would otherwise decode into a partly grey image."""
    if header.format == "jpeg":
        tail = data.rstrip(b"\x00\r\n ")
        if not tail.endswith(b"\xff\xd9") and b"\xff\xd9" not in data[-4096:]:
            raise _bad("truncated JPEG (no end-of-image marker)", code="corrupt_image", status=400)
    elif header.format == "png" and _PNG_END not in data[-64:]:
        raise _bad("truncated PNG (no IEND chunk)", code="corrupt_image", status=400)


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) uint8 RGB, after :func:`check_image`.

    Raises:
        RequestError: 415 not an image, 413 over ``max_pixels``, 400 truncated or corrupt, 422 a 16-bit image.
    """
    import cv2

    header = check_image(data, max_pixels)
    _check_complete(data, header)
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as exc:
        raise _bad(f"corrupt {header.format.upper()} ({' '.join(str(exc).split())[:120]})", code="corrupt_image",
                   status=400) from None  # fmt: skip
    if img is None or img.size == 0:
        raise _bad(f"corrupt {header.format.upper()} (the decoder could not read it)", code="corrupt_image",
                   status=400)  # fmt: skip
    if img.shape[0] * img.shape[1] > max_pixels:  # the header lied (an EXIF rotation keeps the count)
        raise RequestError("larger than its header declared", status=413,
                           code="too_many_pixels", field="image")  # fmt: skip
    if img.dtype != np.uint8:
        raise _bad(f"{8 * img.dtype.itemsize}-bit image where an 8-bit RGB image was expected",
                   code="unsupported_image", status=422)  # fmt: skip
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    raise _bad(f"unsupported image layout {img.shape}", code="unsupported_image", status=422)
