"""The 2D codecs: heatmaps, multi-scale heatmaps, skeleton maps, 2D regression and gesture labels.

Round trips decode(encode(j)) are checked at sub-pixel positions, at the image edges and with invisible joints; the
rendered targets are compared with maps written by a naive per-pixel loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from handpose.codecs.gesture import GestureCodec, normalize_keypoints
from handpose.codecs.heatmap import (
    HeatmapCodec,
    decode_heatmaps,
    input_coords_from_map,
    map_coords_from_input,
    render_gaussian_heatmaps,
)
from handpose.codecs.multiscale import MultiScaleHeatmapCodec, resize_maps_bilinear, target_key
from handpose.codecs.regression2d import Regression2DCodec
from handpose.codecs.skeleton import SkeletonCodec, find_hand_regions
from handpose.data.sample import bbox_from_joints
from handpose.data.skeleton_image import render_skeleton_image

J = 21


def random_joints(rng: np.random.Generator, size: tuple[int, int], n: int = J) -> np.ndarray:
    h, w = size
    return np.stack([rng.uniform(-0.5, w - 0.5, n), rng.uniform(-0.5, h - 0.5, n)], axis=1)


# ---------------------------------------------------------------------------------------------------------------
# heatmaps
# ---------------------------------------------------------------------------------------------------------------


def test_pixel_centre_mapping_by_hand() -> None:
    # stride 8: input pixels 0..7 form map pixel 0, whose centre is at input 3.5
    assert np.allclose(map_coords_from_input(np.array([[3.5, 3.5]]), (256, 256), (32, 32)), [[0.0, 0.0]])
    assert np.allclose(map_coords_from_input(np.array([[-0.5, 255.5]]), (256, 256), (32, 32)), [[-0.5, 31.5]])
    pts = np.array([[10.25, 200.75], [0.0, 0.0]])
    back = input_coords_from_map(map_coords_from_input(pts, (256, 192), (32, 24)), (256, 192), (32, 24))
    assert np.allclose(back, pts)


def test_gaussian_heatmaps_match_a_pixel_loop() -> None:
    centers = np.array([[3.3, 4.7], [0.0, 9.0], [np.nan, 1.0]])
    maps = render_gaussian_heatmaps(centers, (10, 8), sigma=1.7, valid=np.array([True, False, True]))
    expected = np.zeros((3, 10, 8))
    for y in range(10):
        for x in range(8):
            expected[0, y, x] = math.exp(-((x - 3.3) ** 2 + (y - 4.7) ** 2) / (2 * 1.7**2))
    assert np.allclose(maps, expected, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-0.5, 63.5),
    st.floats(-0.5, 63.5),
    st.sampled_from([(64, 64, 8, 8, 1.0), (64, 64, 16, 16, 1.5), (64, 64, 64, 64, 2.0), (64, 64, 32, 16, 1.2)]),
)
def test_heatmap_round_trip_is_sub_pixel(x: float, y: float, sizes: tuple) -> None:
    in_h, in_w, h, w, sigma = sizes
    x = min(x, in_w - 0.5)
    codec = HeatmapCodec((in_h, in_w), (h, w), sigma, num_joints=1)
    target = codec.encode(np.array([[x, y]]))
    decoded = codec.decode({"heatmaps": target["heatmaps"][None]})["joints"][0, 0]
    err_map = np.abs(
        map_coords_from_input(decoded, (in_h, in_w), (h, w)) - map_coords_from_input([x, y], (in_h, in_w), (h, w))
    )
    assert err_map.max() < 0.25  # the acceptance bound, in heatmap pixels
    assert err_map.max() < 1e-3  # in fact exact: a Gaussian is a parabola in log space


def test_heatmap_round_trip_at_edges_corners_and_in_log_domain() -> None:
    codec = HeatmapCodec((128, 128), (32, 32), 1.5, num_joints=6)
    joints = np.array([[-0.5, -0.5], [127.5, 127.5], [0.0, 64.2], [127.0, 3.9], [61.3, -0.2], [64.0, 127.4]])
    t = codec.encode(joints)
    dec = codec.decode({"heatmaps": torch.from_numpy(t["heatmaps"][None])})
    assert np.abs(dec["joints"][0] - joints).max() < 0.25 * 4  # 0.25 heatmap px = 1 input px at stride 4
    assert np.abs(dec["joints"][0] - joints).max() < 0.01
    logc = HeatmapCodec((128, 128), (32, 32), 1.5, num_joints=6, log_domain=True)
    logits = np.log(np.maximum(t["heatmaps"], 1e-30))[None] + 3.0  # log-probabilities up to a constant
    dec_log = logc.decode({"heatmaps": logits})
    assert np.abs(dec_log["joints"][0] - joints).max() < 0.01
    assert np.all(dec_log["confidence"] > 0.5) and np.all(dec_log["confidence"] <= 1.0)


def test_heatmap_invisible_missing_and_outside_joints_get_zero_maps() -> None:
    codec = HeatmapCodec((64, 64), (16, 16), 1.0, num_joints=4)
    joints = np.array([[10.0, 10.0], [20.0, 30.0], [np.nan, 5.0], [70.0, 10.0]])
    t = codec.encode(joints, visibility=np.array([True, False, True, True]))
    assert t["weights"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert t["heatmaps"][0].max() > 0.5
    assert np.all(t["heatmaps"][1:] == 0)


def test_decode_heatmaps_confidence_and_flat_maps() -> None:
    maps = np.zeros((1, 2, 5, 5))
    maps[0, 0, 2, 3] = 0.8
    coords, peak = decode_heatmaps(maps)
    assert np.allclose(coords[0, 0], [3.0, 2.0]) and peak[0, 0] == pytest.approx(0.8)
    assert np.all(np.isfinite(coords[0, 1]))  # a flat map decodes somewhere finite, with peak 0
    assert peak[0, 1] == 0


def _parabola_vertex_loop(logmap: np.ndarray) -> tuple[float, float]:
    """The documented sub-pixel fit, written out for one (h, w) log map, one axis at a time: the arg-max cell, plus
    the vertex of the parabola through the cell and its neighbours (centred inside, one-sided at a border, none on
    an axis shorter than 3), kept only where the parabola opens downwards, clipped to half a cell."""
    h, w = logmap.shape
    y, x = divmod(int(np.argmax(logmap)), w)
    out = []
    for line, pos in ((logmap[y, :], x), (logmap[:, x], y)):
        n, off = len(line), 0.0
        if n >= 3:
            if 0 < pos < n - 1:
                fm, f0, fp = line[pos - 1], line[pos], line[pos + 1]
                curv = fm - 2 * f0 + fp
                off = 0.5 * (fm - fp) / curv if curv < -1e-12 else 0.0
            else:
                step = 1 if pos == 0 else -1
                f0, f1, f2 = line[pos], line[pos + step], line[pos + 2 * step]
                a, b = 0.5 * (f0 - 2 * f1 + f2), 0.5 * (-3 * f0 + 4 * f1 - f2)
                off = step * (-b / (2 * a)) if a < -1e-12 else 0.0
            off = 0.0 if math.isnan(off) else min(max(off, -0.5), 0.5)
        out.append(pos + off)
    return out[0], out[1]


@pytest.mark.parametrize("size", [(13, 13), (1, 5), (2, 7), (3, 3), (16, 9)])
def test_heatmap_decoding_equals_the_fit_written_out_per_joint(size: tuple[int, int], rng) -> None:
    """The decoder's table-driven fit (one gather, one product for all joints) against a per-joint loop of the
    parabola fits, on noisy maps (peaks anywhere, borders included) and on Gaussians near the edges, both domains."""
    h, w = size
    noisy = rng.normal(size=(3, 8, h, w)) * 2.0
    centres = rng.uniform(-0.8, [w - 0.2, h - 0.2], size=(8, 2))
    gauss = render_gaussian_heatmaps(centres, (h, w), 1.2)[None].astype(np.float64) + 1e-6
    for maps, log_domain in ((noisy, True), (np.exp(noisy), False), (np.log(gauss), True), (gauss, False)):
        coords, peak = decode_heatmaps(maps.astype(np.float32), log_domain=log_domain)
        for b, j in np.ndindex(maps.shape[:2]):
            m = maps[b, j].astype(np.float32).astype(np.float64)
            logmap = m if log_domain else np.log(np.maximum(m, 1e-10))
            np.testing.assert_allclose(coords[b, j], _parabola_vertex_loop(logmap), atol=1e-9)
            assert peak[b, j] == m.max()


def test_log_domain_confidence_is_the_softmax_peak_times_the_gaussian_volume(rng) -> None:
    codec = HeatmapCodec((104, 104), (13, 13), 1.0, num_joints=4, log_domain=True)
    logits = rng.normal(size=(2, 4, 13, 13)).astype(np.float32) * 3.0
    conf = codec.decode({"heatmaps": logits})["confidence"]
    flat = logits.reshape(2, 4, -1).astype(np.float64)
    softmax_peak = np.exp(flat.max(-1)) / np.exp(flat).sum(-1)
    np.testing.assert_allclose(conf, np.clip(softmax_peak * 2 * np.pi, 0.0, 1.0), rtol=1e-12)


def test_heatmap_codec_state_round_trip() -> None:
    codec = HeatmapCodec((96, 128), (24, 32), 1.25, 21, log_domain=True)
    again = HeatmapCodec.from_state(codec.state())
    assert again.state() == codec.state()


# ---------------------------------------------------------------------------------------------------------------
# multi-scale heatmaps
# ---------------------------------------------------------------------------------------------------------------


def test_bilinear_resize_matches_torch() -> None:
    maps = np.random.default_rng(0).random((2, 3, 8, 6))
    ours = resize_maps_bilinear(maps, (32, 24))
    ref = F.interpolate(torch.from_numpy(maps), size=(32, 24), mode="bilinear", align_corners=False).numpy()
    assert np.allclose(ours, ref)


def test_multiscale_targets_sizes_and_per_scale_consistency() -> None:
    codec = MultiScaleHeatmapCodec((128, 128), sigma=2.0)
    joints = random_joints(np.random.default_rng(1), (128, 128))
    t = codec.encode(joints)
    assert sorted(k for k in t if k != "weights") == sorted(target_key(s) for s in (1, 2, 4, 8))
    for stride in (1, 2, 4, 8):
        maps = t[target_key(stride)]
        assert maps.shape == (J, 128 // stride, 128 // stride)
        single = HeatmapCodec((128, 128), (128 // stride,) * 2, 2.0).encode(joints)["heatmaps"]
        assert np.allclose(maps, single)  # each scale is the single-scale target at that resolution


def test_multiscale_round_trip_within_a_quarter_pixel() -> None:
    rng = np.random.default_rng(2)
    codec = MultiScaleHeatmapCodec((128, 128), sigma=2.0)
    for _ in range(5):
        joints = random_joints(rng, (128, 128))
        joints[:4] = [[-0.5, -0.5], [127.5, 127.5], [0.2, 64.3], [126.9, 1.1]]
        t = codec.encode(joints)
        outputs = {name: t[target_key(stride)][None] for name, stride, _ in codec.heads}
        dec = codec.decode(outputs)
        assert np.abs(dec["joints"][0] - joints).max() < 0.25


def test_multiscale_fusion_is_the_weighted_average() -> None:
    codec = MultiScaleHeatmapCodec((32, 32), sigma=1.0)
    rng = np.random.default_rng(3)
    outputs = {name: rng.random((1, J, 32 // s, 32 // s)) for name, s, _ in codec.heads}
    fused = codec.fuse(outputs)
    manual = np.zeros((1, J, 32, 32))
    for name, _, delta in codec.heads:
        up = F.interpolate(torch.from_numpy(outputs[name]), size=(32, 32), mode="bilinear", align_corners=False)
        manual += delta * up.numpy()
    manual /= sum(d for _, _, d in codec.heads)
    assert np.allclose(fused, manual)
    assert [d for _, _, d in codec.heads] == [0.25, 0.125, 0.25, 0.5, 1.0]


# ---------------------------------------------------------------------------------------------------------------
# skeleton
# ---------------------------------------------------------------------------------------------------------------


def hand_in_frame(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A spread hand (21 joints, canonical order) somewhere in the frame."""
    h, w = size
    centre = np.array([rng.uniform(0.3 * w, 0.7 * w), rng.uniform(0.35 * h, 0.65 * h)])
    pts = [centre + [0, 20]]
    for angle in (-60, -20, 0, 20, 40):
        a = math.radians(angle)
        for k in range(4):
            pts.append(centre + [0, 20] + (8 + 7 * k) * np.array([math.sin(a), -math.cos(a)]))
    return np.array(pts)


def test_skeleton_encode_is_the_skeleton_image() -> None:
    codec = SkeletonCodec((120, 160), line_width=3.0, blob_sigma=2.0)
    joints = hand_in_frame(np.random.default_rng(0), (120, 160))
    t = codec.encode(joints)
    assert t["skeleton"].shape == (1, 120, 160)
    assert np.array_equal(t["skeleton"][0], render_skeleton_image(joints, 120, 160, line_width=3.0, blob_sigma=2.0))


def test_skeleton_decode_finds_the_hand_box() -> None:
    rng = np.random.default_rng(1)
    codec = SkeletonCodec((120, 160), line_width=3.0, blob_sigma=2.0)
    for _ in range(5):
        joints = hand_in_frame(rng, (120, 160))
        dec = codec.decode({"skeleton": codec.encode(joints)["skeleton"][None]})
        box = dec["boxes"][0]
        ref = bbox_from_joints(joints)
        # the skeleton is drawn around the joints: the box contains the joints' box and exceeds it by a few px
        assert np.all(box[:2] <= ref[:2] + 0.5) and np.all(box[2:] >= ref[2:] - 0.5)
        assert np.all(box[:2] >= ref[:2] - 4) and np.all(box[2:] <= ref[2:] + 4)
        assert dec["has_hand"][0] and dec["score"][0] > 0.5
        assert np.allclose(dec["joints"][0], box.reshape(2, 2))


def test_skeleton_no_hand_frame() -> None:
    codec = SkeletonCodec((60, 80))
    t = codec.encode(np.full((J, 2), np.nan))
    assert not t["skeleton"].any()
    dec = codec.decode({"skeleton": t["skeleton"][None]})
    assert not dec["has_hand"][0] and dec["foreground"][0] == 0 and dec["score"][0] == 0
    assert np.all(np.isnan(dec["boxes"][0]))


def test_region_growing_needs_a_seed_and_grows_through_weaker_pixels() -> None:
    prob = np.zeros((20, 30), np.float32)
    prob[5:8, 5:15] = 0.9  # seeds
    prob[8:12, 10:12] = 0.3  # weaker pixels touching the seeds: grown into
    prob[15:18, 20:28] = 0.4  # a weak region without a seed: ignored
    prob[0, 29] = 0.95  # a single strong pixel: below min_region_area, noise
    mask, regions = find_hand_regions(prob, threshold=0.5, grow_threshold=0.25, min_region_area=4)
    assert len(regions) == 1
    box, area = regions[0]
    assert box.tolist() == [5.0, 5.0, 14.0, 11.0]
    assert area == 3 * 10 + 4 * 2 == int(mask.sum())


def test_hand_presence_threshold_is_tunable() -> None:
    prob = np.zeros((1, 1, 40, 40), np.float32)
    prob[0, 0, 10:20, 10:20] = 0.8  # 100 foreground pixels
    assert SkeletonCodec((40, 40), min_foreground=99).decode({"skeleton": prob})["has_hand"][0]
    assert not SkeletonCodec((40, 40), min_foreground=101).decode({"skeleton": prob})["has_hand"][0]
    # the default is 0.1 % of the input area, the paper's 200-400 px of a 640x480 frame
    assert SkeletonCodec((480, 640)).min_foreground == pytest.approx(307.2)
    scores = [SkeletonCodec((40, 40), min_foreground=m).decode({"skeleton": prob})["score"][0] for m in (50, 100, 200)]
    assert scores[0] > scores[1] > scores[2] and scores[1] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------------------
# regression and gestures
# ---------------------------------------------------------------------------------------------------------------


def test_regression2d_round_trip_and_edges() -> None:
    codec = Regression2DCodec((128, 96))
    joints = random_joints(np.random.default_rng(4), (128, 96))
    t = codec.encode(joints)
    assert np.all(np.abs(t["coords"]) <= 1.0)
    assert np.allclose(codec.decode({"coords": t["coords"][None]})["joints"][0], joints, atol=1e-4)
    assert np.allclose(codec.normalise(np.array([[-0.5, -0.5], [95.5, 127.5]])), [[-1, -1], [1, 1]])
    joints[3] = np.nan
    t = codec.encode(joints, visibility=np.arange(J) != 5)
    assert t["weights"][3] == 0 and t["weights"][5] == 0 and t["weights"].sum() == J - 2
    assert np.all(np.isfinite(t["coords"]))


def test_normalize_keypoints_by_hand() -> None:
    joints = np.zeros((J, 2))
    joints[:] = [100.0, 200.0]
    joints[5] = [110.0, 180.0]  # index MCP
    joints[6] = [110.0, 176.0]  # index PIP: bone length 4
    joints[8] = [118.0, 170.0]
    out = normalize_keypoints(joints)
    assert out.shape == (2, J)
    assert np.allclose(out[:, 0], [0, 0])
    assert np.allclose(out[:, 8], [(118 - 100) / 4, (170 - 200) / 4])
    joints[6] = joints[5]  # degenerate index bone: falls back to wrist -> middle MCP
    joints[9] = [100.0, 190.0]
    assert np.allclose(normalize_keypoints(joints)[:, 9], [0, -1])


def test_normalize_keypoints_equals_normalize_scale_number_for_number() -> None:
    # the one-hand arithmetic against geometry.normalize_scale (Eq. 1) on random hands, with missing joints and
    # with a degenerate index bone (the palm fallback, written out with numpy here)
    from handpose.geometry import normalize_scale

    rng = np.random.default_rng(11)
    for trial in range(200):
        pts = rng.uniform(-50, 650, size=(J, 2)) * rng.uniform(0.01, 3)
        if trial % 4 == 1:
            pts[rng.integers(1, J, 3)] = np.nan  # missing joints (never the wrist or the bone here)
            pts[[5, 6]] = rng.uniform(0, 600, size=(2, 2))
        want = np.nan_to_num(normalize_scale(pts)[0]).T.astype(np.float32)
        if trial % 4 == 2:
            pts[6] = pts[5]
            want = np.nan_to_num((pts - pts[0]) / np.sqrt(np.sum((pts[9] - pts[0]) ** 2))).T.astype(np.float32)
        got = normalize_keypoints(pts)
        assert got.dtype == np.float32 and got.shape == (2, J)
        assert np.array_equal(got, want), trial
    pts[0] = np.nan
    with pytest.raises(ValueError, match="wrist"):
        normalize_keypoints(pts)
    pts = np.zeros((J, 2))
    with pytest.raises(ValueError, match="no usable scale"):
        normalize_keypoints(pts)


def test_gesture_codec() -> None:
    codec = GestureCodec(4, ["a", "b", "c", "d"])
    assert int(codec.encode(2)["label"]) == 2
    with pytest.raises(ValueError):
        codec.encode(4)
    logits = np.array([[0.0, 3.0, 1.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    dec = codec.decode({"logits": torch.from_numpy(logits)})
    assert dec["label"].tolist() == [1, 0]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(dec["confidence"], [p[0, 1], p[1, 0]]) and np.allclose(dec["probabilities"], p)
    with pytest.raises(ValueError):
        GestureCodec(3, ["a", "b"])


def test_normalize_keypoints_is_what_the_gesture_dataset_trains_on() -> None:
    from handpose.data.dataset import KeypointGestureDataset

    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 200, size=(3, J, 2))
    ds = KeypointGestureDataset(pts, np.array([0, 1, 2]))
    for i in range(3):
        assert np.allclose(ds[i]["input"].numpy(), normalize_keypoints(pts[i]), atol=1e-6)
