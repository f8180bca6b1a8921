"""Shared test helpers: where the real-data fixtures are, and how a missing one is treated.

Fixtures are read in place from ``HANDPOSE_FIXTURES`` (default: ``../shared/fixtures`` beside the checkout).
When ``CI=true`` a missing fixture is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("HANDPOSE_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
IN_CI = os.environ.get("CI", "").lower() == "true"


def fixture_path(*parts: str) -> Path:
    """Path of a fixture file or folder; skips the test if it is missing (fails instead under CI=true)."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        message = f"fixture missing: {path} (set HANDPOSE_FIXTURES)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
