"""CW-ODMR of NV ensembles: spectra, power broadening, shot noise, slope and lock-in
readout, closed-loop frequency tracking.

Pure JAX kernels in SI units (hertz, tesla, seconds); everything broadcasts over leading
axes and is jit-able. The spectrum of an ensemble is one fused kernel (resonances from
:mod:`forward_models.nv.hamiltonian` and the Lorentzian sum, frequency axis innermost).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_broadcast, check_count, check_key, check_scalar
from forward_models.constants import D_ZFS, GAMMA_NV
from forward_models.nv.hamiltonian import (
    _check_finite,
    _check_gamma,
    _check_range,
    _checked_inputs,
    _hyperfine_shifts,
    _transitions,
)

__all__ = [
    "power_broadening",
    "lorentzian",
    "odmr_from_lines",
    "odmr_spectrum",
    "simulate_noisy_spectrum",
    "max_slope",
    "slope_readout",
    "lockin_signal",
    "lockin_slope",
    "TrackingResult",
    "track_resonance",
    "tracked_readout",
]

# ---------------------------------------------------------------------------------------
# CW-ODMR spectra
# ---------------------------------------------------------------------------------------


def power_broadening(linewidth0, contrast_max, saturation):
    """Microwave power broadening of a CW-ODMR line.

    Two-level saturation (Abragam 1961, *Principles of Nuclear Magnetism*, ch. III; applied
    to NV CW-ODMR by Dreau et al. 2011, Phys. Rev. B 84:195204): with the saturation
    parameter s = Omega_R**2 T1 T2 (proportional to microwave power),

        linewidth = linewidth0 * sqrt(1 + s),   contrast = contrast_max * s / (1 + s).

    Parameters
    ----------
    linewidth0 : float or array
        Unbroadened full width at half maximum, Hz (> 0).
    contrast_max : float or array
        Contrast at full saturation, in [0, 1].
    saturation : float or array
        Saturation parameter s >= 0 (dimensionless).

    Returns
    -------
    (linewidth in Hz, contrast), broadcast shapes.
    """
    _check_range("linewidth0", linewidth0, lo=0.0, lo_open=True, what=" Hz")
    _check_range("contrast_max", contrast_max, lo=0.0, hi=1.0)
    _check_range("saturation", saturation, lo=0.0)
    s = jnp.asarray(saturation, dtype=float)
    return linewidth0 * jnp.sqrt(1.0 + s), contrast_max * s / (1.0 + s)


def _check_line(contrast, linewidth):
    """A Lorentzian dip's depth in [0, 1] and its FWHM > 0 Hz."""
    _check_range("contrast", contrast, lo=0.0, hi=1.0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")


def _check_freqs(freqs):
    _check_finite("freqs", freqs)
    if np.ndim(freqs) > 1:
        raise ValueError(f"freqs must have shape (F,) (microwave frequencies, Hz), got "
                         f"{np.shape(freqs)}")


def lorentzian(f, f0, linewidth):
    """Unit-height Lorentzian of full width at half maximum ``linewidth`` (Hz)."""
    _check_finite("f", f)
    _check_finite("f0", f0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    x = 2.0 * (f - f0) / linewidth
    return 1.0 / (1.0 + x * x)


_U_MAX = 1e70
"""Cap on 1 + x**2 in the fused Lorentzian sum: a line further than 1e35 half-widths
from a frequency contributes < 1e-70 (dropped), and products of four capped
denominators stay finite in float64."""


def _lorentzian_sum(freqs, centres, amps, inv_half_widths):
    """sum_l a_l / (1 + ((f - f_l) / (linewidth_l / 2))**2), shape (..., F), fused.

    ``centres``, ``amps`` and ``inv_half_widths`` are lists (one entry per line) of
    arrays broadcastable against each other (the leading ``...`` axes). Lines are
    combined four at a time over a common denominator (a/u + b/v = (a v + b u)/(u v)),
    one division per four lines instead of one per line; the frequency axis is
    innermost and nothing larger than (..., F) is formed.
    """
    acc = None
    for g0 in range(0, len(centres), 4):
        terms = []
        group = zip(centres[g0:g0 + 4], amps[g0:g0 + 4], inv_half_widths[g0:g0 + 4],
                    strict=True)
        for f0, a, k in group:
            x = (freqs - f0[..., None]) * k[..., None]
            terms.append((a[..., None], jnp.minimum(1.0 + x * x, _U_MAX)))
        while len(terms) > 1:
            merged = [(n1 * d2 + n2 * d1, d1 * d2)
                      for (n1, d1), (n2, d2) in zip(terms[0::2], terms[1::2], strict=False)]
            if len(terms) % 2:
                merged.append(terms[-1])
            terms = merged
        part = terms[0][0] / terms[0][1]
        acc = part if acc is None else acc + part
    return acc


def odmr_from_lines(freqs, lines, contrast, linewidth, weights=None):
    """Normalised CW-ODMR fluorescence for given resonance lines.

    S(f) = 1 - sum_l C w_l L(f; f_l, linewidth), L a unit-height Lorentzian.

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    lines : array (..., L)
        Line centres, Hz.
    contrast : float or array broadcastable to (..., L)
        Depth of one isolated line (fraction of the off-resonant fluorescence), in [0, 1].
    linewidth : float or array broadcastable to (..., L)
        Full width at half maximum, Hz (> 0).
    weights : array (..., L) or None
        Relative line amplitudes (default 1).

    Returns
    -------
    array (..., F), dimensionless (1 off resonance).
    """
    _check_line(contrast, linewidth)
    _check_freqs(freqs)
    _check_finite("lines", lines)
    if np.ndim(lines) == 0:
        raise ValueError("lines must have shape (..., L) (line centres, Hz), got a scalar")
    if weights is not None:
        _check_range("weights", weights, lo=0.0)
    for name, x in (("contrast", contrast), ("linewidth", linewidth), ("weights", weights)):
        if x is not None and check_broadcast(("lines", name), lines, x) != np.shape(lines):
            raise ValueError(f"{name} must broadcast to the shape of lines "
                             f"{np.shape(lines)}, got {np.shape(x)}")
    freqs = jnp.asarray(freqs, dtype=float)
    lines = jnp.asarray(lines, dtype=float)
    amp = jnp.broadcast_to(jnp.asarray(contrast, dtype=float), lines.shape)
    if weights is not None:
        amp = amp * weights
    k = 2.0 / jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), lines.shape)
    n = lines.shape[-1]
    dip = _lorentzian_sum(freqs, [lines[..., i] for i in range(n)],
                          [amp[..., i] for i in range(n)], [k[..., i] for i in range(n)])
    return 1.0 - dip


def odmr_spectrum(freqs, B, contrast=0.01, linewidth=1e6, D=D_ZFS, E=0.0, temperature=None,
                  isotope=None, gamma=GAMMA_NV, rotation=None, saturation=None):
    """CW-ODMR spectrum of an NV ensemble (all four orientations) for a single sensor or a
    pixel array.

    Each of the 8 electron-spin resonances (4 orientations x 2 transitions, from
    :func:`resonance_frequencies`) is a Lorentzian dip of depth ``contrast`` (split evenly
    among the hyperfine lines when ``isotope`` is given) and full width ``linewidth``;
    with ``saturation`` s, width and depth follow :func:`power_broadening` (``contrast``
    is then the saturated contrast). Resonances and the Lorentzian sum are one compiled
    kernel (frequency axis innermost, no per-line temporaries): a 256 x 256 pixel image
    with 201 frequencies takes a few tens of ms on two CPU cores
    (benchmarks/odmr_imaging.py).

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    B : array (..., 3)
        Field in tesla: (3,) for one sensor, (ny, nx, 3) for a pixel image.
    contrast, linewidth : float
        Line depth in [0, 1] and FWHM in Hz.
    D, E, temperature, gamma, rotation
        As in :func:`resonance_frequencies`.
    isotope : {"14N", "15N", None}
        Resolve the nitrogen hyperfine structure.
    saturation : float or None
        Microwave saturation parameter (None: no power broadening model).

    Returns
    -------
    array (..., F), dimensionless fluorescence (1 off resonance).
    """
    if saturation is not None:
        linewidth, contrast = power_broadening(linewidth, contrast, saturation)
    _check_line(contrast, linewidth)
    _check_freqs(freqs)
    B, Dt, R = _checked_inputs(B, D, temperature, rotation, E, gamma)
    shifts, w = _hyperfine_shifts(isotope)
    return _odmr_spectrum_jit(jnp.asarray(freqs, float), B, Dt,
                              jnp.asarray(E, float), gamma, R, jnp.asarray(contrast, float),
                              jnp.asarray(linewidth, float), shifts, w)


@jax.jit
def _odmr_spectrum_jit(freqs, B, Dt, E, gamma, R, contrast, linewidth, shifts, w):
    f_lo, f_hi = _transitions(B, Dt, E, gamma, R)
    k = jnp.broadcast_to(2.0 / linewidth, f_lo.shape[:-1])
    centres, amps = [], []
    for f in (f_lo, f_hi):
        for o in range(4):
            for j in range(shifts.shape[0]):
                centres.append(f[..., o] + shifts[j])
                amps.append(jnp.broadcast_to(contrast * w[j], k.shape))
    return 1.0 - _lorentzian_sum(freqs, centres, amps, [k] * len(centres))


def simulate_noisy_spectrum(key, spectrum, photons_per_point):
    """Add photon shot noise to a normalised spectrum.

    Each point collects N = photons_per_point * S(f) photons (Poisson); for N >> 1 the
    normalised signal has standard deviation sqrt(S / photons_per_point), which is what
    is drawn here (Gaussian approximation of Poisson statistics).

    Parameters
    ----------
    key : jax.random key
        Explicit seed.
    spectrum : array (..., F)
        Noise-free normalised fluorescence.
    photons_per_point : float
        Photons detected off resonance per frequency point (> 0).

    Returns
    -------
    (noisy spectrum (..., F), sigma (..., F)).
    """
    check_key("key", key)
    _check_range("photons_per_point", photons_per_point, lo=0.0, lo_open=True)
    _check_range("spectrum", spectrum, lo=0.0)
    spectrum = jnp.asarray(spectrum, dtype=float)
    sigma = jnp.sqrt(spectrum / photons_per_point)
    return spectrum + sigma * jax.random.normal(key, spectrum.shape), sigma


# ---------------------------------------------------------------------------------------
# slope / lock-in readout and closed-loop tracking
# ---------------------------------------------------------------------------------------


def max_slope(contrast, linewidth):
    """Largest |dS/df| of a Lorentzian dip, 1/Hz: 3 sqrt(3) C / (4 linewidth).

    Reached at a detuning of linewidth / (2 sqrt 3) from the line centre.
    """
    _check_line(contrast, linewidth)
    return 3.0 * math.sqrt(3.0) * contrast / (4.0 * linewidth)


def slope_readout(delta_b, contrast, linewidth, photon_rate=None, gamma=GAMMA_NV,
                  projection=1.0):
    """Fluorescence change from a small field change at the steepest point of a line.

    dS = max_slope * gamma * projection * delta_b (first order, |gamma dB| << linewidth).

    Parameters
    ----------
    delta_b : float or array
        Field change, tesla.
    contrast, linewidth : float
        Line depth and FWHM (Hz).
    photon_rate : float or None
        Detected photon rate (1/s); if given the signal is returned in photons/s.
    gamma : float
        Hz/T.
    projection : float
        Cosine between the field change and the NV axis.

    Returns
    -------
    Fractional fluorescence change (or photons/s), same shape as ``delta_b``.
    """
    _check_finite("delta_b", delta_b)
    _check_gamma(gamma)
    _check_range("projection", projection, lo=-1.0, hi=1.0)
    if photon_rate is not None:
        _check_range("photon_rate", photon_rate, lo=0.0, lo_open=True, what=" 1/s")
    ds = max_slope(contrast, linewidth) * gamma * projection * jnp.asarray(delta_b, float)
    return ds if photon_rate is None else ds * photon_rate


def lockin_signal(f_mw, f_res, contrast, linewidth, mod_depth, n_phase=64):
    """In-phase first-harmonic lock-in output of a frequency-modulated CW-ODMR line.

    The microwave frequency is f_mw + mod_depth cos(theta); the output is
    X = (1/pi) int_0^{2 pi} S(f_mw + mod_depth cos theta) cos theta dtheta, evaluated with
    ``n_phase`` equally spaced phases (spectrally accurate for this periodic integrand).
    For mod_depth << linewidth, X -> mod_depth dS/df (the derivative readout).

    Parameters
    ----------
    f_mw : float or array
        Microwave carrier, Hz.
    f_res : float or array
        Resonance centre, Hz.
    contrast, linewidth : float
        Depth and FWHM (Hz).
    mod_depth : float
        Frequency deviation, Hz (> 0).
    n_phase : int
        Quadrature points per modulation period.

    Returns
    -------
    X, dimensionless (fraction of the off-resonant fluorescence), broadcast shape.
    """
    _check_line(contrast, linewidth)
    _check_range("mod_depth", mod_depth, lo=0.0, lo_open=True, what=" Hz")
    _check_finite("f_mw", f_mw)
    _check_finite("f_res", f_res)
    n_phase = check_count("n_phase", n_phase, 2, what="a number of phases")
    theta = 2.0 * math.pi * (jnp.arange(n_phase) + 0.5) / n_phase
    det = (jnp.asarray(f_mw, float) - jnp.asarray(f_res, float))[..., None]
    # S = 1 - C L: the constant integrates to zero against cos theta, so only the dip is
    # summed (summing S would lose the ~1e-10 variations of S to rounding against 1)
    dip = contrast * lorentzian(det + mod_depth * jnp.cos(theta), 0.0, linewidth)
    return -2.0 * jnp.mean(dip * jnp.cos(theta), axis=-1)


def lockin_slope(contrast, linewidth, mod_depth, n_phase=64):
    """dX/df of :func:`lockin_signal` at zero detuning (1/Hz), by automatic differentiation."""
    return jax.grad(lambda f: lockin_signal(f, 0.0, contrast, linewidth, mod_depth, n_phase))(
        0.0)


class TrackingResult(NamedTuple):
    """Output of :func:`track_resonance` (all arrays of shape (T,))."""

    frequency: jax.Array
    """Locked microwave frequency at each step, Hz."""
    error: jax.Array
    """Lock-in error signal at each step (dimensionless)."""


def track_resonance(f_res_t, f_start, contrast, linewidth, mod_depth, gain=0.5, n_phase=64):
    """Closed-loop frequency tracking of one ODMR line (integral controller).

    At each step the lock-in error X_n = lockin_signal(f_n, f_res_n) is converted to a
    frequency with the zero-detuning slope k and the carrier is updated,
    f_{n+1} = f_n - gain X_n / k. For 0 < gain < 2 the loop converges within the
    linear range, and it follows resonance shifts far beyond one linewidth as long as
    each step moves less than about a linewidth (the usual frequency-locked NV
    magnetometer: the field is read from the carrier, f_n / gamma, not from the
    fluorescence, which extends the dynamic range).

    Parameters
    ----------
    f_res_t : array (T,)
        True resonance frequency at each step, Hz.
    f_start : float
        Initial carrier, Hz (must lie within about a linewidth of f_res_t[0]).
    contrast, linewidth, mod_depth : float
        Line depth, FWHM (Hz) and modulation deviation (Hz).
    gain : float
        Loop gain in (0, 2).

    Returns
    -------
    TrackingResult(frequency (T,), error (T,)).
    """
    _check_finite("f_res_t", f_res_t)
    if np.ndim(f_res_t) != 1:
        raise ValueError(f"f_res_t must have shape (T,), got {np.shape(f_res_t)}")
    _check_finite("f_start", f_start)
    check_scalar("f_start", f_start, "frequency (Hz)")
    _check_range("gain", gain, lo=0.0, lo_open=True, hi=2.0)
    k = lockin_slope(contrast, linewidth, mod_depth, n_phase)

    def step(f, fr):
        x = lockin_signal(f, fr, contrast, linewidth, mod_depth, n_phase)
        return f - gain * x / k, (f, x)

    _, (fs, xs) = jax.lax.scan(step, jnp.asarray(f_start, float),
                               jnp.asarray(f_res_t, float))
    return TrackingResult(fs, xs)


def tracked_readout(shift, sfreq, contrast, linewidth, mod_depth, bandwidth, n_substeps=8,
                    n_phase=16):
    """Frequency-locked lock-in readout of several NV channels, sample by sample.

    Each channel's resonance moves by ``shift`` (Hz, the field along its axis times
    gamma_NV and any flux gain); the carrier follows it with the integral controller of
    :func:`track_resonance`, run ``n_substeps`` times per sample on the resonance
    interpolated linearly between samples, with the per-step gain
    ``g = 1 - exp(-2 pi bandwidth / (sfreq n_substeps))``: within the lock-in's linear
    range the carrier is then the first-order low-pass of the resonance with -3 dB at
    ``bandwidth`` (a pole at exp(-2 pi bandwidth dt) per step of dt; the carrier a step
    behind). Beyond the linear range (steps of about a linewidth) the loop lags and can
    lose lock, as a real one does. The loop starts locked on the first sample.

    Parameters
    ----------
    shift : array (N, T)
        Resonance shift of each channel from its operating point, Hz.
    sfreq : float
        Samples per second.
    contrast, linewidth, mod_depth, bandwidth : array (N,)
        Line depth, FWHM (Hz), modulation deviation (Hz), loop bandwidth (Hz).
    n_substeps : int
        Controller steps per sample.
    n_phase : int
        Quadrature points of the lock-in integral (:func:`lockin_signal`).

    Returns
    -------
    carrier : jax.Array (N, T)
        Carrier frequency relative to the operating point at the end of each sample, Hz.
    """
    shift = jnp.asarray(shift, float)
    if shift.ndim != 2:
        raise ValueError(f"shift must have shape (N, T), got {shift.shape}")
    n_substeps = check_count("n_substeps", n_substeps, 1, what="a number of steps")
    n_phase = check_count("n_phase", n_phase, 2, what="a number of phases")
    c, lw, md, bw = (jnp.broadcast_to(jnp.asarray(v, float), shift.shape[:1])
                     for v in (contrast, linewidth, mod_depth, bandwidth))
    return _tracked_readout(shift, float(sfreq), c, lw, md, bw, n_substeps, n_phase)


@partial(jax.jit, static_argnums=(6, 7))
def _tracked_readout(shift, sfreq, c, lw, md, bw, n_sub, n_phase):
    theta = 2.0 * math.pi * (jnp.arange(n_phase) + 0.5) / n_phase
    cos = jnp.cos(theta)

    def lockin(f, fr):  # lockin_signal for each channel, (N,)
        det = (f - fr)[:, None] + md[:, None] * cos
        dip = c[:, None] * (lw[:, None] / 2) ** 2 / (det**2 + (lw[:, None] / 2) ** 2)
        return -2.0 * jnp.mean(dip * cos, axis=-1)  # as lockin_signal

    slope = jax.vmap(jax.grad(lambda f, ci, lwi, mdi: lockin_signal(
        f, 0.0, ci, lwi, mdi, n_phase)), in_axes=(None, 0, 0, 0))(0.0, c, lw, md)
    gain = 1.0 - jnp.exp(-2.0 * math.pi * bw / (sfreq * n_sub))
    frac = (jnp.arange(n_sub) + 1.0) / n_sub
    prev = jnp.concatenate([shift[:, :1], shift[:, :-1]], axis=1)

    def sample(f, pair):
        a, b = pair
        def sub(f, u):
            fr = a + u * (b - a)
            return f - gain * lockin(f, fr) / slope, None
        f, _ = jax.lax.scan(sub, f, frac)
        return f, f

    _, out = jax.lax.scan(sample, shift[:, 0], (prev.T, shift.T))
    return out.T
