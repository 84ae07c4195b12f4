"""Draw your own results on the brain, offline: what 64 on-scalp OPMs see of each source.

For every source of an ico-3 cortex on fsaverage (1284 dipoles along the cortical normal,
fitted-sphere conductor) the signal-to-noise ratio of a 20 nAm dipole over a 1 Hz noise
bandwidth (half a second of averaging: T seconds of white noise have an equivalent noise
bandwidth of 1/(2T) for one-sided noise floors) at 64 radial QuSpin Gen-2 OPMs: the
whitened field norm ``sqrt(sum_c (b_c / sigma_c)^2)``. ``qsense.plot_brain_map`` draws it
on the inflated fsaverage5 cortex (lateral and medial views of both hemispheres) and the
figure is saved. The same function draws an ``mne.SourceEstimate`` on these sources, or a column of
``compare.nc`` (``ds["snr"].sel(array="opm")``).

    python examples/brain_map.py [figure.png]
"""

import sys

import numpy as np

import qsense as qs


def main(figure="brain_map.png"):
    head = qs.Head.fsaverage(conductor="sphere")
    src = qs.sources.cortex(head, "ico3")
    opm = qs.arrays.opm_on_scalp(head, 64, "radial")
    gain = np.einsum("csk,sk->cs", qs.leadfield(opm, head, src).values, src.normals)
    snr = 20e-9 * np.linalg.norm(gain / np.asarray(opm.noise)[:, None], axis=0)
    fig = qs.plot_brain_map(snr, src, log=True, label="SNR of a 20 nAm dipole, 1 s",
                            title="64 on-scalp OPMs")
    fig.savefig(figure, dpi=120)
    print(f"median SNR {np.median(snr):.3g}, range {snr.min():.3g} to {snr.max():.3g}; "
          f"figure saved to {figure}")
    return snr


if __name__ == "__main__":
    main(*sys.argv[1:2])
