"""One test per failure that benchmarks/fuzz_inputs.py found (docs/reliability.md lists them): each input below gave
a traceback, a crash, a hang or a runaway allocation before its fix, and is now a typed error naming the file."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import struct
import warnings

import numpy as np
import pytest

from handpose.cli import main
from handpose.errors import CheckpointError, ConfigError, DataError

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" + "0" * 5000  # Python refuses to convert integers of more than 4300 digits


# ------------------------------------------------------------------------------------------------------ JSON, YAML


@pytest.mark.parametrize("text", [DEEP, '{"a": ' + HUGE_INT + "}"], ids=["deep", "5000-digit"])
def test_json_nested_too_deeply_or_with_huge_numbers(tmp_path, text):
    from handpose.data.readers import open_dataset
    from handpose.io import read_json

    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(DataError, match=r"labels\.json: invalid JSON"):
        read_json(path)
    with pytest.raises(DataError, match=r"labels\.json: invalid JSON"):
        open_dataset(path, "folder")


def test_yaml_recipes_that_cannot_be_read(tmp_path):
    from handpose.config import load_config

    recipe = tmp_path / "r.yaml"
    bomb = "a0: &a0 [lol]\n" + "".join(f"a{k}: &a{k} [{', '.join(['*a' + str(k - 1)] * 10)}]\n" for k in range(1, 10))
    cases = [
        ("name: \xe9t\xe9\n".encode("latin-1"), "not a UTF-8 text file"),
        ("name: x\n".encode("utf-16"), "not a UTF-8 text file"),
        (bomb.encode(), "expands to more than 100,000 values"),  # "billion laughs": 10^9 values once expanded
        (("model:\n  kwargs: " + "[" * 50_000 + "]" * 50_000).encode(), "nested too deeply|maximum nesting depth"),
        (("train:\n  steps: " + "[" * 200 + "]" * 200).encode(), "nests deeper than 64 levels"),
        (f"train:\n  steps: {HUGE_INT}\n".encode(), "invalid YAML: Exceeds the limit"),
    ]
    for data, message in cases:
        recipe.write_bytes(data)
        with pytest.raises(ConfigError, match=message):
            load_config(recipe)


# ----------------------------------------------------------------------------------------------- label values


def _coco(tmp_path, **changes) -> object:
    kp = [v for j in range(21) for v in (10.0 + j, 20.0 + j, 2)]
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 1, "bbox": [5, 5, 30, 30], "keypoints": kp}]}  # fmt: skip
    for key, value in changes.items():
        part, _, name = key.partition("__")
        data[part][0][name] = value
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"images__id": [1]}, r"images\[0\]\.id: 'id' must be a number or a string"),
        ({"annotations__image_id": {"a": 1}}, r"annotations\[0\]: image_id .* is not in 'images'"),
        ({"images__width": "wide"}, r"width: expected a size in pixels, got 'wide'"),
        ({"images__height": 1e30}, r"height: expected a size in pixels \(0 \.\. 1048576\)"),
        ({"annotations__keypoints": [10**30] * 63}, r"keypoints: annotation 1: joint wrist at .* lies outside"),
        ({"annotations__keypoints": [10**400] * 63}, r"keypoints: expected numbers"),
    ],
)
def test_coco_ids_sizes_and_numbers(tmp_path, changes, message):
    from handpose.data.readers import open_dataset

    with pytest.raises(DataError, match=message):
        open_dataset(_coco(tmp_path, **changes), "onehand10k")


def test_folder_labels_beyond_float32_are_one_line_without_numpy_warnings(tmp_path, capfd):
    labels = {"samples": [{"image": "a.png", "keypoints": [[1e300, 5.0]] * 21}]}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["data", "inspect", str(tmp_path), "-f", "folder"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "value out of range" in err[0], err  # no "RuntimeWarning: overflow" before it


def test_interhand_ids_that_are_lists_and_ragged_joint_valid(tmp_path):
    from handpose.data.readers import open_dataset

    data = {"images": [{"id": [7], "file_name": "a.jpg", "capture": 0, "camera": "1", "frame_idx": 0}],
            "annotations": [{"image_id": [7], "joint_valid": [1] * 42, "hand_type": "right"}]}  # fmt: skip
    (tmp_path / "t_data.json").write_text(json.dumps(data))
    (tmp_path / "t_camera.json").write_text("{}")
    (tmp_path / "t_joint_3d.json").write_text("{}")
    with pytest.raises(DataError, match="annotation without a known image_id"):
        open_dataset(tmp_path, "interhand")
    data["images"][0]["id"] = data["annotations"][0]["image_id"] = 7
    data["annotations"][0]["joint_valid"] = [[1], [1, 1]] + [1] * 40
    cam = {"campos": {"1": [0, 0, 0]}, "camrot": {"1": np.eye(3).tolist()}, "focal": {"1": [100, 100]},
           "princpt": {"1": [50, 50]}}  # fmt: skip
    (tmp_path / "t_data.json").write_text(json.dumps(data))
    (tmp_path / "t_camera.json").write_text(json.dumps({"0": cam}))
    (tmp_path / "t_joint_3d.json").write_text(json.dumps({"0": {"0": {"world_coord": [[0, 0, 500]] * 42}}}))
    with pytest.raises(DataError, match="joint_valid"):
        open_dataset(tmp_path, "interhand")
    data["annotations"][0]["joint_valid"] = [1] * 41 + [10**400]  # an integer too large for a float: OverflowError
    (tmp_path / "t_data.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"joint_valid: expected numbers"):
        open_dataset(tmp_path, "interhand")


def test_evaluation_files_with_huge_or_malformed_values(tmp_path):
    from handpose.evaluation import read_poses

    path = tmp_path / "pred.json"
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [10**400] * 63}]))
    with pytest.raises(DataError, match="keypoints must be numbers"):
        read_poses(path, 21)
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [1.0] * 63, "bbox": [[1], [2, 3], 4, 5]}]))
    with pytest.raises(DataError, match=r"bbox must be \[x, y, w, h\]"):
        read_poses(path, 21, role="gt")


def test_coordinates_that_overflow_give_one_line_not_a_numpy_warning(tmp_path, capfd):
    kp = [v for j in range(21) for v in (10.0 + j, 20.0, 2)]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"annotations": [{"image_id": 1, "keypoints": kp}]}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"image_id": 1, "keypoints": [-1e308] + kp[1:]}]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["evaluate-predictions", "--dataset", "onehand10k", "--gt", str(gt), "--pred", str(pred)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "errors are not finite" in err[0], err


# ------------------------------------------------------------------------------------------------------ MATLAB


def _stb(tmp_path, data: bytes):
    (tmp_path / "labels").mkdir(exist_ok=True)
    (tmp_path / "labels" / "B1Counting_SK.mat").write_bytes(data)
    from handpose.data.readers import open_dataset

    return open_dataset(tmp_path, "stb", split="test", sequences=["B1Counting"])


def _mat(**variables) -> bytes:
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def test_a_mat_file_that_crashes_scipy_is_a_data_error(tmp_path):
    """One flipped bit (the real part's type tag of this 3 x 21 x 1 array, found by the fuzzer) makes
    scipy.io.loadmat segfault: the file is parsed in a child process, and its crash is a DataError."""
    rng = np.random.default_rng(2)
    para = np.concatenate([rng.uniform(-50, 50, (2, 21)), rng.uniform(400, 500, (1, 21))])[..., None]
    data = bytearray(_mat(handPara=para))
    assert data[184:192] == b"handPara" and data[193] == 0
    data[193] ^= 32
    with pytest.raises(DataError, match=r"B1Counting_SK\.mat: corrupt"):
        _stb(tmp_path, bytes(data))


def test_mat_parser_crash_and_errors_are_isolated(tmp_path, monkeypatch):
    import scipy.io

    from handpose.data.readers.base import load_mat

    path = tmp_path / "x.mat"
    path.write_bytes(_mat(a=np.ones(3)))
    assert load_mat(path, ["a"])["a"].tolist() == [[1.0, 1.0, 1.0]]  # a good file comes back from the child

    def segfault(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(scipy.io, "loadmat", segfault)
    crashed = r"x\.mat: corrupt \.mat file: the MATLAB file reader crashed on it \(signal 11\)"
    with pytest.raises(DataError, match=crashed):
        load_mat(path, ["a"])

    def refuse(*args, **kwargs):
        raise ValueError("Unknown mat file type, version 9, 9")

    monkeypatch.setattr(scipy.io, "loadmat", refuse)
    with pytest.raises(DataError, match=r"corrupt or unreadable \.mat file \(ValueError: Unknown mat file type"):
        load_mat(path, ["a"])

    # the child's answer is read with the restricted unpickler: a child that parsed a hostile file and answers
    # with anything but plain data and arrays (here an object of another module) is refused, not unpickled
    import collections

    from handpose.errors import UnsafeFileError

    monkeypatch.setattr(scipy.io, "loadmat", lambda *args, **kwargs: {"a": collections.Counter("ab")})
    with pytest.raises(UnsafeFileError, match=r"collections\.Counter"):
        load_mat(path, ["a"])


@pytest.mark.parametrize(
    "value, kind",
    [
        ("not numbers", "<U11 array"),
        (np.array([[1.0, 2.0], "x"], dtype=object), "object array"),
        ({"a": np.ones(2), "b": "x"}, "array"),
    ],  # fmt: skip
    ids=["string", "cell", "struct"],
)
def test_mat_variables_that_are_not_numbers(tmp_path, value, kind):
    with pytest.raises(DataError, match=rf"handPara: expected a numeric array, got .*{kind}"):
        _stb(tmp_path, _mat(handPara=value))
    nyu = tmp_path / "nyu" / "train"
    nyu.mkdir(parents=True)
    (nyu / "joint_data.mat").write_bytes(_mat(joint_uvd=value, joint_xyz=np.zeros((1, 1, 36, 3))))
    from handpose.data.readers import open_dataset

    with pytest.raises(DataError, match=r"joint_uvd: expected a numeric array"):
        open_dataset(tmp_path / "nyu", "nyu", split="train")


# --------------------------------------------------------------------------------------- pickles, binary files


def test_a_pickle_naming_an_unknown_text_encoding(tmp_path):
    from handpose.data.safe_pickle import safe_loads

    data = pickle.dumps({"a": np.zeros(3, np.float32)}, protocol=2).replace(b"latin1", b"hatin1")
    assert b"hatin1" in data
    with pytest.raises(DataError, match="corrupt or truncated pickle"):
        safe_loads(data, tmp_path / "anno.pickle")


def test_a_file_name_too_long_for_the_system(tmp_path):
    from handpose.data.image_io import read_image

    with pytest.raises(DataError, match="cannot read file"):
        read_image(tmp_path / ("a" * 5000 + ".png"))


def test_an_msra_header_declaring_a_huge_frame(tmp_path):
    from handpose.data.image_io import read_msra_bin

    path = tmp_path / "000000_depth.bin"
    path.write_bytes(struct.pack("<6I", 16384, 16384, 0, 0, 1, 1) + struct.pack("<f", 500.0))
    with pytest.raises(DataError, match=r"a 16384 x 16384 image, more than the 67,108,864 pixels"):
        read_msra_bin(path)


# ----------------------------------------------------------------------------------- checkpoints, ONNX sidecars


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.registry import create_model

    return save_checkpoint(tmp_path_factory.mktemp("ck") / "ck", create_model("mean_pose_2d", input_size=64))


def _set(path: str, value):
    def edit(side: dict) -> dict:
        *parents, last = path.split(".")
        node = side
        for key in parents:
            node = node[key]
        node[last] = value
        return side

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (DEEP, "corrupt sidecar"),
        ('{"model": ' + HUGE_INT + "}", "corrupt sidecar"),
        (_set("model", ["mean_pose_2d"]), "'model' must be a model name"),
        (_set("format_version", [1]), "'format_version' must be an integer"),
        (_set("model_kwargs", [1, 2]), "'model_kwargs' must be an object"),
        (_set("model_kwargs.zz", 1), "cannot rebuild model"),
        (_set("model_kwargs.input_size", []), "cannot rebuild model"),
        (_set("model_kwargs.input_size", 2**63 - 1), r"an input of \["),
        (_set("codec.state.zz", 2), "codec state does not fit"),
        (_set("codec.state", "NaN"), "codec state does not fit"),
        (_set("codec.state.input_size", []), "codec state does not fit"),  # an IndexError in the codec
    ],
)
def test_damaged_checkpoint_sidecars(checkpoint, tmp_path, edit, message):
    import shutil

    from handpose.engine.checkpoint import load_checkpoint

    ck = tmp_path / "ck"
    shutil.copytree(checkpoint, ck)
    text = edit if isinstance(edit, str) else json.dumps(edit(json.loads((ck / "model.json").read_text())))
    (ck / "model.json").write_text(text)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(ck)


def test_damaged_onnx_sidecars(tmp_path):
    from handpose.inference.backends import ModelInfo, read_onnx_sidecar

    graph = tmp_path / "m.onnx"
    graph.write_bytes(b"not read")
    for text, message in ((DEEP, "nested too deeply"), ('{"format": ' + HUGE_INT + "}", "corrupt sidecar")):
        (tmp_path / "m.json").write_text(text)
        with pytest.raises(CheckpointError, match=message):
            read_onnx_sidecar(graph)
    spec = {"name": "x", "task": "pose2d", "modality": "rgb", "in_channels": 3, "input_size": [64, 64],
            "num_joints": 21}  # fmt: skip
    side = {"spec": spec, "codec": {"name": "heatmap"}}
    assert ModelInfo.from_sidecar(side, "m.json").input_size == (64, 64)
    for key, value in (("input_size", [10**8, 10**8]), ("input_size", [0, 64]), ("in_channels", 1000),
                       ("num_joints", 0)):  # fmt: skip
        with pytest.raises(CheckpointError, match=rf"spec\.{key} must be in 1\.\."):
            ModelInfo.from_sidecar({**side, "spec": {**spec, key: value}}, "m.json")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small heatmap model's checkpoint (with a NaN metric, as a run whose split has no hand records) and its ONNX
    export."""
    import torch

    from handpose.engine.checkpoint import save_checkpoint
    from handpose.inference.export import export_onnx
    from handpose.registry import create_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("onnx")
    ck = save_checkpoint(folder / "ck", create_model("unet_heatmap_s", input_size=64, width=8).eval(),
                         metrics={"pck@0.2": 0.5, "iou": float("nan")})  # fmt: skip
    export_onnx(ck, folder / "m.onnx", check=False)
    return folder


def test_an_export_sidecar_is_strict_json(exported):
    def refuse(token):
        raise AssertionError(f"non-strict JSON constant {token}")

    side = json.loads((exported / "m.json").read_text(), parse_constant=refuse)
    assert side["checkpoint"]["metrics"] == {"pck@0.2": 0.5, "iou": None}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s["spec"].update(input_size=[32, 64]), r"declares inputs of \(3, 32, 64\) but the graph takes"),
        (lambda s: s["codec"]["state"].update(heatmap_size=[0, 0]), "spec or codec does not fit the network"),
        (lambda s: s["spec"].update(num_joints="many"), "sidecar spec is incomplete"),
    ],
    ids=["input-size", "heatmap-size", "joints"],
)
def test_onnx_sidecars_that_do_not_fit_their_graph(exported, tmp_path, edit, message):
    """Caught when the model is loaded: before, each failed on the first frame inside the pipeline (an OpenCV
    assertion in a resize, ONNX Runtime's INVALID_ARGUMENT, an AttributeError)."""
    import shutil

    from handpose.inference.backends import OnnxModel

    shutil.copy(exported / "m.onnx", tmp_path / "m.onnx")
    side = json.loads((exported / "m.json").read_text())
    edit(side)
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=message):
        OnnxModel(tmp_path / "m.onnx")
    OnnxModel(exported / "m.onnx")  # the unedited pair loads


def test_an_onnx_sidecar_whose_config_is_not_an_object_is_read_without_its_crop(exported, tmp_path):
    import shutil

    from handpose.inference.backends import OnnxModel

    shutil.copy(exported / "m.onnx", tmp_path / "m.onnx")
    side = json.loads((exported / "m.json").read_text())
    side["config"] = {"data": [[]]}  # was an AttributeError
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert OnnxModel(tmp_path / "m.onnx").info.crop == {}


def test_label_values_beyond_float32_in_coco_text_and_mat_files(tmp_path, capfd):
    """Each gave numpy's "overflow encountered in cast" warning on stderr (the label tables are float32) before its
    one-line error, or no error at all."""
    from handpose.data.readers import open_dataset
    from handpose.data.readers.base import parse_floats

    kp = [v for j in range(21) for v in (10.0 + j, 20.0, 2)]
    kp[3] = -1e308
    path = _coco(tmp_path, annotations__keypoints=kp)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's warning would be an exception here
        assert main(["data", "inspect", str(path), "-f", "onehand10k"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keypoints: value out of range" in err[0], err
    with pytest.raises(DataError, match=r"x\.txt:4: value out of range in column 2"):
        parse_floats(["1", "1e300"], tmp_path / "x.txt", 4, 2)
    with pytest.raises(DataError, match="handPara: value out of range"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _stb(tmp_path, _mat(handPara=np.full((3, 21, 1), 1e300)))
    assert open_dataset(_coco(tmp_path), "onehand10k").joints_all().joints_2d[0, 1, 0] == 11.0  # the valid file


def test_folder_intrinsics_with_huge_or_malformed_numbers(tmp_path):
    from handpose.data.readers import open_dataset

    cases = [
        ({"fx": 10**400, "fy": 1, "cx": 0, "cy": 0}, "intrinsics need numbers"),
        ({"fx": 1, "fy": 1, "cx": 0, "cy": 0, "width": "wide"}, "intrinsics.width: expected a size"),
    ]
    for intrinsics, message in cases:
        labels = {"intrinsics": intrinsics, "samples": [{"image": "a.png", "keypoints": [[1.0, 2.0]] * 21}]}
        (tmp_path / "labels.json").write_text(json.dumps(labels))
        with pytest.raises(DataError, match=message):
            open_dataset(tmp_path, "folder")
