"""What a single-beam SERF sensor reports: readout modes, calibration, closed loop.

The readings are the calibrated transverse polarisations of the Bloch model
(:mod:`forward_models.opm.serf`, :mod:`forward_models.opm.bloch`):

* The pump-axis (``z``) component is read, in triaxial mode, through a bias field of
  +-b (in linewidths) along pump ``x`` that projects B_z into P_x (the same CAPE term,
  used on purpose). Each sign is simulated as its own atomic ensemble copy, i.e. the
  quasi-static limit of a fast alternating bias; this mechanism is an *assumption*
  standing in for the vendor's undisclosed triaxial scheme.
* Modulation and lock-in demodulation are not simulated at the modulation frequency:
  the outputs are the modulation-averaged (lock-in) transverse components, whose
  modulation-depth factors are absorbed in the factory calibration, which is what the
  gain-error parameters perturb.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    check_count,
    check_flag,
    check_option,
    check_range,
    check_scalar,
    is_concrete,
)
from forward_models.constants import GAMMA_E
from forward_models.opm.bloch import _check_per_sensor, _check_step, bloch_step
from forward_models.opm.serf import (
    _check_finite,
    _check_p0,
    _check_positive,
    serf_steady_state,
    slowing_down_factor,
)

__all__ = ["READ_MODES", "readout_calibration", "axis_mask", "simulate_sensors"]

READ_MODES = ("single", "dual", "triaxial")
"""Readout modes of a single-beam sensor: ``single`` reads pump-frame y (from P_x);
``dual`` reads pump-frame x (from -P_y) and y; ``triaxial`` also reads z through a
bias field along pump x."""


def _check_mode(mode: str) -> None:
    check_option("mode", mode, READ_MODES)


def _check_bias(bias):
    check_range("bias", bias, 0.0, 1.0, lo_open=True)
    check_scalar("bias", bias, "number in (0, 1) linewidths")
    if float(bias) >= 1.0:
        raise ValueError(f"bias must be one number in (0, 1) linewidths, got {bias!r}")


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
    _check_positive("linewidth", linewidth)
    lw = jnp.asarray(linewidth, dtype=float)
    if mode != "triaxial":
        return lw[..., None] * jnp.array([1.0, 1.0, 0.0])
    _check_bias(bias)
    b = float(bias)
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
    _check_step(dt)
    _check_positive("linewidth", linewidth)
    _check_p0(p0)
    n_substeps = check_count("n_substeps", n_substeps)
    closed_loop = check_flag("closed_loop", closed_loop)
    _check_bias(bias)
    _check_per_sensor((N,), linewidth=linewidth, p0=p0)
    if weights is not None:
        check_range("weights", weights, lo=0.0)
    w = jnp.full((K,), 1.0 / K) if weights is None else jnp.asarray(weights, dtype=float)
    if w.shape != (K,):
        raise ValueError(f"weights must have shape ({K},), got {w.shape}")
    lw = jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), (N,))
    pz = jnp.broadcast_to(jnp.asarray(p0, dtype=float), (N,))
    if gain is not None:
        _check_finite("gain", gain)
        _check_per_sensor((N, 3), gain=gain)
    g = jnp.ones((N, 3)) if gain is None else jnp.broadcast_to(jnp.asarray(gain, float), (N, 3))
    if static_compensation is not None:
        _check_finite("static_compensation", static_compensation)
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
        h = dt / n_substeps
        worst = float(np.max(np.asarray(kp * h / tau))) if is_concrete(kp) else 0.0
        if worst > 0.5:
            need = int(np.ceil(n_substeps * worst / 0.5))
            raise ValueError(
                f"n_substeps={n_substeps} too small for a stable discrete feedback loop "
                f"(Kp h / tau = {worst:.3g} > 0.5); use n_substeps >= {need}"
            )
        ki = kp / tau
    else:
        kp = jnp.zeros((N,))
        ki = jnp.zeros((N,))
    for name, x in (("coil_range", coil_range), ("dynamic_range", dynamic_range)):
        if x is not None:
            _check_positive(name, x)
            check_scalar(name, x, "number (tesla)")
    big = jnp.inf
    crange = big if coil_range is None else float(coil_range)
    drange = big if dynamic_range is None else float(dynamic_range)
    signs = jnp.array([1.0, -1.0]) if mode == "triaxial" else jnp.array([0.0])
    return _simulate_jit(B, float(dt), lw, pz, w, g, sc, X, kcal, mask, signs, float(bias),
                         closed_loop, kp, ki, crange, drange, n_substeps)


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
