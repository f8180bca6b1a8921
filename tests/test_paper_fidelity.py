"""The papers' protocols where the code used to depart from them (issue 14): each test states the paper's words and
checks the behaviour against values written out here, independently of the code under test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.codecs.multiscale import target_key
from handpose.registry import create_model

from .dataset_layouts import freihand_root, icvl_root, icvl_rows, lsmv_root, nyu_root, stb_root

# ------------------------------------------------------------------------------------------------------------------
# 002: "δ_i is set be 1, 1/2 and 1/4 for scales 128, 64 and 32" (Eq. 4: L = Σ δ_i ‖x_i − x̂_i‖²)
# ------------------------------------------------------------------------------------------------------------------


def test_multiscale_loss_weights_each_scale_by_the_papers_delta():
    model = create_model("multiscale_heatmap", input_size=128, width=4, use_skeleton=False)
    rng = np.random.default_rng(0)
    joints = rng.uniform(20, 108, size=(21, 2))
    targets = {k: torch.from_numpy(v)[None] for k, v in model.codec.encode(joints).items()}  # B = 1
    base = {name: targets[target_key(stride)].clone() for name, stride, _ in model.heads}
    loss0, _ = model.loss(base, targets)
    assert float(loss0) == 0.0
    # one pixel of one map of one head off by 1: ‖x_i − x̂_i‖² = 1 for that map, whatever the map's size; the loss
    # is the mean over the B·J = 21 maps of each head, times δ_i
    delta = {128: 1.0, 64: 0.5, 32: 0.25, 16: 0.125}  # the paper's δ by map side (16²: the halving continued)
    for name, stride, _ in model.heads:
        outputs = {k: v.clone() for k, v in base.items()}
        outputs[name][0, 3, 2, 5] += 1.0
        loss, _ = model.loss(outputs, targets)
        side = 128 // stride
        assert float(loss) == pytest.approx(delta[side] / 21, rel=1e-5), (name, side)


# ------------------------------------------------------------------------------------------------------------------
# Helpers: a recipe with its data root moved to a test folder
# ------------------------------------------------------------------------------------------------------------------


def recipe(name: str, *overrides: str):
    from handpose.config import load_config

    return load_config(REPO / "configs" / f"{name}.yaml", list(overrides))


REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------------------------
# 000: "an evaluation set of 1500 images and a training set with 16500 images" (STB, §4)
# ------------------------------------------------------------------------------------------------------------------


def test_stb_recipes_split_16500_1500_and_the_common_split_stays_an_option(tmp_path):
    from handpose.data.readers import open_dataset
    from handpose.engine.data import open_split

    root = stb_root(tmp_path, frames=1500, images=False)  # 12 sequences x 1,500 frames, as the dataset
    for name in ("msahp_stb", "cpm_stb"):
        cfg = recipe(name, f"data.root={root}")
        train, test = open_split(cfg.data, cfg.data.train_split), open_split(cfg.data, cfg.data.test_split)
        assert (len(train), len(test)) == (16_500, 1_500)
        assert not set(train.sequences) & set(test.sequences)  # no sequence on both sides
    common = [open_dataset(root, "stb", split=s, protocol="zimmermann") for s in ("train", "test")]
    assert [len(r) for r in common] == [15_000, 3_000] and set(common[1].sequences) == {"B1Counting", "B1Random"}


# ------------------------------------------------------------------------------------------------------------------
# 001 / 003 on ICVL: "we only use the original 22k samples"; the dataset's own 16 (ICVL) / 14 (NYU) joints
# ------------------------------------------------------------------------------------------------------------------


def test_icvl_training_keeps_only_the_original_frames(tmp_path):
    from handpose.data.readers import open_dataset
    from handpose.data.readers.icvl import is_rotated_copy

    root = icvl_root(tmp_path, originals=6, rotated=3, test=2)  # labels.txt: 6 recorded frames, 3 rotated copies
    train = open_dataset(root, "icvl", split="train")
    assert len(train) == 6 and train.skipped_rotated == 3
    assert all("/22.5/" not in train.source_of(i) for i in range(len(train)))
    assert len(open_dataset(root, "icvl", split="train", rotated=True)) == 9
    assert len(open_dataset(root, "icvl", split="test")) == 2
    # the rule of DeepPrior's importer: the first folder of an original is a recording (longer than 6 characters)
    assert is_rotated_copy("-15/201403121135/image_0000.png") and is_rotated_copy("22.5/201406030937/image_0001.png")
    assert not is_rotated_copy("201403121135/image_0000.png")


@pytest.mark.parametrize("name", ["res_attention_icvl", "deepprior_icvl", "res_attention_nyu", "deepprior_nyu"])
def test_depth_recipes_fit_the_pca_on_the_datasets_own_joints(tmp_path, name):
    from handpose.data.crop import CropInfo, joints_to_frame
    from handpose.engine.data import build_dataset, frame_joints

    if name.endswith("icvl"):
        root, joints, fx, fy, cx, cy = icvl_root(tmp_path, originals=6, rotated=2, test=2), 16, 240.99, 240.96, 160, 120
        uvd = icvl_rows(6)  # the training rows, in ICVL's own order (palm centre first)
    else:
        root, joints, fx, fy, cx, cy = (
            nyu_root(tmp_path, {"train": 6, "test": 2}),
            14,
            588.036865,
            -587.075073,
            320,
            240,
        )
        lines = [line for line in FIXTURES_NYU().read_text().splitlines() if line.strip()][:6]
        uvd = np.array([line.split() for line in lines], dtype=np.float64).reshape(6, 14, 3)
    cfg = recipe(name, f"data.root={root}")
    assert cfg.data.joint_set == "native" and cfg.model.kwargs["num_joints"] == joints
    model = create_model(cfg.model.name, **cfg.model.kwargs)
    train = build_dataset(model, cfg, cfg.data.train_split, train=True)
    fitted = frame_joints(train)
    assert fitted.shape == (6, joints, 3) and np.isfinite(fitted).all()  # every joint, the palm centre included
    model.fit_data(fitted)  # the canonical 21 (6 or 10 missing in every frame) left no complete pose to fit
    basis_mean = model.codec.mean.reshape(joints, 3)
    np.testing.assert_allclose(basis_mean, model.codec.base.normalize(fitted).mean(axis=0), atol=1e-9)
    # the ground truth in each item is the dataset's joints in its own order: uvd -> xyz with the dataset's camera
    item = build_dataset(model, cfg, cfg.data.train_split, train=False)[0]
    xyz = np.stack([(uvd[0, :, 0] - cx) * uvd[0, :, 2] / fx, (uvd[0, :, 1] - cy) * uvd[0, :, 2] / fy, uvd[0, :, 2]], 1)
    np.testing.assert_allclose(item["meta"]["joints_3d"], xyz, atol=0.02)
    info = CropInfo.from_meta(item["meta"])
    in_crop = joints_to_frame(info, "crop_uvd", item["meta"]["joints_2d"], xyz)
    np.testing.assert_allclose(model.codec.base.normalize(in_crop), item["targets"]["uvd"].numpy(), atol=1e-4)


def FIXTURES_NYU():  # noqa: N802 - a path, read where the layout helper reads it
    from .conftest import fixture_path

    return fixture_path("depth_eval", "groundtruth", "nyu", "nyu_test_groundtruth_label.txt")


# ------------------------------------------------------------------------------------------------------------------
# 002 on LSMV: "We split the data into 60000, 15000, and 12760 samples"
# ------------------------------------------------------------------------------------------------------------------


def test_lsmv_split_has_the_papers_proportions_and_keeps_each_frames_views_together(tmp_path):
    import hashlib

    from handpose.data.readers import open_dataset
    from handpose.data.readers.lsmv import frame_splits

    frames = [(f"data_{n}", str(k)) for n in range(1, 23) for k in range(998)][:21_940]  # 87,760 / 4 views
    counts = {s: 4 * sum(v == s for v in frame_splits(frames).values()) for s in ("train", "val", "test")}
    assert counts == {"train": 60_000, "val": 15_000, "test": 12_760}
    root = lsmv_root(tmp_path, folders=2, frames=50, cameras=(1, 2), images=False)  # 100 frames, 2 views each
    readers = {s: open_dataset(root, "lsmv", split=s) for s in ("train", "val", "test")}
    assert [len(readers[s]) for s in ("train", "val", "test")] == [2 * 68, 2 * 17, 2 * 15]  # round(100 x 60/87.76)..
    ranked = sorted(
        (f"data_{n}/{k}" for n in (1, 2) for k in range(50)), key=lambda f: hashlib.sha1(f.encode()).hexdigest()
    )
    for split, chosen in (("train", ranked[:68]), ("val", ranked[68:85]), ("test", ranked[85:])):
        seen = [f"{m['folder']}/{m['frame']}" for m in (readers[split]._meta(i) for i in range(len(readers[split])))]
        assert sorted(set(seen)) == sorted(chosen) and len(seen) == 2 * len(chosen)  # both views of each frame
    for name in ("multiscale_heatmap_lsmv", "skeleton_unet_lsmv", "resnet50_reg2d_lsmv", "unet_heatmap_lsmv"):
        cfg = recipe(name)
        assert (cfg.data.train_split, cfg.data.val_split, cfg.data.test_split) == ("train", "val", "test")
        assert "test_folders" not in cfg.data.options


# ------------------------------------------------------------------------------------------------------------------
# 004 on FreiHAND: validation held out of training, the evaluation set for the figures, the final model's recipe
# ------------------------------------------------------------------------------------------------------------------


def test_freihand_recipes_hold_out_validation_and_test_on_the_evaluation_set(tmp_path):
    import cv2

    from handpose.engine.data import build_dataset, open_split

    root = freihand_root(tmp_path, training=20, evaluation=2)
    cfg = recipe("resnet101_reg3d_freihand", f"data.root={root}")
    fit, held, test = (open_split(cfg.data, s) for s in (cfg.data.train_split, cfg.data.val_split, cfg.data.test_split))
    assert (len(fit), len(held), len(test)) == (18 * 4, 2 * 4, 2)  # the last 10 % of the 20 ids, 4 versions each
    assert sorted({fit._ids(i)[0] for i in range(len(fit))}) == list(range(18))
    assert sorted({held._ids(i)[0] for i in range(len(held))}) == [18, 19]
    assert {held.source_of(i)[-12:] for i in range(len(held))} == {
        f"{i:08d}.jpg" for i in (18, 19, 38, 39, 58, 59, 78, 79)
    }
    assert "evaluation" in test.source_of(0)
    # the final model: ResNet-101, 200 epochs, no clutter (occlusion shapes), no flips
    assert cfg.model.name == "resnet101_reg3d" and cfg.train.epochs == 200
    assert cfg.data.augment["flip"] is False and cfg.data.augment["occlusion"] is False
    # "we downsize our input to images of 128x128 pixels": the whole 224² frame, resized
    model = create_model("resnet18_reg3d", input_size=128, width=8)
    item = build_dataset(model, cfg, cfg.data.test_split, train=False)[0]
    image = cv2.cvtColor(cv2.imread(test.source_of(0)), cv2.COLOR_BGR2RGB)
    want = cv2.resize(image, (128, 128), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    assert np.abs(item["input"].numpy().transpose(1, 2, 0) - want).max() <= 2.5 / 255
    np.testing.assert_allclose(
        item["meta"]["affine"],
        [[128 / 224, 0, 0.5 * 128 / 224 - 0.5], [0, 128 / 224, 0.5 * 128 / 224 - 0.5]],
        atol=1e-9,
    )
    for name in ("resnet34_reg3d_freihand", "resnet50_reg3d_freihand"):
        other = recipe(name)
        assert (other.data.train_split, other.data.val_split, other.data.test_split) == ("fit", "holdout", "evaluation")
        assert other.data.crop["mode"] == "whole"


# ------------------------------------------------------------------------------------------------------------------
# 002: the skeleton channel is "the predicted skeleton" (Fig. 2), never one drawn from the labels of scored frames
# ------------------------------------------------------------------------------------------------------------------


def _rgb_samples(n: int = 3, seed: int = 0):
    from handpose.data.sample import Sample

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        joints = rng.uniform([60, 50], [180, 150], size=(21, 2))
        image = rng.integers(0, 255, size=(180, 240, 3), dtype=np.uint8)
        out.append(Sample(image=image, joints_2d=joints, visibility=np.ones(21, bool), source=f"frame{i}"))
    return out


def test_a_skeleton_channel_without_a_detector_is_refused(tmp_path):
    from handpose.engine.data import build_dataset
    from handpose.errors import ConfigError

    for name in ("multiscale_heatmap_synthetic", "multiscale_heatmap_lsmv"):
        assert recipe(name).data.skeleton_detector  # both recipes name the detector whose maps they read
        cfg = recipe(name, "data.skeleton_detector=null")
        model = create_model("multiscale_heatmap", input_size=64, width=4)
        for train in (True, False):
            with pytest.raises(ConfigError, match="data.skeleton_detector"):
                build_dataset(model, cfg, "test", train=train, reader=_rgb_samples())


def test_the_skeleton_channel_is_the_detectors_map_in_the_crop(tmp_path):
    from handpose.data.crop import CropInfo
    from handpose.data.skeleton_image import render_skeleton_image
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.engine.data import build_dataset
    from handpose.inference.backends import TorchModel
    from handpose.inference.stages import DetectorStage, skeleton_from_map

    torch.manual_seed(0)
    detector = create_model("skeleton_unet_t")
    save_checkpoint(tmp_path / "det", detector)
    cfg = recipe("multiscale_heatmap_synthetic", f"data.skeleton_detector={tmp_path / 'det'}")
    model = create_model("multiscale_heatmap", input_size=64, width=4)
    samples = _rgb_samples()
    ds = build_dataset(model, cfg, "test", train=False, reader=samples)
    stage = DetectorStage(TorchModel(tmp_path / "det", threads=None))  # the inference pipeline's own path
    for i in range(len(samples)):
        item = ds[i]
        info = CropInfo.from_meta(item["meta"])
        x, det_info = stage.preprocess(samples[i].image)
        want = skeleton_from_map(stage.infer(x)["skeleton"][0, 0], det_info, info)
        np.testing.assert_allclose(item["input"][3].numpy(), want, atol=1.5 / 255)  # maps are kept as uint8
        crop_px = item["meta"]["joints_2d"] * info.affine[0, 0] + info.affine[:, 2]
        drawn = render_skeleton_image(crop_px, 64, 64)
        assert np.abs(item["input"][3].numpy() - drawn).max() > 0.5  # not the labels' skeleton


def test_the_data_layer_imports_nothing_above_it():
    import ast

    offenders = []
    for path in sorted((REPO / "src" / "handpose" / "data").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = node.module if node.level == 0 else "." * node.level + node.module
                if any(part in ("inference", "engine", "commands", "benchmark", "serve") for part in name.split(".")):
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


# ------------------------------------------------------------------------------------------------------------------
# 002, Table I: the skeleton detector's box spans the joints, the dataset's box the silhouette: score both ways
# ------------------------------------------------------------------------------------------------------------------


def test_detection_iou_is_reported_against_both_box_conventions():
    from handpose.engine.data import build_dataset
    from handpose.engine.evaluate import Predictions, predict, score

    # two frames with a hand: joints spanning [10, 10]-[30, 30]; the silhouette box is [5, 5]-[35, 35]
    joint_box = np.array([[10.0, 10, 30, 30], [10, 10, 30, 30]])
    silhouette = np.array([[5.0, 5, 35, 35], [5, 5, 35, 35]])
    preds = Predictions(
        task="skeleton",
        index=np.arange(2),
        boxes=joint_box.copy(),
        scores=np.ones(2),
        has_hand=np.ones(2, bool),
        gt_has_hand=np.ones(2, bool),
        gt_bbox=silhouette,
        gt_joint_box=joint_box,
    )
    metrics = score(preds)
    assert metrics["iou_joints"] == pytest.approx(1.0)
    assert metrics["iou"] == pytest.approx(400.0 / 900.0)  # 20² inside 30², by hand
    # predict() reads the joints' box from each item's labels
    samples = _rgb_samples()
    for s in samples:
        s.bbox = np.concatenate([s.joints_2d.min(0) - 6, s.joints_2d.max(0) + 6])
    model = create_model("skeleton_unet_t")
    cfg = recipe("skeleton_unet_synthetic")
    got = predict(model, build_dataset(model, cfg, "test", train=False, reader=samples))
    want = np.stack([np.concatenate([s.joints_2d.min(0), s.joints_2d.max(0)]) for s in samples])
    np.testing.assert_allclose(got.gt_joint_box, want, atol=1e-9)
    np.testing.assert_allclose(got.gt_bbox, want + [-6, -6, 6, 6], atol=1e-9)


# ------------------------------------------------------------------------------------------------------------------
# Verdicts that are earned: holds / does not hold only when every compared model passed its convergence check
# ------------------------------------------------------------------------------------------------------------------


def test_a_claim_is_decided_only_when_its_models_converged():
    from handpose.benchmark.plan import Experiment, Plan
    from handpose.report.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_TESTED, convergence_checks, verdict

    plan = Plan("quick", None, (
        Experiment("floor", "001", "mean pose", "r"),
        Experiment("good", "001", "a", "r", floor="floor"),
        Experiment("other", "001", "b", "r", floor="floor"),
        Experiment("short", "001", "c", "r", floor="floor"),
        Experiment("gesturenet", "000", "g", "r"),
        Experiment("broken", "001", "d", "r", floor="floor"),
    ))  # fmt: skip

    def res(mpjpe, steps=500):
        return {"task": "pose3d", "main_metric": "mpjpe", "metrics": {"mpjpe": mpjpe}, "steps": steps}

    results = {
        "floor": res(60.0, 1),
        "good": res(20.0),  # 3x its floor
        "other": res(30.0),  # exactly 2x: passes
        "short": res(40.0, 800),  # 1.5x: has not converged
        "gesturenet": {
            "task": "gesture",
            "main_metric": "accuracy",
            "metrics": {"error_rate": 0.3},
            "steps": 900,
            "extra": {"majority_error_rate": 0.8},
        },  # fmt: skip
        "broken": {"error": "Traceback ..."},
    }
    checks = convergence_checks(results, plan)
    assert {k: c.passed for k, c in checks.items()} == {
        "good": True, "other": True, "short": False, "gesturenet": True, "broken": False,
    }  # fmt: skip
    assert checks["short"].ratio == pytest.approx(1.5) and checks["gesturenet"].ratio == pytest.approx(0.8 / 0.3)
    assert verdict(True, ("good", "other"), checks, results) == (HOLDS, "")
    assert verdict(False, ("good", "other"), checks, results) == (DOES_NOT_HOLD, "")
    label, reason = verdict(True, ("good", "short"), checks, results)  # a holding comparison with an unconverged model
    assert label == INCONCLUSIVE and "short at 1.50× its floor after 800 steps" in reason and "more than 800" in reason
    assert verdict(False, ("short", "other"), checks, results)[0] == INCONCLUSIVE
    assert verdict(True, ("good", "broken"), checks, results)[0] == NOT_TESTED
    assert verdict(True, ("good", "absent"), checks, results)[0] == NOT_TESTED


# ------------------------------------------------------------------------------------------------------------------
# 000: GestureNet on the fixed pose network's keypoints ("the pose estimation part is kept fixed")
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from handpose.data.synthetic import generate

    root = tmp_path_factory.mktemp("world")
    for split, count in (("train", 12), ("test", 6)):
        generate(root, count, seed=1, preset="easy", split=split, workers=1, no_hand_rate=0.0, progress=False)
    return root


def test_gesturenet_recipes_train_on_the_pose_pipelines_keypoints(tiny_world, tmp_path):
    from handpose.codecs.gesture import normalize_keypoints
    from handpose.data.synthetic import SyntheticDataset
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.engine.data import build_dataset
    from handpose.errors import ConfigError
    from handpose.inference.keypoints import keypoint_source

    assert recipe("gesturenet_synthetic").data.keypoints_from == ["runs/msahp_synthetic/best"]
    rwth = recipe("gesturenet_rwth")
    assert len(rwth.data.keypoints_from) == 2 and (rwth.data.train_split, rwth.data.val_split) == ("train", "val")
    # a fixed "pose network" that always answers the mean pose: every photo's keypoints are that pose in its box,
    # the same hand after GestureNet's normalisation (Eq. 1) whatever the labelled joints were
    labels = SyntheticDataset(tiny_world, "train", ("rgb",), skeleton=False).labels()
    pose = create_model("mean_pose_2d", input_size=64)
    pose.fit_data(np.random.default_rng(0).uniform(8, 56, size=(20, 21, 2)))
    save_checkpoint(tmp_path / "pose", pose)
    cfg = recipe("gesturenet_synthetic", f"data.root={tiny_world}", f"data.keypoints_from=[{tmp_path / 'pose'}]")
    model = create_model("gesturenet")
    with pytest.raises(ConfigError, match="data.keypoints_from"):
        build_dataset(model, cfg, "train", train=True)  # the engine does not run the pipeline itself
    ds = build_dataset(model, cfg, "train", train=True, keypoints=keypoint_source(cfg.data, backend="torch"))
    with_gesture = labels["gesture"] >= 0
    assert len(ds) == int(with_gesture.sum()) and ds.labels.tolist() == labels["gesture"][with_gesture].tolist()
    norm = np.stack([normalize_keypoints(p) for p in ds.joints_2d])
    np.testing.assert_allclose(norm, np.broadcast_to(norm[:1], norm.shape), atol=1e-4)
    truth = np.stack([normalize_keypoints(p) for p in labels["joints_2d"][with_gesture]])
    assert np.abs(truth - truth[:1]).max() > 0.5  # the labels' hands differ: GestureNet no longer sees them


# ------------------------------------------------------------------------------------------------------------------
# 003: the efficiency claim against A2J ("6.21" GFLOPs in Tables 1-2), and Table 3's ablations
# ------------------------------------------------------------------------------------------------------------------


class _Fixed(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value


def test_a2j_joints_are_response_weighted_anchors_plus_offsets():
    model = create_model("a2j", input_size=32, depth=18, width=8, branch_width=8, num_joints=2).eval()
    # anchors every 4 px at the centres of the 4-px sub-cells of each 16-px cell: 1.5, 5.5, ..., 29.5
    from handpose.models.a2j import anchor_points

    pts = anchor_points(32)
    assert pts.shape == (64, 2) and sorted(set(pts[:, 0])) == [1.5 + 4 * k for k in range(8)]
    # responses peaked on one anchor per joint: joint 0 at cell (row 1, col 0), sub-cell (row 2, col 3); joint 1 at
    # cell (0, 1), sub-cell (0, 0); offsets of +2 px in u (normalised: 2 * 2 / 32) everywhere, depths 0.25
    responses = torch.zeros(1, 16 * 2, 2, 2)
    responses[0, (2 * 4 + 3) * 2 + 0, 1, 0] = 50.0
    responses[0, (0 * 4 + 0) * 2 + 1, 0, 1] = 50.0
    offsets = torch.zeros(1, 16 * 2 * 2, 2, 2)
    offsets.view(1, 16, 2, 2, 2, 2)[:, :, :, 0] = 4.0 / 32
    model.proposal, model.offsets = _Fixed(responses), _Fixed(offsets)
    model.depths = _Fixed(torch.full((1, 16 * 2, 2, 2), 0.25))
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 32, 32))
    joints = model.codec.decode(out)["joints"][0]  # (u px, v px, d)
    np.testing.assert_allclose(joints[0], [0 * 16 + 3 * 4 + 1.5 + 2, 1 * 16 + 2 * 4 + 1.5, 0.25], atol=1e-3)
    np.testing.assert_allclose(joints[1], [1 * 16 + 0 * 4 + 1.5 + 2, 0 * 16 + 0 * 4 + 1.5, 0.25], atol=1e-3)


def test_the_efficiency_claim_is_tested_against_a2j_and_table_3_is_switches():
    from handpose.cost import count_flops, count_parameters
    from handpose.layers.ghost import GhostModule
    from handpose.layers.linear_attention import SeparableAttentionBlock

    def macs(name):
        model = create_model(name).eval()
        return count_flops(model, torch.full(model.spec.input_shape(1), 0.5))["macs"], model

    light, light_model = macs("light_depth")
    a2j, a2j_model = macs("a2j")
    assert a2j_model.spec.input_size == (176, 176) and a2j_model.config["depth"] == 50  # A2J: ResNet-50, 176²
    assert a2j == pytest.approx(6.21e9, rel=0.05)  # the figure 003 quotes for A2J (its "FLOPs" are MACs)
    assert light / a2j < 0.05  # "about 2 % of the state-of-the-art method"
    assert count_parameters(light_model) == 173_993  # the ablation switches left the network itself as it was
    plain, _ = macs("light_depth_noghost")
    branches, _ = macs("light_depth_nocompressed")
    no_att, no_att_model = macs("light_depth_noattention")
    assert not any(isinstance(m, GhostModule) for m in create_model("light_depth_noghost").modules())
    assert plain > 5 * light and light < branches < 3 * light  # Table 3: 11.1 and 0.40 G against 0.27 G
    assert not any(isinstance(m, SeparableAttentionBlock) for m in no_att_model.modules()) and no_att <= light


def test_plans_train_the_comparators_and_depths_the_claims_need():
    from handpose.benchmark.plan import FULL, QUICK, scaled

    quick = {e.key: e for e in QUICK.experiments}
    assert "a2j" not in quick  # the 15-minute demo keeps its budget
    assert quick["gesturenet"].after == ("msahp",) and quick["gesturenet"].quick["data.keypoints_from"] == ["@msahp"]
    longer = {e.key: e for e in scaled(QUICK, steps_fraction=8).experiments}
    assert longer["a2j"].quick["train.steps"] == longer["light_depth"].quick["train.steps"] == 8 * 500
    full = {e.key for e in FULL.experiments}
    assert {"a2j", "light_depth_noghost", "light_depth_nocompressed", "light_depth_noattention"} <= full
    assert {"resnet34_reg3d", "resnet101_reg3d", "resnet50_reg3d"} <= full  # 004 compares 34 with 101


def test_a_model_of_a_datasets_own_joints_runs_in_the_pipeline(tmp_path):
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.inference import HandPoseEstimator
    from handpose.report.draw import draw_hand

    save_checkpoint(tmp_path / "icvl16", create_model("light_depth_s", num_joints=16))
    depth = np.zeros((240, 320), np.float32)
    depth[100:150, 140:190] = 400.0
    hands = HandPoseEstimator(depth=tmp_path / "icvl16", backend="torch")(depth)
    assert len(hands) == 1 and hands[0].joints_3d.shape == (16, 3)
    assert hands[0].handedness is None  # no wrist to find the palm from: undecided, not a crash
    drawn = draw_hand(depth, hands[0].joints_2d)  # dots without bones
    assert drawn.shape == (240, 320, 3) and (drawn == 255).all(axis=-1).any()
