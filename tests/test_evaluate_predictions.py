"""``handpose evaluate-predictions``: the published ICVL / NYU mean errors, the file formats, and bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from handpose.cli import main
from handpose.commands.reproduce_published import PUBLISHED_MM
from handpose.errors import DataError
from handpose.evaluation import evaluate, evaluate_files, read_poses

from .conftest import FIXTURES, fixture_path

REPO = Path(__file__).resolve().parents[1]
GT_FILES = {
    "icvl": ("depth_eval", "groundtruth", "icvl", "icvl_test_groundtruth_label.txt"),
    "nyu": ("depth_eval", "groundtruth", "nyu", "nyu_test_groundtruth_label.txt"),
}
JOINTS = {"icvl": 16, "nyu": 14}
CAMERA = {"icvl": (240.99, 240.96, 160.0, 120.0), "nyu": (588.03, -587.07, 320.0, 240.0)}


def published_from_readme() -> list[tuple[str, str, float | None]]:
    """(dataset, file stem, published mean error or None) for every file the fixtures README lists."""
    readme = FIXTURES / "README.md"
    if not readme.is_file():
        return []
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("Published mean errors") :]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith(("CVPR", "ECCV", "TMM", "JVCI", "IJCAI", "ICCVW", "CVWW")):
            continue
        for name, value in ((cells[0], cells[1]), (cells[2], cells[3])):
            dataset = "icvl" if "_ICVL_" in name else "nyu"
            rows.append((dataset, name, float(value) if re.fullmatch(r"\d+\.\d+", value) else None))
    return rows


PUBLISHED = published_from_readme()
WITH_VALUES = [(d, n, v) for d, n, v in PUBLISHED if v is not None] or [("icvl", "missing-fixtures", None)]


@pytest.fixture(scope="module")
def ground_truth() -> dict:
    cache: dict = {}

    def get(dataset: str):
        if dataset not in cache:
            cache[dataset] = read_poses(fixture_path(*GT_FILES[dataset]), JOINTS[dataset], role="gt")
        return cache[dataset]

    return get


def naive_mean_error(pred_uvd: np.ndarray, gt_uvd: np.ndarray, camera: tuple[float, ...]) -> float:
    """The README's recipe written out: uvd -> xyz, per-joint error, mean over frames, then over joints."""
    fx, fy, cx, cy = camera

    def xyz(a: np.ndarray) -> np.ndarray:
        return np.stack([(a[..., 0] - cx) * a[..., 2] / fx, (a[..., 1] - cy) * a[..., 2] / fy, a[..., 2]], -1)

    return float(np.sqrt(((xyz(pred_uvd) - xyz(gt_uvd)) ** 2).sum(-1)).mean(0).mean())


def test_readme_lists_twelve_files_and_reproduce_published_agrees() -> None:
    fixture_path("README.md")
    assert len(PUBLISHED) == 12
    for dataset, name, value in PUBLISHED:
        assert PUBLISHED_MM[dataset][name] == value


@pytest.mark.parametrize(("dataset", "name", "published"), WITH_VALUES, ids=[n for _, n, _ in WITH_VALUES])
def test_reproduces_published_mean_error(ground_truth, dataset: str, name: str, published: float) -> None:
    pred_path = fixture_path("depth_eval", "results", dataset, f"{name}.txt")
    gt = ground_truth(dataset)
    report = evaluate(dataset, gt, read_poses(pred_path, JOINTS[dataset]))
    assert report["frames"] == gt.num_frames
    assert abs(report["mean_error_mm"] - published) <= 0.001, (name, report["mean_error_mm"], published)


def test_icvl_prior_needs_an_explicit_frame_count(ground_truth, capsys) -> None:
    pred = fixture_path("depth_eval", "results", "icvl", "CVWW15_ICVL_Prior.txt")
    gt_path = fixture_path(*GT_FILES["icvl"])
    # without --frames: a one-line error naming the prediction file, exit code 2
    assert main(["evaluate-predictions", "--dataset", "icvl", "--gt", str(gt_path), "--pred", str(pred)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(pred) in err and "702 frames" in err and "--frames" in err
    # with --frames 702: the first 702 ground-truth lines
    assert (
        main(
            ["evaluate-predictions", "--dataset", "icvl", "--gt", str(gt_path), "--pred", str(pred)]
            + ["--frames", "702", "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    gt = ground_truth("icvl")
    pred_uvd = read_poses(pred, 16).joints
    assert report["frames"] == 702 and report["frames_in_gt"] == 1596 and report["frames_option"] == 702
    assert report["mean_error_mm"] == pytest.approx(naive_mean_error(pred_uvd, gt.joints[:702], CAMERA["icvl"]))
    # the same numbers against test_seq_1.txt (image path first, CRLF line endings), no --frames needed
    seq1 = fixture_path("depth_eval", "groundtruth", "icvl", "test_seq_1.txt")
    assert b"\r\n" in seq1.read_bytes()[:2000]
    by_sequence = evaluate_files("icvl", seq1, pred)
    assert by_sequence["mean_error_mm"] == pytest.approx(report["mean_error_mm"], abs=1e-12)


def test_cli_json_and_out_folder(tmp_path, capsys) -> None:
    gt = fixture_path(*GT_FILES["icvl"])
    pred = fixture_path("depth_eval", "results", "icvl", "TMM21_ICVL_SRNet.txt")
    out = tmp_path / "report"
    args = ["evaluate-predictions", "--dataset", "ICVL", "--gt", str(gt), "--pred", str(pred), "--out", str(out)]
    assert main(args + ["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)

    def no_nan(token: str) -> None:
        raise AssertionError(f"non-strict JSON constant {token}")

    written = json.loads((out / "report.json").read_text(), parse_constant=no_nan)
    assert written == printed
    assert abs(written["mean_error_mm"] - 6.152) <= 0.001
    assert len(written["per_joint_error_mm"]) == 16 and len(written["success_rate"]["max"]) == 81
    assert written["success_rate"]["max"][-1] <= 1.0 and written["success_rate"]["max"][0] == 0.0
    for name in ("success_rate.png", "per_joint_error.png", "pck.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    assert main(args[:-2]) == 0  # the rich table
    table = capsys.readouterr().out
    assert "6.152 mm" in table and "palm_center" in table
    # an --out folder holding the prediction file under a report's name: refused, the predictions untouched
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    kept = inputs / "report.json"
    kept.write_bytes(pred.read_bytes())
    base = ["evaluate-predictions", "--dataset", "ICVL", "--gt", str(gt)]
    assert main(base + ["--pred", str(kept), "--out", str(inputs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would replace the input" in err[0] and "--out" in err[0], err
    assert kept.read_bytes() == pred.read_bytes() and sorted(p.name for p in inputs.iterdir()) == ["report.json"]
    # the ground truth given as the predictions: refused, not a perfect score
    assert main(base + ["--pred", str(gt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is the ground-truth file itself" in err[0], err


def test_npz_and_text_formats_agree(tmp_path, ground_truth) -> None:
    gt = ground_truth("icvl")
    pred_txt = fixture_path("depth_eval", "results", "icvl", "JVCI18_ICVL_REN_9x6x6.txt")
    reference = evaluate_files("icvl", gt.path, pred_txt, gt=gt)
    pred_uvd = read_poses(pred_txt, 16).joints
    np.savez(tmp_path / "pred_uvd.npz", uvd=pred_uvd)
    assert evaluate_files("icvl", gt.path, tmp_path / "pred_uvd.npz", gt=gt)["mean_error_mm"] == pytest.approx(
        reference["mean_error_mm"], abs=1e-12
    )
    # camera-space xyz on both sides gives the same numbers
    fx, fy, cx, cy = CAMERA["icvl"]
    for name, uvd in (("pred_xyz.npz", pred_uvd), ("gt_xyz.npz", gt.joints)):
        xyz = np.stack([(uvd[..., 0] - cx) * uvd[..., 2] / fx, (uvd[..., 1] - cy) * uvd[..., 2] / fy, uvd[..., 2]], -1)
        np.savez(tmp_path / name, xyz=xyz)
    xyz_report = evaluate_files("icvl", tmp_path / "gt_xyz.npz", tmp_path / "pred_xyz.npz")
    for key in ("mean_error_mm", "pa_mpjpe_mm", "pck3d_auc_20_50mm"):
        assert xyz_report[key] == pytest.approx(reference[key], rel=1e-9)
    # a valid mask: masked joints may be NaN and are left out
    valid = np.ones((1596, 16), dtype=bool)
    valid[:, 3] = False
    masked = pred_uvd.copy()
    masked[:, 3] = np.nan
    np.savez(tmp_path / "gt_masked.npz", uvd=gt.joints, valid=valid)
    with pytest.raises(DataError, match=r"pred_masked\.npz: uvd: NaN or infinite value at frame 0, joint 3"):
        np.savez(tmp_path / "pred_masked.npz", uvd=masked)
        evaluate_files("icvl", tmp_path / "gt_masked.npz", tmp_path / "pred_masked.npz")
    np.savez(tmp_path / "pred_masked.npz", uvd=masked, valid=valid)  # its own mask allows the NaN
    report = evaluate_files("icvl", tmp_path / "gt_masked.npz", tmp_path / "pred_masked.npz")
    keep = [j for j in range(16) if j != 3]
    assert report["per_joint_error_mm"][3] is None
    expected = naive_mean_error(pred_uvd[:, keep], gt.joints[:, keep], CAMERA["icvl"])
    assert report["mean_error_mm"] == pytest.approx(expected)


def test_coco_json_predictions_matched_by_image_id(tmp_path, rng) -> None:
    gt_path = fixture_path("mmpose", "onehand10k", "test_onehand10k.json")
    data = json.loads(gt_path.read_text())
    results = []
    truth = {}
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(21, 3)
        pred = kp[:, :2] + rng.normal(0, 4, size=(21, 2))
        truth[ann["image_id"]] = (kp, pred)
        results.append(
            {"image_id": ann["image_id"], "category_id": 1, "keypoints": np.c_[pred, np.ones(21)].ravel().tolist()}
        )
    results.reverse()  # order differs from the ground truth: matched by image_id
    pred_path = tmp_path / "results.json"
    pred_path.write_text(json.dumps(results))
    report = evaluate_files("onehand10k", gt_path, pred_path)
    errors = []
    for kp, pred in truth.values():
        labelled = kp[:, 2] > 0  # OneHand10K's (0, 0, 0) points are unlabelled
        errors.extend(np.linalg.norm(pred[labelled] - kp[labelled, :2], axis=1))
    assert report["epe_px"] == pytest.approx(np.mean(errors))
    assert report["frames"] == 4 and set(report["pck_bbox"]) == {"0.05", "0.1", "0.2"}
    # every number of the report from its definition, written out here (PCK normalised by max(w, h) of the COCO box)
    size = {image_id: max(a["bbox"][2:]) for image_id, a in ((a["image_id"], a) for a in data["annotations"])}
    errs = {i: (np.linalg.norm(p[kp[:, 2] > 0] - kp[kp[:, 2] > 0, :2], axis=1)) for i, (kp, p) in truth.items()}
    for thr in (0.05, 0.1, 0.2):
        per_joint = []
        for j in range(21):
            hits = [np.linalg.norm(p[j] - kp[j, :2]) / size[i] < thr for i, (kp, p) in truth.items() if kp[j, 2] > 0]
            if hits:
                per_joint.append(np.mean(hits))
        assert report["pck_bbox"][f"{thr:g}"] == pytest.approx(np.mean(per_joint), abs=1e-12)
    assert report["median_error_px"] == pytest.approx(np.median(np.concatenate(list(errs.values()))))
    results.pop()
    pred_path.write_text(json.dumps(results))
    with pytest.raises(DataError, match="no prediction for 1 ground-truth frame"):
        evaluate_files("onehand10k", gt_path, pred_path)


def _coco_hand(image_id: int, bbox: list[float], unlabelled: tuple[int, ...] = ()) -> tuple[dict, dict]:
    """A ground-truth hand (joints on a 7 px grid inside its box) and its prediction: joints 0-10 off by (2.4, 3.2),
    4 px, and joints 11-20 off by (5, 12), 13 px. ``unlabelled`` joints get v = 0 (and (0, 0), as OneHand10K)."""
    x, y = bbox[0] + 2.0, bbox[1] + 2.0
    gt = np.array([[x + 7 * (j % 5), y + 7 * (j // 5), 2.0] for j in range(21)])
    pred = gt[:, :2] + np.where(np.arange(21)[:, None] <= 10, [2.4, 3.2], [5.0, 12.0])
    gt[list(unlabelled)] = 0.0
    ann = {"id": image_id, "image_id": image_id, "category_id": 1, "bbox": bbox, "keypoints": gt.ravel().tolist()}
    res = {"image_id": image_id, "category_id": 1, "score": 0.9, "keypoints": np.c_[pred, np.ones(21)].ravel().tolist()}
    return ann, res


def test_coco_2d_metrics_computed_by_hand(tmp_path, capsys) -> None:
    """Three hands: boxes [x, y, w, h] of max side 100 and 90 px and a zero-size box (left out of PCK, as MMPose
    drops samples whose normaliser is 0); joint 20 of the second hand unlabelled (v = 0)."""
    hands = [_coco_hand(1, [50.0, 60.0, 100.0, 40.0]), _coco_hand(2, [10.0, 20.0, 45.0, 90.0], unlabelled=(20,)),
             _coco_hand(3, [70.0, 70.0, 0.0, 0.0])]  # fmt: skip
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": i, "file_name": f"{i}.jpg"} for i in (1, 2, 3)],
                              "annotations": [a for a, _ in hands]}))  # fmt: skip
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([r for _, r in reversed(hands)]))
    argv = ["evaluate-predictions", "--dataset", "onehand10k", "--gt", str(gt), "--pred", str(pred), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == evaluate_files("onehand10k", gt, pred) | {"gt": str(gt), "pred": str(pred)}
    assert report["frames"] == 3 and report["gt_space"] == "uv"
    # 62 labelled joints: 33 off by 4 px, 29 off by 13 px
    assert report["epe_px"] == pytest.approx((33 * 4 + 29 * 13) / 62, abs=1e-9)
    assert report["median_error_px"] == pytest.approx(4.0) and report["max_error_px"] == pytest.approx(13.0)
    assert report["per_joint_error_px"] == pytest.approx([4.0] * 11 + [13.0] * 10)
    # PCK of the box size (100 px and 90 px; the zero-size box is left out): 4 px passes 0.05 (5 px, 4.5 px);
    # 13 px passes only 0.2 -> 11 of 21 joints, then all 21. (max(x1, y1) of an xyxy box, 150 px for the first
    # hand, would let 13 px pass 0.1 as well.)
    assert report["pck_bbox"] == pytest.approx({"0.05": 11 / 21, "0.1": 11 / 21, "0.2": 1.0}, abs=1e-12)
    # MMPose's AUC over 0-30 px at k * 1.5 px, k = 0..19: 4 px passes 17 thresholds, 13 px 11
    assert report["auc_0_30px"] == pytest.approx((11 * 17 + 10 * 11) / (21 * 20), abs=1e-12)
    # the PCK curve at whole pixels (strictly below): 0 up to 3 px, 11/21 from 5 px to 13 px, 1 from 14 px
    curve = report["pck_px"]["mean"]
    assert curve[3] == 0.0 and curve[5] == pytest.approx(11 / 21) and curve[13] == pytest.approx(11 / 21)
    assert curve[14] == 1.0


def _far_hand(image_id: object) -> dict:
    """A predicted hand far from every ground-truth hand (a detector's box on something else)."""
    kp = np.c_[np.full((21, 2), 900.0), np.ones(21)]
    return {"image_id": image_id, "category_id": 1, "score": 0.5, "keypoints": kp.ravel().tolist()}


def _pipeline_files(tmp_path: Path, first_id: object = "hand_one") -> tuple[Path, Path]:
    """Ground truth: image 1 with hand A (box side 100 px), image 2 with B (90 px) and C (60 px), image 3 with D
    (80 px). Predictions as a pipeline writes them (images named by file stem, hands best first): A; C before B and
    a hand on nothing in image 2; none in image 3; one in an image the ground truth does not have and one in its
    image 4, which has no labelled hand."""
    a, b, c, d = (_coco_hand(1, [50.0, 60.0, 100.0, 40.0]), _coco_hand(2, [10.0, 20.0, 45.0, 90.0]),
                  _coco_hand(2, [200.0, 20.0, 60.0, 60.0]), _coco_hand(3, [70.0, 70.0, 80.0, 80.0]))  # fmt: skip
    gt = tmp_path / "gt.json"
    images = [{"id": 1, "file_name": "photos/hand_one.jpg"}, {"id": 2, "file_name": "two.jpg"},
              {"id": 3, "file_name": "three.png"}, {"id": 4, "file_name": "no_hand.png"}]  # fmt: skip
    gt.write_text(json.dumps({"images": images, "annotations": [h[0] for h in (a, b, c, d)]}))
    preds = [a[1] | {"image_id": first_id}, c[1] | {"image_id": "two"}, _far_hand("two"), b[1] | {"image_id": "two"},
             _far_hand("not_in_the_ground_truth"), _far_hand("no_hand")]  # fmt: skip
    pred = tmp_path / "predictions.json"
    pred.write_text(json.dumps(preds))
    return gt, pred


@pytest.mark.parametrize("first_id", ["hand_one", "hand_one.jpg", "photos/hand_one.jpg", 1, "1"])
def test_pipeline_hands_matched_by_nearness_misses_counted_wrong(tmp_path, capsys, first_id) -> None:
    gt, pred = _pipeline_files(tmp_path, first_id)
    with pytest.raises(DataError, match="no prediction for"):  # paired by key, the pipeline's file cannot be scored
        evaluate_files("onehand10k", gt, pred)
    report = evaluate_files("onehand10k", gt, pred, match="nearest")
    assert report["match"] == "nearest"
    hands = report["hands"]
    assert {
        k: hands[k] for k in ("hands", "found", "predictions", "extra_predictions", "predictions_on_unknown_images")
    } == {  # fmt: skip
        "hands": 4,
        "found": 3,
        "predictions": 6,
        "extra_predictions": 3,
        "predictions_on_unknown_images": 1,
    }
    assert hands["found_share"] == 0.75
    # the hands found are paired right (C and B in the other order): 11 joints off by 4 px, 10 by 13 px each
    assert report["frames"] == 3
    assert report["epe_px"] == pytest.approx((3 * 11 * 4 + 3 * 10 * 13) / 63, abs=1e-9)
    # of all 84 labelled joints (D's 21 wrong): at 0.05 of the box side 4 px passes for A (5 px) and B (4.5 px),
    # not C (3 px); at 0.1 for all three, 13 px for none; at 0.2 13 px passes for A (20 px) and B (18 px), not C
    wrong = hands["pck_bbox_misses_wrong"]
    assert wrong["normaliser"] == "ground-truth box" and wrong["joints"] == 84
    assert wrong["0.05"] == pytest.approx(22 / 84) and wrong["0.1"] == pytest.approx(33 / 84)
    assert wrong["0.2"] == pytest.approx(53 / 84)
    argv = ["evaluate-predictions", "--dataset", "onehand10k", "--gt", str(gt), "--pred", str(pred), "--match",
            "nearest", "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["hands"]["found"] == 3


def test_pipeline_with_no_hand_found_and_bad_use_of_nearness(tmp_path, capsys) -> None:
    gt, pred = _pipeline_files(tmp_path)
    pred.write_text(json.dumps([_far_hand("not_in_the_ground_truth")]))
    argv = ["evaluate-predictions", "--dataset", "onehand10k", "--gt", str(gt), "--pred", str(pred), "--match",
            "nearest"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "0 of 4" in out and "EPE" not in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["hands"]["found"] == 0 and report["hands"]["pck_bbox_misses_wrong"]["0.2"] == 0.0
    # --frames pairs frames by order or key: refused with nearness, one line, exit code 2
    assert main([*argv, "--frames", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--frames" in err[0]
    # nearness needs COCO JSON on both sides
    npz = tmp_path / "pred.npz"
    np.savez(npz, uv=np.zeros((4, 21, 2)))
    assert main([*argv[:-4], "--pred", str(npz), "--match", "nearest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pred.npz" in err[0] and "COCO" in err[0]


def test_predict_then_evaluate_the_pipeline_on_fixture_photos(tmp_path, capsys) -> None:
    """``handpose predict`` on the OneHand10K fixture photos, then its predictions.json scored against their human
    labels: each image's hand paired with its nearest predicted hand, computed here independently."""
    folder = fixture_path("mmpose", "onehand10k")
    gt_path = folder / "test_onehand10k.json"
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), "--backend", "onnx", "--no-overlay", "--quiet"]) == 0
    capsys.readouterr()
    pred_path = out / "predictions.json"
    assert main(["evaluate-predictions", "--dataset", "onehand10k", "--gt", str(gt_path), "--pred", str(pred_path),
                 "--match", "nearest", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    data = json.loads(gt_path.read_text())
    stem = {im["id"]: Path(im["file_name"]).stem for im in data["images"]}
    preds = json.loads(pred_path.read_text())
    found, correct, total = 0, 0, 0
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"], float).reshape(21, 3)
        lab = kp[:, 2] > 0
        total += int(lab.sum())
        cands = [np.asarray(p["keypoints"], float).reshape(21, 3)[:, :2] for p in preds
                 if p["image_id"] == stem[ann["image_id"]]]  # fmt: skip
        if not cands:
            continue
        found += 1
        best = min(cands, key=lambda c: np.mean(np.linalg.norm(c[lab] - kp[lab, :2], axis=1)))
        correct += int(np.sum(np.linalg.norm(best[lab] - kp[lab, :2], axis=1) < 0.2 * max(ann["bbox"][2:])))
    assert report["hands"]["hands"] == 4 and report["hands"]["found"] == found
    assert report["hands"]["pck_bbox_misses_wrong"]["0.2"] == pytest.approx(correct / total)


def _write_lines(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("".join(" ".join(r) + "\n" for r in rows))
    return path


@pytest.fixture
def small_icvl(tmp_path, rng) -> tuple[Path, list[list[str]]]:
    rows = [
        [f"{v:.3f}" for v in np.c_[rng.uniform(50, 250, (16, 2)), rng.uniform(300, 500, 16)].ravel()] for _ in range(5)
    ]
    return _write_lines(tmp_path / "gt.txt", rows), rows


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("fewer_frames", r"pred\.txt: 4 frames but the ground truth .* has 5"),
        ("wrong_joints", r"pred\.txt:3: expected 48 values \(16 joints x 3\), got 45"),
        ("non_numeric", r"pred\.txt:2: not a number: 'abc' \(column 7\)"),
        ("nan", r"pred\.txt:4: NaN or infinite value 'nan' \(column 10\)"),
        ("unknown_dataset", r"unknown dataset 'icvx'"),
        ("fourteen_joints", r"pred\.txt:1: expected 48 values .* got 42"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, small_icvl, capsys, case: str, message: str) -> None:
    gt, rows = small_icvl
    rows = [list(r) for r in rows]
    dataset = "icvl"
    if case == "fewer_frames":
        rows = rows[:4]
    elif case == "wrong_joints":
        rows[2] = rows[2][:45]
    elif case == "non_numeric":
        rows[1][6] = "abc"
    elif case == "nan":
        rows[3][9] = "nan"
    elif case == "unknown_dataset":
        dataset = "icvx"
    elif case == "fourteen_joints":
        rows = [r[:42] for r in rows]
    pred = _write_lines(tmp_path / "pred.txt", rows)
    assert main(["evaluate-predictions", "--dataset", dataset, "--gt", str(gt), "--pred", str(pred)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and err.startswith("handpose: error: ")
    assert re.search(message, err), err


def test_installed_command_in_a_subprocess(tmp_path, small_icvl) -> None:
    gt, rows = small_icvl
    good = _write_lines(tmp_path / "good.txt", rows)
    exe = REPO / ".venv" / "bin" / "handpose"
    if not exe.exists():
        exe = Path(sys.executable).with_name("handpose")
    env = {**os.environ, "COLUMNS": "120"}
    ok = subprocess.run(
        [str(exe), "evaluate-predictions", "--dataset", "icvl", "--gt", str(gt), "--pred", str(good), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["mean_error_mm"] == 0.0
    rows[1][4] = "nan"
    bad = _write_lines(tmp_path / "bad.txt", rows)
    proc = subprocess.run(
        [str(exe), "evaluate-predictions", "--dataset", "icvl", "--gt", str(gt), "--pred", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"{bad}:2: NaN or infinite value" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reproduce_published_prints_measured_beside_published(capsys, monkeypatch) -> None:
    fixture_path("depth_eval")
    # the ICVL files only, to keep the test fast (every published figure is checked above)
    monkeypatch.setattr("handpose.commands.reproduce_published.PUBLISHED_MM", {"icvl": PUBLISHED_MM["icvl"]})
    assert main(["reproduce-published", "--fixtures", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "reproduce-published" in out
    row = next(line for line in out.splitlines() if "CVPR18_ICVL_V2V_PoseNet" in line)
    assert re.search(r"1596 .* 6\.284 .* 6\.284 .* -0\.0004", row), row
    assert "702 (first)" in out


def test_reproduce_published_without_fixtures_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HANDPOSE_FIXTURES", str(tmp_path / "nowhere"))
    assert main(["reproduce-published"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nowhere" in err
