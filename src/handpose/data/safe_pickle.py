"""A restricted unpickler for the few datasets that ship their labels as pickles (RHD, LSMV calibrations).

A pickle is a program: ``pickle.load`` imports and calls whatever the file names, so a crafted label file could run
any code. This loader only lets a pickle build plain data — dicts, lists, tuples, numbers, strings, bytes, booleans,
None — and numpy arrays and scalars of numeric / boolean / string dtypes. Any other global a pickle names
(``os.system``, ``builtins.eval``, a class whose ``__reduce__`` runs code, ``copyreg`` reconstructors, ...) is
refused *before* it is looked up, with :class:`~handpose.errors.UnsafeFileError` naming the file and the global.
The result is checked once more after loading so that nothing else (sets, object arrays) slips through.

Numpy arrays arrive through exactly these globals, in both the numpy 1 (``numpy.core``) and numpy 2
(``numpy._core``) spellings: ``multiarray._reconstruct``, ``multiarray.scalar``, ``numeric._frombuffer``,
``numpy.ndarray`` and ``numpy.dtype`` (object dtypes refused), plus ``_codecs.encode`` restricted to latin-1, which
protocol-2 pickles written by Python 3 use for raw bytes. Python 2 pickles (RHD's ``anno_*.pickle``) are read with
``encoding="latin1"``, as their own loaders do.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UnsafeFileError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar  # type: ignore[attr-defined]
    from numpy._core.numeric import _frombuffer  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

_PLAIN = (dict, list, tuple, str, bytes, int, float, bool, type(None))


def _safe_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    dt = np.dtype(obj, align=align, copy=copy)
    if dt.hasobject:
        raise pickle.UnpicklingError("numpy dtype with Python objects is not allowed")
    return dt


def _safe_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(obj, "latin1", errors)


def _safe_scalar(dtype: np.dtype, *args: Any) -> Any:
    if np.dtype(dtype).hasobject:
        raise pickle.UnpicklingError("numpy object scalar is not allowed")
    return scalar(dtype, *args)


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy.ndarray may be reconstructed")
    return _reconstruct(subtype, shape, dtype)


_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _safe_reconstruct
    _ALLOWED[(_mod, "scalar")] = _safe_scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _frombuffer
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = _safe_dtype
_ALLOWED[("_codecs", "encode")] = _safe_encode


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle hook
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"refusing to unpickle: the file asks for {module}.{name}, and only plain data and numpy arrays "
                "are allowed",
                path=self._source,
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError("refusing to unpickle: the file uses persistent ids", path=self._source)


def _check_plain(obj: Any, source: str, where: str = "", depth: int = 0) -> None:
    if depth > 100:
        raise DataError("pickle nests deeper than 100 levels", path=source)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafeFileError(f"refusing object array at {where or 'top level'}", path=source)
        return
    if isinstance(obj, np.generic):
        return
    if not isinstance(obj, _PLAIN) or type(obj) not in _PLAIN:
        raise UnsafeFileError(
            f"refusing {type(obj).__name__} at {where or 'top level'}: only dicts, lists, tuples, numbers, strings "
            "and numpy arrays are allowed",
            path=source,
        )
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, source, f"{where}[key]", depth + 1)
            _check_plain(v, source, f"{where}[{k!r}]", depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, source, f"{where}[{i}]", depth + 1)


def safe_loads(data: bytes, source: str | os.PathLike[str] = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only plain data and numpy arrays.

    Args:
        data: the pickle's bytes.
        source: a name for the data in error messages (normally its file path).
    Raises:
        UnsafeFileError: the pickle names any other global, or builds anything but plain data.
        DataError: the pickle is truncated or corrupt.
    """
    src = str(source)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), src).load()
    except UnsafeFileError:
        raise
    except pickle.UnpicklingError as exc:
        message = " ".join(str(exc).split())
        if "not allowed" in message:
            raise UnsafeFileError(f"refusing to unpickle: {message}", path=src) from None
        raise DataError(f"corrupt pickle ({message})", path=src) from None
    except (
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        MemoryError,
        OverflowError,
        LookupError,
        RecursionError,
    ) as exc:  # LookupError: an unknown text encoding named by the pickle
        raise DataError(f"corrupt or truncated pickle ({type(exc).__name__}: {exc})", path=src) from None
    _check_plain(obj, src)
    return obj


def safe_load(path: str | os.PathLike[str]) -> Any:
    """Unpickle the file at ``path`` with :func:`safe_loads`; a missing or empty file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    data = path.read_bytes()
    if not data:
        raise DataError("empty file (0 bytes)", path=path)
    return safe_loads(data, path)
