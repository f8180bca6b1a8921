"""Train the RGB models shipped in ``src/handpose/pretrained/`` on real photographs and the synthetic world together:
the SSD hand detector, the real-time MSAHP pose model and GestureNet for the sign-language digits — the pipeline of
"Multihead Self Attention Hand Pose Estimation" (an SSD detector crops the hand, PoseEstimationNet finds 21 points,
GestureNet names the gesture from them).

Stages (each resumes or is skipped when its output exists; ``--only`` picks some):

1. ``data``: the synthetic world for the recipes (``handpose synth generate runs/real/synthetic --count 12000
   --val-count 500 --test-count 0 --splits train,val --modality rgb --seed 11``, and ``runs/real/synthetic_hard``:
   10,000 frames of the ``hard`` preset, seed 12).
2. ``detector``: ``configs/ssd_hand_real.yaml`` (webcam photos with human boxes, sign-digit hands pasted on
   hand-free real backgrounds, synthetic frames over real backgrounds), then ``configs/ssd_hand_real_closeup.yaml``
   (fine-tuned from it with the whole sign-digit train photos in the mix and close-ups: frames zoomed about one of
   their hands so that it fills 35-95 % of the view), then ``configs/ssd_hand_real_views.yaml`` (from that stage's
   last checkpoint, with synthetic hands of the hard preset, any view, occluders, cut by the frame, as a fifth of
   the mix); the last checkpoint of the third stage is shipped (on the holdout photos, their close-ups and hand-free
   views it beat the close-up stage on every figure: F1 0.967 against 0.959 at 0.40, close-ups found 0.965
   against 0.943, hand-free views with a box 0.037 against 0.067). (Two other second stages are
   not part of the pipeline: ``configs/ssd_hand_real_ft.yaml``, more webcam photos, scored a lower F1 on the
   holdout photos and their hand-free crops, 0.915 against 0.940; ``configs/ssd_hand_real_digits.yaml``, the same
   mix without close-ups, shipped before: on the calibration set below its F1 is lower (see docs/models.md).)
3. ``pose``: ``configs/msahp_real.yaml`` (``msahp_t`` on webcam and sign-digit hands with MediaPipe's teacher
   keypoints weighted by their scores, and synthetic hands), then ``configs/msahp_real_ft.yaml`` (fine-tuned from
   it with synthetic hands of the hard preset, any view, as a quarter of the mix), then
   ``configs/msahp_real_light.yaml`` (from that stage's best, with changes of light: gamma, white balance, grey;
   ``benchmarks/lighting_robustness.py``), then ``configs/msahp_real_long.yaml`` (from that stage's best, 6,000
   more steps of the same mix at a learning rate raised again: the network had not learnt its hard synthetic
   training frames better than unseen ones), then ``configs/msahp_real_fifth.yaml`` (6,000 more from that stage's
   best: its validation error still fell at every check), then ``configs/msahp_real_sixth.yaml`` (6,000 more from
   the fifth's best, the same reason), then ``configs/msahp_real_112.yaml`` (the same network at a 112 x 112 crop,
   every weight keeping its shape, 4,000 steps from the sixth's best) and ``configs/msahp_real_112_long.yaml``
   (4,000 more from that one's best), then ``configs/msahp_real_tilt_photos.yaml`` (4,000 more from that one's
   best with half of the real photos' crops tilted: their plane turned 0-60 degrees about a line through the
   crop, as a hand turned away from the camera is seen; ``benchmarks/pose_tilt.py``), then
   ``configs/msahp_real_104.yaml`` (4,000 more from that one's best at a 104 x 104 crop: a pose call of 0.86 of the
   112 x 112 one, for the tracking time; the held-out sets lose at most 0.001).
   (``configs/ssd_hand_real_light.yaml``, the detector under the same light augmentation, was tried and not
   shipped: it lost 0.016 of PCK on the unchanged held-out photos.)
4. ``presence``: the pose model's hand-presence head (:mod:`handpose.engine.presence`), the pose network fixed:
   crops around the hands of the webcam fit photos (teacher joints), the sign-digit train photos and 2,000
   synthetic frames against crops beside the webcam hands and where no hand is; 3,000 steps of 64 crops.
5. ``calibrate``: on the webcam ``holdout`` photos (a tenth of the train photos, never trained on), close-ups cut
   from them around each human box (``benchmarks/detector_closeups.py``) and as many hand-free crops and views as
   photos: the detector's score threshold with the best F1 at IoU 0.5 against the human boxes, with its second
   look at close-ups on (``zoom_out``); the score its turned look at frames without a hand asks (``turn_score``,
   :data:`LOOK_SCORES`' rule, on close-ups of the same hands turned by 90, 180 and 270 degrees) and its tiled look
   at large frames without a hand (``tile_score``, the same rule, on the photos shrunk into larger frames) and its
   zoomed-in look at first-pass boxes under the threshold (``zoom_in_score``, the same rule after both) and its
   white-balanced look at frames without a hand (``balanced_score``, the same rule after the three); the
   presence the pose model must give a still frame posed whole when no look of the detector finds a hand in it
   (``whole_frame_presence``: the lowest of ``whole_frame_look.GRID`` that leaves the hand-free crops, views and
   large frames within 0.005 of the pipeline without it, ``benchmarks/whole_frame_look.py``, with the hands posed
   from a detector's box under the presence head's decision boundary dropped, ``min_presence``, and a frame whose
   detected hands are all dropped so given the turned and tiled looks, ``veto_looks``); the mean
   joint confidence under which tracking drops a hand (keeps 95 % of the teacher hands followed from jittered
   joints), and what the hand-presence threshold (0.5) keeps and drops.
6. ``gesture``: GestureNet on the sign-digit train photos, on the keypoints that the detector and pose model as
   shipped (float16, calibrated threshold; stored under ``runs/real/shipped_rgb``) predict, fixed (the paper's
   protocol: "the pose estimation part is kept fixed and we solely train the GestureNet") (``handpose gesture
   train --predict-with``).
7. ``export``: float16 safetensors + sidecars (with the calibration in ``inference``) under ``--out``.

The test figures (fixtures, webcam test boxes, the video, the held-out sign-digit sessions) are measured by
``benchmarks/real_images.py`` beside MediaPipe, not here.

Usage::

    .venv/bin/python benchmarks/train_real_models.py --work runs/real --out src/handpose/pretrained
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "detector", "pose", "presence", "calibrate", "gesture", "export")
SHIPPED = {"detector": "ssd_hand", "pose": "msahp_t", "gesture": "gesturenet_digits"}
#: the runs shipped: the last stage of each (the detector's last checkpoint, the pose model's best)
DETECTOR_RUN = "ssd_hand_views"
POSE_RUN = "msahp_t_104"
#: the pose run with its hand-presence head trained (the same pose weights: GestureNet's points do not change)
PRESENCE_RUN = f"{POSE_RUN}_presence"
PRESENCE_STEPS = 3000
#: tracking drops a followed hand under this presence: the decision boundary of the head's balanced training (a
#: quantile of the holdout hands' presence, as for lost_confidence, is 0.996: the head is sure of those hands, and a
#: threshold at their extreme would drop hands the head is less sure of elsewhere); the calibration reports what it
#: keeps and drops on the holdout
LOST_PRESENCE = 0.5
#: the detector's second look at close-ups (:class:`handpose.inference.stages.DetectorStage` ``zoom_out``)
ZOOM_OUT = 0.55
#: the detector's turned look and tiled look (:class:`handpose.inference.stages.DetectorStage` ``turn_score``,
#: ``tile_score``): for each in turn, the lowest of these scores that keeps the holdout F1 and the close-ups found
#: within 0.005, and the hand-free views and large hand-free frames with a box within 0.01, of the detector with the
#: looks chosen before it (``benchmarks/detector_closeups.py --turn-score --tile-score``)
LOOK_SCORES = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
#: the extra looks so calibrated, in this order: then the zoomed-in look at unsure boxes (``zoom_in_score``), by the
#: same rule against the detector with the turned and tiled looks on (``benchmarks/zoom_in_look.py``), then the
#: white-balanced look at a frame without a hand (``balanced_score``, ``benchmarks/balanced_look.py``)
LOOKS = ("turn_score", "tile_score", "zoom_in_score", "balanced_score")
#: the pose model's second look (:meth:`handpose.inference.stages.PoseStage.second_look`): a hand whose joints' box
#: overlaps the box it was posed from by IoU under this is posed again from the joints' box, the surer pose kept;
#: chosen on held-out hands (``benchmarks/pose_crop_robustness.py --second-look``)
REPOSE_IOU = 0.7
#: how many times that look may run for one hand, each from the box of the previous look's joints (the whole-frame
#: look keeps one); chosen on held-out hands and frames (``benchmarks/pipeline_setting.py pose.repose_looks 1 2``,
#: ``benchmarks/pose_crop_robustness.py``)
REPOSE_LOOKS = 2
#: GestureNet trains on the points of the detector and pose runs above: its folder names them, so that a new
#: detector or pose run trains a new GestureNet instead of reusing one trained on another pipeline's points
GESTURE_RUN = f"gesturenet_digits_on_{DETECTOR_RUN}_{POSE_RUN}" + ("_repose" if REPOSE_IOU else "")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def realdata(*parts: str) -> Path:
    return Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")).joinpath(*parts)


def best(run: Path) -> Path:
    path = run / "best"
    if not (path / "model.json").is_file():
        raise SystemExit(f"{run} has no best checkpoint: run its stage first")
    return path


def final(run: Path) -> Path:
    """The last checkpoint of a finished run (a fine-tuning stage ends at its lowest learning rate; the detector's
    validation AP50 is about 0.99 at every step and does not tell its checkpoints apart)."""
    summary = run / "summary.json"
    if not summary.is_file():
        raise SystemExit(f"{run} has not finished: run its stage first")
    last = Path(json.loads(summary.read_text())["last"])
    path = last if last.is_absolute() else REPO / last
    if not (path / "model.json").is_file():
        path = run / "checkpoints" / last.name
    if not (path / "model.json").is_file():
        raise SystemExit(f"{run}: its last checkpoint {last} is missing")
    return path


def stage_data(args: argparse.Namespace) -> None:
    for folder, count, preset, seed in (("synthetic", 12000, "standard", 11), ("synthetic_hard", 10000, "hard", 12)):
        out = Path(args.work) / folder
        missing = [split for split in ("train", "val") if not (out / split / "index.json").is_file()]
        if not missing:
            log(f"synthetic data at {out}")
            continue
        cmd = [sys.executable, "-m", "handpose", "synth", "generate", str(out), "--count", str(count), "--val-count",
               "500", "--test-count", "0", "--splits", ",".join(missing), "--modality", "rgb", "--preset", preset,
               "--seed", str(seed), "--workers", str(args.workers), "--quiet"]  # fmt: skip
        subprocess.run(cmd, check=True)


def train_recipe(args: argparse.Namespace, recipe: str, folder: str, init: str | None = None,
                 init_last: bool = False) -> Path:  # fmt: skip
    from handpose.config import load_config
    from handpose.engine.run import run_training

    run = Path(args.work) / folder
    sets = [f"train.threads={args.threads}", f"data.workers={args.workers}"]
    if init is not None:
        start = final(Path(args.work) / init) if init_last else best(Path(args.work) / init)
        sets.append(f"model.init={start}")
    for k, src in enumerate(load_config(REPO / "configs" / recipe).data.options["sources"]):
        root = str(src.get("root", ""))
        if root.startswith("runs/real/"):  # the synthetic sources: under --work
            sets.append(f"data.options.sources[{k}].root={Path(args.work) / root.removeprefix('runs/real/')}")
    cfg = load_config(REPO / "configs" / recipe, sets)
    if (run / "best" / "model.json").is_file() and not (run / "latest.json").is_file():
        return run
    log(f"training {recipe} into {run}")
    run_training(cfg, run, resume=(run / "latest.json").is_file())
    return run


def stage_gesture(args: argparse.Namespace) -> Path:
    from handpose.commands.gesture import add_arguments, train

    run = Path(args.work) / GESTURE_RUN
    if (run / "best" / "model.json").is_file():
        return run
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    work = Path(args.work)
    fixed = work / "shipped_rgb"
    export_rgb(args, fixed)
    ns = parser.parse_args(["train", "--data", str(realdata("sign_digits")), "--format", "sign_digits", "--split",
                            "train", "--val-split", "", "--out", str(run), "--steps", "3000", "--predict-with",
                            str(fixed / SHIPPED["detector"]), str(fixed / SHIPPED["pose"])])  # fmt: skip
    train(ns)
    return run


def presence_photos(synthetic: Path, synthetic_count: int = 2000, seed: int = 0) -> list:
    """The photos the presence head trains on: the webcam fit photos (teacher hands; human boxes without one are
    avoided), the sign-digit train photos (positives only: the hand fills them) and synthetic frames (positives)."""
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset
    from handpose.engine.presence import PresencePhoto

    photos = []
    web = open_dataset(realdata("webcam_hands"), "webcam_hands", split="fit", min_teacher_score=0.3)
    lab = web.joints_all()
    for (path, boxes), idx in zip(web.image_boxes(), web.by_image.values()):
        with_joints = [i for i in idx if lab.joint_mask[i].all()]
        hands = [lab.joints_2d[i].astype(np.float64) for i in with_joints]
        avoid = np.array([boxes[k] for k, i in enumerate(idx) if i not in with_joints]).reshape(-1, 4)
        photos.append(PresencePhoto(read_image(path), hands, avoid))
    digits = open_dataset(realdata("sign_digits"), "sign_digits", split="train", min_teacher_score=0.3)
    for i in range(len(digits)):
        d = digits[i]
        if d.joint_mask.all():
            photos.append(PresencePhoto(d.image, [d.joints_2d.astype(np.float64)], negatives=False))
    synth = open_dataset(synthetic, "synthetic", split="train", modality=["rgb"])
    for i in np.random.default_rng(seed).choice(len(synth), min(synthetic_count, len(synth)), replace=False):
        d = synth[int(i)]
        photos.append(PresencePhoto(d.image, [np.where(d.joint_mask[:, None], d.joints_2d, np.nan)], negatives=False))
    return photos


def stage_presence(args: argparse.Namespace) -> Path:
    """The pose model with its hand-presence head trained (pose weights unchanged) as ``PRESENCE_RUN/best``."""
    import torch

    from handpose.data.augment import AugmentConfig
    from handpose.engine.checkpoint import load_checkpoint, save_checkpoint
    from handpose.engine.presence import PresenceSampler, train_presence
    from handpose.io import write_json_atomic
    from handpose.registry import create_model

    work = Path(args.work)
    run = work / PRESENCE_RUN
    if (run / "best" / "model.json").is_file():
        return run
    torch.set_num_threads(args.threads)
    base, info = load_checkpoint(best(work / POSE_RUN))
    kwargs = dict(base.config, presence=True)
    model = create_model(info["model"], **kwargs)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or any(not k.startswith("presence_head.") for k in missing):
        raise SystemExit(f"{POSE_RUN} does not fit {info['model']} with a presence head: {missing} {unexpected}")
    log(f"presence: photos for {PRESENCE_RUN}")
    photos = presence_photos(work / "synthetic")
    data = (info.get("config") or {}).get("data") or {}
    margin = float(data.get("crop", {}).get("margin", 0.25))
    # the head sees the light the pose network was trained under (lighting augmentation where its recipe had it)
    augment = AugmentConfig(background=False, jpeg=True, lighting=bool((data.get("augment") or {}).get("lighting")))
    sampler = PresenceSampler(photos, model.spec.input_size[0], margin, augment=augment)
    t = time.time()
    rows = train_presence(model, sampler, steps=PRESENCE_STEPS, batch_size=64, lr=1e-3, seed=0, log_every=100,
                          log=log)  # fmt: skip
    log(f"presence: {PRESENCE_STEPS} steps in {time.time() - t:.0f} s")
    save_checkpoint(run / "best", model, step=PRESENCE_STEPS, metrics=rows[-1], config=info.get("config"),
                    extra={"presence_training": {"from": str(best(work / POSE_RUN)), "steps": PRESENCE_STEPS,
                                                 "photos": len(photos)}})  # fmt: skip
    write_json_atomic(run / "presence_log.json", rows)
    return run


def stage_calibrate(args: argparse.Namespace) -> dict[str, Any]:
    from detector_closeups import holdout_sets
    from whole_frame_look import GRID as WHOLE_FRAME_GRID  # the whole-frame look's presences, lowest first
    from whole_frame_look import calibrate_whole_frame

    from handpose import metrics as M
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator
    from handpose.io import write_json_atomic

    work = Path(args.work)
    path = work / "calibration.json"
    runs = {"detector": DETECTOR_RUN, "pose": PRESENCE_RUN, "zoom_out": ZOOM_OUT, "lost_presence": LOST_PRESENCE,
            "whole_frame_grid": list(WHOLE_FRAME_GRID), "min_presence": LOST_PRESENCE, "veto_looks": True,
            "looks": list(LOOKS)}  # fmt: skip
    if path.is_file() and json.loads(path.read_text()).get("runs") == runs:
        return json.loads(path.read_text())
    est = HandPoseEstimator(detector=final(work / DETECTOR_RUN), pose=best(work / PRESENCE_RUN), min_hand_score=0.0)
    est.detector.zoom_out = ZOOM_OUT
    # the threshold first, without the extra looks
    est.detector.turn_score = est.detector.tile_score = est.detector.zoom_in_score = 0.0
    hold = open_dataset(realdata("webcam_hands"), "webcam_hands", split="holdout")
    sets = holdout_sets(hold, views=len(hold.image_boxes()))  # a hand-free view per photo
    photos, near, rng = sets["photos"], sets["near"], sets["rng"]
    frames = sets["frames"] + [v for v, _, _ in near] + sets["empty"]
    truth = sets["truth"] + [b[None] for _, b, _ in near] + [np.zeros((0, 4))] * len(sets["empty"])
    rows = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        est.detector.min_score = float(t)  # the second look depends on the threshold: run again
        found = [est.detect(f).detections for f in frames]
        boxes = [np.array([d.box for d in f]).reshape(-1, 4) for f in found]
        scores = [np.array([d.score for d in f]) for f in found]
        d = M.detection_scores(boxes, scores, truth, 0.5)
        rows.append((float(t), d["f1"], d["precision"], d["recall"]))
    # the detector's threshold alone: a threshold on the hand score (detector score x the pose model's mean joint
    # confidence) chosen with it scored F1 0.976 against 0.957 here, but the pose model is less sure of hands in
    # scenes unlike these photos (about 0.55 on the fingerspelling video against 0.7-0.9 here), and that threshold
    # (0.25) dropped most real hands there: it fits the calibration photos, not the world (docs/models.md)
    t_best, f1, prec, rec = max(rows, key=lambda r: (r[1], -r[0]))
    est.detector.min_score = t_best
    looks = calibrate_extra_looks(est, sets)
    # the whole-frame look of still images (a frame where no look of the detector finds a hand is posed whole), the
    # extra looks on: the lowest presence that leaves the hand-free holdout sets within 0.005 of the pipeline
    # without it (whole_frame_look.py); hands posed from a detector's box under the presence head's decision boundary
    # dropped, as shipped (min_presence)
    est.min_presence, est.veto_looks = LOST_PRESENCE, True
    whole = calibrate_whole_frame(est, sets, WHOLE_FRAME_GRID)
    # tracking: followed hands (teacher joints jittered by 3 % of the hand) against lost ones (moved off the hand)
    lab = hold.joints_all()
    on, off, on_p, off_p = [], [], [], []
    for (p, _), idx in zip(photos, hold.by_image.values()):
        img = read_image(p)
        h, w = img.shape[:2]
        for i in idx:
            if not lab.joint_mask[i].all():
                continue
            j = lab.joints_2d[i].astype(np.float64)
            size = float(np.max(j.max(0) - j.min(0)))
            for pts, dst, dst_p in ((j + rng.normal(0, 0.03 * size, j.shape), on, on_p),
                                    (j + [1.2 * size, 0], off, off_p)):  # fmt: skip
                if pts[:, 0].max() >= w:
                    pts = j - [1.2 * size, 0]
                crop = est.pose.plan_from_joints(pts)
                got = est.pose(img, [crop], [None])[0]
                dst.append(float(np.mean(got.confidence)))
                dst_p.append(got.extra["presence"])
    lost = float(np.quantile(on, 0.05))
    lost_p = LOST_PRESENCE
    cal = {
        "runs": runs,
        "min_score": t_best,
        "holdout_f1": f1,
        "holdout_precision": prec,
        "holdout_recall": rec,
        "thresholds": rows,
        "holdout_photos": len(photos),
        "closeups": len(near),
        "negatives": 2 * len(photos),
        **looks,
        **whole,
        "lost_confidence": lost,
        "followed_kept": float(np.mean(np.array(on) >= lost)),
        "lost_dropped": float(np.mean(np.array(off) < lost)),
        "lost_presence": lost_p,
        "presence_quantile_05": float(np.quantile(on_p, 0.05)),
        "presence_followed_kept": float(np.mean(np.array(on_p) >= lost_p)),
        "presence_lost_dropped": float(np.mean(np.array(off_p) < lost_p)),
    }
    write_json_atomic(path, cal)
    log(
        f"calibration: min_score {t_best} (F1 {f1:.3f}, P {prec:.3f}, R {rec:.3f}), turn_score {looks['turn_score']}, "
        f"tile_score {looks['tile_score']}, zoom_in_score {looks['zoom_in_score']}, "
        f"balanced_score {looks['balanced_score']}, "
        f"whole_frame_presence {whole['whole_frame_presence']}, "
        f"lost_confidence {lost:.3f} "
        f"(drops {cal['lost_dropped']:.3f} of crops off the hand), lost_presence {lost_p:.3f} (drops "
        f"{cal['presence_lost_dropped']:.3f})"
    )
    return cal


def calibrate_extra_looks(est: Any, sets: dict[str, Any], looks: tuple[str, ...] = LOOKS) -> dict[str, Any]:
    """The scores of the detector's extra ``looks`` in turn (:data:`LOOKS`: turned, tiled, zoomed-in; the
    :data:`LOOK_SCORES` rule each) on the holdout sets of :func:`detector_closeups.holdout_sets`, the detector at its
    calibrated threshold and its other looks as set -> each look's score and each setting's figures
    (``extra_looks``)."""
    from detector_closeups import holdout_figures

    det = est.detector

    def figures() -> dict[str, float]:
        return {**{name: getattr(det, name) for name in dict.fromkeys(LOOKS + tuple(looks))},
                **holdout_figures(est, sets)}  # fmt: skip

    def keeps(row: dict[str, float], base: dict[str, float]) -> bool:
        return (row["holdout_f1"] >= base["holdout_f1"] - 0.005 and row["closeup_all"] >= base["closeup_all"] - 0.005
                and row["empty_with_box"] <= base["empty_with_box"] + 0.01
                and row["large_empty_with_box"] <= base["large_empty_with_box"] + 0.01)  # fmt: skip

    for name in looks:
        setattr(det, name, 0.0)
    base = figures()
    rows = [base]
    for name in looks:  # each against the detector with the looks chosen before it
        for score in LOOK_SCORES:
            setattr(det, name, score)
            rows.append(figures())
            if keeps(rows[-1], base):
                base = rows[-1]
                break
        else:
            setattr(det, name, 0.0)
    return {**{name: getattr(det, name) for name in looks}, "extra_looks": rows}


NOTE = (
    "trained by benchmarks/train_real_models.py (configs/ssd_hand_real.yaml then ssd_hand_real_closeup.yaml "
    "then ssd_hand_real_views.yaml, configs/msahp_real.yaml then msahp_real_ft.yaml then msahp_real_light.yaml "
    "then msahp_real_long.yaml then msahp_real_fifth.yaml then msahp_real_sixth.yaml then msahp_real_112.yaml "
    "then msahp_real_112_long.yaml then msahp_real_tilt_photos.yaml then msahp_real_104.yaml, "
    "handpose gesture train --predict-with) on real photos (realdata: webcam_hands fit part with human boxes, "
    "sign_digits train sessions; keypoints from the MediaPipe Hands 0.10.21 teacher) and synthetic frames"
)
DATA = "realdata (webcam_hands, sign_digits) + synthetic world seeds 11 and 12 (see provenance)"


def export_rgb(args: argparse.Namespace, out: Path) -> None:
    """The detector and the pose model as shipped (float16, calibrated settings) under ``out``."""
    from handpose.engine.checkpoint import store_for_shipping

    work = Path(args.work)
    cal = stage_calibrate(args)
    store_for_shipping(final(work / DETECTOR_RUN), out / SHIPPED["detector"], {
        "role": "detector",
        "min_score": cal["min_score"],
        "zoom_out": ZOOM_OUT,
        "turn_score": cal["turn_score"],
        "tile_score": cal["tile_score"],
        "zoom_in_score": cal["zoom_in_score"],
        "balanced_score": cal["balanced_score"],
        "calibration": "webcam_hands holdout photos, close-ups cut from them around each human box (the hand "
                       "filling 50, 70 and 90 % of the view) and as many hand-free crops and views: the score "
                       f"threshold of the best F1 at IoU 0.5 against the human boxes (F1 {cal['holdout_f1']:.3f}), "
                       f"with the second look at close-ups (zoom_out {ZOOM_OUT}); turn_score: the lowest score for "
                       "boxes of the frame turned by 90, 180, 270 degrees (looked at when it gives no hand) that "
                       "keeps the F1 on the photos and the close-ups found within 0.005 and the hand-free views "
                       "and large hand-free frames with a box within 0.01 of the detector without it; tile_score: "
                       "the same rule, with the turned look on, for the boxes of four overlapping tiles of a large "
                       "frame that gives no hand (the photos shrunk to half into 800 x 600 frames); zoom_in_score: "
                       "the same rule, with both looks on, for the boxes of a second look at each first-pass box "
                       "scoring under the threshold but at least half of it, in a region twice its size; "
                       "balanced_score: the same rule, with the three looks on, for the boxes of a frame that "
                       "gives no hand balanced by the grey-world assumption",
    }, NOTE, DATA)  # fmt: skip
    store_for_shipping(best(work / PRESENCE_RUN), out / SHIPPED["pose"], {
        "role": "pose2d",
        "min_hand_score": 0.0,
        "lost_confidence": cal["lost_confidence"],
        "lost_presence": cal["lost_presence"],
        "repose_iou": REPOSE_IOU,
        "repose_looks": REPOSE_LOOKS,
        "whole_frame_presence": cal["whole_frame_presence"],
        "min_presence": LOST_PRESENCE,
        "veto_looks": True,
        "calibration": f"lost_presence {LOST_PRESENCE}: the presence head's decision boundary (keeps "
                       f"{cal['presence_followed_kept']:.3f} of the webcam holdout hands followed from jittered "
                       f"teacher joints, drops {cal['presence_lost_dropped']:.3f} of crops moved off them); "
                       "lost_confidence "
                       "(for a tracker without the presence output) keeps 95 % of them; whole_frame_presence: the "
                       "lowest presence of the whole-frame look (a still image where the detector finds no hand) "
                       "at which the webcam holdout's hand-free photo crops, views and large frames each show a "
                       "hand at most 0.005 more often than without it; min_presence: a still image's hand posed "
                       "from a detector's box is dropped under the presence head's decision boundary; veto_looks: "
                       "a still image whose detected hands that veto all drops gets the detector's turned and tiled "
                       "looks (benchmarks/veto_looks.py); repose_looks: a hand posed from a box may be posed again "
                       f"{REPOSE_LOOKS} times, each from the box of the previous look's joints, the surest pose kept "
                       "(the whole-frame look keeps one second look; benchmarks/pipeline_setting.py "
                       "pose.repose_looks)",
    }, NOTE, DATA)  # fmt: skip


def stage_export(args: argparse.Namespace) -> None:
    from handpose.engine.checkpoint import store_for_shipping

    work, out = Path(args.work), Path(args.out)
    export_rgb(args, out)
    store_for_shipping(best(work / GESTURE_RUN), out / SHIPPED["gesture"], {
        "role": "gesture",
        "input": "2D points predicted by the shipped detector and pose model (pose model fixed)",
        "min_confidence": 0.5,  # a hand is given a digit only when GestureNet is at least this sure
    }, NOTE, DATA)  # fmt: skip
    log(f"stored under {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=str(REPO / "runs" / "real"))
    p.add_argument("--out", default=str(REPO / "src" / "handpose" / "pretrained"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--only", default=",".join(STAGES), help=f"comma-separated stages of {', '.join(STAGES)}")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    stages = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        p.error(f"unknown stages {bad}; known: {', '.join(STAGES)}")
    for stage in STAGES:
        if stage not in stages:
            continue
        if stage == "data":
            stage_data(args)
        elif stage == "detector":
            train_recipe(args, "ssd_hand_real.yaml", "ssd_hand")
            train_recipe(args, "ssd_hand_real_closeup.yaml", "ssd_hand_closeup", init="ssd_hand")
            train_recipe(args, "ssd_hand_real_views.yaml", DETECTOR_RUN, init="ssd_hand_closeup", init_last=True)
        elif stage == "pose":
            train_recipe(args, "msahp_real.yaml", "msahp_t")
            train_recipe(args, "msahp_real_ft.yaml", "msahp_t_ft", init="msahp_t")
            train_recipe(args, "msahp_real_light.yaml", "msahp_t_light", init="msahp_t_ft")
            train_recipe(args, "msahp_real_long.yaml", "msahp_t_long", init="msahp_t_light")
            train_recipe(args, "msahp_real_fifth.yaml", "msahp_t_fifth", init="msahp_t_long")
            train_recipe(args, "msahp_real_sixth.yaml", "msahp_t_sixth", init="msahp_t_fifth")
            train_recipe(args, "msahp_real_112.yaml", "msahp_t_112", init="msahp_t_sixth")
            train_recipe(args, "msahp_real_112_long.yaml", "msahp_t_112_long", init="msahp_t_112")
            train_recipe(args, "msahp_real_tilt_photos.yaml", "msahp_t_tilt_photos", init="msahp_t_112_long")
            train_recipe(args, "msahp_real_104.yaml", POSE_RUN, init="msahp_t_tilt_photos")
        elif stage == "presence":
            stage_presence(args)
        elif stage == "gesture":
            stage_gesture(args)
        elif stage == "calibrate":
            stage_calibrate(args)
        else:
            stage_export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
