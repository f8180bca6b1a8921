"""Evaluation metrics: pure numpy functions, vectorised over frames, with no state.

Shapes: ``N`` frames (or samples), ``J`` joints, ``D`` coordinates (2 for image points in pixels, 3 for camera
points in millimetres). Every function takes a ``valid`` mask of shape (N, J) (True = labelled and visible); joints
outside it are ignored and may hold NaN. A non-finite value at a valid joint, a shape mismatch, or nothing valid
to score raises :class:`handpose.errors.DataError` (a ``ValueError``) -- never a silent NaN.

2D keypoints (the conventions of MMPose's ``keypoint_eval``, re-implemented here):
    :func:`pck` -- a joint is correct when its (normalised) error is **strictly below** the threshold; accuracy is
    computed per joint over the samples where it is valid, then averaged over the joints that have at least one
    valid sample. Normalisation (``norm``): pixels (None), a scalar, or one value per sample such as
    :func:`bbox_norm` (max(w, h) of the ground-truth box) or :func:`bone_norm` (a reference bone's length).
    Samples whose normaliser is zero or non-finite are skipped (all their joints invalid).
    :func:`pck_auc` -- the mean of the PCK curve at ``num_thresholds`` thresholds ``lo + (hi - lo) * k / n`` for
    k = 0..n-1, which for (0, 30 px, 20) is MMPose's hand AUC, a value in [0, 1].
    :func:`epe` / :func:`median_epe` -- mean / median pixel error over all valid joints pooled.
3D joints:
    :func:`mpjpe` (pooled mean, mm), :func:`per_joint_errors` and :func:`mean_joint_error` (per joint over frames,
    then over joints: the standard metric of the ICVL / NYU depth benchmarks), :func:`root_relative_mpjpe`,
    :func:`pa_mpjpe` (after the similarity Procrustes alignment of :func:`handpose.geometry.procrustes_align`,
    computed here in closed form), :func:`pck3d_curve` / :func:`pck3d_auc` (a joint is correct when its error is
    **at most** the threshold; trapezoidal area over 20-50 mm normalised to [0, 1]), :func:`success_rate_curve`
    (share of frames whose maximum -- or mean -- joint error is at most t, t = 0..80 mm).
Detection: :func:`box_iou`, :func:`box_iou_matched`, :func:`binary_scores`, :func:`roc_curve`, :func:`roc_auc`.
Gestures: :func:`confusion_matrix`, :func:`classification_accuracy`, :func:`error_rate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .geometry import procrustes_align
from .skeleton import ROOT, SCALE_BONE

__all__ = [
    "PCKResult",
    "PCKCurve",
    "joint_errors",
    "bbox_norm",
    "bone_norm",
    "pck",
    "pck_curve",
    "pck_auc",
    "curve_auc",
    "epe",
    "median_epe",
    "mpjpe",
    "per_joint_errors",
    "mean_joint_error",
    "root_relative_mpjpe",
    "pa_joint_errors",
    "pa_mpjpe",
    "pck3d_curve",
    "pck3d_auc",
    "success_rate_curve",
    "box_iou",
    "box_iou_matched",
    "binary_scores",
    "roc_curve",
    "roc_auc",
    "confusion_matrix",
    "classification_accuracy",
    "error_rate",
]

#: success-frame thresholds of the depth benchmarks: 0, 1, ..., 80 mm
SUCCESS_THRESHOLDS_MM = np.arange(81, dtype=np.float64)
#: the 3D PCK range of the RGB hand benchmarks (STB, RHD): 20..50 mm in 1 mm steps
PCK3D_THRESHOLDS_MM = np.linspace(20.0, 50.0, 31)

# --------------------------------------------------------------------------------------------------------------
# Input checks and joint errors
# --------------------------------------------------------------------------------------------------------------


def _as_float(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.float32 or a.dtype == np.float64:
        return a
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise DataError(f"expected a numeric array, got dtype {a.dtype}", field=name)
    return a.astype(np.float64)


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = _as_float(pred, "pred")
    gt = _as_float(gt, "gt")
    if gt.ndim != 3:
        raise DataError(f"expected (N, J, D) joints, got shape {gt.shape}", field="gt")
    if pred.shape != gt.shape:
        raise DataError(f"prediction shape {pred.shape} does not match ground truth {gt.shape}", field="pred")
    if gt.shape[0] == 0 or gt.shape[1] == 0:
        raise DataError(f"no joints to score (shape {gt.shape})", field="gt")
    if pred.dtype != gt.dtype:
        pred, gt = pred.astype(np.float64), gt.astype(np.float64)
    return pred, gt


def _check_valid(valid: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if valid is None:
        return None
    valid = np.asarray(valid)
    if valid.shape != shape:
        raise DataError(f"valid mask shape {valid.shape} does not match (N, J) = {shape}", field="valid")
    return valid.astype(bool, copy=False)


_BLOCK = 8192  # frames per block in blocked loops: a block's arrays stay in the CPU cache


def _joint_major_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(J, N) Euclidean distances of (N, J, D) points, joint-major (each joint's errors contiguous), computed in
    blocks of frames in the inputs' float dtype."""
    n, j, dim = gt.shape
    out = np.empty((j, n), dtype=gt.dtype)
    # coordinates too large for their float type overflow to inf here, which the callers report as a DataError
    # (numpy's own warning on stderr would precede that one-line error)
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, n, _BLOCK):
            diff = pred[s : s + _BLOCK] - gt[s : s + _BLOCK]
            sq = diff[..., 0] * diff[..., 0]
            for k in range(1, dim):
                sq += diff[..., k] * diff[..., k]
            out[:, s : s + _BLOCK] = np.sqrt(sq, out=sq).T
    return out


def _raise_non_finite(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> None:
    """Raise a DataError naming the first valid (frame, joint) whose prediction or ground truth is not finite."""
    bad_gt = ~np.all(np.isfinite(gt), axis=-1)
    bad = bad_gt | ~np.all(np.isfinite(pred), axis=-1)
    if mask is not None:
        bad &= mask
    hits = np.argwhere(bad)
    if hits.size == 0:
        raise DataError("errors are not finite: coordinates too large for their float type")
    frame, joint = (int(i) for i in hits[0])
    which = "gt" if bad_gt[frame, joint] else "pred"
    raise DataError(
        f"non-finite {'ground truth' if which == 'gt' else 'prediction'} at frame {frame}, joint {joint}; "
        "mark unlabelled joints invalid instead",
        field=which,
    )


def _errors(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, norm: np.ndarray | float | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Joint-major errors: ((J, N) errors with 0 where masked out, (J, N) bool mask or None when all are valid)."""
    pred, gt = _check_pair(pred, gt)
    n, j = gt.shape[:2]
    mask = _check_valid(valid, (n, j))
    errors = _joint_major_distances(pred, gt)
    mask_t = None if mask is None else mask.T
    if norm is not None:
        norm_arr = np.asarray(norm, dtype=np.float64)
        if norm_arr.ndim == 0:
            norm_arr = np.full(n, float(norm_arr))
        if norm_arr.shape != (n,):
            raise DataError(f"norm must be a scalar or shape ({n},), got {norm_arr.shape}", field="norm")
        ok = np.isfinite(norm_arr) & (norm_arr > 0)
        if not ok.all():
            mask_t = np.broadcast_to(ok, (j, n)) if mask_t is None else mask_t & ok
        errors /= np.where(ok, norm_arr, 1.0).astype(errors.dtype)
    if mask_t is None:
        if not np.isfinite(errors.sum()):
            _raise_non_finite(pred, gt, None)
        return errors, None
    if not mask_t.any():
        raise DataError("no valid joints to score (every joint is masked out or every normaliser is zero)")
    errors = np.where(mask_t, errors, errors.dtype.type(0))
    if not np.isfinite(errors.sum()):
        _raise_non_finite(pred, gt, mask_t.T)
    return errors, np.ascontiguousarray(mask_t)


def joint_errors(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, norm: np.ndarray | float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint Euclidean errors and the mask of joints to score.

    Args:
        pred, gt: (N, J, D) points (px or mm).
        valid: (N, J) bool, joints to score; None means all.
        norm: None (raw units), a scalar, or (N,) per-sample normalisers; errors are divided by it. Samples whose
            normaliser is <= 0 or non-finite are dropped from the mask (MMPose's convention for zero-size boxes).

    Returns:
        (errors, mask): (N, J) errors (float32 if both inputs are float32, else float64; 0 where the mask is
        False) and the (N, J) bool mask actually scored. Both are transposed views of joint-major arrays.

    Raises:
        DataError: shapes disagree, a valid joint is non-finite, or nothing is left to score.
    """
    errors, mask = _errors(pred, gt, valid, norm)
    return errors.T, (np.ones(errors.shape, dtype=bool) if mask is None else mask).T


# --------------------------------------------------------------------------------------------------------------
# Rates over thresholds (shared by 2D PCK, 3D PCK)
# --------------------------------------------------------------------------------------------------------------


def _joint_rates(
    errors: np.ndarray, mask: np.ndarray | None, thresholds: np.ndarray, inclusive: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint share of valid samples with error < t (or <= t).

    Args:
        errors: (J, N) joint-major errors; mask: (J, N) bool or None (all valid).
    Returns:
        ((T, J) rates, NaN for a joint without a valid sample; (J,) valid counts).
    """
    j, n = errors.shape
    if mask is None:
        counts = np.full(j, n, dtype=np.int64)
    else:
        counts = np.count_nonzero(mask, axis=1)
        errors = np.where(mask, errors, np.inf)  # masked joints never pass a threshold
    hits = np.empty((len(thresholds), j), dtype=np.int64)
    for k, t in enumerate(thresholds):  # loops over thresholds and joints only, never over frames
        passed = errors <= t if inclusive else errors < t
        hits[k] = [np.count_nonzero(row) for row in passed]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return rates, counts


def _check_thresholds(thresholds: np.ndarray | list[float] | float) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise DataError(f"thresholds must be a non-empty 1-D finite array, got {thresholds!r}", field="thresholds")
    return t


def curve_auc(thresholds: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve by the trapezoidal rule, divided by the threshold range: a value in [0, 1] for rates.

    Args:
        thresholds: (T,) increasing, T >= 2.
        values: (T,) curve values (e.g. PCK or success rates in [0, 1]).
    """
    x = _check_thresholds(thresholds)
    y = np.asarray(values, dtype=np.float64)
    if x.size < 2 or y.shape != x.shape or np.any(np.diff(x) <= 0):
        raise DataError("curve_auc needs >= 2 strictly increasing thresholds and one value per threshold")
    if not np.all(np.isfinite(y)):
        raise DataError("curve values must be finite", field="values")
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / (x[-1] - x[0]))


# --------------------------------------------------------------------------------------------------------------
# 2D keypoints
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PCKResult:
    """PCK at one threshold.

    Attributes:
        threshold: the threshold (in the normalised unit, or px).
        per_joint: (J,) accuracy in [0, 1] per joint; NaN for a joint with no valid sample.
        mean: accuracy averaged over the joints that have valid samples.
        num_joints: how many joints entered the mean.
    """

    threshold: float
    per_joint: np.ndarray
    mean: float
    num_joints: int


@dataclass(frozen=True)
class PCKCurve:
    """PCK at several thresholds: ``per_joint`` (T, J) (NaN where a joint has no valid sample) and ``mean`` (T,)."""

    thresholds: np.ndarray
    per_joint: np.ndarray
    mean: np.ndarray


def bbox_norm(boxes: np.ndarray, fmt: str = "xyxy") -> np.ndarray:
    """Per-sample PCK normaliser: max(width, height) of each ground-truth box, in px.

    Args:
        boxes: (N, 4) boxes, ``fmt="xyxy"`` ([x0, y0, x1, y1], the :class:`~handpose.data.sample.Sample`
            convention) or ``"xywh"`` (COCO).
    Returns:
        (N,) float64; zero-size boxes give 0 (those samples are then skipped by :func:`pck`).
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise DataError(f"expected (N, 4) boxes, got shape {b.shape}", field="boxes")
    if fmt == "xyxy":
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    elif fmt == "xywh":
        w, h = b[:, 2], b[:, 3]
    else:
        raise DataError(f"unknown box format {fmt!r}; use 'xyxy' or 'xywh'", field="fmt")
    if np.any(w < 0) or np.any(h < 0):
        i = int(np.argmax((w < 0) | (h < 0)))
        raise DataError(f"box {i} has negative width or height: {b[i].tolist()}", field="boxes")
    return np.maximum(w, h)


def bone_norm(gt: np.ndarray, bone: tuple[int, int] = SCALE_BONE) -> np.ndarray:
    """Per-sample PCK normaliser: the length of a reference ``bone`` (parent, child) in the ground truth, (N,)."""
    gt = np.asarray(gt, dtype=np.float64)
    if gt.ndim != 3 or max(bone) >= gt.shape[1]:
        raise DataError(f"bone {bone} does not fit joints of shape {gt.shape}", field="bone")
    length = np.linalg.norm(gt[:, bone[1]] - gt[:, bone[0]], axis=-1)
    return np.where(np.isfinite(length), length, 0.0)


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    threshold: float,
    valid: np.ndarray | None = None,
    norm: np.ndarray | float | None = None,
) -> PCKResult:
    """Percentage of correct keypoints at one threshold (MMPose's ``keypoint_pck_accuracy`` convention).

    Args:
        pred, gt: (N, J, 2) image points in px (any D works).
        threshold: a joint counts when ``error / norm < threshold`` (strictly).
        valid: (N, J) bool; invisible / unlabelled joints are ignored.
        norm: None (threshold in px), a scalar, or (N,) normalisers (:func:`bbox_norm`, :func:`bone_norm`).
    """
    errors, mask = _errors(pred, gt, valid, norm)
    rates, counts = _joint_rates(errors, mask, np.array([float(threshold)]), inclusive=False)
    have = counts > 0
    return PCKResult(float(threshold), rates[0], float(rates[0, have].mean()), int(have.sum()))


def pck_curve(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray | list[float],
    valid: np.ndarray | None = None,
    norm: np.ndarray | float | None = None,
    inclusive: bool = False,
) -> PCKCurve:
    """PCK at each threshold (strictly below by default; ``inclusive=True`` for "at most")."""
    t = _check_thresholds(thresholds)
    errors, mask = _errors(pred, gt, valid, norm)
    rates, counts = _joint_rates(errors, mask, t, inclusive)
    return PCKCurve(t, rates, rates[:, counts > 0].mean(axis=1))


def pck_auc(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    lo: float = 0.0,
    hi: float = 30.0,
    num_thresholds: int = 20,
    norm: np.ndarray | float | None = None,
) -> float:
    """Area under the PCK curve, MMPose's convention: the mean PCK at thresholds ``lo + (hi - lo) * k / n``,
    k = 0..n-1 (a left Riemann sum normalised by the range), in [0, 1].

    The default (0-30 px, 20 thresholds) is MMPose's hand AUC; pass ``lo``, ``hi`` (in px, or in the ``norm``
    unit) and ``num_thresholds`` for any other range.
    """
    if num_thresholds < 1 or not hi > lo:
        raise DataError(f"need hi > lo and num_thresholds >= 1, got ({lo}, {hi}, {num_thresholds})")
    # compare errors normalised by the range with k / n, as MMPose does, so results agree at the boundaries
    errors, mask = _errors(pred, gt, valid, norm)
    if lo:
        errors -= errors.dtype.type(lo)
    errors /= errors.dtype.type(float(hi - lo))
    share, counts = _uniform_pass_share(errors, mask, num_thresholds)
    return float(share[counts > 0].mean())


def _uniform_pass_share(x: np.ndarray, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For (J, N) values ``x``, each joint's mean over the thresholds t_k = k / n (k = 0..n-1) of the share of
    valid samples with x < t_k -- the mean of the PCK curve -- in one pass instead of one per threshold.

    A sample passes n - c thresholds, c = #{k : t_k <= x} = clip(floor(n x) + 1, 0, n). Where n x lies within 1e-3
    of an integer the floor may be off by one, so c is recounted there by comparing with the float64 thresholds
    themselves, as :func:`_joint_rates` compares. Returns ((J,) shares, NaN without a valid sample;
    (J,) valid counts).
    """
    j, total = x.shape
    counts = np.full(j, total, dtype=np.int64) if mask is None else np.count_nonzero(mask, axis=1)
    if mask is not None:
        x = np.where(mask, x, np.inf)  # masked samples pass no threshold
    t = np.arange(n, dtype=np.float64) / n
    q = x * x.dtype.type(n)
    c = np.floor(q)
    with np.errstate(invalid="ignore"):  # inf - inf for masked samples: NaN, never "near"
        frac = q - c
    near = (frac < 1e-3) | (frac > 1 - 1e-3)
    c += 1
    np.clip(c, 0, n, out=c)
    if near.any():
        c[near] = np.searchsorted(t, x[near].astype(np.float64), side="right")
    passes = n * total - c.sum(axis=1, dtype=np.float64)  # summed over the samples of each joint
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, passes / (n * np.maximum(counts, 1)), np.nan), counts


def epe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """End-point error: mean Euclidean error over all valid joints pooled (px for 2D), MMPose's ``keypoint_epe``."""
    errors, mask = _errors(pred, gt, valid, None)
    return float(errors.sum(dtype=np.float64) / (errors.size if mask is None else np.count_nonzero(mask)))


def median_epe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Median Euclidean error over all valid joints pooled."""
    errors, mask = _errors(pred, gt, valid, None)
    return float(np.median(errors if mask is None else errors[mask]))


# --------------------------------------------------------------------------------------------------------------
# 3D joints
# --------------------------------------------------------------------------------------------------------------


def mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean per-joint position error (mm): the mean Euclidean error over all valid (frame, joint) pairs."""
    return epe(pred, gt, valid)


def per_joint_errors(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(J,) mean error of each joint over the frames where it is valid (mm); NaN for a joint never valid."""
    errors, mask = _errors(pred, gt, valid, None)
    counts = np.full(errors.shape[0], errors.shape[1]) if mask is None else np.count_nonzero(mask, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, errors.sum(axis=1, dtype=np.float64) / np.maximum(counts, 1), np.nan)


def mean_joint_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The depth benchmarks' mean error (mm): each joint's mean over frames, then the mean over joints (those with
    a valid sample). Equal to :func:`mpjpe` when every joint is valid."""
    per_joint = per_joint_errors(pred, gt, valid)
    return float(np.mean(per_joint[np.isfinite(per_joint)]))


def root_relative_mpjpe(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, root: int = ROOT, include_root: bool = True
) -> float:
    """MPJPE (mm) after subtracting each set's ``root`` joint (the wrist by default).

    Frames whose root is invalid are skipped. The root's own error is 0 by construction; it is counted when
    ``include_root`` (the common practice for 21-joint hands), else left out.
    """
    pred, gt = _check_pair(pred, gt)
    n, j = gt.shape[:2]
    if not 0 <= root < j:
        raise DataError(f"root joint {root} out of range for {j} joints", field="root")
    mask = np.ones((n, j), dtype=bool) if valid is None else _check_valid(valid, (n, j)).copy()
    mask &= mask[:, root : root + 1]
    if not include_root:
        mask[:, root] = False
    return mpjpe(pred - pred[:, root : root + 1], gt - gt[:, root : root + 1], mask)


# ----- Procrustes-aligned errors --------------------------------------------------------------------------------

_MIN_SINGULAR_RATIO = 1e-3  # below this sigma3/sigma1 the closed form hands the frame to the SVD path


def _scaled_rotations(m: np.ndarray, var_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form similarity rotation for a block of frames.

    ``m`` is (9, c) float64: the row-major entries of M = sum_j g0_j p0_j^T per frame; ``var_p`` is (c,) the
    summed squared norm of the centred prediction. For det M > 0 the optimal rotation is the orthogonal polar
    factor R = M (M^T M)^(-1/2) and the optimal scale is s = trace((M^T M)^(1/2)) / var_p. The inverse square root
    of the 3x3 matrix A = M^T M comes from its eigenvalues alone (trigonometric solution of the characteristic
    cubic, then Cayley-Hamilton: A^(-1/2) = alpha A^2 + beta A + gamma I), so every step is an element-wise
    operation over the block. Returns ((9, c) entries of s R, (c,) bool: frames where the closed form is exact
    enough -- det M > 0 and sigma3 > 1e-3 sigma1; the others must be aligned by SVD).
    """
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    a00 = m00 * m00 + m10 * m10 + m20 * m20
    a11 = m01 * m01 + m11 * m11 + m21 * m21
    a22 = m02 * m02 + m12 * m12 + m22 * m22
    a01 = m00 * m01 + m10 * m11 + m20 * m21
    a02 = m00 * m02 + m10 * m12 + m20 * m22
    a12 = m01 * m02 + m11 * m12 + m21 * m22
    # eigenvalues of the symmetric A (Smith's trigonometric method)
    q = (a00 + a11 + a22) / 3.0
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    off = a01 * a01 + a02 * a02 + a12 * a12
    p = np.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * off) / 6.0)
    det_b = b00 * (b11 * b22 - a12 * a12) - a01 * (a01 * b22 - a12 * a02) + a02 * (a01 * a12 - b11 * a02)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = det_b / (2.0 * p * p * p)
    r = np.where(p > 0, np.clip(r, -1.0, 1.0), 0.0)
    phi = np.arccos(r) / 3.0
    lam1 = q + 2.0 * p * np.cos(phi)
    lam3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    lam2 = 3.0 * q - lam1 - lam3
    s1, s2, s3 = (np.sqrt(np.maximum(x, 0.0)) for x in (lam1, lam2, lam3))  # singular values of M
    i1 = s1 + s2 + s3
    i2 = s1 * s2 + s1 * s3 + s2 * s3
    i3 = s1 * s2 * s3
    det_m = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = (det_m > 0) & (s3 > _MIN_SINGULAR_RATIO * s1) & (var_p > 0)
        d = i1 * i2 - i3
        scale = i1 / var_p
        alpha = scale * i1 / (d * i3)
        beta = scale * (1.0 - i1 * (i1 * i1 - i2) / d) / i3
        gamma = scale * (i2 - i1 * i1 * i3 / d) / i3
        ok &= np.isfinite(alpha) & np.isfinite(beta) & np.isfinite(gamma)
        mat = ((m00, m01, m02), (m10, m11, m12), (m20, m21, m22))
        a = ((a00, a01, a02), (a01, a11, a12), (a02, a12, a22))
        ma = [[mat[i][0] * a[0][k] + mat[i][1] * a[1][k] + mat[i][2] * a[2][k] for k in range(3)] for i in range(3)]
        out = np.empty_like(m)
        for i in range(3):
            for k in range(3):
                maa = ma[i][0] * a[0][k] + ma[i][1] * a[1][k] + ma[i][2] * a[2][k]
                out[3 * i + k] = alpha * maa + beta * ma[i][k] + gamma * mat[i][k]  # s M A^(-1/2)
    return out, ok


def _pa_block(p: np.ndarray, g: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Aligned errors (J, c) for one block of (c, J, 3) frames; ``w`` (c, J) 0/1 float weights or None."""
    dt = p.dtype
    pp = p.transpose(2, 1, 0).copy()  # (3, J, c): every (coordinate, joint) a contiguous run over the frames
    gg = g.transpose(2, 1, 0).copy()
    if w is None:
        pp -= pp.mean(axis=1, keepdims=True)
        gg -= gg.mean(axis=1, keepdims=True)
        wp, wg = pp, gg
    else:
        wt = np.ascontiguousarray(w.T)  # (J, c); invalid joints were zeroed by the caller
        count = np.maximum(wt.sum(axis=0), 1)  # frames with no valid joint are masked out later
        pp -= (pp * wt).sum(axis=1, keepdims=True) / count
        gg -= (gg * wt).sum(axis=1, keepdims=True) / count
        wp, wg = pp * wt, gg * wt
    m = np.empty((9, p.shape[0]), dtype=np.float64)
    for a in range(3):
        for b in range(3):
            m[3 * a + b] = np.einsum("jc,jc->c", wg[a], wp[b])
    var_p = np.einsum("ajc,ajc->c", wp, wp).astype(np.float64)
    sr, ok = _scaled_rotations(m, var_p)
    sr = sr.astype(dt)  # (9, c), broadcast over the joints
    acc = None
    for a in range(3):
        qa = sr[3 * a] * pp[0]
        qa += sr[3 * a + 1] * pp[1]
        qa += sr[3 * a + 2] * pp[2]
        qa -= gg[a]
        qa *= qa
        acc = qa if acc is None else acc + qa
    errors = np.sqrt(acc)  # (J, c)
    if not ok.all():  # reflections, near-planar or degenerate frames: the SVD of geometry.procrustes_align
        idx = np.flatnonzero(~ok)
        idx = idx[np.isfinite(p[idx]).all(axis=(1, 2)) & np.isfinite(g[idx]).all(axis=(1, 2))]
        aligned = procrustes_align(p[idx], g[idx], None if w is None else w[idx] > 0)
        errors[:, idx] = np.linalg.norm(aligned - g[idx], axis=-1).T
    return errors


def pa_joint_errors(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint errors after Procrustes alignment of each predicted frame onto its ground truth.

    The alignment is the similarity transform (rotation without reflection, uniform scale, translation) of
    :func:`handpose.geometry.procrustes_align`, fitted on the valid joints; it is computed in closed form block by
    block (see :func:`_scaled_rotations`), and by that SVD function for frames where the closed form is not
    reliable (an optimal reflection, near-planar or degenerate point sets). float32 inputs are processed in
    float32 (the 3x3 algebra always in float64).

    Args:
        pred, gt: (N, J, 3) points (mm).
        valid: (N, J) bool; frames with fewer than 3 valid joints are skipped (their alignment is undefined).
    Returns:
        (errors (N, J), mask (N, J)) -- errors are 0 where the mask is False.
    """
    pred, gt = _check_pair(pred, gt)
    n, j, dim = gt.shape
    if dim != 3:
        raise DataError(f"Procrustes alignment needs 3D joints, got D = {dim}", field="gt")
    mask = _check_valid(valid, (n, j))
    if mask is not None:
        mask = mask & (np.count_nonzero(mask, axis=1) >= 3)[:, None]
        if not mask.any():
            raise DataError("no frame has 3 or more valid joints to align")
        keep = mask[..., None]
        pred = np.where(keep, pred, 0).astype(pred.dtype, copy=False)
        gt = np.where(keep, gt, 0).astype(gt.dtype, copy=False)
    errors = np.empty((n, j), dtype=pred.dtype)
    for s in range(0, n, _BLOCK):  # blocks of frames, each fully vectorised
        w = None if mask is None else mask[s : s + _BLOCK].astype(pred.dtype)
        errors[s : s + _BLOCK] = _pa_block(pred[s : s + _BLOCK], gt[s : s + _BLOCK], w).T
    if not np.isfinite(errors.sum()):  # a non-finite input makes its whole frame non-finite
        _raise_non_finite(pred, gt, mask)
    if mask is None:
        return errors, np.ones((n, j), dtype=bool)
    return np.where(mask, errors, 0).astype(errors.dtype, copy=False), mask


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Procrustes-aligned MPJPE (mm): :func:`pa_joint_errors` averaged over all valid (frame, joint) pairs."""
    errors, mask = pa_joint_errors(pred, gt, valid)
    return float(errors.sum(dtype=np.float64) / np.count_nonzero(mask))


def pck3d_curve(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray | list[float] = PCK3D_THRESHOLDS_MM,
    valid: np.ndarray | None = None,
) -> PCKCurve:
    """3D PCK: per joint, the share of valid frames whose error is at most each threshold (mm); ``mean`` averages
    over joints with valid samples (the convention of the RGB 3D hand benchmarks)."""
    return pck_curve(pred, gt, thresholds, valid, inclusive=True)


def pck3d_auc(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    thresholds: np.ndarray | list[float] = PCK3D_THRESHOLDS_MM,
) -> tuple[float, PCKCurve]:
    """Area under the 3D PCK curve over ``thresholds`` (default 20..50 mm, 31 points), trapezoidal, normalised
    to [0, 1]. Returns (auc, curve)."""
    curve = pck3d_curve(pred, gt, thresholds, valid)
    return curve_auc(curve.thresholds, curve.mean), curve


def success_rate_curve(
    pred: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray | list[float] = SUCCESS_THRESHOLDS_MM,
    valid: np.ndarray | None = None,
    reduce: str = "max",
) -> np.ndarray:
    """Success-frame rate: for each threshold t (mm), the share of frames whose ``reduce`` ("max" -- the depth
    benchmarks' convention -- or "mean") joint error over its valid joints is at most t. Frames with no valid joint
    are skipped. Returns (T,) rates in [0, 1]."""
    t = _check_thresholds(thresholds)
    errors, mask = joint_errors(pred, gt, valid)
    return success_rate_from_errors(errors, mask, t, reduce)


def success_rate_from_errors(
    errors: np.ndarray, mask: np.ndarray, thresholds: np.ndarray, reduce: str = "max"
) -> np.ndarray:
    """:func:`success_rate_curve` from (N, J) errors (0 where ``mask`` is False) and the (N, J) mask."""
    errors, mask = np.asarray(errors), np.asarray(mask, dtype=bool)
    if errors.ndim != 2 or mask.shape != errors.shape:
        raise DataError(f"errors {errors.shape} and mask {mask.shape} must both be (N, J)")
    counts = np.count_nonzero(mask.T, axis=0)  # reductions over J run on the joint-major layout
    have = counts > 0
    if not have.any():
        raise DataError("no frame has a valid joint")
    masked = np.where(mask.T, errors.T, 0)
    if reduce == "max":
        per_frame = masked.max(axis=0)  # errors are >= 0
    elif reduce == "mean":
        per_frame = masked.sum(axis=0, dtype=np.float64) / np.maximum(counts, 1)
    else:
        raise DataError(f"reduce must be 'max' or 'mean', got {reduce!r}", field="reduce")
    ordered = np.sort(per_frame[have])
    return np.searchsorted(ordered, np.asarray(thresholds, dtype=ordered.dtype), side="right") / ordered.size


# --------------------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------------------


def _check_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise DataError(f"expected (N, 4) boxes [x0, y0, x1, y1], got shape {b.shape}", field=name)
    bad = ~np.all(np.isfinite(b), axis=1) | (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"box {i} is not finite with x1 >= x0, y1 >= y0: {b[i].tolist()}", field=name)
    return b


def _iou(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> np.ndarray:
    # a, b broadcastable (..., 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    if np.any(union <= 0):
        where = np.argwhere(np.atleast_1d(union <= 0))[0].tolist()
        raise DataError(
            f"IoU undefined: both boxes have zero area at index {where} ({name_a} vs {name_b}); "
            "a zero-size box is not a valid hand box"
        )
    return inter / union


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes [x0, y0, x1, y1] (px): (N, M) in [0, 1].

    A zero-area box against a box with area gives 0; two zero-area boxes have no defined IoU and raise
    :class:`DataError`.
    """
    a = _check_boxes(boxes_a, "boxes_a")
    b = _check_boxes(boxes_b, "boxes_b")
    return _iou(a[:, None, :], b[None, :, :], "boxes_a", "boxes_b")


def box_iou_matched(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of each predicted box with the ground-truth box of the same index: (N,) for (N, 4) inputs."""
    a = _check_boxes(pred, "pred")
    b = _check_boxes(gt, "gt")
    if a.shape != b.shape:
        raise DataError(f"{a.shape[0]} predicted boxes but {b.shape[0]} ground-truth boxes", field="pred")
    return _iou(a, b, "pred", "gt")


def _check_binary(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise DataError(f"expected a non-empty 1-D array, got shape {y.shape}", field=name)
    if y.dtype != bool:
        if not np.all(np.isin(y, (0, 1))):
            raise DataError("labels must be 0/1 or bool", field=name)
        y = y.astype(bool)
    return y


def binary_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """Hand / no-hand decisions: accuracy, precision, recall, F1 and the four counts.

    Args:
        y_true, y_pred: (N,) bool or 0/1 (True = hand).
    Returns:
        ``{"accuracy", "precision", "recall", "f1", "tp", "fp", "tn", "fn"}``. A ratio with a zero denominator
        (no predicted positive for precision, no actual positive for recall) is 0.0, as is F1 when both are 0.
    """
    t = _check_binary(y_true, "y_true")
    p = _check_binary(y_pred, "y_pred")
    if t.shape != p.shape:
        raise DataError(f"{p.size} predictions for {t.size} labels", field="y_pred")
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    tn = int(t.size - tp - fp - fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / t.size,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of hand scores (higher = more likely a hand).

    Returns:
        (fpr, tpr, thresholds), each (K + 1,): the operating points "score >= threshold" for each distinct score,
        highest first, preceded by (0, 0) at threshold +inf.
    Raises:
        DataError: if only one class is present (the curve is undefined) or a score is not finite.
    """
    t = _check_binary(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != t.shape:
        raise DataError(f"{s.size} scores for {t.size} labels", field="scores")
    if not np.all(np.isfinite(s)):
        raise DataError("scores must be finite", field="scores")
    pos = int(np.count_nonzero(t))
    neg = t.size - pos
    if pos == 0 or neg == 0:
        raise DataError(f"ROC needs both classes; got {pos} positives and {neg} negatives", field="y_true")
    order = np.argsort(-s, kind="stable")
    s_sorted, t_sorted = s[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s.size - 1]  # last index of each distinct score
    tps = np.cumsum(t_sorted)[last]
    fps = (last + 1) - tps
    fpr = np.r_[0.0, fps / neg]
    tpr = np.r_[0.0, tps / pos]
    return fpr, tpr, np.r_[np.inf, s_sorted[last]]


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal; ties count one half), in [0, 1]."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum((tpr[1:] + tpr[:-1]) * np.diff(fpr)) / 2.0)


def match_detections(
    pred_boxes: list[np.ndarray],
    pred_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Match the detections of several images to their ground-truth boxes, greedily by score (PASCAL VOC's rule):
    each detection, best first, takes the unmatched ground-truth box it overlaps most if that IoU reaches
    ``iou_threshold`` (a true positive), else it is a false positive.

    Args:
        pred_boxes, pred_scores: per image, (N_i, 4) boxes [x0, y0, x1, y1] px and (N_i,) scores.
        gt_boxes: per image, (K_i, 4) boxes.
    Returns:
        (scores, is_tp, ious, n_gt): over all detections sorted by score (highest first) their scores, whether each
        is a true positive and its IoU with the box it matched (0 for false positives), and the number of
        ground-truth boxes.
    """
    if not len(pred_boxes) == len(pred_scores) == len(gt_boxes):
        raise DataError(f"{len(pred_boxes)} images of boxes, {len(pred_scores)} of scores, {len(gt_boxes)} of truth",
                        field="pred_boxes")  # fmt: skip
    rows: list[tuple[float, bool, float]] = []
    n_gt = 0
    for boxes, scores, gt in zip(pred_boxes, pred_scores, gt_boxes):
        g = _check_boxes(np.asarray(gt, np.float64).reshape(-1, 4), "gt_boxes")
        b = _check_boxes(np.asarray(boxes, np.float64).reshape(-1, 4), "pred_boxes")
        sc = np.asarray(scores, np.float64).reshape(-1)
        if sc.shape[0] != b.shape[0]:
            raise DataError(f"{b.shape[0]} boxes but {sc.shape[0]} scores", field="pred_scores")
        n_gt += len(g)
        taken = np.zeros(len(g), bool)
        ious = _iou(b[:, None, :], g[None, :, :], "pred", "gt") if len(g) and len(b) else np.zeros((len(b), 0))
        for i in np.argsort(-sc, kind="stable"):
            best, best_iou = -1, iou_threshold
            for k in range(len(g)):
                if not taken[k] and ious[i, k] >= best_iou:
                    best, best_iou = k, ious[i, k]
            if best >= 0:
                taken[best] = True
                rows.append((float(sc[i]), True, float(ious[i, best])))
            else:
                rows.append((float(sc[i]), False, 0.0))
    rows.sort(key=lambda r: -r[0])
    scores_out = np.array([r[0] for r in rows], np.float64)
    return scores_out, np.array([r[1] for r in rows], bool), np.array([r[2] for r in rows], np.float64), n_gt


def detection_scores(
    pred_boxes: list[np.ndarray],
    pred_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """Detection of several hands per image at one IoU threshold (see :func:`match_detections`).

    Returns:
        ``precision`` and ``recall`` of all the detections given, their ``f1``, ``tp`` / ``fp`` / ``fn``,
        ``mean_iou`` of the true positives, and ``ap`` (average precision: the area under the precision-recall
        curve of the detections ranked by score, with precision made monotone, VOC 2010's all-point rule).
    """
    scores, tp, ious, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou_threshold)
    n_tp, n_fp = int(tp.sum()), int((~tp).sum())
    precision = n_tp / (n_tp + n_fp) if n_tp + n_fp else 0.0
    recall = n_tp / n_gt if n_gt else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ap = 0.0
    if n_gt and len(tp):
        ctp = np.cumsum(tp)
        prec = ctp / np.arange(1, len(tp) + 1)
        rec = ctp / n_gt
        prec = np.maximum.accumulate(prec[::-1])[::-1]  # monotone envelope
        ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": n_tp,
        "fp": n_fp,
        "fn": n_gt - n_tp,
        "mean_iou": float(ious[tp].mean()) if n_tp else 0.0,
        "ap": ap,
    }


# --------------------------------------------------------------------------------------------------------------
# Gestures (classification)
# --------------------------------------------------------------------------------------------------------------


def _check_labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise DataError(f"expected a non-empty 1-D array of class indices, got shape {y.shape}", field=name)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError("class labels must be integers", field=name)
        y = y.astype(np.int64)
    if np.any(y < 0):
        raise DataError(f"class labels must be >= 0, got {int(y.min())}", field=name)
    return y.astype(np.int64, copy=False)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class.

    Args:
        y_true, y_pred: (N,) class indices in [0, C).
        num_classes: C; default max label + 1.
    """
    t = _check_labels(y_true, "y_true")
    p = _check_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise DataError(f"{p.size} predictions for {t.size} labels", field="y_pred")
    c = int(max(t.max(), p.max()) + 1) if num_classes is None else int(num_classes)
    if t.max() >= c or p.max() >= c:
        raise DataError(f"a label is >= num_classes = {c}", field="y_true" if t.max() >= c else "y_pred")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def classification_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of samples whose predicted class equals the true class."""
    cm = confusion_matrix(y_true, y_pred)
    return float(np.trace(cm) / cm.sum())


def error_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """1 - :func:`classification_accuracy` (the gesture error rate)."""
    return 1.0 - classification_accuracy(y_true, y_pred)
