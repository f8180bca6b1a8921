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
  occluder, 4 occluder);
* ``rgb_crc32`` / ``depth_crc32`` / ``seg_crc32``: (N,) uint32 CRC-32 of each frame's encoded image, checked on
  every read (a shard written before these tables existed is checked against its SHA-256 in the index instead,
  once per process, which reads the whole file).

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
import zlib
from pathlib import Path

import cv2
import numpy as np

from ...errors import DataError
from ...io import atomic_write, sha256_file
from .world import LABEL_FIELDS, Frame

SCHEMA_VERSION = 1
SHARD_PATTERN = "shard-{:05d}.npz"
SHARD_GLOB = "shard-*.npz"
BLOBS = ("rgb", "depth", "seg")
_DOS_DATE, _DOS_TIME = (0 << 9) | (1 << 5) | 1, 0  # 1980-01-01 00:00:00, the zip epoch
# PNG settings. Depth: no deflate by default (0.3 ms and 154 KB for a 320x240 frame), or deflate level 1 with the
# SUB filter ("compact": 2 ms and about 65 KB; the default filters take twice as long). Segmentation: RLE, tiny.
_PNG_DEPTH = {
    0: [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE],
    1: [
        cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
        cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
    ],
}  # fmt: skip
_PNG_SEG = [
    cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
]  # fmt: skip


def shard_name(k: int) -> str:
    return SHARD_PATTERN.format(k)


def encode_frame(frame: Frame, compact: bool = False) -> dict[str, bytes]:
    """Encode a frame's images: JPEG (RGB, at the frame's own quality), 16-bit PNG (depth, deflated only when
    ``compact``), 8-bit PNG (seg)."""
    out: dict[str, bytes] = {}
    if frame.image is not None:
        q = int(frame.labels["jpeg_quality"])
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out["rgb"] = buf.tobytes()
    if frame.depth is not None:
        d16 = np.clip(frame.depth, 0, 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", d16, _PNG_DEPTH[1 if compact else 0])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        out["depth"] = buf.tobytes()
    ok, buf = cv2.imencode(".png", frame.seg, _PNG_SEG)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    out["seg"] = buf.tobytes()
    return out


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The .npy (format 1.0) header of a C-ordered array."""
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _members(
    frames_labels: list[dict[str, np.ndarray]], blobs: list[dict[str, bytes]], frame_index: np.ndarray, meta: dict
) -> list[tuple[str, list[bytes | memoryview]]]:
    """The shard's .npy members as (name, chunks), without concatenating the image bytes."""
    n = len(frames_labels)
    members: list[tuple[str, list[bytes | memoryview]]] = []

    def add(name: str, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr)
        members.append((f"{name}.npy", [_npy_header(arr.shape, arr.dtype), memoryview(arr.reshape(-1)).cast("B")]))

    add("meta", np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8))
    add("frame_index", np.asarray(frame_index, dtype=np.int64))
    for name, (shape, dtype) in LABEL_FIELDS.items():
        arr = np.empty((n, *shape), dtype=dtype)
        for i, lab in enumerate(frames_labels):
            arr[i] = lab[name]
        add(name, arr)
    for kind in BLOBS:
        if n and kind not in blobs[0]:
            continue
        parts = [b[kind] for b in blobs]
        offsets = np.zeros(n + 1, np.int64)
        offsets[1:] = np.cumsum([len(p) for p in parts])
        add(f"{kind}_offsets", offsets)
        add(f"{kind}_crc32", np.array([zlib.crc32(p) for p in parts], dtype=np.uint32))
        members.append((f"{kind}_bytes.npy", [_npy_header((int(offsets[-1]),), np.dtype(np.uint8)), *parts]))
    return members


def write_shard(
    path: str | os.PathLike[str],
    frames_labels: list[dict[str, np.ndarray]],
    blobs: list[dict[str, bytes]],
    frame_index: np.ndarray,
    meta: dict,
) -> tuple[int, str]:
    """Write one shard atomically: an uncompressed zip of .npy members, byte-for-byte deterministic (fixed order,
    1980-01-01 timestamps). The image bytes are streamed, never concatenated in memory.

    Returns:
        (size in bytes, SHA-256 hex digest) of the file.
    """
    members = _members(frames_labels, blobs, frame_index, meta)
    digest = hashlib.sha256()
    written = 0
    central = []
    with atomic_write(path, "wb") as fh:

        def put(chunk: bytes | memoryview) -> None:
            nonlocal written
            fh.write(chunk)
            digest.update(chunk)
            written += len(chunk)

        for name, chunks in members:
            raw_name = name.encode()
            crc = 0
            size = 0
            for c in chunks:
                crc = zlib.crc32(c, crc)
                size += len(c)
            offset = written
            if offset + size > 0xFFFFFFFF:
                raise DataError("shard would exceed 4 GiB; use a smaller shard size", path=path)
            put(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, _DOS_TIME, _DOS_DATE, crc, size, size,
                            len(raw_name), 0))  # fmt: skip
            put(raw_name)
            for c in chunks:
                put(c)
            central.append(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    20,
                    20,
                    0,
                    0,
                    _DOS_TIME,
                    _DOS_DATE,
                    crc,
                    size,
                    size,
                    len(raw_name),
                    0,
                    0,
                    0,
                    0,
                    0o644 << 16,
                    offset,
                )
                + raw_name  # fmt: skip
            )
        start = written
        for entry in central:
            put(entry)
        put(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), written - start, start, 0))
    return written, digest.hexdigest()


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
        self._crc: dict[str, np.ndarray] = {}
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
                    if f"{kind}_crc32" in names:
                        self._crc[kind] = data[f"{kind}_crc32"]
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
        for kind, crc in self._crc.items():
            if kind not in self._offsets or crc.shape != (n,):
                raise self._fail(f"{kind}_crc32 is not a valid checksum table")

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
        """The encoded bytes of frame ``i``'s ``kind`` image ("rgb", "depth" or "seg"), checked against the frame's
        CRC-32 (or, in a shard without checksum tables, the whole file against its SHA-256 on the first read)."""
        if kind not in self._offsets:
            raise self._fail(f"shard has no {kind} images")
        crc = self._crc.get(kind)
        if crc is None:
            self.verify()
        off = self._offsets[kind]
        start, end = int(off[i]), int(off[i + 1])
        with open(self.path, "rb") as fh:
            fh.seek(self._blob_start[kind] + start)
            data = fh.read(end - start)
        if len(data) != end - start:
            raise self._fail(f"frame {i}: {kind} image truncated")
        if crc is not None and zlib.crc32(data) != int(crc[i]):
            raise self._fail(f"frame {i}: {kind} image does not match its CRC-32 (corrupted)")
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
