"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename over the target.

A run killed at any moment leaves either the old file or the new one, never a half-written file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import DataError


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():  # else the rename at the end would fail naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it, which is not thread-safe


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (numpy arrays and scalars allowed) atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a missing or malformed file raises :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        # json says "Invalid control character at" and leaves the position to its own message: give the column
        raise DataError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path=path) from None
    except ValueError as exc:  # a number too long to convert (Python refuses integers of more than 4300 digits)
        raise DataError(f"invalid JSON: {' '.join(str(exc).split()[:9])}", path=path) from None
    except RecursionError:
        raise DataError("invalid JSON: arrays or objects nested too deeply to read", path=path) from None


def save_npz_atomic(path: str | os.PathLike[str], compress: bool = False, **arrays: np.ndarray) -> None:
    """``np.savez`` (or ``savez_compressed``) written atomically."""
    with atomic_write(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file without pickle; a corrupt file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != b"PK":  # an .npz is a zip of .npy arrays; without this, numpy reports other files as pickles
        raise DataError("not an .npz file (it does not start like a zip archive)", path=path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"corrupt or unreadable .npz ({type(exc).__name__}: {exc})", path=path) from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"corrupt .npz ({type(exc).__name__})", path=path) from None


def encode_state(obj: Any) -> Any:
    """Make a state (a codec's, a model's kwargs) JSON-safe, tagging numpy arrays and tensors so that
    :func:`decode_state` restores them exactly (as numpy arrays; no torch needed to read them back)."""
    if hasattr(obj, "detach"):  # a torch tensor, without importing torch here
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): encode_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_state(v) for v in obj]
    return obj


def decode_state(obj: Any) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: decode_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v) for v in obj]
    return obj
