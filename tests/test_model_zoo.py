"""One parametrised test over the whole model registry (the idea of timm's ``test_models.py``).

For every registered model, built with a small config (table ``SMALL`` below; models not listed run at their
defaults):

- the outputs named in ``spec.outputs`` come back, batch first, finite;
- one backward pass of ``model.loss`` reaches every trainable parameter;
- ``decode`` gives joints in the codec's frame and units (crop pixels, normalised depth, millimetres, labels);
- bad input (wrong channels, wrong size, integer dtype, NaN) raises ``ModelInputError`` naming the expected shape;
- **overfitting a batch of 8 synthetic samples**: the decoded error on those 8 samples (pixels, millimetres,
  error rate or box-corner pixels — never the loss) falls below a quarter of its initial value within
  ``MAX_STEPS`` Adam steps on the CPU.

The 8 samples come from the synthetic hand world (:mod:`handpose.data.synthetic`, "easy" preset, 24 frames
rendered once per session) through the data pipeline every trainer uses (:class:`HandPoseDataset`: crop -> codec
targets, no augmentation; :class:`KeypointGestureDataset` for GestureNet); the ground truth is carried into the
codec's frame with :func:`handpose.data.crop.joints_to_frame`. The small configs keep the whole file near 2 minutes
on the 2-core CPU machine: inputs of 32–64 pixels and widths of 8–16 channels; they change sizes, never the
structure of a model (same blocks, same heads, same loss, same codec).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
import torch

from handpose import create_model, list_models
from handpose.data.crop import joints_to_frame
from handpose.data.dataset import HandPoseDataset, KeypointGestureDataset, collate, crop_infos
from handpose.data.detection_dataset import DetectionDataset
from handpose.data.scenes import ReaderFrames
from handpose.data.synthetic import SyntheticDataset, generate
from handpose.errors import ModelInputError

#: small configs per model (keyword overrides of the registered builder); sizes only, never structure
SMALL: dict[str, dict[str, Any]] = {
    "msahp": dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0),
    "msahp_s": dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0),
    "msahp_t": dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0),
    "ssd_hand": dict(
        input_size=(64, 96), widths=(8, 8, 16, 16, 32), fpn_width=16, sizes=((8.0, 14.0), (20.0, 30.0), (40.0, 60.0))
    ),
    "cpm": dict(input_size=64, widths=(8, 8, 16, 32), stage_width=16, kernel=3, stages=2, sigma=1.0),
    "cpm_s": dict(input_size=64, widths=(8, 8, 16, 32), stage_width=16, kernel=3, sigma=1.0),
    "unet_heatmap": dict(input_size=32, width=8, depth=2, sigma=1.5),
    "unet_heatmap_s": dict(input_size=32, width=8, depth=2, sigma=1.5),
    "multiscale_heatmap": dict(input_size=32, width=8),
    "multiscale_heatmap_s": dict(input_size=32, width=8),
    "multiscale_heatmap_t": dict(input_size=32, width=8),
    "skeleton_unet": dict(input_size=(32, 48), width=8, depth=2, line_width=2.0, blob_sigma=1.0),
    "skeleton_unet_s": dict(input_size=(32, 48), width=8, depth=2, line_width=2.0, blob_sigma=1.0),
    "skeleton_unet_t": dict(input_size=(32, 48), width=8, depth=2, line_width=2.0, blob_sigma=1.0),
    "box_regressor": dict(input_size=(32, 48), width=8),
    "box_regressor_s": dict(input_size=(32, 48), width=8),
    "box_regressor_t": dict(input_size=(32, 48), width=8),
    "resnet50_reg2d": dict(input_size=64, width=8),
    "resnet_reg2d_s": dict(input_size=64, width=8),
    "light_depth": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "light_depth_s": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "light_depth_noghost": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "light_depth_nocompressed": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "light_depth_noattention": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "a2j": dict(input_size=32, depth=18, width=8, branch_width=16),
    "a2j_s": dict(input_size=32, depth=18, width=8, branch_width=16),
    "res_attention": dict(input_size=32, widths=(8, 8, 16, 16), fc=(64, 64), num_components=6, dropout=0.0),
    "res_attention_noprior": dict(input_size=32, widths=(8, 8, 16, 16), fc=(64, 64), dropout=0.0),
    "res_attention_s": dict(input_size=32, widths=(8, 8, 16, 16), fc=(64, 64), num_components=6, dropout=0.0),
    "res_attention_s_noprior": dict(input_size=32, widths=(8, 8, 16, 16), fc=(64, 64), dropout=0.0),
    "deepprior": dict(input_size=32, fc=(64, 64), num_components=6, dropout=0.0),
    "resnet18_reg3d": dict(input_size=64, width=8),
    "resnet34_reg3d": dict(input_size=64, width=8),
    "resnet50_reg3d": dict(input_size=64, width=8),
    "resnet101_reg3d": dict(input_size=64, width=8),
    "resnet18_reg3d_s": dict(input_size=64, width=8),
    "mean_pose_2d": dict(input_size=32),
    "mean_pose_depth": dict(input_size=32),
    "mean_pose_3d": dict(input_size=32),
}

BATCH = 8
MAX_STEPS = 200
CHECK_EVERY = 10
LEARNING_RATE = 3e-3

SYNTHETIC_FRAMES = 24  # rendered once per test session; 8 of them (with a gesture label for GestureNet) are used


@pytest.fixture(scope="module")
def synthetic_reader(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    """A small split of the synthetic hand world (RGB and depth, every frame with a hand)."""
    root = tmp_path_factory.mktemp("zoo_synth")
    generate(root, count=SYNTHETIC_FRAMES, seed=0, preset="easy", no_hand_rate=0.0, progress=False)
    return SyntheticDataset(root, "train", modality=("rgb", "depth"))


def make_batch(model: Any, reader: SyntheticDataset) -> dict[str, Any]:
    """8 samples for ``model`` through the data pipeline: the input, the stacked targets, and the ground truth in
    the codec's frame (pixels of the crop, normalised uvd of the cube, root-relative millimetres, or labels)."""
    spec, codec = model.spec, model.codec
    if spec.task == "boxes":  # a box detector: whole frames, the hand's box as truth
        frames = DetectionDataset([ReaderFrames(reader)], [1.0], codec, length=BATCH, train=False)
        batch = collate([frames[i] for i in range(BATCH)])
        return {"x": batch["input"], "targets": batch["targets"], "truth": batch["meta"]["boxes"].numpy()[:, 0]}
    if codec.frame == "label":
        ds: Any = KeypointGestureDataset.from_reader(reader, codec=codec)
        items = [ds[i] for i in range(BATCH)]
        batch = collate(items)
        labels = batch["targets"]["label"].numpy().reshape(-1)  # (B,) class ids
        return {"x": batch["input"], "targets": batch["targets"], "truth": labels}
    ds = HandPoseDataset(reader, spec, codec, train=False, skeleton_line_width=2.0, skeleton_blob_sigma=1.5,
                         skeleton_from_labels=True)  # fmt: skip  # the networks' training steps, nothing scored
    batch = collate([ds[i] for i in range(BATCH)])
    meta = batch["meta"]
    truth = np.stack(
        [
            joints_to_frame(info, codec.frame, meta["joints_2d"][b].numpy(), meta["joints_3d"][b].numpy())
            for b, info in enumerate(crop_infos(meta))
        ]
    )
    return {"x": batch["input"], "targets": batch["targets"], "truth": truth}


def decoded_error(model: Any, outputs: dict[str, torch.Tensor], truth: np.ndarray, targets: dict) -> float:
    """The decoded error on the batch, in the units of the codec's frame (see the module docstring)."""
    dec = model.decode(outputs)
    frame = model.codec.frame
    if frame == "label":
        return float(np.mean(dec["label"] != truth))
    if model.spec.task == "boxes":  # the best-scoring box, whatever its score, against the frame's hand box (px)
        best = np.stack([b[0] if len(b) else np.full(4, 1e3) for b, _ in model.codec.detect(outputs, 0.0)])
        have = np.all(np.isfinite(truth), axis=1)
        return float(np.abs(best[have] - truth[have]).mean())
    if model.spec.task == "skeleton":
        # the decoded box against the box the same decoding finds in the targets (for the skeleton UNet: the box the
        # same post-processing finds on the target map)
        ref = model.codec.decode(targets)["boxes"]
        box = np.where(np.isfinite(dec["boxes"]), dec["boxes"], 0.0)
        return float(np.abs(box - ref).mean())
    joints = dec["joints"]
    assert joints.shape == truth.shape, (joints.shape, truth.shape)
    if frame == "crop_uvd":
        half = model.spec.input_size[1] / 2  # depth in [-1, 1] spans the cube; weigh it like half the crop width
        diff = (joints - truth) * np.array([1.0, 1.0, half])
        return float(np.linalg.norm(diff, axis=-1).mean())
    return float(np.linalg.norm(joints - truth, axis=-1).mean())  # pixels or millimetres


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run these small models on one thread: a second one gains little at these sizes, and on the shared 2-core
    machine two threads spin-wait for each other (measured: 0.9 s vs 0.05 s per step for the small MSAHP)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(name: str) -> Any:
    torch.manual_seed(0)
    return create_model(name, **SMALL.get(name, {}))


# ---------------------------------------------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_model_contract_and_overfit(name: str, synthetic_reader: SyntheticDataset) -> None:
    model = build(name)
    spec = model.spec
    assert spec.name == name or name.startswith(spec.name)
    batch = make_batch(model, synthetic_reader)
    x, targets, truth = batch["x"], batch["targets"], batch["truth"]
    assert tuple(x.shape) == spec.input_shape(BATCH)

    # shapes and finite values
    model.train()
    outputs = model(x)
    assert set(spec.outputs) <= set(outputs), f"missing outputs {set(spec.outputs) - set(outputs)}"
    for key, value in outputs.items():
        assert value.shape[0] == BATCH, key
        assert bool(torch.isfinite(value).all()), f"{key} has non-finite values"

    # fit the label-derived parts (PCA prior, mean pose) from the 8 samples, as the trainer does before training
    if model.codec.frame != "label" and spec.task not in ("skeleton", "boxes"):
        model.fit_data(truth.astype(np.float64))

    # a backward pass reaches every trainable parameter
    model.zero_grad()
    loss, parts = model.loss(model(x), targets)
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))
    assert all(math.isfinite(v) for v in parts.values())
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if params:
        loss.backward()
        unreached = [n for n, p in params if p.grad is None]
        assert not unreached, f"no gradient reaches {unreached[:5]}"
        assert all(bool(torch.isfinite(p.grad).all()) for _, p in params)

    # decode gives joints in the codec's frame and units
    model.eval()
    with torch.no_grad():
        dec = model.decode(model(x))
    frame = model.codec.frame
    if frame == "label":
        assert dec["label"].shape == (BATCH,) and dec["confidence"].shape == (BATCH,)
        assert np.all((0 <= dec["label"]) & (dec["label"] < model.codec.num_classes))
    elif spec.task == "skeleton":
        assert dec["boxes"].shape == (BATCH, 4) and dec["has_hand"].shape == (BATCH,)
    elif spec.task == "boxes":
        assert dec["boxes"].shape == (BATCH, model.codec.max_boxes, 4) and dec["count"].shape == (BATCH,)
    else:
        dims = {"crop_px": 2, "crop_uvd": 3, "root_relative_mm": 3}[frame]
        assert dec["joints"].shape == (BATCH, spec.num_joints, dims)
        assert dec["confidence"].shape == (BATCH, spec.num_joints)
        assert np.all(np.isfinite(dec["joints"]))
        if frame in ("crop_px", "crop_uvd"):  # pixels of the input, not normalised units: the spread is pixels
            h, w = spec.input_size
            assert np.all(np.abs(dec["joints"][..., :2]) < 4 * max(h, w))

    # bad input is refused at the entry with a message naming what is expected
    bad_inputs = [
        torch.zeros(2, spec.in_channels + 1, *x.shape[2:]),
        x[:2].to(torch.int64),
        torch.full_like(x[:2], float("nan")),
    ]
    if spec.input_size is not None:
        bad_inputs.append(torch.zeros(2, spec.in_channels, spec.input_size[0] + 8, spec.input_size[1]))
    for bad in bad_inputs:
        with pytest.raises(ModelInputError) as err:
            model(bad)
        assert spec.name in str(err.value)

    # overfit the 8 samples: the decoded error falls below a quarter of its initial value
    trainable = [p for _, p in params]
    with torch.no_grad():
        initial = decoded_error(model, model(x), truth, targets)
    assert initial > 0
    if not trainable:  # a fitted constant predictor (the mean pose): it must predict the mean of what it was fitted on
        with torch.no_grad():
            joints = model.decode(model(x))["joints"]
        np.testing.assert_allclose(joints, np.broadcast_to(truth.mean(axis=0), joints.shape), atol=1e-3)
        return
    opt = torch.optim.Adam(trainable, lr=LEARNING_RATE)
    start = time.perf_counter()
    history = [initial]
    for step in range(1, MAX_STEPS + 1):
        model.train()
        opt.zero_grad()
        loss, _ = model.loss(model(x), targets)
        loss.backward()
        opt.step()
        if step % CHECK_EVERY == 0:
            model.eval()
            with torch.no_grad():
                history.append(decoded_error(model, model(x), truth, targets))
            if history[-1] < initial / 4:
                break
    elapsed = time.perf_counter() - start
    assert history[-1] < initial / 4, (
        f"{name}: decoded error {history[-1]:.3g} after {step} steps ({elapsed:.1f} s) is not below a quarter of "
        f"the initial {initial:.3g}; history {[round(h, 3) for h in history]}"
    )
