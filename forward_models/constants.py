"""Physical constants of the kernels, each defined once, with its source.

SI units. Fundamental constants are CODATA 2018 values (Tiesinga, Mohr, Newell & Taylor
2021, Rev. Mod. Phys. 93:025010), exact where the 2019 revision of the SI fixes them
(BIPM, *The International System of Units*, 9th ed., 2019). Atomic and defect
constants give the paper they come from. The other kernel modules import from here and
re-export the names they have always exported (``forward_models.MU0``,
``forward_models.opm.GAMMA_E``, ``forward_models.nv.GAMMA_NV``, ...), so every import
path stays valid.
"""

from __future__ import annotations

import math

__all__ = [
    "MU0",
    "MU0_OVER_4PI",
    "KB",
    "PLANCK",
    "C_LIGHT",
    "GAMMA_E",
    "Q_MAX_87RB",
    "GAMMA_NV",
    "D_ZFS",
    "DD_DT",
    "HYPERFINE",
]

# ------------------------------------------------------------- fundamental constants
MU0 = 4e-7 * 3.141592653589793
"""Vacuum permeability mu0 = 4 pi 1e-7 T m / A (the pre-2019 exact value; the
2019 SI value differs by 5.5e-10 relative, far below every tolerance here, and MNE uses
this one)."""

MU0_OVER_4PI = MU0 / (4.0 * math.pi)
"""mu0 / (4 pi) = 1e-7 T m / A, the prefactor of the Biot-Savart law and of the dipole
fields (computed from :data:`MU0`, so it is the same float everywhere)."""

KB = 1.380649e-23
"""Boltzmann constant in J/K (exact, 2019 SI)."""

PLANCK = 6.62607015e-34
"""Planck constant h in J s (exact, 2019 SI)."""

C_LIGHT = 299792458.0
"""Speed of light in vacuum, m/s (exact, 2019 SI)."""

# ------------------------------------------------------------- alkali vapour (OPM)
GAMMA_E = 2.0 * math.pi * 28.0e9
"""Electron gyromagnetic ratio gamma_e = 2 pi x 28.0e9 rad/(s T) (free electron,
g = 2.0023): the CODATA 2018 value gamma_e / 2 pi = 28.024 951 4242 GHz/T rounded to
28.0 GHz/T, 0.09 % below it; kept rounded so that results do not change."""

Q_MAX_87RB = 6.0
"""Slowing-down factor of 87Rb at zero polarisation (I = 3/2: q = 2I(I+1)... reduces to
6 at P -> 0 and 4 at P -> 1; Savukov & Romalis 2005)."""

# ------------------------------------------------------------- NV centre in diamond
GAMMA_NV = 28.03e9
"""NV electron gyromagnetic ratio g mu_B / h in Hz/T (g = 2.003; Barry et al. 2020,
Rev. Mod. Phys. 92:015004). With the CODATA 2018 mu_B / h = 13.996 244 936 GHz/T,
g = 2.003 gives 28.034 GHz/T; the value is kept at four figures."""

D_ZFS = 2.870e9
"""Ground-state zero-field splitting D at room temperature, Hz (Acosta et al. 2010,
Phys. Rev. Lett. 104:070801; Doherty et al. 2013, Phys. Rep. 528:1)."""

DD_DT = -74.2e3
"""Temperature coefficient dD/dT near room temperature, Hz/K (Acosta et al. 2010)."""

HYPERFINE = {
    # isotope: (nuclear spin I, A_parallel in Hz)
    "14N": (1.0, -2.14e6),
    "15N": (0.5, 3.03e6),
}
"""Nitrogen hyperfine constants A_parallel (Felton et al. 2009, Phys. Rev. B 79:075203):
14N (I = 1) A_par = -2.14 MHz (A_perp = -2.70 MHz, quadrupole P = -5.01 MHz, both of
which drop out of the ms-changing, m_I-conserving ODMR lines in the secular
approximation); 15N (I = 1/2) A_par = +3.03 MHz (A_perp = +3.65 MHz)."""
