"""ONNX export: every registered model runs in ONNX Runtime with PyTorch's outputs (1e-4 max abs), on random and on
synthetic inputs, at a batch size other than the export's; decoded joints agree within 0.01 px.

Decoding is compared for every model whose decoding is well conditioned at random initialisation (regression,
integral, PCA, box and class outputs). Sub-pixel heatmap decoding fits a parabola to the peak, which on the nearly
flat maps of an untrained network turns 1e-7 output differences into 0.01 px; the heatmap decoders are therefore
compared on trained networks, the shipped ones, through the whole pipeline (``tests/test_inference_pipeline.py``).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from handpose.cli import main as cli
from handpose.codecs.gesture import normalize_keypoints
from handpose.data.crop import (
    center_of_mass,
    normalize_depth,
    plan_bbox_crop,
    plan_cube_crop,
    plan_whole_frame,
    warp_frame,
)
from handpose.data.skeleton_image import render_skeleton_image
from handpose.data.synthetic import World, WorldConfig
from handpose.engine.checkpoint import save_checkpoint
from handpose.geometry import apply_affine
from handpose.inference.backends import OnnxModel
from handpose.inference.decoders import decode_pose
from handpose.inference.export import example_input, export_onnx
from handpose.registry import create_model, list_models

#: the paper-size models (1-43 M parameters, up to 56 G MACs) are exported with the same layers at a smaller width
#: and input (the graph has the same operators; only channel counts and spatial sizes shrink), so that the test
#: stays fast; their registered variants (``_s``, ``_t``) are exported as registered
SMALLER = {
    "a2j": {"depth": 18, "width": 8, "branch_width": 32, "input_size": 64},
    "light_depth_noghost": {"channels": 16},
    "box_regressor": {"width": 8, "input_size": (64, 80)},
    "box_regressor_s": {"width": 8},
    "cpm": {"input_size": 128, "widths": [16, 16, 32, 32], "stage_width": 32},
    "deepprior": {"fc": [256, 256]},
    "msahp": {"input_size": 128},
    "multiscale_heatmap": {"width": 16},
    "res_attention": {"widths": [16, 32, 32, 64], "fc": [256, 256]},
    "res_attention_noprior": {"widths": [16, 32, 32, 64], "fc": [256, 256]},
    "resnet18_reg3d": {"width": 8, "input_size": 64},
    "resnet34_reg3d": {"width": 8, "input_size": 64},
    "resnet50_reg3d": {"width": 8, "input_size": 64},
    "resnet101_reg3d": {"width": 8, "input_size": 64},
    "resnet50_reg2d": {"width": 8, "input_size": 64},
    "skeleton_unet": {"width": 8, "input_size": (64, 80)},
    "unet_heatmap": {"width": 8, "input_size": 64},
}

HEATMAP_CODECS = ("heatmap", "multiscale_heatmap")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def frame():
    world = World(WorldConfig(seed=0, split="test"))
    for i in range(20):
        f = world.render(i)
        if bool(f.labels["has_hand"]) and np.isfinite(f.labels["joints_2d"]).all():
            return f
    raise AssertionError("no synthetic frame with a hand")


def synthetic_input(spec, frame, batch: int = 3) -> np.ndarray:
    """A real input for ``spec`` cut from a synthetic frame, as the pipeline would prepare it."""
    joints = frame.labels["joints_2d"]
    if spec.modality == "keypoints":
        x = normalize_keypoints(joints)[None]
    elif spec.modality == "depth":
        intr = frame.labels["intrinsics"]
        from handpose.geometry import Intrinsics

        k = Intrinsics(*intr, 320, 240)
        info = plan_cube_crop(center_of_mass(frame.depth, k), k, spec.input_size)
        x = normalize_depth(warp_frame(frame.depth, info), info)[None, None]
    else:
        h, w = spec.input_size
        if spec.task in ("skeleton",) or spec.name.startswith("box_regressor"):
            info = plan_whole_frame((320, 240), (h, w))
        else:
            info = plan_bbox_crop(joints, (h, w))
        img = warp_frame(frame.image, info).astype(np.float32) / 255.0
        chans = [img.transpose(2, 0, 1)]
        if spec.in_channels == 4:
            chans.append(render_skeleton_image(apply_affine(joints, info.affine), h, w)[None])
        x = np.concatenate(chans)[None]
    return np.repeat(x.astype(np.float32), batch, axis=0)


def _decoded(model, outputs: dict[str, np.ndarray]) -> np.ndarray:
    if model.spec.task == "gesture":
        return model.codec.decode(outputs)["probabilities"]
    if model.spec.task == "skeleton":
        dec = model.codec.decode(outputs)
        return np.concatenate([np.nan_to_num(dec["boxes"], nan=-1.0), dec["foreground"][:, None]], axis=1)
    return np.asarray(decode_pose(model.codec, outputs)["joints"], dtype=np.float64)


@pytest.mark.parametrize("name", list_models())
def test_onnx_runtime_matches_torch(name, tmp_path, frame):
    torch.manual_seed(0)
    model = create_model(name, **SMALLER.get(name, {})).eval()
    ckpt = save_checkpoint(tmp_path / "ckpt", model)
    side = export_onnx(ckpt, tmp_path / f"{name}.onnx", check=False)
    assert side["opset"] == 17 and side["dynamic_batch"]
    ort_model = OnnxModel(tmp_path / f"{name}.onnx")
    assert ort_model.info.name == name and ort_model.info.modality == model.spec.modality
    for x in (example_input(model.spec, batch=3, seed=1), synthetic_input(model.spec, frame)):
        with torch.inference_mode():
            want = {k: v.numpy() for k, v in model(torch.from_numpy(x)).items()}
        got = ort_model.run(x)
        assert set(got) == set(want)
        for key in want:
            assert got[key].shape == want[key].shape
            np.testing.assert_allclose(got[key], want[key], atol=1e-4, rtol=0, err_msg=f"{name}: {key}")
        if model.codec.name not in HEATMAP_CODECS:
            np.testing.assert_allclose(_decoded(model, got), _decoded(model, want), atol=0.01, rtol=0,
                                       err_msg=f"{name}: decoded")  # fmt: skip


def test_export_cli_writes_graph_and_sidecar(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", create_model("multiscale_heatmap_t").eval())
    out = tmp_path / "deploy" / "pose.onnx"
    assert cli(["export", str(ckpt), "--format", "onnx", "--out", str(out)]) == 0
    assert "opset 17" in capsys.readouterr().out
    graph = onnx.load(str(out))
    assert graph.opset_import[0].version == 17
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [4, 64, 64]  # dynamic batch, fixed image
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["format"] == "handpose-onnx" and side["input_shape"] == [None, 4, 64, 64]
    assert side["output_names"] == ["heatmaps_down1", "heatmaps_down2", "heatmaps_up1", "heatmaps_up2", "heatmaps"]
    assert side["codec"]["name"] == "multiscale_heatmap" and side["parity_max_abs"] < 1e-4
    # a wrong suffix, a missing checkpoint: one line, exit code 2
    assert cli(["export", str(ckpt), "--out", str(tmp_path / "x.bin")]) == 2
    assert cli(["export", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "must end in .onnx" in err[0] and "not found" in err[1]


def test_a_failed_export_leaves_earlier_files_as_they_were(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", create_model("gesturenet").eval())
    out = tmp_path / "deploy" / "g.onnx"
    assert cli(["export", str(ckpt), "--out", str(out), "--no-check"]) == 0
    graph, side = out.read_bytes(), out.with_suffix(".json").read_text()
    # a failure on the way (here: writing the sidecar) leaves the earlier graph and sidecar untouched
    import handpose.inference.export as export_module

    def broken(path):
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_json_atomic", lambda path, obj: broken(path))
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / "other", create_model("gesturenet").eval())  # other weights, another graph
    with pytest.raises(OSError):
        export_onnx(other, out, check=False)
    monkeypatch.undo()
    assert out.read_bytes() == graph and out.with_suffix(".json").read_text() == side
    assert sorted(p.name for p in out.parent.iterdir()) == ["g.json", "g.onnx"]  # no temporary left
    # a JSON file of the user's where the sidecar would go, or a folder there: refused before anything is written
    mine = tmp_path / "user.json"
    mine.write_text('{"mine": 1}')
    assert cli(["export", str(ckpt), "--out", str(tmp_path / "user.onnx"), "--no-check"]) == 2
    (tmp_path / "dir.json").mkdir()
    assert cli(["export", str(ckpt), "--out", str(tmp_path / "dir.onnx"), "--no-check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a handpose ONNX sidecar" in err[0] and "replace this folder" in err[1]
    assert mine.read_text() == '{"mine": 1}'
    assert not (tmp_path / "user.onnx").exists() and not (tmp_path / "dir.onnx").exists()


def test_an_unwritable_output_folder_is_not_blamed_on_the_checkpoint(tmp_path, capsys, monkeypatch):
    import handpose.inference.export as export_module

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", create_model("gesturenet").eval())
    out = tmp_path / "ro" / "g.onnx"

    def refuse(path, mode="wb"):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(export_module, "atomic_write", refuse)
    assert cli(["export", str(ckpt), "--out", str(out), "--no-check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"handpose: error: {out}: Permission denied"]
    monkeypatch.undo()
    out.mkdir(parents=True)  # a folder where the graph would go: refused before any work
    assert cli(["export", str(ckpt), "--out", str(out), "--no-check"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"handpose: error: {out}: --out: the output is a folder; give the .onnx file to write"
    )


def test_a_graph_that_does_not_match_its_sidecar_is_refused(tmp_path):
    from handpose.errors import CheckpointError

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", create_model("gesturenet").eval())
    out = tmp_path / "g.onnx"
    export_onnx(ckpt, out, check=False)
    OnnxModel(out)  # loads
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / "other", create_model("gesturenet").eval())
    export_onnx(other, tmp_path / "h.onnx", check=False)
    out.write_bytes((tmp_path / "h.onnx").read_bytes())  # another export's graph beside this sidecar
    with pytest.raises(CheckpointError, match="does not match its sidecar's onnx_sha256"):
        OnnxModel(out)


def test_attention_position_encoding_is_a_constant_of_the_graph(tmp_path):
    # the feature map's size is fixed by the input's (only the batch is dynamic), so the sine-cosine encoding is
    # one constant: no sine, cosine or range of traced sizes is computed on every run
    torch.manual_seed(0)
    model = create_model("msahp_t").eval()
    side = export_onnx(save_checkpoint(tmp_path / "ckpt", model), tmp_path / "m.onnx", check=True)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert not ops & {"Sin", "Cos", "Range"}
    assert side["parity_max_abs"] < 1e-4


def test_msahp_exports_row13_on_whole_channel_blocks_and_no_shape_arithmetic(tmp_path):
    # row 13 takes w4 + J = 64 + 21 = 85 channels; the export pads them (and the weights) with zeros to 88, so that
    # ONNX Runtime runs it in its blocked layout; sizes other than the batch are constants: no Shape node at all;
    # the BatchNorms before a max-pool run after it
    from handpose.models.msahp import EXPORT_CHANNEL_MULTIPLE

    torch.manual_seed(0)
    model = create_model("msahp_t", presence=True).eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # not the identity of a new BN
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    stage = model.refine[0]
    assert stage.row13[0].in_channels == 85
    x = torch.randn(2, 85, 13, 13)
    with torch.inference_mode():
        assert torch.allclose(stage._row13_export(x), stage.row13(x), atol=1e-5)
        # rows 1, 4 and 7: the BatchNorm after the max-pool (its scales are positive) gives the same numbers
        image = model.normalize(torch.rand(2, 3, 104, 104))
        assert torch.equal(model._encoder_export(image), model.encoder(image))
        model.encoder.row4[2].weight.data[3] = -0.7  # a negative scale: that row keeps its order
        assert torch.equal(model._encoder_export(image), model.encoder(image))
        model.encoder.row4[2].weight.data[3] = 0.7
    side = export_onnx(save_checkpoint(tmp_path / "ckpt", model), tmp_path / "m.onnx", check=True)
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert "Shape" not in {n.op_type for n in graph.node}
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    padded = {n.output[0] for n in graph.node if n.op_type == "Pad"}
    convs = [n for n in graph.node if n.op_type == "Conv" and n.input[0] in padded]
    assert [weights[n.input[1]] for n in convs] == [(32, 88, 3, 3)]  # the only padded input: row 13's
    pooled = {n.output[0] for n in graph.node if n.op_type == "MaxPool"}
    assert sum(n.op_type == "BatchNormalization" and n.input[0] in pooled for n in graph.node) == 3
    assert 88 % EXPORT_CHANNEL_MULTIPLE == 0
    assert side["parity_max_abs"] < 1e-4
    sess = OnnxModel(tmp_path / "m.onnx")
    xb = example_input(model.spec, batch=3, seed=4)
    got = sess.run(xb)
    with torch.inference_mode():
        ref = model(torch.from_numpy(xb))
    for name in ("heatmaps", "presence"):
        assert np.max(np.abs(got[name] - ref[name].numpy())) < 1e-4


def test_ssd_detector_exports_without_shape_arithmetic(tmp_path):
    # the FPN's upsampling by a constant factor and the heads' reshapes by constant sizes: no Shape, Gather or
    # Unsqueeze node is left to compute sizes on every run (they were a tenth of the detector's time)
    from handpose.models.ssd_detector import upsample_to

    torch.manual_seed(0)
    model = create_model("ssd_hand").eval()
    side = export_onnx(save_checkpoint(tmp_path / "ckpt", model), tmp_path / "d.onnx", check=True)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "d.onnx")).graph.node}
    assert not ops & {"Shape", "Gather", "Unsqueeze", "ConstantOfShape"}
    assert side["parity_max_abs"] < 1e-4
    x = torch.randn(2, 3, 4, 5)
    for like in (torch.zeros(1, 1, 8, 10), torch.zeros(1, 1, 9, 11)):  # twice the size, and any other size
        ref = torch.nn.functional.interpolate(x, size=like.shape[2:], mode="nearest")
        assert torch.equal(upsample_to(x, like), ref)


def test_cached_exports_are_keyed_by_the_graph_revision(tmp_path, monkeypatch):
    import handpose.inference.export as export

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", create_model("gesturenet").eval())
    first = export.cached_export(ckpt, cache_dir=tmp_path / "cache")
    assert export.cached_export(ckpt, cache_dir=tmp_path / "cache") == first  # exported once
    monkeypatch.setattr(export, "GRAPH_REVISION", export.GRAPH_REVISION + 1)
    again = export.cached_export(ckpt, cache_dir=tmp_path / "cache")
    assert again != first and again.is_file()
