"""The SERF Bloch equation: steady state, linewidth and bandwidth, small-signal response.

The spin polarisation ``P`` (dimensionless, pump-frame components) of the alkali vapour
obeys the Bloch equation of a spin-exchange-relaxation-free (SERF) magnetometer pumped
along ``z`` (Seltzer & Romalis 2004, Appl. Phys. Lett. 85:4804; Tierney et al. 2019,
NeuroImage 199:598, eq. 1):

    q(|P|) dP/dt = gamma_e (B x P) + R_op (z_hat - P) - R_rel P

with the slowing-down factor of 87Rb (nuclear spin I = 3/2) in spin-temperature
equilibrium, q(P) = (6 + 2 P**2) / (1 + P**2) (Savukov & Romalis 2005, Phys. Rev. A
71:023405, eq. 4 specialised to I = 3/2), and gamma_e = 2 pi x 28.0 GHz/T. With
Gamma = R_op + R_rel, the zero-field resonance half-width is ``linewidth`` =
Gamma / gamma_e (tesla) and the zero-field polarisation is P0 = R_op / Gamma.

Conventions:

* ``serf_steady_state(B, linewidth)`` returns P / P0 for beta = B / linewidth:
  P / P0 = (z + beta x z + beta_z beta) / (1 + |beta|**2)
  (Dupont-Roc et al. 1969, Phys. Lett. A 28:638).
* The vector readout of a transverse axis is the calibrated transverse polarisation:
  r_x = -linewidth P_y / P0 and r_y = linewidth P_x / P0, so that r = (B_x, B_y) for
  |B| << linewidth. The nonlinear terms give the cross-axis projection error (CAPE) and
  the gain drop 1 / (1 + beta_x0**2 + beta_z0**2) of Borna et al. 2022 (NeuroImage
  247:118818).

Time integration is in :mod:`forward_models.opm.bloch`, the sensor readout in
:mod:`forward_models.opm.readout`. All functions are pure, jit-able and broadcast over
leading axes; SI units.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    as_numeric,
    check_broadcast,
    check_finite,
    check_positive,
    check_range,
    check_vector3,
    is_concrete,
)
from forward_models.constants import GAMMA_E, Q_MAX_87RB

__all__ = [
    "GAMMA_E",
    "Q_MAX_87RB",
    "slowing_down_factor",
    "relaxation_rate",
    "bandwidth_3db",
    "linewidth_for_bandwidth",
    "serf_steady_state",
    "vector_readout",
    "transfer_function",
    "transfer_matrix",
]


# ----------------------------------------------------------------------------- checks
_POSITIVE = "{name} must be finite and > 0 (tesla for a linewidth), got {value!r}"


def _check_positive(name: str, value) -> None:
    """Raise ValueError if a concrete value is not finite and > 0 (no-op under jit)."""
    check_positive(name, value, _POSITIVE, finite=_POSITIVE, nonempty=True)


def _check_finite(name: str, value) -> None:
    """Raise ValueError if a concrete array holds NaN or inf (no-op under jit)."""
    check_finite(name, value, "{name} must be finite everywhere; found {bad!r}")


def _check_p0(p0) -> None:
    if not is_concrete(p0):
        return
    arr = as_numeric("p0", p0).astype(float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr >= 1):
        raise ValueError(f"p0 (zero-field polarisation R_op/Gamma) must lie in (0, 1), got {p0!r}")


# ------------------------------------------------------------------------ basic physics
def slowing_down_factor(polarisation):
    """Slowing-down factor q(P) of 87Rb (nuclear spin 3/2) in spin-temperature equilibrium.

    Parameters
    ----------
    polarisation : array_like, shape (...)
        Magnitude of the electron spin polarisation, 0 <= P <= 1 (dimensionless).

    Returns
    -------
    q : jax.Array, shape (...)
        q(P) = (6 + 2 P**2) / (1 + P**2), from 6 (P = 0) to 4 (P = 1).

    Notes
    -----
    Savukov & Romalis 2005 (Phys. Rev. A 71:023405), eq. 4 for I = 3/2.
    """
    check_range("polarisation", polarisation, 0.0, 1.0)
    p2 = jnp.asarray(polarisation) ** 2
    return (6.0 + 2.0 * p2) / (1.0 + p2)


def relaxation_rate(linewidth):
    """Total spin relaxation rate Gamma = R_op + R_rel = gamma_e * linewidth, in 1/s.

    Parameters
    ----------
    linewidth : array_like
        Half-width dB of the zero-field resonance in tesla (> 0).
    """
    _check_positive("linewidth", linewidth)
    return GAMMA_E * jnp.asarray(linewidth)


def bandwidth_3db(linewidth, p0):
    """Small-signal -3 dB bandwidth f = Gamma / (2 pi q(P0)) in Hz.

    Parameters
    ----------
    linewidth : array_like
        Resonance half-width in tesla (> 0).
    p0 : array_like
        Zero-field polarisation R_op / Gamma, in (0, 1).

    Notes
    -----
    First-order response of the linearised Bloch equation around P = P0 z (the change
    of q with |P| enters only at second order in the field).
    """
    _check_p0(p0)
    return relaxation_rate(linewidth) / (2.0 * jnp.pi * slowing_down_factor(p0))


def linewidth_for_bandwidth(bandwidth, p0):
    """Resonance half-width (tesla) that gives a -3 dB bandwidth ``bandwidth`` (Hz).

    Inverse of :func:`bandwidth_3db`: dB = 2 pi f q(P0) / gamma_e.
    """
    _check_positive("bandwidth", bandwidth)
    _check_p0(p0)
    return 2.0 * jnp.pi * jnp.asarray(bandwidth) * slowing_down_factor(p0) / GAMMA_E


def serf_steady_state(B, linewidth):
    """Steady-state SERF polarisation P / P0 in a static field.

    Parameters
    ----------
    B : array_like, shape (..., 3)
        Magnetic field in the pump frame (pump along z), tesla.
    linewidth : array_like, broadcastable to (...)
        Zero-field resonance half-width dB = Gamma / gamma_e, tesla (> 0).

    Returns
    -------
    p : jax.Array, shape (..., 3)
        P / P0 = (z + beta x z + beta_z beta) / (1 + |beta|**2), beta = B / dB, i.e.
        Px = (beta_y + beta_x beta_z) / (1 + beta**2),
        Py = (beta_y beta_z - beta_x) / (1 + beta**2),
        Pz = (1 + beta_z**2) / (1 + beta**2).

    Notes
    -----
    Steady state of q dP/dt = gamma_e B x P + R_op (z - P) - R_rel P (Dupont-Roc et al.
    1969, Phys. Lett. A 28:638; Seltzer & Romalis 2004, Appl. Phys. Lett. 85:4804),
    divided by P0 = R_op / Gamma. Independent of q.

    Raises
    ------
    ValueError
        If ``linewidth`` is not > 0 or ``B`` holds NaN/inf (concrete inputs only).
    """
    _check_positive("linewidth", linewidth)
    _check_finite("B", B)
    B = jnp.asarray(B)
    if B.shape[-1:] != (3,):
        raise ValueError(f"B must have a last axis of length 3, got shape {B.shape}")
    check_broadcast(("B[..., 0]", "linewidth"), B[..., 0], linewidth)
    beta = B / jnp.asarray(linewidth)[..., None]
    bx, by, bz = beta[..., 0], beta[..., 1], beta[..., 2]
    den = 1.0 + bx * bx + by * by + bz * bz
    return jnp.stack([(by + bx * bz) / den, (by * bz - bx) / den, (1.0 + bz * bz) / den], -1)


def vector_readout(B, linewidth):
    """Open-loop calibrated transverse readings (r_x, r_y) in a static field, tesla.

    Parameters
    ----------
    B : array_like, shape (..., 3)
        Field in the pump frame, tesla.
    linewidth : array_like
        Resonance half-width, tesla.

    Returns
    -------
    r : jax.Array, shape (..., 2)
        r_x = -dB P_y / P0 = B_x - B_y B_z / dB + O(B^3), r_y = dB P_x / P0 =
        B_y + B_x B_z / dB + O(B^3): the CAPE cross terms of Borna et al. 2022.
    """
    p = serf_steady_state(B, linewidth)
    lw = jnp.asarray(linewidth)[..., None]
    return lw * jnp.stack([-p[..., 1], p[..., 0]], -1)


# ----------------------------------------------------------------- transfer functions
def transfer_function(freqs, linewidth, p0):
    """Small-signal transfer function of a transverse reading at zero static field.

    Parameters
    ----------
    freqs : array_like, shape (...)
        Frequencies in Hz.
    linewidth, p0 : float
        Resonance half-width (tesla) and zero-field polarisation.

    Returns
    -------
    H : jax.Array, complex, shape (...)
        H(f) = 1 / (1 + i f / f_3dB), f_3dB = Gamma / (2 pi q(P0)): a first-order
        low-pass (linearisation of the Bloch equation; Tierney et al. 2019).
    """
    _check_finite("freqs", freqs)
    f3 = bandwidth_3db(linewidth, p0)
    return 1.0 / (1.0 + 1j * jnp.asarray(freqs) / f3)


def transfer_matrix(freqs, B0, linewidth, p0):
    """Linearised 3x3 response dP/dB (per tesla, in units of P0) about a static field.

    Parameters
    ----------
    freqs : array_like, shape (F,)
        Frequencies in Hz.
    B0 : array_like, shape (3,)
        Static field in the pump frame, tesla.
    linewidth, p0 : float
        Resonance half-width (tesla) and zero-field polarisation R_op / Gamma.

    Returns
    -------
    H : jax.Array, complex, shape (F, 3, 3)
        delta P / P0 = H(f) delta B. Linearising q dP/dt = gamma_e B x P - Gamma P +
        R_op z about the steady state P_s (q's own variation drops out because
        dP/dt = 0 there): H = (i 2 pi f q_s + Gamma - gamma_e [B0]x)^-1
        (-gamma_e [P_s / P0]x), q_s = q(|P_s|). At f = 0 it is the Jacobian of
        :func:`serf_steady_state`.
    """
    _check_p0(p0)
    _check_finite("freqs", freqs)
    check_vector3("B0", B0, "{name} must have shape (3,) (tesla); got shape {shape}")
    for name, x, want in (("B0", B0, (3,)), ("linewidth", linewidth, ()), ("p0", p0, ())):
        if np.shape(x) != want:
            raise ValueError(f"{name} must have shape {want}, got {np.shape(x)}")
    B0 = jnp.asarray(B0, dtype=float)
    gam = relaxation_rate(linewidth)
    ps = serf_steady_state(B0, linewidth)
    qs = slowing_down_factor(p0 * jnp.linalg.norm(ps))
    w = 2.0 * jnp.pi * jnp.asarray(freqs, dtype=float)[..., None, None]
    A = (1j * w * qs + gam) * jnp.eye(3) - GAMMA_E * _cross_matrix(B0)
    rhs = -GAMMA_E * _cross_matrix(ps)
    return jnp.linalg.solve(A, jnp.broadcast_to(rhs, A.shape).astype(A.dtype))


def _cross_matrix(v):
    """[v]x such that [v]x w = v x w; v shape (..., 3) -> (..., 3, 3)."""
    z = jnp.zeros_like(v[..., 0])
    return jnp.stack(
        [
            jnp.stack([z, -v[..., 2], v[..., 1]], -1),
            jnp.stack([v[..., 2], z, -v[..., 0]], -1),
            jnp.stack([-v[..., 1], v[..., 0], z], -1),
        ],
        -2,
    )
