"""Shielding factors, conductor thermal noise, remnant fields and nulling (issue 6).

References are independent of the code under test: a direct numerical solution of the
quasi-static radial field equation for nested spherical shells (scipy solve_ivp), the
fluctuation-dissipation integral of the Biot-Savart kernel (scipy quad), the check
value in PHYSICS.md, and numpy least squares.
"""

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from forward_models import KB, MU0, shielding


def exact_spheres(freq, mu, sigma, r_in, r_out):
    """B_outside / B_inside of nested spherical shells, uniform applied field.

    A_phi = A(r) sin(theta); in a shell A'' + 2A'/r - 2A/r^2 = j omega mu0 mu sigma A;
    A and (1/mu)(1/r) d(rA)/dr are continuous; inside A = r/2 (unit field).
    """
    A, r, g = r_in[0] / 2 + 0j, r_in[0], 1.0 + 0j
    for m, s, a, b in zip(mu, sigma, r_in, r_out, strict=True):
        if a > r:  # vacuum gap: A = c1 r + c2 / r^2
            c1, c2 = np.linalg.solve(np.array([[r, r**-2], [2, -(r**-3)]]), np.array([A, g]))
            A, g = c1 * a + c2 / a**2, 2 * c1 - c2 / a**3
        k2 = 1j * 2 * np.pi * freq * MU0 * m * s

        def rhs(rr, y, k2=k2):
            Ac, Ap = y[0] + 1j * y[1], y[2] + 1j * y[3]
            App = -2 * Ap / rr + 2 * Ac / rr**2 + k2 * Ac
            return [Ap.real, Ap.imag, App.real, App.imag]

        Ap = m * g - A / a
        y = solve_ivp(rhs, (a, b), [A.real, A.imag, Ap.real, Ap.imag], rtol=1e-11,
                      atol=1e-15, method="DOP853").y[:, -1]
        A, Ap = y[0] + 1j * y[1], y[2] + 1j * y[3]
        g, r = (Ap + A / b) / m, b
    return (g + A / r) / 1.5


def test_sphere_static_formula_matches_field_equation():
    for mu, a, b in [(1e4, 0.999, 1.0), (50.0, 0.5, 1.0), (2.0, 0.2, 0.3)]:
        ref = abs(exact_spheres(0.0, [mu], [0.0], [a], [b]))
        assert float(shielding.spherical_shell_shielding_factor(mu, a, b)) == pytest.approx(
            ref, rel=1e-8)
    # mu >> 1 limit of PHYSICS.md
    S = float(shielding.spherical_shell_shielding_factor(1e6, 0.9, 1.0))
    assert S == pytest.approx(2e6 / 9 * (1 - 0.9**3), rel=1e-4)


def test_cylinder_formula_limits():
    # mu = 1: no shielding; thin shell: 1 + mu t / (2 R) (the n = 2 thin-shell factor)
    assert float(shielding.cylindrical_shell_shielding_factor(1.0, 0.3, 0.5)) == pytest.approx(1)
    S = float(shielding.cylindrical_shell_shielding_factor(2e4, 0.999, 1.001))
    thin = float(shielding.thin_shell_transfer(0.0, 2e4, 0.0, 1.0, 0.002, "cylinder").real)
    assert S == pytest.approx(thin, rel=3 * 0.002)  # O(t/R) thin-shell error
    assert thin == pytest.approx(1 + 2e4 * 0.002 / 2)


def test_nested_spheres_against_field_equation():
    mu, radii, t = 2e4, np.array([1.0, 1.2, 1.5]), 1.5e-3
    single = [shielding.spherical_shell_shielding_factor(mu, R - t / 2, R + t / 2) for R in radii]
    approx = float(shielding.nested_shielding_factor(np.array(single), radii))
    ref = abs(exact_spheres(0.0, [mu] * 3, [0] * 3, radii - t / 2, radii + t / 2))
    assert approx == pytest.approx(ref, rel=0.05)  # O(1/S_i) = 1/27 approximation
    # the classic product form is the S_i >> 1 limit: within a few 1/S_i, and worse
    prod = single[2] * single[0] * single[1] * (1 - (1 / 1.2) ** 3) * (1 - (1.2 / 1.5) ** 3)
    assert float(prod) == pytest.approx(ref, rel=0.25)
    assert abs(approx - ref) < abs(float(prod) - ref)
    # a weak layer must not reduce the shielding (S ~ 1 conductor at DC)
    with_cu = shielding.nested_shielding_factor(np.array([single[0], 1.0]), np.array([1.0, 1.1]))
    assert float(with_cu) == pytest.approx(float(single[0]), rel=1e-12)


@pytest.mark.parametrize("freq", [0.1, 1.0, 10.0, 100.0])
def test_dynamic_thin_shell_against_field_equation(freq):
    # copper shell (eddy currents only) and mu-metal shell (both effects), t/R = 1e-2, 2e-3
    for mu, sig, R, t in [(1.0, 3.7e7, 0.995, 0.01), (2e4, 2e6, 0.999, 0.002)]:
        ref = abs(exact_spheres(freq, [mu], [sig], [R - t / 2], [R + t / 2]))
        got = abs(complex(shielding.thin_shell_transfer(freq, mu, sig, R, t)))
        assert got == pytest.approx(ref, rel=2 * t / R)


def test_eddy_current_term_and_skin_depth():
    # thin copper shell, t << delta: the PHYSICS.md eddy term
    f, sig, R, t = 2.0, 5.8e7, 1.0, 1e-4
    assert float(shielding.skin_depth(f, sig)) == pytest.approx(
        np.sqrt(2 / (2 * np.pi * f * MU0 * sig)))
    ref = abs(exact_spheres(f, [1.0], [sig], [R - t / 2], [R + t / 2]))
    assert float(shielding.eddy_current_factor(f, sig, R, t)) == pytest.approx(ref, rel=1e-3)
    assert float(shielding.eddy_current_factor(f, sig, R, t, "cylinder")) == pytest.approx(
        abs(1 + 1j * 2 * np.pi * f * MU0 * sig * R * t / 2))


def test_cubic_equivalent_sphere():
    S = shielding.cubic_shell_shielding_factor(2e4, 2.0, 0.002)
    assert float(S) == pytest.approx(float(shielding.spherical_shell_shielding_factor(
        2e4, 1.0, 1.002)))
    S62 = shielding.cubic_shell_shielding_factor(2e4, 2.0, 0.002, factor=0.62)
    assert float(S62) < float(S)


def biot_savart_noise(weight, lo, hi, temperature, sigma, thickness):
    """sqrt(4 kB T sigma t * integral |G|^2 dA) for a thin sheet."""
    val, _ = quad(weight, lo, hi, limit=200, epsabs=0, epsrel=1e-10)
    return np.sqrt(4 * KB * temperature * sigma * thickness * val)


def test_check_value_sphere_7_08_fT():
    B = float(shielding.spherical_shell_thermal_noise(3.7e7, 1e-3, 1.0, 293.0))
    assert B == pytest.approx(7.08e-15, abs=0.005e-15)


def test_thermal_noise_forms_against_fluctuation_dissipation_integral():
    T, sig, t = 293.0, 3.7e7, 1e-4
    c = (MU0 / (4 * np.pi)) ** 2
    # disc radius r at height z: |G|^2 = c rho^2 / (rho^2 + z^2)^3 over 2 pi rho drho
    z, r = 0.05, 0.2
    ref = biot_savart_noise(lambda p: 2 * np.pi * p * c * p**2 / (p**2 + z**2) ** 3, 0, r, T,
                            sig, t)
    assert float(shielding.disc_thermal_noise(sig, t, z, r, T)) == pytest.approx(ref, rel=1e-6)
    # slab of finite thickness: integrate thin sheets over depth (exact for any t)
    tt = 0.01
    ref_slab = np.sqrt(quad(lambda d: biot_savart_noise(
        lambda p: 2 * np.pi * p * c * p**2 / (p**2 + d**2) ** 3, 0, np.inf, T, sig, 1.0) ** 2,
        z, z + tt, epsrel=1e-10)[0])
    assert float(shielding.slab_thermal_noise(sig, tt, z, T)) == pytest.approx(ref_slab,
                                                                                rel=1e-6)
    # sphere shell at the centre: |G_z|^2 = c sin^2(theta) / R^4 over R^2 dOmega
    R = 0.7
    ref_s = biot_savart_noise(lambda th: 2 * np.pi * np.sin(th) * R**2 * c * np.sin(th) ** 2
                              / R**4, 0, np.pi, T, sig, t)
    assert float(shielding.spherical_shell_thermal_noise(sig, t, R, T)) == pytest.approx(
        ref_s, rel=1e-6)
    # infinite cylinder on its axis: transverse (z^2 + R^2) / (R^2 + z^2)^3 * pi R dz,
    # axial R^2 / (R^2 + z^2)^3 * 2 pi R dz
    ref_tr = biot_savart_noise(lambda zz: np.pi * R * c * (zz**2 + R**2) / (R**2 + zz**2) ** 3,
                               -np.inf, np.inf, T, sig, t)
    ref_ax = biot_savart_noise(lambda zz: 2 * np.pi * R * c * R**2 / (R**2 + zz**2) ** 3,
                               -np.inf, np.inf, T, sig, t)
    assert float(shielding.cylinder_thermal_noise(sig, t, R, T)) == pytest.approx(ref_tr, 1e-6)
    assert float(shielding.cylinder_thermal_noise(sig, t, R, T, "axial")) == pytest.approx(
        ref_ax, rel=1e-6)
    # the disc tends to the thin slab
    assert float(shielding.disc_thermal_noise(sig, t, z, 1e4, T)) == pytest.approx(
        float(shielding.slab_thermal_noise(sig, 1e-12, z, T)) * np.sqrt(1e-4 / 1e-12), rel=1e-6)


def test_remnant_field_and_nulling():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.1, 0.1, (40, 3))
    b0 = np.array([1e-9, -0.5e-9, 0.3e-9])
    G = np.array([[1.0, 0.2, 0.0], [0.2, -0.4, 0.1], [0.0, 0.1, -0.6]]) * 1e-9
    B = np.asarray(shielding.remnant_field(pts, b0, G))
    np.testing.assert_allclose(B, b0 + pts @ G.T, rtol=1e-12)
    # first-order nulling removes uniform + gradient exactly; uniform-only leaves G r
    res1 = np.asarray(shielding.active_nulling_residual(pts, B, order=1))
    assert np.abs(res1).max() < 1e-12 * np.abs(B).max()
    res0 = np.asarray(shielding.active_nulling_residual(pts, B, order=0))
    lsq = B - B.mean(axis=0)  # least-squares uniform fit is the mean
    np.testing.assert_allclose(res0, lsq, atol=1e-20)
    # a 1 % coil calibration error leaves 1 % (40 dB, Holmes et al. 2019)
    res = np.asarray(shielding.active_nulling_residual(pts, B, order=1, gain_error=0.01))
    np.testing.assert_allclose(res, 0.01 * B, rtol=1e-9, atol=1e-22)
    # an active loop with gain 99 at DC gives 40 dB
    assert float(shielding.active_compensation_factor(0.0, 99.0, 1.0)) == pytest.approx(100)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: shielding.spherical_shell_shielding_factor(-5.0, 0.9, 1.0), "mu_r"),
        (lambda: shielding.spherical_shell_shielding_factor(1e4, 1.0, 1.0), "r_inner"),
        (lambda: shielding.cylindrical_shell_shielding_factor(1e4, 1.2, 1.0), "r_inner"),
        (lambda: shielding.spherical_shell_shielding_factor(np.nan, 0.9, 1.0), "mu_r"),
        (lambda: shielding.slab_thermal_noise(-1.0, 1e-3, 0.1, 293), "sigma"),
        (lambda: shielding.slab_thermal_noise(3.7e7, -1e-3, 0.1, 293), "thickness"),
        (lambda: shielding.slab_thermal_noise(3.7e7, 1e-3, -0.1, 293), "distance"),
        (lambda: shielding.slab_thermal_noise(3.7e7, 1e-3, 0.1, -3.0), "temperature"),
        (lambda: shielding.disc_thermal_noise(3.7e7, 1e-3, 0.1, 0.0, 293), "radius"),
        (lambda: shielding.spherical_shell_thermal_noise(3.7e7, 1e-3, 1.0, np.inf), "temperature"),
        (lambda: shielding.cylinder_thermal_noise(3.7e7, 1e-3, 1.0, 293, "radial"), "component"),
        (lambda: shielding.skin_depth(0.0, 3.7e7), "freq"),
        (lambda: shielding.skin_depth(-1.0, 3.7e7), "freq"),
        (lambda: shielding.thin_shell_transfer(1.0, 1e4, -1.0, 1.0, 1e-3), "sigma"),
        (lambda: shielding.nested_shielding_factor([10, 10], [2.0, 1.0]), "radii"),
        (lambda: shielding.remnant_field(np.zeros((2, 3)), np.zeros(3), np.eye(3)), "traceless"),
        (lambda: shielding.nulling_basis(np.zeros((2, 3)), order=2), "order"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
