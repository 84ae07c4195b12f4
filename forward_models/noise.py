"""Sensor noise spectra, fundamental sensitivity limits and noise synthesis.

Pure functions of arrays in SI units.  Noise densities are one-sided amplitude
spectral densities (ASD) in T/sqrt(Hz) unless stated otherwise.

Time-domain synthesis
---------------------
Noise with a target ASD is white Gaussian noise filtered by a linear-phase FIR filter
whose frequency response equals ``ASD(f) * sqrt(fs / 2)`` on the filter's DFT grid
(unit-variance white noise sampled at ``fs`` has the one-sided PSD ``2 / fs``).  The
white noise is cut into blocks of ``block_size`` samples; block ``b`` of channel ``c``
is drawn from ``fold_in(fold_in(key, c), b + n_history)``, so every sample depends only
on the key and its absolute index.  Each output block is computed by the same jitted
overlap-save step from its own and the preceding ``n_history`` input blocks, so the
output is bit-identical however a caller chunks the stream.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    check_count,
    check_finite,
    check_key,
    check_real,
    check_scalar,
    is_concrete,
)
from forward_models.constants import C_LIGHT, GAMMA_E, GAMMA_NV, PLANCK
from forward_models.nv.sensitivity import cw_sensitivity

__all__ = [
    "GAMMA_E",
    "GAMMA_NV",
    "PLANCK",
    "C_LIGHT",
    "one_over_f_asd",
    "gaussian_line_asd",
    "opm_spin_projection_noise",
    "opm_photon_shot_noise",
    "nv_photon_shot_noise",
    "fir_from_asd",
    "filter_grid",
    "synthesize",
]


def _check_freqs(freqs):
    check_real("freqs", freqs)


def _check_at_most_one(name, value):
    # the lower bound (> 0) is checked with the other arguments, in their order
    if is_concrete(value) and np.any(np.asarray(value) > 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


def one_over_f_asd(freqs, floor, corner):
    """White floor plus 1/f (flicker) noise: ``ASD = floor * sqrt(1 + corner / f)``.

    The PSD is ``floor**2 (1 + f_c / f)``: the 1/f part equals the white part at the
    corner frequency f_c (the usual definition, e.g. Clarke & Braginski, The SQUID
    Handbook, 2004, ch. 5).

    Parameters
    ----------
    freqs : array_like
        Frequencies, Hz (> 0).
    floor : array_like
        White noise floor, T/sqrt(Hz) (or T/(m sqrt(Hz)) for gradiometers), >= 0.
    corner : array_like
        1/f corner frequency, Hz (>= 0).

    Returns
    -------
    asd : jax.Array
        Broadcast shape of the inputs, same units as ``floor``.
    """
    _check_freqs(freqs)
    check_real("floor", floor, allow_zero=True)
    check_real("corner", corner, allow_zero=True)
    f = jnp.asarray(freqs, dtype=float)
    return jnp.asarray(floor, dtype=float) * jnp.sqrt(1.0 + corner / f)


def gaussian_line_asd(freqs, centre, amplitude_rms, width):
    """ASD of a spectral line of rms amplitude ``amplitude_rms`` and Gaussian FWHM.

    ``PSD(f) = A**2 / (s sqrt(2 pi)) exp(-(f - f0)**2 / (2 s**2))``,
    ``s = w / (2 sqrt(2 ln 2))``, which integrates to ``A**2``: a sinusoid whose
    frequency wanders (power-line fields) spread over a line of FWHM ``w`` (assumption:
    0.1 Hz is typical of grid frequency wander).

    Parameters
    ----------
    freqs : array_like
        Frequencies, Hz (> 0).
    centre : array_like
        Line frequency f0, Hz (> 0).
    amplitude_rms : array_like
        Rms amplitude of the line, T (>= 0).
    width : array_like
        Full width at half maximum w, Hz (> 0).

    Returns
    -------
    asd : jax.Array
        T/sqrt(Hz).
    """
    _check_freqs(freqs)
    check_real("centre", centre)
    check_real("amplitude_rms", amplitude_rms, allow_zero=True)
    check_real("width", width)
    f = jnp.asarray(freqs, dtype=float)
    s = width / (2 * math.sqrt(2 * math.log(2)))
    psd = amplitude_rms**2 / (s * math.sqrt(2 * math.pi)) * jnp.exp(-((f - centre) ** 2)
                                                                     / (2 * s**2))
    return jnp.sqrt(psd)


def opm_spin_projection_noise(atom_density, cell_volume, linewidth, slowing_down=5.0):
    """Spin-projection-noise limit of an alkali SERF magnetometer.

    ``delta_B = 1 / (gamma sqrt(N T2))`` (Budker & Romalis 2007, Nat. Phys. 3:227,
    Eq. 1), with N = n V atoms, gamma = gamma_e / q (slowed precession in the SERF
    regime, q the slowing-down factor, 4-6 for 87Rb) and ``T2 = 1 / (gamma dB)`` where
    dB = Gamma / gamma_e is the half-width of the zero-field resonance in tesla
    (Dupont-Roc et al. 1969, Phys. Lett. A 28:638).
    Hence ``delta_B = sqrt(q dB / (gamma_e N))``.  Sensitivity convention:
    delta_B * sqrt(t), in T/sqrt(Hz), as in the cited paper.

    Parameters
    ----------
    atom_density : array_like
        Alkali number density n, 1/m^3 (87Rb at 150 C: about 1e20).
    cell_volume : array_like
        Probed cell volume V, m^3 (3 mm cube: 2.7e-8).
    linewidth : array_like
        Resonance half-width dB, T.
    slowing_down : array_like
        Slowing-down factor q (>= 1), dimensionless.

    Returns
    -------
    delta_B : jax.Array
        T/sqrt(Hz).
    """
    check_real("atom_density", atom_density)
    check_real("cell_volume", cell_volume)
    check_real("linewidth", linewidth)
    check_real("slowing_down", slowing_down)
    if is_concrete(slowing_down) and np.any(np.asarray(slowing_down) < 1):
        raise ValueError(f"slowing_down must be >= 1 (no slower than free electrons), got "
                         f"{slowing_down!r}")
    n_atoms = jnp.asarray(atom_density, dtype=float) * cell_volume
    return jnp.sqrt(slowing_down * jnp.asarray(linewidth, dtype=float) / (GAMMA_E * n_atoms))


def opm_photon_shot_noise(detected_power, wavelength, linewidth, contrast, quantum_efficiency=1.0):
    """Photon-shot-noise limit of a single-beam OPM read out on a dispersive Lorentzian.

    The detected signal is ``R C beta / (1 + beta**2)`` photons/s with ``beta = B / dB``
    (the transverse spin component of the SERF steady state, Dupont-Roc et al. 1969),
    whose slope at zero field is ``R C / dB``; Poisson fluctuations ``sqrt(R t)`` give
    ``delta_B sqrt(t) = dB / (C sqrt(R))`` with ``R = eta P lambda / (h c)`` (standard
    shot-noise estimate, Budker & Romalis 2007; Tierney et al. 2019, NeuroImage
    199:598).

    Parameters
    ----------
    detected_power : array_like
        Probe power on the photodiode P, W.
    wavelength : array_like
        Probe wavelength lambda, m (Rb D1: 795e-9).
    linewidth : array_like
        Resonance half-width dB, T.
    contrast : array_like
        Fractional signal amplitude C in (0, 1].
    quantum_efficiency : array_like
        Detector quantum efficiency eta in (0, 1].

    Returns
    -------
    delta_B : jax.Array
        T/sqrt(Hz).
    """
    for name, v in (("detected_power", detected_power), ("wavelength", wavelength),
                    ("linewidth", linewidth), ("contrast", contrast),
                    ("quantum_efficiency", quantum_efficiency)):
        check_real(name, v)
    _check_at_most_one("contrast", contrast)
    _check_at_most_one("quantum_efficiency", quantum_efficiency)
    rate = quantum_efficiency * detected_power * wavelength / (PLANCK * C_LIGHT)
    return jnp.asarray(linewidth, dtype=float) / (contrast * jnp.sqrt(rate))


def nv_photon_shot_noise(linewidth, contrast, photon_rate):
    """Shot-noise-limited CW-ODMR sensitivity of an NV ensemble (Lorentzian line).

    :func:`forward_models.nv.cw_sensitivity` with this module's argument checks.

    ``eta = 4 / (3 sqrt 3) * dnu / (gamma_nv C sqrt(R))`` (Barry et al. 2020, Rev. Mod.
    Phys. 92:015004, Eq. 35; 4/(3 sqrt 3) is the inverse of the largest slope of a
    Lorentzian dip of unit FWHM and depth).

    Parameters
    ----------
    linewidth : array_like
        ODMR full width at half maximum dnu, Hz.
    contrast : array_like
        Dip depth C in (0, 1].
    photon_rate : array_like
        Detected photon rate R, 1/s.

    Returns
    -------
    eta : jax.Array
        T/sqrt(Hz) (delta_B * sqrt(t)).
    """
    check_real("linewidth", linewidth)
    check_real("contrast", contrast)
    check_real("photon_rate", photon_rate)
    _check_at_most_one("contrast", contrast)
    return cw_sensitivity(jnp.asarray(linewidth, dtype=float), contrast, photon_rate, GAMMA_NV)


# ----------------------------------------------------------------------- synthesis
def filter_grid(n_taps, fs):
    """Frequencies (Hz) at which :func:`fir_from_asd` takes the target ASD.

    Parameters
    ----------
    n_taps : int
        FIR length (even, >= 2).
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    freqs : numpy.ndarray, shape (n_taps // 2 + 1,)
        ``k fs / n_taps``, from 0 to fs/2.
    """
    n_taps = check_count("n_taps", n_taps, 2, what="an even integer")
    if n_taps % 2:
        raise ValueError(f"n_taps must be an even integer >= 2, got {n_taps!r}")
    _check_rate(fs)
    return np.fft.rfftfreq(n_taps, 1.0 / float(fs))


def _check_rate(fs):
    check_real("fs", fs)
    check_scalar("fs", fs, "sampling rate (a number, Hz)")


def fir_from_asd(asd, fs):
    """Linear-phase FIR filter whose gain is the target ASD on the DFT grid.

    ``|H(f_k)| = ASD(f_k) sqrt(fs / 2)`` exactly at ``f_k = k fs / n_taps``
    (frequency-sampling design); white unit-variance noise through it has the one-sided
    PSD ``ASD(f)**2`` at those frequencies, and a smoothly interpolated PSD between
    them.

    Parameters
    ----------
    asd : array_like, shape (..., n_taps // 2 + 1)
        Target ASD on :func:`filter_grid`, any unit per sqrt(Hz) (finite, >= 0).
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    h : jax.Array, shape (..., n_taps)
        Filter taps (units of ``asd`` times sqrt(Hz)).
    """
    check_real("asd", asd, allow_zero=True)
    _check_rate(fs)
    a = jnp.asarray(asd, dtype=float)
    n_taps = 2 * (a.shape[-1] - 1) if a.ndim else 0
    if n_taps < 2:
        raise ValueError(f"asd must have at least 2 frequency samples, got shape {a.shape}")
    h = jnp.fft.irfft(a * jnp.sqrt(fs / 2.0), n=n_taps, axis=-1)
    return jnp.roll(h, n_taps // 2, axis=-1)


@functools.partial(jax.jit, static_argnames=("block_size", "n_history"))
def _block(keys, h_fft, b, *, block_size, n_history):
    """Output block ``b`` for every channel (overlap-save of keyed white blocks)."""

    def one_channel(k, hf):
        idx = b + jnp.arange(n_history + 1)  # block b - n_history + j -> key index b + j
        w = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(k, i), (block_size,)))(idx)
        seg = w.reshape(-1)
        y = jnp.fft.irfft(jnp.fft.rfft(seg) * hf, n=seg.shape[0])
        return y[-block_size:]

    return jax.vmap(one_channel)(keys, h_fft)


def synthesize(key, h, start, stop, block_size=8192):
    """Samples ``start:stop`` of an endless stream of filtered Gaussian noise.

    Parameters
    ----------
    key : jax.Array
        A JAX PRNG key (``jax.random.key(seed)``); channel c uses ``fold_in(key, c)``.
    h : array_like, shape (n_channels, n_taps) or (n_taps,)
        FIR taps from :func:`fir_from_asd`.
    start, stop : int
        Absolute sample indices, 0 <= start <= stop.
    block_size : int
        Internal block length (a property of the stream: use the same value to get the
        same numbers), >= 1.

    Returns
    -------
    x : jax.Array, shape (n_channels, stop - start) or (stop - start,)
        Noise samples, units of the ASD.  Identical bit for bit for any chunking of the
        same stream.
    """
    check_key("key", key)
    start = check_count("start", start, 0, what="a sample index")
    stop = check_count("stop", stop, 0, what="a sample index")
    if stop < start:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    block_size = check_count("block_size", block_size, what="a positive integer")
    check_finite("h", h, "{name} (FIR taps) must be finite; got {bad}")
    if np.ndim(h) not in (1, 2) or np.shape(h)[-1] < 1:
        raise ValueError(f"h must have shape (n_channels, n_taps) or (n_taps,) with "
                         f"n_taps >= 1, got {np.shape(h)}")
    h = jnp.asarray(h, dtype=float)
    squeeze = h.ndim == 1
    h = jnp.atleast_2d(h)
    n_ch, n_taps = h.shape
    n_history = max(1, -(-(n_taps - 1) // block_size))
    nfft = (n_history + 1) * block_size
    h_fft = jnp.fft.rfft(h, n=nfft, axis=-1)
    keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(jnp.arange(n_ch))
    if stop == start:
        out = jnp.zeros((n_ch, 0))
    else:
        b0, b1 = start // block_size, (stop - 1) // block_size
        blocks = [
            _block(keys, h_fft, jnp.asarray(b, dtype=jnp.int32), block_size=int(block_size),
                   n_history=n_history)
            for b in range(b0, b1 + 1)
        ]
        out = jnp.concatenate(blocks, axis=-1)[:, start - b0 * block_size: stop - b0 * block_size]
    return out[0] if squeeze else out
