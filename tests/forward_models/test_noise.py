"""Noise spectra, fundamental limits and seeded, chunk-invariant noise synthesis."""

import math

import jax
import numpy as np
import pytest
from scipy.signal import welch

from forward_models import noise


def test_one_over_f_definition():
    f = np.array([0.5, 3.0, 100.0])
    asd = np.asarray(noise.one_over_f_asd(f, 10e-15, 3.0))
    # at the corner the 1/f power equals the white power: ASD = sqrt(2) * floor
    assert asd[1] == pytest.approx(math.sqrt(2) * 10e-15)
    assert asd[2] == pytest.approx(10e-15 * math.sqrt(1.03))


def test_gaussian_line_integrates_to_rms_squared():
    f = np.linspace(49.0, 51.0, 200001)
    asd = np.asarray(noise.gaussian_line_asd(f, 50.0, 2e-12, 0.1))
    assert np.trapezoid(asd**2, f) == pytest.approx((2e-12) ** 2, rel=1e-6)
    # half maximum at +-w/2
    half = np.asarray(noise.gaussian_line_asd([50.05], 50.0, 2e-12, 0.1))[0] ** 2
    assert half == pytest.approx(0.5 * asd[100000] ** 2, rel=1e-9)


def test_nv_shot_noise_slope_and_monte_carlo():
    # largest slope of a Lorentzian dip of FWHM dnu and depth C, by finite differences
    dnu, C, R = 1e6, 0.02, 1e12
    nu = np.linspace(-2e6, 2e6, 400001)
    dip = 1 - C / (1 + (nu / (dnu / 2)) ** 2)
    slope = np.abs(np.gradient(dip, nu)).max()
    t = 1.0
    # photon-counting shot noise sqrt(R t) over slope R t * slope, converted to field
    expected = math.sqrt(R * t) / (R * t * slope) / noise.GAMMA_NV * math.sqrt(t)
    got = float(noise.nv_photon_shot_noise(dnu, C, R))
    assert got == pytest.approx(expected, rel=1e-6)
    # Monte Carlo: Poisson counts at the steepest point, field from the linearised slope
    rng = np.random.default_rng(1)
    counts = rng.poisson(R * 1e-3 * (1 - C / (1 + (1 / math.sqrt(3)) ** 2)), 20000)
    sd_field = counts.std() / (R * 1e-3 * slope) / noise.GAMMA_NV  # 1 ms bins
    assert sd_field * math.sqrt(1e-3) == pytest.approx(got, rel=0.03)


def test_opm_limits():
    # spin projection: 1 / (gamma sqrt(N T2)) with gamma = gamma_e / q, T2 = 1/(gamma dB)
    n, V, dB, q = 1e20, 2.7e-8, 15e-9, 5.0
    gamma = noise.GAMMA_E / q
    T2 = 1 / (gamma * dB)
    ref = 1 / (gamma * math.sqrt(n * V * T2))
    got = float(noise.opm_spin_projection_noise(n, V, dB, q))
    assert got == pytest.approx(ref, rel=1e-12)
    assert 0.1e-15 < got < 1e-15  # below QuSpin's 7-15 fT/sqrt(Hz) floor, as it must be
    # photon shot noise: slope of the SERF transverse response beta/(1+beta^2) at 0
    beta = np.linspace(-0.01, 0.01, 2001)
    slope = np.gradient(beta / (1 + beta**2), beta)[1000] / dB
    P, lam, C = 10e-6, 795e-9, 0.5
    rate = P * lam / (noise.PLANCK * noise.C_LIGHT)
    ref = math.sqrt(rate) / (rate * C * slope)
    assert float(noise.opm_photon_shot_noise(P, lam, dB, C)) == pytest.approx(ref, rel=1e-6)


def _stream(seed=7, n_ch=2, fs=1000.0, n_taps=8192):
    f = noise.filter_grid(n_taps, fs)
    fl = np.maximum(f, fs / n_taps)
    floors = np.array([10e-15, 3e-15])[:n_ch, None]
    corners = np.array([5.0, 1.0])[:n_ch, None]
    asd = np.asarray(noise.one_over_f_asd(fl[None, :], floors, corners))
    return jax.random.key(seed), noise.fir_from_asd(asd, fs), floors, corners


def test_synthesised_asd_matches_target_within_5_percent():
    fs = 1000.0
    key, h, floors, corners = _stream()
    x = np.asarray(noise.synthesize(key, h, 0, 200_000))
    fw, p = welch(x, fs=fs, nperseg=4096, axis=-1)
    fw, p = fw[1:], p[:, 1:]
    for c in range(2):
        target = np.asarray(noise.one_over_f_asd(fw, floors[c], corners[c]))
        for lo, hi in [(1, 100), (1, 10), (10, 100)]:
            m = (fw >= lo) & (fw <= hi)
            ratio = math.sqrt(p[c, m].mean() / (target[m] ** 2).mean())
            assert abs(ratio - 1) < 0.05, (c, lo, hi, ratio)
    # channels are independent
    assert abs(np.corrcoef(x)[0, 1]) < 0.02


def test_bit_identical_for_any_chunking():
    key, h, *_ = _stream()
    n = 30_000
    whole = np.asarray(noise.synthesize(key, h, 0, n))
    for chunk in (4096, 7777):
        parts = [np.asarray(noise.synthesize(key, h, s, min(s + chunk, n)))
                 for s in range(0, n, chunk)]
        assert np.array_equal(np.concatenate(parts, axis=-1), whole)
    # an arbitrary window is the same slice; another seed differs
    assert np.array_equal(np.asarray(noise.synthesize(key, h, 12_345, 12_400)),
                          whole[:, 12_345:12_400])
    other = np.asarray(noise.synthesize(jax.random.key(8), h, 0, 100))
    assert not np.array_equal(other, whole[:, :100])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: noise.one_over_f_asd([0.0, 1.0], 1e-14, 3.0), "freqs"),
        (lambda: noise.one_over_f_asd([-1.0], 1e-14, 3.0), "freqs"),
        (lambda: noise.one_over_f_asd([1.0], -1e-14, 3.0), "floor"),
        (lambda: noise.gaussian_line_asd([0.0], 50.0, 1e-12, 0.1), "freqs"),
        (lambda: noise.nv_photon_shot_noise(1e6, 1.5, 1e12), "contrast"),
        (lambda: noise.opm_spin_projection_noise(-1e20, 2.7e-8, 15e-9), "atom_density"),
        (lambda: noise.filter_grid(1001, 1000.0), "n_taps"),
        (lambda: noise.fir_from_asd([1.0, np.nan, 1.0], 1000.0), "asd"),
        (lambda: noise.synthesize(jax.random.key(0), np.ones(8), 10, 5), "start"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
