"""``HandPoseEstimator``: images or depth frames in, a list of :class:`~handpose.inference.results.Hand` out.

    from handpose import HandPoseEstimator
    est = HandPoseEstimator.from_pretrained()                      # the small synthetic-trained models
    hands = est(image_rgb)                                         # (H, W, 3) uint8 RGB
    est = HandPoseEstimator(["runs/det/best", "runs/pose/best"], backend="onnx")
    hands = est(image_rgb, boxes=[[40, 30, 200, 210]])             # the caller's boxes instead of the detector
    depth_est = HandPoseEstimator.from_pretrained("depth")
    hands = depth_est(depth_mm, intrinsics=Intrinsics(241.42, 241.42, 160, 120))
    for hands in est.track(frames, fps=30): ...                    # video: tracking + One Euro smoothing

Each model's role comes from its checkpoint (or ONNX sidecar): a skeleton (or box) detector, an RGB pose model
(2D heatmaps, or root-relative 3D regression), a depth pose model, a gesture classifier. The stages are in
:mod:`handpose.inference.stages`, each with explicit ``preprocess`` / ``infer`` / ``postprocess`` steps.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError, ModelInputError
from ..geometry import Intrinsics, intrinsics_for
from ..metrics import box_iou
from ..skeleton import NUM_JOINTS
from .backends import Model, load_model
from .handedness import handedness_from_3d
from .results import Hand
from .smoothing import OneEuroConfig
from .stages import (
    DepthStage,
    DetectorOutput,
    DetectorStage,
    GestureStage,
    PoseOutput,
    PoseStage,
    check_box,
    det_scale_for,
    joints_box,
    skeleton_from_joints,
    skeleton_from_map,
)

ModelSource = str | os.PathLike[str] | Model

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
#: the models shipped in handpose/pretrained (docs/models.md): the RGB pipeline of "Multihead Self Attention Hand Pose
#: Estimation" trained on real photographs and synthetic frames by benchmarks/train_real_models.py, the depth model
#: on the synthetic world by benchmarks/train_small_models.py
PRETRAINED = {
    "detector": "ssd_hand",
    "pose2d": "msahp_t",
    "depth": "light_depth_s",
    "gesture": "gesturenet_digits",
}


def pretrained_path(name: str) -> Path:
    """The folder of a shipped model (``ssd_hand``, ``msahp_t``, ``light_depth_s``, ``gesturenet_digits``);
    :class:`CheckpointError` if it is not there."""
    path = PRETRAINED_DIR / name
    if not (path / "model.json").is_file():
        raise CheckpointError(f"no shipped model {name!r} (known: {', '.join(PRETRAINED.values())})", path=path)
    return path


def check_rgb_frame(frame: Any, source: str | None = None) -> np.ndarray:
    """``frame`` as an (H, W, 3) uint8 RGB array, or :class:`ModelInputError` saying what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise ModelInputError(f"expected an (H, W, 3) uint8 RGB numpy array, got {type(frame).__name__}", path=source)
    if frame.size == 0 or frame.ndim < 2 or min(frame.shape[:2]) == 0:
        raise ModelInputError(f"the image has zero size (shape {frame.shape})", path=source)
    if frame.dtype != np.uint8:
        bits = 8 * frame.dtype.itemsize
        what = " (a depth map? pass it as a depth frame)" if frame.ndim == 2 else ""
        raise ModelInputError(f"{bits}-bit {frame.dtype} image where an 8-bit RGB image was expected{what}",
                              path=source)  # fmt: skip
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ModelInputError(f"expected (H, W, 3) RGB, got shape {frame.shape}", path=source)
    return np.ascontiguousarray(frame)


def check_depth_frame(frame: Any, source: str | None = None) -> np.ndarray:
    """``frame`` as an (H, W) float32 depth map in mm, or :class:`ModelInputError`."""
    if not isinstance(frame, np.ndarray):
        raise ModelInputError(f"expected an (H, W) depth array in mm, got {type(frame).__name__}", path=source)
    if frame.size == 0 or frame.ndim < 2 or min(frame.shape[:2]) == 0:
        raise ModelInputError(f"the depth frame has zero size (shape {frame.shape})", path=source)
    if frame.ndim != 2:
        raise ModelInputError(f"expected an (H, W) depth map in mm, got shape {frame.shape}", path=source)
    if frame.dtype == np.uint8:
        raise ModelInputError("8-bit depth frame: depth must be millimetres (16-bit or float)", path=source)
    return np.asarray(frame, dtype=np.float32)


def _presence_setting(roles: dict[str, Model], key: str) -> float | None:
    """A threshold on the pose model's hand-presence output from its sidecar's ``inference`` block; None when the
    sidecar has no such key or the model has no presence output."""
    if "pose" not in roles or "presence" not in roles["pose"].info.outputs:
        return None
    value = roles["pose"].info.extra.get(key)
    return None if value is None else float(value)


def _pose_flag(roles: dict[str, Model], key: str) -> bool:
    """A switch from the pose model's sidecar ``inference`` block (False without a pose model or the key)."""
    return bool(roles["pose"].info.extra.get(key, False)) if "pose" in roles else False


def _mean_confidence(p: PoseOutput) -> float:
    return float(np.mean(np.nan_to_num(np.asarray(p.confidence, np.float64))))


class HandPoseEstimator:
    """Hand detection, 2D / 3D pose and gestures on RGB images or depth frames.

    Args:
        models: checkpoint folders and / or exported ``.onnx`` files (or loaded :class:`Model` objects); each one's
            role comes from its spec. At most one per role.
        detector, pose, depth, gesture: the same, by role (checked against the model's spec: a checkpoint whose
            model does not fit the role raises :class:`CheckpointError`).
        backend: "torch", "onnx" or "auto" (see :func:`handpose.inference.backends.load_model`).
        threads: intra-op threads per model (ONNX Runtime default 1).
        max_hands: most hands per frame.
        min_foreground: the detector's hand / no-hand threshold in skeleton pixels (default: its calibrated value).
        min_hand_score: hands whose score (detector score × mean joint confidence) is lower are dropped (default:
            the value calibrated with the pose model, in its sidecar's ``inference.min_hand_score``, for hands the
            detector found; none for the caller's boxes and for depth frames).
        intrinsics: depth camera (default: the synthetic world's ICVL-like camera, rescaled to the frame).
        cube_size_mm: depth cube side (default: the depth model's training crop).
        cache_dir: where checkpoints are exported for the onnx backend.
    """

    def __init__(
        self,
        models: ModelSource | Sequence[ModelSource] = (),
        *,
        detector: ModelSource | None = None,
        pose: ModelSource | None = None,
        depth: ModelSource | None = None,
        gesture: ModelSource | None = None,
        backend: str = "auto",
        threads: int | None = None,
        max_hands: int = 2,
        min_foreground: float | None = None,
        min_hand_score: float | None = None,
        intrinsics: Intrinsics | None = None,
        cube_size_mm: float | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if max_hands < 1:
            raise ConfigError(f"max_hands must be >= 1, got {max_hands}", field="max_hands")
        self.backend = backend
        self.max_hands = int(max_hands)
        self.min_hand_score = None if min_hand_score is None else float(min_hand_score)
        self.intrinsics = intrinsics

        def load(src: ModelSource) -> Model:
            return src if isinstance(src, Model) else load_model(src, backend, threads=threads, cache_dir=cache_dir)

        listed = [models] if isinstance(models, (str, os.PathLike, Model)) else list(models)
        roles: dict[str, Model] = {}

        def assign(role: str, model: Model) -> None:
            if role in roles:
                raise ConfigError(f"two models for the {role}: {roles[role].info.source} and {model.info.source}",
                                  field="models")  # fmt: skip
            roles[role] = model

        for src in listed:
            m = load(src)
            assign(role_of(m), m)
        for role, src in (("detector", detector), ("pose", pose), ("depth", depth), ("gesture", gesture)):
            if src is not None:
                m = load(src)
                if role_of(m) != role:
                    raise CheckpointError(f"given as the {role} model but holds a {role_of(m)} model ({m.info.name})",
                                          path=m.info.source)  # fmt: skip
                assign(role, m)
        if not roles:
            raise ConfigError("no model given (pass checkpoints, or use HandPoseEstimator.from_pretrained())",
                              field="models")  # fmt: skip
        self.models = roles
        self.detector = DetectorStage(roles["detector"], self.max_hands, min_foreground) if "detector" in roles \
            else None  # fmt: skip
        self.pose = PoseStage(roles["pose"]) if "pose" in roles else None
        self.depth = DepthStage(roles["depth"], cube_size_mm) if "depth" in roles else None
        self.gesture = GestureStage(roles["gesture"]) if "gesture" in roles else None
        calibrated = float(roles["pose"].info.extra.get("min_hand_score", 0.0)) if "pose" in roles else 0.0
        #: the score a detected (or tracked) RGB hand needs
        self.detection_min_score = calibrated if self.min_hand_score is None else self.min_hand_score
        #: video tracking drops a followed hand whose mean joint confidence falls below this (calibrated with the
        #: pose model: its sidecar's ``inference.lost_confidence``)
        self.lost_confidence = float(roles["pose"].info.extra.get("lost_confidence", 0.25)) if "pose" in roles \
            else 0.25  # fmt: skip
        #: with a pose model that has a hand-presence output: tracking drops a followed hand whose presence falls
        #: below this instead (its sidecar's ``inference.lost_presence``; None: the joint confidence rule)
        self.lost_presence = _presence_setting(roles, "lost_presence")
        #: on a still image where no look of the detector finds a hand: the presence the pose model must give its
        #: crop of the whole frame for that frame to be reported as one hand (its sidecar's
        #: ``inference.whole_frame_presence``; None: off)
        self.whole_frame_presence = _presence_setting(roles, "whole_frame_presence")
        #: on a still image: a hand posed from a detector's box whose presence is under this is dropped (its
        #: sidecar's ``inference.min_presence``; None: off)
        self.min_presence = _presence_setting(roles, "min_presence")
        #: on a still image with fewer than ``max_hands`` hands: the presence the pose model must give the crop of one
        #: of the detector's unsure boxes (under its threshold) for that box to be kept as a hand (its sidecar's
        #: ``inference.rescue_presence``; None: off)
        self.rescue_presence = _presence_setting(roles, "rescue_presence")
        #: on a still image whose detected hands the presence veto drops, every one: the detector's turned and tiled
        #: looks run as on a frame without a box (its sidecar's ``inference.veto_looks``; default off)
        self.veto_looks = _pose_flag(roles, "veto_looks")
        #: the rescue only beside a hand already kept (a second hand), never on a frame without one
        self.rescue_second_only = _pose_flag(roles, "rescue_second_only")
        if self.pose is None and self.depth is None and self.detector is None:
            raise ConfigError("a gesture model alone cannot run on frames: add a pose model", field="models")
        extra = roles["pose"].info.extra.get("skeleton_channel", {}) if "pose" in roles else {}
        if self.detector is not None:
            self.skel_input = self.detector.input_size
            self.skel_line, self.skel_sigma = self.detector.line_width, self.detector.blob_sigma
        else:
            self.skel_input = tuple(extra.get("detector_input", (60, 80)))  # type: ignore[assignment]
            self.skel_line = float(extra.get("line_width", 2.0))
            self.skel_sigma = float(extra.get("blob_sigma", 1.0))

    # ---------------------------------------------------------------------------------------------- builders

    @classmethod
    def from_pretrained(
        cls, modality: str = "rgb", *, gesture: bool = True, backend: str = "torch", **kwargs: Any
    ) -> HandPoseEstimator:
        """The models shipped in ``handpose/pretrained`` (small; see ``docs/models.md``).

        Args:
            modality: "rgb" (ssd_hand + msahp_t, trained on real photos and synthetic frames), "depth" (light_depth_s,
                synthetic depth frames) or "all".
            gesture: add GestureNet (the sign-language digits 0-9).
            backend: "torch" or "onnx" (exported once into the cache; needs torch the first time).
        """
        names = {"rgb": ["detector", "pose2d"], "depth": ["depth"], "all": ["detector", "pose2d", "depth"]}
        if modality not in names:
            raise ConfigError(f"modality must be rgb, depth or all, got {modality!r}", field="modality")
        roles = names[modality] + (["gesture"] if gesture else [])
        return cls([pretrained_path(PRETRAINED[r]) for r in roles], backend=backend, **kwargs)

    @property
    def modalities(self) -> tuple[str, ...]:
        out = []
        if self.pose is not None or self.detector is not None:
            out.append("rgb")
        if self.depth is not None:
            out.append("depth")
        return tuple(out)

    # ---------------------------------------------------------------------------------------------- calling

    def __call__(
        self,
        frame: np.ndarray,
        *,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        intrinsics: Intrinsics | None = None,
        modality: str | None = None,
    ) -> list[Hand]:
        """Hands in one frame.

        Args:
            frame: (H, W, 3) uint8 RGB, or (H, W) depth in mm (uint16 / float; 0 = no measurement).
            boxes: hand boxes [x0, y0, x1, y1] px to use instead of the detector (RGB), or to look for the centre of
                mass in (depth).
            intrinsics: the depth camera for this frame.
            modality: "rgb" or "depth" (default: RGB for (H, W, 3) arrays, depth for (H, W) ones when a depth
                model is loaded).
        """
        modality = modality or self._modality_of(frame)
        if modality == "depth":
            return self.estimate_depth(frame, intrinsics=intrinsics, boxes=boxes)
        if modality != "rgb":
            raise ConfigError(f"modality must be rgb or depth, got {modality!r}", field="modality")
        return self.estimate_rgb(frame, boxes=boxes)

    def _modality_of(self, frame: Any) -> str:
        if isinstance(frame, np.ndarray) and frame.ndim == 2 and "depth" in self.modalities:
            return "depth"
        if "rgb" in self.modalities:
            return "rgb"
        return "depth"

    # ---------------------------------------------------------------------------------------------- RGB

    def detect(self, frame: np.ndarray, min_score: float | None = None, extra_looks: bool = True) -> DetectorOutput:
        """Run the detector on an (H, W, 3) uint8 frame (boxes in frame px, and its skeleton map); a box detector
        keeps the boxes scoring ``min_score`` (default: its calibrated threshold) or more, and looks again at a frame
        without a hand turned and in tiles when its sidecar sets them and ``extra_looks``
        (:class:`~handpose.inference.stages.DetectorStage`)."""
        if self.detector is None:
            raise ConfigError("no detector loaded: pass boxes, or add a skeleton_unet checkpoint", field="models")
        return self.detector(check_rgb_frame(frame), min_score, extra_looks)

    def estimate_rgb(
        self, frame: np.ndarray, *, boxes: Sequence[Sequence[float]] | np.ndarray | None = None
    ) -> list[Hand]:
        """Detection (or the given boxes) -> pose -> gesture on one RGB frame."""
        frame = check_rgb_frame(frame)
        h, w = frame.shape[:2]
        det: DetectorOutput | None = None
        if boxes is None:
            det = self.detect(frame)
            found = [(d.box, d.score) for d in det.detections]
        else:
            found = [(check_box(b, w, h), 1.0) for b in boxes]
            if self.detector is not None and self.pose is not None and self.pose.uses_skeleton and found:
                det = self.detect(frame)  # the skeleton channel still comes from the detector's map
        if not found and boxes is not None:
            return []
        if self.pose is None:  # detector only: boxes without joints
            return [self._box_only(box, score) for box, score in found]
        hands = self._posed(frame, found, det, w, h)
        threshold = self.detection_min_score if boxes is None else (self.min_hand_score or 0.0)
        hands = [hd for hd in hands if hd.score >= threshold]
        if boxes is None:
            if self.min_presence is not None:
                hands = self._present(hands)
                if not hands and found and self.veto_looks and det is not None and not det.missing_looked:
                    assert self.detector is not None
                    looked = [(d.box, d.score) for d in self.detector.looks_for_a_missing_hand(frame)]
                    hands = self._present([hd for hd in self._posed(frame, looked, det, w, h) if hd.score >= threshold])
            hands += self.rescue_unsure(frame, det, hands)
            if not hands:
                return self.pose_whole_frame(frame, det)
        self.add_gestures(hands)
        return hands

    def _present(self, hands: list[Hand]) -> list[Hand]:
        """The presence veto: the ``hands`` whose presence reaches ``min_presence`` (or who have none)."""
        return [hd for hd in hands if hd.presence is None or hd.presence >= (self.min_presence or 0.0)]

    def _posed(self, frame: np.ndarray, found: list, det: DetectorOutput | None, w: int, h: int) -> list[Hand]:
        """Hands posed from (box, score) pairs (:meth:`pose_boxes`), in order."""
        if not found:
            return []
        poses = self.pose_boxes(frame, [box for box, _ in found], det)
        return [self._hand(p, box, score, w, h) for p, (box, score) in zip(poses, found)]

    def rescue_unsure(self, frame: np.ndarray, det: DetectorOutput | None, kept: list[Hand]) -> list[Hand]:
        """The presence rescue (``rescue_presence``): while fewer than ``max_hands`` hands are ``kept``, the
        detector's unsure boxes (best first) that overlap no kept box by more than its NMS IoU are posed, and each
        whose presence reaches the threshold (and whose score reaches the detection minimum) is kept -> the hands
        rescued (none when off)."""
        if self.rescue_presence is None or det is None or not det.unsure or self.detector is None:
            return []
        if self.rescue_second_only and not kept:
            return []
        h, w = frame.shape[:2]
        nms_iou = float(getattr(self.detector.codec, "nms_iou", 0.45))
        taken = [hd.bbox for hd in kept]
        rescued: list[Hand] = []
        for d in det.unsure:
            if len(kept) + len(rescued) >= self.max_hands:
                break
            if taken and box_iou(d.box[None], np.array(taken)).max() > nms_iou:
                continue
            hand = self._posed(frame, [(d.box, d.score)], det, w, h)[0]
            if hand.presence is not None and hand.presence >= self.rescue_presence \
                    and hand.score >= self.detection_min_score:  # fmt: skip
                rescued.append(hand)
                taken.append(hand.bbox)
        return rescued

    def pose_whole_frame(self, frame: np.ndarray, det: DetectorOutput | None) -> list[Hand]:
        """The whole-frame look (``whole_frame_presence``): the pose model on the frame as the hand's box (with one
        second look, whatever ``pose.repose_looks``); one hand when its presence reaches the threshold, boxed by the
        box drawn around its joints (cut to the frame) and scored by its presence times its mean joint confidence;
        else none."""
        if self.pose is None or self.whole_frame_presence is None:
            return []
        h, w = frame.shape[:2]
        frame_box = np.array([0.0, 0.0, w, h])
        p = self.pose_boxes(frame, [frame_box], det, looks=1)[0]  # further looks correct a box, not search a frame
        presence = p.extra.get("presence")
        drawn = self.pose.box_of_joints(p.joints_2d, p.confidence) if p.joints_2d is not None else None
        if presence is None or presence < self.whole_frame_presence or drawn is None:
            return []
        hand = self._hand(p, np.clip(drawn, 0.0, [w, h, w, h]), float(presence), w, h)
        if hand.score < self.detection_min_score:
            return []
        self.add_gestures([hand])
        return [hand]

    def pose_boxes(
        self, frame: np.ndarray, boxes: Sequence[np.ndarray], det: DetectorOutput | None, looks: int | None = None
    ) -> list:
        """The pose model on the crops of hand boxes [x0, y0, x1, y1] frame px, with its second look: a hand whose
        joints' box overlaps its box by IoU under ``pose.repose_iou`` is posed again from the joints' box, up to
        ``pose.repose_looks`` times (each look from the box of the previous look's joints, while that box and the
        previous look's box still overlap by IoU under the threshold), and the pose with the highest mean joint
        confidence is kept (:meth:`PoseStage.second_look`); ``looks`` sets the most looks instead (0: none). One
        :class:`PoseOutput` per box, in order; the box stays the hand's ``bbox`` (the detector's or the caller's)
        whichever pose is kept, and the hand's score uses the kept pose's confidence."""
        pose = self.pose
        assert pose is not None
        limit = pose.repose_looks if looks is None else int(looks)
        if limit < 0:
            raise ValueError(f"looks must be >= 0, got {looks}")
        crops = [pose.plan_from_box(b) for b in boxes]
        poses = pose(frame, crops, [self._skeleton_for(c, det) for c in crops])
        size = (frame.shape[1], frame.shape[0])
        last = [(p, np.asarray(b, np.float64)) for p, b in zip(poses, boxes)]  # each hand's latest pose and its box
        for _ in range(limit):
            planned = [pose.second_look(p, b, size) for p, b in last]
            again = [(k, c) for k, c in enumerate(planned) if c is not None]
            if not again:
                break
            pose.second_looks += len(again)
            second = pose(frame, [c for _, c in again], [self._skeleton_for(c, det) for _, c in again])
            for (k, _), p in zip(again, second):
                joints_box = pose.box_of_joints(last[k][0].joints_2d, last[k][0].confidence)
                last[k] = (p, joints_box)  # second_look gave a crop, so the previous joints had a box
                if _mean_confidence(p) > _mean_confidence(poses[k]):
                    poses[k] = p
        return poses

    def _skeleton_for(self, crop: Any, det: DetectorOutput | None) -> np.ndarray | None:
        if self.pose is None or not self.pose.uses_skeleton or det is None or det.prob is None:
            return None
        return skeleton_from_map(det.prob, det.info, crop)

    def skeleton_from_previous(self, joints: np.ndarray, crop: Any, frame_size: tuple[int, int]) -> np.ndarray:
        """Tracking mode's skeleton channel: the detector's target skeleton of ``joints`` seen in ``crop``."""
        scale = det_scale_for(frame_size, self.skel_input)  # type: ignore[arg-type]
        return skeleton_from_joints(joints, crop, scale, self.skel_line, self.skel_sigma)

    def _box_only(self, box: np.ndarray, score: float) -> Hand:
        nan2 = np.full((NUM_JOINTS, 2), np.nan)
        return Hand(np.asarray(box, np.float64), nan2, np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS, bool), score)

    def _hand(self, p: PoseOutput, box: np.ndarray | None, det_score: float, w: int, h: int) -> Hand:
        j2 = p.joints_2d if p.joints_2d is not None else np.full((NUM_JOINTS, 2), np.nan)
        conf = np.clip(np.asarray(p.confidence, np.float64), 0.0, 1.0)  # +-inf -> 1 / 0 ...
        conf[np.isnan(conf)] = 0.0  # ... and NaN -> 0
        # comparisons with NaN are False without a warning: a missing joint is not in the image
        inside = (j2[:, 0] >= -0.5) & (j2[:, 0] <= w - 0.5) & (j2[:, 1] >= -0.5) & (j2[:, 1] <= h - 0.5)
        if box is None or not np.all(np.isfinite(box)):
            box = joints_box(j2)
        hand = Hand(
            bbox=np.asarray(box, np.float64),
            joints_2d=np.asarray(j2, np.float64),
            confidence=conf,
            in_image=inside & np.all(np.isfinite(j2), axis=1),
            score=float(det_score * conf.mean()),
            presence=p.extra.get("presence"),
        )
        if p.joints_3d is not None:
            hand.joints_3d = np.asarray(p.joints_3d, np.float64)
            is_camera = p.crop.mode == "cube"
            hand.joints_3d_frame = "camera" if is_camera else "root_relative"
            if is_camera:
                y_down = p.crop.intrinsics is None or p.crop.intrinsics.fy > 0
                hand.handedness, hand.handedness_score = handedness_from_3d(hand.joints_3d, y_down=y_down)
        return hand

    def add_gestures(self, hands: list[Hand]) -> None:
        """Label each hand with the gesture model (in place; nothing without one)."""
        if self.gesture is None or not hands:
            return
        for hand, res in zip(hands, self.gesture([hd.joints_2d for hd in hands])):
            if res is not None:
                hand.gesture_id, hand.gesture, hand.gesture_score = res

    # ---------------------------------------------------------------------------------------------- depth

    def depth_intrinsics(self, frame_size: tuple[int, int], intrinsics: Intrinsics | None = None) -> Intrinsics:
        """The intrinsics for a (W, H) depth frame: the given ones, the estimator's, else the synthetic world's
        default camera (ICVL-like, f = 241.42 px at 320x240) rescaled to the frame size."""
        intr = intrinsics or self.intrinsics
        if intr is not None:
            return intr
        base = intrinsics_for("synthetic")
        return base.scaled(frame_size[0] / base.width, frame_size[1] / base.height)

    def estimate_depth(
        self,
        depth: np.ndarray,
        *,
        intrinsics: Intrinsics | None = None,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        centers_mm: Sequence[np.ndarray] | None = None,
    ) -> list[Hand]:
        """3D hands in one depth frame (mm): one hand at the closest object's centre of mass, or one per box."""
        if self.depth is None:
            raise ConfigError("no depth model loaded (add a depth checkpoint such as light_depth_s)", field="models")
        d = check_depth_frame(depth)
        h, w = d.shape
        intr = self.depth_intrinsics((w, h), intrinsics)
        crops = []
        if centers_mm is not None:
            crops = [self.depth.plan(d, intr, center_mm=np.asarray(c, np.float64)) for c in centers_mm]
        elif boxes is not None:
            for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
                crops.append(self.depth.plan(d, intr, box=check_box(b, w, h)))
        else:
            crops = [self.depth.plan(d, intr)]
        crops = [c for c in crops if c is not None]
        if not crops:
            return []
        x = self.depth.preprocess(d, crops)
        # a hand is there when enough pixels lie inside the cube (normalised depth < 1: valid, not behind it)
        keep = np.flatnonzero(np.count_nonzero(x[:, 0] < 0.999, axis=(1, 2)) >= self.depth.min_hand_pixels)
        if len(keep) == 0:
            return []
        crops = [crops[i] for i in keep]
        poses = self.depth.postprocess(self.depth.infer(x[keep]), crops)
        hands = [self._hand(p, None, 1.0, w, h) for p in poses]
        hands = [hd for hd in hands if hd.score >= (self.min_hand_score or 0.0)]
        self.add_gestures(hands)
        return hands

    # ---------------------------------------------------------------------------------------------- video

    def track(
        self,
        frames: Iterable[np.ndarray],
        *,
        fps: float = 30.0,
        smoothing: OneEuroConfig | bool | None = True,
        tracking: bool = True,
        timestamps: Iterable[float] | None = None,
    ) -> Iterator[list[Hand]]:
        """Hands per frame of a video, streamed (frames are consumed one at a time).

        Args:
            frames: RGB (H, W, 3) uint8 frames (or depth frames for a depth-only estimator).
            fps: frame rate for the smoothing filter when no timestamps are given.
            smoothing: One Euro filter settings, True for the trackers' default (relative to the hand's size,
                :func:`~handpose.inference.smoothing.hand_smoothing`), False / None for none.
            tracking: crop each frame from the previous frame's joints and run the detector only when a hand is
                lost (or fewer than ``max_hands`` are tracked); False runs the detector on every frame.
            timestamps: seconds per frame (default: index / fps).
        """
        from .tracking import VideoTracker

        tracker = VideoTracker(self, smoothing=smoothing, tracking=tracking)
        stamps = iter(timestamps) if timestamps is not None else None
        for i, frame in enumerate(frames):
            t = next(stamps) if stamps is not None else i / float(fps)
            yield tracker.update(frame, t)


def role_of(model: Model) -> str:
    """The pipeline role of a loaded model: "detector", "pose", "depth" or "gesture"."""
    info = model.info
    if info.task in ("skeleton", "box", "boxes"):
        return "detector"
    if info.task == "gesture":
        return "gesture"
    if info.modality == "depth":
        return "depth"
    if info.modality == "rgb" and info.task in ("pose2d", "pose3d"):
        return "pose"
    raise CheckpointError(f"model {info.name!r} (task {info.task}, {info.modality}) has no role in the pipeline",
                          path=info.source)  # fmt: skip
