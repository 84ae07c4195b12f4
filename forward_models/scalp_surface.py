"""A smooth star-shaped surface ``r = R(u)`` about a centre, in real spherical harmonics.

Used to keep on-scalp sensors on a smooth surface while their positions are optimised:
a sensor is a unit direction ``u`` from the centre, its foot the point
``c + R(u) u`` of the fitted scalp, and its position the foot moved ``standoff`` along
the surface's outward normal there. Every step is a polynomial or a normalisation of
``u``, so positions and normals are smooth, differentiable functions of ``u`` everywhere
on the sphere (the poles included: no angle is used).

The real spherical harmonics are written without angles. With ``z = cos(theta)`` and
``x + i y = sin(theta) exp(i phi)`` on the unit sphere,

    Y_l^m    = N_l^m  d^m P_l / dz^m (z)  Re((x + i y)^m)   (m >= 0, times sqrt(2) for m > 0)
    Y_l^{-m} = N_l^m  d^m P_l / dz^m (z)  Im((x + i y)^m) sqrt(2)
    N_l^m    = sqrt((2 l + 1) / (4 pi) (l - m)! / (l + m)!)

since the associated Legendre function is ``P_l^m = (1 - z^2)^(m/2) d^m P_l/dz^m``
(without the Condon-Shortley phase) and ``(1 - z^2)^(m/2) exp(i m phi) = (x + i y)^m``
(e.g. Arfken, Weber and Harris, Mathematical Methods for Physicists, 7th ed., sec. 15.5).
The derivatives ``Q_l^m = d^m P_l / dz^m`` follow the recurrence

    Q_m^m = (2m - 1)!!,  Q_{m+1}^m = (2m + 1) z Q_m^m,
    (l - m + 1) Q_{l+1}^m = (2l + 1) z Q_l^m - (l + m) Q_{l-1}^m,

obtained by differentiating Bonnet's recurrence ``m`` times.

The outward normal of ``{x : |x - c| = R((x - c)/|x - c|)}`` is the normalised gradient
of ``f(x) = |x - c| - R((x - c)/|x - c|)``: at the foot, ``u - grad_S R(u) / R(u)``,
with ``grad_S`` the gradient on the unit sphere (the tangential part of the gradient of
the polynomial extension of ``R``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["n_coefficients", "sph_harm_basis", "fit_radius", "radius", "surface_points",
           "area_element"]


def n_coefficients(lmax: int) -> int:
    """Number of real spherical harmonics up to degree ``lmax``: ``(lmax + 1)^2``."""
    return (int(lmax) + 1) ** 2


def _norm(l_deg, m):
    return math.sqrt((2 * l_deg + 1) / (4 * math.pi)
                     * math.factorial(l_deg - m) / math.factorial(l_deg + m))


def sph_harm_basis(u, lmax: int):
    """Real orthonormal spherical harmonics at unit vectors, without angles.

    Parameters
    ----------
    u : array_like, shape (..., 3)
        Unit vectors (the formula is a polynomial in ``u``: other lengths give its
        polynomial extension, which :func:`surface_points` uses for the normal).
    lmax : int
        Highest degree (static).

    Returns
    -------
    jax.Array, shape (..., (lmax + 1)^2)
        Ordered by degree ``l``, then ``m = -l .. l``; ``Y_0^0 = 1 / sqrt(4 pi)``.
    """
    u = jnp.asarray(u)
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    # Re and Im of (x + i y)^m
    cs = [(jnp.ones_like(x), jnp.zeros_like(x))]
    for _ in range(lmax):
        c, s = cs[-1]
        cs.append((c * x - s * y, c * y + s * x))
    cols = {}
    for m in range(lmax + 1):
        q_prev = None
        q = jnp.full_like(z, float(np.prod(np.arange(2 * m - 1, 0, -2)) if m else 1.0))
        for l_deg in range(m, lmax + 1):
            if l_deg > m:
                nxt = ((2 * l_deg - 1) * z * q
                       - ((l_deg - 1 + m) * q_prev if q_prev is not None else 0.0)
                       ) / (l_deg - m)
                q_prev, q = q, nxt
            k = _norm(l_deg, m) * q
            if m == 0:
                cols[(l_deg, 0)] = k
            else:
                cols[(l_deg, m)] = math.sqrt(2) * k * cs[m][0]
                cols[(l_deg, -m)] = math.sqrt(2) * k * cs[m][1]
    return jnp.stack([cols[(l_deg, m)] for l_deg in range(lmax + 1)
                      for m in range(-l_deg, l_deg + 1)], axis=-1)


def fit_radius(points, centre, lmax: int, *, ridge: float = 1e-6):
    """Least-squares spherical-harmonic fit of the distance of points from a centre.

    Minimises ``sum_i (R(u_i) - |p_i - c|)^2 + ridge * sum_lm l^2 (l + 1)^2 a_lm^2``
    (a small roughness penalty: the squared surface Laplacian, which only matters where
    the points leave a harmonic undetermined).

    Parameters
    ----------
    points : array_like, shape (n, 3)
        Points of the surface, m.
    centre : array_like, shape (3,)
        The surface must be star-shaped about it over the points' directions.
    lmax : int
        Highest degree; ``n`` must exceed ``(lmax + 1)^2``.
    ridge : float
        Weight of the roughness penalty, m^2 per unit of the normalised coefficients.

    Returns
    -------
    coef : ndarray, shape ((lmax + 1)^2,)
        m.
    rms : float
        Root-mean-square residual over the points, m.
    """
    p = np.asarray(points, float) - np.asarray(centre, float)
    dist = np.linalg.norm(p, axis=1)
    if p.ndim != 2 or p.shape[1] != 3 or np.any(dist == 0):
        raise ValueError("points must have shape (n, 3) and differ from centre")
    n_coef = n_coefficients(lmax)
    if len(p) <= n_coef:
        raise ValueError(f"points must number more than (lmax + 1)^2 = {n_coef}, got "
                         f"{len(p)}")
    basis = np.asarray(sph_harm_basis(p / dist[:, None], lmax))
    degree = np.concatenate([[l_deg] * (2 * l_deg + 1) for l_deg in range(lmax + 1)])
    pen = ridge * (degree * (degree + 1.0)) ** 2
    a = basis.T @ basis + np.diag(pen * len(p))
    coef = np.linalg.solve(a, basis.T @ dist)
    rms = float(np.sqrt(np.mean((basis @ coef - dist) ** 2)))
    return coef, rms


@functools.cache
def _exponents(lmax: int) -> np.ndarray:
    return np.array([(a, b, d - a - b) for d in range(lmax + 1) for a in range(d + 1)
                     for b in range(d - a + 1)])


@functools.cache
def _sh_to_monomials(lmax: int) -> np.ndarray:
    """T with ``monomials(u) @ T = sph_harm_basis(u)`` on the unit sphere (least squares,
    exact: every harmonic of degree l is a polynomial of degree l)."""
    n_mono = len(_exponents(lmax))
    i = np.arange(6 * n_mono) + 0.5
    z = 1 - 2 * i / len(i)
    phi = np.pi * (1 + 5**0.5) * i
    rho = np.sqrt(1 - z * z)
    u = np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])
    with jax.ensure_compile_time_eval():
        basis = np.asarray(sph_harm_basis(jnp.asarray(u), lmax))
        mono = np.asarray(_monomials(jnp.asarray(u), lmax))
    return np.linalg.lstsq(mono, basis, rcond=1e-12)[0]


def _monomials(w, lmax: int):
    """``x^a y^b z^c`` for ``a + b + c <= lmax`` at points w (..., 3)."""
    pw = [jnp.ones_like(w)]
    for _ in range(lmax):
        pw.append(pw[-1] * w)
    pw = jnp.stack(pw, axis=-2)  # (..., lmax + 1, 3)
    e = _exponents(lmax)
    return pw[..., e[:, 0], 0] * pw[..., e[:, 1], 1] * pw[..., e[:, 2], 2]


def _poly_coef(coef, lmax):
    return jnp.asarray(_sh_to_monomials(lmax)) @ jnp.asarray(coef)


@functools.partial(jax.jit, static_argnames="lmax")
def radius(u, coef, lmax: int):
    """``R(u)``, m, at unit vectors ``u`` (..., 3)."""
    return _monomials(jnp.asarray(u), lmax) @ _poly_coef(coef, lmax)


@functools.partial(jax.jit, static_argnames="lmax")
def surface_points(u, coef, centre, lmax: int, standoff):
    """Points ``standoff`` outside the surface along its normal, and the normals.

    Parameters
    ----------
    u : array_like, shape (n, 3)
        Directions from the centre (normalised here; need not be unit).
    coef : array_like, shape ((lmax + 1)^2,)
        From :func:`fit_radius`, m.
    centre : array_like, shape (3,)
        m.
    lmax : int
        Static.
    standoff : float
        m (0: the surface itself).

    Returns
    -------
    positions : jax.Array, shape (n, 3)
        m.
    normals : jax.Array, shape (n, 3)
        Outward unit normals of the surface at each foot.
    """
    u = jnp.asarray(u)
    u = u / jnp.linalg.norm(u, axis=-1, keepdims=True)
    poly = _poly_coef(coef, lmax)

    def r_ext(w):  # a polynomial equal to R on the unit sphere
        return _monomials(w, lmax) @ poly

    r = jax.vmap(r_ext)(u)
    g = jax.vmap(jax.grad(r_ext))(u)
    g_t = g - jnp.sum(g * u, axis=-1, keepdims=True) * u  # gradient on the unit sphere
    n = u - g_t / r[:, None]
    n = n / jnp.linalg.norm(n, axis=-1, keepdims=True)
    return jnp.asarray(centre) + r[:, None] * u + standoff * n, n


@functools.partial(jax.jit, static_argnames="lmax")
def area_element(u, coef, lmax: int, standoff):
    """Area of the offset surface per unit solid angle of direction, m^2/sr, at unit
    vectors ``u`` (n, 3): ``sqrt(det(J^T J))`` for the Jacobian ``J`` (3 x 2) of the map
    from the sphere's tangent plane to the positions of :func:`surface_points`."""
    u = jnp.asarray(u)
    u = u / jnp.linalg.norm(u, axis=-1, keepdims=True)

    def pos(w):
        return surface_points(w[None], coef, jnp.zeros(3), lmax, standoff)[0][0]

    jac = jax.vmap(jax.jacfwd(pos))(u)  # (n, 3, 3): derivative along any direction of w
    helper = jnp.where(jnp.abs(u[:, :1]) < 0.9, jnp.array([[1.0, 0.0, 0.0]]),
                       jnp.array([[0.0, 1.0, 0.0]]))
    e1 = jnp.cross(u, helper)
    e1 = e1 / jnp.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = jnp.cross(u, e1)
    t = jnp.stack([e1, e2], axis=-1)  # (n, 3, 2)
    j2 = jac @ t
    gram = jnp.swapaxes(j2, -1, -2) @ j2
    return jnp.sqrt(jnp.linalg.det(gram))
