"""NV vector magnetometry: the field vector from the eight resonances or from a spectrum.

Weighted least squares by Levenberg-Marquardt on the exact forward models
(:func:`forward_models.nv.resonance_frequencies`, :func:`forward_models.nv.odmr_spectrum`),
in JAX; uncertainties from the inverse Fisher information (J^T W J)^-1 at the solution.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_broadcast, check_count, check_flag, shaped
from forward_models.constants import D_ZFS, GAMMA_NV
from forward_models.nv.hamiltonian import (
    _check_field,
    _check_finite,
    _check_gamma,
    _check_range,
    _check_rotation,
    _hyperfine_shifts,
    hyperfine_lines,
    resonance_frequencies,
)
from forward_models.nv.odmr import odmr_from_lines

__all__ = ["VectorFit", "reconstruct_vector", "fit_odmr_vector"]

# ---------------------------------------------------------------------------------------
# vector reconstruction (Levenberg-Marquardt / Gauss-Newton in JAX)
# ---------------------------------------------------------------------------------------


def _levenberg_marquardt(resid, p0, n_iter):
    """Minimise |resid(p)|^2 with scaled LM steps; returns (p, J at p, chi2)."""
    def both(p):
        r = resid(p)
        return r, r

    val_jac = jax.jacfwd(both, has_aux=True)

    def evaluate(p):
        J, r = val_jac(p)
        return r, J

    def body(carry, _):
        p, lam, r, J = carry
        d = jnp.sqrt(jnp.sum(J * J, axis=0))
        d = jnp.where(d > 0, d, 1.0)
        Js = J / d
        A = Js.T @ Js
        g = Js.T @ r
        step = -jnp.linalg.solve(A + lam * jnp.diag(jnp.diag(A) + 1e-12), g) / d
        pn = p + step
        rn, Jn = evaluate(pn)
        better = jnp.sum(rn**2) < jnp.sum(r**2)
        p = jnp.where(better, pn, p)
        r = jnp.where(better, rn, r)
        J = jnp.where(better, Jn, J)
        lam = jnp.where(better, lam * 0.3, lam * 10.0)
        return (p, jnp.clip(lam, 1e-12, 1e12), r, J), None

    r0, J0 = evaluate(p0)
    (p, _, r, J), _ = jax.lax.scan(body, (p0, jnp.asarray(1e-3), r0, J0), None, length=n_iter)
    return p, J, jnp.sum(r**2)


def _check_fit(sigma, data, B0, batch, D0, E, gamma, rotation, n_iter, what):
    """The checks every vector fit shares: sigma > 0 broadcasting to the data, the
    starting field broadcasting to the batch, the fixed model settings."""
    _check_range("sigma", sigma, lo=0.0, lo_open=True, what=what)
    if check_broadcast(("data", "sigma"), data, sigma) != np.shape(data):
        raise ValueError(f"sigma must broadcast to the data's shape {np.shape(data)}, got "
                         f"{np.shape(sigma)}")
    _check_field(B0, "B0")
    if check_broadcast(("batch", "B0"), shaped(batch + (3,)), B0) != batch + (3,):
        raise ValueError(f"B0 must have shape (3,) or {batch + (3,)}, got {np.shape(B0)}")
    _check_range("D0", D0, lo=0.0, lo_open=True, what=" Hz")
    _check_finite("E", E)
    _check_gamma(gamma)
    if np.ndim(D0) or np.ndim(E) or np.ndim(gamma):
        raise ValueError("D0, E and gamma must be numbers (one value for the fit), got "
                         f"shapes {np.shape(D0)}, {np.shape(E)}, {np.shape(gamma)}")
    _check_rotation(rotation)
    return check_count("n_iter", n_iter, what="a number of iterations")


def _covariance(J):
    d = jnp.sqrt(jnp.sum(J * J, axis=0))
    d = jnp.where(d > 0, d, 1.0)
    Js = J / d
    return jnp.linalg.inv(Js.T @ Js) / jnp.outer(d, d)


class VectorFit(NamedTuple):
    """Result of a vector-field reconstruction."""

    B: jax.Array
    """Estimated field, tesla, shape (..., 3)."""
    D: jax.Array
    """Estimated zero-field splitting, Hz, shape (...)."""
    covariance: jax.Array
    """Covariance of (Bx, By, Bz) in T^2, shape (..., 3, 3) (from the inverse Fisher
    information J^T W J of the weighted least-squares problem)."""
    B_sigma: jax.Array
    """Standard uncertainty of each component, tesla, shape (..., 3)."""
    chi2: jax.Array
    """Weighted residual sum of squares at the solution."""
    extra: jax.Array
    """Other fitted parameters (spectrum fits: contrast, linewidth in Hz, baseline)."""


def reconstruct_vector(resonances, sigma, B0, D0=D_ZFS, E=0.0, fit_D=True, gamma=GAMMA_NV,
                       rotation=None, n_iter=30):
    """Vector field from the eight resonance frequencies (weighted least squares).

    Minimises sum ((f_model(B, D) - f_meas) / sigma)**2 over B (and D if ``fit_D``) with
    Levenberg-Marquardt on the exact model :func:`resonance_frequencies`; the
    covariance is the inverse of J^T J of the whitened residuals (Cramer-Rao /
    Gauss-Newton covariance). The eight frequencies are invariant under B -> -B (time
    reversal) and under the tetrahedral symmetries that permute the NV axes, so the
    solution is the one nearest the prior ``B0`` (in practice the known bias field).

    Parameters
    ----------
    resonances : array (..., 4, 2)
        Measured frequencies, Hz, assigned to orientations.
    sigma : float or array broadcastable to (..., 4, 2)
        Standard uncertainty of each frequency, Hz (> 0).
    B0 : array (3,) or (..., 3)
        Starting field / prior branch, tesla.
    D0 : float
        Starting (or fixed) zero-field splitting, Hz.
    E : float
        Strain splitting, Hz (held fixed).
    fit_D : bool
        Fit D (temperature) as a fourth parameter.
    n_iter : int
        Levenberg-Marquardt iterations.

    Returns
    -------
    VectorFit
    """
    _check_finite("resonances", resonances)
    if np.shape(resonances)[-2:] != (4, 2):
        raise ValueError(f"resonances must have shape (..., 4, 2) (4 orientations x 2 "
                         f"transitions, Hz), got {np.shape(resonances)}")
    n_iter = _check_fit(sigma, resonances, B0, np.shape(resonances)[:-2], D0, E, gamma,
                        rotation, n_iter, " Hz")
    fit_D = check_flag("fit_D", fit_D)
    resonances = jnp.asarray(resonances, float)
    batch = resonances.shape[:-2]
    B0 = jnp.broadcast_to(jnp.asarray(B0, float), batch + (3,))
    sig = jnp.broadcast_to(jnp.asarray(sigma, float), resonances.shape)
    scale = 1e6  # work in MHz for conditioning

    def one(fm, s, b0):
        def model(p):
            B = p[:3] * scale / gamma
            Dv = p[3] * scale if fit_D else D0
            return resonance_frequencies(B, Dv, E, None, gamma, rotation)

        def resid(p):
            return ((model(p) - fm) / s).ravel()

        p0 = b0 * gamma / scale
        if fit_D:
            p0 = jnp.concatenate([p0, jnp.asarray([D0 / scale])])
        p, J, chi2 = _levenberg_marquardt(resid, p0, n_iter)
        cov = _covariance(J)[:3, :3] * (scale / gamma) ** 2
        Dv = p[3] * scale if fit_D else jnp.asarray(D0, float)
        return VectorFit(p[:3] * scale / gamma, Dv, cov, jnp.sqrt(jnp.diagonal(cov)), chi2,
                         jnp.zeros(0))

    f = one
    for _ in batch:
        f = jax.vmap(f)
    return jax.jit(f)(resonances, sig, B0)


def fit_odmr_vector(freqs, signal, sigma, B0, D0=D_ZFS, contrast0=0.01, linewidth0=1e6,
                    E=0.0, isotope=None, gamma=GAMMA_NV, rotation=None, n_iter=60):
    """Vector field straight from a CW-ODMR spectrum (weighted least squares).

    Fits the full model ``baseline * odmr_spectrum(freqs, B, contrast, linewidth, D)``
    (parameters Bx, By, Bz, D, contrast, linewidth, baseline) to the measured spectrum
    with Levenberg-Marquardt; uncertainties from the inverse of J^T W J at the
    solution. ``B0`` selects the branch (see :func:`reconstruct_vector`) and must put
    each line within about a linewidth of its true position.

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    signal : array (..., F)
        Normalised fluorescence.
    sigma : float or array broadcastable to (..., F)
        Standard deviation of each point (> 0).
    B0 : array (3,) or (..., 3)
        Starting field, tesla.
    D0, contrast0, linewidth0 : float
        Starting values (Hz, -, Hz).
    E, isotope, gamma, rotation
        Fixed model settings, as in :func:`odmr_spectrum`.

    Returns
    -------
    VectorFit with ``extra`` = (contrast, linewidth in Hz, baseline).
    """
    _check_finite("freqs", freqs)
    if np.ndim(freqs) != 1:
        raise ValueError(f"freqs must have shape (F,), got {np.shape(freqs)}")
    _check_finite("signal", signal)
    if np.ndim(signal) < 1 or np.shape(signal)[-1] != np.shape(freqs)[0]:
        raise ValueError(f"signal must have shape (..., F) with F = {np.shape(freqs)[0]} "
                         f"frequencies, got {np.shape(signal)}")
    n_iter = _check_fit(sigma, signal, B0, np.shape(signal)[:-1], D0, E, gamma, rotation,
                        n_iter, "")
    _check_range("contrast0", contrast0, lo=0.0, hi=1.0, lo_open=True)
    _check_range("linewidth0", linewidth0, lo=0.0, lo_open=True, what=" Hz")
    _hyperfine_shifts(isotope)
    freqs = jnp.asarray(freqs, float)
    signal = jnp.asarray(signal, float)
    batch = signal.shape[:-1]
    B0 = jnp.broadcast_to(jnp.asarray(B0, float), batch + (3,))
    sig = jnp.broadcast_to(jnp.asarray(sigma, float), signal.shape)
    scale = 1e6

    def one(y, s, b0):
        def model(p):
            B = p[:3] * scale / gamma
            lines = resonance_frequencies(B, p[3] * scale, E, None, gamma, rotation)
            lines, w = hyperfine_lines(lines, isotope)
            return p[6] * odmr_from_lines(freqs, lines.reshape(-1), p[4], p[5] * scale,
                                          jnp.tile(w, 8))

        def resid(p):
            return (model(p) - y) / s

        p0 = jnp.concatenate([b0 * gamma / scale,
                              jnp.asarray([D0 / scale, contrast0, linewidth0 / scale, 1.0])])
        p, J, chi2 = _levenberg_marquardt(resid, p0, n_iter)
        cov = _covariance(J)[:3, :3] * (scale / gamma) ** 2
        extra = jnp.stack([p[4], p[5] * scale, p[6]])
        return VectorFit(p[:3] * scale / gamma, p[3] * scale, cov, jnp.sqrt(jnp.diagonal(cov)),
                         chi2, extra)

    f = one
    for _ in batch:
        f = jax.vmap(f)
    return jax.jit(f)(signal, sig, B0)
