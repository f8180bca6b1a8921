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

The 8 samples are rendered here from a simple articulated hand (five fanned fingers of four joints with random
flexion, a random 3D rotation, scale and position): RGB crops with the bones drawn in per-finger colours, depth crops
with the bones drawn at their depth, whole frames for the skeleton detector, normalised keypoints and labels for the
gesture classifier. The small configs keep the whole file near 2 minutes on the 2-core CPU machine: inputs of 32–64
pixels and widths of 8–16 channels; they change sizes, never the structure of a model (same blocks, same heads, same
loss, same codec).
"""

from __future__ import annotations

import math
import time
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from handpose import create_model, list_models
from handpose.codecs.gesture import normalize_keypoints
from handpose.data.skeleton_image import render_skeleton_image
from handpose.errors import ModelInputError
from handpose.skeleton import NUM_JOINTS

#: small configs per model (keyword overrides of the registered builder); sizes only, never structure
SMALL: dict[str, dict[str, Any]] = {
    "msahp": dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0),
    "msahp_s": dict(input_size=64, widths=(8, 8, 16, 32), refine_width=16, heads=2, sigma=1.0),
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
    "resnet50_reg2d": dict(input_size=64, width=8),
    "resnet_reg2d_s": dict(input_size=64, width=8),
    "light_depth": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
    "light_depth_s": dict(input_size=32, channels=16, hourglass_depth=2, depth_features=8),
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

FINGER_ANGLES = (-55.0, -18.0, 0.0, 15.0, 32.0)  # degrees from the hand's up axis, thumb to pinky
BONE_LENGTHS = ((30, 32, 28, 24), (70, 38, 24, 20), (68, 42, 27, 21), (64, 38, 25, 20), (60, 30, 20, 18))  # mm
FINGER_COLOURS = ((230, 60, 60), (60, 200, 60), (60, 90, 230), (220, 200, 40), (200, 60, 220))


# ---------------------------------------------------------------------------------------------------------------
# the 8 synthetic samples
# ---------------------------------------------------------------------------------------------------------------


def random_hand_3d(rng: np.random.Generator) -> np.ndarray:
    """(21, 3) mm, canonical order, wrist at the origin, y up, randomly flexed and rotated in 3D."""
    joints = np.zeros((NUM_JOINTS, 3))
    for f, (angle, lengths) in enumerate(zip(FINGER_ANGLES, BONE_LENGTHS)):
        a = math.radians(angle + rng.uniform(-6, 6))
        direction = np.array([math.sin(a), math.cos(a), 0.0])
        flex = rng.uniform(0.0, 0.9)  # radians per joint, towards -z
        pos = np.zeros(3)
        for k, length in enumerate(lengths):
            bend = flex * k
            d = direction * math.cos(bend) + np.array([0.0, 0.0, -math.sin(bend)])
            pos = pos + d * length
            joints[1 + 4 * f + k] = pos
    rx, ry, rz = rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.8), rng.uniform(-math.pi, math.pi)
    rot = cv2.Rodrigues(np.array([rx, ry, rz]))[0]
    return joints @ rot.T


def project_to_crop(joints_3d: np.ndarray, size: tuple[int, int], fill: float, rng: np.random.Generator) -> np.ndarray:
    """(21, 3) mm -> (21, 2) pixels of an (H, W) image, the hand spanning about ``fill`` of the smaller side."""
    h, w = size
    xy = joints_3d[:, :2] * np.array([1.0, -1.0])  # y down
    centre = (xy.max(0) + xy.min(0)) / 2
    span = max(float(np.ptp(xy, axis=0).max()), 1e-6)
    scale = fill * min(h, w) / span
    uv = (xy - centre) * scale
    room = np.array([w, h]) / 2 - np.abs(uv).max(0) - 1.5
    shift = rng.uniform(-np.maximum(room, 0), np.maximum(room, 0))
    return uv + np.array([(w - 1) / 2, (h - 1) / 2]) + shift


def render_rgb(joints_2d: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]: a noisy background with the bones drawn in per-finger colours."""
    h, w = size
    img = np.full((h, w, 3), rng.uniform(40, 120, 3), np.float32) + rng.normal(0, 8, (h, w, 3)).astype(np.float32)
    thick = max(1, round(min(h, w) / 24))
    p = np.round(joints_2d).astype(int)
    for f in range(5):
        chain = [0, *range(1 + 4 * f, 5 + 4 * f)]
        for a, b in zip(chain[:-1], chain[1:]):
            cv2.line(img, tuple(map(int, p[a])), tuple(map(int, p[b])), FINGER_COLOURS[f], thick)
        cv2.circle(img, tuple(map(int, p[4 + 4 * f])), thick + 1, (255, 255, 255), -1)
    cv2.circle(img, tuple(map(int, p[0])), thick + 1, (250, 250, 250), -1)
    return np.clip(img / 255.0, 0, 1).astype(np.float32)


def render_depth(joints_uvd: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 in [-1, 1]: background 1, bones drawn far to near at their normalised depth."""
    h, w = size
    img = np.ones((h, w), np.float32)
    thick = max(1, round(min(h, w) / 16))
    p = np.round(joints_uvd[:, :2]).astype(int)
    bones = [(0, 1 + 4 * f) for f in range(5)] + [(1 + 4 * f + k, 2 + 4 * f + k) for f in range(5) for k in range(3)]
    for a, b in sorted(bones, key=lambda ab: -(joints_uvd[ab[0], 2] + joints_uvd[ab[1], 2])):
        d = float((joints_uvd[a, 2] + joints_uvd[b, 2]) / 2)
        cv2.line(img, tuple(map(int, p[a])), tuple(map(int, p[b])), d, thick)
    return img


def make_batch(model: Any, seed: int = 0) -> dict[str, Any]:
    """8 samples for ``model``: input tensor, stacked targets, and the ground truth in the codec's frame."""
    spec, codec = model.spec, model.codec
    rng = np.random.default_rng(seed)
    inputs, targets, truth = [], [], []
    for i in range(BATCH):
        hand = random_hand_3d(rng)
        if spec.modality == "keypoints":
            joints_2d = project_to_crop(hand, (128, 128), 0.7, rng)
            inputs.append(normalize_keypoints(joints_2d))
            label = i % codec.num_classes
            truth.append(label)
            targets.append(codec.encode(label))
            continue
        size = spec.input_size
        fill = 0.45 if spec.task == "skeleton" else 0.8
        joints_2d = project_to_crop(hand, size, fill, rng)
        rel = hand - hand[0]  # root-relative millimetres
        d = np.clip(rel[:, 2] / 150.0, -0.9, 0.9)  # normalised depth within a ±150 mm cube
        uvd = np.concatenate([joints_2d, d[:, None]], axis=1)
        if spec.modality == "rgb":
            img = render_rgb(joints_2d, size, rng).transpose(2, 0, 1)
            if spec.in_channels == 4:
                skel = render_skeleton_image(joints_2d, size[0], size[1])
                img = np.concatenate([img, skel[None]], axis=0)
            inputs.append(img)
        else:
            inputs.append(render_depth(uvd, size)[None])
        gt = {"crop_px": joints_2d, "crop_uvd": uvd, "root_relative_mm": rel}[codec.frame]
        truth.append(gt)
        targets.append(codec.encode(gt, np.ones(NUM_JOINTS, bool)))
    x = torch.from_numpy(np.stack(inputs).astype(np.float32))
    stacked = {k: torch.from_numpy(np.stack([t[k] for t in targets])) for k in targets[0]}
    return {"x": x, "targets": stacked, "truth": np.stack(truth) if spec.modality != "keypoints" else np.array(truth)}


def decoded_error(model: Any, outputs: dict[str, torch.Tensor], truth: np.ndarray, targets: dict) -> float:
    """The decoded error on the batch, in the units of the codec's frame (see the module docstring)."""
    dec = model.decode(outputs)
    frame = model.codec.frame
    if frame == "label":
        return float(np.mean(dec["label"] != truth))
    if model.spec.task == "skeleton":
        # the box from the predicted map against the box the same post-processing finds on the target map
        ref = model.codec.decode({"skeleton": targets["skeleton"]})["boxes"]
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
def test_model_contract_and_overfit(name: str) -> None:
    model = build(name)
    spec = model.spec
    assert spec.name == name or name.startswith(spec.name)
    batch = make_batch(model)
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
    if model.codec.frame != "label" and spec.task != "skeleton":
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
