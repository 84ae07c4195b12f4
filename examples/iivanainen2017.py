"""Iivanainen et al. 2017 (NeuroImage 147:542-553), reproduced on the fsaverage BEM head.

On-scalp magnetometers 4.5 mm off the scalp (nOPM: 102 normal-component sensors; tOPM:
the two tangential components at the same 102 sites) against the Neuromag-306 SQUID
array seated 20 mm from the scalp at its closest, for dipoles along the cortical normal
(fsaverage5 white surface, ico-3: 1284 sources). Prints the comparison table: signal
power (total and per channel), field-pattern correlation, volume-current reduction and
minimum-norm point-spread, with the paper's figures (its abstract), the ratios, the
setup and what differs from the paper. With ``--output FILE.nc`` the table is also
written as NetCDF.

    python examples/iivanainen2017.py [--spacing ico3] [--output iivanainen2017.nc]
"""

import argparse

import qsense as qs
from inverse.signal_power import format_table, iivanainen_comparison
from qsense._io import atomic_write


def main(spacing="ico3", output=None):
    head = qs.Head.fsaverage()
    src = qs.sources.cortex(head, spacing)
    ds = iivanainen_comparison(head, src)
    print(format_table(ds))
    if output is not None:
        atomic_write(output, ds.to_netcdf)
    return ds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", default="ico3", choices=["ico2", "ico3", "ico4"])
    parser.add_argument("--output", default=None, help="NetCDF file for the table")
    args = parser.parse_args()
    main(args.spacing, args.output)
