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
