"""Tests of the SERF OPM Bloch model against scipy solve_ivp and closed forms."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from forward_models import opm

GAMMA = 2 * np.pi * 28.0e9  # rad/(s T), the physics reference's gamma_e
LW = 25e-9  # resonance half-width, T
P0 = 0.5


def q87(p):
    """87Rb slowing-down factor, written independently of the code under test."""
    return (6 + 2 * p * p) / (1 + p * p)


def bloch_rhs(t, P, B, lw, p0):
    """q(|P|) dP/dt = gamma B x P + R_op (z - P) - R_rel P, numpy, from the equation."""
    gam = GAMMA * lw
    return (GAMMA * np.cross(B, P) + gam * (p0 * np.array([0.0, 0.0, 1.0]) - P)) / q87(
        np.linalg.norm(P))


# --------------------------------------------------------------------- must show 1
def test_steady_state_matches_solve_ivp_up_to_10_linewidths():
    rng = np.random.default_rng(1234)
    worst = 0.0
    for _ in range(16):
        u = rng.standard_normal(3)
        beta = u / np.linalg.norm(u) * rng.uniform(0.0, 10.0)
        B = beta * LW
        tau = q87(0.0) / (GAMMA * LW)  # slowest decay time (q <= 6)
        sol = solve_ivp(bloch_rhs, (0, 45 * tau), [0.0, 0.0, P0], args=(B, LW, P0),
                        method="DOP853", rtol=1e-12, atol=1e-15)
        ref = sol.y[:, -1] / P0
        got = np.asarray(opm.serf_steady_state(B, LW))
        worst = max(worst, np.abs(got - ref).max())
    assert worst < 1e-6, worst


def test_steady_state_closed_form_components():
    bx, by, bz = 0.3, -1.7, 2.2
    den = 1 + bx**2 + by**2 + bz**2
    want = [(by + bx * bz) / den, (by * bz - bx) / den, (1 + bz**2) / den]
    got = opm.serf_steady_state(np.array([bx, by, bz]) * 3e-9, 3e-9)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_slowing_down_factor_limits():
    np.testing.assert_allclose(opm.slowing_down_factor(np.array([0.0, 1.0])), [6.0, 4.0])


# ---------------------------------------------------------------- time integration
def _waveform(T, fs):
    t = np.arange(T) / fs
    B = np.zeros((T, 3))
    B[:, 0] = 1e-9 * np.cos(2 * np.pi * 13 * t)
    B[:, 1] = 2e-9 * np.sin(2 * np.pi * 40 * t) + 1e-9
    B[:, 2] = 3e-9
    return t, B


def test_time_domain_matches_solve_ivp_second_order():
    fs = 1000.0
    t, B = _waveform(150, fs)

    def rhs(tt, P):
        Bi = np.array([np.interp(tt, t, B[:, k]) for k in range(3)])
        return bloch_rhs(tt, P, Bi, LW, P0)

    Pi = P0 * np.asarray(opm.serf_steady_state(B[0], LW))
    ref = solve_ivp(rhs, (0, t[-1]), Pi, t_eval=t, method="DOP853", rtol=1e-11, atol=1e-14,
                    max_step=5e-4).y.T
    errs = []
    for ns in (4, 8):
        P = np.asarray(opm.bloch_evolve(B, 1 / fs, LW, P0, n_substeps=ns))
        errs.append(np.abs(P - ref).max() / P0)
    assert errs[1] < 3e-5, errs
    # second order: halving the step divides the error by ~4
    assert 3.3 < errs[0] / errs[1] < 4.7, errs


# --------------------------------------------------------------------- must show 2
def _gain_phase(y, x, f, t):
    """Gain and phase of y against x = A sin(2 pi f t), by least squares on sin/cos."""
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], 1)
    cy = np.linalg.lstsq(basis, y, rcond=None)[0]
    cx = np.linalg.lstsq(basis, x, rcond=None)[0]
    H = complex(cy[0], cy[1]) / complex(cx[0], cx[1])
    return np.abs(H), np.angle(H)


@pytest.mark.parametrize("p0", [0.3, 0.8])
def test_small_signal_minus_3db_and_first_order_phase(p0):
    """Gain and phase of the time-domain model against 1/(1 + i f/f3), f3 = Gamma/(2 pi q)."""
    lw = 20e-9
    f3 = GAMMA * lw / (2 * np.pi * q87(p0))  # Gamma / (2 pi q(P0)), independent
    fs, settle, Tm = 40000.0, 2000, 8000  # settle 50 ms >> tau = q / Gamma ~ 1.3 ms
    fq = np.array([f3 / 3, f3, 2.5 * f3])  # one sensor per frequency
    t = np.arange(settle + Tm) / fs
    B = np.zeros((3, 1, t.size, 3))
    B[:, 0, :, 1] = 1e-3 * lw * np.sin(2 * np.pi * fq[:, None] * t)
    out, _ = opm.simulate_sensors(B, 1 / fs, lw, p0, "dual", n_substeps=2)
    for i, f in enumerate(fq):
        g, ph = _gain_phase(np.asarray(out)[i, settle:, 1], B[i, 0, settle:, 1], f, t[settle:])
        want = 1 / (1 + 1j * f / f3)
        assert abs(g - abs(want)) < 1e-3, (f, g, abs(want))
        assert abs(ph - np.angle(want)) < 1e-3, (f, ph, np.angle(want))
    # -3 dB at f3
    g_mid = _gain_phase(np.asarray(out)[1, settle:, 1], B[1, 0, settle:, 1], fq[1], t[settle:])[0]
    assert abs(20 * np.log10(g_mid) + 3.0103) < 0.05


def test_transfer_function_is_first_order():
    f3 = float(opm.bandwidth_3db(LW, P0))
    np.testing.assert_allclose(f3, GAMMA * LW / (2 * np.pi * q87(P0)), rtol=1e-13)
    H = np.asarray(opm.transfer_function(np.array([0.0, f3]), LW, P0))
    np.testing.assert_allclose(np.abs(H), [1.0, 1 / np.sqrt(2)], rtol=1e-12)


def test_transfer_matrix_dc_is_steady_state_jacobian():
    B0 = np.array([0.4, -0.2, 0.7]) * LW
    H = np.asarray(opm.transfer_matrix(np.array([0.0]), B0, LW, P0))[0]
    eps = 1e-6 * LW
    J = np.empty((3, 3))
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        J[:, k] = (np.asarray(opm.serf_steady_state(B0 + d, LW))
                   - np.asarray(opm.serf_steady_state(B0 - d, LW))) / (2 * eps)
    np.testing.assert_allclose(H.real, J, atol=1e-7 / LW)
    assert np.abs(H.imag).max() < 1e-12 / LW


# --------------------------------------------------------------------- must show 3
@pytest.mark.parametrize("bx0,bz0", [(0.0, 0.2), (0.15, 0.0), (0.2, -0.3)])
def test_cape_and_gain_drop_against_closed_form(bx0, bz0):
    """Time-domain model in a static field: leak of B_x and B_z into the y reading."""
    lw = LW
    fs, T = 2000.0, 60
    d = 1e-4 * lw
    base = np.array([bx0, 0.0, bz0]) * lw
    den = 1 + bx0**2 + bz0**2
    # closed forms: derivatives of P_x / P0 = (b_y + b_x b_z)/(1 + b^2) at b_y0 = 0
    # (r_y = lw P_x / P0): CAPE leak ~ static field / linewidth, gain drop 1/den
    want = {0: bz0 / den - 2 * bx0**2 * bz0 / den**2,
            1: 1 / den,
            2: bx0 / den - 2 * bx0 * bz0**2 / den**2}
    for k, w in want.items():
        B = np.tile(base, (2, 1, T, 1))
        B[0, 0, :, k] += d
        B[1, 0, :, k] -= d
        out, _ = opm.simulate_sensors(B, 1 / fs, lw, P0, "dual", n_substeps=2)
        ry = np.asarray(out)[:, -1, 1]
        slope = (ry[0] - ry[1]) / (2 * d)
        assert abs(slope - w) < 1e-6, (k, slope, w)
    # static offset: r_y = lw b_x0 b_z0 / den
    B = np.tile(base, (1, 1, T, 1))
    out, _ = opm.simulate_sensors(B, 1 / fs, lw, P0, "dual")
    assert abs(float(out[0, -1, 1]) - lw * bx0 * bz0 / den) < 1e-9 * lw


def test_triaxial_reads_pump_axis_with_unit_gain():
    fs, T = 2000.0, 60
    d = 1e-4 * LW
    for k in range(3):
        B = np.zeros((2, 1, T, 3))
        B[0, 0, :, k] = d
        B[1, 0, :, k] = -d
        out, _ = opm.simulate_sensors(B, 1 / fs, LW, P0, "triaxial", bias=0.5)
        slope = (np.asarray(out)[0, -1] - np.asarray(out)[1, -1]) / (2 * d)
        want = np.zeros(3)
        want[k] = 1.0
        np.testing.assert_allclose(slope, want, atol=1e-6)


def test_closed_loop_bandwidth_and_no_cape_on_fed_back_axes():
    lw, fs = LW, 20000.0
    fcl = 400.0
    # -3 dB at the closed-loop bandwidth
    T = int(round(20 * fs / fcl)) + 2000
    t = np.arange(T) / fs
    B = np.zeros((1, 1, T, 3))
    B[0, 0, :, 1] = 1e-3 * lw * np.sin(2 * np.pi * fcl * t)
    out, _ = opm.simulate_sensors(B, 1 / fs, lw, P0, "dual", closed_loop=True,
                                  closed_loop_bandwidth=fcl, n_substeps=16)
    g, ph = _gain_phase(np.asarray(out)[0, 2000:, 1], B[0, 0, 2000:, 1], fcl, t[2000:])
    # the digital loop acts with one sub-step (h = 3.1 us) of latency: at 400 Hz that is
    # 2 pi f h = 8e-3 rad of open-loop phase, about half of it in closed loop
    assert abs(g - 1 / np.sqrt(2)) < 2e-3 and abs(ph + np.pi / 4) < 5e-3, (g, ph)
    # static field along the beam: open-loop leak of B_x into r_y is bz0/(1+bz0^2);
    # closed loop nulls x and y in the cell so the leak vanishes
    T = 400
    d = 1e-4 * lw
    B = np.zeros((2, 1, T, 3))
    B[..., 2] = 0.3 * lw
    B[0, 0, :, 0] += d
    B[1, 0, :, 0] -= d
    out, _ = opm.simulate_sensors(B, 1 / fs, lw, P0, "dual", closed_loop=True,
                                  closed_loop_bandwidth=fcl, n_substeps=4)
    leak = (float(out[0, -1, 1]) - float(out[1, -1, 1])) / (2 * d)
    assert abs(leak) < 1e-6, leak


def test_saturation_outside_dynamic_range():
    B = np.zeros((1, 1, 20, 3))
    B[..., 1] = 8e-9
    out, sat = opm.simulate_sensors(B, 1e-3, LW, P0, "dual", dynamic_range=5e-9)
    assert float(out[0, -1, 1]) == pytest.approx(5e-9)
    assert bool(sat[0, -1, 1]) and not bool(sat[0, -1, 0])


def test_finite_cell_averages_polarisation_not_field():
    off, w = opm.cell_integration_points(3e-3, order=2)
    assert off.shape == (8, 3) and abs(w.sum() - 1) < 1e-14
    np.testing.assert_allclose(np.abs(off), 0.5 * 3e-3 / np.sqrt(3), rtol=1e-13)
    # a field gradient along x of B_y: symmetric points, reading = average of the
    # nonlinear per-point readings, which differs from the reading of the mean field
    g = 2e-9 / 3e-3  # T/m
    Bpts = np.zeros((1, 8, 10, 3))
    Bpts[0, :, :, 1] = (3e-9 + g * off[:, 0])[:, None]
    Bpts[0, :, :, 2] = 4e-9
    out, _ = opm.simulate_sensors(Bpts, 1e-3, LW, P0, "dual", weights=w)
    per_point = [LW * float(opm.serf_steady_state(np.array([0, by, 4e-9]), LW)[0])
                 for by in 3e-9 + g * off[:, 0]]
    assert float(out[0, -1, 1]) == pytest.approx(np.dot(w, per_point), rel=1e-9)


def test_dipole_crosstalk_falls_as_inverse_cube():
    R = np.tile(np.eye(3), (2, 1, 1))
    a = 5e-3
    x1 = opm.coil_crosstalk_matrix(np.array([[0, 0, 0], [0.03, 0, 0]]), R, a)
    x2 = opm.coil_crosstalk_matrix(np.array([[0, 0, 0], [0.06, 0, 0]]), R, a)
    x1, x2 = np.asarray(x1), np.asarray(x2)
    nz = np.abs(x2) > 0
    assert nz.sum() == 6  # two coils x (one axial + two transverse couplings)
    np.testing.assert_allclose(x1[nz] / x2[nz], 8.0, rtol=1e-12)
    # axial coil field: m = 2 pi a^3 b / mu0 gives B = mu0 2 m / (4 pi d^3) = b a^3 / d^3
    assert float(x1[1, 0, 0, 0]) == pytest.approx(a**3 / 0.03**3, rel=1e-12)
    assert float(x1[1, 1, 0, 1]) == pytest.approx(-0.5 * a**3 / 0.03**3, rel=1e-12)
    assert float(x1[0, 0, 0, 0]) == 0.0


# --------------------------------------------------------------------- must show 6
@pytest.mark.parametrize("lw", [0.0, -1e-9, np.nan, np.inf])
def test_bad_linewidth(lw):
    with pytest.raises(ValueError, match="linewidth"):
        opm.serf_steady_state(np.zeros(3), lw)
    with pytest.raises(ValueError, match="linewidth"):
        opm.simulate_sensors(np.zeros((1, 1, 3, 3)), 1e-3, lw, P0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_field(bad):
    B = np.zeros((1, 1, 5, 3))
    B[0, 0, 2, 1] = bad
    with pytest.raises(ValueError, match="B must be finite"):
        opm.simulate_sensors(B, 1e-3, LW, P0)
    with pytest.raises(ValueError, match="B must be finite"):
        opm.serf_steady_state(B[0, 0, 2], LW)
    with pytest.raises(ValueError, match="B must be finite"):
        opm.bloch_evolve(B[0, 0], 1e-3, LW, P0)


def test_unknown_mode_and_bad_crosstalk_shape():
    B = np.zeros((2, 1, 5, 3))
    with pytest.raises(ValueError, match="mode must be one of"):
        opm.simulate_sensors(B, 1e-3, LW, P0, "quadaxial")
    with pytest.raises(ValueError, match=r"crosstalk must have shape \(2, 3, 2, 3\)"):
        opm.simulate_sensors(B, 1e-3, LW, P0, crosstalk=np.zeros((6, 6)))
    with pytest.raises(ValueError, match="p0"):
        opm.simulate_sensors(B, 1e-3, LW, 1.5)
    with pytest.raises(ValueError, match="n_substeps"):
        opm.bloch_evolve(B[0, 0], 1e-3, LW, P0, n_substeps=0)
    with pytest.raises(ValueError, match="closed_loop_bandwidth"):
        opm.simulate_sensors(B, 1e-3, LW, P0, closed_loop=True)
    with pytest.raises(ValueError, match="n_substeps"):
        opm.simulate_sensors(B, 1e-3, LW, P0, closed_loop=True, closed_loop_bandwidth=2000.0,
                             n_substeps=1)
