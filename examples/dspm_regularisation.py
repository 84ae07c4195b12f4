"""Where dSPM puts a noiseless superficial dipole, as a function of the regularisation.

On the fsaverage BEM head with an ico-4 cortex (5124 sources), every superficial,
mostly tangential source (upper brain, within 2 cm of the inner-skull sphere, normal at
least 0.7 from radial: the sources MEG sees best) is simulated alone and without noise,
and estimated with MNE's dSPM (ad-hoc noise covariance, depth weighting 0.8). The table
gives the peak localisation error (median, 95th percentile, largest) for
``lambda2 = 1/9`` (MNE's default, SNR 3) and for multiples of the leading eigenvalue
``s_1^2`` of the whitened, weighted gain (see ``inverse.localisation``).

    python examples/dspm_regularisation.py
"""

import mne
import numpy as np

import qsense as qs
from inverse import leading_eigenvalue, peak_localisation_error

ARRAYS = {
    "Neuromag 306": lambda head: qs.arrays.neuromag306(head),
    "CTF 275": lambda head: qs.arrays.ctf275(head),
    "64 radial OPMs": lambda head: qs.arrays.opm_on_scalp(head, 64, "radial"),
}
FACTORS = (None, 0.1, 1.0, 3.0, 10.0, 100.0)  # None: lambda2 = 1/9


def main(spacing="ico4"):
    mne.set_log_level("ERROR")
    head = qs.Head.fsaverage()
    src = qs.sources.cortex(head, spacing)
    sel = qs.sources.superficial_tangential(src, head)
    print(f"fsaverage BEM, {spacing} cortex ({len(src)} sources), {len(sel)} superficial "
          f"tangential dipoles; dSPM peak error in mm (median / 95th pct / max)\n")
    print("| array | orientation | s_1^2 | " + " | ".join(
        "1/9" if f is None else f"{f:g} s_1^2" for f in FACTORS) + " |")
    print("|---|---|---|" + "---|" * len(FACTORS))
    for name, build in ARRAYS.items():
        array = build(head)
        fwd = qs.make_forward(array, head, src)
        info = array.to_info()
        cov = mne.make_ad_hoc_cov(info, std=dict(mag=20e-15, grad=5e-13))
        for loose in (0.0, 0.2):
            inv = mne.minimum_norm.make_inverse_operator(info, fwd, cov, loose=loose,
                                                         depth=0.8, fixed=loose == 0)
            s1 = leading_eigenvalue(inv)
            cells = []
            for factor in FACTORS:
                lambda2 = 1 / 9 if factor is None else factor * s1
                err = peak_localisation_error(fwd, inv, sel, lambda2=lambda2).values * 1e3
                cells.append(f"{np.median(err):.0f} / {np.percentile(err, 95):.0f} / "
                             f"{err.max():.0f}")
            kind = "fixed" if loose == 0 else f"loose {loose}"
            print(f"| {name} | {kind} | {s1:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
