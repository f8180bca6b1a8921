"""Outside CI, tests whose real data is missing skip, and the run ends with one line counting them and saying how
to point HANDPOSE_FIXTURES at the data; under CI=true the same tests fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HANDPOSE_FIXTURES", "HANDPOSE_REALDATA")}
    env.update(HANDPOSE_FIXTURES=str(tmp_path / "no-fixtures"), CI=ci, COLUMNS="200")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_readers_fixtures.py"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_missing_fixtures_skip_with_a_closing_line_and_fail_under_ci(tmp_path):
    run = _pytest(tmp_path, "false")
    assert run.returncode == 0, run.stdout[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    skipped = int(lines[-2].split(" skipped")[0].split()[-1])  # pytest's own "N skipped in ..." line
    assert skipped >= 10 and " passed" not in lines[-2]
    assert lines[-1].startswith(f"handpose: {skipped} real-data test(s) skipped: no fixtures at {tmp_path}")
    assert "point HANDPOSE_FIXTURES at shared/fixtures" in lines[-1]
    ci = _pytest(tmp_path, "true")
    assert ci.returncode == 1 and f"{skipped} failed" in ci.stdout.splitlines()[-1]
    assert "real-data test(s) skipped" not in ci.stdout
