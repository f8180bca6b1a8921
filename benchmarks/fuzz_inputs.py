"""Fuzzing every kind of file handpose reads, through its public entry points.

    .venv/bin/python benchmarks/fuzz_inputs.py --cases 10000 --json runs/fuzz/report.json
    .venv/bin/python benchmarks/fuzz_inputs.py --case coco_json:417      # replay one case (prints the details)

For each format a valid seed is built (a small, self-contained input set: an image, a dataset folder, a checkpoint,
a prediction file, ...), one file of it is mutated -- truncation, bit flips, inserted / deleted / repeated bytes,
wrong types, missing or extra keys, huge declared sizes, NaN / inf, empty files, wrong text encodings, deep nesting
-- and the result is fed to one of the format's entry points: the readers' Python API, ``handpose data inspect``,
``evaluate-predictions``, ``evaluate``, ``predict``, ``export``, ``train``, ``load_config``, ``load_checkpoint``, the
ONNX backend. Case ``k`` of a format is fully determined by (seed, format, k), so any case can be replayed.

A case passes when the entry point gives a correct result (it returns, and the result keeps its documented
contract: finite joints where labelled, uint8 RGB images, strict JSON outputs, ...) or refuses the input with the
toolkit's typed errors only (a :class:`handpose.errors.HandposeError`; for a command, exit code 2 and one readable
line, never a traceback), and

- it ends within ``--timeout`` seconds (a hang is a failure);
- its peak memory stays under ``--max-case-mb`` above the worker's resting size, and the worker's address space is
  capped (``--address-space-gb``), so a file that declares a 100,000 x 100,000 image must be refused from its
  header: an attempt to allocate it fails the case instead of the machine;
- nothing is written outside the case's output folder (the inputs, the working folder, and the worker's own HOME
  and TMPDIR are compared before and after), and the files already in the output folder (outputs of an "earlier
  run") are unchanged when the command fails, and complete, strictly valid files when it succeeds.

Cases run one at a time in a worker process (``--worker``), fed by the parent over a pipe; the parent kills and
replaces a worker that hangs or crashes. The report gives, per format, the cases run, how many were refused with a
typed error and how many passed through, every failure (with the replay command), the time per case and the peak
memory.

Adding a format: write a seed builder (a function returning ``{relative path: bytes}`` of a valid input set) and one
or more entry points (functions of a :class:`Case` that read ``case.inp`` and may write ``case.out``), and register
them with ``@fuzz_format(name, targets=..., mutators=..., entries=...)``. The real-photo readers (``sign_digits``,
``webcam_hands``, ``asl_video``) and the teacher are not in this first version.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import pickle
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------------------------------
# Cases, entry points, formats
# ------------------------------------------------------------------------------------------------------------------


class Refused(Exception):
    """A command refused its input the documented way (exit code 2, one readable line): a typed refusal."""


class Broken(Exception):
    """The contract was broken: a traceback, a wrong exit code, several error lines, or an invalid result."""


@dataclass
class Case:
    """One fuzz case: the files under ``inp``, the mutated ``target``, the folder ``out`` an entry may write to."""

    fmt: str
    index: int
    rng: random.Random
    root: Path
    inp: Path
    out: Path
    cwd: Path
    target: Path
    seeds: Seeds
    unchanged: bool = False  # the mutation left the bytes as they were (the seed must then be read correctly)
    notes: dict[str, Any] = field(default_factory=dict)


Entry = Callable[[Case], Any]


@dataclass
class Format:
    name: str
    build: Callable[[Seeds], dict[str, bytes]]
    targets: tuple[str, ...]
    mutators: tuple[str, ...]
    entries: tuple[tuple[Entry, int], ...]
    description: str = ""


FORMATS: dict[str, Format] = {}


def fuzz_format(
    name: str, *, targets: tuple[str, ...], mutators: tuple[str, ...], entries: tuple[tuple[Entry, int], ...]
) -> Callable[[Callable[[Seeds], dict[str, bytes]]], Callable[[Seeds], dict[str, bytes]]]:
    """Register a format: its seed builder (decorated), the files to mutate, the mutator families, and its entry
    points with integer weights."""

    def register(build: Callable[[Seeds], dict[str, bytes]]) -> Callable[[Seeds], dict[str, bytes]]:
        FORMATS[name] = Format(name, build, targets, mutators, entries, (build.__doc__ or "").strip())
        return build

    return register


# ------------------------------------------------------------------------------------------------------------------
# Mutators
# ------------------------------------------------------------------------------------------------------------------

WEIRD_VALUES: list[Any] = [
    None, True, False, "", "x", "NaN", "1e999", 0, -1, 1, 2**31, 2**63, -(2**63), 10**400, 1e308, -1e308, 1e-320,
    float("nan"), float("inf"), float("-inf"), [], {}, [[]], [None], {"a": 1}, [1, 2], "\u00e9\u4e2d\U0001f600",
    "../../etc/passwd", "a" * 5000,
]  # fmt: skip
DEEP = "\u0000DEEP\u0000"  # placeholder replaced by deep nesting after serialisation


def _bytes_mutation(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    n = len(data)
    kind = rng.choice(["truncate", "truncate", "flip", "flip", "overwrite", "insert", "delete", "repeat", "zero",
                       "append", "empty", "swap", "head"])  # fmt: skip
    if n == 0 or kind == "empty":
        return b"", "empty"
    b = bytearray(data)
    if kind == "truncate":
        cut = rng.choice([rng.randrange(n), n - rng.randrange(1, min(n, 64) + 1), rng.randrange(min(n, 64))])
        return bytes(b[:cut]), f"truncate@{cut}"
    if kind == "flip":
        k = rng.choice([1, 1, 2, 4, 8, 32])
        for _ in range(k):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"flip x{k}"
    if kind == "overwrite":
        i = rng.randrange(n)
        k = rng.choice([1, 4, 16, 256])
        b[i : i + k] = bytes(rng.randrange(256) for _ in range(k))
        return bytes(b), f"overwrite {k}@{i}"
    if kind == "insert":
        i = rng.randrange(n + 1)
        k = rng.choice([1, 8, 512])
        b[i:i] = bytes(rng.randrange(256) for _ in range(k))
        return bytes(b), f"insert {k}@{i}"
    if kind == "delete":
        i = rng.randrange(n)
        k = rng.choice([1, 8, 512])
        del b[i : i + k]
        return bytes(b), f"delete {k}@{i}"
    if kind == "repeat":
        i = rng.randrange(n)
        k = rng.choice([16, 1024])
        return bytes(b[: i + k] + b[i : i + k] * rng.choice([2, 50]) + b[i + k :]), f"repeat {k}@{i}"
    if kind == "zero":
        i = rng.randrange(n)
        k = rng.choice([4, 64, 4096])
        b[i : i + k] = bytes(min(k, n - i))
        return bytes(b), f"zero {k}@{i}"
    if kind == "append":
        return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.choice([1, 100, 5000]))), "append garbage"
    if kind == "swap":
        i, j = sorted(rng.randrange(n) for _ in range(2))
        k = min(rng.choice([8, 256]), j - i)
        b[i : i + k], b[j : j + k] = b[j : j + k], b[i : i + k]
        return bytes(b), f"swap {k}@{i},{j}"
    # "head": only the first bytes, as a file cut by a full disk
    return bytes(b[: rng.choice([1, 2, 4, 8, 16, 24, 100])]), "head only"


def _walk(obj: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside ``obj`` (breadth first, at most ``limit``)."""
    out: list[tuple[Any, Any]] = []
    queue = [obj]
    while queue and len(out) < limit:
        c = queue.pop(0)
        items = c.items() if isinstance(c, dict) else enumerate(c) if isinstance(c, list) else ()
        for k, v in items:
            out.append((c, k))
            if isinstance(v, (dict, list)):
                queue.append(v)
    return out


def _mutate_tree(obj: Any, rng: random.Random) -> tuple[Any, str]:
    """One structural change of a JSON-like tree: wrong type, removed / added entry, deep nesting, huge list,
    scaled numbers, emptied container."""
    slots = _walk(obj)
    kind = rng.choice(["type", "type", "type", "delete", "add", "deep", "huge", "numbers", "empty", "swap"])
    if not slots:
        return rng.choice(WEIRD_VALUES), "replace the whole document"
    c, k = rng.choice(slots)
    if kind == "type":
        value = rng.choice(WEIRD_VALUES)
        c[k] = value
        return obj, f"type {k!r} := {str(value)[:30]!r}"
    if kind == "delete":
        del c[k]
        return obj, f"delete {k!r}"
    if kind == "add":
        if isinstance(c, dict):
            c[rng.choice(["zz", "", "__proto__", "keypoints", "bbox", "id"])] = rng.choice(WEIRD_VALUES)
        else:
            c.append(rng.choice(WEIRD_VALUES + [c[0] if c else 0]))
        return obj, f"add beside {k!r}"
    if kind == "deep":
        c[k] = DEEP
        return obj, f"deep nesting at {k!r}"
    if kind == "huge":
        v = c[k]
        c[k] = [v if not isinstance(v, (dict, list)) else 0] * rng.choice([10_000, 300_000])
        return obj, f"huge list at {k!r}"
    if kind == "numbers":
        factor = rng.choice([-1.0, 0.0, 1e6, 1e-6, 1e300])
        for cc, kk in slots:
            if isinstance(cc[kk], (int, float)) and not isinstance(cc[kk], bool):
                cc[kk] = cc[kk] * factor
        return obj, f"numbers x {factor:g}"
    if kind == "empty":
        c[k] = type(c[k])() if isinstance(c[k], (dict, list, str)) else []
        return obj, f"empty {k!r}"
    # swap two values of different places
    c2, k2 = rng.choice(slots)
    try:
        c[k], c2[k2] = c2[k2], c[k]
    except Exception:  # noqa: BLE001 - a container inside itself: leave it
        pass
    return obj, f"swap {k!r} and {k2!r}"


def _deep(text: str, rng: random.Random, opener: str = "[", closer: str = "]") -> str:
    depth = rng.choice([200, 5_000, 100_000])
    return text.replace(json.dumps(DEEP), opener * depth + "1" + closer * depth)


def mutate_json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.25:
        return _text_encoding_or_bytes(data, rng)
    try:
        obj = json.loads(data)
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    if rng.random() < 0.1:  # textual tricks that a tree cannot express
        text = data.decode("utf-8", "replace")
        trick = rng.choice(["dup", "nan", "bigint", "comment"])
        if trick == "dup" and "{" in text:
            return text.replace("{", '{"dup": 1, "dup": [1], ', 1).encode(), "duplicate keys"
        if trick == "nan":
            return text.replace("1", "NaN", 1).replace("2", "Infinity", 1).encode(), "NaN / Infinity tokens"
        if trick == "bigint":
            return text.replace("1", "1" + "0" * 5000, 1).encode(), "5000-digit number"
        return ("// comment\n" + text).encode(), "comment"
    obj, what = _mutate_tree(obj, rng)
    text = json.dumps(obj, allow_nan=True)
    return _deep(text, rng).encode(), what


def _text_encoding_or_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(["utf16", "latin1", "bom", "invalid", "nul", "bytes", "bytes"])
    text = data.decode("utf-8", "replace")
    if kind == "utf16":
        return text.encode("utf-16"), "UTF-16"
    if kind == "latin1":
        return ("\u00e9" + text).encode("latin-1", "replace"), "Latin-1"
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, "UTF-8 BOM"
    if kind == "invalid":
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\xff\xfe\xc3" + data[i:], "invalid UTF-8"
    if kind == "nul":
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\x00" * 8 + data[i:], "NUL bytes"
    return _bytes_mutation(data, rng)


def mutate_text(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Line and token changes of a whitespace-separated text file."""
    if rng.random() < 0.25:
        return _text_encoding_or_bytes(data, rng)
    lines = data.decode("utf-8", "replace").split("\n")
    kind = rng.choice(["token", "token", "token", "drop", "dup", "cut", "add", "crlf", "long", "blank", "junk"])
    i = rng.randrange(len(lines))
    tokens = lines[i].split()
    if kind == "token" and tokens:
        j = rng.randrange(len(tokens))
        tokens[j] = rng.choice(["nan", "inf", "-inf", "abc", "1e999", "-0", "0x1F", "1" * 400, "", "1,5", "--1",
                                "9" * 5000, "1e-400", "\u00bd", "NaN", str(-(10**20))])  # fmt: skip
        lines[i] = " ".join(tokens)
        return "\n".join(lines).encode(), f"token line {i + 1}"
    if kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "cut" and tokens:
        lines[i] = " ".join(tokens[: rng.randrange(len(tokens))])
    elif kind == "add":
        lines[i] = lines[i] + " " + " ".join(["1"] * rng.choice([1, 3, 1000]))
    elif kind == "crlf":
        return "\r\n".join(lines).replace("\r\n", rng.choice(["\r\n", "\r"])).encode(), "line endings"
    elif kind == "long":
        lines[i] = " ".join(["1.5"] * 200_000)
    elif kind == "blank":
        lines.insert(i, rng.choice(["", "   ", "\t", "#"]))
    else:
        lines.insert(i, "\x00\x01\x02 junk \xff")
    return "\n".join(lines).encode("utf-8", "surrogateescape"), f"{kind} line {i + 1}"


def mutate_csv(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        return mutate_text(data, rng)
    rows = [r.split(",") for r in data.decode("utf-8", "replace").split("\n")]
    kind = rng.choice(["cell", "cell", "header", "drop_col", "extra_col", "quote"])
    i = rng.randrange(len(rows))
    j = rng.randrange(max(1, len(rows[i])))
    if kind == "cell" and rows[i]:
        rows[i][j] = rng.choice(["", "nan", "inf", "abc", "1e999", '"', "-5", "1" * 400, "0", "2", "left", "x;y"])
    elif kind == "header":
        rows[0][j] = rng.choice(["", "image", "x0", "zz", "x21", "v0", "bbox_x0", "has_hand"])
    elif kind == "drop_col":
        rows = [r[:j] + r[j + 1 :] for r in rows]
    elif kind == "extra_col":
        rows = [r + ["1"] for r in rows]
    else:
        rows[i][j] = '"' + rows[i][j] + ',"x'
    return "\n".join(",".join(r) for r in rows).encode(), f"csv {kind} {i},{j}"


def mutate_yaml(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    import yaml

    roll = rng.random()
    if roll < 0.2:
        return mutate_text(data, rng)
    if roll < 0.3:
        trick = rng.choice(["alias_bomb", "deep", "tag", "tab"])
        text = data.decode("utf-8", "replace")
        if trick == "alias_bomb":  # "billion laughs": nine levels of ten references each
            bomb = "a0: &a0 [lol]\n" + "".join(f"a{k}: &a{k} [{', '.join(['*a' + str(k - 1)] * 10)}]\n"
                                               for k in range(1, 10))  # fmt: skip
            return (bomb + text + "\nextra: *a9\n").encode(), "alias bomb"
        if trick == "deep":
            return (text + "\nmodel:\n  kwargs: " + "[" * 50_000 + "]" * 50_000 + "\n").encode(), "deep nesting"
        if trick == "tag":
            return (text + "\nextra: !!python/object/apply:os.system ['echo pwned']\n").encode(), "python tag"
        return text.replace("  ", "\t", 3).encode(), "tabs"
    try:
        obj = yaml.safe_load(data)
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    obj, what = _mutate_tree(obj, rng)
    text = json.dumps(obj, allow_nan=True)  # JSON is YAML; keeps big numbers and NaN expressible
    return _deep(text, rng).replace("NaN", ".nan").replace("Infinity", ".inf").encode(), what


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        out.append((data[i + 4 : i + 8], data[i + 8 : i + 8 + length]))
        i += 12 + length
    return out


def _png_join(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body


def mutate_png(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Header-level PNG changes with valid CRCs (so the decoder gets past the checksum): declared size, bit depth,
    colour type, interlace; dropped, duplicated or truncated chunks."""
    if rng.random() < 0.4:
        return _bytes_mutation(data, rng)
    chunks = _png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        return _bytes_mutation(data, rng)
    w, h, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][1][:13])
    kind = rng.choice(["size", "size", "huge", "depth", "ctype", "interlace", "drop", "dup_idat", "cut_idat"])
    if kind in ("size", "huge"):
        if kind == "huge":
            w, h = rng.choice([(100_000, 100_000), (2**31 - 1, 2**31 - 1), (65_535, 65_535), (1, 2**31 - 1)])
        else:
            w, h = rng.choice([(0, h), (w, 0), (w * 2, h), (w, h + 1), (1, 1), (w // 2, h), (h, w)])
        what = f"IHDR size {w}x{h}"
    elif kind == "depth":
        depth = rng.choice([1, 2, 4, 8, 16, 3, 255])
        what = f"bit depth {depth}"
    elif kind == "ctype":
        ctype = rng.choice([0, 2, 3, 4, 6, 1, 7])
        what = f"colour type {ctype}"
    elif kind == "interlace":
        inter = rng.choice([1, 2])
        what = f"interlace {inter}"
    elif kind == "drop":
        k = rng.randrange(len(chunks))
        what = f"drop chunk {chunks[k][0].decode('latin-1')}"
        del chunks[k]
        return _png_join(chunks), what
    elif kind == "dup_idat":
        idat = [c for c in chunks if c[0] == b"IDAT"]
        chunks = chunks[:-1] + idat + chunks[-1:]
        return _png_join(chunks), "IDAT twice"
    else:
        chunks = [(t, d[: len(d) // 2] if t == b"IDAT" else d) for t, d in chunks]
        return _png_join(chunks), "IDAT cut in half (valid CRC)"
    chunks[0] = (b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, comp, filt, inter))
    return _png_join(chunks), what


def mutate_jpeg(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        return _bytes_mutation(data, rng)
    i = data.find(b"\xff\xc0")
    if i < 0:
        return _bytes_mutation(data, rng)
    kind = rng.choice(["size", "huge", "components", "precision", "no_eoi", "two_soi"])
    if kind in ("size", "huge"):
        w, h = rng.choice([(65_535, 65_535), (65_000, 60_000), (0, 100), (100, 0)] if kind == "huge"
                          else [(1, 1), (640, 480), (96, 72), (8, 8)])  # fmt: skip
        return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :], f"SOF size {w}x{h}"
    if kind == "components":
        return data[: i + 9] + bytes([rng.choice([0, 2, 4, 255])]) + data[i + 10 :], "SOF components"
    if kind == "precision":
        return data[: i + 4] + bytes([rng.choice([0, 12, 16, 255])]) + data[i + 5 :], "SOF precision"
    if kind == "no_eoi":
        return data[:-2], "no end-of-image marker"
    return data[:2] + data, "two start markers"


def mutate_npz(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Array-level changes of an .npz: a wrong dtype / shape / value, a removed or extra array, an object array (a
    pickle inside), a .npy header declaring a huge shape; or byte-level damage of the zip."""
    import numpy as np

    if rng.random() < 0.35:
        return _bytes_mutation(data, rng)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    if not arrays:
        return _bytes_mutation(data, rng)
    name = rng.choice(sorted(arrays))
    a = arrays[name]
    kind = rng.choice(["dtype", "shape", "nan", "inf", "empty", "drop", "extra", "object", "huge_header", "scalar",
                       "big"])  # fmt: skip
    if kind == "huge_header":  # a member whose .npy header declares 100,000 x 100,000 float64 (80 GB), no data
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for k, v in arrays.items():
                vb = io.BytesIO()
                np.save(vb, v)
                raw = vb.getvalue()
                if k == name:
                    header = {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
                    text = repr(header).encode("latin1")
                    text += b" " * (-(len(text) + 11) % 64) + b"\n"
                    raw = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + b"\x00" * 64
                zf.writestr(k + ".npy", raw)
        return buf.getvalue(), f"{name}: header declares 100000 x 100000 float64"
    if kind == "dtype":
        arrays[name] = a.astype(rng.choice(["<U3", "complex64", "int8", "bool", "float16", ">f4", "uint64"]))
    elif kind == "shape":
        arrays[name] = a.reshape(-1) if a.ndim > 1 else np.stack([a, a]) if a.size else a.reshape(0, 1)
        if rng.random() < 0.5 and a.ndim >= 1 and a.shape[0] > 1:
            arrays[name] = a[:-1]
    elif kind in ("nan", "inf") and a.dtype.kind == "f" and a.size:
        b = a.copy()
        b.flat[rng.randrange(b.size)] = np.nan if kind == "nan" else np.inf
        arrays[name] = b
    elif kind == "empty":
        arrays[name] = a[:0]
    elif kind == "drop":
        del arrays[name]
    elif kind == "extra":
        arrays["zz_extra"] = np.arange(3)
    elif kind == "object":
        arrays[name] = np.array([{"a": 1}, None], dtype=object)
    elif kind == "scalar":
        arrays[name] = np.float64(1.0)
    elif kind == "big" and a.size:
        arrays[name] = np.repeat(a, rng.choice([50, 400]), axis=0)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue(), f"{name}: {kind}"


def mutate_mat(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Variable-level changes of a MATLAB file (re-saved by scipy) or byte-level damage."""
    import numpy as np
    from scipy.io import loadmat, savemat

    if rng.random() < 0.4:
        return _bytes_mutation(data, rng)
    try:
        mat = {k: v for k, v in loadmat(io.BytesIO(data)).items() if not k.startswith("__")}
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    name = rng.choice(sorted(mat))
    a = np.asarray(mat[name])
    kind = rng.choice(["string", "cell", "struct", "shape", "nan", "empty", "drop", "int", "complex", "v4"])
    fmt = "5"
    if kind == "string":
        mat[name] = "not numbers"
    elif kind == "cell":
        mat[name] = np.array([[1.0, 2.0], "x"], dtype=object)
    elif kind == "struct":
        mat[name] = {"a": a, "b": "x"}
    elif kind == "shape":
        mat[name] = a.reshape(-1) if a.size else np.zeros((2, 2))
    elif kind == "nan" and a.size:
        b = a.astype(np.float64).copy()
        b.flat[rng.randrange(b.size)] = np.nan
        mat[name] = b
    elif kind == "empty":
        mat[name] = np.zeros((0, 0))
    elif kind == "drop":
        del mat[name]
        mat.setdefault("other", np.zeros(1))
    elif kind == "int":
        mat[name] = a.astype(np.int16)
    elif kind == "complex":
        mat[name] = a.astype(np.complex128)
    else:
        fmt = "4"
        mat = {k: np.atleast_2d(np.asarray(v, dtype=np.float64).reshape(np.asarray(v).shape[0], -1))
               for k, v in mat.items() if np.asarray(v).dtype != object}  # fmt: skip
    buf = io.BytesIO()
    try:
        savemat(buf, mat, format=fmt)
    except Exception:  # noqa: BLE001 - scipy cannot write that combination: damage the bytes instead
        return _bytes_mutation(data, rng)
    return buf.getvalue(), f"{name}: {kind}"


def mutate_msra(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """MSRA .bin header fields (image size, box) set to edge values; or byte damage."""
    if rng.random() < 0.4 or len(data) < 24:
        return _bytes_mutation(data, rng)
    fields = list(struct.unpack("<6I", data[:24]))
    k = rng.randrange(6)
    fields[k] = rng.choice([0, 1, 2**31, 2**32 - 1, 16384, 100_000, fields[k] + 1, max(fields[k] - 1, 0)])
    if rng.random() < 0.3:  # a huge image with a tiny box: the header alone asks for the allocation
        fields[:2] = [rng.choice([16384, 100_000]), rng.choice([16384, 100_000])]
    return struct.pack("<6I", *fields) + data[24:], f"header {fields}"


def mutate_pickle(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Structural changes of RHD's annotation dict (re-pickled), pickles that ask for code, or byte damage."""
    import numpy as np

    from handpose.data.safe_pickle import safe_loads

    roll = rng.random()
    if roll < 0.35:
        return _bytes_mutation(data, rng)
    if roll < 0.45:
        evil = rng.choice([
            b"cos\nsystem\n(S'echo pwned'\ntR.",
            b"\x80\x02cbuiltins\neval\nq\x00X\x04\x00\x00\x001+1q\x01\x85q\x02Rq\x03.",
            pickle.dumps(set([1, 2]), protocol=2),
            pickle.dumps(bytearray(b"x"), protocol=2),
            b"\x80\x02(" * 100_000 + b".",
        ])  # fmt: skip
        return evil, "a pickle asking for something else than plain data"
    try:
        obj = safe_loads(data)
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    key = rng.choice(list(obj)) if isinstance(obj, dict) and obj else None
    kind = rng.choice(["value", "array", "key", "drop", "nan", "huge"])
    if key is None:
        return _bytes_mutation(data, rng)
    entry = obj[key]
    if kind == "value" and isinstance(entry, dict) and entry:
        entry[rng.choice(list(entry))] = rng.choice(WEIRD_VALUES[:20])
    elif kind == "array" and isinstance(entry, dict) and entry:
        entry[rng.choice(list(entry))] = rng.choice([np.zeros((42, 2)), np.zeros((0,)), np.array(["a"]), np.ones(3)])
    elif kind == "key":
        obj[rng.choice(["a", (1, 2), 3.5, None, -1])] = entry
    elif kind == "drop" and isinstance(entry, dict) and entry:
        del entry[rng.choice(list(entry))]
    elif kind == "nan" and isinstance(entry, dict) and "xyz" in entry:
        entry["xyz"] = np.full((42, 3), np.nan)
    else:
        obj = [obj] * 3
    return pickle.dumps(obj, protocol=2), f"{kind} at {key!r}"


def mutate_safetensors(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """safetensors header changes (declared size, dtype, shape, offsets past the end) or byte damage."""
    if rng.random() < 0.35 or len(data) < 8:
        return _bytes_mutation(data, rng)
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + n])
    except Exception:  # noqa: BLE001
        return _bytes_mutation(data, rng)
    kind = rng.choice(["length", "dtype", "shape", "offsets", "drop", "tree"])
    if kind == "length":
        value = rng.choice([0, 1, n - 1, n + 1, 2**40, 2**64 - 1, len(data)])
        return struct.pack("<Q", value) + data[8:], f"header length {value}"
    names = [k for k in header if k != "__metadata__"]
    if not names:
        return _bytes_mutation(data, rng)
    t = header[rng.choice(names)]
    if kind == "dtype":
        t["dtype"] = rng.choice(["F64", "I8", "BOOL", "U8", "F16", "XX", 3])
    elif kind == "shape":
        t["shape"] = rng.choice([[100_000, 100_000], [0], [-1], [], "x", [2**40]])
    elif kind == "offsets":
        t["data_offsets"] = rng.choice([[0, 2**40], [10, 5], [0, 0], "x", [-1, 4]])
    elif kind == "drop":
        header.pop(rng.choice(names))
    else:
        header, what = _mutate_tree(header, rng)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :], f"header {kind}"


def mutate_video(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """AVI header fields (frame count, size, stream count) or damage inside the frames."""
    if rng.random() < 0.5:
        return _bytes_mutation(data, rng)
    i = data.find(b"avih")
    if i < 0:
        return _bytes_mutation(data, rng)
    fields = list(struct.unpack("<14I", data[i + 8 : i + 64]))
    k = rng.choice([4, 6, 7, 8, 9, 10])  # total frames, streams, buffer, width, height
    fields[k] = rng.choice([0, 1, 2**31, 2**32 - 1, 100_000])
    return data[: i + 8] + struct.pack("<14I", *fields) + data[i + 64 :], f"avih field {k} := {fields[k]}"


MUTATORS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "bytes": _bytes_mutation,
    "json": mutate_json,
    "text": mutate_text,
    "csv": mutate_csv,
    "yaml": mutate_yaml,
    "png": mutate_png,
    "jpeg": mutate_jpeg,
    "npz": mutate_npz,
    "mat": mutate_mat,
    "msra": mutate_msra,
    "pickle": mutate_pickle,
    "safetensors": mutate_safetensors,
    "video": mutate_video,
}


# ------------------------------------------------------------------------------------------------------------------
# Seeds: valid inputs, built once per run and kept on disk
# ------------------------------------------------------------------------------------------------------------------


class Seeds:
    """Valid material shared by the formats' seed builders (a rendered synthetic frame with its labels, small
    checkpoints, ONNX exports, a synthetic split), built on first use under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._memo: dict[str, Any] = {}
        self._files: dict[str, dict[str, bytes]] = {}

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def files(self, fmt: str) -> dict[str, bytes]:
        """The seed files of ``fmt`` (built once, then served from memory)."""
        if fmt not in self._files:
            self._files[fmt] = FORMATS[fmt].build(self)
        return self._files[fmt]

    def frame(self) -> Any:
        """The first synthetic test frame with a hand (seed 0): labels, (240, 320, 3) RGB, (240, 320) depth mm."""

        def make() -> Any:
            from handpose.data.synthetic import World, WorldConfig

            world = World(WorldConfig(seed=0, split="test"))
            for i in range(40):
                f = world.render(i)
                if bool(f.labels["has_hand"]):
                    return f
            raise RuntimeError("no synthetic hand frame")

        return self.memo("frame", make)

    def image(self, ext: str, size: tuple[int, int] = (320, 240)) -> bytes:
        import cv2

        def make() -> bytes:
            bgr = cv2.cvtColor(self.frame().image, cv2.COLOR_RGB2BGR)
            if size != (320, 240):
                bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            return cv2.imencode(ext, bgr)[1].tobytes()

        return self.memo(f"image{ext}{size}", make)

    def joints(self, size: tuple[int, int] = (320, 240)) -> Any:
        """(21, 2) px joints of the frame, scaled to ``size``."""
        import numpy as np

        j = np.asarray(self.frame().labels["joints_2d"], dtype=np.float64)
        return j * np.array([size[0] / 320, size[1] / 240])

    def depth_png(self) -> bytes:
        import cv2
        import numpy as np

        return self.memo("depth", lambda: cv2.imencode(".png", self.frame().depth.astype(np.uint16))[1].tobytes())

    def folder_tree(self, folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    def mean_pose_checkpoint(self) -> dict[str, bytes]:
        """A mean-pose 2D checkpoint (64 x 64 crops) whose sidecar records a folder-format config."""

        def make() -> dict[str, bytes]:
            import numpy as np
            import torch

            from handpose.config import ExperimentConfig, to_dict
            from handpose.engine.checkpoint import save_checkpoint
            from handpose.registry import create_model

            model = create_model("mean_pose_2d", input_size=64)
            with torch.no_grad():
                model.mean.copy_(torch.as_tensor(np.linspace(-0.5, 0.5, 42).reshape(21, 2), dtype=torch.float32))
            cfg = ExperimentConfig(name="fuzz_floor")
            cfg.model.name, cfg.model.kwargs = "mean_pose_2d", {"input_size": 64}
            cfg.data.format, cfg.data.root = "folder", "hands"
            folder = self.folder / "ckpt"
            save_checkpoint(folder, model, config=to_dict(cfg))
            return self.folder_tree(folder)

        return self.memo("ckpt", make)

    def onnx_models(self) -> dict[str, bytes]:
        """The shipped detector and 2D pose model exported to ONNX (graph + sidecar each)."""

        def make() -> dict[str, bytes]:
            from handpose.inference.estimator import PRETRAINED, pretrained_path
            from handpose.inference.export import export_onnx

            folder = self.folder / "onnx"
            for role, name in (("detector", "det"), ("pose2d", "pose")):
                if not (folder / f"{name}.json").is_file():
                    export_onnx(pretrained_path(PRETRAINED[role]), folder / f"{name}.onnx", check=False)
            return self.folder_tree(folder)

        return self.memo("onnx", make)

    def synthetic_split(self) -> dict[str, bytes]:
        def make() -> dict[str, bytes]:
            from handpose.data.synthetic import generate

            folder = self.folder / "synthetic"
            if not (folder / "test").is_dir():
                generate(folder, 4, seed=2, preset="easy", modality="rgb", split="test", workers=1, progress=False,
                         no_hand_rate=0.0)  # fmt: skip
            return self.folder_tree(folder)

        return self.memo("synthetic", make)

    def video(self) -> bytes:
        def make() -> bytes:
            import cv2
            import numpy as np

            path = self.folder / "clip.avi"
            frame = cv2.cvtColor(cv2.resize(self.frame().image, (160, 120)), cv2.COLOR_RGB2BGR)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
            for k in range(6):
                writer.write(np.roll(frame, 2 * k, axis=1))
            writer.release()
            return path.read_bytes()

        return self.memo("video", make)


# ------------------------------------------------------------------------------------------------------------------
# Checks shared by the entry points
# ------------------------------------------------------------------------------------------------------------------


def cli(case: Case, argv: list[str]) -> str:
    """Run ``handpose ARGV`` in-process. Exit 0: returns stdout. Exit 2 with only ``handpose: ...`` lines on stderr
    (the last one the error, or a folder's summary): raises :class:`Refused`. Anything else raises :class:`Broken`."""
    from handpose.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    case.notes["stderr"] = lines[-3:]
    if "Traceback" in err.getvalue():
        raise Broken(f"a traceback on stderr: {err.getvalue()[-300:]!r}")
    if code == 0:
        return out.getvalue()
    if code != 2:
        raise Broken(f"exit code {code}: {lines[-1:]!r}")
    # our own lines only ("handpose: ..." or argparse's "handpose CMD: error: ..."), and at most one error among them
    # (a folder run adds a "skipped" line per bad file and a summary)
    if not lines or not all(line.startswith("handpose") for line in lines):
        raise Broken(f"exit code 2 but not only handpose's own lines: {lines[-3:]!r}")
    if sum(": error: " in line for line in lines) > 1:
        raise Broken(f"exit code 2 with several error lines: {lines[-3:]!r}")
    raise Refused(lines[-1])


def _no_constant(where: str) -> Callable[[str], Any]:
    def refuse(token: str) -> Any:
        raise Broken(f"{where}: non-strict JSON constant {token}")

    return refuse


def check_strict_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant(path.name))


def check_image(a: Any, what: str = "image") -> None:
    import numpy as np

    from handpose.data.image_io import max_image_pixels

    if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3):
        raise Broken(f"{what}: not an (H, W, 3) uint8 array: {getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}")
    if not 0 < a.shape[0] * a.shape[1] <= max_image_pixels():
        raise Broken(f"{what}: size {a.shape}")


def check_depth(a: Any, what: str = "depth") -> None:
    import numpy as np

    if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.ndim == 2 and a.size > 0):
        raise Broken(f"{what}: not an (H, W) float32 array: {getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}")
    if not (np.all(np.isfinite(a)) and a.min() >= 0):
        raise Broken(f"{what}: non-finite or negative millimetres")


def check_reader(reader: Any, limit: int = 40) -> int:
    """Read up to ``limit`` samples and check each against the Sample contract; returns how many were read."""
    import numpy as np

    labels = reader.joints_all()
    if len(labels) != len(reader):
        raise Broken(f"{len(labels)} label rows for {len(reader)} samples")
    for i in range(min(len(reader), limit)):
        s = reader[i]
        if s.image is not None:
            check_image(s.image, f"sample {i}")
        if s.depth is not None:
            check_depth(np.asarray(s.depth, dtype=np.float32), f"sample {i}")
        if s.joints_2d is not None and not np.all(np.isfinite(s.joints_2d[s.joint_mask])):
            raise Broken(f"sample {i}: a labelled joint is not finite")
        if s.joints_3d is not None and not np.all(np.isfinite(s.joints_3d[s.joint_mask & s.has_hand])):
            raise Broken(f"sample {i}: a labelled 3D joint is not finite")
        if s.bbox is not None and not np.all(np.isfinite(s.bbox)):
            raise Broken(f"sample {i}: a non-finite box")
    return min(len(reader), limit)


def check_outputs(case: Case) -> None:
    """After a successful command: every JSON it wrote in ``out`` is strict JSON, every PNG decodes."""
    import cv2

    for p in case.out.rglob("*"):
        if not p.is_file() or EARLIER.get(p.name) == p.read_bytes():
            continue  # an earlier output this run did not replace
        try:
            if p.suffix == ".json":
                check_strict_json(p)
            elif p.suffix == ".jsonl":
                for line in p.read_text().splitlines():
                    json.loads(line, parse_constant=_no_constant(p.name))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Broken(f"{p.name}: not valid JSON ({exc})") from None
        if p.suffix == ".png" and cv2.imread(str(p)) is None:
            raise Broken(f"{p.name}: an overlay that does not decode")


# ------------------------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------------------------


def e_read_image(case: Case) -> None:
    from handpose.data.image_io import read_image

    check_image(read_image(case.target))


def e_read_depth(case: Case) -> None:
    from handpose.data.image_io import read_depth

    encoding = {"nyu.png": "nyu", "stb.png": "stb", "rhd.png": "rhd"}.get(case.target.name)
    encoding = encoding or case.rng.choice(["auto", "png16"] if case.target.suffix == ".png" else ["auto", "msra_bin"])
    case.notes["encoding"] = encoding
    check_depth(read_depth(case.target, encoding))


def e_predict_file(case: Case) -> None:
    args = ["predict", str(case.target), "--out", str(case.out), "--no-gesture", "--threads", "1", "--quiet"]
    if case.target.suffix == ".png" and case.fmt == "png16":
        args += ["--depth", "--camera-preset", "synthetic"]
    cli(case, args)
    check_outputs(case)


def _frames_folder(case: Case) -> None:
    folder = case.inp / "frames"
    folder.mkdir(exist_ok=True)
    shutil.copy(case.target, folder / case.target.name)
    (folder / "good.jpg").write_bytes(case.seeds.image(".jpg", (160, 120)))


def e_predict_folder(case: Case) -> None:
    """The mutated image in a folder with a good one: the good one is done whatever happens to the other."""
    folder = case.inp / "frames"
    try:
        cli(case, ["predict", str(folder), "--out", str(case.out), "--no-gesture", "--threads", "1", "--quiet",
                   "--no-overlay"])  # fmt: skip
    except Refused as exc:
        if "1 of 2 file(s) processed, 1 skipped" not in str(exc):
            raise Broken(f"a bad file in the folder stopped the good one from being done: {exc}") from None
        case.notes["outputs_of_done_inputs"] = ["good.json", "predictions.json"]
        check_outputs(case)  # the good file's results are complete
        raise
    check_outputs(case)


def e_open_dataset(fmt: str, root: str = "", **options: Any) -> Entry:
    def run(case: Case) -> None:
        from handpose.data.readers import open_dataset

        reader = open_dataset(case.inp / root if root else case.inp, fmt, **options)
        case.notes["samples"] = check_reader(reader)

    run.__name__ = f"open_dataset({fmt!r})"
    return run


def e_inspect(fmt: str, root: str = "", *options: str) -> Entry:
    def run(case: Case) -> None:
        cli(case, ["data", "inspect", str(case.inp / root if root else case.inp), "-f", fmt, "--out", str(case.out),
                   "--count", "4", "--images", "4", *options])  # fmt: skip
        check_outputs(case)

    run.__name__ = f"data inspect -f {fmt}"
    return run


def e_evaluate_predictions(dataset: str, gt: str, pred: str, match: str = "key") -> Entry:
    def run(case: Case) -> None:
        text = cli(case, ["evaluate-predictions", "--dataset", dataset, "--gt", str(case.inp / gt), "--pred",
                          str(case.inp / pred), "--match", match, "--json", "--out", str(case.out)])  # fmt: skip
        report = json.loads(text, parse_constant=_no_constant("stdout"))
        if report != check_strict_json(case.out / "report.json"):
            raise Broken("report.json differs from the printed report")
        hands = report.get("hands")
        if match == "nearest" and (hands is None or hands["found"] > min(hands["hands"], hands["predictions"])):
            raise Broken(f"more hands paired by nearness than there are: {hands}")

    run.__name__ = f"evaluate-predictions --dataset {dataset} --match {match}"
    return run


def e_read_poses(joints: int, name: str) -> Entry:
    def run(case: Case) -> None:
        import numpy as np

        from handpose.evaluation import read_poses

        f = read_poses(case.inp / name, joints, role="gt" if "gt" in name else "pred")
        ok = np.ones(f.joints.shape[:2], bool) if f.valid is None else f.valid
        if f.joints.ndim != 3 or f.joints.shape[1] != joints or not np.all(np.isfinite(f.joints[ok])):
            raise Broken(f"PoseFile joints {f.joints.shape} not finite where valid")

    run.__name__ = f"read_poses({name})"
    return run


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def _evaluation_inputs(case: Case) -> None:
    if not (case.inp / "ckpt").is_dir():  # the data is fuzzed: a good checkpoint beside it
        _write_tree(case.inp / "_ckpt", case.seeds.mean_pose_checkpoint())
    if not any((case.inp / n).is_file() for n in ("labels.json", "labels.csv")):  # the checkpoint is fuzzed
        _write_tree(case.inp / "_hands", build_folder_json(case.seeds))


def e_evaluate_checkpoint(case: Case) -> None:
    ckpt = case.inp / "ckpt" if (case.inp / "ckpt").is_dir() else case.inp / "_ckpt"
    data = case.inp / "_hands" if (case.inp / "_hands").is_dir() else case.inp
    cli(case, ["evaluate", str(ckpt), "--data", str(data), "--format", "folder", "--out", str(case.out),
               "--device", "cpu", "--batch-size", "4", "--json"])  # fmt: skip
    metrics = check_strict_json(case.out / "metrics.json")["metrics"]
    if metrics.get("samples", 0) <= 0:
        raise Broken(f"evaluate reported {metrics.get('samples')} samples")


def e_load_checkpoint(case: Case) -> None:
    import torch

    from handpose.engine.checkpoint import load_checkpoint

    model, info = load_checkpoint(case.inp / "ckpt")
    with torch.no_grad():
        out = model(torch.zeros(model.spec.input_shape(1)))
    if not all(torch.isfinite(v).all() for v in out.values()):
        raise Broken("the loaded model gives non-finite outputs")


def e_export(case: Case) -> None:
    cli(case, ["export", str(case.inp / "ckpt"), "--format", "onnx", "--out", str(case.out / "model.onnx")])
    check_strict_json(case.out / "model.json")


def e_onnx_estimator(case: Case) -> None:
    from handpose.inference import HandPoseEstimator

    est = HandPoseEstimator([case.inp / "det.onnx", case.inp / "pose.onnx"], backend="onnx", threads=1)
    import cv2

    frame = cv2.cvtColor(cv2.imdecode(__import__("numpy").frombuffer(case.seeds.image(".jpg"), "uint8"), 1),
                         cv2.COLOR_BGR2RGB)  # fmt: skip
    for hand in est(frame):
        if hand.joints_2d.shape != (21, 2):
            raise Broken("a hand without 21 joints")


def _onnx_frame(case: Case) -> None:
    (case.inp / "_frame.jpg").write_bytes(case.seeds.image(".jpg", (160, 120)))


def e_predict_onnx(case: Case) -> None:
    img = case.inp / "_frame.jpg"
    cli(case, ["predict", str(img), "--model", str(case.inp / "det.onnx"), "--model", str(case.inp / "pose.onnx"),
               "--backend", "onnx", "--out", str(case.out), "--threads", "1", "--no-overlay"])  # fmt: skip
    check_outputs(case)


e_predict_folder.prepare = _frames_folder  # type: ignore[attr-defined]
e_evaluate_checkpoint.prepare = _evaluation_inputs  # type: ignore[attr-defined]
e_predict_onnx.prepare = _onnx_frame  # type: ignore[attr-defined]


def e_load_config(case: Case) -> None:
    from handpose.config import ExperimentConfig, load_config

    cfg = load_config(case.target, [f"data.root={case.root / 'no-data'}"])
    if not isinstance(cfg, ExperimentConfig):
        raise Broken(f"load_config returned {type(cfg).__name__}")


def e_train(case: Case) -> None:
    """``handpose train`` with a data root that does not exist: a recipe it accepts ends at that data root."""
    try:
        cli(case, ["train", str(case.target), "--out", str(case.out / "run"), "--set",
                   f"data.root={case.root / 'none'}", "--set", "train.steps=1", "--set", "train.epochs=0", "--set",
                   "data.workers=0"])  # fmt: skip
    except Refused as exc:
        if f"{case.root / 'none'}: data.root: dataset folder does not exist" not in str(exc):
            raise
        return  # the recipe was read and checked up to the data
    raise Broken("handpose train succeeded without its data")


def e_predict_video(case: Case) -> None:
    try:
        cli(case, ["predict", str(case.target), "--out", str(case.out), "--no-gesture", "--threads", "1", "--quiet",
                   "--max-frames", "6"])  # fmt: skip
    except Refused:
        for p in case.out.glob("clip.partial.jsonl"):
            lines = p.read_text().splitlines()
            if lines and json.loads(lines[-1]).get("footer", {}).get("complete") is not False:
                raise Broken("a video that failed left a partial file not marked incomplete") from None
        raise
    check_outputs(case)
    footer = json.loads((case.out / "clip.jsonl").read_text().splitlines()[-1])["footer"]
    if footer["complete"] is not True or not 0 < footer["frames"] <= 6:
        raise Broken(f"a complete run's footer says {footer}")


def e_synthetic(case: Case) -> None:
    from handpose.data.synthetic import SyntheticDataset

    case.notes["samples"] = check_reader(SyntheticDataset(case.inp, "test", ("rgb",)))


def e_load_npz(case: Case) -> None:
    from handpose.io import load_npz

    arrays = load_npz(case.target)
    if any(a.dtype.hasobject for a in arrays.values()):
        raise Broken("an object array was loaded")


def e_msra_bin(case: Case) -> None:
    from handpose.data.image_io import read_msra_bin

    depth, box = read_msra_bin(case.target)
    check_depth(depth)


def e_safe_load(case: Case) -> None:
    from handpose.data.safe_pickle import safe_load

    safe_load(case.target)


# ------------------------------------------------------------------------------------------------------------------
# Formats: seed builders and their entry points
# ------------------------------------------------------------------------------------------------------------------


def _folder_sample(seeds: Seeds, image: str, size: tuple[int, int]) -> dict[str, Any]:
    return {"image": image, "keypoints": seeds.joints(size).round(2).tolist(), "handedness": "right",
            "gesture": "open"}  # fmt: skip


def build_folder_json(seeds: Seeds) -> dict[str, bytes]:
    labels = {"joint_order": "canonical", "gestures": ["fist", "open"],
              "intrinsics": {"fx": 120.7, "fy": 120.7, "cx": 80.0, "cy": 60.0, "width": 160, "height": 120},
              "samples": [_folder_sample(seeds, "images/a.jpg", (160, 120)),
                          _folder_sample(seeds, "images/b.png", (160, 120)),
                          {"image": "images/a.jpg", "has_hand": False}]}  # fmt: skip
    return {"labels.json": json.dumps(labels).encode(), "images/a.jpg": seeds.image(".jpg", (160, 120)),
            "images/b.png": seeds.image(".png", (160, 120))}  # fmt: skip


def _image_labels(seeds: Seeds, name: str) -> bytes:
    return json.dumps({"samples": [_folder_sample(seeds, name, (320, 240))]}).encode()


@fuzz_format("jpeg", targets=("img.jpg",), mutators=("bytes", "jpeg", "jpeg"),
             entries=((e_read_image, 6), (e_open_dataset("folder"), 3), (e_predict_file, 1),
                      (e_predict_folder, 1)))  # fmt: skip
def seed_jpeg(seeds: Seeds) -> dict[str, bytes]:
    """A 320 x 240 JPEG photo (and a folder-format label file naming it)."""
    return {"img.jpg": seeds.image(".jpg"), "labels.json": _image_labels(seeds, "img.jpg")}


@fuzz_format("png8", targets=("img.png",), mutators=("bytes", "png", "png"),
             entries=((e_read_image, 6), (e_open_dataset("folder"), 3), (e_predict_file, 1),
                      (e_predict_folder, 1)))  # fmt: skip
def seed_png8(seeds: Seeds) -> dict[str, bytes]:
    """A 320 x 240 8-bit RGB PNG (and a folder-format label file naming it)."""
    return {"img.png": seeds.image(".png"), "labels.json": _image_labels(seeds, "img.png")}


@fuzz_format("png16", targets=("depth.png",), mutators=("bytes", "png", "png"),
             entries=((e_read_depth, 6), (e_open_dataset("folder"), 3), (e_predict_file, 1)))  # fmt: skip
def seed_png16(seeds: Seeds) -> dict[str, bytes]:
    """A 320 x 240 16-bit depth PNG in mm (and a folder-format label file naming it as a depth frame)."""
    sample = {"depth": "depth.png", "depth_encoding": "png16", "keypoints": seeds.joints().round(2).tolist(),
              "intrinsics": {"fx": 241.42, "fy": 241.42, "cx": 160, "cy": 120}}  # fmt: skip
    return {"depth.png": seeds.depth_png(), "labels.json": json.dumps({"samples": [sample]}).encode()}


@fuzz_format("depth_packed", targets=("nyu.png", "stb.png", "rhd.png"), mutators=("bytes", "png"),
             entries=((e_read_depth, 1),))  # fmt: skip
def seed_depth_packed(seeds: Seeds) -> dict[str, bytes]:
    """The depth frame packed in 8-bit RGB PNGs as NYU (G high, B low), STB (R low, G high) and RHD store it."""
    import cv2
    import numpy as np

    d = seeds.frame().depth.astype(np.uint16)
    lo, hi = (d & 255).astype(np.uint8), (d >> 8).astype(np.uint8)
    zero = np.zeros_like(lo)
    d_rhd = np.round(d.astype(np.float64) * 65535 / 5000).clip(0, 65535).astype(np.uint16)
    packs = {
        "nyu.png": np.dstack([lo, hi, zero]),
        "stb.png": np.dstack([zero, hi, lo]),
        "rhd.png": np.dstack([zero, (d_rhd & 255).astype(np.uint8), (d_rhd >> 8).astype(np.uint8)]),
    }  # BGR
    return {k: cv2.imencode(".png", v)[1].tobytes() for k, v in packs.items()}


def _msra_files(seeds: Seeds) -> dict[str, bytes]:
    import numpy as np

    f = seeds.frame()
    xyz = np.asarray(f.labels["joints_3d"], dtype=np.float64)
    from handpose.skeleton import get_convention

    msra = get_convention("msra").from_canonical(xyz) * np.array([1.0, -1.0, -1.0])  # the file's y up, z < 0
    depth = f.depth.astype(np.float32)
    ys, xs = np.nonzero(depth > 0)
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    header = struct.pack("<6I", 320, 240, left, top, right, bottom)
    joint = "1\n" + " ".join(f"{v:.4f}" for v in np.nan_to_num(msra).ravel()) + "\n"
    return {"P0/1/joint.txt": joint.encode(), "P0/1/000000_depth.bin": header + depth[top:bottom, left:right].tobytes()}


@fuzz_format("msra_bin", targets=("P0/1/000000_depth.bin",), mutators=("bytes", "msra", "msra"),
             entries=((e_read_depth, 2), (e_msra_bin, 2), (e_open_dataset("msra"), 2)))  # fmt: skip
def seed_msra_bin(seeds: Seeds) -> dict[str, bytes]:
    """MSRA 2015: one gesture folder with joint.txt and one *_depth.bin hand box."""
    return _msra_files(seeds)


@fuzz_format("msra_text", targets=("P0/1/joint.txt",), mutators=("text", "text", "bytes"),
             entries=((e_open_dataset("msra"), 3), (e_inspect("msra"), 1)))  # fmt: skip
def seed_msra_text(seeds: Seeds) -> dict[str, bytes]:
    """MSRA 2015's joint.txt (frame count, then 63 numbers per frame) beside its depth file."""
    return _msra_files(seeds)


@fuzz_format(
    "icvl_text",
    targets=("Training/labels.txt",),
    mutators=("text", "text", "bytes"),
    entries=((e_open_dataset("icvl", split="train"), 3), (e_inspect("icvl", "", "--split", "train"), 1)),
)
def seed_icvl(seeds: Seeds) -> dict[str, bytes]:
    """ICVL: Training/labels.txt (a path, then 16 x u v d) and the 16-bit depth PNGs it names."""
    import numpy as np

    from handpose.geometry import intrinsics_for, xyz_to_uvd
    from handpose.skeleton import get_convention

    xyz = np.asarray(seeds.frame().labels["joints_3d"], dtype=np.float64)
    icvl = get_convention("icvl").from_canonical(xyz)
    icvl[np.isnan(icvl)] = np.nanmean(icvl, axis=0)[np.nonzero(np.isnan(icvl))[1]]  # the palm centre: the mean
    uvd = xyz_to_uvd(icvl, intrinsics_for("icvl"))
    rows = [f"201403121135/image_{k:04d}.png " + " ".join(f"{v:.3f}" for v in np.nan_to_num(uvd).ravel())
            for k in range(2)]  # fmt: skip
    files = {"Training/labels.txt": ("\n".join(rows) + "\n").encode()}
    for k in range(2):
        files[f"Training/Depth/201403121135/image_{k:04d}.png"] = seeds.depth_png()
    return files


def _pose_rows(joints: int, frames: int, rng: random.Random, named: bool = False) -> bytes:
    rows = []
    for k in range(frames):
        values = " ".join(f"{rng.uniform(50, 250):.3f} {rng.uniform(50, 200):.3f} {rng.uniform(300, 500):.3f}"
                          for _ in range(joints))  # fmt: skip
        rows.append((f"test_seq_1/image_{k:04d}.png " if named else "") + values)
    return ("\r\n".join(rows) + "\r\n").encode()


@fuzz_format("pose_text", targets=("gt.txt", "pred.txt", "nyu_pred.txt"), mutators=("text", "text", "bytes"),
             entries=((e_evaluate_predictions("icvl", "gt.txt", "pred.txt"), 2),
                      (e_evaluate_predictions("nyu", "nyu_gt.txt", "nyu_pred.txt"), 1),
                      (e_read_poses(16, "pred.txt"), 2), (e_read_poses(16, "gt.txt"), 1)))  # fmt: skip
def seed_pose_text(seeds: Seeds) -> dict[str, bytes]:
    """The published depth-benchmark text format: ICVL (16 joints, frame names first, CRLF) and NYU (14 joints)."""
    rng = random.Random(5)
    return {"gt.txt": _pose_rows(16, 6, rng, named=True), "pred.txt": _pose_rows(16, 6, rng),
            "nyu_gt.txt": _pose_rows(14, 4, rng), "nyu_pred.txt": _pose_rows(14, 4, rng)}  # fmt: skip


@fuzz_format("pose_npz", targets=("gt.npz", "pred.npz"), mutators=("npz", "npz", "bytes"),
             entries=((e_evaluate_predictions("icvl", "gt.npz", "pred.npz"), 3), (e_read_poses(16, "pred.npz"), 2),
                      (e_load_npz, 1)))  # fmt: skip
def seed_pose_npz(seeds: Seeds) -> dict[str, bytes]:
    """Evaluation arrays: ground truth uvd with a valid mask, boxes and frame names; predictions keyed by name."""
    import numpy as np

    rng = np.random.default_rng(3)
    uvd = np.concatenate([rng.uniform(50, 250, (5, 16, 2)), rng.uniform(300, 500, (5, 16, 1))], axis=-1)
    valid = np.ones((5, 16), bool)
    valid[1, 3] = False
    names = np.array([f"f{k}" for k in range(5)])
    out = {}
    for name, arrays in (
        ("gt.npz", {"uvd": uvd, "valid": valid, "names": names, "bbox": np.tile([40.0, 40.0, 260.0, 210.0], (5, 1))}),
        ("pred.npz", {"uvd": uvd + rng.normal(0, 3, uvd.shape), "names": names[::-1].copy()}),
    ):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        out[name] = buf.getvalue()
    return out


def _coco(seeds: Seeds, size: tuple[int, int] = (160, 120)) -> dict[str, Any]:
    import numpy as np

    kp = np.c_[seeds.joints(size), np.full(21, 2.0)]
    kp[7] = 0.0  # an unlabelled point stored as (0, 0, 0), as OneHand10K does
    x0, y0 = seeds.joints(size).min(0) - 3
    x1, y1 = seeds.joints(size).max(0) + 3
    images = [{"id": k, "file_name": f"img{k}.jpg", "width": size[0], "height": size[1]} for k in (1, 2)]
    anns = [{"id": k, "image_id": k, "category_id": 1, "iscrowd": 0, "bbox": [x0, y0, x1 - x0, y1 - y0],
             "keypoints": kp.round(2).ravel().tolist(), "num_keypoints": 20} for k in (1, 2)]  # fmt: skip
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "hand"}]}


@fuzz_format("coco_json", targets=("gt.json",), mutators=("json", "json", "json", "bytes"),
             entries=((e_open_dataset("onehand10k", "gt.json"), 3), (e_inspect("onehand10k", "gt.json"), 1),
                      (e_evaluate_predictions("onehand10k", "gt.json", "pred.json"), 2),
                      (e_evaluate_predictions("onehand10k", "gt.json", "pred.json", "nearest"), 1)))  # fmt: skip
def seed_coco(seeds: Seeds) -> dict[str, bytes]:
    """COCO-style hand keypoints (OneHand10K): two images with a labelled hand each, and predictions for them."""
    import numpy as np

    coco = _coco(seeds)
    preds = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9,
              "keypoints": (np.asarray(a["keypoints"]).reshape(21, 3) + [1.5, -1.0, 0]).ravel().tolist()}
             for a in coco["annotations"]]  # fmt: skip
    image = seeds.image(".jpg", (160, 120))
    return {"gt.json": json.dumps(coco).encode(), "pred.json": json.dumps(preds).encode(), "img1.jpg": image,
            "img2.jpg": image}  # fmt: skip


@fuzz_format("coco_results", targets=("pred.json",), mutators=("json", "json", "bytes"),
             entries=((e_evaluate_predictions("onehand10k", "gt.json", "pred.json"), 3),
                      (e_evaluate_predictions("onehand10k", "gt.json", "pred.json", "nearest"), 2),
                      (e_read_poses(21, "pred.json"), 1)))  # fmt: skip
def seed_coco_results(seeds: Seeds) -> dict[str, bytes]:
    """A COCO keypoint results list (predictions) for the COCO ground truth above."""
    return seed_coco(seeds)


@fuzz_format(
    "folder_json",
    targets=("labels.json",),
    mutators=("json", "json", "json", "bytes"),
    entries=((e_open_dataset("folder"), 4), (e_inspect("folder"), 1), (e_evaluate_checkpoint, 1)),
)
def seed_folder_json(seeds: Seeds) -> dict[str, bytes]:
    """The folder format's labels.json: two labelled hands (a JPEG and a PNG) and a frame without a hand."""
    return build_folder_json(seeds)


@fuzz_format(
    "folder_csv",
    targets=("labels.csv",),
    mutators=("csv", "csv", "bytes"),
    entries=((e_open_dataset("folder"), 4), (e_inspect("folder"), 1), (e_evaluate_checkpoint, 1)),
)
def seed_folder_csv(seeds: Seeds) -> dict[str, bytes]:
    """The folder format's labels.csv: a header, then one row per hand."""
    j = seeds.joints((160, 120))
    header = ["image", "handedness", "gesture", "has_hand"] + [f"{a}{k}" for k in range(21) for a in ("x", "y")]
    rows = [",".join(header)]
    for name in ("images/a.jpg", "images/b.png"):
        rows.append(",".join([name, "left", "fist", "1"] + [f"{v:.2f}" for v in j.ravel()]))
    files = build_folder_json(seeds)
    del files["labels.json"]
    return {"labels.csv": ("\n".join(rows) + "\n").encode(), **files}


@fuzz_format("freihand_json", targets=("training_xyz.json", "training_K.json"), mutators=("json", "json", "bytes"),
             entries=((e_open_dataset("freihand", split="training"), 1),))  # fmt: skip
def seed_freihand(seeds: Seeds) -> dict[str, bytes]:
    """FreiHAND's own layout: training_xyz.json (metres), training_K.json, the 4 versions of one 224 x 224 image."""
    import numpy as np

    xyz = np.asarray(seeds.frame().labels["joints_3d"], dtype=np.float64) / 1000.0
    k = [[241.42 * 224 / 320, 0.0, 112.0], [0.0, 241.42 * 224 / 320, 112.0], [0.0, 0.0, 1.0]]
    files = {"training_xyz.json": json.dumps([xyz.round(6).tolist()]).encode(),
             "training_K.json": json.dumps([k]).encode()}  # fmt: skip
    for v in range(4):
        files[f"training/rgb/{v:08d}.jpg"] = seeds.image(".jpg", (224, 224))
    return files


@fuzz_format("interhand_json", targets=("test_data.json", "test_camera.json", "test_joint_3d.json"),
             mutators=("json", "json", "bytes"), entries=((e_open_dataset("interhand"), 1),))  # fmt: skip
def seed_interhand(seeds: Seeds) -> dict[str, bytes]:
    """InterHand2.6M's flat layout: *_data.json, *_camera.json, *_joint_3d.json (42 world joints) and an image."""
    import numpy as np

    from handpose.skeleton import get_convention

    xyz = np.asarray(seeds.frame().labels["joints_3d"], dtype=np.float64)
    right = np.nan_to_num(get_convention("interhand").from_canonical(xyz))
    world = np.concatenate([right, right + [60.0, 0, 0]])  # world = camera frame (R = I, campos = 0)
    data = {"images": [{"id": 7, "file_name": "img.jpg", "width": 320, "height": 240, "capture": 0, "camera": "400",
                        "frame_idx": 11, "seq_name": "s"}],
            "annotations": [{"id": 1, "image_id": 7, "joint_valid": [1] * 42, "hand_type": "right",
                             "bbox": [0, 0, 10, 10]}]}  # fmt: skip
    camera = {"0": {"campos": {"400": [0, 0, 0]}, "camrot": {"400": np.eye(3).tolist()},
                    "focal": {"400": [241.42, 241.42]}, "princpt": {"400": [160.0, 120.0]}}}  # fmt: skip
    joints = {"0": {"11": {"world_coord": world.round(3).tolist(), "joint_valid": [1] * 42}}}
    return {"test_data.json": json.dumps(data).encode(), "test_camera.json": json.dumps(camera).encode(),
            "test_joint_3d.json": json.dumps(joints).encode(), "img.jpg": seeds.image(".jpg")}  # fmt: skip


@fuzz_format("nyu_mat", targets=("train/joint_data.mat",), mutators=("mat", "mat", "bytes"),
             entries=((e_open_dataset("nyu", split="train"), 1),))  # fmt: skip
def seed_nyu(seeds: Seeds) -> dict[str, bytes]:
    """NYU: train/joint_data.mat (joint_uvd, joint_xyz: 1 kinect x 1 frame x 36 x 3) and its packed depth PNG."""
    import cv2
    import numpy as np
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    xyz = np.concatenate([rng.uniform(-60, 60, (36, 2)), rng.uniform(500, 700, (36, 1))], axis=1)
    uvd = np.c_[320 + 588.03 * xyz[:, 0] / xyz[:, 2], 240 - 587.07 * xyz[:, 1] / xyz[:, 2], xyz[:, 2]]
    buf = io.BytesIO()
    savemat(buf, {"joint_uvd": uvd[None, None], "joint_xyz": xyz[None, None]})
    d = np.full((480, 640), 600, np.uint16)
    png = cv2.imencode(".png", np.dstack([d & 255, d >> 8, np.zeros_like(d)]).astype(np.uint8))[1].tobytes()
    return {"train/joint_data.mat": buf.getvalue(), "train/depth_1_0000001.png": png}


@fuzz_format("stb_mat", targets=("labels/B1Counting_SK.mat",), mutators=("mat", "mat", "bytes"),
             entries=((e_open_dataset("stb", split="test", sequences=["B1Counting"]), 1),))  # fmt: skip
def seed_stb(seeds: Seeds) -> dict[str, bytes]:
    """STB: labels/B1Counting_SK.mat (handPara 3 x 21 x 1, mm) and the 640 x 480 colour image."""
    import cv2
    import numpy as np
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    para = np.concatenate([rng.uniform(-50, 50, (2, 21)), rng.uniform(400, 500, (1, 21))])[..., None]
    buf = io.BytesIO()
    savemat(buf, {"handPara": para})
    png = cv2.imencode(".png", cv2.resize(cv2.imdecode(np.frombuffer(seeds.image(".jpg"), np.uint8), 1),
                                          (640, 480)))[1].tobytes()  # fmt: skip
    return {"labels/B1Counting_SK.mat": buf.getvalue(), "images/B1Counting/SK_color_0.png": png}


@fuzz_format("rhd_pickle", targets=("training/anno_training.pickle",), mutators=("pickle", "pickle", "bytes"),
             entries=((e_open_dataset("rhd", split="training"), 3), (e_safe_load, 1)))  # fmt: skip
def seed_rhd(seeds: Seeds) -> dict[str, bytes]:
    """RHD's own layout: training/anno_training.pickle (a dict of numpy arrays, protocol 2) and a 320 x 320 PNG."""
    import numpy as np

    rng = np.random.default_rng(4)
    xyz = np.concatenate([rng.uniform(-0.05, 0.05, (42, 2)), rng.uniform(0.4, 0.5, (42, 1))], axis=1)
    k = np.array([[300.0, 0, 160], [0, 300.0, 160], [0, 0, 1]])
    uv = (xyz @ k.T)[:, :2] / xyz[:, 2:]
    anno = {0: {"xyz": xyz.astype(np.float32), "uv_vis": np.c_[uv, np.ones(42)].astype(np.float32), "K": k}}
    return {"training/anno_training.pickle": pickle.dumps(anno, protocol=2),
            "training/color/00000.png": seeds.image(".png", (320, 320))}  # fmt: skip


@fuzz_format("synthetic_shard", targets=("test/shard-00000.npz",), mutators=("npz", "npz", "bytes"),
             entries=((e_synthetic, 3), (e_inspect("synthetic", "", "--split", "test"), 1)))  # fmt: skip
def seed_synthetic(seeds: Seeds) -> dict[str, bytes]:
    """A 4-frame split of the synthetic hand world (its shard .npz and generation.json)."""
    return seeds.synthetic_split()


@fuzz_format("video", targets=("clip.avi",), mutators=("bytes", "video", "video"), entries=((e_predict_video, 1),))
def seed_video(seeds: Seeds) -> dict[str, bytes]:
    """A 6-frame 160 x 120 MJPG AVI clip of a hand."""
    return {"clip.avi": seeds.video()}


@fuzz_format("yaml_config", targets=("recipe.yaml",), mutators=("yaml", "yaml", "text", "bytes"),
             entries=((e_load_config, 5), (e_train, 1)))  # fmt: skip
def seed_yaml(seeds: Seeds) -> dict[str, bytes]:
    """A training recipe (configs/unet_heatmap_synthetic.yaml)."""
    return {"recipe.yaml": (REPO / "configs" / "unet_heatmap_synthetic.yaml").read_bytes()}


@fuzz_format("checkpoint_sidecar", targets=("ckpt/model.json",), mutators=("json", "json", "bytes"),
             entries=((e_load_checkpoint, 4), (e_evaluate_checkpoint, 1), (e_export, 1)))  # fmt: skip
def seed_sidecar(seeds: Seeds) -> dict[str, bytes]:
    """A checkpoint folder: model.json (the sidecar: model, config, codec state, weights' SHA-256) and weights."""
    return {f"ckpt/{k}": v for k, v in seeds.mean_pose_checkpoint().items()}


@fuzz_format("safetensors", targets=("ckpt/model.safetensors",), mutators=("safetensors", "safetensors", "bytes"),
             entries=((e_load_checkpoint, 4), (e_evaluate_checkpoint, 1)))  # fmt: skip
def seed_safetensors(seeds: Seeds) -> dict[str, bytes]:
    """The same checkpoint; its model.safetensors is fuzzed."""
    return seed_sidecar(seeds)


@fuzz_format("onnx_sidecar", targets=("pose.json", "det.json"), mutators=("json", "json", "bytes"),
             entries=((e_onnx_estimator, 3), (e_predict_onnx, 1)))  # fmt: skip
def seed_onnx(seeds: Seeds) -> dict[str, bytes]:
    """The shipped detector and pose models exported to ONNX; a graph's JSON sidecar is fuzzed."""
    return seeds.onnx_models()


# ------------------------------------------------------------------------------------------------------------------
# One case, in the worker
# ------------------------------------------------------------------------------------------------------------------

EARLIER = {  # outputs of an "earlier run" in the output folder, under the names the commands write
    name: (b"earlier " + name.encode() + b"\n")
    for name in ("img.json", "img.png", "predictions.json", "report.json", "metrics.json", "stats.json",
                 "overlay.png", "m.onnx", "m.json", "clip.jsonl", "clip.mp4", "good.json", "depth.json", "earlier.txt")
}  # fmt: skip


def _tree_state(folder: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    state = {}
    for p in folder.rglob("*"):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        st = p.lstat()
        state[str(p.relative_to(folder))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return state


def _rss_mb(field_name: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


def case_rng(seed: int, fmt: str, index: int) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{fmt}:{index}".encode()).digest()[:8], "little"))


def pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    items, weights = zip(*weighted)
    return rng.choices(items, weights=weights)[0]


def run_case(fmt: str, index: int, seed: int, seeds: Seeds, work: Path, max_case_mb: float) -> dict[str, Any]:
    """Build, mutate and feed one case; classify the outcome (see the module docstring)."""
    from handpose.errors import HandposeError

    spec = FORMATS[fmt]
    rng = case_rng(seed, fmt, index)
    files = seeds.files(fmt)
    root = work / "case"
    if root.exists():
        shutil.rmtree(root)
    inp, out, cwd = root / "in", root / "out", root / "cwd"
    for d in (inp, out, cwd):
        d.mkdir(parents=True)
    for rel, data in files.items():
        (inp / rel).parent.mkdir(parents=True, exist_ok=True)
        (inp / rel).write_bytes(data)
    target_rel = rng.choice(spec.targets)
    family = rng.choice(spec.mutators)
    original = files[target_rel]
    if index < 0:  # the seed itself, through entry -index - 1: it must be read correctly
        mutated, mutation, family = original, "none (the seed)", "none"
        entry = spec.entries[-index - 1][0]
    else:
        try:
            mutated, mutation = MUTATORS[family](original, rng)
        except Exception as exc:  # noqa: BLE001 - a structured mutation the material does not allow: damage bytes
            mutated, mutation = _bytes_mutation(original, rng)
            mutation += f" (after {type(exc).__name__} in {family})"
        entry = pick(rng, spec.entries)
    (inp / target_rel).write_bytes(mutated)
    for name, data in EARLIER.items():
        (out / name).write_bytes(data)
    case = Case(fmt, index, rng, root, inp, out, cwd, inp / target_rel, seeds, unchanged=mutated == original)
    if hasattr(entry, "prepare"):
        entry.prepare(case)
    before = _tree_state(root, skip=out)
    tmp, home = Path(os.environ["TMPDIR"]), Path(os.environ["HOME"])
    tmp_before, home_before = _tree_state(tmp), _tree_state(home)
    record: dict[str, Any] = {"format": fmt, "index": index, "entry": entry.__name__, "target": target_rel,
                              "mutation": f"{family}: {mutation}", "bytes": len(mutated)}  # fmt: skip
    os.chdir(cwd)
    rest = _rss_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    try:
        entry(case)
        outcome, detail = "ok", ""
    except (HandposeError, Refused) as exc:
        outcome, detail = "typed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    except Broken as exc:
        outcome, detail = "broken", str(exc)[:500]
    except MemoryError as exc:
        outcome, detail = "memory", f"MemoryError: {exc}"[:300]
    except RecursionError as exc:
        outcome, detail = "untyped", f"RecursionError: {exc}"[:300]
    except BaseException as exc:  # noqa: BLE001 - everything else is a failure to report, not to stop on
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(tb)
                      if "handpose" in f.filename), tb[-1].name if tb else "?")  # fmt: skip
        outcome, detail = "untyped", f"{type(exc).__name__} at {where}: {' '.join(str(exc).split())[:300]}"
    record["seconds"] = time.perf_counter() - t0
    record["peak_mb"] = max(0.0, _rss_mb("VmHWM") - rest)
    os.chdir(work)
    record.update(outcome=outcome, detail=detail, notes={k: v for k, v in case.notes.items() if k != "stderr"})
    if case.notes.get("stderr"):
        record["stderr"] = case.notes["stderr"]
    problems = []
    if case.unchanged and outcome != "ok":
        problems.append(f"the unchanged seed was refused: {detail}")
    if record["peak_mb"] > max_case_mb:
        problems.append(f"peak memory {record['peak_mb']:.0f} MB above rest (limit {max_case_mb:.0f} MB)")
    after = _tree_state(root, skip=out)
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))[:3]
        problems.append(f"wrote outside the output folder: {changed}")
    home_after = _tree_state(home)
    if home_after != home_before:
        changed = sorted(set(home_after.items()) ^ set(home_before.items()))[:3]
        problems.append(f"wrote into HOME: {changed}")
    leftovers = sorted(set(_tree_state(tmp)) - set(tmp_before))
    if leftovers:
        problems.append(f"left files in TMPDIR: {leftovers[:3]}")
        for name in leftovers:
            p = tmp / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    done = set(case.notes.get("outputs_of_done_inputs", ()))  # a folder run that skipped a file wrote the others'
    for name, data in EARLIER.items():
        p = out / name
        if outcome != "ok" and name not in done and (not p.is_file() or p.read_bytes() != data):
            problems.append(f"a failed run changed the earlier output {name}")
    temporaries = [p.name for p in out.rglob(".*")]
    if temporaries:
        problems.append(f"temporary files left in the output folder: {temporaries[:3]}")
    if problems:
        record["outcome"] = "broken" if outcome in ("ok", "typed") else outcome
        record["detail"] = "; ".join(problems + ([detail] if detail else []))[:800]
    return record


def worker(args: argparse.Namespace) -> int:
    """Run cases read from stdin (one JSON per line), answering on a private copy of stdout; everything the code
    under test prints goes to /dev/null."""
    import resource

    channel = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    work = Path(args.work)
    import numpy  # noqa: F401 - the heavy imports happen before the resting size is measured
    import torch

    torch.set_num_threads(1)
    import matplotlib.pyplot  # noqa: F401 - its font cache goes to HOME on first import: before the first case
    import onnxruntime  # noqa: F401 - its import writes $TMPDIR/.ses: before the first case, not during one

    import handpose.cli  # noqa: F401
    import handpose.data.readers  # noqa: F401
    import handpose.inference  # noqa: F401

    seeds = Seeds(work.parent / "seeds")
    size = _rss_mb("VmSize")
    limit = int((size + args.address_space_gb * 1024) * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    channel.write(json.dumps({"ready": True, "rss_mb": _rss_mb("VmRSS")}) + "\n")
    for line in sys.stdin:
        job = json.loads(line)
        try:
            record = run_case(job["format"], job["index"], job["seed"], seeds, work, args.max_case_mb)
        except Exception as exc:  # noqa: BLE001 - the harness itself failed (a seed could not be built)
            record = {"format": job["format"], "index": job["index"], "outcome": "harness",
                      "detail": f"{type(exc).__name__}: {exc}"[:500], "seconds": 0.0, "peak_mb": 0.0}  # fmt: skip
        record["rss_mb"] = _rss_mb("VmRSS")
        channel.write(json.dumps(record) + "\n")
    return 0


# ------------------------------------------------------------------------------------------------------------------
# The parent: dispatch, watch, report
# ------------------------------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        env = {**os.environ, "HOME": str(work / "home"), "TMPDIR": str(work / "tmp"),
               "HANDPOSE_CACHE": str(work / "home" / "cache"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MALLOC_ARENA_MAX": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0",
               "PYTHONPATH": str(REPO / "src")}  # fmt: skip
        for d in ("home", "tmp", "run"):
            (work / d).mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--work", str(work / "run"),
               "--address-space-gb", str(args.address_space_gb), "--max-case-mb", str(args.max_case_mb)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                     start_new_session=True, cwd=str(work / "run"))  # fmt: skip
        self.cases = 0
        hello = self.read(args.startup_timeout)
        if hello is None or not hello.get("ready"):
            self.kill()
            raise RuntimeError("the fuzz worker did not start")
        self.rest_mb = hello["rss_mb"]

    def read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"eof": True}

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        self.cases += 1
        return self.read(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def schedule(cases: int, formats: list[str]) -> list[tuple[str, int]]:
    """Case k goes to format k mod F (so every format gets cases / F of them), as that format's case k // F."""
    return [(formats[k % len(formats)], k // len(formats)) for k in range(cases)]


def summarise(records: list[dict[str, Any]], formats: list[str], seconds: float, args: argparse.Namespace) -> dict:
    import statistics

    seed_checks = [r for r in records if r["index"] < 0]
    records = [r for r in records if r["index"] >= 0]
    per: dict[str, dict[str, Any]] = {}
    for fmt in formats:
        rs = [r for r in records if r["format"] == fmt]
        times = sorted(r["seconds"] for r in rs)
        per[fmt] = {
            "cases": len(rs),
            "ok": sum(r["outcome"] == "ok" for r in rs),
            "typed": sum(r["outcome"] == "typed" for r in rs),
            "failures": sum(r["outcome"] not in ("ok", "typed") for r in rs),
            "median_ms": 1000 * statistics.median(times) if times else None,
            "p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))] if times else None,
            "max_ms": 1000 * times[-1] if times else None,
            "peak_mb": max((r.get("peak_mb", 0.0) for r in rs), default=0.0),
            "entries": sorted({r.get("entry", "?") for r in rs}),
        }
    failures = [r for r in records if r["outcome"] not in ("ok", "typed")]
    failures += [{**r, "outcome": "seed"} for r in seed_checks if r["outcome"] != "ok"]
    kinds: dict[str, int] = {}
    for r in failures:
        kinds[r["outcome"]] = kinds.get(r["outcome"], 0) + 1
    return {
        "cases": len(records),
        "seed_checks": len(seed_checks),
        "seed": args.seed,
        "seconds": seconds,
        "timeout_s": args.timeout,
        "max_case_mb": args.max_case_mb,
        "address_space_gb": args.address_space_gb,
        "per_format": per,
        "failure_kinds": kinds,
        "failures": failures[:200],
        "peak_mb": max((r.get("peak_mb", 0.0) for r in records), default=0.0),
        "seconds_per_case": seconds / max(1, len(records)),
    }


def print_summary(summary: dict[str, Any], out: Any = sys.stdout) -> None:
    print(f"\n{'format':<20}{'cases':>7}{'ok':>7}{'typed':>7}{'fail':>6}{'median ms':>11}{'p99 ms':>9}"
          f"{'max ms':>9}{'peak MB':>9}", file=out)  # fmt: skip
    for fmt, s in summary["per_format"].items():
        print(f"{fmt:<20}{s['cases']:>7}{s['ok']:>7}{s['typed']:>7}{s['failures']:>6}{s['median_ms'] or 0:>11.1f}"
              f"{s['p99_ms'] or 0:>9.0f}{s['max_ms'] or 0:>9.0f}{s['peak_mb']:>9.0f}", file=out)  # fmt: skip
    kinds = ", ".join(f"{k} {v}" for k, v in summary["failure_kinds"].items()) or "none"
    print(f"\n{summary['cases']} cases in {summary['seconds']:.0f} s ({1000 * summary['seconds_per_case']:.0f} ms "
          f"per case), peak {summary['peak_mb']:.0f} MB above rest; failures: {kinds}", file=out)  # fmt: skip
    for r in summary["failures"][:40]:
        print(f"  {r['outcome']:<8} {r['format']}:{r['index']}  {r.get('entry', '')}  [{r.get('mutation', '')}]  "
              f"{r.get('detail', '')[:240]}", file=out)  # fmt: skip


def run_fuzz(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work).resolve()
    formats = [f for f in FORMATS if not args.formats or f in args.formats.split(",")]
    unknown = set(args.formats.split(",")) - set(FORMATS) if args.formats else set()
    if unknown:
        raise SystemExit(f"unknown format(s): {', '.join(sorted(unknown))}; known: {', '.join(FORMATS)}")
    if args.case:
        fmt, _, index = args.case.partition(":")
        jobs = [(fmt, int(index))]
    else:
        # first every seed through every entry point (case -k: entry k - 1, unchanged), then the mutated cases
        checks = [(f, -k - 1) for f in formats for k in range(len(FORMATS[f].entries))]
        jobs = schedule(args.cases, formats)
        formats = list(dict.fromkeys(f for f, _ in jobs))
        jobs = checks + jobs
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    w = Worker(args, work)
    try:
        for n, (fmt, index) in enumerate(jobs, start=1):
            job = {"format": fmt, "index": index, "seed": args.seed}
            record = w.run(job, args.timeout)
            if record is None or record.get("eof"):
                outcome = "hang" if record is None else "crash"
                code = w.proc.poll()
                w.kill()
                record = {"format": fmt, "index": index, "outcome": outcome, "seconds": args.timeout,
                          "peak_mb": 0.0, "detail": f"no answer within {args.timeout:.0f} s" if outcome == "hang"
                          else f"the worker died (exit {code})"}  # fmt: skip
                w = Worker(args, work)
            elif w.cases >= args.recycle or record.get("rss_mb", 0) > w.rest_mb + args.max_case_mb:
                w.kill()  # a fresh worker now and then: no case pays for an earlier one's leaks
                w = Worker(args, work)
            records.append(record)
            if args.case:
                print(json.dumps(record, indent=2))
            elif args.progress and n % 100 == 0:
                bad = sum(r["outcome"] not in ("ok", "typed") for r in records)
                print(f"  {n}/{len(jobs)} cases, {bad} failure(s), {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        w.kill()
    summary = summarise(records, formats, time.perf_counter() - t0, args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000, help="cases in all, shared evenly by the formats")
    ap.add_argument("--seed", type=int, default=0, help="fixes every case (default 0)")
    ap.add_argument("--formats", default="", help="comma-separated subset of: " + ", ".join(FORMATS))
    ap.add_argument("--case", default="", help="replay one case FORMAT:INDEX and print its record")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    ap.add_argument("--max-case-mb", type=float, default=1024.0, help="peak memory per case above rest (MB)")
    ap.add_argument("--address-space-gb", type=float, default=4.0, help="worker address space above rest (GiB)")
    ap.add_argument("--recycle", type=int, default=500, help="a fresh worker after this many cases")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--work", default=str(REPO / "runs" / "fuzz"), help="scratch folder (default runs/fuzz)")
    ap.add_argument("--json", default="", help="write the summary here")
    ap.add_argument("--quiet", dest="progress", action="store_false", help="no progress lines")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    summary = run_fuzz(args)
    if not args.case:
        print_summary(summary)
    return 0 if not summary["failure_kinds"] else 1


if __name__ == "__main__":
    sys.exit(main())
