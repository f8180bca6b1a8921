"""Depth / 3D models: light_depth, res_attention, deepprior, resnet*_reg3d, mean_pose_*.

Cost targets (light_depth), layouts (by forward hooks), the wiring of each paper's equations against an independent
re-computation, PCA prior fitting, checkpoints, the engine running the parameter-free mean-pose floor, and bad
input rejected at the model's entry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handpose import create_model, list_models
from handpose.cost import count_flops, count_parameters
from handpose.errors import CheckpointError, ModelInputError
from handpose.layers.residual_attention import ResidualAttentionModule
from handpose.layers.resnet import RESNET_TRUNK_PARAMS

MY_MODELS = [
    "light_depth",
    "light_depth_s",
    "res_attention",
    "res_attention_noprior",
    "res_attention_s",
    "res_attention_s_noprior",
    "deepprior",
    "resnet18_reg3d",
    "resnet34_reg3d",
    "resnet50_reg3d",
    "resnet101_reg3d",
    "resnet18_reg3d_s",
    "mean_pose_2d",
    "mean_pose_depth",
    "mean_pose_3d",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread is faster than two spin-waiting on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _uvd_poses(rng: np.random.Generator, n: int, size: int = 128) -> np.ndarray:
    """Plausible crop_uvd poses: a common hand shape plus per-sample jitter, u, v in px and d in [-1, 1]."""
    base = rng.uniform(30, size - 30, size=(1, 21, 2))
    uv = base + rng.normal(0, 8, size=(n, 21, 2))
    d = rng.normal(0, 0.2, size=(1, 21, 1)) + rng.normal(0, 0.05, size=(n, 21, 1))
    return np.concatenate([uv, d], axis=-1)


def test_every_model_is_registered_with_its_spec():
    names = set(list_models())
    assert set(MY_MODELS) <= names
    for name in ("light_depth_s", "res_attention_s", "mean_pose_3d", "resnet18_reg3d_s"):
        model = create_model(name)
        assert model.spec.name == name
        # the config rebuilds the same model through the registry (what a checkpoint does)
        rebuilt = create_model(name, **model.config)
        assert rebuilt.config == model.config and count_parameters(rebuilt) == count_parameters(model)


# --------------------------------------------------------------------------------------------- light_depth


def test_light_depth_meets_the_cost_targets_at_128():
    model = create_model("light_depth")
    assert model.spec.input_size == (128, 128) and model.spec.in_channels == 1
    cost = count_flops(model, torch.zeros(1, 1, 128, 128))
    params = count_parameters(model)
    # targets: <= 0.30 G MACs and <= 0.20 M parameters (the paper: 0.27 G "FLOPs", 0.18 M)
    assert params <= 200_000
    assert cost["macs"] <= 300_000_000
    assert cost["flops"] == 2 * cost["macs"]


def test_light_depth_outputs_follow_eqs_3_to_9_and_11():
    """Recompute uv and depth from the head's maps with the paper's equations and compare."""
    torch.manual_seed(0)
    model = create_model("light_depth_s").eval()
    with torch.no_grad():
        model.beta.copy_(torch.linspace(-0.5, 1.5, 21))  # learnt β_j, different per joint
    captured = {}
    model.head.register_forward_hook(lambda m, i, o: captured.update(maps=o))
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        out = model(x)
    maps = captured["maps"].double()
    j, d = 21, model.depth_features
    h, w = maps.shape[-2:]
    assert (h, w) == (32, 32) and maps.shape[1] == 2 * j + d
    att1, att2, gamma = maps[:, :j], maps[:, j : 2 * j], maps[:, 2 * j :]
    xs = 2 * (torch.arange(w, dtype=torch.float64) + 0.5) / w - 1
    ys = 2 * (torch.arange(h, dtype=torch.float64) + 0.5) / h - 1
    c2d = torch.exp(att1 - att1.amax(dim=(2, 3), keepdim=True))
    c2d = c2d / c2d.sum(dim=(2, 3), keepdim=True)  # Eq. 3
    uv = torch.stack([(c2d * xs).sum(dim=(2, 3)), (c2d * ys[:, None]).sum(dim=(2, 3))], dim=-1)  # Eq. 4
    torch.testing.assert_close(out["uv"].double(), uv, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["heatmaps"].double(), c2d, atol=1e-6, rtol=1e-4)
    beta = model.beta.double().view(1, j, 1, 1)
    mix = beta * att1 + (1 - beta) * att2
    fused = torch.exp(mix - mix.amax(dim=(2, 3), keepdim=True))
    fused = fused / fused.sum(dim=(2, 3), keepdim=True)  # Eq. 9
    pooled = torch.einsum("bjyx,bdyx->bjd", fused, gamma)  # Eq. 6
    tokens = model.joint_attention.double()(pooled)  # Eq. 11
    depth = tokens @ model.depth_head.weight.double()[0] + model.depth_head.bias.double()[0]  # Eq. 7
    torch.testing.assert_close(out["depth"].double(), depth, atol=1e-5, rtol=1e-5)
    model.float()


def test_light_depth_loss_is_l1_2d_plus_l1_depth_over_visible_joints():
    model = create_model("light_depth_s")
    uv = torch.zeros(2, 21, 2)
    depth = torch.zeros(2, 21)
    targets = {"uv": torch.full((2, 21, 2), 0.1), "depth": torch.full((2, 21), -0.3), "visibility": torch.ones(2, 21)}
    targets["uv"][0, 0] = 50.0  # an invisible joint's label must not count
    targets["visibility"][0, 0] = 0
    loss, parts = model.loss({"uv": uv, "depth": depth, "heatmaps": torch.zeros(2, 21, 32, 32)}, targets)
    assert parts["loss_2d"] == pytest.approx(0.1, abs=1e-6)
    assert parts["loss_depth"] == pytest.approx(0.3, abs=1e-6)
    assert float(loss) == pytest.approx(0.4, abs=1e-6)


# ------------------------------------------------------------------------------------------- res_attention


def test_res_attention_layout_three_modules_p_t_r_and_mask_depths():
    model = create_model("res_attention_s").eval()
    modules = [m for m in model.body if isinstance(m, ResidualAttentionModule)]
    assert len(modules) == 3
    # a residual unit sits between consecutive attention modules
    kinds = [type(m).__name__ for m in model.body][:5]
    assert kinds == [
        "ResidualAttentionModule",
        "PreActBottleneck",
        "ResidualAttentionModule",
        "PreActBottleneck",
        "ResidualAttentionModule",
    ]
    for m in modules:
        assert (len(m.pre), len(m.trunk), len(m.mask.down[0]), len(m.post)) == (1, 2, 1, 1)  # p, t, r = 1, 2, 1
    sizes = []
    for m in modules:
        m.register_forward_hook(lambda mod, i, o: sizes.append(tuple(o.shape[-2:])))
        m.mask.bottom.register_forward_hook(lambda mod, i, o: sizes.append(("mask", *o.shape[-2:])))
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 128, 128))
    # modules at 32², 16², 8²; every mask bottoms out at 4² (3, 2, 1 down-samplings)
    assert sizes == [("mask", 4, 4), (32, 32), ("mask", 4, 4), (16, 16), ("mask", 4, 4), (8, 8)]
    assert out["uvd"].shape == (1, 21, 3) and out["code"].shape == (1, 30)


@pytest.mark.parametrize("name", ["res_attention_s", "deepprior"])
def test_pca_prior_is_fitted_from_training_poses_and_constrains_the_output(rng, name):
    model = create_model(name, dropout=0.0).eval()
    train = _uvd_poses(rng, 300)
    model.fit_data(train)
    prior = model.pose.prior
    assert bool(prior.fitted)
    np.testing.assert_allclose(prior.components.numpy(), model.codec.components, atol=1e-6)
    # whatever the input, the prediction lies in the 30-dimensional PCA space of the training poses
    with torch.no_grad():
        out = model(torch.rand(3, 1, 128, 128) * 2 - 1)
    flat = out["uvd"].reshape(3, -1).double()
    mean = torch.as_tensor(model.codec.mean)
    comps = torch.as_tensor(model.codec.components)
    residual = (flat - mean) - ((flat - mean) @ comps.T) @ comps
    assert float(residual.abs().max()) < 1e-5
    # the decoded joints are in the crop_uvd frame: pixels of the 128² crop, near the training poses at the start
    decoded = model.decode(out)["joints"]
    assert decoded.shape == (3, 21, 3)
    assert np.abs(decoded[..., :2] - train[..., :2].mean(0)).max() < 5.0


def test_res_attention_without_prior_starts_at_the_mean_pose(rng):
    model = create_model("res_attention_s_noprior").eval()
    assert model.pose.prior is None and "code" not in model.spec.outputs
    train = _uvd_poses(rng, 50)
    model.fit_data(train)
    torch.nn.init.zeros_(model.pose.linear.weight)
    with torch.no_grad():
        decoded = model.decode(model(torch.zeros(2, 1, 128, 128)))["joints"]
    np.testing.assert_allclose(decoded, np.broadcast_to(train.mean(0), (2, 21, 3)), atol=1e-4)


def test_deepprior_layout():
    model = create_model("deepprior").eval()
    shapes = []
    for layer in model.features:
        layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    with torch.no_grad():
        model(torch.zeros(1, 1, 128, 128))
    # conv 5×5 (8) -> pool 4 -> conv 5×5 (8) -> pool 2 -> conv 3×3 (8)
    assert shapes == [(8, 128, 128), (8, 32, 32), (8, 32, 32), (8, 16, 16), (8, 16, 16)]
    assert model.fc[0].in_features == 8 * 16 * 16 and model.fc[0].out_features == 1024
    assert model.pose.prior.num_components == 30


def test_pca_models_survive_a_checkpoint(tmp_path, rng):
    from handpose.engine.checkpoint import load_checkpoint, save_checkpoint

    model = create_model("res_attention_s", fc=[64]).eval()
    model.fit_data(_uvd_poses(rng, 100))
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        expected = model(x)["uvd"]
    folder = save_checkpoint(tmp_path / "ckpt", model)
    loaded, _ = load_checkpoint(folder, expected_model="res_attention_s")
    assert loaded.config["fc"] == [64]
    np.testing.assert_allclose(loaded.codec.components, model.codec.components)
    assert bool(loaded.pose.prior.fitted)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["uvd"], expected)


# -------------------------------------------------------------------------------------------- resnet_reg3d


def test_resnet_reg3d_trunks_have_the_standard_sizes():
    model = create_model("resnet50_reg3d")
    assert count_parameters(model.trunk) == RESNET_TRUNK_PARAMS[50] == 23_508_032  # about 23.5 M
    assert count_parameters(model) == 23_508_032 + 2048 * 63 + 63
    small = create_model("resnet18_reg3d")
    assert count_parameters(small.trunk) == 11_176_512
    assert small.spec.modality == "rgb" and small.spec.input_size == (128, 128)
    assert small.spec.main_metric == "pa_mpjpe" and small.codec.frame == "root_relative_mm"


def test_resnet_reg3d_outputs_millimetres_and_l1_loss(rng):
    model = create_model("resnet18_reg3d_s").eval()
    train = rng.normal(0, 40, size=(20, 21, 3))
    train -= train[:, :1]
    model.fit_data(train)
    torch.nn.init.zeros_(model.fc.weight)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 128))
    decoded = model.decode(out)["joints"]
    np.testing.assert_allclose(decoded, np.broadcast_to(train.mean(0), (2, 21, 3)), atol=1e-3)  # mm
    targets = {"xyz": out["xyz"] + 0.25, "visibility": torch.ones(2, 21)}
    loss, _ = model.loss(out, targets)
    assert float(loss) == pytest.approx(0.25, abs=1e-6)


def test_resnet_reg3d_loads_user_safetensors_weights(tmp_path):
    from safetensors.torch import save_file

    source = create_model("resnet18_reg3d_s")
    with torch.no_grad():
        for p in source.trunk.parameters():
            p.add_(0.01)
    path = tmp_path / "trunk.safetensors"
    save_file({f"backbone.{k}": v.contiguous() for k, v in source.trunk.state_dict().items()}, str(path))
    model = create_model("resnet18_reg3d_s", trunk_weights=str(path), trunk_weights_prefix="backbone.")
    for (k, a), b in zip(source.trunk.state_dict().items(), model.trunk.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert "trunk_weights" not in model.config  # a checkpoint holds the weights; it never reloads the user file
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        create_model("resnet18_reg3d_s", trunk_weights=str(tmp_path / "bad.safetensors"))


# ----------------------------------------------------------------------------------------------- mean_pose


@pytest.mark.parametrize(
    "name, dims, channels",
    [("mean_pose_2d", 2, 3), ("mean_pose_depth", 3, 1), ("mean_pose_3d", 3, 3)],
)
def test_mean_pose_predicts_the_training_mean(rng, name, dims, channels):
    model = create_model(name)
    assert count_parameters(model) == 0
    joints = rng.uniform(0, 127, size=(40, 21, dims))
    if name == "mean_pose_3d":
        joints -= joints[:, :1]
    joints[3, 5] = np.nan  # a missing label is left out of that joint's mean
    expected = np.nanmean(joints, axis=0)
    model.fit_data(joints)
    with torch.no_grad():
        decoded = model.decode(model(torch.rand(4, channels, 128, 128)))["joints"]
    assert decoded.shape == (4, 21, dims)
    np.testing.assert_allclose(decoded, np.broadcast_to(expected, decoded.shape), atol=1e-3)


def test_the_engine_trains_the_parameter_free_mean_pose(tmp_path, rng):
    from handpose.config import ExperimentConfig
    from handpose.engine.checkpoint import load_checkpoint
    from handpose.engine.trainer import fit

    model = create_model("mean_pose_depth")
    joints = _uvd_poses(rng, 16)
    model.fit_data(joints)
    data = [
        {
            "input": torch.rand(1, 128, 128) * 2 - 1,
            "targets": {k: torch.from_numpy(v) for k, v in model.codec.encode(j).items()},
        }
        for j in joints
    ]
    cfg = ExperimentConfig(name="mean")
    cfg.model.name = "mean_pose_depth"
    cfg.data.batch_size = 8
    cfg.train.steps = 2
    cfg.train.val_every = 0
    cfg.train.checkpoint_every = 0
    cfg.train.progress = False
    cfg.train.device = "cpu"
    result = fit(model, data, cfg, tmp_path / "run")
    assert result.steps == 2
    loaded, _ = load_checkpoint(result.last, expected_model="mean_pose_depth")
    with torch.no_grad():
        decoded = loaded.decode(loaded(torch.zeros(1, 1, 128, 128)))["joints"][0]
    np.testing.assert_allclose(decoded, joints.mean(0), atol=1e-3)


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name", ["light_depth_s", "res_attention_s", "deepprior", "resnet18_reg3d_s", "mean_pose_depth", "mean_pose_3d"]
)
def test_bad_input_is_rejected_at_the_entry(name):
    model = create_model(name).eval()
    c, h, w = model.spec.input_shape()[1:]
    good = torch.zeros(2, c, h, w)
    cases = [
        (torch.zeros(2, c + 1, h, w), "expects"),  # channels
        (torch.zeros(2, c, h // 2, w), "expects"),  # size
        (torch.zeros(c, h, w), "expects"),  # no batch dimension
        (torch.zeros(2, c, h, w, dtype=torch.uint8), "floating-point"),  # dtype
        (F.pad(good, (0, 0)).index_fill(2, torch.tensor([3]), float("nan")), "NaN"),  # NaN
        (good + (500.0 if model.spec.modality == "depth" else 255.0), "expects"),  # raw mm / 0-255 pixels
    ]
    for bad, message in cases:
        with pytest.raises(ModelInputError, match=message) as exc:
            model(bad)
        assert name in str(exc.value)
    with torch.no_grad():
        model(good)  # the valid input passes
