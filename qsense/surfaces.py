"""Closed triangulated surfaces: normals, signed distances, ray casts, sphere fits.

Numpy/scipy geometry used by :class:`qsense.Head` to place sensors on the scalp and to
check that sensors sit outside it and sources inside the conductor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from forward_models._checks import as_numeric

from ._checks import check_int, check_number, check_option

__all__ = ["Surface", "SphereSurface", "icosphere", "sphere_surface", "fit_sphere"]

FRAMES = ("head", "mri", "device")
"""Coordinate frames a surface may be given in (MNE's)."""


def _points(name, value, *, single=False) -> np.ndarray:
    """Finite points as a float array of shape (n, 3) (a (3,) point becomes (1, 3));
    exactly one point with ``single`` (returned as (3,))."""
    a = as_numeric(name, value).astype(float)
    if single:
        if a.shape != (3,):
            raise ValueError(f"{name} must have shape (3,), got {a.shape}")
    elif a.ndim not in (1, 2) or a.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, 3) or (3,), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got a non-finite coordinate")
    return a if single else np.atleast_2d(a)


def _radius(name, value) -> float:
    return check_number(name, value, low=0.0, low_open=True, unit="m")


@dataclass(frozen=True, eq=False)
class Surface:
    """A closed triangulated surface with outward normals.

    Parameters
    ----------
    rr : ndarray, shape (n_vertices, 3)
        Vertex positions, m.
    tris : ndarray of int, shape (n_triangles, 3)
        Triangles, counter-clockwise seen from outside.
    frame : str
        Coordinate frame of ``rr`` ("head" or "mri").
    """

    rr: np.ndarray
    tris: np.ndarray
    frame: str = "head"

    def __post_init__(self):
        rr = as_numeric("rr", self.rr).astype(float)
        tris = as_numeric("tris", self.tris, "iu")
        if rr.ndim != 2 or rr.shape[1] != 3 or tris.ndim != 2 or tris.shape[1] != 3:
            raise ValueError(f"rr must be (n, 3) and tris (m, 3), got shapes {rr.shape} and "
                             f"{tris.shape}")
        if not np.all(np.isfinite(rr)):
            raise ValueError("rr must be finite, got a non-finite vertex coordinate")
        if len(tris) == 0 or tris.min() < 0 or tris.max() >= len(rr):
            raise ValueError(f"tris must index the {len(rr)} vertices of rr (0..{len(rr) - 1}) "
                             f"and hold at least one triangle, got {tris.size} indices")
        if not isinstance(self.frame, str):
            raise TypeError(f"frame must be a str, got {self.frame!r}")
        check_option("frame", self.frame, FRAMES)
        object.__setattr__(self, "rr", rr)
        object.__setattr__(self, "tris", tris.astype(int))

    def transformed(self, trans: np.ndarray, frame: str) -> Surface:
        """The surface moved by a rigid 4x4 transform into ``frame``."""
        t = as_numeric("trans", trans).astype(float)
        if t.shape != (4, 4) or not np.all(np.isfinite(t)):
            raise ValueError(f"trans must be a finite (4, 4) transform, got shape {t.shape}")
        if not np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-6) or \
                not np.allclose(t[3], [0, 0, 0, 1]):
            raise ValueError("trans must be a rigid transform (orthonormal rotation, last "
                             "row 0, 0, 0, 1)")
        return Surface(self.rr @ t[:3, :3].T + t[:3, 3], self.tris, frame)

    @functools.cached_property
    def triangle_normals(self) -> np.ndarray:
        a, b, c = (self.rr[self.tris[:, k]] for k in range(3))
        n = np.cross(b - a, c - a)
        return n / np.linalg.norm(n, axis=1, keepdims=True)

    @functools.cached_property
    def vertex_normals(self) -> np.ndarray:
        """Area-weighted vertex normals (outward), shape (n_vertices, 3)."""
        a, b, c = (self.rr[self.tris[:, k]] for k in range(3))
        n = np.cross(b - a, c - a)  # length = 2 x area
        out = np.zeros_like(self.rr)
        for k in range(3):
            np.add.at(out, self.tris[:, k], n)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    @functools.cached_property
    def centroid(self) -> np.ndarray:
        return self.rr.mean(axis=0)

    @functools.cached_property
    def _tree(self):
        return cKDTree(self.rr)

    @functools.cached_property
    def _vertex_triangles(self) -> np.ndarray:
        # (n_vertices, max_valence) triangle indices around each vertex, -1 padded
        n_v = len(self.rr)
        order = np.argsort(self.tris.ravel(), kind="stable")
        verts = self.tris.ravel()[order]
        tri_ids = order // 3
        counts = np.bincount(verts, minlength=n_v)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(len(verts)) - starts[verts]
        out = -np.ones((n_v, int(counts.max())), dtype=int)
        out[verts, slot] = tri_ids
        return out

    def distance(self, points, k: int = 6) -> np.ndarray:
        """Unsigned distance to the surface, m: exact distance to the triangles around
        the ``k`` nearest vertices (on a smooth head mesh the closest triangle is
        among them)."""
        p = _points("points", points)
        k = check_int("k", k, low=1)
        _, near = self._tree.query(p, k=min(k, len(self.rr)))
        cand = self._vertex_triangles[near.reshape(len(p), -1)].reshape(len(p), -1)
        # each candidate triangle once per point (neighbouring vertices share triangles),
        # all in one vectorised call
        cand = np.sort(cand, axis=1)
        keep = cand >= 0
        keep[:, 1:] &= cand[:, 1:] != cand[:, :-1]
        row, col = np.nonzero(keep)
        tri = self.tris[cand[row, col]]
        q = _closest_point_on_triangles(
            p[row], self.rr[tri[:, 0]], self.rr[tri[:, 1]], self.rr[tri[:, 2]]
        )
        dist = np.full(cand.shape, np.inf)
        dist[row, col] = np.linalg.norm(p[row] - q, axis=1)
        return dist.min(axis=1)

    def signed_distance(self, points) -> np.ndarray:
        """Signed distance to the surface, m: positive outside, negative inside (the
        sign from :meth:`contains`, exact for a closed surface)."""
        d = self.distance(points)
        return np.where(self.contains(points), -d, d)

    def contains(self, points) -> np.ndarray:
        """Whether points lie inside the closed surface.

        Ray-crossing parity (a ray from an inside point crosses a closed surface an odd
        number of times) along +z and +x, testing only the triangles binned in the
        point's grid cell; where the two parities disagree (a ray grazing an edge or a
        vertex) the winding number decides (:meth:`contains_exact`).
        """
        p = _points("points", points)
        odd_z = self._ray_parity(p, 2)
        odd_x = self._ray_parity(p, 0)
        out = odd_z.copy()
        rest = np.flatnonzero(odd_z != odd_x)
        if len(rest):
            out[rest] = self.contains_exact(p[rest])
        return out

    def _ray_parity(self, p, axis):
        lo, cell, shape, table = self._ray_grid(axis)
        u, v = [k for k in range(3) if k != axis]
        pu, pv, pw = p[:, u], p[:, v], p[:, axis]
        iu = np.floor((pu - lo[0]) / cell).astype(int)
        iv = np.floor((pv - lo[1]) / cell).astype(int)
        ok = (iu >= 0) & (iu < shape[0]) & (iv >= 0) & (iv < shape[1])
        odd = np.zeros(len(p), bool)
        for start in range(0, len(p), 4096):
            idx = np.flatnonzero(ok[start:start + 4096]) + start
            if len(idx) == 0:
                continue
            cand = table[iu[idx] * shape[1] + iv[idx]]  # (m, K), -1 = none
            valid = cand >= 0
            tri = self.rr[self.tris[np.where(valid, cand, 0)]]  # (m, K, 3, 3)
            a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
            qu, qv = pu[idx, None], pv[idx, None]
            # edge functions in the (u, v) plane
            e0 = (b[..., u] - a[..., u]) * (qv - a[..., v]) - (b[..., v] - a[..., v]) * (
                qu - a[..., u])
            e1 = (c[..., u] - b[..., u]) * (qv - b[..., v]) - (c[..., v] - b[..., v]) * (
                qu - b[..., u])
            e2 = (a[..., u] - c[..., u]) * (qv - c[..., v]) - (a[..., v] - c[..., v]) * (
                qu - c[..., u])
            inside = ((e0 > 0) & (e1 > 0) & (e2 > 0)) | ((e0 < 0) & (e1 < 0) & (e2 < 0))
            area = e0 + e1 + e2
            w_hit = (e1 * a[..., axis] + e2 * b[..., axis] + e0 * c[..., axis]) / np.where(
                area == 0, 1.0, area)
            hits = valid & inside & (w_hit > pw[idx, None])
            odd[idx] = (hits.sum(axis=1) % 2) == 1
        return odd

    def _ray_grid(self, axis):
        cache = self.__dict__.setdefault("_ray_grids", {})
        if axis in cache:
            return cache[axis]
        u, v = [k for k in range(3) if k != axis]
        tri = self.rr[self.tris][..., [u, v]]  # (T, 3, 2)
        lo = tri.reshape(-1, 2).min(axis=0)
        hi = tri.reshape(-1, 2).max(axis=0)
        # cells about twice the mean edge length: a handful of triangles each
        edge = np.mean(np.linalg.norm(tri[:, 1] - tri[:, 0], axis=1))
        cell = max(2.0 * edge, 1e-4)
        shape = (int((hi[0] - lo[0]) / cell) + 1, int((hi[1] - lo[1]) / cell) + 1)
        tmin = np.floor((tri.min(axis=1) - lo) / cell).astype(int)
        tmax = np.floor((tri.max(axis=1) - lo) / cell).astype(int)
        cells = [[] for _ in range(shape[0] * shape[1])]
        for t_idx in range(len(tri)):
            for i in range(tmin[t_idx, 0], tmax[t_idx, 0] + 1):
                for j in range(tmin[t_idx, 1], tmax[t_idx, 1] + 1):
                    cells[i * shape[1] + j].append(t_idx)
        width = max(1, max(len(c) for c in cells))
        table = -np.ones((len(cells), width), int)
        for k, c in enumerate(cells):
            table[k, : len(c)] = c
        cache[axis] = (lo, cell, shape, table)
        return cache[axis]

    def contains_exact(self, points) -> np.ndarray:
        """Whether points lie inside, by the winding number (exact, slower)."""
        p = _points("points", points)
        a, b, c = (self.rr[self.tris[:, k]] for k in range(3))
        out = np.zeros(len(p), dtype=bool)
        for start in range(0, len(p), 256):
            out[start:start + 256] = _winding(p[start:start + 256], a, b, c) > 0.5
        return out

    def ray_cast(self, origin, directions) -> np.ndarray:
        """Farthest intersection of rays from ``origin`` with the surface, m (n, 3)."""
        d = _directions(directions)
        o = _points("origin", origin, single=True)
        a, b, c = (self.rr[self.tris[:, k]] for k in range(3))
        e1, e2 = b - a, c - a
        out = np.full((len(d), 3), np.nan)
        for i, di in enumerate(d):
            pv = np.cross(di, e2)
            det = np.sum(e1 * pv, axis=1)
            ok = np.abs(det) > 1e-15
            inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
            tv = o - a
            u = np.sum(tv * pv, axis=1) * inv
            qv = np.cross(tv, e1)
            v = (qv @ di) * inv
            t = np.sum(e2 * qv, axis=1) * inv
            hit = ok & (u >= -1e-12) & (v >= -1e-12) & (u + v <= 1 + 1e-12) & (t > 0)
            if np.any(hit):
                out[i] = o + t[hit].max() * di
        if np.any(np.isnan(out)):
            raise ValueError("some rays from origin miss the surface: is origin inside it?")
        return out


    def normals_at(self, points, radius: float = 0.012) -> np.ndarray:
        """Smoothed outward normals at points on the surface: the mean of the vertex
        normals within ``radius`` (m), normalised; shape (n, 3). A point with no vertex
        that near gets the normal of its nearest vertex."""
        p = _points("points", points)
        radius = _radius("radius", radius)
        idx = self._tree.query_ball_point(p, r=radius)
        _, nearest = self._tree.query(p)
        out = np.array([self.vertex_normals[i if len(i) else [j]].mean(axis=0)
                        for i, j in zip(idx, nearest, strict=True)])
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)
class SphereSurface(Surface):
    """A sphere: a triangulated icosphere for plots and meshes, with exact distances,
    inside tests, ray casts and normals.

    Parameters
    ----------
    rr, tris, frame
        As :class:`Surface` (the mesh).
    center : ndarray, shape (3,)
        Centre, m.
    radius : float
        Radius, m.
    """

    center: np.ndarray = None
    radius: float = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "center", _points("center", self.center, single=True))
        object.__setattr__(self, "radius", _radius("radius", self.radius))

    def signed_distance(self, points) -> np.ndarray:
        p = _points("points", points)
        return np.linalg.norm(p - self.center, axis=1) - self.radius

    def distance(self, points, k: int = 6) -> np.ndarray:
        return np.abs(self.signed_distance(points))

    def contains(self, points) -> np.ndarray:
        return self.signed_distance(points) < 0

    def ray_cast(self, origin, directions) -> np.ndarray:
        """Farthest intersection of rays from ``origin`` (inside) with the sphere."""
        d = _directions(directions)
        oc = _points("origin", origin, single=True) - self.center
        if np.linalg.norm(oc) >= self.radius:
            raise ValueError("some rays from origin miss the surface: is origin inside it?")
        if not np.any(oc):
            return self.center + self.radius * d
        b = d @ oc
        t = -b + np.sqrt(b * b - (oc @ oc - self.radius**2))
        return self.center + oc + t[:, None] * d

    def normals_at(self, points, radius: float = 0.012) -> np.ndarray:
        _radius("radius", radius)
        return _unit_rows(_points("points", points) - self.center,
                          "points must not be the sphere's centre (no normal there)")


def _unit_rows(v, message) -> np.ndarray:
    """Rows of ``v`` (n, 3) normalised; ValueError(message) for a zero row."""
    n = np.linalg.norm(v, axis=1, keepdims=True)
    if np.any(n == 0):
        raise ValueError(message)
    return v / n


def _directions(value) -> np.ndarray:
    return _unit_rows(_points("directions", value), "directions must be non-zero vectors")


def sphere_surface(radius: float, center=(0.0, 0.0, 0.0), order: int = 4) -> SphereSurface:
    """A :class:`SphereSurface` of ``radius`` about ``center`` (head frame, m), meshed
    as an icosphere of subdivision ``order``."""
    mesh = icosphere(order, radius, center)  # checks the arguments
    return SphereSurface(mesh.rr, mesh.tris, "head", center=np.asarray(center, float),
                         radius=float(radius))


def _winding(p, a, b, c):
    """Winding number of the closed triangle set (a, b, c) around points p."""
    r1 = a[None] - p[:, None]
    r2 = b[None] - p[:, None]
    r3 = c[None] - p[:, None]
    l1, l2, l3 = (np.linalg.norm(x, axis=2) for x in (r1, r2, r3))
    num = np.einsum("ijk,ijk->ij", r1, np.cross(r2, r3))
    den = (l1 * l2 * l3 + np.einsum("ijk,ijk->ij", r1, r2) * l3
           + np.einsum("ijk,ijk->ij", r1, r3) * l2 + np.einsum("ijk,ijk->ij", r2, r3) * l1)
    # Van Oosterom & Strackee (1983) solid angle of each triangle
    omega = 2.0 * np.arctan2(num, den)
    return omega.sum(axis=1) / (4.0 * np.pi)


def _closest_point_on_triangles(p, a, b, c):
    """Closest points on triangles (a, b, c) to p, vectorised (Ericson 2005, 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1 = np.sum(ab * ap, 1)
    d2 = np.sum(ac * ap, 1)
    bp = p - b
    d3 = np.sum(ab * bp, 1)
    d4 = np.sum(ac * bp, 1)
    cp = p - c
    d5 = np.sum(ab * cp, 1)
    d6 = np.sum(ac * cp, 1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = va + vb + vc
    with np.errstate(divide="ignore", invalid="ignore"):
        v = vb / denom
        w = vc / denom
        q = a + ab * v[:, None] + ac * w[:, None]
        # vertex regions
        ra = (d1 <= 0) & (d2 <= 0)
        rb = (d3 >= 0) & (d4 <= d3)
        rc = (d6 >= 0) & (d5 <= d6)
        # edge regions
        rab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        rac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        rbc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    q = np.where(rbc[:, None], b + (c - b) * t_bc[:, None], q)
    q = np.where(rac[:, None], a + ac * t_ac[:, None], q)
    q = np.where(rab[:, None], a + ab * t_ab[:, None], q)
    q = np.where(rc[:, None], c, q)
    q = np.where(rb[:, None], b, q)
    q = np.where(ra[:, None], a, q)
    return q


def icosphere(order: int = 3, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> Surface:
    """A subdivided icosahedron of ``radius`` about ``center`` (head frame).

    ``order`` is an int from 0 to 7 (10 * 4**order + 2 vertices), ``radius`` > 0 m.
    """
    order = check_int("order", order, low=0, high=7)
    radius = _radius("radius", radius)
    center = _points("center", center, single=True)
    t = (1 + 5**0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
         (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
         (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
         (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(x, float) / np.linalg.norm(x) for x in v]
    faces = f
    for _ in range(order):
        cache: dict = {}

        def mid(i, j, cache=cache):
            key = (min(i, j), max(i, j))
            if key not in cache:
                m = verts[i] + verts[j]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    rr = np.array(verts) * radius + np.asarray(center, float)
    return Surface(rr, np.array(faces), "head")


def fit_sphere(points) -> tuple[np.ndarray, float]:
    """Least-squares sphere through points: (centre (3,), radius), m.

    Solves the linear problem ``|p|**2 = 2 p.c + (R**2 - |c|**2)``.

    Raises
    ------
    ValueError
        For fewer than 4 points, non-finite ones, or points that determine no sphere
        (all in one plane).
    """
    p = _points("points", points)
    if len(p) < 4:
        raise ValueError(f"points must hold at least 4 points to fit a sphere, got {len(p)}")
    A = np.column_stack([2 * p, np.ones(len(p))])
    sol, _, rank, _ = np.linalg.lstsq(A, np.sum(p * p, axis=1), rcond=None)
    c = sol[:3]
    r2 = sol[3] + c @ c
    if rank < 4 or not r2 > 0:
        raise ValueError("points determine no sphere (they lie in one plane or on a line)")
    return c, float(np.sqrt(r2))
