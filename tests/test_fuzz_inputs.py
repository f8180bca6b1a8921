"""The fuzzer in the suite: a fixed, seeded subset of benchmarks/fuzz_inputs.py (every seed through every entry
point, then 12 malformed inputs of each of its 24 formats) must end with no failure of any kind; and the fuzzer's own
checks are shown to catch what they are there to catch."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "fuzz_inputs.py"


def _fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_inputs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_inputs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_seeded_fuzz_subset_finds_nothing(tmp_path):
    report = tmp_path / "fuzz.json"
    cmd = [sys.executable, str(SCRIPT), "--cases", "288", "--seed", "7", "--work", str(tmp_path / "work"),
           "--json", str(report), "--quiet", "--timeout", "120"]  # fmt: skip
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=880)
    summary = json.loads(report.read_text())
    assert summary["failure_kinds"] == {}, run.stdout[-4000:]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    fuzz = _fuzzer()
    assert summary["cases"] == 288 and set(summary["per_format"]) == set(fuzz.FORMATS)
    assert summary["seed_checks"] == sum(len(f.entries) for f in fuzz.FORMATS.values())
    for fmt, s in summary["per_format"].items():
        assert s["cases"] == 12 and s["ok"] + s["typed"] == 12, fmt
    assert sum(s["typed"] for s in summary["per_format"].values()) > 144  # most malformed inputs are refused
    assert summary["peak_mb"] < summary["max_case_mb"]


def test_the_fuzzers_checks_catch_untyped_errors_stray_writes_and_damaged_outputs(tmp_path, monkeypatch):
    """Formats whose entry point misbehaves on purpose, run through the fuzzer's own case runner."""
    fuzz = _fuzzer()
    for name in ("tmp", "home"):  # the worker's own TMPDIR and HOME, compared before and after each case
        (tmp_path / name).mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    def untyped(case):
        raise ValueError("not a handpose error")

    def stray_write(case):
        (case.inp / "sneaky.txt").write_text("x")

    def damage_earlier(case):
        (case.out / "report.json").write_text("half")
        raise fuzz.Refused("handpose: error: refused after writing")

    def refuse_the_seed(case):
        from handpose.errors import DataError

        raise DataError("refused", path=case.target)

    def fine(case):
        return None

    def leave_a_temporary(case):
        (case.out / ".report.json.tmp").write_text("x")

    def write_home(case):
        (tmp_path / "home" / ".cache").mkdir()

    seeds = fuzz.Seeds(tmp_path / "seeds")
    expected = {untyped: ("untyped", "ValueError"), stray_write: ("broken", "wrote outside the output folder"),
                damage_earlier: ("broken", "changed the earlier output report.json"),
                leave_a_temporary: ("broken", "temporary files left"), write_home: ("broken", "wrote into HOME"),
                fine: ("ok", "")}  # fmt: skip
    for entry, (outcome, words) in expected.items():
        fuzz.FORMATS["selftest"] = fuzz.Format("selftest", lambda s: {"a.txt": b"abc"}, ("a.txt",), ("bytes",),
                                               ((entry, 1),))  # fmt: skip
        record = fuzz.run_case("selftest", 0, 0, seeds, tmp_path / "work", 1024.0)
        assert record["outcome"] == outcome and words in record["detail"], (entry.__name__, record)
    # the unchanged seed must be read: a refusal of it is a failure
    fuzz.FORMATS["selftest"] = fuzz.Format("selftest", lambda s: {"a.txt": b"abc"}, ("a.txt",), ("bytes",),
                                           ((refuse_the_seed, 1),))  # fmt: skip
    record = fuzz.run_case("selftest", -1, 0, seeds, tmp_path / "work", 1024.0)
    assert record["outcome"] == "broken" and "the unchanged seed was refused" in record["detail"]

    # a peak above the bound
    def allocate(case):
        import numpy as np

        np.ones(40_000_000)  # 320 MB

    fuzz.FORMATS["selftest"] = fuzz.Format("selftest", lambda s: {"a.txt": b"abc"}, ("a.txt",), ("bytes",),
                                           ((allocate, 1),))  # fmt: skip
    record = fuzz.run_case("selftest", 0, 0, seeds, tmp_path / "work", 100.0)
    assert record["outcome"] == "broken" and "peak memory" in record["detail"], record
    del fuzz.FORMATS["selftest"]


def test_cases_are_reproducible_and_mutations_change_the_input():
    fuzz = _fuzzer()
    a, b = fuzz.case_rng(3, "png8", 11), fuzz.case_rng(3, "png8", 11)
    assert [a.random() for _ in range(5)] == [b.random() for _ in range(5)]
    data = bytes(range(256)) * 4
    changed = 0
    for k in range(200):
        rng = fuzz.case_rng(0, "bytes", k)
        mutated, _ = fuzz.MUTATORS["bytes"](data, rng)
        changed += mutated != data
    assert changed >= 195  # almost every mutation changes something (a flip back and forth may not)
    assert fuzz.schedule(10, ["a", "b", "c"]) == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1),
                                                  ("a", 2), ("b", 2), ("c", 2), ("a", 3)]  # fmt: skip
