"""Video: hands followed from frame to frame, the detector run only when needed, joints smoothed over time.

Tracking mode (as MediaPipe Hands does it): a tracked hand's next crop is planned from its joints in the previous
frame (the same square crop as training crops, around the joints' box with the model's margin), and its skeleton
channel is drawn from those joints (:func:`handpose.inference.stages.skeleton_from_joints`). A hand is lost when the
pose model's hand-presence probability of its crop falls below ``lost_presence`` (a model with that output and a
calibrated threshold, as MediaPipe's landmark model decides it), else when its mean joint confidence falls below
``lost_threshold``. The detector runs on a frame when fewer than ``max_hands`` hands
are tracked, and on every ``redetect_every``-th frame to confirm the followed hands: a followed hand that no
detection confirms is dropped, and one that a detection confirms (overlapping its joints' box, or centred in the
crop it was posed in: joints can drift onto part of the hand while the crop still holds it) is posed again from the
detection's crop, the surer of the two poses kept (``reseed``). (The skeleton channel drawn from the previous
joints keeps the pose model's confidence up even on a crop that has slipped off the hand, so confidence alone
catches only gross failures.)
New detections that overlap a tracked hand are ignored; one where a hand dropped on this frame was (overlapping its
joints' box, or centred in the crop it was last followed in: joints that shrank onto a part of the hand leave a box
that a detection of the whole hand hardly overlaps) takes over its track (id and filter state). Two detection
thresholds: a new hand needs the detector's ``min_score``, while a box where a hand was in the previous frame
(continuing a dropped track, or confirming a followed one) needs only its ``keep_score`` (by default half of it): a
hand that turns or blurs for a moment is not lost, and a low-score box elsewhere starts nothing.

Smoothing: each track owns a One Euro filter (:mod:`handpose.inference.smoothing`) over its 2D joints (and 3D
joints), fed with the frame timestamps. Crops are planned from the raw (unsmoothed) joints, so the filter's lag
never drags the crop behind a moving hand. With tracking off, hands are matched to the previous frame's by box
overlap so that their filters carry on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .results import Hand
from .smoothing import OneEuroConfig, OneEuroFilter, hand_smoothing
from .stages import joints_box
from .stages import overlap as _iou

if TYPE_CHECKING:  # pragma: no cover
    from .estimator import HandPoseEstimator
    from .stages import DetectorOutput


@dataclass
class Track:
    """One followed hand: its raw joints in the last frame and its smoothing filters."""

    track_id: int
    joints: np.ndarray  # (21, 2) frame px, raw
    confidence: np.ndarray  # (21,)
    det_score: float
    filter_2d: OneEuroFilter
    filter_3d: OneEuroFilter
    region: np.ndarray | None = None  # (4,) frame px: the crop it was last posed in, when followed


def hand_size(joints: np.ndarray) -> float | None:
    """The longest side of :func:`joints_box` of a hand's joints ((21, 2) px or (21, 3) mm), None when it has no
    extent (fewer than two distinct finite joints): the scale of a relative One Euro filter."""
    box = joints_box(joints)
    side = float(np.max(box[len(box) // 2 :] - box[: len(box) // 2]))
    return side if side > 0 else None


def _holds(region: np.ndarray, box: np.ndarray) -> bool:
    """Whether the centre of ``box`` lies inside ``region`` (both [x0, y0, x1, y1])."""
    c = (box[:2] + box[2:]) / 2
    return bool(np.all(c >= region[:2]) and np.all(c <= region[2:]))


def _where_it_was(box: np.ndarray, joints: np.ndarray, region: np.ndarray | None) -> float:
    """How surely a detection ``box`` shows a followed hand (0: not at all): the IoU of the box with the hand's joints'
    box when over 0.1, else 0.1 when the box's centre lies in the crop the hand was posed in (``region``; joints can
    drift onto part of the hand, and shrink there, while the crop still holds the hand), else 0. All frame px."""
    iou = _iou(joints_box(joints), box)
    if iou > 0.1:
        return iou
    return 0.1 if region is not None and _holds(region, box) else 0.0


class VideoTracker:
    """Per-frame hands of a video, with tracking and smoothing state.

    Args:
        estimator: the :class:`HandPoseEstimator` whose models run.
        smoothing: One Euro settings; True = :func:`~handpose.inference.smoothing.hand_smoothing` (relative to the
            hand's size), False / None = off.
        tracking: follow hands from their previous joints (False: detect on every frame).
        lost_threshold: mean joint confidence under which a tracked hand is lost (default: the estimator's
            ``lost_confidence``, calibrated with its pose model).
        overlap_iou: a new detection overlapping a tracked hand's box by more than this is the same hand.
        redetect_every: run the detector on every n-th frame even when all hands are followed, and drop the followed
            hands it does not confirm (0: never); the detector's turned and tiled looks at a frame without a hand
            run on those frames only (0 or 1: on every frame).
        keep_score: the detector score that continues a hand seen in the previous frame (default: the detector's
            ``keep_score``; its ``min_score`` turns the second threshold off).
        lost_presence: hand-presence probability under which a followed hand is lost (default: the estimator's
            ``lost_presence``, unless ``lost_threshold`` is given alone: then the confidence rule decides). Used only
            when the pose model gives a presence, and then instead of ``lost_threshold``.
        reseed: on the frames where the detector confirms the followed hands, pose each one again from its
            detection's crop and keep that pose when the model is surer of it (its mean joint confidence is higher):
            a followed crop that drifted onto part of the hand is put back on the whole hand.
    """

    def __init__(
        self,
        estimator: HandPoseEstimator,
        smoothing: OneEuroConfig | bool | None = True,
        tracking: bool = True,
        lost_threshold: float | None = None,
        overlap_iou: float = 0.3,
        redetect_every: int = 10,
        keep_score: float | None = None,
        lost_presence: float | None = None,
        reseed: bool = True,
    ) -> None:
        self.est = estimator
        if smoothing is True:
            smoothing = hand_smoothing()
        self.smoothing: OneEuroConfig = smoothing if isinstance(smoothing, OneEuroConfig) else \
            OneEuroConfig(enabled=False)  # fmt: skip
        self.tracking = bool(tracking) and estimator.pose is not None
        self.lost_threshold = estimator.lost_confidence if lost_threshold is None else float(lost_threshold)
        if lost_presence is not None:
            self.lost_presence: float | None = float(lost_presence)
        else:
            self.lost_presence = None if lost_threshold is not None else estimator.lost_presence
        self.overlap_iou = float(overlap_iou)
        self.redetect_every = max(0, int(redetect_every))
        self.reseed = bool(reseed)
        det = estimator.detector
        self.keep_score = keep_score if keep_score is not None else (det.keep_score if det is not None else None)
        self.tracks: list[Track] = []
        self._next_id = 1
        #: how many frames ran the detector (for benchmarks and tests)
        self.detector_runs = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget every tracked hand (for example at a scene cut)."""
        self.tracks = []

    def is_lost(self, hand: Hand) -> bool:
        """Whether a followed hand's new pose says that its crop no longer holds the hand."""
        if hand.presence is not None and self.lost_presence is not None:
            return hand.presence < self.lost_presence
        return float(np.mean(hand.confidence)) < self.lost_threshold

    def _new_track(self, hand: Hand, det_score: float) -> Track:
        t = Track(self._next_id, hand.joints_2d.copy(), hand.confidence.copy(), det_score,
                  OneEuroFilter(self.smoothing), OneEuroFilter(self.smoothing))  # fmt: skip
        self._next_id += 1
        return t

    def update(self, frame: np.ndarray, timestamp: float) -> list[Hand]:
        """The hands of the next frame (taken at ``timestamp`` seconds)."""
        self.frames += 1
        est = self.est
        if isinstance(frame, np.ndarray) and frame.ndim == 2 and "depth" in est.modalities:
            raw = est.estimate_depth(frame)
            pairs = self._match(raw)
        elif self.tracking:
            pairs = self._track_rgb(frame)
        else:
            self.detector_runs += int(est.detector is not None)
            pairs = self._match(est.estimate_rgb(frame))
        out = []
        for hand, track in pairs:
            hand.track_id = track.track_id
            if self.smoothing.enabled:
                hand.joints_2d = track.filter_2d(hand.joints_2d, timestamp, hand_size(hand.joints_2d))
                if hand.joints_3d is not None:
                    hand.joints_3d = track.filter_3d(hand.joints_3d, timestamp, hand_size(hand.joints_3d))
            out.append(hand)
        if self.smoothing.enabled:
            est.add_gestures(out)  # label the smoothed points
        return out

    def _match(self, hands: list[Hand]) -> list[tuple[Hand, Track]]:
        """Pair each hand with the previous frame's track of the most overlapping box (or a new track)."""
        pairs: list[tuple[Hand, Track]] = []
        free = list(self.tracks)
        for hand in hands:
            box = joints_box(hand.joints_2d)
            best, best_iou = None, self.overlap_iou
            for t in free:
                iou = _iou(box, joints_box(t.joints))
                if iou > best_iou:
                    best, best_iou = t, iou
            if best is None:
                best = self._new_track(hand, hand.score)
            else:
                free.remove(best)
            best.joints, best.confidence = hand.joints_2d.copy(), hand.confidence.copy()
            pairs.append((hand, best))
        self.tracks = [t for _, t in pairs]
        return pairs

    def _confirm(self, frame: np.ndarray, pairs: list[tuple[Hand, Track]], det: DetectorOutput) -> list:
        """The followed hands a detection overlaps, each re-posed from that detection's crop when the pose model is
        surer there (a followed crop can drift onto part of the hand and stay there: the crop still holds a hand)."""
        est = self.est
        assert est.pose is not None
        h, w = frame.shape[:2]
        detections = det.detections
        kept, boxes = [], []
        for hd, t in pairs:
            match = [_where_it_was(d.box, hd.joints_2d, t.region) for d in detections]
            if match and max(match) > 0.0:
                kept.append((hd, t))
                boxes.append(detections[int(np.argmax(match))])
        if not kept or not self.reseed:
            return kept
        # a detection re-poses one followed hand at most (two hands it confirms would become one)
        first = [k for k, d in enumerate(boxes) if all(d is not e for e in boxes[:k])]
        posed = dict(zip(first, est.pose_boxes(frame, [boxes[k].box for k in first], det)))
        out = []
        for k, ((hd, t), d) in enumerate(zip(kept, boxes)):
            if k not in posed:
                out.append((hd, t))
                continue
            fresh = est._hand(posed[k], d.box, d.score, w, h)
            if float(np.mean(fresh.confidence)) > float(np.mean(hd.confidence)) and not self.is_lost(fresh):
                t.joints, t.confidence = fresh.joints_2d.copy(), fresh.confidence.copy()
                hd = fresh
            out.append((hd, t))
        return out

    def _track_rgb(self, frame: np.ndarray) -> list[tuple[Hand, Track]]:
        from .estimator import check_rgb_frame

        est = self.est
        pose = est.pose
        assert pose is not None
        frame = check_rgb_frame(frame)
        h, w = frame.shape[:2]
        pairs: list[tuple[Hand, Track]] = []
        # 1. follow the tracked hands from their previous joints
        live, crops = [], []
        for t in self.tracks:
            crop = pose.plan_from_joints(t.joints, t.confidence)
            if crop is not None:
                live.append(t)
                crops.append(crop)
        if live:
            skels = [est.skeleton_from_previous(t.joints, c, (w, h)) if pose.uses_skeleton else None
                     for t, c in zip(live, crops)]  # fmt: skip
            for t, p in zip(live, pose(frame, crops, skels)):
                hand = est._hand(p, None, t.det_score, w, h)
                if self.is_lost(hand):
                    continue
                t.region = p.crop.frame_box
                hand.tracked = True
                t.joints, t.confidence = hand.joints_2d.copy(), hand.confidence.copy()
                pairs.append((hand, t))
        # 2. detect when fewer hands than wanted are followed, or to confirm them every n-th frame
        confirm = bool(pairs) and self.redetect_every > 0 and (self.frames - 1) % self.redetect_every == 0
        if (len(pairs) < est.max_hands or confirm) and est.detector is not None:
            self.detector_runs += 1
            assert est.detector is not None
            new_score = est.detector.min_score
            low = self.keep_score if self.tracks and self.keep_score is not None else new_score
            # the detector's turned and tiled looks (up to seven more passes on a frame without a hand) on the
            # every-n-th frames only: a hand that shows only to them is found within n frames, and an empty scene
            # costs little more than one pass per frame
            every = self.redetect_every <= 1 or (self.frames - 1) % self.redetect_every == 0
            det = est.detect(frame, min(low, new_score), extra_looks=every)
            if confirm:
                pairs = self._confirm(frame, pairs, det)
            taken = [joints_box(hand.joints_2d) for hand, _ in pairs]
            dropped = [t for t in self.tracks if all(t is not kept for _, kept in pairs)]
            # a box under the detector's threshold may only continue a hand dropped on this frame, where it was
            fresh = [
                d
                for d in det.detections
                if all(_iou(d.box, b) <= self.overlap_iou for b in taken)
                and (d.score >= new_score or any(_where_it_was(d.box, t.joints, t.region) > 0 for t in dropped))
            ]
            fresh = fresh[: est.max_hands - len(pairs)]
            if fresh:
                for d, p in zip(fresh, est.pose_boxes(frame, [d.box for d in fresh], det)):
                    hand = est._hand(p, d.box, d.score, w, h)
                    if hand.score < est.detection_min_score:
                        continue
                    # a hand found again where a track was just dropped keeps its id and its filter's state
                    near = [(_where_it_was(d.box, t.joints, t.region), k) for k, t in enumerate(dropped)]
                    where, k = max(near, default=(0.0, -1))
                    if where > 0:
                        track = dropped.pop(k)
                        track.joints, track.confidence = hand.joints_2d.copy(), hand.confidence.copy()
                    else:
                        track = self._new_track(hand, d.score)
                    pairs.append((hand, track))
        self.tracks = [t for _, t in pairs]
        hands = [hd for hd, _ in pairs]
        if not self.smoothing.enabled:
            est.add_gestures(hands)
        return pairs
