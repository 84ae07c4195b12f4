"""Fair comparison: OPMs against SQUID helmets at equal channel count and noise floor.

Prints three tables (inverse.curves): the metrics against the number of on-scalp OPM
channels at one floor, against the OPM noise floor, and NV flux-concentrator sensors
against their standoff, with the time each curve took.

    python examples/fair_comparison.py            # default sizes
    python examples/fair_comparison.py --quick    # inverse.curves.QUICK
"""

import argparse
import time

import numpy as np

import qsense as qs
from inverse import curves


def _table(ds, columns):
    head = f"{'config':<26}" + "".join(f"{c:>14}" for c, _, _ in columns)
    print(head)
    print("-" * len(head))
    for i, name in enumerate(ds.config.values):
        cells = []
        for _, var, scale in columns:
            v = float(ds[var].values[i]) * scale
            cells.append(f"{v:>14.3g}" if np.isfinite(v) else f"{'-':>14}")
        print(f"{name:<26}" + "".join(cells))
    print()


COLUMNS = [("channels", "n_channels", 1), ("SNR median", "snr_median", 1),
           ("bits/1nAm", "information", 1), ("bits/area", "information_per_area", 1),
           ("CRB med. mm", "crb_median", 1e3), ("CRB valid", "crb_localisable_fraction", 1)]


def main(quick=False):
    t0 = time.perf_counter()
    head = qs.Head.fsaverage()
    src = qs.sources.cortex(head, "ico3")
    helmets = {"neuromag306": qs.arrays.neuromag306(head), "ctf275": qs.arrays.ctf275(head)}
    print(f"head, {len(src)} sources and the seated helmets: "
          f"{time.perf_counter() - t0:.1f} s\n")
    size = curves.QUICK if quick else {}

    t = time.perf_counter()
    ds = curves.channel_count_curve(head, src, prebuilt=helmets,
                                    **size.get("channel_count_curve", {}))
    print(f"Channel count at {ds.attrs['opm_noise_floor'] * 1e15:g} fT/sqrt(Hz) per OPM "
          f"channel (helmets at their own floors): {time.perf_counter() - t:.1f} s")
    _table(ds, COLUMNS)

    t = time.perf_counter()
    ds = curves.noise_floor_curve(head, src, prebuilt=helmets,
                                  **size.get("noise_floor_curve", {}))
    print(f"OPM noise floor, {ds.attrs['n_opm']} radial OPMs: "
          f"{time.perf_counter() - t:.1f} s")
    _table(ds, COLUMNS)

    t = time.perf_counter()
    ds = curves.nv_standoff_curve(head, src, **size.get("nv_standoff_curve", {}))
    print(f"NV flux concentrator ({ds.attrs['n_sensors']} sensors) against the standoff: "
          f"{time.perf_counter() - t:.1f} s")
    _table(ds, COLUMNS[:4])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    main(parser.parse_args().quick)
