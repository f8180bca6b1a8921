"""The restricted unpickler reads plain data and numpy arrays, and never runs code from a pickle."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from handpose.data.safe_pickle import safe_load, safe_loads
from handpose.errors import DataError, UnsafeFileError


class _TouchOnLoad:
    """Unpickling this with plain pickle creates ``marker`` (it calls ``open(marker, "w")``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _SystemOnLoad:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Point:  # an ordinary class: its instances are not plain data
    def __init__(self):
        self.x = 1


def _rhd_like():
    return {
        0: {"xyz": np.arange(126, dtype=np.float64).reshape(42, 3) / 100, "uv_vis": np.ones((42, 3)), "K": np.eye(3)},
        7: {"xyz": np.zeros((42, 3), np.float32), "flags": [True, None, 2.5, "s", b"b", (1, 2)]},
    }


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_data_and_arrays_round_trip(protocol):
    data = _rhd_like()
    out = safe_loads(pickle.dumps(data, protocol=protocol))
    assert sorted(out) == [0, 7]
    np.testing.assert_array_equal(out[0]["xyz"], data[0]["xyz"])
    assert out[7]["xyz"].dtype == np.float32 and out[7]["flags"] == data[7]["flags"]
    scalar = safe_loads(pickle.dumps({"s": np.float32(2.5), "i": np.int64(3)}, protocol=protocol))
    assert scalar == {"s": 2.5, "i": 3}


def test_python2_style_pickle_with_latin1_strings():
    # A protocol-2 pickle of a numpy array as Python 2 wrote it: the raw bytes travel as a latin-1 'str'
    # (BINSTRING), the globals are numpy.core.multiarray._reconstruct / numpy.ndarray / numpy.dtype.
    arr = np.array([[1.5, -2.0], [3.25, 4.0]], dtype="<f8")
    raw = arr.tobytes()
    p = bytearray(b"\x80\x02")
    p += b"cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02U\x01b\x86q\x03Rq\x04("
    p += b"K\x01K\x02K\x02\x86q\x05cnumpy\ndtype\nq\x06U\x02f8K\x00K\x01\x87Rq\x07"
    p += b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbq\x08\x89"
    p += b"T" + len(raw).to_bytes(4, "little") + raw + b"tb."
    out = safe_loads(bytes(p))
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("payload_cls", [_TouchOnLoad, _SystemOnLoad])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload_cls):
    marker = tmp_path / "pwned"
    blob = pickle.dumps({"anno": [payload_cls(marker)]}, protocol=2)
    path = tmp_path / "anno_training.pickle"
    path.write_bytes(blob)
    with pytest.raises(UnsafeFileError, match="refusing to unpickle") as err:
        safe_load(path)
    assert str(path) in str(err.value)
    assert not marker.exists()
    # the payload is live: plain pickle in a separate process does create the marker
    code = f"import pickle; pickle.loads(open({str(path)!r}, 'rb').read())"
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=60)
    assert marker.exists()


def test_objects_sets_and_object_arrays_are_refused():
    with pytest.raises(UnsafeFileError, match="Point"):
        safe_loads(pickle.dumps(Point(), protocol=2))
    with pytest.raises(UnsafeFileError, match="set"):
        safe_loads(pickle.dumps({1, 2}, protocol=4))
    with pytest.raises(UnsafeFileError):
        safe_loads(pickle.dumps(np.array([{"a": 1}, None], dtype=object), protocol=2))
    evil_codec = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x03\x00\x00\x00hex\x86R."
    with pytest.raises(UnsafeFileError, match="not allowed"):
        safe_loads(evil_codec)


def test_corrupt_truncated_and_missing(tmp_path):
    blob = pickle.dumps(_rhd_like(), protocol=2)
    with pytest.raises(DataError, match="truncated|corrupt"):
        safe_loads(blob[: len(blob) // 2], "half.pickle")
    with pytest.raises(DataError, match="corrupt"):
        safe_loads(b"\x80\x02this is not a pickle", "junk.pickle")
    with pytest.raises(DataError, match="file not found"):
        safe_load(tmp_path / "none.pickle")
    (tmp_path / "empty.pickle").write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        safe_load(tmp_path / "empty.pickle")
