"""Frequency-dependent shielding by conducting (and permeable) shells: skin depth, eddy
currents, the complex transfer of a thin shell, nested layers versus frequency.

Frequency dependence of a thin conducting (and permeable) shell: the quasi-static
transmission-line form of the shell problem,
``S = cosh(k t) + (1/n) (k R / mu_r + (n - 1) mu_r / (k R)) sinh(k t)``,
``k = (1 + j) / delta``, ``delta = sqrt(2 / (omega mu0 mu_r sigma))``, ``n = 3`` for a
sphere and ``n = 2`` for a cylinder (Kelha et al. 1982, IEEE Trans. Magn. 18:260;
Hoburg 1995, IEEE Trans. EMC 37:574).  Its limits are the static thin-shell factor
``1 + (n - 1) mu_r t / (n R)`` and the eddy-current factor
``|1 + j omega mu0 sigma R t / n|`` (Kelha et al. 1982); the tests compare it with a direct
numerical solution of the radial field equation.

Pure functions of arrays in SI units (hertz, siemens per metre, metres); broadcast over
leading axes, jit-able.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_real, check_same_shape, is_concrete
from forward_models.constants import MU0
from forward_models.shielding.static import (
    _SHELL_N,
    _check_geometry,
    _check_layers,
    _check_mu,
    _check_thin,
    nested_shielding_factor,
)

__all__ = [
    "skin_depth",
    "eddy_current_factor",
    "thin_shell_transfer",
    "multilayer_shielding_factor",
]


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
    t << skin depth (Kelha et al. 1982, IEEE Trans. Magn. 18:260).

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
    _check_thin(thickness, radius)
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
    _check_thin(thickness, radius)
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

    Raises
    ------
    ValueError
        If the per-layer arrays are not all of one shape (n_layers,), the radii do not
        increase, a layer is not thinner than its radius or two layers overlap
        (``radii[i] + thicknesses[i] / 2 > radii[i + 1] - thicknesses[i + 1] / 2``).
    """
    _check_geometry(geometry)
    check_real("freq", freq, allow_zero=True)
    if np.ndim(freq) > 1:
        raise ValueError(f"freq must have shape (n_freq,), got {np.shape(freq)}")
    _check_mu(mu_r)
    check_real("sigma", sigma, allow_zero=True)
    check_real("thicknesses", thicknesses)
    check_same_shape(("mu_r", "sigma", "radii", "thicknesses"), mu_r, sigma, radii,
                     thicknesses, why="one entry per layer")
    if np.ndim(radii) != 1 or np.shape(radii)[0] < 1:
        raise ValueError(f"radii must have shape (n_layers,) with n_layers >= 1, got "
                         f"{np.shape(radii)}")
    _check_layers(radii, thicknesses, "thicknesses")
    _check_thin(thicknesses, radii, ("thicknesses", "radii"))
    if is_concrete(radii) and is_concrete(thicknesses):
        r, t = np.asarray(radii, float), np.asarray(thicknesses, float)
        if np.any(np.diff(r) <= 0):
            raise ValueError(f"radii must be strictly increasing (innermost first), got "
                             f"{radii!r}")
        gap = (r[1:] - t[1:] / 2) - (r[:-1] + t[:-1] / 2)
        if np.any(gap < 0):
            i = int(np.argmin(gap))
            raise ValueError(
                f"thicknesses make layers {i} and {i + 1} overlap: layer {i} ends at "
                f"{r[i] + t[i] / 2:g} m, layer {i + 1} starts at {r[i + 1] - t[i + 1] / 2:g} m "
                "(radii are mean radii)")
    f = jnp.atleast_1d(jnp.asarray(freq, dtype=float))[:, None]
    layers = thin_shell_transfer(
        f,
        jnp.asarray(mu_r, dtype=float)[None, :],
        jnp.asarray(sigma, dtype=float)[None, :],
        jnp.asarray(radii, dtype=float)[None, :],
        jnp.asarray(thicknesses, dtype=float)[None, :],
        geometry,
    )
    return jnp.abs(nested_shielding_factor(layers, jnp.asarray(radii, dtype=float)[None, :],
                                           geometry))
