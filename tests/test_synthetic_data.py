"""Shards on disk, the dataset reader and the ``handpose synth`` command: determinism, workers, resume, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from handpose.cli import main
from handpose.data.synthetic import GESTURES, SyntheticDataset, generate
from handpose.errors import ConfigError, DataError, UnknownNameError

SMALL = {"image_size": (96, 72), "shard_size": 8, "progress": False}


def _shard_bytes(split_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(split_dir.glob("shard-*.npz"))}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    summary = generate(root, 20, seed=3, **SMALL)
    return root, summary


def test_generate_writes_shards_and_an_index(small):
    root, summary = small
    split = root / "train"
    assert summary["count"] == 20 and summary["generated"] == 20 and summary["shards"] == 3
    assert sorted(p.name for p in split.glob("shard-*.npz")) == ["shard-00000.npz", "shard-00001.npz",
                                                                    "shard-00002.npz"]  # fmt: skip
    assert (split / "index.json").is_file() and (split / "generation.json").is_file()
    assert not list(split.glob(".*tmp"))  # atomic writes leave no temporary files
    # shards are plain npz files without pickles
    with np.load(split / "shard-00000.npz", allow_pickle=False) as data:
        assert data["joints_3d"].shape == (8, 21, 3)
        assert data["rgb_offsets"][-1] == data["rgb_bytes"].size


def test_dataset_returns_complete_samples(small):
    root, _ = small
    ds = SyntheticDataset(root, "train")
    assert len(ds) == 20
    hands = 0
    for i in range(len(ds)):
        s = ds[i]
        s.validate()
        assert s.image.shape == (72, 96, 3) and s.image.dtype == np.uint8
        assert s.depth.shape == (72, 96) and s.depth.dtype == np.float32
        assert s.hand_mask.shape == (72, 96) and s.skeleton.shape == (72, 96)
        assert s.source.endswith(f"#{i % 8}") and "shard-0000" in s.source
        assert s.intrinsics.width == 96
        if s.has_hand:
            hands += 1
            assert s.joint_mask.all() and s.bbox is not None
            assert s.handedness in ("left", "right")
            assert (s.gesture is None) == (s.gesture_name is None)
            if s.gesture is not None:
                assert GESTURES[s.gesture] == s.gesture_name
            assert s.skeleton.max() > 0.5
        else:
            assert s.bbox is None and not s.joint_mask.any() and s.skeleton.max() == 0
    assert hands >= 15
    # labels without decoding, consistent with the samples
    assert ds.joints_2d_all().shape == (20, 21, 2)
    np.testing.assert_array_equal(ds.joints_2d_all()[5], ds[5].joints_2d)
    assert ds.gestures().shape == (20,) and set(ds.gestures()) <= set(range(-1, len(GESTURES)))
    # negative indices and slices
    assert ds[-1].source == ds[19].source and len(ds[2:5]) == 3


def test_modality_selection(small):
    root, _ = small
    rgb = SyntheticDataset(root, "train", modality="rgb")[0]
    depth = SyntheticDataset(root, "train", modality=("depth",))[0]
    assert rgb.depth is None and rgb.image is not None and rgb.modality == "rgb"
    assert depth.image is None and depth.depth is not None and depth.modality == "depth"
    # depth visibility is self-occlusion only; RGB adds occluders
    assert np.all(depth.visibility | ~rgb.visibility)
    only_rgb = generate(small[0] / "rgbonly", 3, seed=3, modality="rgb", **SMALL)
    with pytest.raises(DataError, match="modality"):
        SyntheticDataset(only_rgb["split_dir"], "train", modality="depth")


def test_same_seed_gives_byte_identical_shards_and_workers_do_not_matter(small, tmp_path):
    root, _ = small
    again = generate(tmp_path / "a", 20, seed=3, **SMALL)
    parallel = generate(tmp_path / "b", 20, seed=3, workers=2, **SMALL)
    ref = _shard_bytes(root / "train")
    assert _shard_bytes(Path(again["split_dir"])) == ref
    assert _shard_bytes(Path(parallel["split_dir"])) == ref
    other = generate(tmp_path / "c", 8, seed=4, **SMALL)
    assert _shard_bytes(Path(other["split_dir"]))["shard-00000.npz"] != ref["shard-00000.npz"]


def test_splits_generated_through_one_shared_pool_are_the_same(small, tmp_path):
    """shared_workers: one pool for several splits (its workers start once) changes nothing in the output, and each
    split's progress adds up to its own frame count."""
    from handpose.data.synthetic.generate import _progress_bar, shared_workers

    root, _ = small
    totals: dict[str, int] = {}

    class Counting(_progress_bar):
        def __enter__(self):
            totals[self.label] = 0

            def advance(n: int) -> None:
                totals[self.label] += n

            return advance

    gen = sys.modules["handpose.data.synthetic.generate"]  # the module (the package exports the function by its name)
    original = gen._progress_bar
    gen._progress_bar = Counting
    try:
        with shared_workers(2):
            train = generate(tmp_path / "s", 20, seed=3, workers=2, **SMALL)
            val = generate(tmp_path / "s", 12, seed=3, workers=2, split="val", **SMALL)
            one_shard = generate(tmp_path / "s", 5, seed=3, workers=2, split="test", **SMALL)
    finally:
        gen._progress_bar = original
    assert _shard_bytes(Path(train["split_dir"])) == _shard_bytes(root / "train")
    alone = generate(tmp_path / "t", 12, seed=3, split="val", **SMALL)
    assert _shard_bytes(Path(val["split_dir"])) == _shard_bytes(Path(alone["split_dir"]))
    assert one_shard["generated"] == 5 and len(_shard_bytes(Path(one_shard["split_dir"]))) == 1
    assert totals == {"synth train": 20, "synth val": 12, "synth test": 5}


def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    count = 120
    script = (
        "from handpose.data.synthetic import generate\n"
        f"generate({str(tmp_path / 'killed')!r}, {count}, seed=9, image_size=(96, 72), shard_size=8, "
        "progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    split = tmp_path / "killed" / "train"
    deadline = time.monotonic() + 60
    while not (split / "shard-00001.npz").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(split.glob("shard-*.npz")))
    assert 2 <= done_before < count // 8, "the run should have been interrupted part-way"
    assert not (split / "index.json").exists()
    with pytest.raises(DataError, match="incomplete"):
        SyntheticDataset(tmp_path / "killed", "train")
    resumed = generate(tmp_path / "killed", count, seed=9, image_size=(96, 72), shard_size=8, progress=False)
    assert resumed["reused"] >= 8 * done_before - 8 and resumed["generated"] + resumed["reused"] == count
    fresh = generate(tmp_path / "fresh", count, seed=9, image_size=(96, 72), shard_size=8, progress=False)
    assert _shard_bytes(split) == _shard_bytes(Path(fresh["split_dir"]))
    assert len(SyntheticDataset(tmp_path / "killed", "train")) == count


def test_resuming_with_other_settings_is_refused_and_loses_nothing(small, tmp_path):
    generate(tmp_path, 8, seed=1, **SMALL)
    before = _shard_bytes(tmp_path / "train")
    with pytest.raises(ConfigError, match="other settings"):
        generate(tmp_path, 8, seed=2, **SMALL)
    assert _shard_bytes(tmp_path / "train") == before
    # a larger count with the same settings extends the split, keeping the shards already written
    grown = generate(tmp_path, 16, seed=1, **SMALL)
    assert grown["reused"] == 8 and _shard_bytes(tmp_path / "train")["shard-00000.npz"] == before["shard-00000.npz"]


def test_a_run_that_failed_before_its_first_shard_does_not_block_other_settings(tmp_path):
    import cv2

    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "bg.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(good / "bg.png"), np.full((72, 96, 3), 90, np.uint8))
    with pytest.raises(DataError, match="bg.jpg"):
        generate(tmp_path / "data", 4, seed=1, modality="rgb", background_dir=bad, **SMALL)
    assert not list((tmp_path / "data" / "train").glob("shard-*.npz"))
    summary = generate(tmp_path / "data", 4, seed=1, modality="rgb", background_dir=good, **SMALL)
    assert summary["generated"] == 4 and len(SyntheticDataset(tmp_path / "data", "train")) == 4


def test_corrupted_shards_raise_data_error_naming_the_shard(small, tmp_path):
    root, _ = small
    import shutil

    from handpose.data.synthetic.shards import ShardReader

    copy = tmp_path / "copy"
    shutil.copytree(root / "train", copy / "train")
    shard = copy / "train" / "shard-00001.npz"
    clean = shard.read_bytes()
    reader = ShardReader(shard)
    start = reader._blob_start["rgb"] + int(reader._offsets["rgb"][2])  # frame 2 of the shard = frame 10
    data = bytearray(clean)
    data[start + 40] ^= 0xFF  # one flipped byte inside that frame's JPEG
    shard.write_bytes(bytes(data))
    ds = SyntheticDataset(copy, "train")
    ds[0], ds[9], ds[11]  # other shards and the shard's other frames still read
    with pytest.raises(DataError, match=r"shard-00001.npz: frame 2: rgb image does not match its CRC-32"):
        ds[10]
    # a shard without checksum tables (an older one) is checked against its SHA-256 in the index instead
    old = SyntheticDataset(copy, "train")
    old._readers[1]._crc.clear()
    with pytest.raises(DataError, match=r"shard-00001.npz: .*SHA-256"):
        old[9]
    # a damaged label array: the zip member's CRC fails when the shard is opened
    lab = ShardReader(copy / "train" / "shard-00001.npz")
    data = bytearray(clean)
    at = clean.index(b"joints_3d.npy") + 200  # inside the array, past its local header and .npy header
    data[at] ^= 0xFF
    shard.write_bytes(bytes(data))
    del lab
    with pytest.raises(DataError, match="shard-00001.npz"):
        SyntheticDataset(copy, "train")
    shard.write_bytes(clean[: len(clean) // 3])  # truncated
    with pytest.raises(DataError, match="shard-00001.npz"):
        SyntheticDataset(copy, "train")


def test_bad_settings_raise_typed_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="preset"):
        generate(tmp_path, 4, preset="extreme", progress=False)
    for bad in (0, -3):
        with pytest.raises(ConfigError, match="count"):
            generate(tmp_path, bad, progress=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="a_file"):
        generate(blocker / "out", 4, progress=False)
    empty = tmp_path / "empty_backgrounds"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images"):
        generate(tmp_path / "x", 4, background_dir=empty, progress=False)
    with pytest.raises(ConfigError, match="modality"):
        generate(tmp_path / "y", 4, modality="infrared", progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_generate_preview_stats_and_errors(tmp_path, capsys):
    out = tmp_path / "data"
    assert (
        main(["synth", "generate", str(out), "--count", "10", "--size", "96x72", "--quiet", "--shard-size", "5"]) == 0
    )
    assert {p.name for p in out.iterdir()} == {"train", "val", "test"}
    assert len(SyntheticDataset(out, "val")) == 1 and len(SyntheticDataset(out, "test")) == 1
    sheet = tmp_path / "sheet.png"
    assert main(["synth", "preview", str(out), "--out", str(sheet), "--count", "6", "--modality", "depth"]) == 0
    import cv2

    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] == 72 and img.shape[1] == 6 * 96
    assert main(["synth", "stats", str(out)]) == 0
    assert "missing joints" in capsys.readouterr().out
    capsys.readouterr()
    # user mistakes: one line on stderr, exit code 2
    for argv, needle in (
        (["synth", "generate", str(tmp_path / "z"), "--count", "5", "--preset", "nope"], "preset"),
        (["synth", "generate", str(tmp_path / "z"), "--count", "0"], "count"),
        (["synth", "preview", str(tmp_path / "missing"), "--out", str(sheet)], "missing"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err


def test_reading_without_masks_skips_only_the_segmentation(small):
    """A training set that never replaces backgrounds opens its reader without masks: same frames, no mask."""
    from handpose.config import ExperimentConfig
    from handpose.engine.data import build_dataset
    from handpose.registry import create_model

    root, _ = small
    full = SyntheticDataset(root, "train", ("rgb",), skeleton=False)
    bare = SyntheticDataset(root, "train", ("rgb",), skeleton=False, masks=False)
    for i in (0, 5, 13):
        a, b = full[i], bare[i]
        assert np.array_equal(a.image, b.image) and np.array_equal(a.joints_2d, b.joints_2d)
        assert a.hand_mask is not None and a.hand_mask.any() == a.has_hand
        assert b.hand_mask is None and b.meta["segmentation"] is None
    model = create_model("skeleton_unet_t")
    cfg = ExperimentConfig(name="masks")
    cfg.data.root = str(root)
    cfg.data.augment = {"background": False}
    assert build_dataset(model, cfg, "train", train=True).reader.masks is False
    cfg.data.augment = {}  # background replacement on by default: the mask is needed
    ds = build_dataset(model, cfg, "train", train=True)
    assert ds.reader.masks is True and ds.needs_mask
    assert build_dataset(model, cfg, "train", train=False).reader.masks is False  # evaluation
