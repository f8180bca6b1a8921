"""Depth / 3D codecs: normalised uvd, root-relative 3D, PCA pose space, integral soft-argmax + depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handpose.codecs.integral import IntegralCodec, integrate_heatmaps, peak_mass, soft_argmax
from handpose.codecs.pca import PCACodec, fit_pca
from handpose.codecs.regression3d import Regression3DCodec
from handpose.codecs.uvd import UVDCodec
from handpose.errors import DataError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread is faster than two spin-waiting on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _uvd_joints(rng: np.random.Generator, n: int, size: int = 128) -> np.ndarray:
    uv = rng.uniform(-0.5, size - 0.5, size=(n, 21, 2))
    d = rng.uniform(-1, 1, size=(n, 21, 1))
    return np.concatenate([uv, d], axis=-1)


# ---------------------------------------------------------------------------------------------------------- uvd


def test_uvd_normalisation_by_hand_and_round_trip(rng):
    codec = UVDCodec((128, 96))  # H = 128, W = 96
    joints = np.zeros((21, 3))
    joints[0] = (-0.5, -0.5, 0.3)  # outer corner of the crop -> (-1, -1)
    joints[1] = (95.5, 127.5, -1.0)  # opposite outer corner -> (1, 1)
    joints[2] = (47.5, 63.5, 1.0)  # centre -> (0, 0)
    joints[3] = (23.5, 95.5, 0.0)  # a quarter across, three quarters down -> (-0.5, 0.5)
    target = codec.encode(joints)["uvd"]
    np.testing.assert_allclose(target[:4], [[-1, -1, 0.3], [1, 1, -1], [0, 0, 1], [-0.5, 0.5, 0]], atol=1e-6)
    assert target.dtype == np.float32

    batch = _uvd_joints(rng, 4)
    batch[..., 0] *= 96 / 128
    encoded = np.stack([codec.encode(j)["uvd"] for j in batch])
    decoded = codec.decode({"uvd": torch.tensor(encoded)})
    np.testing.assert_allclose(decoded["joints"], batch, atol=1e-4)
    assert decoded["confidence"].shape == (4, 21)
    again = UVDCodec.from_state(codec.state())
    np.testing.assert_array_equal(again.encode(batch[0])["uvd"], codec.encode(batch[0])["uvd"])


def test_uvd_missing_joints_and_bad_shapes():
    codec = UVDCodec()
    joints = np.full((21, 3), 10.0)
    joints[5] = np.nan
    visibility = np.ones(21)
    visibility[7] = 0
    out = codec.encode(joints, visibility)
    assert out["visibility"][5] == 0 and out["visibility"][7] == 0 and out["visibility"].sum() == 19
    assert np.isfinite(out["uvd"]).all() and (out["uvd"][5] == 0).all()
    with pytest.raises(DataError, match=r"\(J, 3\)"):
        codec.encode(np.zeros((21, 2)))
    with pytest.raises(DataError, match="visibility"):
        codec.encode(np.zeros((21, 3)), np.ones(20))
    with pytest.raises(DataError, match=r"\(B, J, 3\)"):
        codec.decode({"uvd": np.zeros((2, 63))})


# -------------------------------------------------------------------------------------------- regression 3D


def test_regression3d_root_relative_millimetres(rng):
    codec = Regression3DCodec(scale_mm=100.0)
    joints = rng.normal(0, 40, size=(21, 3)) + np.array([30.0, -20.0, 500.0])  # camera frame, not root-relative
    target = codec.encode(joints)["xyz"]
    np.testing.assert_allclose(target, (joints - joints[0]) / 100.0, atol=1e-6)
    np.testing.assert_allclose(target[0], 0.0)
    rel = joints - joints[0]
    decoded = codec.decode({"xyz": torch.tensor(target[None])})["joints"][0]
    np.testing.assert_allclose(decoded, rel, atol=1e-4)  # millimetres
    # a joint 10 mm right, 20 mm up, 30 mm behind the wrist is (0.1, -0.2, 0.3) in units of 100 mm
    hand = np.zeros((21, 3))
    hand[4] = (10.0, -20.0, 30.0)
    np.testing.assert_allclose(codec.encode(hand)["xyz"][4], [0.1, -0.2, 0.3], atol=1e-7)
    missing_root = hand.copy()
    missing_root[0] = np.nan
    with pytest.raises(DataError, match="root joint"):
        codec.encode(missing_root)
    assert Regression3DCodec.from_state(codec.state()).scale_mm == 100.0


# ------------------------------------------------------------------------------------------------------ PCA


@pytest.mark.parametrize("frame", ["crop_uvd", "root_relative_mm"])
def test_pca_full_rank_round_trip(rng, frame):
    codec = PCACodec(frame, num_components=63)
    train = _uvd_joints(rng, 200) if frame == "crop_uvd" else rng.normal(0, 50, size=(200, 21, 3))
    if frame == "root_relative_mm":
        train -= train[:, :1]
    codec.fit(train)
    test = _uvd_joints(rng, 5) if frame == "crop_uvd" else rng.normal(0, 50, size=(5, 21, 3))
    if frame == "root_relative_mm":
        test -= test[:, :1]
    codes = np.stack([codec.encode(j)["code"] for j in test])
    decoded = codec.decode({"code": torch.tensor(codes)})["joints"]
    np.testing.assert_allclose(decoded, test, atol=1e-4)
    # the state rebuilds the same space
    again = PCACodec.from_state(codec.state())
    np.testing.assert_allclose(again.encode(test[0])["code"], codes[0], atol=1e-6)
    # with the base key present, decoding goes through the base codec
    base = np.stack([codec.encode(j)[codec.key] for j in test])
    np.testing.assert_allclose(codec.decode({codec.key: base})["joints"], test, atol=1e-4)


def test_truncated_pca_explains_the_expected_variance(rng):
    # poses = mean + 5 latent directions with known standard deviations (+ small isotropic noise)
    n, f = 4000, 63
    directions, _ = np.linalg.qr(rng.normal(size=(f, 5)))
    stds = np.array([0.30, 0.20, 0.10, 0.05, 0.02])
    latent = rng.normal(size=(n, 5)) * stds
    noise = 0.001
    flat = 0.1 + latent @ directions.T + rng.normal(0, noise, size=(n, f))
    poses = flat.reshape(n, 21, 3)
    codec = PCACodec("crop_uvd", num_components=3, input_size=(2, 2))  # 2×2 crop: u, v normalise by (u + 0.5) - 1
    poses_px = poses.copy()
    poses_px[..., :2] = poses[..., :2] + 0.5  # so that the normalised poses are exactly ``flat``
    basis = codec.fit(poses_px)

    # independent: eigen-decomposition of the sample covariance
    cov = np.cov(flat, rowvar=False)
    eig = np.sort(np.linalg.eigvalsh(cov))[::-1]
    np.testing.assert_allclose(basis.explained_variance, eig[:3], rtol=1e-8)
    np.testing.assert_allclose(basis.explained_variance_ratio, eig[:3] / eig.sum(), rtol=1e-8)
    # and close to the construction: variances 0.09, 0.04, 0.01 (+ noise), about 96.7 % of the total
    np.testing.assert_allclose(basis.explained_variance, stds[:3] ** 2, rtol=0.08)
    expected_ratio = (stds[:3] ** 2).sum() / ((stds**2).sum() + f * noise**2)
    assert abs(basis.explained_variance_ratio.sum() - expected_ratio) < 0.01
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(3), atol=1e-10)

    # the reconstruction residual of the training poses is the unexplained variance
    rec = codec.reconstruct(poses_px)
    rec_flat = rec.copy()
    rec_flat[..., :2] -= 0.5
    residual = ((rec_flat.reshape(n, f) - flat) ** 2).sum() / (n - 1)
    np.testing.assert_allclose(residual, eig[3:].sum(), rtol=1e-6)


def test_pca_fit_edge_cases(rng):
    codec = PCACodec("crop_uvd", num_components=10)
    with pytest.raises(DataError, match="not fitted"):
        codec.to_code(np.zeros((21, 3)))
    assert "code" not in codec.encode(np.zeros((21, 3)))  # targets still usable before the fit
    train = _uvd_joints(rng, 4)  # fewer poses than components: completed with zero-variance directions
    train[1, 3] = np.nan  # rows with NaN are left out of the fit
    basis = codec.fit(train)
    assert basis.components.shape == (10, 63)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(10), atol=1e-10)
    assert (basis.explained_variance[2:] < 1e-20).all()  # 3 complete poses: 2 directions of variance
    np.testing.assert_allclose(basis.mean, codec.base.normalize(train[[0, 2, 3]]).reshape(3, -1).mean(0))
    # a zero-weight joint (written as 0 by the data pipeline) takes the mean's value in the code
    pose = train[0].copy()
    pose[4] = 0.0
    vis = np.ones(21)
    vis[4] = 0
    filled = train[0].copy()
    filled[4] = codec.base.denormalize(basis.mean.reshape(21, 3))[4]
    np.testing.assert_allclose(codec.encode(pose, vis)["code"], codec.to_code(filled), atol=1e-5)
    with pytest.raises(DataError, match="no complete pose"):
        fit_pca(np.full((3, 6), np.nan), 2)
    with pytest.raises(DataError, match="expected training joints"):
        codec.fit(np.zeros((5, 20, 3)))
    with pytest.raises(DataError, match="num_components"):
        fit_pca(np.zeros((3, 6)), 7)


# ------------------------------------------------------------------------------------------------- integral


def test_integrate_heatmaps_matches_a_naive_loop(rng):
    probs = torch.tensor(rng.random((2, 3, 5, 7)))
    probs /= probs.sum(dim=(-2, -1), keepdim=True)
    got = integrate_heatmaps(probs).numpy()
    for b in range(2):
        for j in range(3):
            x = y = 0.0
            for row in range(5):
                for col in range(7):
                    x += probs[b, j, row, col].item() * (2 * (col + 0.5) / 7 - 1)  # Eq. 4, cell centres
                    y += probs[b, j, row, col].item() * (2 * (row + 0.5) / 5 - 1)
            np.testing.assert_allclose(got[b, j], [x, y], atol=1e-12)
    # a (near) one-hot logit map integrates to its cell centre
    logits = torch.full((1, 1, 8, 8), -1e4)
    logits[0, 0, 2, 5] = 0.0
    _, uv = soft_argmax(logits)
    np.testing.assert_allclose(uv[0, 0].numpy(), [2 * 5.5 / 8 - 1, 2 * 2.5 / 8 - 1], atol=1e-6)


def test_integral_codec_round_trips(rng):
    codec = IntegralCodec((128, 128), (32, 32), sigma=0.5, with_heatmaps=True)
    # through the regressed uv: exact
    joints = _uvd_joints(rng, 3)
    enc = [codec.encode(j) for j in joints]
    outputs = {k: torch.tensor(np.stack([e[k] for e in enc])) for k in ("uv", "depth")}
    np.testing.assert_allclose(codec.decode(outputs)["joints"], joints, atol=1e-4)

    # through the soft target and the integration: within 0.25 map cells wherever the joint lies between the
    # first and last cell centres (corners included)
    worst = 0.0
    for _ in range(8):
        cells = rng.uniform(0, 31, size=(21, 2))
        cells[:4] = [[0, 0], [31, 31], [0, 31], [15.5, 0.25]]
        j = np.concatenate([(cells + 0.5) * 4 - 0.5, rng.uniform(-1, 1, (21, 1))], axis=1)  # map cells -> input px
        e = codec.encode(j)
        assert e["heatmap"].shape == (21, 32, 32)
        np.testing.assert_allclose(e["heatmap"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
        dec = codec.decode({"heatmaps": e["heatmap"][None], "depth": e["depth"][None]})
        worst = max(worst, float(np.abs(dec["joints"][0, :, :2] - j[:, :2]).max()) / 4)  # in map cells
        np.testing.assert_allclose(dec["joints"][0, :, 2], j[:, 2], atol=1e-6)
    assert worst < 0.25


def test_integral_confidence_and_errors():
    codec = IntegralCodec((64, 64), (16, 16))
    sharp = torch.zeros(1, 2, 16, 16)
    sharp[0, 0, 4, 4] = 1.0
    sharp[0, 1] = 1.0 / 256  # uniform
    out = codec.decode({"heatmaps": sharp, "depth": torch.zeros(1, 2)})
    np.testing.assert_allclose(out["confidence"][0], [1.0, 9 / 256], rtol=1e-5)
    np.testing.assert_allclose(peak_mass(sharp)[0].numpy(), [1.0, 9 / 256], rtol=1e-5)
    np.testing.assert_allclose(out["joints"][0, 0, :2], [4 * 4 + 1.5, 4 * 4 + 1.5], atol=1e-5)  # cell 4 -> px 17.5
    invisible = codec.encode(np.full((2, 3), np.nan))
    assert (invisible["visibility"] == 0).all() and np.isfinite(invisible["uv"]).all()
    with pytest.raises(DataError, match="depth"):
        codec.decode({"uv": torch.zeros(1, 2, 2)})
    with pytest.raises(DataError, match="neither"):
        codec.decode({"depth": torch.zeros(1, 2)})
    state = IntegralCodec.from_state(codec.state()).state()
    assert state == codec.state()
