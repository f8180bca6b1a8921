"""Image and depth reading: values, encodings, and one typed error per way a file can be broken."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from handpose.data.image_io import read_depth, read_image, read_label_image, read_mask, read_msra_bin
from handpose.errors import DataError

from .conftest import fixture_path


def _write(path, image_bgr_or_grey, ext=".png"):
    ok, buf = cv2.imencode(ext, image_bgr_or_grey)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_read_image_is_rgb_uint8(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)
    path = _write(tmp_path / "a.png", rgb[..., ::-1].copy())  # OpenCV writes BGR
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (12, 17, 3)
    np.testing.assert_array_equal(out, rgb)  # PNG is lossless: channel order must be RGB


def test_grey_and_alpha_images_become_rgb(tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    out = read_image(_write(tmp_path / "g.png", grey))
    assert out.shape == (4, 5, 3) and np.all(out == grey[..., None])
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 10, 200, 77  # blue 10, red 200
    out = read_image(_write(tmp_path / "a.png", bgra))
    assert out.shape == (3, 3, 3) and tuple(out[0, 0]) == (200, 0, 10)


@pytest.mark.parametrize("orientation,turn", [(1, 0), (6, -1), (8, 1), (3, 2)])
def test_a_photo_is_turned_as_its_exif_orientation_says(tmp_path, orientation, turn):
    # a phone stores a portrait photo sideways with an EXIF orientation tag; a viewer (and cv2.imread) turns it
    # upright: 6 = turn 90 degrees clockwise to display, 8 = counter-clockwise, 3 = 180 degrees
    bgr = np.zeros((40, 80, 3), np.uint8)
    bgr[:20, :40] = (0, 0, 255)  # the top-left quarter red
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    data = buf.tobytes()
    path = tmp_path / "portrait.jpg"
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    out = read_image(path).astype(int)
    want = np.rot90(bgr[..., ::-1], turn).astype(int)  # np.rot90: counter-clockwise for positive turns
    assert out.shape == want.shape
    assert np.abs(out - want).mean() < 6  # JPEG: nearly equal, and far from any other turn
    for other in {0, 1, 2, 3} - {turn % 4}:
        cand = np.rot90(bgr[..., ::-1], other).astype(int)
        assert cand.shape != out.shape or np.abs(out - cand).mean() > 30


def test_real_fixture_jpeg_reads(tmp_path):
    path = fixture_path("mmpose", "freihand", "00000355.jpg")
    img = read_image(path)
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8 and img.std() > 10


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p, jpg: p, "file not found"),
        (lambda p, jpg: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p, jpg: (p.write_bytes(jpg[: len(jpg) // 2]), p)[1], "truncated JPEG"),
        (lambda p, jpg: (p.write_bytes(b"\xff\xd8" + b"garbage" * 50 + b"\xff\xd9"), p)[1], "corrupt"),
        (lambda p, jpg: (p.write_bytes(b"this is not an image at all"), p)[1], "corrupt"),
    ],
)
def test_broken_images_raise_dataerror_naming_the_file(tmp_path, make, message):
    jpg = fixture_path("mmpose", "freihand", "00000355.jpg").read_bytes()
    path = make(tmp_path / "broken.jpg", jpg)
    with pytest.raises(DataError, match=message) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_png_and_directory(tmp_path):
    png = cv2.imencode(".png", np.full((40, 40, 3), 90, np.uint8))[1].tobytes()
    path = tmp_path / "t.png"
    path.write_bytes(png[:-20])
    with pytest.raises(DataError, match="truncated PNG"):
        read_image(path)
    with pytest.raises(DataError, match="not a regular file"):
        read_image(tmp_path)


def test_16bit_image_where_rgb_expected(tmp_path):
    path = _write(tmp_path / "depth.png", np.full((8, 8), 1234, np.uint16))
    with pytest.raises(DataError, match="16-bit .* 8-bit RGB image was expected") as err:
        read_image(path)
    assert "depth.png" in str(err.value)


def test_png16_depth_in_mm(tmp_path):
    depth = np.array([[0, 1, 500], [65535, 800, 3]], np.uint16)
    out = read_depth(_write(tmp_path / "d.png", depth))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, depth.astype(np.float32))
    with pytest.raises(DataError, match="single-channel 16-bit"):
        read_depth(_write(tmp_path / "rgb.png", np.zeros((2, 2, 3), np.uint8)))


def test_packed_depth_encodings(tmp_path):
    d = np.array([[0, 255, 256], [1000, 4095, 65535]], np.int64)
    hi, lo = (d // 256).astype(np.uint8), (d % 256).astype(np.uint8)
    zero = np.zeros_like(hi)
    # NYU: high byte in G, low byte in B  (BGR order for OpenCV: B, G, R)
    nyu = read_depth(_write(tmp_path / "nyu.png", np.dstack([lo, hi, zero])), "nyu")
    np.testing.assert_array_equal(nyu, d)
    # STB: low byte in R, high byte in G
    stb = read_depth(_write(tmp_path / "stb.png", np.dstack([zero, hi, lo])), "stb")
    np.testing.assert_array_equal(stb, d)
    # RHD: high byte in R, low in G, 65535 = 5 m
    rhd = read_depth(_write(tmp_path / "rhd.png", np.dstack([zero, lo, hi])), "rhd")
    np.testing.assert_allclose(rhd, d * 5000.0 / 65535.0, rtol=1e-6)
    with pytest.raises(DataError, match="unknown depth encoding"):
        read_depth(tmp_path / "nyu.png", "kinect9")


def _msra_bytes(width, height, box, values):
    left, top, right, bottom = box
    return struct.pack("<6I", width, height, left, top, right, bottom) + np.asarray(values, "<f4").tobytes()


def test_msra_bin(tmp_path, rng):
    crop = rng.uniform(300, 600, size=(5, 7)).astype(np.float32)
    crop[0, 0] = 0
    path = tmp_path / "000000_depth.bin"
    path.write_bytes(_msra_bytes(320, 240, (100, 50, 107, 55), crop.ravel()))
    depth, box = read_msra_bin(path)
    assert depth.shape == (240, 320) and box == (100, 50, 107, 55)
    np.testing.assert_array_equal(depth[50:55, 100:107], crop)
    assert depth.sum() == pytest.approx(crop.sum(), rel=1e-6)  # nothing outside the box
    np.testing.assert_array_equal(read_depth(path), depth)  # .bin -> msra_bin with encoding auto
    path.write_bytes(_msra_bytes(320, 240, (100, 50, 107, 55), crop.ravel()[:-3]))
    with pytest.raises(DataError, match="truncated MSRA depth file"):
        read_msra_bin(path)
    path.write_bytes(_msra_bytes(320, 240, (300, 50, 400, 55), []))
    with pytest.raises(DataError, match="outside the 320x240 image"):
        read_msra_bin(path)
    path.write_bytes(b"\x01\x02")
    with pytest.raises(DataError, match="header alone is 24"):
        read_msra_bin(path)


def test_masks(tmp_path):
    grey = np.zeros((4, 4), np.uint8)
    grey[1:3, 1:3] = 255
    mask = read_mask(_write(tmp_path / "m.png", grey))
    assert mask.dtype == bool and mask.sum() == 4 and mask[1, 1]
    labels = np.array([[0, 1, 2], [17, 18, 33]], np.uint8)
    np.testing.assert_array_equal(read_label_image(_write(tmp_path / "l.png", labels)), labels)


def _with_png_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG ``data`` with its IHDR chunk declaring ``width`` x ``height`` (and a CRC that matches)."""
    import zlib

    ihdr = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def _with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    i = data.index(b"\xff\xc0")  # the baseline frame header: FF C0, length, precision, height, width
    return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]


def test_a_huge_declared_image_is_refused_before_decoding(tmp_path, monkeypatch):
    """A header declaring 100,000 x 100,000 pixels (30 GB as RGB) is refused from the header alone, for PNG and
    JPEG, photos and depth maps; the limit (8192 x 8192 by default) moves with HANDPOSE_MAX_IMAGE_PIXELS."""
    from handpose.data.image_io import MAX_IMAGE_PIXELS, declared_size

    png = cv2.imencode(".png", np.zeros((6, 8, 3), np.uint8))[1].tobytes()
    jpg = cv2.imencode(".jpg", np.zeros((6, 8, 3), np.uint8))[1].tobytes()
    png16 = cv2.imencode(".png", np.full((6, 8), 500, np.uint16))[1].tobytes()
    assert declared_size(png) == declared_size(jpg) == declared_size(png16) == (8, 6)
    assert MAX_IMAGE_PIXELS == 8192 * 8192
    cases = [("big.png", _with_png_size(png, 100_000, 100_000), read_image),
             ("big.jpg", _with_jpeg_size(jpg, 65_000, 60_000), read_image),
             ("big16.png", _with_png_size(png16, 100_000, 100_000), read_depth)]  # fmt: skip
    for name, data, read in cases:
        path = tmp_path / name
        path.write_bytes(data)
        message = rf"{name}: the header declares a \d+ x \d+ image \([\d,]+ pixels\), more than the 67,108,864"
        with pytest.raises(DataError, match=message):
            read(path)
    zero = tmp_path / "zero.png"
    zero.write_bytes(_with_png_size(png, 0, 6))
    with pytest.raises(DataError, match="declares a 0 x 6 image"):
        read_image(zero)
    # a lower limit refuses the small image too; a malformed setting is named
    small = tmp_path / "small.png"
    small.write_bytes(png)
    monkeypatch.setenv("HANDPOSE_MAX_IMAGE_PIXELS", "40")
    with pytest.raises(DataError, match=r"8 x 6 image \(48 pixels\), more than the 40 that are read"):
        read_image(small)
    monkeypatch.setenv("HANDPOSE_MAX_IMAGE_PIXELS", "48")
    assert read_image(small).shape == (6, 8, 3)
    monkeypatch.setenv("HANDPOSE_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(DataError, match="HANDPOSE_MAX_IMAGE_PIXELS: must be a positive integer"):
        read_image(small)


def test_opencv_gets_the_same_limit_for_other_formats():
    import os

    import handpose  # noqa: F401 - sets the variable before cv2 is loaded

    assert os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == str(1 << 26)
