"""Magnetic shielding, conductor thermal noise, remnant fields and active nulling.

Pure functions of arrays in SI units (tesla, metres, siemens per metre, kelvin, hertz).
Everything broadcasts over leading axes and is jit-able; argument checks run only on
concrete (non-traced) inputs.

Equations and sources
---------------------
Static shell shielding (spheres, infinite cylinders in a transverse field) and the
nested-shell product with gap corrections: Sumner, Pendlebury & Smith 1987 (J. Phys. D
20:1095, "Convectional magnetic shielding"); the same expressions are collected in
qsense's PHYSICS.md section 4.

Frequency dependence of a thin conducting (and permeable) shell: the quasi-static
transmission-line form of the shell problem,
``S = cosh(k t) + (1/n) (k R / mu_r + (n - 1) mu_r / (k R)) sinh(k t)``,
``k = (1 + j) / delta``, ``delta = sqrt(2 / (omega mu0 mu_r sigma))``, ``n = 3`` for a
sphere and ``n = 2`` for a cylinder (Kelha et al. 1982, IEEE Trans. Magn. 18:260;
Hoburg 1995, IEEE Trans. EMC 37:574).  Its limits are the static thin-shell factor
``1 + (n - 1) mu_r t / (n R)`` and the eddy-current factor
``|1 + j omega mu0 sigma R t / n|`` of PHYSICS.md; the tests compare it with a direct
numerical solution of the radial field equation.

Thermal (Johnson) noise of conductors in the low-frequency limit (thickness much
smaller than the skin depth): Varpula & Poutanen 1984 (J. Appl. Phys. 55:4015) for
the slab; Nenonen, Montonen & Katila 1996 (Rev. Sci. Instrum. 67:2397) for the
finite disc; Lee & Romalis 2008 (J. Appl. Phys. 103:084904) for the thin spherical
and infinitely long cylindrical shells.  All follow from the fluctuation-dissipation
theorem, S_B = 4 kB T sigma * integral |G|^2 dV with G the Biot-Savart kernel; the
tests evaluate that integral numerically.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_real, is_concrete
from forward_models.constants import KB, MU0

__all__ = [
    "spherical_shell_shielding_factor",
    "cylindrical_shell_shielding_factor",
    "cubic_shell_shielding_factor",
    "cubic_equivalent_radius",
    "nested_shielding_factor",
    "skin_depth",
    "eddy_current_factor",
    "thin_shell_transfer",
    "multilayer_shielding_factor",
    "slab_thermal_noise",
    "disc_thermal_noise",
    "spherical_shell_thermal_noise",
    "cylinder_thermal_noise",
    "remnant_field",
    "gradient_basis",
    "nulling_basis",
    "active_nulling_fit",
    "active_nulling_residual",
    "active_compensation_factor",
]

_GAP_EXPONENT = {"sphere": 3, "cylinder": 2}
_SHELL_N = {"sphere": 3, "cylinder": 2}


# ----------------------------------------------------------------------------- checks
def _check_mu(mu_r):
    check_real("mu_r", mu_r)
    if is_concrete(mu_r) and np.any(np.asarray(mu_r) < 1):
        raise ValueError(
            f"mu_r (relative permeability) must be >= 1 for a shielding material, got {mu_r!r}"
        )


def _check_radii(r_inner, r_outer, names=("r_inner", "r_outer")):
    check_real(names[0], r_inner)
    check_real(names[1], r_outer)
    if is_concrete(r_inner) and is_concrete(r_outer):
        if np.any(np.asarray(r_inner) >= np.asarray(r_outer)):
            raise ValueError(
                f"{names[0]} must be smaller than {names[1]}, got {names[0]}={r_inner!r}, "
                f"{names[1]}={r_outer!r}"
            )


def _check_geometry(geometry):
    if geometry not in _SHELL_N:
        raise ValueError(f"geometry must be 'sphere' or 'cylinder', got {geometry!r}")


# ------------------------------------------------------------------ static shielding
def spherical_shell_shielding_factor(mu_r, r_inner, r_outer):
    """Static shielding factor of a spherical shell in a uniform field.

    ``S = ((2 mu + 1)(mu + 2) - 2 (a/b)**3 (mu - 1)**2) / (9 mu)``, exact for a linear
    shell (Sumner, Pendlebury & Smith 1987; PHYSICS.md section 4).

    Parameters
    ----------
    mu_r : array_like
        Relative permeability (>= 1), dimensionless.
    r_inner, r_outer : array_like
        Inner and outer radii a < b, m.

    Returns
    -------
    S : jax.Array
        B_outside / B_inside, dimensionless, broadcast shape of the inputs.
    """
    _check_mu(mu_r)
    _check_radii(r_inner, r_outer)
    mu = jnp.asarray(mu_r, dtype=float)
    ratio3 = (jnp.asarray(r_inner, dtype=float) / jnp.asarray(r_outer, dtype=float)) ** 3
    return ((2 * mu + 1) * (mu + 2) - 2 * ratio3 * (mu - 1) ** 2) / (9 * mu)


def cylindrical_shell_shielding_factor(mu_r, r_inner, r_outer):
    """Static transverse shielding factor of an infinitely long cylindrical shell.

    ``S = ((mu + 1)**2 - (a/b)**2 (mu - 1)**2) / (4 mu)`` (Sumner, Pendlebury & Smith
    1987; PHYSICS.md section 4).  Axial shielding of finite cylinders is not modelled.

    Parameters
    ----------
    mu_r : array_like
        Relative permeability (>= 1).
    r_inner, r_outer : array_like
        Inner and outer radii a < b, m.

    Returns
    -------
    S : jax.Array
        Dimensionless transverse shielding factor.
    """
    _check_mu(mu_r)
    _check_radii(r_inner, r_outer)
    mu = jnp.asarray(mu_r, dtype=float)
    ratio2 = (jnp.asarray(r_inner, dtype=float) / jnp.asarray(r_outer, dtype=float)) ** 2
    return ((mu + 1) ** 2 - ratio2 * (mu - 1) ** 2) / (4 * mu)


def cubic_equivalent_radius(side, factor=0.5):
    """Radius of the sphere that stands in for a cube of edge ``side``.

    Equivalent-sphere approximation for cubic shields (the approach used for room
    design since Sumner, Pendlebury & Smith 1987): a cubic shell of edge L is treated
    as a spherical shell of radius ``factor * L``.  The default factor 0.5 (inscribed
    sphere) is an *assumption*; finite-element studies of cubic rooms place the
    effective radius between the inscribed (0.5 L) and the equal-volume
    (0.62 L) sphere, so pass ``factor`` to move it.

    Parameters
    ----------
    side : array_like
        Edge length of the cube, m.
    factor : float
        Equivalent radius over edge length, dimensionless, in (0, 1).

    Returns
    -------
    R : jax.Array
        Equivalent sphere radius, m.
    """
    check_real("side", side)
    check_real("factor", factor)
    if is_concrete(factor) and np.any(np.asarray(factor) >= 1):
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    return factor * jnp.asarray(side, dtype=float)


def cubic_shell_shielding_factor(mu_r, side, thickness, factor=0.5):
    """Approximate static shielding factor of a cubic shell (equivalent sphere).

    The cube of inner edge ``side`` and wall ``thickness`` is replaced by a spherical
    shell of inner radius ``factor * side`` and the same wall thickness (see
    :func:`cubic_equivalent_radius`, an approximation), and
    :func:`spherical_shell_shielding_factor` is applied.

    Parameters
    ----------
    mu_r : array_like
        Relative permeability (>= 1).
    side : array_like
        Inner edge length, m.
    thickness : array_like
        Wall thickness, m.
    factor : float
        Equivalent radius over edge length (default 0.5, assumption).

    Returns
    -------
    S : jax.Array
        Dimensionless shielding factor.
    """
    check_real("thickness", thickness)
    r_in = cubic_equivalent_radius(side, factor)
    return spherical_shell_shielding_factor(mu_r, r_in, r_in + thickness)


def nested_shielding_factor(factors, radii, geometry="sphere"):
    """Shielding factor of nested shells from the single-shell factors.

    Shells are added from the inside out with
    ``S_(1..i+1) = 1 + s_in + s_i+1 + s_in s_i+1 (1 - (R_i / R_{i+1})**k)``, where
    ``s = S - 1`` and k = 3 (spheres) or 2 (cylinders).  For S_i >> 1 this is the
    familiar product with gap corrections,
    ``S_tot = S_n prod_{i<n} S_i (1 - (R_i / R_{i+1})**k)`` (Sumner, Pendlebury & Smith
    1987; PHYSICS.md section 4); keeping the ``1 + s_in + s_i+1`` terms makes it
    correct also for weak layers (a conductor at low frequency, S ~ 1) and for touching
    shells, where thin-shell factors add.

    Parameters
    ----------
    factors : array_like, shape (..., n_layers)
        Single-shell shielding factors, innermost first (may be complex transfer
        factors; the magnitude is the shielding).
    radii : array_like, shape (..., n_layers)
        Mean radius of each shell, m, non-decreasing.
    geometry : {"sphere", "cylinder"}

    Returns
    -------
    S : jax.Array, shape (...)
        Total shielding factor (complex if the inputs are).
    """
    _check_geometry(geometry)
    check_real("radii", radii)
    if is_concrete(radii):
        r = np.asarray(radii, dtype=float)
        if r.ndim == 0 or np.any(np.diff(r, axis=-1) < 0):
            raise ValueError(f"radii must be non-decreasing (innermost first), got {radii!r}")
    factors = jnp.asarray(factors)
    radii = jnp.asarray(radii, dtype=float)
    k = _GAP_EXPONENT[geometry]
    s_in = factors[..., 0] - 1.0
    for i in range(1, factors.shape[-1]):
        s_i = factors[..., i] - 1.0
        gap = 1.0 - (radii[..., i - 1] / radii[..., i]) ** k
        s_in = s_in + s_i + s_in * s_i * gap
    return 1.0 + s_in


# --------------------------------------------------------------- dynamic shielding
def skin_depth(freq, sigma, mu_r=1.0):
    """Electromagnetic skin depth ``delta = sqrt(2 / (omega mu0 mu_r sigma))``.

    Parameters
    ----------
    freq : array_like
        Frequency, Hz (> 0).
    sigma : array_like
        Conductivity, S/m (> 0).
    mu_r : array_like
        Relative permeability (>= 1).

    Returns
    -------
    delta : jax.Array
        Skin depth, m.
    """
    check_real("freq", freq)
    check_real("sigma", sigma)
    _check_mu(mu_r)
    omega = 2 * jnp.pi * jnp.asarray(freq, dtype=float)
    return jnp.sqrt(2.0 / (omega * MU0 * jnp.asarray(mu_r, dtype=float) * sigma))


def eddy_current_factor(freq, sigma, radius, thickness, geometry="sphere"):
    """Eddy-current shielding of a thin non-magnetic conducting shell.

    ``|1 + j omega mu0 sigma R t / n|``, n = 3 (sphere) or 2 (cylinder), valid while
    t << skin depth (PHYSICS.md section 4; Kelha et al. 1982).

    Parameters
    ----------
    freq : array_like
        Frequency, Hz (>= 0; 0 gives 1).
    sigma : array_like
        Conductivity, S/m (>= 0).
    radius, thickness : array_like
        Shell radius and wall thickness, m (> 0).
    geometry : {"sphere", "cylinder"}

    Returns
    -------
    S : jax.Array
        Dimensionless shielding factor.
    """
    _check_geometry(geometry)
    check_real("freq", freq, allow_zero=True)
    check_real("sigma", sigma, allow_zero=True)
    check_real("radius", radius)
    check_real("thickness", thickness)
    n = _SHELL_N[geometry]
    x = 2 * jnp.pi * jnp.asarray(freq, dtype=float) * MU0 * sigma * radius * thickness / n
    return jnp.sqrt(1.0 + x**2)


def thin_shell_transfer(freq, mu_r, sigma, radius, thickness, geometry="sphere"):
    """Complex shielding factor of one conducting, permeable shell of radius >> thickness.

    ``S = cosh(k t) + (1/n) (k R / mu_r + (n - 1) mu_r / (k R)) sinh(k t)`` with
    ``k = (1 + j) / delta`` (Kelha et al. 1982; Hoburg 1995).  At zero frequency it
    reduces to ``1 + (n - 1) mu_r t / (n R)``; for mu_r = 1 and t << delta to
    ``1 + j omega mu0 sigma R t / n``.

    Parameters
    ----------
    freq : array_like
        Frequency, Hz (>= 0).
    mu_r : array_like
        Relative permeability (>= 1).
    sigma : array_like
        Conductivity, S/m (>= 0).
    radius : array_like
        Mean shell radius, m.
    thickness : array_like
        Wall thickness, m.
    geometry : {"sphere", "cylinder"}

    Returns
    -------
    S : jax.Array, complex
        B_outside / B_inside; ``abs(S)`` is the shielding factor.
    """
    _check_geometry(geometry)
    check_real("freq", freq, allow_zero=True)
    _check_mu(mu_r)
    check_real("sigma", sigma, allow_zero=True)
    check_real("radius", radius)
    check_real("thickness", thickness)
    n = _SHELL_N[geometry]
    f = jnp.asarray(freq, dtype=float)
    mu = jnp.asarray(mu_r, dtype=float)
    R = jnp.asarray(radius, dtype=float)
    t = jnp.asarray(thickness, dtype=float)
    k = jnp.sqrt(1j * 2 * jnp.pi * f * MU0 * mu * sigma + 0j)
    kt = k * t
    # sinh(kt)/k, finite at k = 0 (series below |kt| < 1e-4)
    small = jnp.abs(kt) < 1e-4
    kt_safe = jnp.where(small, 1.0, kt)
    sinhc = jnp.where(small, t * (1 + kt**2 / 6), jnp.sinh(kt_safe) / jnp.where(small, 1.0, k))
    return jnp.cosh(kt) + (k**2 * R / mu * sinhc + (n - 1) * mu / R * sinhc) / n


def multilayer_shielding_factor(freq, mu_r, sigma, radii, thicknesses, geometry="sphere"):
    """Shielding factor of nested conducting/permeable shells versus frequency.

    Each layer's complex :func:`thin_shell_transfer` is combined by
    :func:`nested_shielding_factor` (product with gap corrections).  At frequencies
    where layers are decoupled by eddy currents this approximation is conservative.

    Parameters
    ----------
    freq : array_like, shape (n_freq,)
        Frequencies, Hz (>= 0).
    mu_r, sigma, radii, thicknesses : array_like, shape (n_layers,)
        Per layer, innermost first: relative permeability, conductivity (S/m), mean
        radius (m, strictly increasing) and thickness (m).
    geometry : {"sphere", "cylinder"}

    Returns
    -------
    S : jax.Array, shape (n_freq,)
        Magnitude of the total shielding factor, dimensionless.
    """
    f = jnp.atleast_1d(jnp.asarray(freq, dtype=float))[:, None]
    layers = thin_shell_transfer(
        f,
        jnp.asarray(mu_r, dtype=float)[None, :],
        jnp.asarray(sigma, dtype=float)[None, :],
        jnp.asarray(radii, dtype=float)[None, :],
        jnp.asarray(thicknesses, dtype=float)[None, :],
        geometry,
    )
    check_real("radii", radii)
    return jnp.abs(nested_shielding_factor(layers, jnp.asarray(radii, dtype=float)[None, :],
                                           geometry))


# ------------------------------------------------------------------ thermal noise
def _check_thermal(sigma, thickness, temperature):
    check_real("sigma", sigma)
    check_real("thickness", thickness)
    check_real("temperature", temperature)


def slab_thermal_noise(sigma, thickness, distance, temperature):
    """Johnson-noise field of an infinite conducting slab (normal component).

    ``B = mu0 sqrt(kB T sigma t / (8 pi z (z + t)))`` (Varpula & Poutanen 1984, J. Appl.
    Phys. 55:4015), low-frequency limit (t << skin depth).

    Parameters
    ----------
    sigma : array_like
        Conductivity, S/m (> 0).
    thickness : array_like
        Slab thickness t, m (> 0).
    distance : array_like
        Distance z from the near surface, m (> 0).
    temperature : array_like
        Temperature, K (> 0).

    Returns
    -------
    B : jax.Array
        Amplitude spectral density, T/sqrt(Hz) (one-sided).
    """
    _check_thermal(sigma, thickness, temperature)
    check_real("distance", distance)
    z = jnp.asarray(distance, dtype=float)
    return MU0 * jnp.sqrt(KB * temperature * sigma * thickness / (8 * jnp.pi * z * (z + thickness)))


def disc_thermal_noise(sigma, thickness, distance, radius, temperature):
    """Johnson-noise field on the axis of a thin conducting disc (normal component).

    ``B = mu0 sqrt(sigma t kB T / (8 pi z**2)) / (1 + z**2 / r**2)`` (thin-disc result,
    Nenonen, Montonen & Katila 1996, Rev. Sci. Instrum. 67:2397; PHYSICS.md section 4).
    Tends to the thin-slab value as r -> infinity.

    Parameters
    ----------
    sigma : array_like
        Conductivity, S/m.
    thickness : array_like
        Disc thickness t << z, m.
    distance : array_like
        Distance z from the disc on its axis, m.
    radius : array_like
        Disc radius r, m.
    temperature : array_like
        Temperature, K.

    Returns
    -------
    B : jax.Array
        Amplitude spectral density, T/sqrt(Hz).
    """
    _check_thermal(sigma, thickness, temperature)
    check_real("distance", distance)
    check_real("radius", radius)
    z = jnp.asarray(distance, dtype=float)
    return MU0 * jnp.sqrt(sigma * thickness * KB * temperature / (8 * jnp.pi * z**2)) / (
        1 + z**2 / jnp.asarray(radius, dtype=float) ** 2
    )


def spherical_shell_thermal_noise(sigma, thickness, radius, temperature):
    """Johnson-noise field at the centre of a thin conducting spherical shell.

    ``B = mu0 sqrt(2 sigma t kB T / (3 pi R**2))``, each Cartesian component (Lee &
    Romalis 2008, J. Appl. Phys. 103:084904; PHYSICS.md section 4).  Check value:
    R = 1 m, t = 1 mm, sigma = 3.7e7 S/m, T = 293 K gives 7.08 fT/sqrt(Hz).

    Parameters
    ----------
    sigma : array_like
        Conductivity, S/m.
    thickness : array_like
        Shell thickness t << R, m.
    radius : array_like
        Shell radius R, m.
    temperature : array_like
        Temperature, K.

    Returns
    -------
    B : jax.Array
        Amplitude spectral density, T/sqrt(Hz).
    """
    _check_thermal(sigma, thickness, temperature)
    check_real("radius", radius)
    R = jnp.asarray(radius, dtype=float)
    return MU0 * jnp.sqrt(2 * sigma * thickness * KB * temperature / (3 * jnp.pi * R**2))


def cylinder_thermal_noise(sigma, thickness, radius, temperature, component="transverse"):
    """Johnson-noise field on the axis of an infinitely long thin conducting cylinder.

    Transverse component ``B = mu0 sqrt(kB T sigma t / 8) / R``; axial component
    ``B = mu0 sqrt(3 kB T sigma t / 16) / R`` (Lee & Romalis 2008, J. Appl. Phys.
    103:084904, infinitely long cylinder, low-frequency limit).

    Parameters
    ----------
    sigma : array_like
        Conductivity, S/m.
    thickness : array_like
        Wall thickness t << R, m.
    radius : array_like
        Cylinder radius R, m.
    temperature : array_like
        Temperature, K.
    component : {"transverse", "axial"}

    Returns
    -------
    B : jax.Array
        Amplitude spectral density, T/sqrt(Hz).
    """
    _check_thermal(sigma, thickness, temperature)
    check_real("radius", radius)
    coeff = {"transverse": 1.0 / 8.0, "axial": 3.0 / 16.0}
    if component not in coeff:
        raise ValueError(f"component must be 'transverse' or 'axial', got {component!r}")
    R = jnp.asarray(radius, dtype=float)
    return MU0 * jnp.sqrt(coeff[component] * KB * temperature * sigma * thickness) / R


# ------------------------------------------------- remnant field, active nulling
def gradient_basis():
    """The five symmetric, traceless 3x3 matrices spanning curl- and divergence-free
    first-order gradients (a source-free field has dB_i/dx_j symmetric and traceless).

    Returns
    -------
    G : jax.Array, shape (5, 3, 3)
        Unit-norm basis tensors (1/m per unit coefficient).
    """
    g = np.zeros((5, 3, 3))
    g[0, 0, 1] = g[0, 1, 0] = 1
    g[1, 0, 2] = g[1, 2, 0] = 1
    g[2, 1, 2] = g[2, 2, 1] = 1
    g[3, 0, 0], g[3, 2, 2] = 1, -1
    g[4, 1, 1], g[4, 2, 2] = 1, -1
    g /= np.sqrt(np.sum(g**2, axis=(1, 2)))[:, None, None]
    return jnp.asarray(g)


def remnant_field(positions, b0, gradient, centre=(0.0, 0.0, 0.0)):
    """Remnant field inside a shielded room to first order: ``B(r) = B0 + G (r - c)``.

    Parameters
    ----------
    positions : array_like, shape (..., 3)
        Field points, m.
    b0 : array_like, shape (3,)
        Field at the room centre, T.
    gradient : array_like, shape (3, 3)
        dB_i/dx_j, T/m; must be symmetric and traceless (Maxwell's equations in a
        source-free region), checked to 1e-9 relative.
    centre : array_like, shape (3,)
        Expansion point c, m.

    Returns
    -------
    B : jax.Array, shape (..., 3)
        Field, T.
    """
    check_real("positions", positions, positive=False)
    check_real("b0", b0, positive=False)
    check_real("gradient", gradient, positive=False)
    if is_concrete(gradient):
        g = np.asarray(gradient, dtype=float)
        if g.shape != (3, 3):
            raise ValueError(f"gradient must have shape (3, 3), got {g.shape}")
        scale = max(np.abs(g).max(), 1e-300)
        if np.abs(g - g.T).max() > 1e-9 * scale or abs(np.trace(g)) > 1e-9 * scale:
            raise ValueError(
                "gradient must be symmetric and traceless (curl-free, divergence-free "
                f"field), got {g.tolist()!r}"
            )
    r = jnp.asarray(positions, dtype=float) - jnp.asarray(centre, dtype=float)
    return jnp.asarray(b0, dtype=float) + r @ jnp.asarray(gradient, dtype=float).T


def nulling_basis(positions, order=1):
    """Fields of ideal nulling coils at ``positions``: 3 uniform (+5 gradient) terms.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Field points, m, relative to the coil-system centre.
    order : {0, 1}
        0: uniform terms only (3 coils); 1: uniform plus first-order gradients (8).

    Returns
    -------
    basis : jax.Array, shape (n, 3, n_terms)
        Field per unit coefficient (T per T for uniform, T per T/m for gradients).
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1, got {order!r}")
    r = jnp.asarray(positions, dtype=float)
    n = r.shape[0]
    uni = jnp.broadcast_to(jnp.eye(3)[None], (n, 3, 3))
    if order == 0:
        return uni
    grad = jnp.einsum("kij,nj->nik", gradient_basis(), r)
    return jnp.concatenate([uni, grad], axis=-1)


def active_nulling_fit(positions, fields, order=1):
    """Least-squares coil coefficients that cancel measured fields.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Reference sensor positions, m.
    fields : array_like, shape (n, 3)
        Measured field vectors there, T.
    order : {0, 1}

    Returns
    -------
    coeffs : jax.Array, shape (n_terms,)
        Coefficients of :func:`nulling_basis` reproducing the fields (the coils are
        driven with minus these).
    """
    check_real("fields", fields, positive=False)
    A = nulling_basis(positions, order).reshape(-1, 3 if order == 0 else 8)
    b = jnp.asarray(fields, dtype=float).reshape(-1)
    coeffs, *_ = jnp.linalg.lstsq(A, b, rcond=None)
    return coeffs


def active_nulling_residual(positions, fields, fit_positions=None, fit_fields=None, order=1,
                            gain_error=0.0):
    """Field left after nulling coils driven from a least-squares fit.

    ``B_res = B - (1 - gain_error) * basis @ coeffs``: the uniform and first-order
    gradient parts are removed up to the relative coil calibration error
    ``gain_error`` (assumption, e.g. 0.01 for 40 dB as reported for bi-planar coils by
    Holmes et al. 2019); higher-order parts of the field remain.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Points where the residual is wanted, m.
    fields : array_like, shape (n, 3)
        Field before nulling there, T.
    fit_positions, fit_fields : array_like, shape (m, 3), optional
        Reference points and fields used for the fit (default: the same points).
    order : {0, 1}
    gain_error : float
        Relative calibration error of the coils, in [0, 1).

    Returns
    -------
    residual : jax.Array, shape (n, 3)
        Field after nulling, T.
    """
    check_real("gain_error", gain_error, allow_zero=True)
    if is_concrete(gain_error) and gain_error >= 1:
        raise ValueError(f"gain_error must be in [0, 1), got {gain_error!r}")
    if fit_positions is None:
        fit_positions, fit_fields = positions, fields
    coeffs = active_nulling_fit(fit_positions, fit_fields, order)
    applied = nulling_basis(positions, order) @ coeffs
    return jnp.asarray(fields, dtype=float) - (1.0 - gain_error) * applied


def active_compensation_factor(freq, loop_gain, bandwidth):
    """Extra shielding of a feedback (active) compensation loop.

    A feedback loop with DC gain ``G0`` and a single-pole roll-off at ``bandwidth``
    gives ``S_active = |1 + G0 / (1 + j f / f_c)|`` (standard feedback
    result; the gain and bandwidth are assumptions to calibrate against a room).

    Parameters
    ----------
    freq : array_like
        Frequency, Hz (>= 0).
    loop_gain : float
        DC loop gain G0 (>= 0), dimensionless.
    bandwidth : float
        Pole frequency f_c, Hz (> 0).

    Returns
    -------
    S : jax.Array
        Dimensionless extra shielding factor (>= 1 at low frequency).
    """
    check_real("freq", freq, allow_zero=True)
    check_real("loop_gain", loop_gain, allow_zero=True)
    check_real("bandwidth", bandwidth)
    f = jnp.asarray(freq, dtype=float)
    return jnp.abs(1.0 + loop_gain / (1.0 + 1j * f / bandwidth))
