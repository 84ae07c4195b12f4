"""Tests of forward_models.nv against independent references.

References: numpy.linalg.eigh of a Hamiltonian built here from the spin-1 matrices,
closed forms (on-axis Zeeman, Lorentzian slope, Barry et al. 2020 sensitivities), the
steady state of the two-level Bloch equations (power broadening), scipy quadrature
(lock-in), and Monte-Carlo photon statistics with numpy's generator.
"""

import math

import jax
import numpy as np
import pytest
import scipy.integrate as si
from scipy import stats
from scipy.optimize import brentq

import forward_models  # noqa: F401  (x64)
from forward_models import nv

GAMMA = 28.03e9
D0 = 2.870e9

# ---------------------------------------------------------------- reference Hamiltonian
S2 = 1 / math.sqrt(2)
SX = S2 * np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], complex)
SY = S2 * np.array([[0, -1j, 0], [1j, 0, -1j], [0, 1j, 0]], complex)
SZ = np.diag([1.0, 0.0, -1.0]).astype(complex)
AXES = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)


def _frames():
    # documented convention: x = crystal [001] with its axis component removed
    zc = np.array([0.0, 0.0, 1.0])
    xs = np.array([zc - (zc @ n) * n for n in AXES])
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    ys = np.cross(AXES, xs)
    return xs, ys


XS, YS = _frames()


def reference_resonances(B, D=D0, E=0.0, temperature=None, R=None):
    """Transitions from numpy eigh: ms=0-like level (largest |<0|psi>|^2) to the others."""
    B = np.atleast_2d(B)
    if R is not None:
        B = B @ R  # B in the crystal frame
    if temperature is not None:
        D = D - 74.2e3 * (temperature - 300.0)
    out = np.empty(B.shape[:-1] + (4, 2))
    for k in range(4):
        bz, bx, by = GAMMA * B @ AXES[k], GAMMA * B @ XS[k], GAMMA * B @ YS[k]
        H = (D * SZ @ SZ + E * (SX @ SX - SY @ SY))[None] + (
            bx[:, None, None] * SX + by[:, None, None] * SY + bz[:, None, None] * SZ)
        w, V = np.linalg.eigh(H)
        i0 = np.argmax(np.abs(V[:, 1, :]) ** 2, axis=-1)
        l0 = w[np.arange(len(w)), i0]
        diff = np.abs(w - l0[:, None])
        diff[np.arange(len(w)), i0] = -1
        out[:, k] = np.sort(diff, axis=-1)[:, 1:]
    return out


def random_fields(rng, n, lo=1e-9, hi=0.1):
    mag = 10 ** rng.uniform(np.log10(lo), np.log10(hi), n)
    d = rng.normal(size=(n, 3))
    return mag[:, None] * d / np.linalg.norm(d, axis=1, keepdims=True)


# ------------------------------------------------------------------- must-show 1
@pytest.mark.parametrize(
    "E,temperature",
    [(0.0, None), (4.0e6, None), (0.0, 330.0), (2.5e6, 260.0)],
    ids=["plain", "strain", "temperature", "strain+temperature"],
)
def test_resonances_match_numpy_eigh_to_1hz(E, temperature):
    rng = np.random.default_rng(1234)
    B = random_fields(rng, 3000)
    got = np.asarray(nv.resonance_frequencies(B, E=E, temperature=temperature))
    ref = reference_resonances(B, E=E, temperature=temperature)
    assert got.shape == (3000, 4, 2)
    assert np.all(np.diff(got, axis=-1) >= 0)
    err = np.abs(got - ref)
    worst = np.linalg.norm(B[np.argmax(err.max(axis=(1, 2)))])
    assert err.max() < 1.0, f"max error {err.max()} Hz at |B| = {worst} T"


def test_resonances_near_degeneracy_and_rotation():
    rng = np.random.default_rng(7)
    # weak fields where the ms=+-1 pair is nearly degenerate (the hard case)
    B = random_fields(rng, 1000, 1e-9, 1e-6)
    err = np.abs(np.asarray(nv.resonance_frequencies(B)) - reference_resonances(B))
    assert err.max() < 1.0
    # a rotated crystal
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.linalg.det(q))
    B = random_fields(rng, 500)
    got = np.asarray(nv.resonance_frequencies(B, E=1e6, rotation=R))
    assert np.abs(got - reference_resonances(B, E=1e6, R=R)).max() < 1.0


def test_on_axis_closed_form_and_symmetries():
    b = np.linspace(1e-6, 0.09, 50)
    B = b[:, None] * AXES[2]
    f = np.asarray(nv.resonance_frequencies(B))[:, 2]
    np.testing.assert_allclose(f[:, 0], D0 - GAMMA * b, rtol=0, atol=1e-3)
    np.testing.assert_allclose(f[:, 1], D0 + GAMMA * b, rtol=0, atol=1e-3)
    # time reversal: B -> -B leaves the spectrum unchanged
    rng = np.random.default_rng(3)
    Bs = random_fields(rng, 200, 1e-6, 0.05)
    np.testing.assert_allclose(nv.resonance_frequencies(Bs), nv.resonance_frequencies(-Bs),
                               atol=1e-3, rtol=0)
    # temperature at zero field: both lines at D(T) (Acosta 2010 slope)
    f = np.asarray(nv.resonance_frequencies(np.zeros(3), temperature=310.0))
    np.testing.assert_allclose(f, D0 - 74.2e3 * 10, atol=1e-3)
    # strain at zero field: D -+ E
    f = np.asarray(nv.resonance_frequencies(np.zeros(3), E=3e6))
    np.testing.assert_allclose(f[:, 0], D0 - 3e6, atol=1e-3)
    np.testing.assert_allclose(f[:, 1], D0 + 3e6, atol=1e-3)


def test_resonance_jacobian_matches_finite_differences():
    B = np.array([1.1e-3, -0.4e-3, 2.3e-3])
    J = np.asarray(jax.jacfwd(lambda b: nv.resonance_frequencies(b, E=1e6))(B))
    h = 1e-9
    fd = np.stack([(np.asarray(nv.resonance_frequencies(B + h * e, E=1e6))
                    - np.asarray(nv.resonance_frequencies(B - h * e, E=1e6))) / (2 * h)
                   for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e3)


def test_resonances_through_strain_induced_level_crossing():
    # With strain E, a transverse field along y_k of the frame pushes the ms=+-1 pair of
    # orientation k through an exact crossing near 4.7 mT: the hardest case for a
    # closed form (the pair's gap goes to zero away from B = 0). Locate it with numpy
    # eigh alone, then scan through it.
    E, k = 3e6, 0
    b = np.linspace(1e-5, 5e-3, 2000)
    ref = reference_resonances(b[:, None] * YS[k], E=E)
    b0 = b[np.argmin(ref[:, k, 1] - ref[:, k, 0])]
    B = (b0 + np.linspace(-3e-6, 3e-6, 4001))[:, None] * YS[k]
    B = B + 1e-12 * AXES[k]  # and a tiny axial component (generic near-crossing)
    ref = reference_resonances(B, E=E)
    assert (ref[:, k, 1] - ref[:, k, 0]).min() < 10.0  # the scan does pass the crossing
    got = np.asarray(nv.resonance_frequencies(B, E=E))
    assert np.abs(got - ref).max() < 1.0


def test_energy_levels_and_hamiltonian_match_numpy():
    rng = np.random.default_rng(11)
    B = random_fields(rng, 2000)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.linalg.det(q))
    for E, rot in ((0.0, None), (2e6, R), (-1.5e6, None)):
        Bc = B if rot is None else B @ rot
        H_ref = np.empty((len(B), 4, 3, 3), complex)
        for k in range(4):
            bz, bx, by = GAMMA * Bc @ AXES[k], GAMMA * Bc @ XS[k], GAMMA * Bc @ YS[k]
            H_ref[:, k] = (D0 * SZ @ SZ + E * (SX @ SX - SY @ SY))[None] + (
                bx[:, None, None] * SX + by[:, None, None] * SY + bz[:, None, None] * SZ)
        H = np.asarray(nv.nv_hamiltonian(B, E=E, rotation=rot))
        np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-3)
        lev = np.asarray(nv.energy_levels(B, E=E, rotation=rot))
        assert np.abs(lev - np.linalg.eigvalsh(H_ref)).max() < 1.0
        ref = reference_resonances(B, E=E, R=rot)
        assert np.abs(np.asarray(nv.resonance_frequencies(B, E=E, rotation=rot)) - ref).max() < 1.0


def test_hyperfine_lines():
    res = np.asarray(nv.resonance_frequencies(np.array([0.0, 0.0, 1e-3])))
    l14, w14 = nv.hyperfine_lines(res, "14N")
    l15, w15 = nv.hyperfine_lines(res, "15N")
    assert l14.shape == (4, 2, 3) and l15.shape == (4, 2, 2)
    np.testing.assert_allclose(np.diff(np.asarray(l14), axis=-1), 2.14e6, rtol=1e-12)
    np.testing.assert_allclose(np.diff(np.asarray(l15), axis=-1), 3.03e6, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(l14).mean(axis=-1), res, rtol=1e-14)
    assert float(np.sum(w14)) == pytest.approx(1.0) and float(np.sum(w15)) == pytest.approx(1.0)


# ------------------------------------------------------------------- ODMR spectra
def test_spectrum_dips_depth_and_width():
    B = 2e-3 * AXES[0]  # orientation 0 split far from the other three (degenerate) ones
    res = np.asarray(nv.resonance_frequencies(B))
    C, lw = 0.02, 1.0e6
    f0 = res[0, 0]
    freqs = np.array([f0, f0 + lw / 2, f0 - lw / 2, 2.0e9])
    s = np.asarray(nv.odmr_spectrum(freqs, B, contrast=C, linewidth=lw))
    assert s[0] == pytest.approx(1 - C, abs=2e-5)  # other lines are > 100 MHz away
    assert s[1] == pytest.approx(1 - C / 2, abs=2e-5)
    assert s[2] == pytest.approx(1 - C / 2, abs=2e-5)
    assert s[3] == pytest.approx(1.0, abs=1e-4)
    # a pixel image broadcasts
    img = np.broadcast_to(B, (5, 6, 3))
    out = nv.odmr_spectrum(np.linspace(2.8e9, 2.95e9, 11), img)
    assert out.shape == (5, 6, 11)


def _direct_lorentzian_sum(freqs, lines, amp, lw):
    x = 2.0 * (freqs[..., None, :] - lines[..., :, None]) / lw[..., :, None]
    return 1.0 - np.sum(amp[..., :, None] / (1.0 + x * x), axis=-2)


def test_odmr_from_lines_matches_direct_sum():
    # the fused kernel combines lines four at a time over a common denominator: check it
    # against the plain per-line sum for every remainder (L mod 4), per-line and
    # per-pixel contrast/linewidth, weights, and lines far out in the tails
    rng = np.random.default_rng(21)
    freqs = np.linspace(2.80e9, 2.94e9, 57)
    for L in range(1, 12):
        lines = 2.87e9 + rng.uniform(-8e7, 8e7, (3, 5, L))
        C = rng.uniform(0.0, 0.05, (3, 5, L))
        lw = rng.uniform(2e5, 5e6, (3, 5, L))
        w = rng.uniform(0.2, 1.0, L)
        got = np.asarray(nv.odmr_from_lines(freqs, lines, C, lw, w))
        np.testing.assert_allclose(got, _direct_lorentzian_sum(freqs, lines, C * w, lw),
                                   rtol=0, atol=1e-14)
    # absurdly narrow lines (1 + x**2 up to ~1e109: products of four over a common
    # denominator would overflow to inf/inf): no NaN; only the line sitting exactly on a
    # frequency shows
    lines = np.array([2.0e9, 2.5e9, 3.5e9, 4.0e9, freqs[28]])
    got = np.asarray(nv.odmr_from_lines(freqs, lines, 0.1, 1e-45))
    assert np.all(np.isfinite(got))
    expected = np.ones_like(freqs)
    expected[28] = 0.9
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("isotope", [None, "14N", "15N"])
def test_odmr_spectrum_matches_numpy_model(isotope):
    # spectrum of a small pixel image vs numpy: eigh resonances, Felton et al. 2009
    # hyperfine splittings, Lorentzian sum
    rng = np.random.default_rng(5)
    B = random_fields(rng, 24, 1e-4, 5e-3).reshape(4, 6, 3)
    freqs = np.linspace(2.75e9, 3.0e9, 301)
    C, lw, E = 0.012, 0.8e6, 1.0e6
    got = np.asarray(nv.odmr_spectrum(freqs, B, contrast=C, linewidth=lw, E=E,
                                      temperature=305.0, isotope=isotope))
    res = reference_resonances(B.reshape(-1, 3), E=E, temperature=305.0).reshape(4, 6, 8)
    shifts = {None: [0.0], "14N": [-2.14e6, 0.0, 2.14e6], "15N": [-1.515e6, 1.515e6]}[isotope]
    lines = (res[..., :, None] + np.array(shifts)).reshape(4, 6, -1)
    amp = np.full(lines.shape, C / len(shifts))
    ref = _direct_lorentzian_sum(freqs, lines, amp, np.full(lines.shape, lw))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def _bloch_absorption(delta, omega, t1, t2):
    """Steady-state population change of a two-level Bloch system (rotating frame)."""
    A = np.array([[-1 / t2, -delta, 0.0], [delta, -1 / t2, -omega], [0.0, omega, -1 / t1]])
    u = np.linalg.solve(A, np.array([0.0, 0.0, -1.0 / t1]))  # w0 = 1 (fully polarised)
    return 1.0 - u[2]  # depolarisation: what the ODMR dip measures


def test_power_broadening_matches_bloch_steady_state():
    t1, t2 = 1e-3, 0.3e-6
    lw0 = 1.0 / (math.pi * t2)  # FWHM (Hz) at zero power
    for s in (0.1, 1.0, 10.0):
        omega = math.sqrt(s / (t1 * t2))
        lw, c = nv.power_broadening(lw0, 1.0, s)
        # FWHM of the Bloch absorption line, found by root bracketing
        peak = _bloch_absorption(0.0, omega, t1, t2)
        hw = brentq(lambda f, om=omega, pk=peak: _bloch_absorption(2 * math.pi * f, om, t1, t2)
                    - pk / 2, 0.0, 100 * lw0)
        assert float(lw) == pytest.approx(2 * hw, rel=1e-9)
        assert float(c) == pytest.approx(peak, rel=1e-9)  # s/(1+s) of full depolarisation


# -------------------------------------------------------------- must-show 2: sensitivity
def test_cw_sensitivity_closed_form():
    lw, C, R = 1.0e6, 0.02, 1e13
    eta = float(nv.cw_sensitivity(lw, C, R))
    closed = 4 / (3 * math.sqrt(3)) * lw / (GAMMA * C * math.sqrt(R))
    assert eta == pytest.approx(closed, rel=1e-13)
    # and it is what the spectrum's steepest slope and photon shot noise give
    freqs = np.linspace(D0 - 3e6, D0 + 3e6, 600001)
    s = np.asarray(nv.odmr_from_lines(freqs, np.array([D0]), C, lw))
    slope = np.max(np.abs(np.gradient(s, freqs)))
    assert slope == pytest.approx(3 * math.sqrt(3) * C / (4 * lw), rel=1e-6)
    eta_from_slope = math.sqrt(1.0 / R) / (GAMMA * slope)  # sqrt(S)~1 at the working point
    assert eta == pytest.approx(eta_from_slope, rel=0.01)


def test_cw_sensitivity_monte_carlo_photon_counting():
    """Poisson photon counts at the steepest point give the predicted field noise."""
    lw, C, R, t = 1.0e6, 0.03, 1e12, 1e-3
    f_work = D0 + lw / (2 * math.sqrt(3))
    s0 = float(nv.odmr_from_lines(np.array([f_work]), np.array([D0]), C, lw)[0])
    slope = float(nv.max_slope(C, lw))
    rng = np.random.default_rng(2024)
    counts = rng.poisson(R * t * s0, size=200_000)
    b_est = (counts / (R * t) - s0) / (slope * GAMMA)
    # sqrt(s0) ~ 0.99: shot noise scales with the detected (dipped) rate
    expected = float(nv.cw_sensitivity(lw, C, R)) * math.sqrt(s0) / math.sqrt(t)
    assert np.std(b_est) == pytest.approx(expected, rel=0.01)


def test_ramsey_sensitivity_closed_form_and_optimum():
    t2s, N, C, n_avg = 1e-6, 1e12, 0.03, 0.1
    eta = float(nv.ramsey_sensitivity(t2s, 0.5e-6, N, C, n_avg, t_overhead=2e-6))
    hbar_over_gmub = 1 / (2 * math.pi * GAMMA)
    closed = (hbar_over_gmub * math.exp(0.5) / math.sqrt(N * 0.5e-6)
              * math.sqrt(1 + 1 / (C**2 * n_avg)) * math.sqrt(2.5e-6 / 0.5e-6))
    assert eta == pytest.approx(closed, rel=1e-13)
    # without overhead the optimum precession time is T2*/2 for p = 1 and p = 2
    taus = np.linspace(0.05e-6, 2e-6, 3901)
    for p in (1.0, 2.0):
        e = np.asarray(nv.ramsey_sensitivity(t2s, taus, N, C, n_avg, stretch=p))
        assert taus[np.argmin(e)] == pytest.approx(t2s / 2, abs=1e-9)
    # double quantum halves it
    e1 = nv.ramsey_sensitivity(t2s, 0.5e-6, N, C, n_avg)
    e2 = nv.ramsey_sensitivity(t2s, 0.5e-6, N, C, n_avg, delta_ms=2)
    assert float(e1 / e2) == pytest.approx(2.0)


def test_volume_scaling():
    R = nv.photon_rate_from_volume(1.76e23 * 0.5, (100e-6) ** 3, 1e3)
    assert float(R) == pytest.approx(8.8e13)
    eta = nv.cw_sensitivity(1e6, 0.02, R)
    eta_v = nv.volume_normalized_sensitivity(eta, (100e-6) ** 3)
    assert float(eta_v) == pytest.approx(float(eta) * 1e-6, rel=1e-12)


# ----------------------------------------------------------------- lock-in, tracking
def test_lockin_small_and_large_modulation():
    C, lw = 0.02, 1e6
    det = 0.2e6
    x = float(nv.lockin_signal(D0 + det, D0, C, lw, 1e3))
    deriv = float(jax.grad(lambda f: nv.odmr_from_lines(f[None], np.array([D0]), C, lw)[0])(
        D0 + det))
    assert x == pytest.approx(1e3 * deriv, rel=1e-5)
    md = 0.7e6

    def integrand(th):
        f = det + md * math.cos(th)
        return (1 - C / (1 + (2 * f / lw) ** 2)) * math.cos(th)

    ref = si.quad(integrand, 0, 2 * math.pi, epsabs=0, epsrel=1e-10)[0] / math.pi
    assert float(nv.lockin_signal(D0 + det, D0, C, lw, md)) == pytest.approx(ref, rel=1e-9)


def test_closed_loop_tracking_follows_large_shift():
    C, lw, md = 0.02, 1e6, 0.4e6
    n = 400
    truth = D0 + np.linspace(0, 10 * lw, n)  # ten linewidths: far outside the slope range
    out = nv.track_resonance(truth, D0, C, lw, md, gain=0.8)
    lag = np.abs(np.asarray(out.frequency)[-50:] - truth[-50:])
    step = truth[1] - truth[0]
    # integral loop on a ramp: steady lag ~ step/gain, far below a linewidth
    assert lag.max() < 2 * step / 0.8
    # open loop (fixed carrier) loses the line completely
    x_open = float(nv.lockin_signal(D0, truth[-1], C, lw, md))
    assert abs(x_open) < 1e-3 * C


# -------------------------------------------------------- must-show 3: vector fits
def test_vector_from_resonances_covariance_is_calibrated():
    B_true = np.array([0.8e-3, -1.3e-3, 2.1e-3])
    f_true = np.asarray(nv.resonance_frequencies(B_true, D=D0 + 1.5e4))
    sigma = 2e3  # Hz
    rng = np.random.default_rng(11)
    n = 200
    meas = f_true + sigma * rng.normal(size=(n, 4, 2))
    fit = nv.reconstruct_vector(meas, sigma, B0=B_true + 2e-5, n_iter=12)
    err = np.asarray(fit.B) - B_true
    cov = np.asarray(fit.covariance)
    d2 = np.einsum("ni,nij,nj->n", err, np.linalg.inv(cov), err)
    # Mahalanobis distances follow chi2(3): coverage of the 95 % region ~ 95 %
    frac = np.mean(d2 < stats.chi2.ppf(0.95, 3))
    assert 0.90 <= frac <= 0.99
    assert np.mean(d2) == pytest.approx(3.0, rel=0.2)
    assert np.abs(np.asarray(fit.D) - (D0 + 1.5e4)).max() < 6 * sigma


def test_vector_from_noisy_spectrum_within_uncertainty():
    B_true = np.array([0.8e-3, -1.3e-3, 2.1e-3])
    freqs = np.linspace(2.75e9, 2.99e9, 801)
    clean = nv.odmr_spectrum(freqs, B_true, contrast=0.015, linewidth=1.2e6)
    keys = jax.random.split(jax.random.PRNGKey(5), 4)
    noisy, sig = jax.vmap(lambda k: nv.simulate_noisy_spectrum(k, clean, 1e7))(keys)
    fit = nv.fit_odmr_vector(freqs, noisy, sig, B0=B_true + np.array([1e-5, -1e-5, 1e-5]),
                             contrast0=0.01, linewidth0=1e6, n_iter=25)
    err = np.asarray(fit.B) - B_true
    sd = np.asarray(fit.B_sigma)
    assert np.all(sd > 0) and np.all(sd < 1e-6)  # sub-uT from a 1e7-photon spectrum
    assert np.all(np.abs(err) < 4 * sd), (err / sd)
    d2 = np.einsum("ni,nij,nj->n", err, np.linalg.inv(np.asarray(fit.covariance)), err)
    assert np.all(d2 < stats.chi2.ppf(0.999, 3))
    np.testing.assert_allclose(np.asarray(fit.extra)[:, 1], 1.2e6, rtol=0.05)


# -------------------------------------------------------------- must-show 6: bad input
def test_bad_input_errors():
    with pytest.raises(ValueError, match="B must be finite"):
        nv.resonance_frequencies(np.array([0.0, np.nan, 1e-3]))
    with pytest.raises(ValueError, match="B must be finite"):
        nv.resonance_frequencies(np.array([np.inf, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"B must have shape \(\.\.\., 3\)"):
        nv.resonance_frequencies(np.zeros(2))
    with pytest.raises(ValueError, match="contrast must be >= 0"):
        nv.odmr_spectrum(np.linspace(2.8e9, 2.9e9, 5), np.zeros(3), contrast=-0.01)
    with pytest.raises(ValueError, match="contrast must be <= 1"):
        nv.odmr_spectrum(np.linspace(2.8e9, 2.9e9, 5), np.zeros(3), contrast=1.5)
    with pytest.raises(ValueError, match="linewidth must be > 0"):
        nv.odmr_spectrum(np.linspace(2.8e9, 2.9e9, 5), np.zeros(3), linewidth=-1e6)
    with pytest.raises(ValueError, match="linewidth must be > 0"):
        nv.cw_sensitivity(0.0, 0.02, 1e12)
    with pytest.raises(ValueError, match="contrast must be <= 1"):
        nv.cw_sensitivity(1e6, 1.2, 1e12)
    with pytest.raises(ValueError, match="contrast must be > 0"):
        nv.cw_sensitivity(1e6, -0.1, 1e12)
    with pytest.raises(ValueError, match="isotope must be one of"):
        nv.hyperfine_lines(np.zeros((4, 2)), "13C")
    with pytest.raises(ValueError, match="isotope must be one of"):
        nv.odmr_spectrum(np.linspace(2.8e9, 2.9e9, 5), np.zeros(3), isotope="N14")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        nv.resonance_frequencies(np.zeros(3), temperature=-5.0)
    with pytest.raises(ValueError, match="rotation must be a proper orthogonal"):
        nv.resonance_frequencies(np.zeros(3), rotation=2 * np.eye(3))
    with pytest.raises(ValueError, match="D .* must be > 0"):
        nv.resonance_frequencies(np.zeros(3), D=0.0)
    with pytest.raises(ValueError, match="D .* must be > 0"):
        nv.odmr_spectrum(np.linspace(2.8e9, 2.9e9, 5), np.zeros(3), D=-2.87e9)
    with pytest.raises(ValueError, match="delta_ms must be 1 or 2"):
        nv.ramsey_sensitivity(1e-6, 5e-7, 1e10, 0.03, 0.1, delta_ms=3)
    with pytest.raises(ValueError, match="resonances must be finite"):
        nv.reconstruct_vector(np.full((4, 2), np.nan), 1e3, np.zeros(3))
