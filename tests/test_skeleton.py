"""The canonical hand and the joint conventions, checked against the real fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose import skeleton as sk
from handpose.errors import DataError, UnknownNameError
from handpose.geometry import Intrinsics, project, world_to_camera

from .conftest import fixture_path


def test_canonical_order_is_mediapipe():
    assert sk.NUM_JOINTS == 21 and len(sk.JOINT_NAMES) == 21
    assert sk.JOINT_NAMES[:5] == ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip")
    assert sk.JOINT_NAMES[5] == "index_mcp" and sk.JOINT_NAMES[20] == "pinky_tip"
    assert sk.TIPS == (4, 8, 12, 16, 20)
    # every bone links a joint to its parent; the tree reaches every joint from the wrist
    assert len(sk.BONES) == 20
    for parent, child in sk.BONES:
        assert sk.PARENTS[child] == parent and parent < child
    assert len(sk.JOINT_COLORS) == 21 and len(sk.BONE_COLORS) == 20


@pytest.mark.parametrize("name", sorted(sk.CONVENTIONS))
def test_round_trip_through_every_convention(name, rng):
    conv = sk.get_convention(name)
    joints = rng.normal(size=(5, 21, 3))
    there = conv.from_canonical(joints)
    assert there.shape == (5, conv.num_joints, 3)
    back, mask = conv.to_canonical(there)
    np.testing.assert_array_equal(back[:, mask], joints[:, mask])
    assert np.all(np.isnan(back[:, ~mask]))  # never invented
    # dataset joints with no canonical counterpart come back NaN from the canonical side
    extra = np.array(conv.canonical_index) < 0
    assert np.all(np.isnan(there[:, extra]))
    # the other direction: dataset -> canonical -> dataset keeps every mapped joint
    native = rng.normal(size=(conv.num_joints, 2))
    again = conv.from_canonical(conv.to_canonical(native)[0])
    np.testing.assert_array_equal(again[~extra], native[~extra])


def test_joint_counts_and_masks():
    expected = {"rhd": 21, "interhand": 21, "stb": 21, "msra": 21, "icvl": 16, "nyu": 14, "lsmv": 20, "mano": 21}
    for name, count in expected.items():
        assert sk.get_convention(name).num_joints == count
    assert sk.get_convention("icvl").canonical_mask.sum() == 15  # palm centre has no canonical joint
    assert sk.get_convention("nyu").canonical_mask.sum() == 11
    assert not sk.get_convention("lsmv").canonical_mask[sk.WRIST]
    assert not sk.get_convention("stb").canonical_mask[sk.WRIST]


def test_named_orders_match_dataset_documentation():
    rhd = sk.get_convention("rhd")
    assert rhd.joint_names[1] == "thumb_tip" and rhd.joint_names[4] == "thumb_cmc"
    inter = sk.get_convention("interhand")
    assert inter.joint_names[0] == "thumb_tip" and inter.joint_names[20] == "wrist"
    msra = sk.get_convention("msra")
    assert msra.joint_names[1] == "index_mcp" and msra.joint_names[17:] == (
        "thumb_cmc",
        "thumb_mcp",
        "thumb_ip",
        "thumb_tip",
    )
    nyu = sk.get_convention("nyu")
    assert nyu.joint_names[0] == "pinky_tip" and nyu.joint_names[8] == "thumb_tip"
    ids = np.arange(36)[:, None] * np.ones((1, 3))
    assert sk.nyu36_to_nyu14(ids)[:, 0].tolist() == list(sk.NYU_SUBSET_IDS)


def test_unknown_convention_and_bad_shapes():
    with pytest.raises(UnknownNameError, match="unknown joint convention"):
        sk.get_convention("nope")
    with pytest.raises(DataError):
        sk.get_convention("icvl").to_canonical(np.zeros((21, 3)))


def _rhd_annotations():
    data = json.loads(fixture_path("mmpose", "rhd", "test_rhd.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    return [(ann, images[ann["image_id"]]) for ann in data["annotations"]]


def test_rhd_joint_cam_projects_onto_its_2d_labels_after_conversion():
    for ann, image in _rhd_annotations():
        kp = np.asarray(ann["keypoints"], dtype=float)  # (21, 3) RHD order
        cam = np.asarray(ann["joint_cam"], dtype=float)  # (21, 3) mm, RHD order
        uv21, mask = sk.to_canonical(kp[:, :2], "rhd")
        xyz21, _ = sk.to_canonical(cam, "rhd")
        assert mask.all()
        intr = Intrinsics.from_focal_princpt(image["cam_param"]["focal"], image["cam_param"]["princpt"])
        err = np.linalg.norm(project(xyz21, intr) - uv21, axis=1)
        assert err.max() < 0.1, err.max()


def test_rhd_conversion_puts_the_finger_bases_together():
    # In the canonical order the four finger MCPs sit side by side on the palm (about 20 mm apart); in RHD's raw
    # order the same slots hold the fingertips, which spread much further. This proves tip->MCP was reversed.
    for ann, _ in _rhd_annotations():
        xyz21, _ = sk.to_canonical(np.asarray(ann["joint_cam"], dtype=float), "rhd")
        mcps = xyz21[[5, 9, 13, 17]]
        gaps = np.linalg.norm(np.diff(mcps, axis=0), axis=1)
        assert gaps.max() < 35.0, gaps
        # along each finger the proximal phalanx (MCP->PIP) is longer than the distal one (DIP->TIP); reading
        # RHD's tip->MCP order without reversing it would swap the two
        for finger in ("index", "middle", "ring", "pinky"):
            mcp, pip, dip, tip = sk.FINGER_JOINTS[finger]
            assert np.linalg.norm(xyz21[pip] - xyz21[mcp]) > np.linalg.norm(xyz21[tip] - xyz21[dip])


def test_interhand_world_joints_project_inside_their_boxes():
    root = fixture_path("mmpose", "interhand2.6m")
    data = json.loads((root / "test_interhand2.6m_data.json").read_text())
    cams = json.loads((root / "test_interhand2.6m_camera.json").read_text())
    joints = json.loads((root / "test_interhand2.6m_joint_3d.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    checked = 0
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        cap, cam_id = str(im["capture"]), str(im["camera"])
        cam = cams[cap]
        world = np.asarray(joints[cap][str(im["frame_idx"])]["world_coord"], dtype=float)  # (42, 3) mm
        valid = np.asarray(ann["joint_valid"], dtype=float).reshape(42) > 0
        xyz = world_to_camera(world, np.asarray(cam["camrot"][cam_id]), np.asarray(cam["campos"][cam_id]))
        intr = Intrinsics.from_focal_princpt(cam["focal"][cam_id], cam["princpt"][cam_id])
        right, left = sk.split_interhand42(project(xyz, intr))
        valid_r, valid_l = sk.split_interhand42(valid[:, None].astype(float))
        x, y, w, h = ann["bbox"]
        for uv, v in ((right, valid_r[:, 0] > 0), (left, valid_l[:, 0] > 0)):
            pts = uv[v]
            if len(pts) == 0:
                continue
            assert np.all(pts[:, 0] >= x - 1) and np.all(pts[:, 0] <= x + w + 1)
            assert np.all(pts[:, 1] >= y - 1) and np.all(pts[:, 1] <= y + h + 1)
            checked += len(pts)
        # the wrist is the last joint of each hand: after conversion it is canonical joint 0
        np.testing.assert_allclose(right[0], project(xyz[20], intr))
    assert checked > 0
