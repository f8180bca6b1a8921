"""Default boxes ("anchors") of a single-shot detector: hand boxes <-> per-anchor targets, and decoding with
non-maximum suppression. The hand detector of "Multihead Self Attention Hand Pose Estimation" is an SSD ("For hand
detection we deploy a SSD network architecture which provide the hand bounding box"); the paper gives no details,
so the choices below are SSD's own ("SSD: Single Shot MultiBox Detector"), named where they differ.

Anchors. On each feature map of stride ``s`` (8, 16, 32 px of the input), every cell centre ``((i + 0.5) s - 0.5,
(j + 0.5) s - 0.5)`` carries one box per (size, aspect) pair of that level: width ``size / sqrt(aspect)``, height
``size * sqrt(aspect)`` (``aspect`` = height / width; hands are mostly upright, so 1 and 1.5 by default). Order:
level, then row, column, then (size, aspect) — the order of the network's flattened outputs.

Encode (one frame): each anchor gets label 1 when its IoU with some hand box is at least ``pos_iou``, 0 when its
best IoU is below ``neg_iou``, and -1 (ignored) in between; every hand box also claims its best anchor (so a hand
of an odd size is never left without one). Positive anchors regress SSD's offsets of their hand's box:
``((cx - acx) / aw / 0.1, (cy - acy) / ah / 0.1, log(w / aw) / 0.2, log(h / ah) / 0.2)``.

Decode: ``sigmoid(score)`` per anchor (a focal-loss detector, where SSD used a softmax over classes), boxes from
the offsets, then greedy NMS at ``nms_iou`` among boxes scoring at least ``score_threshold``, at most ``max_boxes``.
Boxes are [x0, y0, x1, y1] in input pixels with the box edges as drawn (a box from x0 to x1 covers x1 - x0 px).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Codec, to_numpy

#: SSD's offset variances (centre, size)
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2


def make_anchors(
    input_size: tuple[int, int],
    strides: tuple[int, ...],
    sizes: tuple[tuple[float, ...], ...],
    aspects: tuple[float, ...],
) -> np.ndarray:
    """(A, 4) anchors [cx, cy, w, h] in input px, in the networks' output order (see the module docstring)."""
    h, w = input_size
    out = []
    for stride, level_sizes in zip(strides, sizes):
        gh, gw = -(-h // stride), -(-w // stride)  # ceil: the conv maps' sizes with padding
        ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float64)
        cx = (xs + 0.5) * stride - 0.5
        cy = (ys + 0.5) * stride - 0.5
        shapes = [(s / np.sqrt(a), s * np.sqrt(a)) for s in level_sizes for a in aspects]
        cells = np.stack([cx.ravel(), cy.ravel()], axis=1)  # (gh * gw, 2)
        per = np.array(shapes, dtype=np.float64)  # (k, 2)
        grid = np.concatenate(
            [np.repeat(cells, len(per), axis=0), np.tile(per, (len(cells), 1))], axis=1
        )  # (gh * gw * k, 4)
        out.append(grid)
    return np.concatenate(out, axis=0)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes [x0, y0, x1, y1] -> (N, M) IoU."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        overlap = box_iou_matrix(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][overlap < iou]
    return np.asarray(keep, dtype=np.int64)


class AnchorBoxCodec(Codec):
    """Hand boxes of one frame <-> per-anchor labels and offsets (see the module docstring).

    Args:
        input_size: (H, W) of the detector input.
        strides: feature-map strides, px.
        sizes: anchor sizes per level, px.
        aspects: anchor aspects (height / width).
        pos_iou, neg_iou: matching thresholds.
        score_threshold, nms_iou, max_boxes: decoding.

    ``encode(boxes)`` takes (K, 4) boxes in input px (NaN rows ignored; K = 0 for a frame without hands) and gives
    ``labels`` (A,) float32 (1, 0, -1 = ignore) and ``offsets`` (A, 4) float32. ``decode`` takes ``{"scores": (B, A)
    logits, "offsets": (B, A, 4)}`` and gives ``boxes`` (B, N, 4) px, ``scores`` (B, N) (N = ``max_boxes``; NaN /
    0 past the kept ones), ``count`` (B,), and — to follow the codec contract — ``joints`` (B, 2, 2), the best box's
    corners, with ``confidence`` (B, 2) its score.
    """

    name = "anchors"
    frame = "crop_px"

    def __init__(
        self,
        input_size: tuple[int, int] = (128, 160),
        strides: tuple[int, ...] | list[int] = (8, 16, 32),
        sizes: tuple[tuple[float, ...], ...] | list[list[float]] = ((12.0, 20.0), (32.0, 48.0), (72.0, 110.0)),
        aspects: tuple[float, ...] | list[float] = (0.6, 1.0, 1.6, 2.5),
        pos_iou: float = 0.5,
        neg_iou: float = 0.4,
        score_threshold: float = 0.5,
        nms_iou: float = 0.45,
        max_boxes: int = 4,
    ) -> None:
        if len(strides) != len(sizes):
            raise ValueError(f"one list of sizes per stride: {len(strides)} strides, {len(sizes)} size lists")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.strides = tuple(int(s) for s in strides)
        self.sizes = tuple(tuple(float(v) for v in level) for level in sizes)
        self.aspects = tuple(float(a) for a in aspects)
        self.pos_iou = float(pos_iou)
        self.neg_iou = float(neg_iou)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_boxes = int(max_boxes)
        self.anchors = make_anchors(self.input_size, self.strides, self.sizes, self.aspects)  # (A, 4) cx cy w h
        a = self.anchors
        self.anchor_boxes = np.stack(
            [a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2], axis=1
        )

    @property
    def anchors_per_cell(self) -> int:
        return len(self.sizes[0]) * len(self.aspects)

    @property
    def num_anchors(self) -> int:
        return int(len(self.anchors))

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(K, 4) hand boxes in input px (``joints`` in the codec contract's words) -> per-anchor targets.
        ``visibility`` (K,) bool marks the boxes to learn; the others (a hand mostly cut off by the frame's edge, a
        box too small to learn) are ignore regions: default boxes whose centre lies in one are neither positive nor
        negative. NaN rows are dropped."""
        boxes = np.asarray(joints, dtype=np.float64).reshape(-1, 4)
        keep = np.ones(len(boxes), bool) if visibility is None else np.asarray(visibility, bool).reshape(-1)
        ok = np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        ignore, boxes = boxes[ok & ~keep], boxes[ok & keep]
        n = self.num_anchors
        labels = np.zeros(n, np.float32)
        offsets = np.zeros((n, 4), np.float32)
        a = self.anchors
        for box in ignore:
            inside = (a[:, 0] >= box[0]) & (a[:, 0] <= box[2]) & (a[:, 1] >= box[1]) & (a[:, 1] <= box[3])
            labels[inside] = -1.0
        if len(boxes) == 0:
            return {"labels": labels, "offsets": offsets}
        iou = box_iou_matrix(self.anchor_boxes, boxes)  # (A, K)
        best_box = iou.argmax(axis=1)
        best_iou = iou[np.arange(n), best_box]
        labels[(best_iou >= self.neg_iou) & (best_iou < self.pos_iou)] = -1.0
        labels[best_iou >= self.pos_iou] = 1.0
        for k in range(len(boxes)):  # every hand claims its best anchor
            j = int(iou[:, k].argmax())
            if iou[j, k] > 0:
                labels[j] = 1.0
                best_box[j] = k
        pos = labels > 0
        offsets[pos] = self.box_offsets(boxes[best_box[pos]], a[pos])
        return {"labels": labels, "offsets": offsets}

    @staticmethod
    def box_offsets(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """(N, 4) boxes [x0, y0, x1, y1] against (N, 4) anchors [cx, cy, w, h] -> SSD offsets (N, 4)."""
        w = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
        h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        cy = (boxes[:, 1] + boxes[:, 3]) / 2
        return np.stack(
            [
                (cx - anchors[:, 0]) / anchors[:, 2] / CENTER_VARIANCE,
                (cy - anchors[:, 1]) / anchors[:, 3] / CENTER_VARIANCE,
                np.log(w / anchors[:, 2]) / SIZE_VARIANCE,
                np.log(h / anchors[:, 3]) / SIZE_VARIANCE,
            ],
            axis=1,
        ).astype(np.float32)

    def offsets_to_boxes(self, offsets: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """(..., N, 4) offsets of the anchors ``index`` (default: all A) -> (..., N, 4) boxes [x0, y0, x1, y1] px."""
        a = self.anchors if index is None else self.anchors[index]
        o = np.asarray(offsets, dtype=np.float64)
        cx = a[:, 0] + o[..., 0] * CENTER_VARIANCE * a[:, 2]
        cy = a[:, 1] + o[..., 1] * CENTER_VARIANCE * a[:, 3]
        w = a[:, 2] * np.exp(np.clip(o[..., 2] * SIZE_VARIANCE, -8.0, 8.0))
        h = a[:, 3] * np.exp(np.clip(o[..., 3] * SIZE_VARIANCE, -8.0, 8.0))
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)

    def detect(self, outputs: Any, score_threshold: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per frame of a batch: (N, 4) boxes px and (N,) scores after thresholding and NMS, best first."""
        logits = to_numpy(outputs["scores"])
        offsets = to_numpy(outputs["offsets"])
        if logits.ndim == 1:
            logits, offsets = logits[None], offsets[None]
        threshold = self.score_threshold if score_threshold is None else float(score_threshold)
        out = []
        for b in range(logits.shape[0]):
            scores = 1.0 / (1.0 + np.exp(-logits[b].astype(np.float64)))
            cand = np.flatnonzero(scores >= threshold)
            if cand.size == 0:
                out.append((np.zeros((0, 4)), np.zeros(0)))
                continue
            cand = cand[np.argsort(-scores[cand])[:200]]
            boxes = self.offsets_to_boxes(offsets[b, cand], cand)
            keep = nms(boxes, scores[cand], self.nms_iou, self.max_boxes)
            out.append((boxes[keep], scores[cand][keep]))
        return out

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        found = self.detect(outputs)
        b, n = len(found), self.max_boxes
        boxes = np.full((b, n, 4), np.nan)
        scores = np.zeros((b, n))
        count = np.zeros(b, np.int64)
        for i, (bx, sc) in enumerate(found):
            boxes[i, : len(bx)] = bx
            scores[i, : len(sc)] = sc
            count[i] = len(bx)
        return {
            "boxes": boxes,
            "scores": scores,
            "count": count,
            "joints": boxes[:, 0].reshape(b, 2, 2),
            "confidence": np.repeat(scores[:, :1], 2, axis=1),
        }

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "strides": list(self.strides),
            "sizes": [list(s) for s in self.sizes],
            "aspects": list(self.aspects),
            "pos_iou": self.pos_iou,
            "neg_iou": self.neg_iou,
            "score_threshold": self.score_threshold,
            "nms_iou": self.nms_iou,
            "max_boxes": self.max_boxes,
        }
