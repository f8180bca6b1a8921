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


@dataclass
class Primitives:
    """A set of P round cones.

    Attributes:
        a, b: (P, 3) sphere centres, mm, camera frame.
        ra, rb: (P,) radii, mm.
        label: (P,) int, what each primitive is (the caller's own codes: hand, clutter, ...).
        part: optional (P,) int, a finer code (which finger, palm, ...); -1 where none.
    """

    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    label: np.ndarray
    part: np.ndarray | None = None

    def parts(self) -> np.ndarray:
        """(P,) int part codes (-1 when the primitives carry none)."""
        return np.full(len(self.ra), -1, np.int32) if self.part is None else self.part

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
            np.concatenate([p.parts() for p in parts]).astype(np.int32),
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


def _sphere_boxes(c: np.ndarray, r: np.ndarray, cam: Intrinsics) -> tuple[np.ndarray, ...]:
    u0, u1 = _sphere_extent(c, r, 0, cam.fx, cam.cx)
    v0, v1 = _sphere_extent(c, r, 1, cam.fy, cam.cy)
    return u0, v0, u1, v1


def screen_boxes(prims: Primitives, cam: Intrinsics) -> np.ndarray:
    """(P, 4) int pixel boxes [u0, v0, u1, v1] (inclusive, clipped to the image; u1 < u0 when off-screen).

    Primitives that reach within 1 mm of the camera plane are dropped (empty box).
    """
    return _screen_geometry(prims, cam)[0]


def _disc_radius(box: tuple[np.ndarray, ...], c: np.ndarray) -> np.ndarray:
    """Radius of a disc around the box centre that contains a sphere's image (an ellipse inscribed in the box).

    The ellipse's axis ratio is at most 1 / cos(theta) (theta: the centre's angle off the optical axis); its
    half-width h then bounds its semi-major axis a by a <= h / sqrt((1 + cos^2 theta) / 2).
    """
    half = 0.5 * np.maximum(box[2] - box[0], box[3] - box[1])
    cos2 = c[:, 2] ** 2 / np.maximum(np.sum(c * c, axis=1), 1e-12)
    return half / np.sqrt(0.5 * (1.0 + cos2)) * 1.02 + 0.75


def _screen_geometry(prims: Primitives, cam: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (P, 4) and, per end sphere, a disc that contains its image: centres (P, 2, 2) and radii (P, 2).

    The image of a round cone is the convex hull of the images of its two spheres (perspective maps segments to
    segments), so it lies inside the 2D capsule of the two discs.
    """
    ba = _sphere_boxes(prims.a, prims.ra, cam)
    bb = _sphere_boxes(prims.b, prims.rb, cam)
    u0 = np.floor(np.minimum(ba[0], bb[0]))
    v0 = np.floor(np.minimum(ba[1], bb[1]))
    u1 = np.ceil(np.maximum(ba[2], bb[2]))
    v1 = np.ceil(np.maximum(ba[3], bb[3]))
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
    centres = np.stack([np.stack([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], axis=1) for b in (ba, bb)], axis=1)
    radii = np.stack([_disc_radius(ba, prims.a), _disc_radius(bb, prims.b)], axis=1)
    return out, np.nan_to_num(centres), np.nan_to_num(radii)


@dataclass
class Hits:
    """The (pixel, primitive) pairs of a cast that hit, and the depth of their first hit.

    Attributes:
        pixel: (N,) flat pixel index (v * width + u).
        prim: (N,) primitive index.
        depth: (N,) float32 z of the first hit in mm.
    """

    pixel: np.ndarray
    prim: np.ndarray
    depth: np.ndarray


def _expand(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(prim, u, v, counts) of every pixel of each box [u0, v0, u1, v1] (inclusive), grouped by primitive."""
    w = np.maximum(boxes[:, 2] - boxes[:, 0] + 1, 0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1] + 1, 0)
    counts = np.where(w > 0, w * h, 0)
    total = int(counts.sum())
    prim = np.repeat(np.arange(len(boxes), dtype=np.int32), counts)
    local = np.arange(total, dtype=np.int32) - np.repeat((np.cumsum(counts) - counts).astype(np.int32), counts)
    wr = np.repeat(np.maximum(w, 1).astype(np.int32), counts)
    u = np.repeat(boxes[:, 0].astype(np.int32), counts) + local % wr
    v = np.repeat(boxes[:, 1].astype(np.int32), counts) + local // wr
    return prim, u, v, counts


def _capsule_constants(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Per primitive, the constants of its conservative 2D capsule test, as the rows of one (8, P) float32 table:
    first disc centre x, y; centre segment x, y; 1 / its squared length; slope and base of the tangent bound; the
    larger radius (pixels)."""
    seg = centres[:, 1] - centres[:, 0]
    seg2 = np.sum(seg * seg, axis=1)
    inv_seg2 = 1.0 / np.maximum(seg2, 1e-12)
    # the convex hull of two discs (radii R0, R1, centres a length l apart, |R0 - R1| < l) is bounded by their
    # common outer tangents, at distance (R0 + t (R1 - R0)) / cos(phi) from the point t of the centre segment
    # (sin(phi) = (R0 - R1) / l); where one disc holds the other, the larger disc bounds everything
    r0, r1 = radii[:, 0], radii[:, 1]
    r_max = np.maximum(r0, r1)
    sin2 = (r0 - r1) ** 2 * inv_seg2
    tapered = sin2 < 0.81  # cos(phi) > 0.44: the tangent bound is tight enough to be worth it
    inv_cos = np.where(tapered, 1.0 / np.sqrt(np.maximum(1.0 - sin2, 1e-12)), 0.0)
    base = np.where(tapered, r0 * inv_cos, r_max)
    slope = np.where(tapered, (r1 - r0) * inv_cos, 0.0)
    return np.stack([centres[:, 0, 0], centres[:, 0, 1], seg[:, 0], seg[:, 1], inv_seg2, slope, base, r_max]).astype(
        np.float32
    )


def _pairs(
    boxes: np.ndarray, centres: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(prim, u, v, counts) of the pixels of each box within the primitive's conservative 2D capsule.

    Pairs stay grouped by primitive, so per-primitive values are expanded with ``np.repeat(values, counts)``
    (several times faster than gathering them by index).
    """
    prim, u, v, counts = _expand(boxes)
    c0x, c0y, sx, sy, inv_seg2, slope, base, r_max = np.repeat(_capsule_constants(centres, radii), counts, axis=1)
    px = u.astype(np.float32)
    px -= c0x
    py = v.astype(np.float32)
    py -= c0y
    t = px * sx
    t += py * sy
    t *= inv_seg2
    np.clip(t, 0.0, 1.0, out=t)
    px -= t * sx
    py -= t * sy
    px *= px
    py *= py
    px += py
    bound = t * slope
    bound += base
    np.minimum(bound, r_max, out=bound)
    bound *= bound
    keep = px <= bound
    # surviving pairs per primitive: the sum of ``keep`` over each primitive's contiguous run (empty runs give 0)
    running = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    ends = np.cumsum(counts)
    kept_counts = running[ends] - running[ends - counts]
    idx = np.flatnonzero(keep)
    return prim[idx], u[idx], v[idx], kept_counts


def cast(prims: Primitives, cam: Intrinsics) -> Hits:
    """Cast every pixel ray inside each primitive's screen capsule; return the first hit of each pair that hits."""
    boxes, centres, radii = _screen_geometry(prims, cam)
    prim, u, v, counts = _pairs(boxes, centres, radii)
    dx = ((u - cam.cx) / cam.fx).astype(np.float32)
    dy = ((v - cam.cy) / cam.fy).astype(np.float32)
    depth = _first_hit(prims, counts, dx, dy)
    hit = np.flatnonzero(depth < np.inf)
    return Hits((v * np.int32(cam.width) + u)[hit], prim[hit], depth[hit])


def _cone_constants(prims: Primitives) -> tuple[np.ndarray, np.ndarray]:
    """Per primitive, the constants of the exact ray test as the rows of one (12, P) float32 table: centre a (mm),
    unit axis, ra^2, rb^2, axis length L, s = sin(phi) = (ra - rb) / L (0 without a lateral surface), ra, rb; and
    (P,) bool: whether the cone has a lateral surface (one sphere does not hold the other)."""
    a = prims.a
    axis = prims.b - a
    length = np.sqrt(np.sum(axis * axis, axis=1))
    has_body = length > np.abs(prims.ra - prims.rb) + 1e-6
    L = np.where(length > 1e-9, length, 1.0)
    ax = axis / L[:, None]
    s = np.where(has_body, (prims.ra - prims.rb) / L, 0.0)
    table = np.stack([a[:, 0], a[:, 1], a[:, 2], ax[:, 0], ax[:, 1], ax[:, 2], prims.ra**2, prims.rb**2, length,
                      s, prims.ra, prims.rb]).astype(np.float32)  # fmt: skip
    return table, has_body


def _first_hit(prims: Primitives, counts: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Depth of the first hit (inf = miss) of each (ray, primitive) pair, float32; pairs grouped by primitive,
    ``counts[p]`` of them for primitive p.

    Numerically stable in float32: everything is expressed relative to the point of the ray closest to the
    primitive's first centre ``a`` (ray parameter t_a = (d . a) / |d|^2, offset p = t_a d - a, perpendicular to d),
    so no quantity is as large as the depth itself except t_a.

    * sphere (centre c, radius r): t = t_c - sqrt((r^2 - |p_c|^2) / |d|^2);
    * the cone's lateral surface, with t = t_a + tau, axial coordinate y = tau m + y0 (m = d . axis,
      y0 = p . axis), radial q^2 = |d|^2 tau^2 + |p|^2 - y^2 and the surface y sin(phi) + q cos(phi) = ra:
      (c2 |d|^2 - m^2) tau^2 + 2 m (ra s - y0) tau + (c2 |p|^2 - y0^2 - ra^2 + 2 ra s y0) = 0, where
      s = sin(phi) = (ra - rb) / L and c2 = 1 - s^2; valid for ra s <= y <= L + rb s.
    """
    f32 = np.float32
    table, has_body = _cone_constants(prims)
    # the per-primitive constants expanded to the pairs in a single np.repeat
    gx, gy, gz, mx, my, mz, ra2, rb2, lp, s_rep, ra_rep, rb_rep = np.repeat(table, counts, axis=1)

    dd = dx * dx
    dd += dy * dy
    dd += f32(1.0)
    inv_dd = f32(1.0) / dd
    t_a = dx * gx
    t_a += dy * gy
    t_a += gz
    t_a *= inv_dd
    px = t_a * dx
    px -= gx
    py = t_a * dy
    py -= gy
    pz = t_a - gz
    h2 = px * px
    h2 += py * py
    h2 += pz * pz
    with np.errstate(invalid="ignore"):
        depth = t_a - np.sqrt((ra2 - h2) * inv_dd)  # NaN where sphere a is missed
    m = dx * mx
    m += dy * my
    m += mz
    # sphere b: its closest-approach offset, from p by moving along the axis by L
    shift = lp * m * inv_dd  # t_b - t_a
    qx = px + shift * dx - lp * mx
    qy = py + shift * dy - lp * my
    qz = pz + shift - lp * mz
    qx *= qx
    qx += qy * qy
    qx += qz * qz
    with np.errstate(invalid="ignore"):
        tb = t_a + shift - np.sqrt((rb2 - qx) * inv_dd)
    np.fmin(depth, tb, out=depth)
    if np.any(has_body & (counts > 0)):
        body = np.flatnonzero(np.repeat(has_body, counts))
        sp = s_rep[body]
        rab = ra_rep[body]
        c2 = f32(1.0) - sp * sp
        mb = m[body]
        y0 = px[body] * mx[body] + py[body] * my[body] + pz[body] * mz[body]
        ras = rab * sp
        qa = c2 * dd[body] - mb * mb
        qb = f32(2.0) * mb * (ras - y0)
        qc = c2 * h2[body] - y0 * y0 - rab * rab + f32(2.0) * ras * y0
        disc = qb * qb - f32(4.0) * qa * qc
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.sqrt(disc)
            inv = f32(0.5) / qa
            y_hi = lp[body] + rb_rep[body] * sp
            best = np.full(len(body), np.inf, f32)
            for sign in (f32(-1.0), f32(1.0)):
                tau = (sign * sq - qb) * inv
                y = tau * mb + y0
                valid = (y >= ras) & (y <= y_hi) & (rab >= y * sp)
                best = np.where(valid, np.fmin(best, tau), best)
        depth[body] = np.fmin(depth[body], t_a[body] + best)
    depth[~(depth > 0)] = np.inf
    return depth


def zbuffer(hits: Hits, size: int, base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resolve the nearest hit per pixel.

    Args:
        hits: pairs from :func:`cast`.
        size: number of pixels (width * height).
        base: optional (size,) depth already in the buffer (a background); hits behind it lose.
    Returns:
        (depth (size,) float32 mm, inf where nothing; owner (size,) primitive index, -1 where the base or nothing).
    """
    depth = np.full(size, np.inf, np.float32) if base is None else base.astype(np.float32, copy=True)
    np.minimum.at(depth, hits.pixel, hits.depth)
    won = np.flatnonzero(hits.depth == depth[hits.pixel])
    owner = np.full(size, -1, np.int32)
    owner[hits.pixel[won]] = hits.prim[won]
    return depth, owner


def render_depth(
    prims: Primitives, cam: Intrinsics, base: np.ndarray | None = None, jit: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast ``prims`` into a z-buffer: ``zbuffer(cast(prims, cam), W * H, base)``, bit for bit.

    Args:
        prims: the primitives.
        cam: the camera (its width and height give the buffer's size).
        base: optional (H*W,) depth already in the buffer (see :func:`zbuffer`).
        jit: use the compiled kernel of :mod:`.kernels` (None: when it is available); False: numpy.
    Returns:
        (depth (H*W,) float32 mm, inf where nothing; owner (H*W,) int32 primitive index, -1 where none).
    """
    from .kernels import CAST

    size = cam.width * cam.height
    if jit is None:
        jit = CAST is not None
    if not jit or len(prims) == 0:
        return zbuffer(cast(prims, cam), size, base)
    if CAST is None:
        raise RuntimeError("the compiled ray caster is not available (numba missing or HANDPOSE_NO_JIT set)")
    depth = np.full(size, np.inf, np.float32) if base is None else base.astype(np.float32, copy=True)
    owner = np.full(size, -1, np.int32)
    # the ray slopes of each pixel column and row, as cast() computes them per pair
    dx_of_u = ((np.arange(cam.width) - cam.cx) / cam.fx).astype(np.float32)
    dy_of_v = ((np.arange(cam.height) - cam.cy) / cam.fy).astype(np.float32)
    CAST(
        np.ascontiguousarray(prims.a, np.float64), np.ascontiguousarray(prims.b, np.float64),
        np.ascontiguousarray(prims.ra, np.float64), np.ascontiguousarray(prims.rb, np.float64), float(cam.fx),
        float(cam.fy), float(cam.cx), float(cam.cy), int(cam.width), int(cam.height), dx_of_u, dy_of_v, depth, owner,
    )  # fmt: skip
    return depth, owner
