"""The pipeline's stages, each with explicit ``preprocess`` -> ``infer`` -> ``postprocess`` steps in numpy.

RGB ("Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation", then GestureNet of "Multihead
Self Attention Hand Pose Estimation")::

    frame (H, W, 3) uint8
      -> DetectorStage: letterbox to the detector input -> skeleton map -> threshold + region growing -> regions
         grouped into hands -> boxes in frame px (the detector's map is kept for the next stage)
      -> PoseStage: one square crop per box (or per previous-frame hand when tracking) -> RGB [+ skeleton
         channel] -> heatmaps -> joints in crop px -> back to frame px
      -> GestureStage: the 21 points normalised (wrist origin, index-bone unit) -> gesture class

Depth ("Residual Attention Regression for 3D Hand Pose Estimation", "Light Weight Computation and Compact Network
for 3D Hand Pose Estimation from Depth")::

    depth (H, W) mm -> DepthStage: centre of mass of the closest object -> metric cube crop, normalised to [-1, 1]
      -> (u, v, d) in the crop -> back to frame px and camera mm

The skeleton channel of a 4-channel pose model (see :func:`skeleton_from_map` and :func:`skeleton_from_joints`):
it is always *the detector's skeleton map seen in the pose crop*. After a detection the predicted map (detector
input px) is warped into the crop with the composed affine detector input -> frame -> crop, bilinear, so it is
cropped and resized exactly as the image is. In tracking mode the detector does not run; the channel is then the
skeleton the detector is trained to output (its target: lines ``line_width`` and blobs ``blob_sigma`` in detector
px), drawn from the previous frame's joints, at the widths it has in the crop. The small pose models shipped in
``handpose/pretrained`` are trained on exactly these two channels (see ``benchmarks/train_small_models.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..data.crop import (
    ANTIALIAS_MIN_SCALE,
    CropInfo,
    GeometricParams,
    center_of_mass,
    normalize_depth,
    plan_bbox_crop,
    plan_cube_crop,
    plan_whole_frame,
    uncrop,
    warp_frame,
)
from ..data.sample import hand_box
from ..data.skeleton_maps import map_into_crop
from ..errors import CheckpointError, DataError
from ..geometry import Intrinsics, apply_affine, scale_box
from ..metrics import box_iou
from ..skeleton import BONES, NUM_JOINTS
from .backends import Model
from .decoders import decode_pose

_INV255 = np.float32(1.0 / 255.0)

#: default skeleton drawing of the detector's target, in detector px (``skeleton_unet_t``'s codec)
DEFAULT_DETECTOR_LINE_WIDTH = 2.0
DEFAULT_DETECTOR_BLOB_SIGMA = 1.0


def require_task(model: Model, role: str, modality: str, tasks: tuple[str, ...]) -> None:
    """:class:`CheckpointError` naming the file if ``model`` cannot play ``role`` (wrong modality or task)."""
    info = model.info
    if info.modality != modality or info.task not in tasks:
        raise CheckpointError(
            f"holds {info.name!r} ({info.modality} input, task {info.task}); the {role} must be a {modality} model "
            f"with task {' or '.join(tasks)}",
            path=info.source,
        )


# --------------------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Detection:
    """One hand found by the detector (or passed by the caller).

    Attributes:
        box: (4,) [x0, y0, x1, y1] frame px.
        score: hand score in [0, 1].
        foreground: skeleton pixels of the hand's regions (detector px; 0 for boxes from elsewhere).
    """

    box: np.ndarray
    score: float = 1.0
    foreground: int = 0


@dataclass
class DetectorOutput:
    """The detector's result for one frame: the hands, its probability map and the letterbox used."""

    detections: list[Detection]
    prob: np.ndarray | None
    info: CropInfo
    #: a box detector's first-pass boxes under the threshold, from ``zoom_in_floor`` times its ``min_score`` where
    #: the zoomed-in look is on and the full threshold was asked for, else from its ``keep_score`` (best first; what
    #: the zoomed-in look looks at again)
    unsure: list[Detection] = field(default_factory=list)
    #: whether the turned and tiled looks (:meth:`DetectorStage.looks_for_a_missing_hand`) already ran on the frame
    missing_looked: bool = False


def _box_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Chebyshev gap in px between two boxes [x0, y0, x1, y1] (0 when they touch or overlap)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return float(max(dx, dy))


def group_regions(regions: list[tuple[np.ndarray, int]], gap_fraction: float = 0.1, min_gap: float = 2.0) -> list:
    """Merge skeleton regions that belong to one hand (a finger cut off from the palm by a weak pixel).

    Two regions join when the gap between their boxes is at most ``max(min_gap, gap_fraction * longer side of the
    larger box)`` px. Returns [(box, area)] per group, largest area first.
    """
    n = len(regions)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            a, b = regions[i][0], regions[j][0]
            side = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]) + 1.0
            if _box_gap(a, b) <= max(min_gap, gap_fraction * side):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        boxes = np.stack([regions[k][0] for k in members])
        box = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])
        out.append((box, int(sum(regions[k][1] for k in members))))
    out.sort(key=lambda g: -g[1])
    return out


#: the tiled look's tiles: this share of the frame's width and height (four tiles overlap by a quarter of it)
TILE = 0.625
#: the tiled look runs on frames that the letterbox shrinks to this scale (detector px per frame px) or less: a tile
#: shows their hands 1 / TILE = 1.6 times larger, with detail the shrunk frame lost
TILE_MAX_SCALE = 0.75
#: the zoomed-in look's region: a square of this many times an unsure box's longer side, about its centre
ZOOM_IN_CONTEXT = 2.0
#: the zoomed-in look runs only where its region shows the box at least this many times larger than the whole frame
ZOOM_IN_MIN_GAIN = 1.5


class DetectorStage:
    """Hand detection on the letterboxed frame: by the skeleton UNet, a box regressor, or the SSD hand detector
    ("boxes": several scored boxes per frame, kept above ``min_score`` after non-maximum suppression).

    Args:
        model: a model with task "skeleton", "box" or "boxes".
        max_hands: keep at most this many hands (largest skeleton areas first).
        min_foreground: skeleton pixels (detector px) a hand needs; default: the model's codec setting.
        min_score: a box detector's score a hand needs; default: the value calibrated with the model (its
            sidecar's ``inference.min_score``), else its codec's threshold.
        keep_fraction: video tracking continues a hand seen in the previous frame with a box scoring at least
            ``keep_fraction * min_score`` where it was (:attr:`keep_score`; two thresholds, as trackers that keep
            low-score boxes for existing tracks do); 1 turns this off.
        zoom_out: a box detector's second look at close-ups (0 = off; default: its sidecar's
            ``inference.zoom_out``, else off). A hand that fills most of the frame gets a well-placed box but a low
            score (the detector has seen few hands that large); when the first pass has such a box (longer side at
            least ``zoom_out_trigger`` of the input's shorter side, scoring at least :attr:`keep_score` but under
            the threshold) and found fewer than ``max_hands`` hands, the frame is letterboxed again shrunk by
            ``zoom_out`` (a hand filling 90 % of it fills about half the input) and the boxes of both passes that
            reach the threshold are merged by non-maximum suppression, those of the second pass only where they do
            not overlap a first-pass box already over the threshold (IoU over the codec's NMS IoU): it looks for
            the hands the first pass is unsure of, and does not replace a sure box.
        turn_score: a box detector's turned look (0 = off; default: its sidecar's ``inference.turn_score``, else
            off). The detector learnt hands from photos where they point up, and finds few that point sideways or
            down; when a frame gives no hand at all, it is looked at again turned by 90, 180 and 270 degrees (each
            look with the second look above) and the boxes scoring ``turn_score`` or more, turned back, are kept
            (non-maximum suppression across the turns). ``turn_score`` is set higher than :attr:`min_score`, since a
            turned scene shows the detector things it has not learnt to reject. Costs up to three detector passes,
            on frames without a hand only.
        tile_score: a box detector's tiled look (0 = off; default: its sidecar's ``inference.tile_score``, else
            off). The frame is shrunk to the detector's input, so a hand that is small in a large frame shrinks to a
            few input pixels; when a frame gives no hand at all and the letterbox shrinks it to
            :data:`TILE_MAX_SCALE` or less, four overlapping tiles of it (each :data:`TILE` of its width and
            height, at its corners) are looked at (each with the second look) and their boxes scoring
            ``tile_score`` or more kept, merged with the turned look's by non-maximum suppression. Costs up to four
            detector passes, on frames without a hand only.
        zoom_in_score: a box detector's zoomed-in look (0 = off; default: its sidecar's ``inference.zoom_in_score``,
            else off). A hand that the shrunk frame shows small often gets a box in place that scores under the
            threshold. Each first-pass box scoring at least ``zoom_in_floor`` times :attr:`min_score` (default: its
            sidecar's ``inference.zoom_in_floor``, else ``keep_fraction``) but under it, apart from
            the kept boxes, is looked at again in a square region of :data:`ZOOM_IN_CONTEXT` times its longer side
            (cut to the frame) where that region shows it at least :data:`ZOOM_IN_MIN_GAIN` times larger, best box
            first, while fewer than ``max_hands`` hands are kept; that look's best box overlapping it (IoU >= 0.5)
            and scoring ``zoom_in_score`` or more is kept. Runs with the extra looks (still images), before the
            turned and tiled looks; costs one detector pass per such box.
        balanced_score: a box detector's white-balanced look (0 = off; default: its sidecar's
            ``inference.balanced_score``, else off). The detector learnt hands under a few webcams' indoor light, and
            a colour cast (cool light) hides skin from it; when a frame gives no hand at all, it is looked at again
            balanced by the grey-world assumption (:func:`grey_world_balanced`) and the boxes scoring
            ``balanced_score`` or more kept, merged with the turned and tiled looks' by non-maximum suppression.
            Costs one detector pass, on frames without a hand only.
        mirror_score: a box detector's mirrored look (0 = off; default: its sidecar's ``inference.mirror_score``,
            else off). The detector learnt from frames mirrored half the time, but its filters are not symmetric, so
            a frame mirrored left-right gets a second opinion, not the first one mirrored; when a frame gives no
            hand at all, it is looked at again mirrored and the boxes scoring ``mirror_score`` or more, mirrored
            back, kept, merged with the other looks' by non-maximum suppression. Costs one detector pass, on frames
            without a hand only.
    """

    def __init__(
        self,
        model: Model,
        max_hands: int = 2,
        min_foreground: float | None = None,
        min_score: float | None = None,
        keep_fraction: float | None = None,
        zoom_out: float | None = None,
        zoom_out_trigger: float = 0.45,
        turn_score: float | None = None,
        tile_score: float | None = None,
        zoom_in_score: float | None = None,
        zoom_in_floor: float | None = None,
        balanced_score: float | None = None,
        mirror_score: float | None = None,
    ) -> None:
        require_task(model, "detector", "rgb", ("skeleton", "box", "boxes"))
        self.model = model
        self.codec = model.codec
        self.input_size: tuple[int, int] = model.info.input_size  # type: ignore[assignment]
        self.max_hands = int(max_hands)
        default_fg = float(getattr(self.codec, "min_foreground", 0.0))
        self.min_foreground = float(model.info.extra.get("min_foreground", default_fg)) if min_foreground is None \
            else float(min_foreground)  # fmt: skip
        self.line_width = float(getattr(self.codec, "line_width", DEFAULT_DETECTOR_LINE_WIDTH))
        self.blob_sigma = float(getattr(self.codec, "blob_sigma", DEFAULT_DETECTOR_BLOB_SIGMA))
        default_score = float(model.info.extra.get("min_score", getattr(self.codec, "score_threshold", 0.5)))
        self.min_score = default_score if min_score is None else float(min_score)
        default_keep = float(model.info.extra.get("keep_fraction", 0.5)) if model.info.task == "boxes" else 1.0
        self.keep_fraction = default_keep if keep_fraction is None else float(keep_fraction)
        if not 0.0 <= self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in [0, 1], got {self.keep_fraction}")
        default_zoom = float(model.info.extra.get("zoom_out", 0.0)) if model.info.task == "boxes" else 0.0
        self.zoom_out = default_zoom if zoom_out is None else float(zoom_out)
        if not 0.0 <= self.zoom_out < 1.0:
            raise ValueError(f"zoom_out must be in [0, 1), got {self.zoom_out}")
        self.zoom_out_trigger = float(zoom_out_trigger)
        self.turn_score = self._look_score("turn_score", turn_score)
        self.tile_score = self._look_score("tile_score", tile_score)
        self.zoom_in_score = self._look_score("zoom_in_score", zoom_in_score)
        self.balanced_score = self._look_score("balanced_score", balanced_score)
        self.mirror_score = self._look_score("mirror_score", mirror_score)
        #: the balanced look also brings the frame to a standard exposure (the sidecar's
        #: ``inference.balance_exposure``; :func:`grey_world_balanced`)
        self.balance_exposure = bool(model.info.extra.get("balance_exposure", False))
        default_floor = float(model.info.extra.get("zoom_in_floor", self.keep_fraction))
        self.zoom_in_floor = default_floor if zoom_in_floor is None else float(zoom_in_floor)
        if not 0.0 < self.zoom_in_floor <= 1.0:
            raise ValueError(f"zoom_in_floor must be in (0, 1], got {self.zoom_in_floor}")
        #: how many frames took the second look / the turned look / the tiled look, and how many boxes the zoomed-in
        #: look (for benchmarks and tests)
        self.second_looks = 0
        self.turned_looks = 0
        self.tiled_looks = 0
        self.zoomed_in_looks = 0
        self.balanced_looks = 0
        self.mirrored_looks = 0
        #: the detector box overshoots the joints by about the skeleton's half line width / blob radius
        self.box_shrink = float(model.info.extra.get("box_shrink_px", max(self.line_width / 2, 1.18 * self.blob_sigma)))

    def _look_score(self, name: str, given: float | None) -> float:
        """An extra look's score: ``given``, else the sidecar's ``inference.<name>`` (0 = off; box detectors only)."""
        boxes = self.model.info.task == "boxes"
        value = float(self.model.info.extra.get(name, 0.0)) if given is None and boxes else float(given or 0.0)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
        return value

    @property
    def keep_score(self) -> float:
        """The score a box needs to continue a hand followed in the previous frame (at most :attr:`min_score`)."""
        return self.keep_fraction * self.min_score

    def plan(self, frame_size: tuple[int, int]) -> CropInfo:
        """The letterbox of a (W, H) frame into the detector input."""
        return plan_whole_frame(frame_size, self.input_size)

    def scale(self, frame_size: tuple[int, int]) -> float:
        """Detector px per frame px for a (W, H) frame."""
        return float(min(self.input_size[1] / frame_size[0], self.input_size[0] / frame_size[1]))

    def preprocess(self, frame: np.ndarray, info: CropInfo | None = None) -> tuple[np.ndarray, CropInfo]:
        """(H, W, 3) uint8 -> (1, 3, h, w) float32 in [0, 1] and the letterbox :class:`CropInfo` (``info``, or
        :meth:`plan`'s)."""
        info = self.plan((frame.shape[1], frame.shape[0])) if info is None else info
        small = warp_frame(frame, info)
        x = (small.transpose(2, 0, 1)[None] * _INV255).astype(np.float32, copy=False)
        return x, info

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.model.run(x)

    def postprocess(
        self, outputs: dict[str, np.ndarray], info: CropInfo, min_score: float | None = None
    ) -> DetectorOutput:
        """Outputs of one frame -> hands with boxes in frame px (boxes scoring ``min_score``, default
        :attr:`min_score`, or more)."""
        inv = info.inverse_affine
        if self.model.info.task == "boxes":
            threshold = self.min_score if min_score is None else float(min_score)
            return DetectorOutput(self._boxes(outputs, info, threshold)[: self.max_hands], None, info)
        if self.model.info.task == "box":
            dec = self.codec.decode(outputs)
            dets = []
            if bool(dec["has_hand"][0]) and np.all(np.isfinite(dec["boxes"][0])):
                dets.append(Detection(self._to_frame(dec["boxes"][0], inv, 0.0), float(dec["score"][0])))
            return DetectorOutput(dets, None, info)
        from ..codecs.skeleton import find_hand_regions

        prob = np.asarray(outputs["skeleton"], dtype=np.float32)[0, 0]
        _, regions = find_hand_regions(
            prob,
            getattr(self.codec, "threshold", 0.5),
            getattr(self.codec, "grow_threshold", 0.25),
            getattr(self.codec, "min_region_area", 4),
        )
        dets = []
        for box, area in group_regions(regions):
            if area < self.min_foreground:
                continue
            score = area / (area + max(self.min_foreground, 1e-9))
            dets.append(Detection(self._to_frame(box, inv, self.box_shrink), float(score), int(area)))
            if len(dets) >= self.max_hands:
                break
        return DetectorOutput(dets, prob, info)

    @staticmethod
    def _to_frame(box: np.ndarray, inv: np.ndarray, shrink: float) -> np.ndarray:
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hx, hy = max((x1 - x0) / 2 - shrink, 0.5), max((y1 - y0) / 2 - shrink, 0.5)
        corners = apply_affine(np.array([[cx - hx, cy - hy], [cx + hx, cy + hy]]), inv)
        return np.concatenate([corners.min(axis=0), corners.max(axis=0)])

    def __call__(self, frame: np.ndarray, min_score: float | None = None, extra_looks: bool = True) -> DetectorOutput:
        """The hands of an (H, W, 3) uint8 frame: the first look (with the second look where due) and, with
        ``extra_looks``, the zoomed-in look at its unsure boxes and, when that gives no hand, the turned and tiled
        looks (video tracking asks for them on some frames only)."""
        out = self._look(frame, min_score)
        if not extra_looks or self.model.info.task != "boxes":
            return out
        if self.zoom_in_score and out.unsure and len(out.detections) < self.max_hands:
            zoomed = self._zoomed_in_look(frame, out.unsure, out.detections)
            if zoomed:
                out = DetectorOutput(self._merge(out.detections + zoomed), None, out.info, out.unsure)
        if out.detections:
            return out
        found = self.looks_for_a_missing_hand(frame)
        return DetectorOutput(found, None, out.info, out.unsure, missing_looked=True)

    def looks_for_a_missing_hand(self, frame: np.ndarray) -> list[Detection]:
        """The tiled look (a large frame), the turned, white-balanced and mirrored looks of a frame that gave no
        hand, merged, best first, at most ``max_hands`` (none where all are off)."""
        found = []
        if self.tile_score and self.scale((frame.shape[1], frame.shape[0])) <= TILE_MAX_SCALE:
            found += self._tiled_look(frame)
        if self.turn_score:
            found += self._turned_look(frame)
        if self.balanced_score:
            self.balanced_looks += 1
            balanced = grey_world_balanced(frame, exposure=self.balance_exposure)
            found += self._look(balanced, self.balanced_score).detections
        if self.mirror_score:
            self.mirrored_looks += 1
            w = frame.shape[1]
            for d in self._look(np.ascontiguousarray(frame[:, ::-1]), self.mirror_score).detections:
                x0, y0, x1, y1 = (float(v) for v in d.box)  # pixel centres: x' -> W - 1 - x'
                found.append(Detection(np.array([w - 1 - x1, y0, w - 1 - x0, y1]), d.score))
        return self._merge(found)

    def _look(self, frame: np.ndarray, min_score: float | None) -> DetectorOutput:
        """One look at the frame as it is: the first pass, and the second look where it is due."""
        x, info = self.preprocess(frame)
        outputs = self.infer(x)
        if self.model.info.task != "boxes":
            return self.postprocess(outputs, info, min_score)
        return self._with_second_look(frame, outputs, info, self.min_score if min_score is None else min_score)

    def _zoomed_in_look(self, frame: np.ndarray, unsure: list[Detection], kept: list[Detection]) -> list[Detection]:
        """Boxes of the zoomed-in look at the ``unsure`` first-pass boxes (best first) apart from the ``kept`` ones,
        in the frame's px (see ``zoom_in_score`` in the class docstring)."""
        h, w = frame.shape[:2]
        whole = self.scale((w, h))
        found: list[Detection] = []
        for weak in unsure:
            if len(kept) + len(found) >= self.max_hands:
                break
            taken = [d.box for d in kept + found]
            if taken and box_iou(weak.box[None], np.array(taken)).max() > self.codec.nms_iou:
                continue
            centre = (weak.box[:2] + weak.box[2:]) / 2
            half = ZOOM_IN_CONTEXT * float(np.max(weak.box[2:] - weak.box[:2])) / 2
            x0, y0 = (int(max(0.0, np.floor(v))) for v in centre - half)
            x1, y1 = int(min(w, np.ceil(centre[0] + half))), int(min(h, np.ceil(centre[1] + half)))
            if x1 - x0 < 2 or y1 - y0 < 2 or self.scale((x1 - x0, y1 - y0)) < ZOOM_IN_MIN_GAIN * whole:
                continue
            self.zoomed_in_looks += 1
            x, info = self.preprocess(np.ascontiguousarray(frame[y0:y1, x0:x1]))
            offset = np.array([x0, y0, x0, y0], np.float64)
            for d in self._boxes(self.infer(x), info, self.zoom_in_score):  # best first
                box = d.box + offset
                if box_iou(box[None], weak.box[None])[0, 0] >= 0.5:
                    found.append(Detection(box, d.score))
                    break
        return found

    def _tiled_look(self, frame: np.ndarray) -> list[Detection]:
        """The boxes of four overlapping tiles of the frame (each :data:`TILE` of its width and height, at its
        corners) that score :attr:`tile_score`, in the frame's px (see ``tile_score`` in the class docstring)."""
        self.tiled_looks += 1
        h, w = frame.shape[:2]
        tw, th = int(round(TILE * w)), int(round(TILE * h))
        found = []
        for y0 in (0, h - th):
            for x0 in (0, w - tw):
                for d in self._look(frame[y0 : y0 + th, x0 : x0 + tw], self.tile_score).detections:
                    found.append(Detection(d.box + np.array([x0, y0, x0, y0], np.float64), d.score))
        return found

    def _turned_look(self, frame: np.ndarray) -> list[Detection]:
        """The boxes of the frame turned by 90, 180 and 270 degrees that score :attr:`turn_score`, in the frame's
        px (see ``turn_score`` in the class docstring)."""
        self.turned_looks += 1
        h, w = frame.shape[:2]
        found = []
        for k in (1, 2, 3):  # quarter turns counter-clockwise (np.rot90)
            for d in self._look(np.ascontiguousarray(np.rot90(frame, k)), self.turn_score).detections:
                found.append(Detection(unturn_box(d.box, k, w, h), d.score))
        return found

    def _merge(self, found: list[Detection]) -> list[Detection]:
        """Boxes of several looks -> non-maximum suppression, best first, at most ``max_hands``."""
        from ..codecs.anchors import nms

        if len(found) > 1:
            keep = nms(np.array([d.box for d in found]), np.array([d.score for d in found]), self.codec.nms_iou,
                       len(found))  # fmt: skip
            found = [found[int(i)] for i in keep]
        found.sort(key=lambda d: -d.score)
        return found[: self.max_hands]

    def _boxes(self, outputs: dict[str, np.ndarray], info: CropInfo, threshold: float) -> list[Detection]:
        """A box detector's boxes scoring ``threshold`` or more, in frame px, best first (no ``max_hands`` cap)."""
        boxes, scores = self.codec.detect(outputs, score_threshold=threshold)[0]
        return [Detection(self._to_frame(b, info.inverse_affine, 0.0), float(sc)) for b, sc in zip(boxes, scores)]

    def _with_second_look(
        self, frame: np.ndarray, outputs: dict[str, np.ndarray], info: CropInfo, threshold: float
    ) -> DetectorOutput:
        """The first pass's boxes, and those of a zoomed-out second pass when a large box is unsure (see
        ``zoom_out`` in the class docstring)."""
        size = (frame.shape[1], frame.shape[0])
        # the zoomed-in look's unsure boxes: only where the caller asks for the full threshold (video tracking asks
        # for less to continue a followed hand)
        floor = self.zoom_in_floor * self.min_score if self.zoom_in_score and threshold >= self.min_score else 1.0
        first = self._boxes(outputs, info, min(threshold, self.keep_score, floor))
        found = [d for d in first if d.score >= threshold]
        large = self.zoom_out_trigger * min(self.input_size) / self.scale(size)  # frame px
        unsure_large = any(self.keep_score <= d.score < threshold and np.max(d.box[2:] - d.box[:2]) >= large
                           for d in first)  # fmt: skip
        if self.zoom_out and unsure_large and len(found) < self.max_hands:
            self.second_looks += 1
            far = plan_whole_frame(size, self.input_size, geometry=GeometricParams(scale=1.0 / self.zoom_out))
            x2, _ = self.preprocess(frame, far)
            second = self._boxes(self.infer(x2), far, threshold)
            if found:  # it looks for hands the first pass is unsure of: it does not replace a box already sure
                sure = np.array([d.box for d in found])
                second = [d for d in second if box_iou(d.box[None], sure).max() <= self.codec.nms_iou]
            found += second
        # (the first pass's boxes alone are already suppressed at the codec's IoU: merging keeps them all)
        lowest = floor if floor < 1.0 else self.keep_score
        unsure = [d for d in first if lowest <= d.score < threshold]
        return DetectorOutput(self._merge(found), None, info, unsure)


# --------------------------------------------------------------------------------------------------------------
# The skeleton channel
# --------------------------------------------------------------------------------------------------------------


#: the detector's (h, w) map warped into a pose crop, (S, S) float32 (the data layer's function, so training and
#: inference warp it the same way)
skeleton_from_map = map_into_crop


_PALM_LINKS = ((1, 5), (5, 9), (9, 13), (13, 17))


def render_skeleton_fast(
    joints: np.ndarray,
    height: int,
    width: int,
    visible: np.ndarray | None = None,
    line_width: float = 4.0,
    blob_sigma: float = 3.0,
) -> np.ndarray:
    """:func:`handpose.data.skeleton_image.render_skeleton_image` for one hand, with the 21 Gaussian blobs computed
    in one vectorised pass instead of one window at a time (the same image: the same OpenCV lines, the same
    blobs cut to the same windows; ``tests/test_inference_stages.py`` compares the two). (H, W) float32 in [0, 1]."""
    pts = np.asarray(joints, dtype=np.float64).reshape(NUM_JOINTS, 2)
    ok = np.all(np.isfinite(pts), axis=1)
    if visible is not None:
        ok &= np.asarray(visible, bool).reshape(NUM_JOINTS)
    out = np.zeros((height, width), np.float32)
    thickness = max(1, int(round(line_width)))
    fixed = np.round(np.nan_to_num(pts) * 16.0).astype(np.int64)  # 4 fractional bits, as cv2 drawing takes them
    for a, b in (*BONES, *_PALM_LINKS):
        if ok[a] and ok[b]:
            p = (int(fixed[a, 0]), int(fixed[a, 1]))
            q = (int(fixed[b, 0]), int(fixed[b, 1]))
            cv2.line(out, p, q, 1.0, thickness, cv2.LINE_AA, 4)
    if blob_sigma > 0 and ok.any():
        r = int(np.ceil(3 * blob_sigma))
        x, y = pts[ok, 0], pts[ok, 1]
        fx, fy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
        xs, ys = np.arange(width), np.arange(height)
        in_x = (xs[None, :] >= np.maximum(fx - r, 0)[:, None]) & (xs[None, :] < np.minimum(fx + r + 2, width)[:, None])
        in_y = (ys[None, :] >= np.maximum(fy - r, 0)[:, None]) & (ys[None, :] < np.minimum(fy + r + 2, height)[:, None])
        gx = np.where(in_x, np.exp(-((xs[None, :] - x[:, None]) ** 2) / (2 * blob_sigma**2)), 0.0)  # (K, W)
        gy = np.where(in_y, np.exp(-((ys[None, :] - y[:, None]) ** 2) / (2 * blob_sigma**2)), 0.0)  # (K, H)
        blobs = (gy[:, :, None] * gx[:, None, :]).max(axis=0)  # (H, W)
        np.maximum(out, blobs, out=out, casting="unsafe")
    return np.clip(out, 0.0, 1.0)


def skeleton_from_joints(
    joints_frame: np.ndarray,
    crop: CropInfo,
    detector_scale: float,
    line_width: float = DEFAULT_DETECTOR_LINE_WIDTH,
    blob_sigma: float = DEFAULT_DETECTOR_BLOB_SIGMA,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """The detector's ideal skeleton map of ``joints_frame`` seen in the crop: (S, S) float32.

    Args:
        joints_frame: (21, 2) frame px (NaN = missing).
        crop: the pose crop.
        detector_scale: detector px per frame px (the letterbox scale of the detector input).
        line_width, blob_sigma: the detector target's drawing in detector px.
        visible: (21,) joints to draw (default: the finite ones).
    """
    a = np.asarray(crop.affine, dtype=np.float64)
    crop_scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))  # crop px per frame px
    k = crop_scale / max(float(detector_scale), 1e-9)  # crop px per detector px
    pts = apply_affine(np.asarray(joints_frame, dtype=np.float64), a)
    w, h = crop.output_size
    return render_skeleton_fast(pts, h, w, visible, line_width=line_width * k, blob_sigma=blob_sigma * k)


# --------------------------------------------------------------------------------------------------------------
# 2D / 3D pose from RGB crops
# --------------------------------------------------------------------------------------------------------------


@dataclass
class PoseOutput:
    """One hand's pose in the frame: ``joints_2d`` (21, 2) px or None, ``confidence`` (21,), ``joints_3d``
    (21, 3) mm or None, the crop it was predicted in, and ``extra["presence"]`` (the probability that the crop holds
    a hand) from a model with a presence output."""

    joints_2d: np.ndarray | None
    confidence: np.ndarray
    joints_3d: np.ndarray | None
    crop: CropInfo
    extra: dict[str, Any] = field(default_factory=dict)


class PoseStage:
    """A pose model on square crops of an RGB frame.

    Args:
        model: an RGB model with task "pose2d" (crop_px codec) or "pose3d" (root-relative 3D codec).
        margin: crop margin (default: the one the model was trained with, else 0.25).
        min_joint_confidence: joints below this confidence do not place a tracking crop.
        repose_iou: the second look (:meth:`second_look`): a hand posed from a box is posed again from the box of
            its joints when the two overlap by IoU under this, and the surer pose is kept (0 = off; default: the
            sidecar's ``inference.repose_iou``, else off).
        repose_looks: how many times the second look may run for one hand: each further look poses the hand from
            the box of the previous look's joints when that box overlaps the previous look's box by IoU under
            ``repose_iou`` (a box far off the hand moves towards it a step at a time), and the surest of all its
            poses is kept (default: the sidecar's ``inference.repose_looks``, else 1).
        antialias: crops that take fewer than ``antialias_min_scale`` crop px per frame px are cut from the frame
            halved by 2 x 2 averaging first, not sampled from it with aliasing (:func:`handpose.data.crop.warp_frame`;
            large hands in high-resolution frames; default: the sidecar's ``inference.antialias``, else off).
        antialias_min_scale: see ``antialias`` (default: the sidecar's ``inference.antialias_min_scale``, else
            :data:`handpose.data.crop.ANTIALIAS_MIN_SCALE`, 0.5: crops that shrink the frame more than twice).
        follow_scale: a followed hand's crop (:meth:`plan_from_joints`) is planned from the box of its previous
            joints grown by this factor about its centre (1 = the crop a detection of that hand would give; default:
            the sidecar's ``inference.follow_scale``, else 1).
    """

    def __init__(
        self,
        model: Model,
        margin: float | None = None,
        min_joint_confidence: float = 0.1,
        repose_iou: float | None = None,
        repose_looks: int | None = None,
        antialias: bool | None = None,
        antialias_min_scale: float | None = None,
        follow_scale: float | None = None,
    ) -> None:
        require_task(model, "RGB pose model", "rgb", ("pose2d", "pose3d"))
        if model.info.num_joints != NUM_JOINTS:
            raise CheckpointError(
                f"predicts {model.info.num_joints} joints; the pipeline needs the canonical 21", path=model.info.source
            )
        self.model = model
        self.codec = model.codec
        self.frame = getattr(self.codec, "frame", "crop_px")
        self.input_size: tuple[int, int] = model.info.input_size  # type: ignore[assignment]
        self.channels = model.info.in_channels
        self.margin = float(model.info.crop.get("margin", 0.25) if margin is None else margin)
        self.min_joint_confidence = float(min_joint_confidence)
        default_repose = float(model.info.extra.get("repose_iou") or 0.0)
        self.repose_iou = default_repose if repose_iou is None else float(repose_iou)
        if not 0.0 <= self.repose_iou <= 1.0:
            raise ValueError(f"repose_iou must be in [0, 1], got {self.repose_iou}")
        given = model.info.extra.get("repose_looks", 1) if repose_looks is None else repose_looks
        self.repose_looks = int(given)
        if not 1 <= self.repose_looks <= 8:
            raise ValueError(f"repose_looks must be in [1, 8], got {self.repose_looks}")
        self.antialias = bool(model.info.extra.get("antialias", False) if antialias is None else antialias)
        default_min_scale = float(model.info.extra.get("antialias_min_scale") or ANTIALIAS_MIN_SCALE)
        self.antialias_min_scale = default_min_scale if antialias_min_scale is None else float(antialias_min_scale)
        if self.antialias_min_scale <= 0:
            raise ValueError(f"antialias_min_scale must be > 0, got {self.antialias_min_scale}")
        default_follow = float(model.info.extra.get("follow_scale") or 1.0)
        self.follow_scale = default_follow if follow_scale is None else float(follow_scale)
        if not 0.5 <= self.follow_scale <= 3.0:
            raise ValueError(f"follow_scale must be in [0.5, 3], got {self.follow_scale}")
        #: second looks run so far (:meth:`second_look`; a hand looked at twice counts twice)
        self.second_looks = 0

    @property
    def uses_skeleton(self) -> bool:
        return self.channels == 4

    def plan_from_box(self, box: np.ndarray) -> CropInfo:
        """The square crop of a hand box [x0, y0, x1, y1] frame px, planned as training crops are (the box's
        corners play the joints' extremes)."""
        b = np.asarray(box, dtype=np.float64)
        return plan_bbox_crop(np.array([[b[0], b[1]], [b[2], b[3]]]), self.input_size, margin=self.margin)

    def plan_from_joints(self, joints: np.ndarray, confidence: np.ndarray | None = None) -> CropInfo | None:
        """The crop around a previous frame's joints (those with confidence >= ``min_joint_confidence``), or None
        when fewer than 4 joints are usable: the crop a detection of that hand would give, planned from the box
        a person (and the detector, trained on such boxes) draws around those joints (:func:`hand_box`). A crop
        planned from the joints' tight extremes is smaller, and following a hand with it shrinks frame after frame
        (the predicted joints lean to the crop's centre): on a still hand the pose model's confidence fell from
        0.90 to 0.24 in eight frames, against a steady 0.88-0.91 this way. That box is grown by ``follow_scale``
        about its centre: a joint placed too far inwards (the wrist of a large fist seen from the back) shrinks
        the next crop, which then cuts the hand where the joint was missed, and so on from frame to frame."""
        box = self.box_of_joints(joints, confidence)
        if box is None:
            return None
        return self.plan_from_box(scale_box(box, self.follow_scale) if self.follow_scale != 1.0 else box)

    def box_of_joints(self, joints: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray | None:
        """The :func:`hand_box` of the joints with confidence >= ``min_joint_confidence`` (frame px), or None when
        fewer than 4 are usable."""
        pts = np.asarray(joints, dtype=np.float64)
        ok = np.all(np.isfinite(pts), axis=1)
        if confidence is not None:
            ok &= np.asarray(confidence) >= self.min_joint_confidence
        if ok.sum() < 4:
            return None
        return hand_box(pts, ok)

    def second_look(self, first: PoseOutput, box: np.ndarray, frame_size: tuple[int, int]) -> CropInfo | None:
        """The crop to pose a hand again from, when its first pose (posed from ``box``) says the hand lies
        elsewhere: the box drawn around its joints (:meth:`box_of_joints`) overlaps ``box`` by IoU under
        ``repose_iou``, both cut to the (W, H) frame (a hand's box reaches past the frame's edge where its wrist
        does; a detector sees only the frame); else None. A loose or shifted box (a detector's in an unfamiliar
        scene) gives a crop in which the hand is small or cut, and the joints of that pose still place the hand
        better than the box."""
        if not self.repose_iou or first.joints_2d is None:
            return None
        found = self.box_of_joints(first.joints_2d, first.confidence)
        if found is None:
            return None
        edge = np.zeros(4), np.array([frame_size[0], frame_size[1]] * 2, np.float64)
        seen = np.clip(found, *edge)
        if min(seen[2] - seen[0], seen[3] - seen[1]) <= 0:  # the joints lie outside the frame: nothing to look at
            return None
        if overlap(seen, np.clip(np.asarray(box, np.float64), *edge)) >= self.repose_iou:
            return None
        return self.plan_from_box(found)

    def preprocess(self, frame: np.ndarray, crops: list[CropInfo], skeletons: list[np.ndarray | None]) -> np.ndarray:
        """Crops of ``frame`` -> (N, C, S, S) float32: RGB in [0, 1] (+ the skeleton channel, zeros where None)."""
        s_h, s_w = self.input_size
        x = np.zeros((len(crops), self.channels, s_h, s_w), np.float32)
        for i, (info, skel) in enumerate(zip(crops, skeletons)):
            img = warp_frame(frame, info, antialias=self.antialias, antialias_min_scale=self.antialias_min_scale)
            np.multiply(img.transpose(2, 0, 1), _INV255, out=x[i, :3], casting="unsafe")
            if self.channels == 4 and skel is not None:
                x[i, 3] = skel
        return x

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.model.run(x)

    def postprocess(self, outputs: dict[str, np.ndarray], crops: list[CropInfo]) -> list[PoseOutput]:
        dec = decode_pose(self.codec, outputs)
        joints = np.asarray(dec["joints"], dtype=np.float64)
        conf = np.asarray(dec["confidence"], dtype=np.float64)
        presence = np.asarray(outputs["presence"], np.float64).reshape(-1) if "presence" in outputs else None
        out = []
        for i, info in enumerate(crops):
            if self.frame == "crop_px":
                j2 = uncrop(joints[i], info, "crop_px").joints_2d
                out.append(PoseOutput(j2, conf[i], None, info))
            else:  # root-relative mm (RGB 3D regression): no root, so no 2D
                back = uncrop(joints[i], info, self.frame)
                out.append(PoseOutput(back.joints_2d, conf[i], back.joints_3d, info))
            if presence is not None:
                out[-1].extra["presence"] = float(presence[i])
        return out

    def __call__(self, frame: np.ndarray, crops: list[CropInfo], skeletons: list[np.ndarray | None]) -> list:
        if not crops:
            return []
        return self.postprocess(self.infer(self.preprocess(frame, crops, skeletons)), crops)


# --------------------------------------------------------------------------------------------------------------
# 3D pose from depth
# --------------------------------------------------------------------------------------------------------------


class DepthStage:
    """A depth model on metric cube crops around the hand's centre of mass.

    Args:
        model: a depth model (codec frame "crop_uvd").
        cube_size_mm: cube side(s) (default: the model's training crop, else 250 mm).
        com_refine_iters, near_quantile: centre-of-mass settings (default: the training crop's).
        min_hand_pixels: valid depth pixels the cube around the centre must hold to report a hand.
        com_stride: the centre of mass is computed on every ``com_stride``-th pixel of each row and column (with
            the intrinsics scaled to match, so the geometry is exact); 2 costs a third of the full frame's time
            and moves the centre by 0.4 mm (median; 1.8 mm at most) on 56 synthetic test frames, far inside the
            8 mm translation jitter the depth models are trained with. 1 = every pixel (as in training).
    """

    def __init__(
        self,
        model: Model,
        cube_size_mm: float | tuple[float, float, float] | None = None,
        com_refine_iters: int | None = None,
        near_quantile: float | None = None,
        min_hand_pixels: int = 50,
        com_stride: int = 2,
    ) -> None:
        require_task(model, "depth pose model", "depth", ("pose3d", "pose2d"))
        if getattr(model.codec, "frame", None) != "crop_uvd":
            raise CheckpointError(
                f"codec {model.info.codec_name!r} is not in the depth crop frame (crop_uvd)", path=model.info.source
            )
        crop = model.info.crop
        self.model = model
        self.codec = model.codec
        self.input_size: tuple[int, int] = model.info.input_size  # type: ignore[assignment]
        sides = crop.get("cube_size_mm", 250.0) if cube_size_mm is None else cube_size_mm
        self.cube_sides = np.broadcast_to(np.asarray(sides, dtype=np.float64), (3,)).copy()
        self.refine = int(crop.get("com_refine_iters", 2) if com_refine_iters is None else com_refine_iters)
        self.near_quantile = float(crop.get("near_quantile", 0.0) if near_quantile is None else near_quantile)
        self.min_hand_pixels = int(min_hand_pixels)
        self.com_stride = max(int(com_stride), 1)

    def plan(
        self, depth: np.ndarray, intr: Intrinsics, box: np.ndarray | None = None, center_mm: np.ndarray | None = None
    ) -> CropInfo | None:
        """The cube crop: around ``center_mm`` if given, else the centre of mass of the closest object (inside
        ``box`` [x0, y0, x1, y1] px if given). None when there is no hand-sized object."""
        if center_mm is None:
            d = depth
            if box is not None:
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                d = np.zeros_like(depth)
                ys, xs = slice(max(y0, 0), max(y1 + 1, 0)), slice(max(x0, 0), max(x1 + 1, 0))
                d[ys, xs] = depth[ys, xs]
            valid = np.isfinite(d) & (d > 0)
            if valid.sum() < self.min_hand_pixels:
                return None
            k = self.com_stride
            if k > 1:  # pixel (u, v) of the subsampled frame is (k u, k v) of the full one
                sub = Intrinsics(intr.fx / k, intr.fy / k, intr.cx / k, intr.cy / k)
                center_mm = center_of_mass(d[::k, ::k], sub, self.cube_sides, self.refine, self.near_quantile)
            else:
                center_mm = center_of_mass(d, intr, self.cube_sides, self.refine, self.near_quantile)
        info = plan_cube_crop(center_mm, intr, self.input_size, self.cube_sides)
        info.intrinsics = intr
        return info

    def preprocess(self, depth: np.ndarray, crops: list[CropInfo]) -> np.ndarray:
        """(H, W) mm -> (N, 1, S, S) float32 cube crops normalised to [-1, 1] (1 = background / invalid)."""
        s_h, s_w = self.input_size
        x = np.empty((len(crops), 1, s_h, s_w), np.float32)
        for i, info in enumerate(crops):
            x[i, 0] = normalize_depth(warp_frame(depth, info, interpolation=cv2.INTER_NEAREST), info)
        return x

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.model.run(x)

    def postprocess(self, outputs: dict[str, np.ndarray], crops: list[CropInfo]) -> list[PoseOutput]:
        dec = decode_pose(self.codec, outputs)
        joints = np.asarray(dec["joints"], dtype=np.float64)
        conf = np.asarray(dec["confidence"], dtype=np.float64)
        out = []
        for i, info in enumerate(crops):
            back = uncrop(joints[i], info, "crop_uvd")
            out.append(PoseOutput(back.joints_2d, conf[i], back.joints_3d, info))
        return out

    def __call__(self, depth: np.ndarray, crops: list[CropInfo]) -> list[PoseOutput]:
        if not crops:
            return []
        return self.postprocess(self.infer(self.preprocess(depth, crops)), crops)


# --------------------------------------------------------------------------------------------------------------
# Gestures
# --------------------------------------------------------------------------------------------------------------


class GestureStage:
    """GestureNet on the hands' 21 2D points.

    Args:
        model: a gesture model.
        min_confidence: a hand whose most likely gesture is less likely than this gets no gesture (a classifier
            of a closed vocabulary names one of its gestures for any hand); default: the model's sidecar
            ``inference.min_confidence``, else 0.
    """

    def __init__(self, model: Model, min_confidence: float | None = None) -> None:
        require_task(model, "gesture model", "keypoints", ("gesture",))
        if model.info.num_joints != NUM_JOINTS:
            raise CheckpointError(f"takes {model.info.num_joints} points, not 21", path=model.info.source)
        self.model = model
        self.codec = model.codec
        self.class_names: list[str] | None = getattr(self.codec, "class_names", None)
        default = float(model.info.extra.get("min_confidence", 0.0))
        self.min_confidence = default if min_confidence is None else float(min_confidence)

    def preprocess(self, joints_2d: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
        """(21, 2) px per hand -> (N, 2, 21) normalised points, and which hands could be normalised."""
        from ..codecs.gesture import normalize_keypoints

        rows, keep = [], []
        for i, j in enumerate(joints_2d):
            try:
                rows.append(normalize_keypoints(j))
                keep.append(i)
            except ValueError:
                continue
        x = np.stack(rows) if rows else np.zeros((0, 2, NUM_JOINTS), np.float32)
        return x, keep  # float32: normalize_keypoints' rows are

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.model.run(x)

    def postprocess(self, outputs: dict[str, np.ndarray]) -> list[tuple[int, str, float]]:
        dec = self.codec.decode(outputs)
        out = []
        for label, conf in zip(dec["label"], dec["confidence"]):
            k = int(label)
            name = self.class_names[k] if self.class_names else str(k)
            out.append((k, name, float(conf)))
        return out

    def __call__(self, joints_2d: list[np.ndarray]) -> list[tuple[int, str, float] | None]:
        x, keep = self.preprocess(joints_2d)
        res: list[tuple[int, str, float] | None] = [None] * len(joints_2d)
        if keep:
            for i, r in zip(keep, self.postprocess(self.infer(x))):
                res[i] = r if r[2] >= self.min_confidence else None
        return res


#: the balanced look's exposure: the mean luminance (share of full scale) a frame is brought to, and the gamma range
EXPOSURE_MEAN = 0.45
EXPOSURE_GAMMA = (0.4, 2.5)


def grey_world_balanced(frame: np.ndarray, max_gain: float = 4.0, exposure: bool = False) -> np.ndarray:
    """An (H, W, 3) uint8 frame white-balanced by the grey-world assumption: each channel scaled so that its mean
    becomes the mean of the three channel means (gains clipped to [1 / ``max_gain``, ``max_gain``]; values saturate
    at 255). The means are taken over every 4th pixel of every 4th row. A grey frame comes back unchanged.

    ``exposure``: then also a gamma curve ``255 (v / 255) ** g`` that takes the balanced frame's mean (the mean of the
    three channel means) to :data:`EXPOSURE_MEAN` of full scale, ``g`` within :data:`EXPOSURE_GAMMA` (an under- or
    over-exposed frame brought to a standard exposure)."""
    means = frame[::4, ::4].reshape(-1, 3).mean(axis=0)
    level = float(means.mean())
    gains = np.clip(level / np.maximum(means, 1e-6), 1.0 / max_gain, max_gain)
    out = cv2.transform(frame, np.diag(gains))
    if exposure and 0.0 < level < 255.0:
        g = float(np.clip(np.log(EXPOSURE_MEAN) / np.log(level / 255.0), *EXPOSURE_GAMMA))
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    return out


def unturn_box(box: np.ndarray, k: int, width: int, height: int) -> np.ndarray:
    """A box [x0, y0, x1, y1] found in ``np.rot90(frame, k)`` (k quarter turns counter-clockwise) -> the same box in
    the (height, width) frame; pixel-centre coordinates."""
    x0, y0, x1, y1 = (float(v) for v in box)
    k %= 4
    if k == 1:  # (x', y') -> (W - 1 - y', x')
        return np.array([width - 1 - y1, x0, width - 1 - y0, x1])
    if k == 2:  # (x', y') -> (W - 1 - x', H - 1 - y')
        return np.array([width - 1 - x1, height - 1 - y1, width - 1 - x0, height - 1 - y0])
    if k == 3:  # (x', y') -> (y', H - 1 - x')
        return np.array([y0, height - 1 - x1, y1, height - 1 - x0])
    return np.array([x0, y0, x1, y1])


def check_box(box: Any, width: int, height: int) -> np.ndarray:
    """A caller's box as (4,) float64 [x0, y0, x1, y1] px, or :class:`DataError` naming the problem."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise DataError(f"a box must be 4 finite numbers [x0, y0, x1, y1] with x1 > x0, y1 > y0; got {box!r}",
                        field="boxes")  # fmt: skip
    return b


def joints_box(joints: np.ndarray) -> np.ndarray:
    """(4,) box of the finite joints (NaN if none)."""
    j = np.asarray(joints, dtype=np.float64)
    j = j[np.all(np.isfinite(j), axis=1)]
    if len(j) == 0:
        return np.full(4, np.nan)
    return np.concatenate([j.min(axis=0), j.max(axis=0)])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes [x0, y0, x1, y1] px (0 when either is not finite or has no area)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    if min(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]) <= 0:
        return 0.0
    return float(box_iou(a[None], b[None])[0, 0])


def det_scale_for(frame_size: tuple[int, int], detector_input: tuple[int, int]) -> float:
    """Detector px per frame px of a letterbox of a (W, H) frame into an (h, w) input."""
    return float(min(detector_input[1] / frame_size[0], detector_input[0] / frame_size[1]))
