"""Compiled kernels of the synthetic world (numba): the ray caster and the RGB shading, pixel by pixel.

Each repeats the arithmetic of the vectorised numpy code it replaces, operation for operation, in the same
precision and order, so both paths give bit-identical frames (tests check it on rendered scenes); the kernels only
visit each pixel once, in registers, instead of materialising a dozen arrays per step:

* ``CAST``: :func:`.raster.render_depth`, i.e. ``raster._screen_geometry``, ``_pairs``, ``_first_hit`` and
  ``zbuffer`` over every (pixel, primitive) pair of a frame;
* ``SHADE``: the per-pixel part of ``world._rgb``: normals from the smoothed depth, albedo (skin, palm, objects) and
  diffuse + Blinn-Phong shading (``world._normals_at``, ``world._shade``);
* ``PLANE`` and ``SURFACE_LABELS``: the background plane's depth and the per-pixel label / part / segmentation
  look-ups of ``world.World.render``;
* ``SENSOR``: the depth sensor model of ``world.World._sensor`` (noise, dropout at depth edges, speckles, 1 mm).

Compiled on first use and cached next to this file (or in numba's user cache when that is not writable). All are
None when numba cannot be imported or ``HANDPOSE_NO_JIT=1``; the numpy code runs then.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

CAST: Any = None
SHADE: Any = None
PLANE: Any = None
SURFACE_LABELS: Any = None
SENSOR: Any = None

if os.environ.get("HANDPOSE_NO_JIT", "") not in ("1", "true", "yes"):
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a dependency; the numpy path still works without it
        njit = None

    if njit is not None:

        @njit(cache=True, error_model="numpy", nogil=True)
        def _fmin(a: Any, b: Any) -> Any:  # np.fmin: a NaN loses
            if a != a:
                return b
            if b != b:
                return a
            return a if a < b else b

        @njit(cache=True, error_model="numpy", nogil=True)
        def _extent(c, r, f, centre, cz):  # noqa: ANN001, ANN202 - raster._sphere_extent for one sphere, one axis
            den = cz * cz - r * r
            root = np.sqrt(max(c * c + den, 0.0))
            p1 = f * ((c * cz - r * root) / den) + centre
            p2 = f * ((c * cz + r * root) / den) + centre
            return min(p1, p2), max(p1, p2)

        @njit(cache=True, error_model="numpy", nogil=True)
        def _disc(u0, v0, u1, v1, x, y, z):  # noqa: ANN001, ANN202 - raster._disc_radius for one sphere
            half = 0.5 * max(u1 - u0, v1 - v0)
            cos2 = z * z / max(x * x + y * y + z * z, 1e-12)
            return half / np.sqrt(0.5 * (1.0 + cos2)) * 1.02 + 0.75

        @njit(cache=True, error_model="numpy", nogil=True)
        def _cast_into(a, b, ra_mm, rb_mm, fx, fy, cx, cy, width, height, dx_of_u, dy_of_v, depth, owner):  # noqa: ANN001
            """Cast every pixel of each primitive's screen box that passes its 2D capsule test; keep the nearest hit.

            a, b (P, 3) float64 mm; ra_mm, rb_mm (P,) float64 mm; dx_of_u (W,), dy_of_v (H,) float32 ray slopes;
            depth (H*W,) float32 and owner (H*W,) int32 are updated in place (a hit wins where it is nearer than or
            as near as what is there: the last primitive of a tie owns the pixel). Per primitive, the screen box
            (``raster._screen_geometry``), the capsule constants (``raster._capsule_constants``) and the cone
            constants (``raster._cone_constants``) are computed as there, in float64, then rounded to float32.
            """
            f32 = np.float32
            f0 = f32(0.0)
            f1 = f32(1.0)
            f2 = f32(2.0)
            f4 = f32(4.0)
            half = f32(0.5)
            inf = f32(np.inf)
            for p in range(a.shape[0]):
                ax_, ay_, az_, bx_, by_, bz_ = a[p, 0], a[p, 1], a[p, 2], b[p, 0], b[p, 1], b[p, 2]
                ra64, rb64 = ra_mm[p], rb_mm[p]
                # screen box (inclusive pixels) and the discs that hold each end sphere's image
                au0, au1 = _extent(ax_, ra64, fx, cx, az_)
                av0, av1 = _extent(ay_, ra64, fy, cy, az_)
                bu0, bu1 = _extent(bx_, rb64, fx, cx, bz_)
                bv0, bv1 = _extent(by_, rb64, fy, cy, bz_)
                fu0 = np.floor(min(au0, bu0))
                fv0 = np.floor(min(av0, bv0))
                fu1 = np.ceil(max(au1, bu1))
                fv1 = np.ceil(max(av1, bv1))
                if not (np.isfinite(fu0) and np.isfinite(fv0) and np.isfinite(fu1) and np.isfinite(fv1)):
                    continue
                if min(az_ - ra64, bz_ - rb64) < 1.0 or fu1 < 0 or fv1 < 0 or fu0 > width - 1 or fv0 > height - 1:
                    continue
                u0 = int(max(fu0, 0.0))
                v0 = int(max(fv0, 0.0))
                u1 = int(min(fu1, width - 1.0))
                v1 = int(min(fv1, height - 1.0))
                c0x64 = (au0 + au1) / 2
                c0y64 = (av0 + av1) / 2
                r0 = _disc(au0, av0, au1, av1, ax_, ay_, az_)
                r1 = _disc(bu0, bv0, bu1, bv1, bx_, by_, bz_)
                sx64 = (bu0 + bu1) / 2 - c0x64
                sy64 = (bv0 + bv1) / 2 - c0y64
                inv_seg2_64 = 1.0 / max(sx64 * sx64 + sy64 * sy64, 1e-12)
                r_max64 = max(r0, r1)
                sin2 = (r0 - r1) * (r0 - r1) * inv_seg2_64
                if sin2 < 0.81:
                    inv_cos = 1.0 / np.sqrt(max(1.0 - sin2, 1e-12))
                    base, slope = f32(r0 * inv_cos), f32((r1 - r0) * inv_cos)
                else:
                    base, slope = f32(r_max64), f0
                c0x, c0y, sx, sy = f32(c0x64), f32(c0y64), f32(sx64), f32(sy64)
                inv_seg2, r_max = f32(inv_seg2_64), f32(r_max64)
                # the exact ray test's constants
                ex64, ey64, ez64 = bx_ - ax_, by_ - ay_, bz_ - az_
                length = np.sqrt(ex64 * ex64 + ey64 * ey64 + ez64 * ez64)
                body = length > abs(ra64 - rb64) + 1e-6
                ll = length if length > 1e-9 else 1.0
                gx, gy, gz = f32(ax_), f32(ay_), f32(az_)
                mx, my, mz = f32(ex64 / ll), f32(ey64 / ll), f32(ez64 / ll)
                ra2, rb2, lp = f32(ra64 * ra64), f32(rb64 * rb64), f32(length)
                sp = f32((ra64 - rb64) / ll) if body else f0
                ra, rb = f32(ra64), f32(rb64)
                for v in range(v0, v1 + 1):
                    py = f32(v) - c0y
                    dy = dy_of_v[v]
                    for u in range(u0, u1 + 1):
                        # conservative 2D capsule test (raster._pairs)
                        px = f32(u) - c0x
                        t = (px * sx + py * sy) * inv_seg2
                        t = f0 if t < f0 else (f1 if t > f1 else t)
                        ex = px - t * sx
                        ey = py - t * sy
                        bound = t * slope + base
                        if r_max < bound:
                            bound = r_max
                        if not (ex * ex + ey * ey <= bound * bound):
                            continue
                        # exact first hit (raster._first_hit)
                        dx = dx_of_u[u]
                        dd = dx * dx + dy * dy + f1
                        inv_dd = f1 / dd
                        t_a = (dx * gx + dy * gy + gz) * inv_dd
                        qx = t_a * dx - gx
                        qy = t_a * dy - gy
                        qz = t_a - gz
                        h2 = qx * qx + qy * qy + qz * qz
                        d = t_a - np.sqrt((ra2 - h2) * inv_dd)
                        m = dx * mx + dy * my + mz
                        shift = lp * m * inv_dd
                        bx = qx + shift * dx - lp * mx
                        by = qy + shift * dy - lp * my
                        bz = qz + shift - lp * mz
                        d = _fmin(d, t_a + shift - np.sqrt((rb2 - (bx * bx + by * by + bz * bz)) * inv_dd))
                        if body:
                            c2 = f1 - sp * sp
                            y0 = qx * mx + qy * my + qz * mz
                            ras = ra * sp
                            qa = c2 * dd - m * m
                            qb = f2 * m * (ras - y0)
                            qc = c2 * h2 - y0 * y0 - ra * ra + f2 * ras * y0
                            sq = np.sqrt(qb * qb - f4 * qa * qc)
                            inv = half / qa
                            y_hi = lp + rb * sp
                            best = inf
                            tau = (-sq - qb) * inv
                            y = tau * m + y0
                            if y >= ras and y <= y_hi and ra >= y * sp:
                                best = _fmin(best, tau)
                            tau = (sq - qb) * inv
                            y = tau * m + y0
                            if y >= ras and y <= y_hi and ra >= y * sp:
                                best = _fmin(best, tau)
                            d = _fmin(d, t_a + best)
                        if d > f0 and d < inf:
                            k = v * width + u
                            if d <= depth[k]:
                                depth[k] = d
                                owner[k] = p

        @njit(cache=True, error_model="numpy", nogil=True)
        def _clamp01(x):  # noqa: ANN001, ANN202 - np.minimum(np.maximum(x, 0), 1), NaN kept
            return np.float32(0.0) if x < 0 else (np.float32(1.0) if x > 1 else x)

        @njit(cache=True, error_model="numpy", nogil=True)
        def _shade_into(img, px, width, v0, u0, zs, zu, zv, fx, fy, cx, cy, view_x, view_y, view_z, owner,
                        albedo_rows, fixed_row, hand_label, owner_label, palm_normal, skin, palm, smooth, light):  # noqa: ANN001  # fmt: skip
            """Shade pixels ``px`` (flat indices) of ``img`` ((H*W, 3) float32, 0..255) in place.

            zs, zu, zv: the smoothed depth (mm) and its derivatives on the crop whose top-left pixel is (u0, v0);
            view_*: (H*W,) unit vectors towards the camera; albedo_rows (N, 3) float32 0..1, picked by ``owner[p]``
            or, when fixed_row >= 0, that row for every pixel; pixels whose ``owner_label`` is ``hand_label`` get
            skin blended towards the palm tone by how much they face along ``palm_normal`` (float32 (3,)), times
            1 + 0.03 ``smooth[p]``; light: float32 (10,) = direction (3), colour x 255 (3), ambient, diffuse,
            specular, shininess.
            """
            f32 = np.float32
            f0 = f32(0.0)
            f1 = f32(1.0)
            f255 = f32(255.0)
            lx, ly, lz, c0, c1, c2 = light[0], light[1], light[2], light[3], light[4], light[5]
            amb, dif, spc, shin = light[6], light[7], light[8], light[9]
            fx32, fy32 = f32(fx), f32(fy)
            for i in range(px.shape[0]):
                p = px[i]
                v = p // width
                u = p - v * width
                zp = zs[v - v0, u - u0]
                nx = zu[v - v0, u - u0] * fx32
                ny = zv[v - v0, u - u0] * fy32
                nz = -(zp + nx * f32((u - cx) / fx) + ny * f32((v - cy) / fy))
                inv = f1 / np.sqrt(max(nx * nx + ny * ny + nz * nz, f32(1e-12)))
                nx = nx * inv
                ny = ny * inv
                nz = nz * inv
                row = fixed_row if fixed_row >= 0 else owner[p]
                a0, a1, a2 = albedo_rows[row, 0], albedo_rows[row, 1], albedo_rows[row, 2]
                if owner_label[p] == hand_label:
                    pal = _clamp01(nx * palm_normal[0] + ny * palm_normal[1] + nz * palm_normal[2]) ** f32(1.5)
                    rest = f1 - pal
                    gain = f1 + f32(0.03) * smooth[p]
                    a0 = (skin[0] * rest + palm[0] * pal) / f255 * gain
                    a1 = (skin[1] * rest + palm[1] * pal) / f255 * gain
                    a2 = (skin[2] * rest + palm[2] * pal) / f255 * gain
                vx, vy, vz = view_x[p], view_y[p], view_z[p]
                ndl_raw = nx * lx + ny * ly + nz * lz
                ndv_raw = nx * vx + ny * vy + nz * vz
                ldv = vx * lx + vy * ly + vz * lz
                ndh = _clamp01((ndl_raw + ndv_raw) / np.sqrt(max(f32(2.0) + f32(2.0) * ldv, f32(1e-6))))
                diffuse = (amb + dif * _clamp01(ndl_raw)) * (f32(0.7) + f32(0.3) * _clamp01(ndv_raw))
                spec = spc * ndh**shin
                o0 = (a0 * diffuse + spec) * c0
                o1 = (a1 * diffuse + spec) * c1
                o2 = (a2 * diffuse + spec) * c2
                img[p, 0] = min(max(o0, f0), f255)
                img[p, 1] = min(max(o1, f0), f255)
                img[p, 2] = min(max(o2, f0), f255)

        @njit(cache=True, error_model="numpy", nogil=True)
        def _plane_into(out, ray_dx, ray_dy, n0, n1, n2, num):  # noqa: ANN001
            """Depth along each pixel's ray d = (dx, dy, 1) of the plane of normal n (``world.World._plane``):
            num / (n . d) where n . d > 0.05, else inf; all float32, out (H*W,)."""
            lim = np.float32(0.05)
            inf = np.float32(np.inf)
            for i in range(out.shape[0]):
                d = ray_dx[i] * n0 + ray_dy[i] * n1 + n2
                out[i] = num / d if d > lim else inf

        @njit(cache=True, error_model="numpy", nogil=True)
        def _surface_labels_into(owner, label_of, part_of, seg_of_label, occ_z, zbuf, hand_label, seg_hand_occluded,
                                 seg_occluder, owner_label, seg, owner_part, occ_front):  # noqa: ANN001  # fmt: skip
            """Per pixel, from the owning primitive (``owner``, -1: none, which picks the last entry of the tables):
            its label and part, the segmentation class, and whether an occluder is in front (``occ_z`` nearer than
            ``zbuf``; occ_z has length 0 when there are no occluders) - ``world.World.render``'s table look-ups."""
            last = label_of.shape[0] - 1
            occluders = occ_z.shape[0] > 0
            for i in range(owner.shape[0]):
                o = owner[i]
                if o < 0:
                    o = last
                lab = label_of[o]
                owner_label[i] = lab
                owner_part[i] = part_of[o]
                s = seg_of_label[lab]
                if occluders and occ_z[i] < zbuf[i]:
                    occ_front[i] = True
                    s = seg_hand_occluded if lab == hand_label else seg_occluder
                seg[i] = s

        @njit(cache=True, error_model="numpy", nogil=True)
        def _sensor_into(out, clean, noise, scale, far_value, dropout, dropout_q, speckle, speckle_q):  # noqa: ANN001
            """``world.World._sensor`` pixel by pixel: out = rint(clean + (scale clean) noise), 0 where clean is 0,
            where the 3x3 range of ``far`` (clean, invalid = far_value) exceeds 3 % + 20 mm and dropout > q, and
            where speckle < q; all (H, W) float32 (the random windows may be strided views), q float32; ``dropout``
            / ``speckle`` of shape (0, 0) switch that test off."""
            h, w = clean.shape
            edges = dropout.shape[0] > 0
            speckles = speckle.shape[0] > 0
            f0 = np.float32(0.0)
            k3 = np.float32(0.03)
            k20 = np.float32(20.0)
            for y in range(h):
                for x in range(w):
                    c = clean[y, x]
                    drop = c <= f0
                    if not drop and edges and dropout[y, x] > dropout_q:
                        hi = -np.inf
                        lo = np.inf
                        for yy in range(max(y - 1, 0), min(y + 2, h)):
                            for xx in range(max(x - 1, 0), min(x + 2, w)):
                                v = clean[yy, xx]
                                if not v > f0:
                                    v = far_value
                                hi = max(hi, v)
                                lo = min(lo, v)
                        drop = np.float32(hi) - np.float32(lo) > c * k3 + k20
                    if not drop and speckles and speckle[y, x] < speckle_q:
                        drop = True
                    out[y, x] = f0 if drop else np.rint(scale * c * noise[y, x] + c)

        CAST = _cast_into
        SHADE = _shade_into
        PLANE = _plane_into
        SURFACE_LABELS = _surface_labels_into
        SENSOR = _sensor_into
