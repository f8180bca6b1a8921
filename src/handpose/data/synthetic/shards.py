"""The on-disk format of the synthetic world: ``.npz`` shards plus a JSON index, schema version 1.

A split folder (``OUT_DIR/train``, ``OUT_DIR/val``, ``OUT_DIR/test``) holds::

    generation.json      the generation settings, written first (a resumed run must match them)
    shard-00000.npz      frames [0, S), S = shard size
    shard-00001.npz      frames [S, 2S) ...
    index.json           written last: the list of shards with their sizes and SHA-256; its presence marks
                         the split as complete

Each shard is a zip of ``.npy`` arrays (no compression, no pickle; readable with ``np.load(allow_pickle=False)``),
written atomically and byte-for-byte deterministic (fixed member order and timestamps). With N frames:

* ``meta``: uint8, UTF-8 JSON ``{"schema_version", "fingerprint", "split", "start", "count"}``;
* ``frame_index``: (N,) int64 frame numbers within the split;
* the labels of :data:`.world.LABEL_FIELDS`, each with a leading N axis (see docs/synthetic.md);
* ``rgb_bytes`` / ``rgb_offsets``: the JPEG files of the RGB frames, concatenated, and (N + 1,) int64 offsets;
* ``depth_bytes`` / ``depth_offsets``: 16-bit PNG depth frames in mm (0 = invalid);
* ``seg_bytes`` / ``seg_offsets``: 8-bit PNG segmentation (0 background, 1 hand, 2 forearm, 3 hand hidden by an
  occluder, 4 occluder).

Labels are plain arrays, so they can be read without decoding a single image. Image blobs are read by offset
(the shard is stored uncompressed), so random access costs one small read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ...errors import DataError
from .world import LABEL_FIELDS, Frame

SCHEMA_VERSION = 1
SHARD_PATTERN = "shard-{:05d}.npz"
BLOBS = ("rgb", "depth", "seg")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# fast PNG settings (measured on noisy 320x240 depth: 2 ms, 71 KB; the default filters take twice as long)
_PNG_DEPTH = [
    cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
]  # fmt: skip
_PNG_SEG = [
    cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
]  # fmt: skip


def shard_name(k: int) -> str:
    return SHARD_PATTERN.format(k)


def encode_frame(frame: Frame) -> dict[str, bytes]:
    """Encode a frame's images: JPEG (RGB, at the frame's own quality), 16-bit PNG (depth), 8-bit PNG (seg)."""
    out: dict[str, bytes] = {}
    if frame.image is not None:
        q = int(frame.labels["jpeg_quality"])
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out["rgb"] = buf.tobytes()
    if frame.depth is not None:
        d16 = np.clip(frame.depth, 0, 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", d16, _PNG_DEPTH)
        if not ok:
            raise RuntimeError("PNG encoding failed")
        out["depth"] = buf.tobytes()
    ok, buf = cv2.imencode(".png", frame.seg, _PNG_SEG)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    out["seg"] = buf.tobytes()
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def build_shard(
    frames_labels: list[dict[str, np.ndarray]],
    blobs: list[dict[str, bytes]],
    frame_index: np.ndarray,
    meta: dict,
) -> bytes:
    """The bytes of one shard (a deterministic, uncompressed zip of .npy members)."""
    n = len(frames_labels)
    arrays: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        "frame_index": np.asarray(frame_index, dtype=np.int64),
    }
    for name, (shape, dtype) in LABEL_FIELDS.items():
        arr = np.empty((n, *shape), dtype=dtype)
        for i, lab in enumerate(frames_labels):
            arr[i] = lab[name]
        arrays[name] = arr
    for kind in BLOBS:
        if n and kind not in blobs[0]:
            continue
        parts = [b[kind] for b in blobs]
        offsets = np.zeros(n + 1, np.int64)
        offsets[1:] = np.cumsum([len(p) for p in parts])
        arrays[f"{kind}_offsets"] = offsets
        arrays[f"{kind}_bytes"] = np.frombuffer(b"".join(parts), dtype=np.uint8)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arr))
    return out.getvalue()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def read_meta(path: str | os.PathLike[str]) -> dict:
    """The ``meta`` record of a shard; DataError if the shard cannot be read."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = data["meta"]
        return json.loads(raw.tobytes().decode())
    except FileNotFoundError:
        raise DataError("shard not found", path=path) from None
    except Exception as exc:
        raise DataError(f"corrupt shard ({type(exc).__name__}: {exc})", path=path) from None


class ShardReader:
    """Random access to one shard: labels in memory, image blobs read by offset on demand.

    Args:
        path: the shard file.
        expected: optional ``{"bytes": int, "sha256": str}`` from the index; the file is checked against them
            the first time an image is read (a mismatch raises DataError naming the shard).
    """

    def __init__(self, path: str | os.PathLike[str], expected: dict | None = None) -> None:
        self.path = Path(path)
        self.expected = expected or {}
        self._verified = not self.expected
        self._blob_start: dict[str, int] = {}
        self._offsets: dict[str, np.ndarray] = {}
        self.labels: dict[str, np.ndarray] = {}
        self._load()

    def _fail(self, problem: str) -> DataError:
        return DataError(problem, path=self.path)

    def _load(self) -> None:
        if not self.path.is_file():
            raise self._fail("shard not found")
        size = self.path.stat().st_size
        if "bytes" in self.expected and size != self.expected["bytes"]:
            raise self._fail(f"shard has {size} bytes, the index says {self.expected['bytes']} (truncated or replaced)")
        try:
            with np.load(self.path, allow_pickle=False) as data:
                names = set(data.files)
                self.meta = json.loads(data["meta"].tobytes().decode())
                self.frame_index = data["frame_index"]
                for name in LABEL_FIELDS:
                    if name not in names:
                        raise self._fail(f"shard has no {name!r} array")
                    self.labels[name] = data[name]
                for kind in BLOBS:
                    if f"{kind}_offsets" in names:
                        self._offsets[kind] = data[f"{kind}_offsets"]
            with zipfile.ZipFile(self.path) as zf, open(self.path, "rb") as fh:
                for kind in self._offsets:
                    self._blob_start[kind] = _member_data_offset(zf.getinfo(f"{kind}_bytes.npy"), fh)
        except DataError:
            raise
        except Exception as exc:
            raise self._fail(f"corrupt shard ({type(exc).__name__}: {exc})") from None
        n = len(self.frame_index)
        if self.meta.get("schema_version") != SCHEMA_VERSION:
            raise self._fail(f"shard schema version {self.meta.get('schema_version')}, expected {SCHEMA_VERSION}")
        for name, (shape, _) in LABEL_FIELDS.items():
            if self.labels[name].shape != (n, *shape):
                raise self._fail(f"{name} has shape {self.labels[name].shape}, expected {(n, *shape)}")
        for kind, off in self._offsets.items():
            if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) <= 0):
                raise self._fail(f"{kind}_offsets is not a valid offset table")

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._offsets)

    def verify(self) -> None:
        """Check the file's SHA-256 against the index (once)."""
        if self._verified:
            return
        digest = sha256_file(self.path)
        if digest != self.expected.get("sha256", digest):
            raise self._fail("shard content does not match its SHA-256 in index.json (corrupted)")
        self._verified = True

    def blob(self, kind: str, i: int) -> bytes:
        """The encoded bytes of frame ``i``'s ``kind`` image ("rgb", "depth" or "seg")."""
        if kind not in self._offsets:
            raise self._fail(f"shard has no {kind} images")
        self.verify()
        off = self._offsets[kind]
        start, end = int(off[i]), int(off[i + 1])
        with open(self.path, "rb") as fh:
            fh.seek(self._blob_start[kind] + start)
            data = fh.read(end - start)
        if len(data) != end - start:
            raise self._fail(f"frame {i}: {kind} image truncated")
        return data

    def image(self, kind: str, i: int) -> np.ndarray:
        """Decoded image: rgb (H, W, 3) uint8 RGB, depth (H, W) float32 mm, seg (H, W) uint8."""
        data = np.frombuffer(self.blob(kind, i), np.uint8)
        flag = cv2.IMREAD_COLOR if kind == "rgb" else cv2.IMREAD_UNCHANGED
        img = cv2.imdecode(data, flag)
        if img is None:
            raise self._fail(f"frame {i}: cannot decode its {kind} image")
        if kind == "rgb":
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if kind == "depth":
            if img.dtype != np.uint16 or img.ndim != 2:
                raise self._fail(f"frame {i}: depth image is {img.dtype} {img.shape}, expected 16-bit single channel")
            return img.astype(np.float32)
        return img


def _member_data_offset(info: zipfile.ZipInfo, fh) -> int:
    """Absolute file offset of the array data of a stored .npy zip member."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{info.filename} is compressed; shards store members uncompressed")
    fh.seek(info.header_offset)
    header = fh.read(30)
    if header[:4] != b"PK\x03\x04":
        raise ValueError(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(fh)
    else:
        np.lib.format.read_array_header_2_0(fh)
    return fh.tell()
