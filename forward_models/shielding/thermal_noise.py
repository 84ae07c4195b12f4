"""Thermal (Johnson) magnetic noise of conductors: slab, disc, spherical and cylindrical
shells.

Low-frequency limit (thickness much smaller than the skin depth): Varpula & Poutanen
1984 (J. Appl. Phys. 55:4015) for the slab; Nenonen, Montonen & Katila 1996 (Rev. Sci.
Instrum. 67:2397) for the finite disc; Lee & Romalis 2008 (J. Appl. Phys. 103:084904)
for the thin spherical and infinitely long cylindrical shells.  All follow from the
fluctuation-dissipation theorem, S_B = 4 kB T sigma * integral |G|^2 dV with G the
Biot-Savart kernel; the tests evaluate that integral numerically.

Pure functions of arrays in SI units; amplitude spectral densities in T/sqrt(Hz),
one-sided.
"""

from __future__ import annotations

import jax.numpy as jnp

from forward_models._checks import check_option, check_real
from forward_models.constants import KB, MU0
from forward_models.shielding.static import _check_thin

__all__ = [
    "slab_thermal_noise",
    "disc_thermal_noise",
    "spherical_shell_thermal_noise",
    "cylinder_thermal_noise",
]


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
    Nenonen, Montonen & Katila 1996, Rev. Sci. Instrum. 67:2397).
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
    Romalis 2008, J. Appl. Phys. 103:084904).  Check value:
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
    _check_thin(thickness, radius)
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
    _check_thin(thickness, radius)
    coeff = {"transverse": 1.0 / 8.0, "axial": 3.0 / 16.0}
    check_option("component", component, coeff,
                 "component must be 'transverse' or 'axial', got {value!r}")
    R = jnp.asarray(radius, dtype=float)
    return MU0 * jnp.sqrt(coeff[component] * KB * temperature * sigma * thickness) / R
