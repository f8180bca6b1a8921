"""Ray casting of round cones (tapered capsules) into a z-buffer, vectorised over pixels.

Every solid of the synthetic world is a *round cone*: the convex hull of two spheres (centres ``a``, ``b`` in mm
in the camera frame, radii ``ra``, ``rb``); a sphere is a round cone with ``a == b``. For each primitive only the
pixels inside the screen bounding box of its two spheres are cast, and all (pixel, primitive) pairs of a frame are
processed in one vectorised pass.

Exact intersection: the first point of a ray inside the round cone is the earliest of (1) the entry into sphere
``a``, (2) the entry into sphere ``b``, (3) a crossing of the lateral surface of the cone tangent to both spheres,
valid only between the two tangency circles. The ray through pixel (u, v) is ``t * d`` with
``d = ((u - cx) / fx, (v - cy) / fy, 1)``, so ``t`` is directly the depth z in mm. Pixel centres sit at integer
coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...geometry import Intrinsics

#: hit kinds of :func:`cast`
HIT_SPHERE_A, HIT_SPHERE_B, HIT_BODY = 0, 1, 2


@dataclass
class Primitives:
    """A set of P round cones.

    Attributes:
        a, b: (P, 3) sphere centres, mm, camera frame.
        ra, rb: (P,) radii, mm.
        label: (P,) int, what each primitive is (the caller's own codes: hand part, clutter, ...).
    """

    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.ra)

    @staticmethod
    def concat(*parts: Primitives) -> Primitives:
        parts = tuple(p for p in parts if p is not None and len(p))
        if not parts:
            return Primitives(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0, np.int32))
        return Primitives(
            np.concatenate([p.a for p in parts]),
            np.concatenate([p.b for p in parts]),
            np.concatenate([p.ra for p in parts]),
            np.concatenate([p.rb for p in parts]),
            np.concatenate([p.label for p in parts]).astype(np.int32),
        )


def _sphere_extent(c: np.ndarray, r: np.ndarray, axis: int, f: float, centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact image extent (min, max pixel) along ``axis`` (0 = u, 1 = v) of spheres (c (P, 3), r (P,)).

    The silhouette's extreme rays lie in the planes through the camera, containing the other image axis, that are
    tangent to the sphere: x = k z with (cx_ - k cz)^2 = r^2 (1 + k^2).
    """
    cx_ = c[:, axis]
    cz = c[:, 2]
    den = cz * cz - r * r
    root = np.sqrt(np.maximum(cx_ * cx_ + den, 0.0))
    k1 = (cx_ * cz - r * root) / den
    k2 = (cx_ * cz + r * root) / den
    p1, p2 = f * k1 + centre, f * k2 + centre
    return np.minimum(p1, p2), np.maximum(p1, p2)


def screen_boxes(prims: Primitives, cam: Intrinsics) -> np.ndarray:
    """(P, 4) int pixel boxes [u0, v0, u1, v1] (inclusive, clipped to the image; u1 < u0 when off-screen).

    Primitives that reach within 1 mm of the camera plane are dropped (empty box).
    """
    boxes = []
    for c, r in ((prims.a, prims.ra), (prims.b, prims.rb)):
        u0, u1 = _sphere_extent(c, r, 0, cam.fx, cam.cx)
        v0, v1 = _sphere_extent(c, r, 1, cam.fy, cam.cy)
        boxes.append((u0, v0, u1, v1))
    u0 = np.floor(np.minimum(boxes[0][0], boxes[1][0]))
    v0 = np.floor(np.minimum(boxes[0][1], boxes[1][1]))
    u1 = np.ceil(np.maximum(boxes[0][2], boxes[1][2]))
    v1 = np.ceil(np.maximum(boxes[0][3], boxes[1][3]))
    out = np.stack(
        [
            np.clip(u0, 0, cam.width - 1),
            np.clip(v0, 0, cam.height - 1),
            np.clip(u1, -1, cam.width - 1),
            np.clip(v1, -1, cam.height - 1),
        ],
        axis=1,
    )
    out = np.nan_to_num(out, nan=-1.0).astype(np.int64)
    near = (np.minimum(prims.a[:, 2] - prims.ra, prims.b[:, 2] - prims.rb) < 1.0) | (u1 < 0) | (v1 < 0)
    near |= (u0 > cam.width - 1) | (v0 > cam.height - 1)
    out[near, 2] = out[near, 0] - 1
    return out


@dataclass
class Hits:
    """The (pixel, primitive) pairs of a cast and their first hits.

    Attributes:
        pixel: (N,) flat pixel index (v * width + u).
        prim: (N,) primitive index.
        depth: (N,) z of the first hit in mm (inf = miss).
        kind: (N,) int8, which surface was hit (HIT_SPHERE_A / HIT_SPHERE_B / HIT_BODY).
    """

    pixel: np.ndarray
    prim: np.ndarray
    depth: np.ndarray
    kind: np.ndarray


def _pairs(boxes: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = np.maximum(boxes[:, 2] - boxes[:, 0] + 1, 0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1] + 1, 0)
    h = np.where(w > 0, h, 0)
    counts = w * h
    total = int(counts.sum())
    prim = np.repeat(np.arange(len(boxes)), counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(total) - start
    wr = np.repeat(np.maximum(w, 1), counts)
    u = np.repeat(boxes[:, 0], counts) + local % wr
    v = np.repeat(boxes[:, 1], counts) + local // wr
    return prim, u, v, v * width + u


def cast(prims: Primitives, cam: Intrinsics) -> Hits:
    """Cast every pixel ray inside each primitive's screen box; return the first hit of each pair."""
    boxes = screen_boxes(prims, cam)
    prim, u, v, pixel = _pairs(boxes, cam.width)
    dx = (u - cam.cx) / cam.fx
    dy = (v - cam.cy) / cam.fy
    depth, kind = _first_hit(prims, prim, dx, dy)
    hit = np.isfinite(depth)
    return Hits(pixel[hit], prim[hit], depth[hit], kind[hit])


def _sphere_entry(cx, cy, cz, r, dx, dy, dd):
    """Entry t of rays t * (dx, dy, 1) into spheres; inf where missed or behind the camera."""
    # |d x c|^2 is the squared distance of the centre from the ray times |d|^2: well conditioned near the rim
    ex = dy * cz - cy
    ey = cx - dx * cz
    ez = dx * cy - dy * cx
    cross2 = ex * ex + ey * ey + ez * ez
    disc = r * r * dd - cross2
    b = dx * cx + dy * cy + cz
    with np.errstate(invalid="ignore"):
        t = (b - np.sqrt(disc)) / dd
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def _first_hit(prims: Primitives, prim: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = prims.a[prim]
    b = prims.b[prim]
    ra = prims.ra[prim]
    rb = prims.rb[prim]
    dd = dx * dx + dy * dy + 1.0
    ta = _sphere_entry(a[:, 0], a[:, 1], a[:, 2], ra, dx, dy, dd)
    tb = _sphere_entry(b[:, 0], b[:, 1], b[:, 2], rb, dx, dy, dd)
    best = np.minimum(ta, tb)
    kind = np.where(tb < ta, HIT_SPHERE_B, HIT_SPHERE_A).astype(np.int8)
    # lateral surface of the tangent cone: in axial / radial coordinates (y, q) around a, the points with
    # y sin(phi) + q cos(phi) = ra, for ra sin(phi) <= y <= L + rb sin(phi), where sin(phi) = (ra - rb) / L
    axis = b - a
    length = np.sqrt(np.sum(axis * axis, axis=1))
    body = length > np.abs(ra - rb) + 1e-6
    if np.any(body):
        idx = np.flatnonzero(body)
        ax = axis[idx] / length[idx, None]
        L = length[idx]
        s = (ra[idx] - rb[idx]) / L
        c2 = 1.0 - s * s
        A = a[idx]
        ddx, ddy, d2 = dx[idx], dy[idx], dd[idx]
        m = ddx * ax[:, 0] + ddy * ax[:, 1] + ax[:, 2]  # d . axis
        n = np.sum(A * ax, axis=1)  # a . axis
        dA = ddx * A[:, 0] + ddy * A[:, 1] + A[:, 2]  # d . a
        AA = np.sum(A * A, axis=1)
        r0 = ra[idx]
        qa = c2 * d2 - m * m
        qb = -2.0 * c2 * dA + 2.0 * m * n + 2.0 * r0 * s * m
        qc = c2 * AA - n * n - r0 * r0 - 2.0 * r0 * s * n
        disc = qb * qb - 4.0 * qa * qc
        ok = (disc >= 0) & (np.abs(qa) > 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.sqrt(np.where(ok, disc, 0.0))
            t_body = np.full(len(idx), np.inf)
            for sign in (-1.0, 1.0):
                t = (-qb + sign * sq) / (2.0 * qa)
                y = t * m - n
                valid = ok & (t > 0) & (y >= r0 * s) & (y <= L + rb[idx] * s) & (r0 - y * s >= 0)
                t_body = np.where(valid & (t < t_body), t, t_body)
        better = t_body < best[idx]
        best[idx] = np.where(better, t_body, best[idx])
        kind[idx] = np.where(better, HIT_BODY, kind[idx])
    return best, kind


def zbuffer(hits: Hits, size: int, base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resolve the nearest hit per pixel.

    Args:
        hits: pairs from :func:`cast`.
        size: number of pixels (width * height).
        base: optional (size,) depth already in the buffer (a background); hits behind it lose.
    Returns:
        (depth (size,) float64 mm, inf where nothing; owner (size,) primitive index or -1; winner (size,) the index
        into ``hits`` of the winning pair or -1).
    """
    depth = np.full(size, np.inf) if base is None else base.astype(np.float64, copy=True)
    np.minimum.at(depth, hits.pixel, hits.depth)
    won = hits.depth == depth[hits.pixel]
    owner = np.full(size, -1, np.int64)
    winner = np.full(size, -1, np.int64)
    w = np.flatnonzero(won)
    owner[hits.pixel[w]] = hits.prim[w]
    winner[hits.pixel[w]] = w
    return depth, owner, winner


def normals(prims: Primitives, hits: Hits, pairs: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Unit surface normals (K, 3) at the hits ``pairs`` (indices into ``hits``), rays (dx, dy, 1)."""
    p = hits.prim[pairs]
    t = hits.depth[pairs]
    x = np.stack([t * dx, t * dy, t], axis=1)
    kind = hits.kind[pairs]
    a, b = prims.a[p], prims.b[p]
    ra, rb = prims.ra[p], prims.rb[p]
    out = np.where((kind == HIT_SPHERE_B)[:, None], x - b, x - a)
    body = kind == HIT_BODY
    if np.any(body):
        ab = b[body] - a[body]
        L = np.linalg.norm(ab, axis=1)
        ax = ab / L[:, None]
        s = ((ra[body] - rb[body]) / L)[:, None]
        w = x[body] - a[body]
        y = np.sum(w * ax, axis=1, keepdims=True)
        radial = w - y * ax
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        out[body] = s * ax + np.sqrt(np.maximum(1.0 - s * s, 0.0)) * radial
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
