"""Magnetic fields of current and magnetic dipoles in simple conductors.

All functions are pure JAX, take SI units (m, A m, T) and broadcast over leading axes.
Importing :mod:`forward_models` enables 64-bit floats.

Sources
-------
- Sarvas J. (1987) "Basic mathematical and electromagnetic concepts of the biomagnetic
  inverse problem", Phys. Med. Biol. 32:11-22, eq. (25): field outside a spherically
  symmetric conductor.
- Biot-Savart law for a current dipole in an infinite homogeneous medium
  (Hamalainen et al. 1993, Rev. Mod. Phys. 65:413, eq. 11).
- Field of a magnetic dipole (Jackson, Classical Electrodynamics, 3rd ed., eq. 5.56).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_broadcast, check_coils, check_vector3, is_concrete
from .constants import MU0_OVER_4PI as _K

__all__ = [
    "sphere_dipole_field",
    "primary_dipole_field",
    "magnetic_dipole_field",
    "sphere_coil_leadfield",
]


def _dot(a, b):
    return (a * b).sum(axis=-1)


# ------------------------------------------------------------------ argument checks
# run on concrete inputs only (skipped under jit/grad/vmap), before the jitted cores
_VEC3 = "{name} must have shape (..., 3) ({unit}); got shape {shape}"


def _check_vectors(**arrays):
    """Each argument finite with a last axis of 3 (units in the key: ``r_m=...``), and
    all of them broadcasting together."""
    names = []
    for key, x in arrays.items():
        name, unit = key.rsplit("__", 1)
        check_vector3(name, x, _VEC3.replace("{unit}", unit.replace("_", " ")))
        names.append(name)
    check_broadcast(names, *arrays.values())


def _distances(x, centre):
    return np.linalg.norm(np.asarray(x, float) - np.asarray(centre, float), axis=-1)


def _check_apart(r, r0, what):
    """ValueError where a field point coincides with the source (the field is singular)."""
    if is_concrete(r) and is_concrete(r0) and np.any(_distances(r, r0) == 0):
        raise ValueError(f"r must differ from r0: the field of a {what} is singular at the "
                         "source; got a field point on a source position")


def _sarvas_terms(r, r0, xp=jnp):
    """F and the coefficients of gradF = c_r r - c_r0 r0 (Sarvas 1987, eq. 25), for
    positions relative to the sphere centre (``xp``: jax.numpy, or numpy for checks)."""
    a_vec = r - r0
    a = xp.linalg.norm(a_vec, axis=-1)
    rn = xp.linalg.norm(r, axis=-1)
    ar = _dot(a_vec, r) / a
    F = a * (rn * a + rn * rn - _dot(r0, r))
    c_r = a * a / rn + ar + 2.0 * a + 2.0 * rn
    c_r0 = a + 2.0 * rn + ar
    return F, c_r, c_r0


def sphere_dipole_field(r, r0, q, origin=(0.0, 0.0, 0.0)):
    """Magnetic field of a current dipole inside a spherically symmetric conductor.

    Sarvas (1987), eq. (25). With ``a = r - r0`` (relative to the sphere centre)::

        F     = |a| (|r| |a| + |r|**2 - r0.r)
        gradF = (|a|**2/|r| + a.r/|a| + 2|a| + 2|r|) r - (|a| + 2|r| + a.r/|a|) r0
        B     = mu0 / (4 pi F**2) (F (q x r0) - ((q x r0).r) gradF)

    The field does not depend on the conductivities or on the number of shells. A
    radial dipole (``q`` parallel to ``r0 - origin``) gives zero field outside.

    Parameters
    ----------
    r : array_like, shape (..., 3)
        Field points, m, outside the conductor.
    r0 : array_like, shape (..., 3)
        Dipole positions, m, inside the conductor.
    q : array_like, shape (..., 3)
        Dipole moments, A m.
    origin : array_like, shape (3,) or (..., 3)
        Centre of the sphere, m.

    Returns
    -------
    B : jax.Array, shape (..., 3)
        Magnetic flux density, T. The leading axes are the broadcast of the inputs'.

    Raises
    ------
    ValueError
        For concrete inputs that are not finite, whose last axis is not 3, that do not
        broadcast together, or with a field point on the segment from ``origin`` to its
        dipole (ends included), where the field is singular.
    """
    _check_vectors(r__m=r, r0__m=r0, q__A_m=q, origin__m=origin)
    if all(is_concrete(x) for x in (r, r0, origin)):
        o = np.asarray(origin, float)
        with np.errstate(all="ignore"):  # a = 0 at a dipole: F is NaN or 0 there
            F, _, _ = _sarvas_terms(np.asarray(r, float) - o, np.asarray(r0, float) - o, np)
        if not np.all(F > 0):
            raise ValueError(
                "r must not lie on the segment from origin to r0 (a field point at a "
                "dipole, at the centre or between them), where Sarvas's field is singular; "
                "field points belong outside the conductor, dipoles inside")
    return _sphere_dipole_field(r, r0, q, origin)


@jax.jit
def _sphere_dipole_field(r, r0, q, origin):
    origin = jnp.asarray(origin, dtype=jnp.result_type(float))
    r = jnp.asarray(r) - origin
    r0 = jnp.asarray(r0) - origin
    q = jnp.asarray(q)
    F, c_r, c_r0 = _sarvas_terms(r, r0)
    grad_F = c_r[..., None] * r - c_r0[..., None] * r0
    qxr0 = jnp.cross(q, r0)
    return (_K / (F * F))[..., None] * (
        F[..., None] * qxr0 - _dot(qxr0, r)[..., None] * grad_F
    )


def primary_dipole_field(r, r0, q):
    """Field of a current dipole in an infinite homogeneous medium (Biot-Savart).

    ``B0(r) = mu0/(4 pi) q x (r - r0) / |r - r0|**3``.

    Parameters
    ----------
    r, r0 : array_like, shape (..., 3)
        Field points and dipole positions, m.
    q : array_like, shape (..., 3)
        Dipole moments, A m.

    Returns
    -------
    B : jax.Array, shape (..., 3)
        Magnetic flux density, T.
    """
    _check_vectors(r__m=r, r0__m=r0, q__A_m=q)
    _check_apart(r, r0, "current dipole")
    return _primary_dipole_field(r, r0, q)


@jax.jit
def _primary_dipole_field(r, r0, q):
    d = jnp.asarray(r) - jnp.asarray(r0)
    dn = jnp.linalg.norm(d, axis=-1)
    return _K * jnp.cross(jnp.asarray(q), d) / (dn**3)[..., None]


def magnetic_dipole_field(r, r0, m):
    """Field of a point magnetic dipole.

    ``B(r) = mu0/(4 pi) (3 (m.n) n - m) / |d|**3`` with ``d = r - r0``, ``n = d/|d|``
    (Jackson eq. 5.56, outside the source point).

    Parameters
    ----------
    r, r0 : array_like, shape (..., 3)
        Field points and dipole positions, m.
    m : array_like, shape (..., 3)
        Magnetic moments, A m**2.

    Returns
    -------
    B : jax.Array, shape (..., 3)
        Magnetic flux density, T.
    """
    _check_vectors(r__m=r, r0__m=r0, m__A_m2=m)
    _check_apart(r, r0, "magnetic dipole")
    return _magnetic_dipole_field(r, r0, m)


@jax.jit
def _magnetic_dipole_field(r, r0, m):
    d = jnp.asarray(r) - jnp.asarray(r0)
    m = jnp.asarray(m)
    dn = jnp.linalg.norm(d, axis=-1)
    n = d / dn[..., None]
    return _K * (3.0 * _dot(m, n)[..., None] * n - m) / (dn**3)[..., None]


def sphere_coil_leadfield(points, normals, weights, sources, origin):
    """Sarvas leadfield of coils that all have ``P`` integration points (zero-padded).

    A coil's output is ``sum_k w_k B(r_k) . n_k`` over its integration points (MNE's
    ``coil_def.dat`` convention; gradiometers have negative weights). Since
    ``(q x r0).n = q.(r0 x n)``, Sarvas's formula (1987, eq. 25) summed over a coil's
    integration points is

        l = r0 x sum_k w_k (u_k n_k - v_k r_k),
        u_k = mu0 / (4 pi F_k),  v_k = u_k (gradF_k . n_k) / F_k,

    so each (point, source) pair needs two scalars only. A ``lax.scan`` runs over the
    ``P`` points; its body is elementwise on (channel, source) arrays, which XLA fuses
    and vectorises along the sources.

    Parameters
    ----------
    points, normals : array_like, shape (n_channels, P, 3)
        Integration points (m) and unit normals; padding points need weight 0 and a
        position away from the sphere centre.
    weights : array_like, shape (n_channels, P)
    sources : array_like, shape (n_sources, 3)
    origin : array_like, shape (3,)

    Returns
    -------
    leadfield : jax.Array, shape (n_channels, n_sources, 3)
        T/(A m) (T/(A m**2) for planar gradiometers).

    Raises
    ------
    ValueError
        For concrete inputs that are not finite or not of the shapes above.
    """
    check_coils(points, normals, weights)
    check_vector3("sources", sources, _VEC3.replace("{unit}", "m"))
    check_vector3("origin", origin, _VEC3.replace("{unit}", "m"))
    if np.ndim(sources) != 2:
        raise ValueError(f"sources must have shape (n_sources, 3); got shape "
                         f"{np.shape(sources)}")
    if np.shape(origin) != (3,):
        raise ValueError(f"origin must have shape (3,); got shape {np.shape(origin)}")
    return _sphere_coil_leadfield(points, normals, weights, sources, origin)


@jax.jit
def _sphere_coil_leadfield(points, normals, weights, sources, origin):
    origin = jnp.asarray(origin)
    p = jnp.asarray(points) - origin
    nrm = jnp.asarray(normals)
    wk = _K * jnp.asarray(weights)
    s = jnp.asarray(sources) - origin
    sx, sy, sz = (s[None, :, k] for k in range(3))
    s2 = sx * sx + sy * sy + sz * sz
    # per-point constants, shape (n_channels, P)
    rr_all = jnp.sum(p * p, axis=-1)
    rn_all = jnp.sqrt(rr_all)
    rdn_all = jnp.sum(p * nrm, axis=-1)

    def point(m, k):
        # one integration point of every channel against every source: (n_channels, S)
        (rx, ry, rz), (nx, ny, nz), rr, rn, rdn, w = k
        rs = rx * sx + ry * sy + rz * sz  # r0 . r
        a2 = rr - 2.0 * rs + s2  # |r - r0|**2
        a_inv = jax.lax.rsqrt(a2)
        a = a2 * a_inv
        ar = (rr - rs) * a_inv  # (r - r0) . r / |r - r0|
        F = a * (rn * a + rr - rs)
        c_r = a2 / rn + ar + 2.0 * (a + rn)
        c_r0 = a + 2.0 * rn + ar
        g = c_r * rdn - c_r0 * (sx * nx + sy * ny + sz * nz)  # gradF . n
        u = w / F
        v = u * g / F
        return (m[0] + u * nx - v * rx, m[1] + u * ny - v * ry, m[2] + u * nz - v * rz), None

    col = lambda x: jnp.moveaxis(x, 1, 0)[..., None]  # (P, n_channels, 1)  # noqa: E731
    xs = (tuple(col(p[..., k]) for k in range(3)), tuple(col(nrm[..., k]) for k in range(3)),
          col(rr_all), col(rn_all), col(rdn_all), col(wk))
    zero = jnp.zeros((p.shape[0], s.shape[0]), dtype=s.dtype)
    (mx, my, mz), _ = jax.lax.scan(point, (zero, zero, zero), xs)
    return jnp.stack([sy * mz - sz * my, sz * mx - sx * mz, sx * my - sy * mx], axis=-1)
