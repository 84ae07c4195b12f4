"""How precisely could any dipole fit place a source? OPMs on the scalp vs a SQUID helmet.

Cramer-Rao lower bound (``inverse.dipole_localisation_bound``) on the rms 3-D position
error of a single-dipole fit, for a 20 nAm tangential dipole at increasing depth under
the vertex and under the left temporal scalp of fsaverage (fitted-sphere conductor).
Arrays: 64 radial QuSpin Gen-2 OPMs 6.5 mm off the scalp; Neuromag 306 seated 20 mm
from the scalp. Noise: each preset's white floor over a 1 Hz noise bandwidth (half a
second of averaging: T seconds of white noise have an equivalent noise bandwidth of
1/(2T) for one-sided noise floors); the bound scales as the square root of the bandwidth and as
1/moment.

    python examples/dipole_localisation_bound.py
"""

import numpy as np

import qsense as qs
from inverse import dipole_localisation_bound

DEPTHS = (0.02, 0.03, 0.04, 0.05, 0.06)  # m below the conductor sphere's surface


def main():
    head = qs.Head.fsaverage(conductor="sphere")
    arrays = {"64 radial OPMs": qs.arrays.opm_on_scalp(head, 64, "radial"),
              "Neuromag 306": qs.arrays.neuromag306(head)}
    directions = {"vertex": np.array([0.0, 0.0, 1.0]),
                  "left temporal": np.array([-np.sqrt(0.5), 0.0, np.sqrt(0.5)])}
    print("rms position bound (mm), 20 nAm, 1 Hz noise bandwidth\n")
    print("| site | depth (mm) | " + " | ".join(arrays) + " | SQUID / OPM |")
    print("|---|---|" + "---|" * (len(arrays) + 1))
    for site, u in directions.items():
        pos = head.sphere_origin + np.outer(head.sphere_radius - np.array(DEPTHS), u)
        moment = np.cross(u, [0.0, 1.0, 0.0])
        moment = 20e-9 * moment / np.linalg.norm(moment)
        rms = {name: dipole_localisation_bound(a, head, pos, moment, bandwidth=1.0)["rms"]
               .values * 1e3 for name, a in arrays.items()}
        for i, depth in enumerate(DEPTHS):
            cells = [f"{rms[name][i]:.3f}" for name in arrays]
            ratio = rms["Neuromag 306"][i] / rms["64 radial OPMs"][i]
            print(f"| {site} | {depth * 1e3:.0f} | " + " | ".join(cells) + f" | {ratio:.1f} |")


if __name__ == "__main__":
    main()
