"""MEG field of current dipoles in a boundary-element (BEM) volume conductor, in JAX.

The conductor is a set of closed triangulated surfaces with piecewise-constant
conductivities. Its potential is approximated by the linear-collocation BEM (potential
linear over each triangle, values at the vertices), and the BEM *solution matrix* S
maps the infinite-medium potential at the vertices to the potential on the surfaces.
This module evaluates the magnetic field that MEG coils see, in exactly the
discretisation MNE-Python uses (``mne.make_bem_solution`` for S and
``mne.make_forward_solution`` for the field), so that its leadfields match MNE's:

    B(r) = mu0/(4 pi) * [ Q x (r - r0) / |r - r0|**3                   (primary)
                          + sum_v C(r)_v (S v_inf(r0, Q))_v ]           (volume)

with, for a coil of integration points r_p, unit normals n_p, weights w_p, and a
vertex v of surface k,

    C_v  = field_mult_k * sum_p w_p n_p . ((r_p - r_v) x N_v) / |r_p - r_v|**3
    N_v  = sum over triangles t touching v of area_t * normal_t / 3
    (S v_inf)_u = source_mult_u / (4 pi) * sum_v S_uv Q . (r_v - r0) / |r_v - r0|**3

(``field_mult_k = sigma_in_k - sigma_out_k``, ``source_mult_k = 2 / (sigma_in_k +
sigma_out_k)``; for a single shell in air their product over 4 pi is 1/(2 pi) whatever
the conductivity.) The linear-potential field coefficient C is the "simple" (centroid-free)
rule of Mosher, Leahy & Lewis (1999), IEEE Trans. Biomed. Eng. 46:245, eq. 35, applied
to the Geselowitz formula as in Hamalainen & Sarvas (1989), IEEE Trans. Biomed. Eng.
36:165.

Two stages, so that the expensive coil-specific part is done once per sensor array:

1. :func:`bem_coil_matrix` (n_chan, n_vert): everything that depends on the coils and the
   conductor, independent of the sources.
2. :func:`bem_leadfield` (n_chan, n_src, 3) in T/(A m): primary field integrated over
   the coils plus the volume-current term, chunked over sources with bounded memory.

All positions must be given in ONE frame (e.g. the MNE head frame), in metres. Coils are
given as zero-padded arrays: ``points`` (n_chan, P, 3), ``normals`` (n_chan, P, 3),
``weights`` (n_chan, P); padded entries carry weight 0 and contribute nothing.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    as_numeric,
    check_coils,
    check_count,
    check_finite,
    is_concrete,
)
from forward_models.constants import MU0_OVER_4PI

__all__ = [
    "triangle_normals_areas",
    "vertex_area_normals",
    "bem_coil_field_coefficients",
    "bem_coil_matrix",
    "infinite_medium_potentials",
    "primary_leadfield",
    "bem_leadfield",
    "surface_solid_angle",
]

_FOUR_PI = 4.0 * math.pi


def _check_points(name, x, what="n"):
    """Finite positions of shape (n, 3) (concrete values), shape checked in any case."""
    check_finite(name, x)
    if np.ndim(x) != 2 or np.shape(x)[-1] != 3:
        raise ValueError(f"{name} must have shape ({what}, 3), got {np.shape(x)}")


def _check_mesh(vertices, triangles):
    """Finite vertices (n_vert, 3) and integer triangles (n_tri, 3) indexing them (JAX
    clamps out-of-range indices silently, so they are refused here)."""
    _check_points("vertices", vertices, "n_vert")
    if not is_concrete(triangles):
        return
    t = as_numeric("triangles", triangles, "iu")
    if t.ndim != 2 or t.shape[-1] != 3:
        raise ValueError(f"triangles must have shape (n_tri, 3), got {t.shape}")
    n_vert = np.shape(vertices)[0]
    if t.size and (t.min() < 0 or t.max() >= n_vert):
        raise ValueError(f"triangles must index the {n_vert} vertices (0..{n_vert - 1}), "
                         f"got indices {t.min()}..{t.max()}")


def triangle_normals_areas(vertices, triangles):
    """Unit normals and areas of the triangles of a surface.

    Parameters
    ----------
    vertices : array (n_vert, 3)
        Vertex positions, m.
    triangles : int array (n_tri, 3)
        Vertex indices of each triangle; the normal follows the right-hand rule
        (r1 - r0) x (r2 - r0), outward for MNE's BEM surfaces.

    Returns
    -------
    normals : array (n_tri, 3)
        Unit normals (dimensionless).
    areas : array (n_tri,)
        Areas, m**2.
    """
    _check_mesh(vertices, triangles)
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    r0 = vertices[triangles[:, 0]]
    cross = jnp.cross(vertices[triangles[:, 1]] - r0, vertices[triangles[:, 2]] - r0)
    size = jnp.linalg.norm(cross, axis=-1)
    return cross / size[:, None], 0.5 * size


def vertex_area_normals(vertices, triangles, normals=None, areas=None):
    """Area-weighted vertex normals N_v = sum_{t ∋ v} area_t normal_t / 3.

    This is the factor through which a vertex of the linear-collocation BEM enters the
    magnetic field (Mosher, Leahy & Lewis 1999, eq. 35, "simple" rule: each triangle's
    area is shared equally among its three vertices).

    Parameters
    ----------
    vertices : array (n_vert, 3)
        Vertex positions, m.
    triangles : int array (n_tri, 3)
        Vertex indices of each triangle.
    normals : array (n_tri, 3), optional
        Triangle unit normals; computed from the vertices when omitted.
    areas : array (n_tri,), optional
        Triangle areas, m**2; computed from the vertices when omitted.

    Returns
    -------
    array (n_vert, 3)
        Area-weighted normals, m**2.
    """
    _check_mesh(vertices, triangles)
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    if normals is None or areas is None:
        normals, areas = triangle_normals_areas(vertices, triangles)
    n_tri = triangles.shape[0]
    check_finite("normals", normals)
    check_finite("areas", areas)
    if np.shape(normals) != (n_tri, 3) or np.shape(areas) != (n_tri,):
        raise ValueError(f"normals and areas must have shapes ({n_tri}, 3) and ({n_tri},), "
                         f"got {np.shape(normals)} and {np.shape(areas)}")
    contrib = jnp.asarray(areas)[:, None] * jnp.asarray(normals) / 3.0
    out = jnp.zeros_like(vertices)
    for k in range(3):
        out = out.at[triangles[:, k]].add(contrib)
    return out


def _safe_inv_cube(diff, active):
    """1/|diff|**3 where ``active``, 0 elsewhere (no NaN from padded entries)."""
    d2 = jnp.sum(diff * diff, axis=-1)
    d2 = jnp.where(active, d2, 1.0)
    return jnp.where(active, 1.0 / (d2 * jnp.sqrt(d2)), 0.0)


@jax.jit
def _coil_coeff_impl(vertices, area_normals, points, normals, weights):
    # vertices (V,3) area_normals (V,3); points/normals (C,P,3), weights (C,P).
    # With K = 1/|r_p - r_v|**3 and m_p = w_p n_p:
    #   sum_p K m_p . ((r_p - r_v) x N_v)
    #     = N_v . [sum_p K (m_p x r_p)] - N_v . ([sum_p K m_p] x r_v)
    # so the reduction over the integration points is a batched matrix product.
    active = (weights != 0.0)[..., None]
    dx, dy, dz = (points[:, :, k, None] - vertices[None, None, :, k] for k in range(3))
    d2 = jnp.where(active, dx * dx + dy * dy + dz * dz, 1.0)
    kern = jnp.where(active, 1.0 / (d2 * jnp.sqrt(d2)), 0.0)  # (C,P,V)
    m = weights[..., None] * normals
    bm = jnp.concatenate([jnp.cross(m, points), m], axis=-1)  # (C,P,6)
    red = jnp.einsum("cpv,cpj->cvj", kern, bm)  # (C,V,6)
    term = red[..., :3] - jnp.cross(red[..., 3:], vertices[None])
    return jnp.sum(term * area_normals[None], axis=-1)


def _check_coils(points, normals, weights):
    check_coils(points, normals, weights)
    return jnp.asarray(points), jnp.asarray(normals), jnp.asarray(weights)


def bem_coil_field_coefficients(vertices, triangles, points, normals, weights):
    """Field coefficients C (n_chan, n_vert) of a unit linear potential at each vertex.

    C[c, v] = sum_p w_p n_p . ((r_p - r_v) x N_v) / |r_p - r_v|**3 with N_v from
    :func:`vertex_area_normals` (Mosher, Leahy & Lewis 1999, eq. 35; MNE's
    ``_do_lin_field_coeff``), without the conductivity factor and without mu0/(4 pi).

    Parameters
    ----------
    vertices : array (n_vert, 3)
        BEM vertex positions, m, in the coils' frame.
    triangles : int array (n_tri, 3)
        Triangles (vertex indices).
    points : array (n_chan, P, 3)
        Coil integration points, m, zero-padded.
    normals : array (n_chan, P, 3)
        Unit normals of the integration points (sensitive axes).
    weights : array (n_chan, P)
        Integration weights (dimensionless, negative for the second coil of a
        gradiometer; 1/m for the gradiometer output in T/m); 0 for padding.

    Returns
    -------
    array (n_chan, n_vert)
        Coefficients in m**-1 times the weight unit.
    """
    points, normals, weights = _check_coils(points, normals, weights)
    _check_mesh(vertices, triangles)
    vertices = jnp.asarray(vertices)
    an = vertex_area_normals(vertices, triangles)
    return _coil_coeff_impl(vertices, an, points, normals, weights)


def bem_coil_matrix(
    vertices, triangles, solution, points, normals, weights, field_mult, source_mult
):
    """Coil-specific BEM matrix (stage 1 of :func:`bem_leadfield`).

    G = ((C * field_mult) @ S) * source_mult / (4 pi), where C is from
    :func:`bem_coil_field_coefficients` and S the linear-collocation BEM solution
    matrix (as computed by ``mne.make_bem_solution``). This is MNE's
    ``_bem_specify_coils`` including the ``mults`` factor (source_mult / 4 pi).

    Parameters
    ----------
    vertices : array (n_vert, 3)
        BEM vertex positions of all surfaces, concatenated, m, in the coils' frame.
    triangles : int array (n_tri, 3)
        Triangles of all surfaces, indices into ``vertices`` (offset per surface).
    solution : array (n_vert, n_vert)
        BEM solution matrix S (dimensionless).
    points, normals, weights : arrays (n_chan, P, 3), (n_chan, P, 3), (n_chan, P)
        Coil integration points (m), unit normals, weights; zero-padded.
    field_mult : float or array (n_vert,)
        sigma_in - sigma_out of the surface each vertex belongs to, S/m.
    source_mult : float or array (n_vert,)
        2 / (sigma_in + sigma_out) of the surface each vertex belongs to, m/S.

    Returns
    -------
    array (n_chan, n_vert)
        Matrix G; the volume-current field of a dipole is mu0/(4 pi) * G @ v_inf with
        v_inf from :func:`infinite_medium_potentials`.
    """
    _check_mesh(vertices, triangles)
    for name, x in (("solution", solution), ("field_mult", field_mult),
                    ("source_mult", source_mult)):
        check_finite(name, x)
    vertices = jnp.asarray(vertices, dtype=jnp.float64)
    solution = jnp.asarray(solution, dtype=vertices.dtype)
    n_vert = vertices.shape[0]
    if solution.shape != (n_vert, n_vert):
        raise ValueError(
            f"solution must have shape (n_vert, n_vert) = {(n_vert, n_vert)}, "
            f"got {solution.shape}"
        )
    for name, x in (("field_mult", field_mult), ("source_mult", source_mult)):
        if np.shape(x) not in ((), (1,), (n_vert,)):
            raise ValueError(f"{name} must be a number or have shape ({n_vert},), got "
                             f"{np.shape(x)}")
    fm = jnp.broadcast_to(jnp.asarray(field_mult, dtype=vertices.dtype), (n_vert,))
    sm = jnp.broadcast_to(jnp.asarray(source_mult, dtype=vertices.dtype), (n_vert,))
    coeff = bem_coil_field_coefficients(vertices, triangles, points, normals, weights)
    return _coil_matrix_impl(coeff, fm, solution, sm)


@jax.jit
def _coil_matrix_impl(coeff, fm, solution, sm):
    return ((coeff * fm[None, :]) @ solution) * (sm / _FOUR_PI)[None, :]


def infinite_medium_potentials(sources, vertices):
    """Infinite-medium potentials at the BEM vertices for unit dipoles along x, y, z.

    v_inf[s, j, v] = (r_v - r_s)_j / |r_v - r_s|**3 (Mosher, Leahy & Lewis 1999, eq. 8,
    without the 1/(4 pi sigma) factor, which the solution's source_mult carries).

    Parameters
    ----------
    sources : array (n_src, 3)
        Dipole positions, m.
    vertices : array (n_vert, 3)
        BEM vertex positions, m.

    Returns
    -------
    array (n_src, 3, n_vert)
        In m**-2.
    """
    sources = _check_sources(sources)
    _check_points("vertices", vertices, "n_vert")
    vertices = jnp.asarray(vertices)
    diff = vertices[None, :, :] - sources[:, None, :]  # (S,V,3)
    d2 = jnp.sum(diff * diff, axis=-1)
    d2 = jnp.where(d2 == 0.0, 1.0, d2)
    return jnp.moveaxis(diff / (d2 * jnp.sqrt(d2))[..., None], -1, 1)


def _primary_chunk(sources, points, normals, weights):
    # (S,3) -> (C,S,3): sum_p w_p ((r_p - r_s) x n_p) / |r_p - r_s|**3.
    # With K = w_p/|r_p - r_s|**3 this is sum_p K (r_p x n_p) - r_s x sum_p K n_p, so the
    # reduction over the integration points is a batched matrix product.
    active = (weights != 0.0)[..., None]
    dx, dy, dz = (points[:, :, k, None] - sources[None, None, :, k] for k in range(3))
    d2 = jnp.where(active, dx * dx + dy * dy + dz * dz, 1.0)
    kern = jnp.where(active, weights[..., None] / (d2 * jnp.sqrt(d2)), 0.0)  # (C,P,S)
    an = jnp.concatenate([jnp.cross(points, normals), normals], axis=-1)  # (C,P,6)
    red = jnp.einsum("cps,cpj->csj", kern, an)  # (C,S,6)
    return red[..., :3] - jnp.cross(sources[None], red[..., 3:])


def _volume_chunk(sources, vertices, coil_matrix):
    # v_inf (S,3,V) flattened to (3S,V), then one matrix product with the coil matrix
    dx, dy, dz = (vertices[None, :, k] - sources[:, k, None] for k in range(3))
    d2 = dx * dx + dy * dy + dz * dz
    d2 = jnp.where(d2 == 0.0, 1.0, d2)
    inv3 = 1.0 / (d2 * jnp.sqrt(d2))
    v0 = jnp.stack([dx * inv3, dy * inv3, dz * inv3], axis=1).reshape(-1, vertices.shape[0])
    out = (v0 @ coil_matrix.T).reshape(sources.shape[0], 3, -1)  # (S,3,C)
    return jnp.transpose(out, (2, 0, 1))


@partial(jax.jit, static_argnames=("volume",))
def _leadfield_chunk(sources, vertices, coil_matrix, points, normals, weights, volume=True):
    out = _primary_chunk(sources, points, normals, weights)
    if volume:
        out = out + _volume_chunk(sources, vertices, coil_matrix)
    return MU0_OVER_4PI * out


def _check_sources(sources):
    _check_points("sources", sources, "n_src")
    return jnp.asarray(sources, dtype=jnp.float64)


def _check_chunk_size(chunk_size):
    return check_count("chunk_size", chunk_size, what="a positive integer")


def _chunked(fun, sources, chunk_size):
    _check_chunk_size(chunk_size)
    n_src = sources.shape[0]
    if n_src == 0:
        return None
    chunk = int(min(chunk_size, n_src))
    n_chunks = -(-n_src // chunk)
    pad = n_chunks * chunk - n_src
    if pad:
        # pad with copies of the first source: finite, and sliced off below
        sources = jnp.concatenate([sources, jnp.broadcast_to(sources[:1], (pad, 3))])
    outs = [fun(sources[i * chunk : (i + 1) * chunk]) for i in range(n_chunks)]
    return jnp.concatenate(outs, axis=1)[:, :n_src]


def primary_leadfield(points, normals, weights, sources, *, chunk_size=256):
    """Infinite-medium (primary-current) leadfield, integrated over the coils.

    B0(r) = mu0/(4 pi) Q x (r - r0)/|r - r0|**3 (Biot-Savart for a current dipole),
    summed over each coil's integration points with weights (MNE's ``_bem_inf_fields``).

    Parameters
    ----------
    points, normals, weights : arrays (n_chan, P, 3), (n_chan, P, 3), (n_chan, P)
        Coil integration points (m), unit normals, weights; zero-padded.
    sources : array (n_src, 3)
        Dipole positions, m.
    chunk_size : int
        Sources per compiled chunk (bounds memory; all chunks share one compilation).

    Returns
    -------
    jax.Array (n_chan, n_src, 3)
        T/(A m) (T/(A m**2) for gradiometer channels with weights in 1/m).
    """
    points, normals, weights = _check_coils(points, normals, weights)
    sources = _check_sources(sources)
    dummy_v = jnp.zeros((1, 3))
    dummy_g = jnp.zeros((points.shape[0], 1))

    def fun(s):
        return _leadfield_chunk(s, dummy_v, dummy_g, points, normals, weights, volume=False)

    out = _chunked(fun, sources, chunk_size)
    return jnp.zeros((points.shape[0], 0, 3)) if out is None else out


def bem_leadfield(coil_matrix, vertices, points, normals, weights, sources, *, chunk_size=256):
    """MEG leadfield of current dipoles in a BEM conductor (stage 2).

    B = mu0/(4 pi) [primary + G @ v_inf], with G from :func:`bem_coil_matrix` and
    v_inf from :func:`infinite_medium_potentials`; MNE's ``_bem_pot_or_field`` for
    MEG. Sources are processed in chunks of ``chunk_size`` (the last one padded) by
    one compiled function, so memory is O(chunk_size * (n_vert + n_chan * P)) and
    different numbers of sources do not trigger recompilation.

    Parameters
    ----------
    coil_matrix : array (n_chan, n_vert)
        Output of :func:`bem_coil_matrix` for these coils.
    vertices : array (n_vert, 3)
        BEM vertex positions, m (same frame as coils and sources).
    points, normals, weights : arrays (n_chan, P, 3), (n_chan, P, 3), (n_chan, P)
        Coil integration points (m), unit normals, weights; zero-padded.
    sources : array (n_src, 3)
        Dipole positions, m, inside the innermost BEM surface.
    chunk_size : int
        Sources per chunk.

    Returns
    -------
    jax.Array (n_chan, n_src, 3)
        Field per unit dipole moment along x, y, z of the frame, T/(A m)
        (T/(A m**2) for gradiometers whose weights are in 1/m).
    """
    points, normals, weights = _check_coils(points, normals, weights)
    sources = _check_sources(sources)
    _check_points("vertices", vertices, "n_vert")
    check_finite("coil_matrix", coil_matrix)
    vertices = jnp.asarray(vertices, dtype=jnp.float64)
    coil_matrix = jnp.asarray(coil_matrix, dtype=vertices.dtype)
    if coil_matrix.shape != (points.shape[0], vertices.shape[0]):
        raise ValueError(
            "coil_matrix must have shape (n_chan, n_vert) = "
            f"{(points.shape[0], vertices.shape[0])}, got {coil_matrix.shape}"
        )

    def fun(s):
        return _leadfield_chunk(s, vertices, coil_matrix, points, normals, weights)

    out = _chunked(fun, sources, chunk_size)
    return jnp.zeros((points.shape[0], 0, 3)) if out is None else out


@jax.jit
def _solid_angle_chunk(points, tri):
    a, b, c = (tri[None, :, k] - points[:, None] for k in range(3))  # (N,T,3)
    la, lb, lc = (jnp.linalg.norm(x, axis=-1) for x in (a, b, c))
    num = jnp.sum(a * jnp.cross(b, c), axis=-1)
    den = (
        la * lb * lc
        + jnp.sum(a * b, axis=-1) * lc
        + jnp.sum(a * c, axis=-1) * lb
        + jnp.sum(b * c, axis=-1) * la
    )
    return 2.0 * jnp.sum(jnp.arctan2(num, den), axis=1)


def surface_solid_angle(points, vertices, triangles, *, chunk_size=128):
    """Solid angle subtended at each point by a closed triangulated surface.

    Sum over triangles of the exact triangle solid angle (Van Oosterom & Strackee
    1983, IEEE Trans. Biomed. Eng. 30:125): 4 pi for points inside a closed surface
    with outward normals, 0 outside.

    Parameters
    ----------
    points : array (n, 3)
        Query points, m.
    vertices : array (n_vert, 3)
        Surface vertices, m.
    triangles : int array (n_tri, 3)
        Triangles with outward (right-hand rule) orientation.
    chunk_size : int
        Points per compiled chunk.

    Returns
    -------
    jax.Array (n,)
        Solid angle, sr.
    """
    check_finite("points", points)
    if np.ndim(points) not in (1, 2) or np.shape(points)[-1] != 3:
        raise ValueError(f"points must have shape (n, 3) or (3,), got {np.shape(points)}")
    _check_mesh(vertices, triangles)
    chunk_size = _check_chunk_size(chunk_size)
    points = jnp.asarray(points, dtype=jnp.float64).reshape(-1, 3)
    tri = jnp.asarray(vertices, dtype=jnp.float64)[jnp.asarray(triangles)]
    n = points.shape[0]
    if n == 0:
        return jnp.zeros((0,))
    chunk = int(min(chunk_size, n))
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n
    if pad:
        points = jnp.concatenate([points, jnp.broadcast_to(points[:1], (pad, 3))])
    outs = [_solid_angle_chunk(points[i * chunk : (i + 1) * chunk], tri) for i in range(n_chunks)]
    return jnp.concatenate(outs)[:n]
