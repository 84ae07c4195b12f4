"""Remnant field in a shielded room and its active cancellation: first-order field
model, ideal nulling coils fitted by least squares, feedback compensation.

Pure functions of arrays in SI units (tesla, metres, hertz).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_option, check_real, check_vector3, is_concrete

__all__ = [
    "remnant_field",
    "gradient_basis",
    "nulling_basis",
    "active_nulling_fit",
    "active_nulling_residual",
    "active_compensation_factor",
]


# ------------------------------------------------- remnant field, active nulling
def _check_point_list(name, x, like=None):
    """Finite vectors of shape (n, 3) (that of ``like`` when given)."""
    check_real(name, x, positive=False)
    want = (np.shape(like)[0], 3) if like is not None else None
    if np.ndim(x) != 2 or np.shape(x)[-1] != 3 or (want and np.shape(x) != want):
        raise ValueError(f"{name} must have shape {want or '(n, 3)'}, got {np.shape(x)}")


def gradient_basis():
    """The five symmetric, traceless 3x3 matrices spanning curl- and divergence-free
    first-order gradients (a source-free field has dB_i/dx_j symmetric and traceless).

    Returns
    -------
    G : jax.Array, shape (5, 3, 3)
        Unit-norm basis tensors (1/m per unit coefficient).
    """
    g = np.zeros((5, 3, 3))
    g[0, 0, 1] = g[0, 1, 0] = 1
    g[1, 0, 2] = g[1, 2, 0] = 1
    g[2, 1, 2] = g[2, 2, 1] = 1
    g[3, 0, 0], g[3, 2, 2] = 1, -1
    g[4, 1, 1], g[4, 2, 2] = 1, -1
    g /= np.sqrt(np.sum(g**2, axis=(1, 2)))[:, None, None]
    return jnp.asarray(g)


def remnant_field(positions, b0, gradient, centre=(0.0, 0.0, 0.0)):
    """Remnant field inside a shielded room to first order: ``B(r) = B0 + G (r - c)``.

    Parameters
    ----------
    positions : array_like, shape (..., 3)
        Field points, m.
    b0 : array_like, shape (3,)
        Field at the room centre, T.
    gradient : array_like, shape (3, 3)
        dB_i/dx_j, T/m; must be symmetric and traceless (Maxwell's equations in a
        source-free region), checked to 1e-9 relative.
    centre : array_like, shape (3,)
        Expansion point c, m.

    Returns
    -------
    B : jax.Array, shape (..., 3)
        Field, T.
    """
    check_real("positions", positions, positive=False)
    check_vector3("positions", positions)
    for name, x in (("b0", b0), ("centre", centre)):
        check_real(name, x, positive=False)
        if np.shape(x) != (3,):
            raise ValueError(f"{name} must have shape (3,), got {np.shape(x)}")
    check_real("gradient", gradient, positive=False)
    if np.shape(gradient) != (3, 3):
        raise ValueError(f"gradient must have shape (3, 3), got {np.shape(gradient)}")
    if is_concrete(gradient):
        g = np.asarray(gradient, dtype=float)
        scale = max(np.abs(g).max(), 1e-300)
        if np.abs(g - g.T).max() > 1e-9 * scale or abs(np.trace(g)) > 1e-9 * scale:
            raise ValueError(
                "gradient must be symmetric and traceless (curl-free, divergence-free "
                f"field), got {g.tolist()!r}"
            )
    r = jnp.asarray(positions, dtype=float) - jnp.asarray(centre, dtype=float)
    return jnp.asarray(b0, dtype=float) + r @ jnp.asarray(gradient, dtype=float).T


def nulling_basis(positions, order=1):
    """Fields of ideal nulling coils at ``positions``: 3 uniform (+5 gradient) terms.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Field points, m, relative to the coil-system centre.
    order : {0, 1}
        0: uniform terms only (3 coils); 1: uniform plus first-order gradients (8).

    Returns
    -------
    basis : jax.Array, shape (n, 3, n_terms)
        Field per unit coefficient (T per T for uniform, T per T/m for gradients).
    """
    check_option("order", order, (0, 1), "order must be 0 or 1, got {value!r}")
    _check_point_list("positions", positions)
    r = jnp.asarray(positions, dtype=float)
    n = r.shape[0]
    uni = jnp.broadcast_to(jnp.eye(3)[None], (n, 3, 3))
    if order == 0:
        return uni
    grad = jnp.einsum("kij,nj->nik", gradient_basis(), r)
    return jnp.concatenate([uni, grad], axis=-1)


def active_nulling_fit(positions, fields, order=1):
    """Least-squares coil coefficients that cancel measured fields.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Reference sensor positions, m.
    fields : array_like, shape (n, 3)
        Measured field vectors there, T.
    order : {0, 1}

    Returns
    -------
    coeffs : jax.Array, shape (n_terms,)
        Coefficients of :func:`nulling_basis` reproducing the fields (the coils are
        driven with minus these).
    """
    _check_point_list("positions", positions)
    _check_point_list("fields", fields, positions)
    A = nulling_basis(positions, order).reshape(-1, 3 if order == 0 else 8)
    b = jnp.asarray(fields, dtype=float).reshape(-1)
    coeffs, *_ = jnp.linalg.lstsq(A, b, rcond=None)
    return coeffs


def active_nulling_residual(positions, fields, fit_positions=None, fit_fields=None, order=1,
                            gain_error=0.0):
    """Field left after nulling coils driven from a least-squares fit.

    ``B_res = B - (1 - gain_error) * basis @ coeffs``: the uniform and first-order
    gradient parts are removed up to the relative coil calibration error
    ``gain_error`` (assumption, e.g. 0.01 for 40 dB as reported for bi-planar coils by
    Holmes et al. 2019); higher-order parts of the field remain.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Points where the residual is wanted, m.
    fields : array_like, shape (n, 3)
        Field before nulling there, T.
    fit_positions, fit_fields : array_like, shape (m, 3), optional
        Reference points and fields used for the fit (default: the same points).
    order : {0, 1}
    gain_error : float
        Relative calibration error of the coils, in [0, 1).

    Returns
    -------
    residual : jax.Array, shape (n, 3)
        Field after nulling, T.
    """
    check_real("gain_error", gain_error, allow_zero=True)
    if is_concrete(gain_error) and gain_error >= 1:
        raise ValueError(f"gain_error must be in [0, 1), got {gain_error!r}")
    if (fit_positions is None) != (fit_fields is None):
        raise ValueError("fit_positions and fit_fields must be given together (or neither)")
    _check_point_list("positions", positions)
    _check_point_list("fields", fields, positions)
    if fit_positions is None:
        fit_positions, fit_fields = positions, fields
    coeffs = active_nulling_fit(fit_positions, fit_fields, order)
    applied = nulling_basis(positions, order) @ coeffs
    return jnp.asarray(fields, dtype=float) - (1.0 - gain_error) * applied


def active_compensation_factor(freq, loop_gain, bandwidth):
    """Extra shielding of a feedback (active) compensation loop.

    A feedback loop with DC gain ``G0`` and a single-pole roll-off at ``bandwidth``
    gives ``S_active = |1 + G0 / (1 + j f / f_c)|`` (standard feedback
    result; the gain and bandwidth are assumptions to calibrate against a room).

    Parameters
    ----------
    freq : array_like
        Frequency, Hz (>= 0).
    loop_gain : float
        DC loop gain G0 (>= 0), dimensionless.
    bandwidth : float
        Pole frequency f_c, Hz (> 0).

    Returns
    -------
    S : jax.Array
        Dimensionless extra shielding factor (>= 1 at low frequency).
    """
    check_real("freq", freq, allow_zero=True)
    check_real("loop_gain", loop_gain, allow_zero=True)
    check_real("bandwidth", bandwidth)
    f = jnp.asarray(freq, dtype=float)
    return jnp.abs(1.0 + loop_gain / (1.0 + 1j * f / bandwidth))
