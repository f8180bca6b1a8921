"""The numpy decoders of the inference path against the codecs they stand in for, and against naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handpose.codecs.heatmap import decode_heatmaps, render_gaussian_heatmaps
from handpose.codecs.integral import IntegralCodec
from handpose.codecs.multiscale import MultiScaleHeatmapCodec, resize_maps_bilinear
from handpose.errors import CheckpointError
from handpose.inference.decoders import (
    NumpyIntegralDecoder,
    build_codec,
    decode_heatmaps_fast,
    decode_pose,
    resize_maps,
)


def test_fast_heatmap_decoding_equals_the_codecs(rng):
    # random maps (peaks anywhere, borders included) and clean Gaussians at sub-pixel positions
    maps = rng.random((3, 21, 16, 12)).astype(np.float32)
    maps[0, 0, 0, 0] = 2.0  # a peak in a corner: the one-sided fits
    maps[1, 1, 15, 5] = 2.0  # a peak on the bottom border
    centers = rng.uniform(-0.4, 11.4, size=(21, 2))
    gauss = render_gaussian_heatmaps(centers, (16, 12), 1.5)[None]
    for hm in (maps, gauss):
        want, want_peak = decode_heatmaps(hm)
        got, got_peak = decode_heatmaps_fast(hm)
        np.testing.assert_allclose(got, want, atol=1e-9)
        np.testing.assert_allclose(got_peak, want_peak, atol=1e-9)
    # a clean Gaussian is found exactly (log-parabola fit), away from the borders
    inner = (centers[:, 0] > 1) & (centers[:, 0] < 10) & (centers[:, 1] > 1) & (centers[:, 1] < 14)
    got, _ = decode_heatmaps_fast(gauss)
    np.testing.assert_allclose(got[0][inner], centers[inner], atol=1e-3)


def test_resize_matches_the_codecs_bilinear_resampling(rng):
    maps = rng.random((2, 21, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(resize_maps(maps, (64, 64)), resize_maps_bilinear(maps.astype(np.float64), (64, 64)),
                               atol=1e-5)  # fmt: skip


def test_multiscale_fast_path_matches_codec_decode(rng):
    codec = MultiScaleHeatmapCodec((64, 64), sigma=2.0)
    joints = rng.uniform(2, 61, size=(21, 2))
    enc = codec.encode(joints)
    outputs = {name: enc[f"heatmaps_s{stride}"][None] for name, stride, _ in codec.heads}
    want = codec.decode(outputs)
    got = decode_pose(codec, outputs)
    np.testing.assert_allclose(got["joints"], want["joints"], atol=2e-3)
    np.testing.assert_allclose(got["confidence"], want["confidence"], atol=1e-5)
    np.testing.assert_allclose(got["joints"][0], joints, atol=0.15)  # and it finds the encoded joints


def test_numpy_integral_decoder_equals_the_torch_codec(rng):
    codec = IntegralCodec((128, 128), (32, 32))
    logits = torch.from_numpy(rng.normal(0, 3, size=(2, 21, 32, 32)).astype(np.float32))
    probs = torch.softmax(logits.reshape(2, 21, -1), -1).reshape(2, 21, 32, 32)
    uv = torch.from_numpy(rng.uniform(-1, 1, (2, 21, 2)).astype(np.float32))
    depth = torch.from_numpy(rng.uniform(-1, 1, (2, 21)).astype(np.float32))
    outputs = {"uv": uv, "depth": depth, "heatmaps": probs}
    want = codec.decode(outputs)
    dec = NumpyIntegralDecoder(**codec.state())
    got = dec.decode({k: v.numpy() for k, v in outputs.items()})
    np.testing.assert_allclose(got["joints"], want["joints"], atol=1e-4)
    np.testing.assert_allclose(got["confidence"], want["confidence"], atol=1e-6)
    # without uv: integrated from the maps
    want2 = codec.decode({"heatmaps": probs, "depth": outputs["depth"]})
    got2 = dec.decode({"heatmaps": probs.numpy(), "depth": outputs["depth"].numpy()})
    np.testing.assert_allclose(got2["joints"], want2["joints"], atol=1e-4)
    # the confidence is the largest 3x3 mass: a naive loop
    p = probs.numpy().astype(np.float64)
    pad = np.pad(p, ((0, 0), (0, 0), (1, 1), (1, 1)))
    naive = np.zeros((2, 21))
    for b in range(2):
        for j in range(21):
            naive[b, j] = max(pad[b, j, y : y + 3, x : x + 3].sum() for y in range(32) for x in range(32))
    np.testing.assert_allclose(got["confidence"], naive, atol=1e-6)


def test_build_codec_rebuilds_from_state_and_names_unknown_ones():
    codec = MultiScaleHeatmapCodec((64, 64), sigma=2.0)
    again = build_codec("multiscale_heatmap", codec.state())
    assert again.state() == codec.state()
    assert isinstance(build_codec("integral", {"input_size": [128, 128]}), NumpyIntegralDecoder)
    with pytest.raises(CheckpointError, match="unknown codec 'warp'"):
        build_codec("warp", {}, source="x/model.json")
