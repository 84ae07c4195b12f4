"""SERF optically pumped magnetometer (OPM) physics, in JAX.

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

Conventions (fixed by the project's physics reference, section 2):

* ``serf_steady_state(B, linewidth)`` returns P / P0 for beta = B / linewidth:
  P / P0 = (z + beta x z + beta_z beta) / (1 + |beta|**2)
  (Dupont-Roc et al. 1969, Phys. Lett. A 28:638).
* The vector readout of a transverse axis is the calibrated transverse polarisation:
  r_x = -linewidth P_y / P0 and r_y = linewidth P_x / P0, so that r = (B_x, B_y) for
  |B| << linewidth. The nonlinear terms give the cross-axis projection error (CAPE) and
  the gain drop 1 / (1 + beta_x0**2 + beta_z0**2) of Borna et al. 2022 (NeuroImage
  247:118818).
* The pump-axis (``z``) component is read, in triaxial mode, through a bias field of
  +-b (in linewidths) along pump ``x`` that projects B_z into P_x (the same CAPE term,
  used on purpose). Each sign is simulated as its own atomic ensemble copy, i.e. the
  quasi-static limit of a fast alternating bias; this mechanism is an *assumption*
  standing in for the vendor's undisclosed triaxial scheme.
* Modulation and lock-in demodulation are not simulated at the modulation frequency:
  the outputs are the modulation-averaged (lock-in) transverse components, whose
  modulation-depth factors are absorbed in the factory calibration, which is what the
  gain-error parameters perturb.

Time integration is exact for a field and slowing-down factor held constant over a
sub-step: because B x and the isotropic relaxation commute,

    P(t + h) = P_ss(B) + exp(-Gamma h / q) R(gamma_e B h / q) (P(t) - P_ss(B)),

with R a rotation (Rodrigues). B is taken at the sub-step midpoint of its linear
interpolation between samples and q at the midpoint polarisation (predictor
half-step), which makes the scheme second order in the sub-step and unconditionally
stable (it never amplifies: |exp(-Gamma h/q)| < 1 for every h).

All functions are pure, jit-able and broadcast over leading axes; SI units.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_finite, check_positive, is_concrete
from forward_models.conductors import magnetic_dipole_field
from forward_models.constants import GAMMA_E, MU0, Q_MAX_87RB  # noqa: F401  (re-exported)

READ_MODES = ("single", "dual", "triaxial")
"""Readout modes of a single-beam sensor: ``single`` reads pump-frame y (from P_x);
``dual`` reads pump-frame x (from -P_y) and y; ``triaxial`` also reads z through a
bias field along pump x."""


# ----------------------------------------------------------------------------- checks
_POSITIVE = "{name} must be finite and > 0 (tesla for a linewidth), got {value!r}"


def _check_positive(name: str, value) -> None:
    """Raise ValueError if a concrete value is not finite and > 0 (no-op under jit)."""
    check_positive(name, value, _POSITIVE, finite=_POSITIVE, nonempty=True)


def _check_finite(name: str, value) -> None:
    """Raise ValueError if a concrete array holds NaN or inf (no-op under jit)."""
    check_finite(name, value, "{name} must be finite everywhere; found {bad!r}")


def _check_mode(mode: str) -> None:
    if mode not in READ_MODES:
        raise ValueError(f"mode must be one of {READ_MODES}, got {mode!r}")


def _check_p0(p0) -> None:
    if not is_concrete(p0):
        return
    arr = np.asarray(p0, dtype=float)
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
    Savukov & Romalis 2005 (Phys. Rev. A 71:023405) for I = 3/2; the project's physics
    reference, section 2.
    """
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
    1969, Phys. Lett. A 28:638; Seltzer & Romalis 2004, Appl. Phys. Lett. 85:4804); the
    convention of the project's physics reference, section 2. Independent of q.

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
    B = jnp.asarray(B, dtype=float)
    _check_finite("B", B)
    _check_positive("dt", dt)
    _check_positive("linewidth", linewidth)
    _check_p0(p0)
    if B.ndim < 2 or B.shape[-1] != 3:
        raise ValueError(f"B must have shape (..., T, 3), got {B.shape}")
    if int(n_substeps) < 1:
        raise ValueError(f"n_substeps must be an integer >= 1, got {n_substeps!r}")
    batch = B.shape[:-2]
    lw = jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), batch)
    pz = jnp.broadcast_to(jnp.asarray(p0, dtype=float), batch)
    if P_init is None:
        P_init = pz[..., None] * serf_steady_state(B[..., 0, :], lw)
    P_init = jnp.broadcast_to(jnp.asarray(P_init, dtype=float), batch + (3,))
    return _bloch_evolve_jit(B, float(dt), lw, pz, int(n_substeps), P_init)


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


# ------------------------------------------------------------------ full sensor model
def readout_calibration(linewidth, mode, bias=0.5):
    """Per-axis calibration constants of the lock-in readings (tesla per unit P/P0).

    Parameters
    ----------
    linewidth : array_like
        Resonance half-width, tesla.
    mode : {"single", "dual", "triaxial"}
    bias : float
        Triaxial bias field along pump x, in linewidths (assumption; 0 < bias < 1).

    Returns
    -------
    k : jax.Array, shape (..., 3)
        Factors such that, at zero external field and small signals,
        r_x = k_x * (-mean_s P_y(s)) / P0, r_y = k_y * mean_s P_x(s) / P0 and
        r_z = k_z * mean_s s P_x(s) / P0 read (B_x, B_y, B_z). Single and dual:
        k = dB (1, 1, 0). Triaxial with bias b (s = +-1): k_x = dB (1 + b^2)^2 /
        (1 - b^2), k_y = dB (1 + b^2), k_z = dB (1 + b^2) / b, from differentiating
        :func:`serf_steady_state` at beta = (s b, 0, 0). This is what the sensor's
        factory calibration (a known field from its own coils at zero field) gives.
    """
    _check_mode(mode)
    lw = jnp.asarray(linewidth, dtype=float)
    if mode != "triaxial":
        return lw[..., None] * jnp.array([1.0, 1.0, 0.0])
    b = float(bias)
    if not 0.0 < b < 1.0:
        raise ValueError(f"bias must lie in (0, 1) linewidths, got {bias!r}")
    fac = jnp.array([(1 + b * b) ** 2 / (1 - b * b), 1 + b * b, (1 + b * b) / b])
    return lw[..., None] * fac


def axis_mask(mode):
    """Which pump-frame axes a mode reports: float array (3,) of 0/1 for (x, y, z).

    ``single``: y only (from P_x); ``dual``: x and y; ``triaxial``: x, y and z.
    """
    _check_mode(mode)
    return {"single": np.array([0.0, 1.0, 0.0]), "dual": np.array([1.0, 1.0, 0.0]),
            "triaxial": np.array([1.0, 1.0, 1.0])}[mode]


def simulate_sensors(
    B,
    dt,
    linewidth,
    p0,
    mode="dual",
    *,
    weights=None,
    gain=None,
    bias=0.5,
    closed_loop=False,
    closed_loop_bandwidth=None,
    coil_range=None,
    dynamic_range=None,
    static_compensation=None,
    crosstalk=None,
    frames=None,
    n_substeps=4,
):
    """What a batch of single-beam SERF sensors reports for a sampled field.

    Parameters
    ----------
    B : array_like, shape (N, K, T, 3)
        Field at K integration points of each of N cells, in each sensor's pump frame
        (pump along z), tesla, sampled every ``dt`` seconds.
    dt : float
        Sample interval, s.
    linewidth, p0 : array_like, shape (N,) or scalar
        Resonance half-width (tesla) and zero-field polarisation.
    mode : {"single", "dual", "triaxial"}
        Readout mode (see :func:`axis_mask`).
    weights : array_like, shape (K,), optional
        Integration weights over the cell (sum 1); default uniform. The photodiode
        averages the polarisation, not the field, so the average is taken on P.
    gain : array_like, shape (N, 3), optional
        Multiplicative gain of each pump-frame reading (1 + calibration error);
        default 1.
    bias : float
        Triaxial bias along pump x in linewidths (assumption).
    closed_loop : bool
        Field feedback: a PI loop drives the on-board coils to null the read axes; the
        reading is the compensation field. Zero-pole cancellation design: Ki = Kp /
        tau, tau = q(P0) / Gamma, Kp = f_cl / f_3dB, giving a first-order closed-loop
        response with -3 dB at ``closed_loop_bandwidth`` (assumption: vendors do not
        publish their loop filters).
    closed_loop_bandwidth : float, optional
        Hz; required if closed_loop.
    coil_range : float, optional
        Largest field the on-board coils can apply per axis (tesla); compensation is
        clipped there (closed loop).
    dynamic_range : float, optional
        Output limit (tesla): readings are clipped to +-dynamic_range.
    static_compensation : array_like, shape (N, 3), optional
        Field applied by each sensor's own coils (field zeroing), pump frame, tesla.
    crosstalk : array_like, shape (N, 3, N, 3), optional
        Field at cell i (component a, in i's pump frame) per unit coil field of sensor
        j (component b, j's pump frame, as seen at j's own cell); diagonal blocks are
        ignored. Couples both the static compensation and the closed-loop coil fields.
    n_substeps : int
        Integration sub-steps per sample (>= 1).

    Returns
    -------
    readings : jax.Array, shape (N, T, 3)
        Reported field along pump-frame x, y, z in tesla; axes a mode does not read
        are 0.
    saturated : jax.Array, bool, shape (N, T, 3)
        Where the output hit ``dynamic_range`` or the coils hit ``coil_range``.
    """
    _check_mode(mode)
    B = jnp.asarray(B, dtype=float)
    _check_finite("B", B)
    if B.ndim != 4 or B.shape[-1] != 3:
        raise ValueError(f"B must have shape (N, K, T, 3), got {B.shape}")
    N, K, T, _ = B.shape
    _check_positive("dt", dt)
    _check_positive("linewidth", linewidth)
    _check_p0(p0)
    if int(n_substeps) < 1:
        raise ValueError(f"n_substeps must be an integer >= 1, got {n_substeps!r}")
    lw = jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), (N,))
    pz = jnp.broadcast_to(jnp.asarray(p0, dtype=float), (N,))
    w = jnp.full((K,), 1.0 / K) if weights is None else jnp.asarray(weights, dtype=float)
    if w.shape != (K,):
        raise ValueError(f"weights must have shape ({K},), got {w.shape}")
    g = jnp.ones((N, 3)) if gain is None else jnp.broadcast_to(jnp.asarray(gain, float), (N, 3))
    _check_finite("gain", g)
    sc = jnp.zeros((N, 3)) if static_compensation is None else jnp.asarray(
        static_compensation, dtype=float)
    if sc.shape != (N, 3):
        raise ValueError(f"static_compensation must have shape ({N}, 3), got {sc.shape}")
    if crosstalk is not None:
        X = jnp.asarray(crosstalk, dtype=float)
        if X.shape != (N, 3, N, 3):
            raise ValueError(f"crosstalk must have shape ({N}, 3, {N}, 3), got {X.shape}")
        _check_finite("crosstalk", X)
        X = X * (1.0 - jnp.eye(N))[:, None, :, None]
    else:
        X = None
    kcal = readout_calibration(lw, mode, bias)  # (N, 3)
    mask = jnp.asarray(axis_mask(mode))
    gam = GAMMA_E * lw
    q0 = slowing_down_factor(pz)
    tau = q0 / gam  # (N,)
    f3 = gam / (2 * jnp.pi * q0)
    if closed_loop:
        if closed_loop_bandwidth is None:
            raise ValueError("closed_loop_bandwidth (Hz) is required when closed_loop=True")
        _check_positive("closed_loop_bandwidth", closed_loop_bandwidth)
        kp = closed_loop_bandwidth / f3
        h = dt / int(n_substeps)
        worst = float(np.max(np.asarray(kp * h / tau))) if is_concrete(kp) else 0.0
        if worst > 0.5:
            need = int(np.ceil(int(n_substeps) * worst / 0.5))
            raise ValueError(
                f"n_substeps={n_substeps} too small for a stable discrete feedback loop "
                f"(Kp h / tau = {worst:.3g} > 0.5); use n_substeps >= {need}"
            )
        ki = kp / tau
    else:
        kp = jnp.zeros((N,))
        ki = jnp.zeros((N,))
    big = jnp.inf
    crange = big if coil_range is None else float(coil_range)
    drange = big if dynamic_range is None else float(dynamic_range)
    if coil_range is not None:
        _check_positive("coil_range", coil_range)
    if dynamic_range is not None:
        _check_positive("dynamic_range", dynamic_range)
    signs = jnp.array([1.0, -1.0]) if mode == "triaxial" else jnp.array([0.0])
    return _simulate_jit(B, float(dt), lw, pz, w, g, sc, X, kcal, mask, signs, float(bias),
                         bool(closed_loop), kp, ki, crange, drange, int(n_substeps))


@partial(jax.jit, static_argnums=(1, 11, 12, 17))
def _simulate_jit(B, dt, lw, pz, w, g, sc, X, kcal, mask, signs, bias, closed, kp, ki, crange,
                  drange, n_sub):
    N, K, T, _ = B.shape
    C = signs.shape[0]
    h = dt / n_sub
    biasvec = bias * signs[:, None] * jnp.array([1.0, 0.0, 0.0])  # (C, 3), linewidths
    lwb = lw[:, None, None]  # (N,1,1)
    pzb = pz[:, None, None]

    def coupled(coil):
        """Field at each cell from every other sensor's coils (pump frames)."""
        if X is None:
            return jnp.zeros_like(coil)
        return jnp.einsum("iajb,jb->ia", X, coil)

    def cell_field(bext, coil):
        tot = bext + (coil + coupled(coil))[:, None, :]  # (N, K, 3)
        return tot[:, :, None, :] + biasvec[None, None] * lwb[..., None]  # (N, K, C, 3)

    def read(P):
        pm = jnp.einsum("k,nkcj->ncj", w, P) / pz[:, None, None]  # (N, C, 3)
        if C == 1:
            raw = jnp.stack([-pm[:, 0, 1], pm[:, 0, 0], jnp.zeros(N)], -1)
        else:
            raw = jnp.stack([-jnp.mean(pm[:, :, 1], 1), jnp.mean(pm[:, :, 0], 1),
                             jnp.mean(signs[None] * pm[:, :, 0], 1)], -1)  # (Px+ - Px-)/2
        return raw * kcal * mask

    lwK = jnp.broadcast_to(lwb, (N, K, C))
    pzK = jnp.broadcast_to(pzb, (N, K, C))

    bt = jnp.moveaxis(B, 2, 0)  # (T, N, K, 3)
    # Initial state: steady state in the first sample with the static compensation only.
    P_init = pzK[..., None] * serf_steady_state(cell_field(bt[0], sc), lwK)
    integ0 = jnp.zeros((N, 3))
    coil0 = sc
    r0 = read(P_init)
    if closed:
        # Loop starts settled on the first sample: the compensation already cancels the
        # read axes of the first field value (sensor switched on before recording).
        bmean = jnp.einsum("k,nkj->nj", w, bt[0]) + sc + coupled(sc)
        comp0 = -bmean * mask
        coil0 = sc + comp0
        integ0 = -comp0 / ki[:, None]
        P_init = pzK[..., None] * serf_steady_state(cell_field(bt[0], coil0), lwK)
        r0 = read(P_init)

    def output(r, coil):
        if closed:
            val = -(coil - sc) * mask
        else:
            val = r
        val = val * g
        sat = jnp.abs(val) >= drange
        if closed:
            sat = sat | ((jnp.abs(coil) >= crange) & (mask > 0))
        return jnp.clip(val, -drange, drange), sat

    def body(carry, pair):
        P, integ, coil = carry
        b0, b1 = pair
        for j in range(n_sub):
            f = (j + 0.5) / n_sub
            bf = cell_field(b0 + f * (b1 - b0), coil)
            P = bloch_step(P, bf, lwK, pzK, h)
            if closed:
                r = read(P)
                integ = integ + r * h
                comp = -(kp[:, None] * r + ki[:, None] * integ)
                coil = jnp.clip(sc + comp, -crange, crange)
        r = read(P)
        out, sat = output(r, coil)
        return (P, integ, coil), (out, sat)

    out0, sat0 = output(r0, coil0)
    _, (outs, sats) = jax.lax.scan(body, (P_init, integ0, coil0), (bt[:-1], bt[1:]))
    outs = jnp.concatenate([out0[None], outs], 0)
    sats = jnp.concatenate([sat0[None], sats], 0)
    return jnp.moveaxis(outs, 0, 1), jnp.moveaxis(sats, 0, 1)


# ------------------------------------------------------------- geometry: cell, coils
def cell_integration_points(cell_size, order=2):
    """Gauss-Legendre integration points over a cubic vapour cell.

    Parameters
    ----------
    cell_size : float
        Edge of the (cubic) cell in metres (e.g. 3e-3 for a QuSpin cell).
    order : int
        Points per edge (1..5); order**3 points, exact for polynomials of degree
        2*order - 1 in each coordinate.

    Returns
    -------
    offsets : numpy.ndarray, shape (order**3, 3)
        Offsets from the cell centre in the pump frame, m.
    weights : numpy.ndarray, shape (order**3,)
        Weights summing to 1 (uniform atomic density and light intensity assumed).
    """
    _check_positive("cell_size", cell_size)
    if int(order) != order or not 1 <= int(order) <= 5:
        raise ValueError(f"order must be an integer in 1..5, got {order!r}")
    x, wx = np.polynomial.legendre.leggauss(int(order))
    x = 0.5 * float(cell_size) * x
    wx = 0.5 * wx
    g = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    w = (wx[:, None, None] * wx[None, :, None] * wx[None, None, :]).ravel()
    return g, w


def coil_crosstalk_matrix(positions, rotations, coil_radius):
    """Dipole model of the field of each sensor's on-board coils at its neighbours.

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Cell centres, m (any common frame).
    rotations : array_like, shape (N, 3, 3)
        Rows are each sensor's pump-frame axes (x, y, z) in that common frame.
    coil_radius : float
        Effective radius a of the on-board coils (m): a coil producing field b at its
        own cell centre has dipole moment m = 2 pi a^3 b / mu0 (loop-on-axis relation
        B = mu0 m / (2 pi a^3)); far-field dipole approximation, valid for distances
        >> a. The radius is an *assumption* (vendors do not publish coil geometry).

    Uses :func:`forward_models.conductors.magnetic_dipole_field`.

    Returns
    -------
    X : jax.Array, shape (N, 3, N, 3)
        Field at cell i along its pump axis a per unit coil field of sensor j along its
        pump axis b. Zero on the diagonal blocks. Falls as 1 / distance**3.
    """
    pos = jnp.asarray(positions, dtype=float)
    R = jnp.asarray(rotations, dtype=float)
    N = pos.shape[0]
    if pos.shape != (N, 3) or R.shape != (N, 3, 3):
        raise ValueError(f"positions (N,3) and rotations (N,3,3) expected, got {pos.shape}, "
                         f"{R.shape}")
    _check_positive("coil_radius", coil_radius)
    moment_per_t = 2 * jnp.pi * float(coil_radius) ** 3 / MU0
    # unit coil field along j's axis b -> moment in common frame = R[j, b] * moment_per_t
    mom = R * moment_per_t  # (N_j, 3_b, 3)
    diff = pos[:, None, :] - pos[None, :, :]  # (i, j, 3)
    eye = jnp.eye(N, dtype=bool)
    safe = jnp.where(eye[..., None], 1.0, diff)
    field = magnetic_dipole_field(safe[:, :, None, :], 0.0, mom[None])  # (i, j, b, 3)
    field = jnp.where(eye[:, :, None, None], 0.0, field)
    X = jnp.einsum("iac,ijbc->iajb", R, field)
    return X


def rotation_from_rotvec(rotvec):
    """Rotation matrices from rotation vectors (rad), shape (..., 3) -> (..., 3, 3).

    Rodrigues' formula; used to apply small orientation errors.
    """
    rv = jnp.asarray(rotvec, dtype=float)
    eye = jnp.broadcast_to(jnp.eye(3), rv.shape[:-1] + (3, 3))
    cols = [_rotate(eye[..., :, k], rv) for k in range(3)]
    return jnp.stack(cols, -1)
