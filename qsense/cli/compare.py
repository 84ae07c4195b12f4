"""``qsense compare``: the comparison study from the command line."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_compare_parser", "run_compare"]


def add_compare_parser(subparsers):
    p = subparsers.add_parser(
        "compare", help="OPM vs NV vs SQUID on the fsaverage head: NetCDF + HTML report",
        description="Run the comparison study (inverse.study.compare) and write "
        "compare.nc and report.html into the output folder.")
    p.add_argument("--output-dir", default="qsense-compare",
                   help="folder for compare.nc and report.html (default: %(default)s)")
    p.add_argument("--spacing", default="ico4", choices=("ico2", "ico3", "ico4"),
                   help="cortical source spacing (default: %(default)s)")
    p.add_argument("--arrays", default="opm,nv,neuromag306,ctf275",
                   help="comma-separated arrays (default: %(default)s)")
    p.add_argument("--n-opm", type=int, default=64,
                   help="sensors in the OPM and NV arrays (default: %(default)s)")
    p.add_argument("--opm-sensor", default="quspin_gen2", help="OPM preset")
    p.add_argument("--nv-sensor", default="nv_flux_concentrator", help="NV preset")
    p.add_argument("--bandwidth", type=float, default=1.0,
                   help="noise bandwidth of one sample, Hz (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="a fast check: ico2 sources and 32 sensors per on-scalp array")
    p.set_defaults(func=run_compare)
    return p


def run_compare(args) -> int:
    import mne

    from inverse.study import compare

    from .._io import atomic_write
    from .report import pick, summary, write_report

    mne.set_log_level("ERROR")
    spacing, n_opm = ("ico2", 32) if args.quick else (args.spacing, args.n_opm)
    ds = compare(spacing=spacing, arrays=[a.strip() for a in args.arrays.split(",")],
                 n_opm=n_opm, opm_sensor=args.opm_sensor, nv_sensor=args.nv_sensor,
                 bandwidth=args.bandwidth)
    out = Path(args.output_dir)
    atomic_write(out / "compare.nc", lambda p: ds.to_netcdf(p))
    write_report(ds, out / "report.html")
    s = summary(ds)
    print(f"qsense compare: {ds.sizes['source']} cortical sources, bandwidth "
          f"{args.bandwidth:g} Hz; medians (superficial tangential sources in brackets)")
    print(f"{'array':18s} {'chan':>5s} {'info/bit':>9s} {'SNR':>9s} "
          f"{'dSPM PLE/mm':>14s} {'sLORETA PLE/mm':>15s} {'CRB/mm':>16s}")
    for i, a in enumerate(ds["array"].values):
        d = float(pick(s["ple"], a, "dSPM")) * 1e3
        ds_ = float(pick(s["ple_superficial"], a, "dSPM")) * 1e3
        sl = float(pick(s["ple"], a, "sLORETA")) * 1e3
        sl_ = float(pick(s["ple_superficial"], a, "sLORETA")) * 1e3
        c, c_ = float(s["crb"][i]) * 1e3, float(s["crb_superficial"][i]) * 1e3
        print(f"{str(ds['array_label'].values[i]):18s} {int(ds['n_channels'][i]):5d} "
              f"{float(s['information'][i]):9.0f} {float(s['snr'][i]):9.3g} "
              f"{d:6.1f} ({ds_:5.1f}) {sl:6.1f} ({sl_:5.1f}) {c:7.3g} ({c_:6.3g})")
    print(f"wrote {out / 'compare.nc'} and {out / 'report.html'}")
    return 0
