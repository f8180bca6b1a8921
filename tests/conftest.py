"""Shared test helpers: where the real-data fixtures are, and how a missing one is treated.

Fixtures are read in place from ``HANDPOSE_FIXTURES`` (default: ``../shared/fixtures`` beside the checkout), real
photographs from ``HANDPOSE_REALDATA`` (default ``../shared/realdata``). When ``CI=true`` a missing fixture is a
failure, never a skip. Outside CI a missing one skips the test, and the run ends with one line that counts those
skips and says how to point the variables at the data (so ``make test`` exiting 0 never hides them).

Markers: ``slow`` marks the trainings, the benchmark and the fuzz subset (about 10 to 30 s each on the project's
2-core CPU); ``make test`` runs them all, ``pytest -m "not slow"`` is the quick loop.
Every test has a time limit (pytest-timeout, ``timeout`` in pyproject.toml); a slow test may raise its own with
``@pytest.mark.timeout(N)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("HANDPOSE_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
REALDATA = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")).resolve()
IN_CI = os.environ.get("CI", "").lower() == "true"

#: the words every skip for missing real data starts with (counted at the end of the run)
MISSING = "real data missing: "


def _real_path(root: Path, variable: str, parts: tuple[str, ...]) -> Path:
    path = root.joinpath(*parts)
    if not path.exists():
        message = f"{MISSING}{path} (set {variable})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def fixture_path(*parts: str) -> Path:
    """Path of a fixture file or folder; skips the test if it is missing (fails instead under CI=true)."""
    return _real_path(FIXTURES, "HANDPOSE_FIXTURES", parts)


def realdata_path(*parts: str) -> Path:
    """Path of a file or folder of the real photographs; skips the test if it is missing (fails under CI=true)."""
    return _real_path(REALDATA, "HANDPOSE_REALDATA", parts)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------------------- end-of-run summary

_skipped_for_data: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple) and MISSING in str(report.longrepr[2]):
        _skipped_for_data.append(report.nodeid)


def skipped_summary(count: int) -> str:
    """The last line of a run that skipped ``count`` tests for missing real data."""
    return (
        f"handpose: {count} real-data test(s) skipped: no fixtures at {FIXTURES} or no photos at {REALDATA}; "
        "point HANDPOSE_FIXTURES at shared/fixtures and HANDPOSE_REALDATA at shared/realdata "
        "(e.g. HANDPOSE_FIXTURES=/path/to/shared/fixtures make test) to run them"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    # after pytest's own "N passed, M skipped" line: the very last line of the run
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if _skipped_for_data and reporter is not None:
        reporter.write_line(skipped_summary(len(_skipped_for_data)), yellow=True, bold=True)


def labelled_hand(folder: str, label_file: str, image: str) -> tuple[np.ndarray, np.ndarray]:
    """The labelled hand of ``image`` read straight from the fixture's COCO JSON (independently of our readers):
    ((21, 2) px joints, NaN where v == 0; (4,) [x0, y0, x1, y1] box from the COCO [x, y, w, h])."""
    data = json.loads(fixture_path("mmpose", folder, label_file).read_text())
    image_id = next(im["id"] for im in data["images"] if im["file_name"] == image)
    ann = next(a for a in data["annotations"] if a["image_id"] == image_id)
    kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)
    x, y, w, h = ann["bbox"]
    return np.where(kp[:, 2:] > 0, kp[:, :2], np.nan), np.array([x, y, x + w, y + h], dtype=np.float64)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: the examples/ webcam photos and their names in realdata's webcam_hands test split (examples/NOTICE)
WEBCAM_EXAMPLES = {"webcam_1.jpg": "26_pic00009.jpg", "webcam_2.jpg": "16_pic00008.jpg",
                   "webcam_3.jpg": "1528664299.56_pic00128.jpg", "webcam_4.jpg": "5_pic00081.jpg"}  # fmt: skip


def example_photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    """An examples/ webcam photo (RGB, 400 x 300) and its (K, 4) human hand boxes [x0, y0, x1, y1] px, read from
    the same photo's row of realdata's webcam_hands test split (the photo there must be the same pixels)."""
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    reader = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="test")
    path, boxes = next((p, b) for p, b in reader.image_boxes() if Path(p).name == WEBCAM_EXAMPLES[name])
    image = read_image(EXAMPLES / name)
    assert np.array_equal(image, read_image(path)), f"examples/{name} is not {path}"
    return image, boxes
