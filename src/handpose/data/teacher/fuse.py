"""One label per hand from a teacher's answers on several views of the same photo.

The teacher is asked about each photo in several views: as it is (``full``), mirrored (``flip``), padded with its
border colour (``pad``: a hand that fills the photo becomes findable), and, where a person drew a box, cropped
around that box and enlarged (``box:K``). Its answers are grouped into hands (two answers are the same hand when
their joints lie within ``match_fraction`` of the hand's size of each other on average), and each hand gets:

- ``keypoints``: the per-joint median of its answers (21, 2) px, pixel centres at integers;
- ``scores``: per joint, the share of the views that could see this hand in which the teacher found it *and* put
  the joint near the median: ``(1 / V) * sum_v exp(-d_v^2 / (2 (tau * size)^2))`` with ``tau`` = ``agreement_fraction``
  (5 % of the hand's size) — 1 when every view agrees, 1/V for a hand seen in one view only. ``V`` counts the whole-
  photo views plus the box view whose box holds the hand;
- ``handedness``: the teacher's label voted over the views (weighted by its score), turned from MediaPipe's selfie
  convention into the person's hand for an ordinary (unmirrored) photo.

Nothing here knows the teacher: a stand-in that answers the same protocol gives the same kind of labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...skeleton import NUM_JOINTS


@dataclass
class TeacherHand:
    """One fused hand.

    Attributes:
        keypoints: (21, 2) float64 px.
        depth: (21,) float64 relative depth (the teacher's z, px units), median over views.
        scores: (21,) float64 in [0, 1], the views' agreement per joint.
        handedness: "left" / "right" of the person (for an unmirrored photo), or None.
        variants: the views that found this hand.
        box_index: the human box whose view found this hand (or that holds it), -1 if none.
    """

    keypoints: np.ndarray
    depth: np.ndarray
    scores: np.ndarray
    handedness: str | None
    variants: list[str] = field(default_factory=list)
    box_index: int = -1

    @property
    def score(self) -> float:
        """Mean per-joint score."""
        return float(np.mean(self.scores))

    @property
    def box(self) -> np.ndarray:
        """(4,) tight box [x0, y0, x1, y1] of the keypoints."""
        return np.concatenate([self.keypoints.min(axis=0), self.keypoints.max(axis=0)])


def hand_size(keypoints: np.ndarray) -> float:
    """The longer side of the (21, 2) keypoints' box, px (at least 1)."""
    k = np.asarray(keypoints, dtype=np.float64)[:, :2]
    return float(max(np.ptp(k[:, 0]), np.ptp(k[:, 1]), 1.0))


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def fuse_detections(
    detections: list[dict],
    whole_views: int,
    boxes: np.ndarray | None = None,
    match_fraction: float = 0.25,
    agreement_fraction: float = 0.05,
    mirrored: bool = False,
) -> list[TeacherHand]:
    """Group a teacher's detections of one photo into hands (see the module docstring).

    Args:
        detections: the worker's answers (``variant``, ``keypoints`` (21, 3), ``label``, ``label_score``).
        whole_views: how many whole-photo views were asked for (``full``, ``flip``, ``pad``).
        boxes: (K, 4) human boxes [x0, y0, x1, y1] px whose ``box:K`` views were asked for, or None.
        match_fraction: two answers are one hand when their mean joint distance is below this share of its size.
        agreement_fraction: ``tau`` of the per-joint score.
        mirrored: the photo is a mirror image (a selfie view); MediaPipe's labels assume that.

    Returns:
        hands, most confident first.
    """
    boxes_arr = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
    dets = sorted(detections, key=lambda d: (not str(d["variant"]).startswith("full"), str(d["variant"])))
    clusters: list[list[dict]] = []
    for det in dets:
        kp = np.asarray(det["keypoints"], dtype=np.float64)[:, :2]
        best, best_d = None, np.inf
        for c in clusters:
            ref = np.median(np.stack([np.asarray(m["keypoints"])[:, :2] for m in c]), axis=0)
            if any(m["variant"] == det["variant"] for m in c):
                continue  # one answer per view and hand
            d = float(np.mean(np.linalg.norm(kp - ref, axis=1)))
            if d < match_fraction * max(hand_size(ref), hand_size(kp)) and d < best_d:
                best, best_d = c, d
        if best is None:
            clusters.append([det])
        else:
            best.append(det)

    hands = []
    for c in clusters:
        pts = np.stack([np.asarray(m["keypoints"], dtype=np.float64) for m in c])  # (n, 21, 3)
        med = np.median(pts, axis=0)
        size = hand_size(med)
        centre = med[:, :2].mean(axis=0)
        box_index = -1
        for k in range(len(boxes_arr)):
            if any(m["variant"] == f"box:{k}" for m in c) or (box_index < 0 and _inside(centre, boxes_arr[k])):
                box_index = k
                if any(m["variant"] == f"box:{k}" for m in c):
                    break
        views = whole_views + (1 if box_index >= 0 else 0)
        d = np.linalg.norm(pts[:, :, :2] - med[None, :, :2], axis=2)  # (n, 21)
        tau = agreement_fraction * size
        support = np.exp(-(d**2) / (2 * tau**2))
        scores = np.clip(support.sum(axis=0) / max(views, 1), 0.0, 1.0)
        vote = 0.0
        for m in c:
            sign = 1.0 if str(m.get("label", "")).lower() == "right" else -1.0 if m.get("label") else 0.0
            vote += sign * float(m.get("label_score", 0.0))
        handedness = None
        if vote != 0.0:
            mp_right = vote > 0
            # MediaPipe labels a hand as if the photo were a mirror image; an ordinary photo shows the other hand
            handedness = ("right" if mp_right else "left") if mirrored else ("left" if mp_right else "right")
        hands.append(
            TeacherHand(
                keypoints=med[:, :2],
                depth=med[:, 2],
                scores=scores,
                handedness=handedness,
                variants=sorted(str(m["variant"]) for m in c),
                box_index=box_index,
            )
        )
    hands.sort(key=lambda h: -h.score)
    assert all(h.keypoints.shape == (NUM_JOINTS, 2) for h in hands)
    return hands
