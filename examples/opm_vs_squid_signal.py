"""Signal power of on-scalp OPMs against SQUID magnetometers on the fsaverage BEM head.

For cortical dipoles normal to the fsaverage5 white surface (ico-4, 5124 sources), the
mean squared lead field per channel of 102 point OPMs 6.5 mm off the scalp (radial or
tangential) is compared with the 102 magnetometers of a Neuromag helmet seated 20 mm
from the scalp at its closest. Iivanainen et al. 2017 (NeuroImage 147:542-553) report 7.5x
(radial) and 5.3x (tangential) with their head model and distances; the ratios depend
on coverage and standoffs, so expect the same order, not the same digits.

    python examples/opm_vs_squid_signal.py
"""

import numpy as np

import qsense as qs


def mean_power(array, head, src):
    lf = qs.leadfield(array, head, src).values
    gain = np.einsum("csk,sk->cs", lf, src.normals)  # dipoles along the cortical normal
    return float(np.mean(gain**2))


def main(spacing="ico4"):
    head = qs.Head.fsaverage()
    src = qs.sources.cortex(head, spacing)
    squid = qs.arrays.neuromag306(head)
    mags = squid.pick(~squid.is_gradiometer)
    ref = mean_power(mags, head, src)
    gap = head.scalp_distance(mags.positions)
    print(f"{len(src)} cortical sources; SQUID magnetometer-scalp distance "
          f"{gap.min() * 1e3:.0f}-{gap.max() * 1e3:.0f} mm (mean {gap.mean() * 1e3:.0f})")
    out = {}
    for axes in ("radial", "tangential"):
        opm = qs.arrays.opm_on_scalp(head, 102, axes, sensor="point")
        out[axes] = mean_power(opm, head, src) / ref
        print(f"{axes:10s} OPM / SQUID magnetometer signal power: {out[axes]:.1f}x")
    return out


if __name__ == "__main__":
    main()
