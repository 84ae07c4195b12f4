"""Time integration of the SERF Bloch equation through a sampled field.

Time integration is exact for a field and slowing-down factor held constant over a
sub-step: because B x and the isotropic relaxation commute,

    P(t + h) = P_ss(B) + exp(-Gamma h / q) R(gamma_e B h / q) (P(t) - P_ss(B)),

with R a rotation (Rodrigues). B is taken at the sub-step midpoint of its linear
interpolation between samples and q at the midpoint polarisation (predictor
half-step), which makes the scheme second order in the sub-step and unconditionally
stable (it never amplifies: |exp(-Gamma h/q)| < 1 for every h).

The equation, its steady state and the slowing-down factor q are in
:mod:`forward_models.opm.serf`. Pure JAX, SI units, batched over leading axes.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    check_broadcast,
    check_count,
    check_scalar,
    check_vector3,
    shaped,
)
from forward_models.constants import GAMMA_E
from forward_models.opm.serf import (
    _check_finite,
    _check_p0,
    _check_positive,
    serf_steady_state,
    slowing_down_factor,
)

__all__ = ["bloch_step", "bloch_evolve"]


# -------------------------------------------------------------------- time integration
def _rotate(v, omega):
    """Rotate v by the rotation vector omega (right-handed, angle |omega|), Rodrigues.

    Stable at omega -> 0 (series for sin(t)/t and (1 - cos t)/t^2).
    """
    th2 = jnp.sum(omega * omega, -1, keepdims=True)
    small = th2 < 1e-8
    th2s = jnp.where(small, 1.0, th2)
    th = jnp.sqrt(th2s)
    a = jnp.where(small, 1.0 - th2 / 6.0, jnp.sin(th) / th)
    b = jnp.where(small, 0.5 - th2 / 24.0, (1.0 - jnp.cos(th)) / th2s)
    c = jnp.cross(omega, v)
    return v + a * c + b * jnp.cross(omega, c)


def _exact_step(P, B, lw, p0, gam, h, q):
    """Exact propagation over h for constant B and q (see module notes)."""
    pss = p0 * serf_steady_state(B, lw)
    decay = jnp.exp(-gam * h / q)
    return pss + decay * _rotate(P - pss, GAMMA_E * B * (h / q))


def bloch_step(P, B, linewidth, p0, h):
    """One second-order step of the 87Rb SERF Bloch equation.

    Parameters
    ----------
    P : array_like, shape (..., 3)
        Polarisation (not normalised by P0) at the start of the step.
    B : array_like, shape (..., 3)
        Field over the step (its midpoint value), pump frame, tesla.
    linewidth : array_like, shape (...) or scalar
        Resonance half-width dB, tesla.
    p0 : array_like
        Zero-field polarisation R_op / Gamma.
    h : float
        Step in seconds.

    Returns
    -------
    P_new : jax.Array, shape (..., 3)

    Notes
    -----
    Exact exponential step for frozen B and q; q is taken at the polarisation of a
    predictor half-step, which makes the scheme second order in h.
    """
    for name, x in (("P", P), ("B", B)):
        check_vector3(name, x)
    _check_positive("linewidth", linewidth)
    _check_p0(p0)
    _check_positive("h", h)
    lw = jnp.asarray(linewidth)[..., None]
    gam = GAMMA_E * lw
    p0 = jnp.asarray(p0)[..., None]
    q0 = slowing_down_factor(jnp.linalg.norm(P, axis=-1, keepdims=True))
    p_half = _exact_step(P, B, lw[..., 0], p0, gam, 0.5 * h, q0)
    qm = slowing_down_factor(jnp.linalg.norm(p_half, axis=-1, keepdims=True))
    return _exact_step(P, B, lw[..., 0], p0, gam, h, qm)


def bloch_evolve(B, dt, linewidth, p0, n_substeps=4, P_init=None):
    """Integrate the SERF Bloch equation through a sampled field, batched.

    Parameters
    ----------
    B : array_like, shape (..., T, 3)
        Field samples at times k * dt in the pump frame, tesla; linearly interpolated
        between samples.
    dt : float
        Sample interval in seconds (> 0).
    linewidth : array_like, broadcastable to B.shape[:-2]
        Resonance half-width in tesla (> 0).
    p0 : array_like, broadcastable to B.shape[:-2]
        Zero-field polarisation R_op / Gamma in (0, 1).
    n_substeps : int
        Exact-exponential sub-steps per sample interval (>= 1); the error is second
        order in dt / n_substeps (B interpolation and q drift only).
    P_init : array_like, shape (..., 3), optional
        Polarisation at t = 0; default the steady state in B[..., 0, :].

    Returns
    -------
    P : jax.Array, shape (..., T, 3)
        Polarisation (absolute, not divided by P0) at the sample times.
    """
    _check_finite("B", B)
    B = jnp.asarray(B, dtype=float)
    _check_step(dt)
    _check_positive("linewidth", linewidth)
    _check_p0(p0)
    if B.ndim < 2 or B.shape[-1] != 3:
        raise ValueError(f"B must have shape (..., T, 3), got {B.shape}")
    n_substeps = check_count("n_substeps", n_substeps)
    batch = B.shape[:-2]
    _check_per_sensor(batch, linewidth=linewidth, p0=p0)
    if P_init is not None:
        check_vector3("P_init", P_init)
        _check_per_sensor(batch + (3,), P_init=P_init)
    lw = jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), batch)
    pz = jnp.broadcast_to(jnp.asarray(p0, dtype=float), batch)
    if P_init is None:
        P_init = pz[..., None] * serf_steady_state(B[..., 0, :], lw)
    P_init = jnp.broadcast_to(jnp.asarray(P_init, dtype=float), batch + (3,))
    return _bloch_evolve_jit(B, float(dt), lw, pz, n_substeps, P_init)


def _check_step(dt):
    _check_positive("dt", dt)
    check_scalar("dt", dt, "sample interval (a number, s)")


def _check_per_sensor(shape, **arrays):
    """Each array broadcasts to ``shape`` (one value per sensor, or one for all)."""
    for name, x in arrays.items():
        if check_broadcast(("B's sensor axes", name), shaped(shape), x) != shape:
            raise ValueError(f"{name} must broadcast to shape {shape}, got {np.shape(x)}")


@partial(jax.jit, static_argnums=(1, 4))
def _bloch_evolve_jit(B, dt, lw, p0, n_sub, P_init):
    Bt = jnp.moveaxis(B, -2, 0)  # (T, ..., 3)
    h = dt / n_sub

    def body(P, pair):
        b0, b1 = pair
        for j in range(n_sub):
            f = (j + 0.5) / n_sub
            P = bloch_step(P, b0 + f * (b1 - b0), lw, p0, h)
        return P, P

    _, Ps = jax.lax.scan(body, P_init, (Bt[:-1], Bt[1:]))
    out = jnp.concatenate([P_init[None], Ps], 0)
    return jnp.moveaxis(out, 0, -2)
