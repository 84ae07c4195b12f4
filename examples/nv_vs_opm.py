"""Can NV do MEG yet? Signal and integration time for SNR 5: NV sensors vs an OPM.

MEG default source: a 20 nAm tangential cortical dipole 3 cm below the scalp of a
9 cm sphere head (Sarvas 1987 field, forward_models.conductors.sphere_dipole_field);
cortical evoked responses are 10-50 nAm (Hamalainen et al. 1993, Rev. Mod. Phys.
65:413).
MCG default source: a 10 uA m tangential cardiac dipole 5 cm below a flat chest
(half-space conductor, forward_models.currents.halfspace_dipole_field). The moment is
chosen so that the peak normal field at the skin is about 100 pT, the R-wave amplitude
"about one microgauss" of Baule & McFee 1965 (J. Appl. Phys. 36:2066); an assumption
derived from that figure, not a measured moment.

All sensors sit at the SAME standoff (the OPM's,
6.5 mm, cell centre to skin) so only the noise floor differs. The time to reach SNR 5
for a signal of amplitude s with white noise eta (T/sqrt(Hz)) is
t = (5 eta / s)**2 (averaging a constant signal; for evoked responses read it as the
number of 1-s epochs to average).

Run:  python examples/nv_vs_opm.py
"""

from __future__ import annotations

import numpy as np

import forward_models  # noqa: F401
from forward_models import conductors, currents
from qsense.nv import NV_PRESETS
from qsense.sensors import get_preset

SNR = 5.0


def meg_signal(standoff):
    radius, origin = 0.09, np.array([0.0, 0.0, 0.04])
    r0 = origin + np.array([0.0, 0.0, radius - 0.03])
    q = np.array([20e-9, 0.0, 0.0])
    # sensors on a 2-cm-spaced cap at the standoff; the peak radial field
    th = np.linspace(-0.6, 0.6, 61)
    dirs = np.stack([np.zeros_like(th), np.sin(th), np.cos(th)], -1)
    pts = origin + (radius + standoff) * dirs
    b = np.asarray(conductors.sphere_dipole_field(pts, r0, q, origin))
    return np.max(np.abs(np.sum(b * dirs, axis=1)))


def mcg_signal(standoff):
    r0 = np.array([0.0, 0.0, -0.05])
    q = np.array([10e-6, 0.0, 0.0])
    y = np.linspace(-0.15, 0.15, 301)
    pts = np.stack([np.zeros_like(y), y, np.full_like(y, standoff)], -1)
    b = np.asarray(currents.halfspace_dipole_field(pts, r0, q))
    return np.max(np.abs(b[:, 2]))


def fmt_t(t):
    if t < 1e-3:
        return f"{t * 1e6:9.2f} us"
    if t < 1:
        return f"{t * 1e3:9.2f} ms"
    if t < 3600:
        return f"{t:9.2f} s "
    if t < 86400 * 365:
        return f"{t / 3600:9.2f} h "
    return f"{t / 86400 / 365:9.2f} yr"


def main():
    opm = get_preset("quspin_gen2")
    standoff = opm.standoff
    sensors = [(opm.name, opm.noise_floor)] + [
        (p.name, p.noise_floor) for p in NV_PRESETS.values() if p.pixel_pitch == 0]
    for label, sig in (("MEG: 20 nAm, 3 cm deep, sphere head", meg_signal(standoff)),
                       ("MCG: 10 uA m, 5 cm deep, half-space torso", mcg_signal(standoff))):
        print(f"\n{label}; peak normal field at {standoff * 1e3:.1f} mm standoff: "
              f"{sig * 1e15:,.1f} fT")
        print(f"  {'sensor':<22}{'noise fT/rtHz':>14}{'SNR in 1 s':>12}{'time to SNR 5':>16}")
        for name, eta in sensors:
            snr1 = sig / eta
            print(f"  {name:<22}{eta * 1e15:14.1f}{snr1:12.3g}{fmt_t((SNR / snr1) ** 2):>16}")
    eta_needed = meg_signal(standoff) / SNR / np.sqrt(1.0)
    best = min(p.noise_floor for p in NV_PRESETS.values())
    print(f"\nFor SNR 5 within 1 s on the MEG source a sensor needs <= {eta_needed * 1e15:.0f} "
          f"fT/sqrt(Hz); the best NV figure ({best * 1e15:.0f} fT/sqrt(Hz), with flux "
          f"concentrators) is {best / eta_needed:.0f}x too noisy. NV can do MCG today; "
          "NV-MEG needs one to two orders of magnitude in sensitivity.")


if __name__ == "__main__":
    main()
