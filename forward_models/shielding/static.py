"""Static magnetic shielding by permeable shells: spheres, cylinders, cubes, nested layers.

Static shell shielding (spheres, infinite cylinders in a transverse field) and the
nested-shell product with gap corrections: Sumner, Pendlebury & Smith 1987 (J. Phys. D
20:1095, "Convectional magnetic shielding").

Pure functions of arrays in SI units; broadcast over leading axes, jit-able; argument
checks run only on concrete (non-traced) inputs. Also the checks the other shielding
modules share.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    as_numeric,
    check_broadcast,
    check_finite,
    check_option,
    check_real,
    is_concrete,
    shaped,
)

__all__ = [
    "spherical_shell_shielding_factor",
    "cylindrical_shell_shielding_factor",
    "cubic_shell_shielding_factor",
    "cubic_equivalent_radius",
    "nested_shielding_factor",
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
    check_broadcast(names, r_inner, r_outer)
    if is_concrete(r_inner) and is_concrete(r_outer):
        if np.any(np.asarray(r_inner) >= np.asarray(r_outer)):
            raise ValueError(
                f"{names[0]} must be smaller than {names[1]}, got {names[0]}={r_inner!r}, "
                f"{names[1]}={r_outer!r}"
            )


def _check_geometry(geometry):
    check_option("geometry", geometry, _SHELL_N,
                 "geometry must be 'sphere' or 'cylinder', got {value!r}")


def _check_thin(thickness, radius, names=("thickness", "radius")):
    """A wall thinner than its radius (the thin-shell formulas need t << R)."""
    check_broadcast(names, thickness, radius)
    if is_concrete(thickness) and is_concrete(radius):
        t, r = np.broadcast_arrays(np.asarray(thickness, float), np.asarray(radius, float))
        if np.any(t >= r):
            i = np.argmax(t >= r)
            raise ValueError(
                f"{names[0]} must be smaller than {names[1]} (a thin shell, t << R); got "
                f"{names[0]}={float(t.ravel()[i])!r} m for {names[1]}="
                f"{float(r.ravel()[i])!r} m")


def _check_layers(radii, factors_or_count, name="factors"):
    """Radii (..., n_layers): positive, finite, non-decreasing, one per layer of
    ``factors_or_count`` (an array whose last axis is the layers)."""
    check_real("radii", radii)
    if np.ndim(radii) == 0:
        raise ValueError(f"radii must have shape (..., n_layers), got a scalar {radii!r}")
    n = np.shape(factors_or_count)[-1] if np.ndim(factors_or_count) else None
    if n != np.shape(radii)[-1]:
        raise ValueError(f"radii must give one radius per layer of {name}: got "
                         f"{np.shape(radii)[-1]} radii for {name} of shape "
                         f"{np.shape(factors_or_count)}")
    check_broadcast(("radii", name), shaped(np.shape(radii)[:-1]),
                    shaped(np.shape(factors_or_count)[:-1]))
    if is_concrete(radii):
        r = np.asarray(radii, dtype=float)
        if np.any(np.diff(r, axis=-1) < 0):
            raise ValueError(f"radii must be non-decreasing (innermost first), got {radii!r}")


# ------------------------------------------------------------------ static shielding
def spherical_shell_shielding_factor(mu_r, r_inner, r_outer):
    """Static shielding factor of a spherical shell in a uniform field.

    ``S = ((2 mu + 1)(mu + 2) - 2 (a/b)**3 (mu - 1)**2) / (9 mu)``, exact for a linear
    shell (Sumner, Pendlebury & Smith 1987, J. Phys. D 20:1095).

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
    1987).  Axial shielding of finite cylinders is not modelled.

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
    1987); keeping the ``1 + s_in + s_i+1`` terms makes it
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
    if is_concrete(factors):
        as_numeric("factors", factors, "iufc")
        check_finite("factors", np.abs(np.asarray(factors)))
    if np.ndim(factors) == 0:
        raise ValueError(f"factors must have shape (..., n_layers), got a scalar {factors!r}")
    _check_layers(radii, factors)
    factors = jnp.asarray(factors)
    radii = jnp.asarray(radii, dtype=float)
    k = _GAP_EXPONENT[geometry]
    s_in = factors[..., 0] - 1.0
    for i in range(1, factors.shape[-1]):
        s_i = factors[..., i] - 1.0
        gap = 1.0 - (radii[..., i - 1] / radii[..., i]) ** k
        s_in = s_in + s_i + s_in * s_i * gap
    return 1.0 + s_in
