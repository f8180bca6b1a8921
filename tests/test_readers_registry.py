"""open_dataset / list_formats, the reader contract, and ``handpose data inspect``."""

from __future__ import annotations

import json
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from handpose.cli import main
from handpose.data.readers import FORMATS, list_formats, open_dataset
from handpose.data.readers.summary import label_statistics, readers_overlay
from handpose.data.sample import Sample
from handpose.errors import ConfigError, DataError, UnknownNameError

from .conftest import fixture_path

REQUIRED = ("freihand", "stb", "rhd", "interhand", "coco", "lsmv", "msra", "icvl", "nyu", "rwth", "folder", "synthetic")


def test_every_required_format_is_registered():
    names = list_formats()
    for name in REQUIRED:
        assert name in names
    assert FORMATS["synthetic"][0] == "handpose.data.synthetic:SyntheticDataset"  # lazy: imported when opened
    for alias in ("onehand10k", "panoptic", "coco_wholebody", "interhand2.6m"):
        assert alias in names


def test_open_dataset_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown dataset format 'freihandd'"):
        open_dataset(tmp_path, "freihandd")
    with pytest.raises(DataError, match="not found"):
        open_dataset(tmp_path / "nope", "coco")
    with pytest.raises(ConfigError, match="unexpected keyword argument 'colour'"):
        open_dataset(fixture_path("mmpose", "rhd"), "rhd", colour=True)
    with pytest.raises(DataError, match="no COCO-style annotation"):
        open_dataset(tmp_path, "onehand10k")


def test_reader_contract_on_a_fixture():
    reader = open_dataset(fixture_path("mmpose", "panoptic"), "panoptic")
    assert isinstance(reader, Sequence) and reader.name == "panoptic" and reader.modality == "rgb"
    n = len(reader)
    assert [s.source for s in reader] == [reader[i].source for i in range(n)]
    assert reader[-1].source == reader[n - 1].source and len(reader[1:3]) == 2
    with pytest.raises(IndexError):
        reader[n]
    sample = reader[0]
    assert isinstance(sample, Sample) and sample.joints_2d.dtype == np.float64
    labels = reader.joints_all()  # labels without images
    np.testing.assert_allclose(labels.joints_2d[0], sample.joints_2d, atol=1e-4)
    assert labels.visibility.shape == (n, 21) and labels.bbox.shape == (n, 4)


def test_label_statistics_counts():
    reader = open_dataset(fixture_path("mmpose", "onehand10k"), "onehand10k")
    stats = label_statistics(reader, images=4)
    assert stats["samples"] == 4 and stats["with_joints"] == 4
    labels = reader.joints_all()
    # per-joint visible share, counted independently
    for j, name in enumerate(stats["joints_visible"]):
        assert stats["joints_visible"][name] == pytest.approx(sum(bool(labels.visibility[i, j]) for i in range(4)) / 4)
    assert stats["image_sizes"] == {"238x358": 1, "226x346": 1, "540x960": 1, "226x339": 1}
    assert stats["handedness"] == {"unknown": 4}


def test_cli_inspect_writes_overlay_and_stats(tmp_path, capsys):
    out = tmp_path / "inspect"
    code = main(
        ["data", "inspect", str(fixture_path("mmpose", "interhand2.6m")), "--format", "interhand", "--out", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "6 samples" in text and "handedness: left 3, right 3" in text and "image sizes" in text
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] == 6 and stats["with_3d"] is True
    sheet = cv2.imread(str(out / "overlay.png"))
    assert sheet.shape == (160, 6 * 160, 3) and sheet.std() > 10


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "missing"), "--format", "coco"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing: dataset folder or file not found" in err
    assert main(["data", "inspect", str(tmp_path), "--format", "icvl"]) == 2
    assert "no Training/labels.txt" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path), "--format", "rhd", "-o", "hands"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main(["data", "formats"]) == 0
    assert "interhand" in capsys.readouterr().out.split()


def test_readers_overlay_has_one_tile_per_hand():
    readers = [
        ("rhd", open_dataset(fixture_path("mmpose", "rhd"), "rhd")),
        ("panoptic", open_dataset(fixture_path("mmpose", "panoptic"), "panoptic")),
    ]
    sheet = readers_overlay(readers, columns=3, tile=50)
    assert sheet.shape == (3 * 50, 3 * 50, 3)  # 7 hands -> 3 rows of 3
    assert sheet[100:150, 50:150].max() == 0 and sheet[100:150, :50].max() > 0  # tiles 8 and 9 stay empty
