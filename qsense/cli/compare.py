"""``qsense compare``: the comparison study from the command line.

Every option is checked before the study starts (:func:`qsense.cli.config.resolve`),
the output folder included. The results, ``compare.nc`` and ``report.html``, are
committed together with a ``manifest.json`` by :func:`qsense._io.commit_files`: the output
folder holds the complete results of one run, old or new, whenever the run is stopped.
"""

from __future__ import annotations

from pathlib import Path

from .config import COMPARE_OUTPUTS, add_options, resolve

__all__ = ["add_compare_parser", "run_compare", "write_outputs"]


def add_compare_parser(subparsers):
    """Add the ``compare`` subcommand to an argparse ``subparsers`` object (its options:
    :data:`qsense.cli.config.SCHEMAS` ``["compare"]``)."""
    p = subparsers.add_parser(
        "compare", help="OPM vs NV vs SQUID on the fsaverage head: NetCDF + HTML report",
        description="Run the comparison study (inverse.study.compare) and write "
        "compare.nc, report.html and manifest.json into the output folder. The folder is "
        "replaced as a whole when the run ends, so it always holds one complete run.")
    add_options(p, "compare")
    p.set_defaults(func=run_compare)
    return p


def write_outputs(ds, out_dir, *, run_id: str | None = None, command=None) -> str:
    """Commit ``compare.nc`` and ``report.html`` of the study ``ds`` into ``out_dir``.

    Both carry the run id (NetCDF attribute ``run_id``; ``<meta name="qsense-run-id">``)
    that ``manifest.json`` records (:func:`qsense._io.commit_files`).

    Returns
    -------
    str
        The run id.
    """
    from .._io import commit_files, new_run_id
    from .report import render_html

    run_id = new_run_id() if run_id is None else run_id
    ds = ds.assign_attrs(run_id=run_id)
    text = render_html(ds, command=command)

    def html(path):
        Path(path).write_text(text, encoding="utf-8")

    nc, report = COMPARE_OUTPUTS
    return commit_files(out_dir, {nc: lambda path: ds.to_netcdf(path), report: html},
                        run_id=run_id, command=command)


def run_compare(args) -> int:
    """Run ``qsense compare``: check the settings, run the study, commit and print."""
    cfg = resolve("compare", args)  # everything that can be checked, before the study

    import mne

    from inverse.study import compare

    from .report import pick, summary

    mne.set_log_level("ERROR")
    ds = compare(spacing=cfg["spacing"], arrays=list(cfg["arrays"]), n_opm=cfg["n_opm"],
                 opm_sensor=cfg["opm_sensor"], nv_sensor=cfg["nv_sensor"],
                 bandwidth=cfg["bandwidth"])
    out = cfg["output_dir"]
    run_id = write_outputs(ds, out, command=getattr(args, "command_line", None))
    s = summary(ds)
    print(f"qsense compare: {ds.sizes['source']} cortical sources, bandwidth "
          f"{cfg['bandwidth']:g} Hz; medians (superficial tangential sources in brackets)")
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
    print(f"wrote {out / 'compare.nc'} and {out / 'report.html'} (run {run_id}, "
          f"{out / 'manifest.json'})")
    return 0
