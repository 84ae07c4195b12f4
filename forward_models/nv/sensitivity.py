"""Shot-noise-limited sensitivity of NV-ensemble magnetometers (Barry et al. 2020).

CW-ODMR and Ramsey sensitivities, photon rates of a sensing volume and the
volume-normalised figure of merit, after Barry et al. 2020 (Rev. Mod. Phys. 92:015004).
Pure JAX, SI units (tesla, hertz, seconds, cubic metres), broadcasting.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from forward_models._checks import check_option
from forward_models.constants import GAMMA_NV
from forward_models.nv.hamiltonian import _check_gamma, _check_range

__all__ = [
    "LORENTZIAN_PREFACTOR",
    "cw_sensitivity",
    "photon_rate_from_volume",
    "volume_normalized_sensitivity",
    "ramsey_sensitivity",
]

# ---------------------------------------------------------------------------------------
# shot-noise-limited sensitivities (Barry et al. 2020)
# ---------------------------------------------------------------------------------------

LORENTZIAN_PREFACTOR = 4.0 / (3.0 * math.sqrt(3.0))
"""Lineshape factor P_F of the CW-ODMR sensitivity for a Lorentzian (Barry et al. 2020)."""


def cw_sensitivity(linewidth, contrast, photon_rate, gamma=GAMMA_NV):
    """Photon-shot-noise-limited CW-ODMR magnetic sensitivity, T/sqrt(Hz).

    Barry et al. 2020 (Rev. Mod. Phys. 92:015004), the photon-shot-noise-limited
    sensitivity of a Lorentzian line in their section on continuous-wave ODMR:

        eta_CW = 4 / (3 sqrt 3) * h / (g mu_B) * linewidth / (C sqrt(R)),

    with h / (g mu_B) = 1 / gamma. It follows from the maximum slope 3 sqrt(3) C /
    (4 linewidth) of a Lorentzian dip and the shot noise 1 / sqrt(R t) of a
    fluorescence measurement of duration t.

    Parameters
    ----------
    linewidth : float or array
        Full width at half maximum, Hz (> 0).
    contrast : float or array
        Line contrast in (0, 1].
    photon_rate : float or array
        Detected photon rate R, 1/s (> 0).
    gamma : float
        Gyromagnetic ratio, Hz/T.

    Returns
    -------
    eta in T/sqrt(Hz), broadcast shape.
    """
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    _check_range("contrast", contrast, lo=0.0, hi=1.0, lo_open=True)
    _check_range("photon_rate", photon_rate, lo=0.0, lo_open=True, what=" 1/s")
    _check_gamma(gamma)
    return LORENTZIAN_PREFACTOR * linewidth / (gamma * contrast * jnp.sqrt(photon_rate))


def photon_rate_from_volume(nv_density, volume, rate_per_nv):
    """Detected photon rate R = n_NV V r (1/s) of a sensing volume.

    Parameters
    ----------
    nv_density : float
        NV density, 1/m^3 (e.g. 1 ppm of diamond = 1.76e23 m^-3).
    volume : float
        Sensing volume, m^3.
    rate_per_nv : float
        Detected photons per second per NV (collection efficiency included).
    """
    for name, v in (("nv_density", nv_density), ("volume", volume),
                    ("rate_per_nv", rate_per_nv)):
        _check_range(name, v, lo=0.0, lo_open=True)
    return nv_density * volume * rate_per_nv


def volume_normalized_sensitivity(eta, volume):
    """Volume-normalised sensitivity eta sqrt(V), T m^1.5 / sqrt(Hz) (Barry et al. 2020)."""
    _check_range("eta", eta, lo=0.0, lo_open=True, what=" T/sqrt(Hz)")
    _check_range("volume", volume, lo=0.0, lo_open=True, what=" m^3")
    return eta * jnp.sqrt(volume)


def ramsey_sensitivity(t2star, tau, n_spins, contrast, photons_per_spin, t_overhead=0.0,
                       delta_ms=1, stretch=1.0, gamma=GAMMA_NV):
    """Shot-noise-limited Ramsey sensitivity of an NV ensemble, T/sqrt(Hz).

    Barry et al. 2020 (Rev. Mod. Phys. 92:015004), the ensemble Ramsey expression with
    readout fidelity sigma_R and overhead time t_O, from their section on Ramsey
    magnetometry:

        eta = hbar / (delta_ms g mu_B) * exp((tau/T2*)**p) / sqrt(N tau)
              * sigma_R * sqrt((tau + t_O) / tau),
        sigma_R = sqrt(1 + 1 / (C**2 n_avg)),

    with hbar / (g mu_B) = 1 / (2 pi gamma), t_O = t_I + t_R the initialisation plus
    readout time, C the measurement contrast and n_avg the detected photons per spin
    per readout. For t_O = 0 the optimum free precession time is tau = T2*/2.

    Parameters
    ----------
    t2star : float or array
        Inhomogeneous dephasing time T2*, s (> 0).
    tau : float or array
        Free precession time, s (> 0).
    n_spins : float or array
        Number of interrogated NV spins N (> 0).
    contrast : float or array
        Readout contrast C in (0, 1].
    photons_per_spin : float or array
        Detected photons per spin per readout n_avg (> 0).
    t_overhead : float
        t_I + t_R, s (>= 0).
    delta_ms : {1, 2}
        1 for single-quantum, 2 for double-quantum Ramsey.
    stretch : float
        Stretched-exponent p of the dephasing envelope (1 or 2 typically).
    gamma : float
        Hz/T.

    Returns
    -------
    eta in T/sqrt(Hz).
    """
    for name, v in (("t2star", t2star), ("tau", tau), ("n_spins", n_spins),
                    ("photons_per_spin", photons_per_spin)):
        _check_range(name, v, lo=0.0, lo_open=True)
    _check_range("contrast", contrast, lo=0.0, hi=1.0, lo_open=True)
    _check_range("t_overhead", t_overhead, lo=0.0, what=" s")
    _check_range("stretch", stretch, lo=0.0, lo_open=True)
    _check_gamma(gamma)
    check_option("delta_ms", delta_ms, (1, 2), "delta_ms must be 1 or 2; got {value!r}")
    tau = jnp.asarray(tau, float)
    sigma_r = jnp.sqrt(1.0 + 1.0 / (contrast**2 * photons_per_spin))
    return (jnp.exp((tau / t2star) ** stretch) / (2.0 * math.pi * gamma * delta_ms)
            / jnp.sqrt(n_spins * tau) * sigma_r * jnp.sqrt((tau + t_overhead) / tau))
