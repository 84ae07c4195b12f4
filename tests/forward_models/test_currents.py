"""Tests of forward_models.currents against scipy and closed forms."""

import math

import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sp

import forward_models  # noqa: F401
from forward_models import conductors, currents

MU0 = 4e-7 * math.pi


def test_elliptic_integrals_match_scipy():
    m = np.concatenate([np.linspace(0.0, 0.999, 400), 1.0 - np.logspace(-14, -3, 40)])
    np.testing.assert_allclose(currents.ellipk(m), sp.ellipk(m), rtol=1e-13)
    np.testing.assert_allclose(currents.ellipe(m), sp.ellipe(m), rtol=1e-13)
    assert float(currents.ellipe(1.0)) == 1.0


def _biot_savart_quad(r, r1, r2, current=1.0):
    def comp(i):
        def f(t):
            p = r1 + (r2 - r1) * t
            d = r - p
            return MU0 / (4 * math.pi) * current * np.cross(r2 - r1, d)[i] / np.linalg.norm(d) ** 3
        return si.quad(f, 0.0, 1.0, epsabs=0, epsrel=1e-12, limit=200)[0]
    return np.array([comp(i) for i in range(3)])


def test_line_segment_matches_quadrature_and_infinite_wire():
    rng = np.random.default_rng(0)
    for _ in range(5):
        r, r1, r2 = rng.normal(size=(3, 3)) * 1e-3
        got = np.asarray(currents.line_segment_field(r, r1, r2, 2.5))
        ref = _biot_savart_quad(r, r1, r2, 2.5)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    # long segment -> infinite wire mu0 I / (2 pi d)
    b = currents.line_segment_field(np.array([0.0, 1e-3, 0.0]), np.array([0, 0, -1e3]),
                                    np.array([0, 0, 1e3]), 1.0)
    assert float(np.linalg.norm(b)) == pytest.approx(MU0 / (2 * math.pi * 1e-3), rel=1e-9)
    # on the line outside the segment: zero
    b = currents.line_segment_field(np.array([0, 0, 2.0]), np.zeros(3), np.array([0, 0, 1.0]), 1.0)
    assert np.all(np.asarray(b) == 0)


def test_current_loop_on_axis_and_against_polygon():
    a, cur = 2e-3, 0.3
    z = np.linspace(-5e-3, 5e-3, 11)
    pts = np.stack([0 * z, 0 * z, z], -1)
    b = np.asarray(currents.current_loop_field(pts, np.zeros(3), [0, 0, 1.0], a, cur))
    np.testing.assert_allclose(b[:, 2], MU0 * cur * a**2 / (2 * (a**2 + z**2) ** 1.5), rtol=1e-12)
    np.testing.assert_allclose(b[:, :2], 0, atol=1e-20)
    # off axis, tilted loop: a 20000-gon built from the (quadrature-checked) segment formula
    n = np.array([1.0, 2.0, 2.0]) / 3
    u = np.cross(n, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    c = np.array([1e-3, -2e-3, 0.5e-3])
    th = np.linspace(0, 2 * np.pi, 20001)[:-1]
    verts = c + a * (np.cos(th)[:, None] * u + np.sin(th)[:, None] * v)
    rng = np.random.default_rng(1)
    pts = c + rng.normal(size=(6, 3)) * 3e-3
    got = np.asarray(currents.current_loop_field(pts, c, n, a, cur))
    ref = np.asarray(currents.polyline_field(pts, verts, cur, closed=True))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    # far field: magnetic dipole m = I pi a^2 n
    far = c + np.array([0.3, -0.2, 0.25])
    bd = conductors.magnetic_dipole_field(far, c, cur * math.pi * a**2 * n)
    np.testing.assert_allclose(currents.current_loop_field(far, c, n, a, cur), bd, rtol=1e-4)


def test_axon_current_is_quadrupolar_and_locally_amperian():
    s = np.linspace(0, 40e-3, 40001)
    i_ax = np.asarray(currents.axon_axial_current(s))
    # no net charge transport: the dipole moment vanishes
    assert abs(np.trapezoid(i_ax, s)) < 1e-6 * np.trapezoid(np.abs(i_ax), s)
    # close to the axon B ~ mu0 I(z) / (2 pi rho) (Ampere, slowly varying current)
    lam = 1e-3
    s_peak = s[np.argmax(i_ax)]
    rho = 20e-6
    start = np.zeros(3)
    r = np.array([rho, 0.0, -s_peak])
    b = np.asarray(currents.axon_field(r, 0.0, start, [0, 0, 1.0], n_elements=4000,
                                       extent=20 * lam))
    expect = MU0 * i_ax.max() / (2 * math.pi * rho)
    assert np.linalg.norm(b) == pytest.approx(expect, rel=0.01)
    assert abs(b[1]) == pytest.approx(np.linalg.norm(b), rel=1e-6)  # azimuthal
    # far away the field falls faster than a dipole's 1/d^2 (zero net dipole moment)
    far = np.array([[d, 0.0, -3 * lam] for d in (0.2, 0.4)])
    bf = np.linalg.norm(np.asarray(currents.axon_field(far, 0.0, start, [0, 0, 1.0])), axis=1)
    assert bf[0] / bf[1] > 7.0  # 1/d^3 would give 8, 1/d^2 4


def test_axon_field_matches_quadrature_of_line_current():
    r = np.array([0.5e-3, 0.2e-3, -2e-3])
    got = np.asarray(currents.axon_field(r, 1e-4, np.zeros(3), [0, 0, 1.0], velocity=10.0,
                                         n_elements=4000))
    front = np.array([0, 0, 10.0 * 1e-4])

    def comp(i):
        def f(s):
            p = front - s * np.array([0, 0, 1.0])
            d = r - p
            x = s / 1e-3  # closed-form derivative of A x^3 exp(-x) / (27 e^-3), x = s / lambda
            cur = math.pi * 10e-6**2 / 1.0 * 0.1 * (3 * x**2 - x**3) * math.exp(-x) / (
                1e-3 * 27 * math.exp(-3))
            return 1e-7 * cur * np.cross([0, 0, 1.0], d)[i] / np.linalg.norm(d) ** 3
        return si.quad(f, 0, 20e-3, epsabs=0, epsrel=1e-8, limit=200)[0]

    ref = np.array([comp(0), comp(1), 0.0])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_halfspace_normal_component_and_sphere_limit():
    rng = np.random.default_rng(5)
    r0 = np.array([0.01, 0.02, -0.05])
    q = np.array([1e-5, -2e-5, 0.7e-5])
    pts = np.column_stack([rng.uniform(-0.1, 0.1, (8, 2)), rng.uniform(0.001, 0.05, 8)])
    b = np.asarray(currents.halfspace_dipole_field(pts, r0, q))
    # normal component = primary field's (Cohen & Hosaka 1976)
    b0 = np.asarray(conductors.primary_dipole_field(pts, r0, q))
    np.testing.assert_allclose(b[:, 2], b0[:, 2], rtol=1e-12)
    # large-sphere limit of Sarvas' formula, converging as the radius grows
    errs = []
    for R in (10.0, 100.0):
        bs = np.asarray(conductors.sphere_dipole_field(pts, r0, q, np.array([0, 0, -R])))
        errs.append(np.abs(bs - b).max() / np.abs(b).max())
    assert errs[1] < 2e-3 and errs[1] < errs[0] / 5
    # a dipole normal to the surface is silent
    bn = currents.halfspace_dipole_field(pts, r0, np.array([0, 0, 1e-5]))
    assert np.abs(np.asarray(bn)).max() < 1e-25


def test_bad_inputs():
    with pytest.raises(ValueError, match="r must be finite"):
        currents.line_segment_field(np.array([np.nan, 0, 0]), np.zeros(3), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        currents.current_loop_field(np.ones(3), np.zeros(3), [0, 0, 1.0], 0.0, 1.0)
    with pytest.raises(ValueError, match="normal must be a non-zero"):
        currents.current_loop_field(np.ones(3), np.zeros(3), [0, 0, 0.0], 1e-3, 1.0)
    with pytest.raises(ValueError, match="r0 must lie inside"):
        currents.halfspace_dipole_field(np.array([0, 0, 0.01]), np.array([0, 0, 0.01]),
                                        np.array([1e-5, 0, 0]))
    with pytest.raises(ValueError, match="r must lie outside"):
        currents.halfspace_dipole_field(np.array([0, 0, -0.01]), np.array([0, 0, -0.05]),
                                        np.array([1e-5, 0, 0]))
    with pytest.raises(ValueError, match="velocity must be > 0"):
        currents.axon_field(np.ones(3) * 1e-3, 0.0, np.zeros(3), [0, 0, 1.0], velocity=0.0)
