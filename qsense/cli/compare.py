"""``qsense compare``: the comparison study from the command line.

Every option is checked before the study starts (:func:`qsense.cli.config.resolve`),
the output folder included: it must be writable and new, empty, or (with
``--overwrite``) hold a previous run's results. The results, ``compare.nc`` and
``report.html``, are committed together with a ``manifest.json`` by
:func:`qsense._io.commit_files`: the output folder holds the complete results of one run,
old or new, whenever the run is stopped.

While it runs, a progress bar on standard error names each stage (building or loading
the BEM, seating the helmets, each array's lead field (compiling on a first run),
solvers and bounds, the report) with the estimated time left (:class:`inverse.study.Stages`);
it shows on a terminal, and elsewhere (a pipe, a log file) only with ``--progress``.
"""

from __future__ import annotations

import sys
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


_REPORT_SECONDS = 15.0  # estimated time of the report (brain maps, layouts, spectra), 2 cores
_WRITE_SECONDS = 0.5


def write_outputs(ds, out_dir, *, run_id: str | None = None, command=None,
                  stages=None) -> str:
    """Commit ``compare.nc`` and ``report.html`` of the study ``ds`` into ``out_dir``.

    Both carry the run id (NetCDF attribute ``run_id``; ``<meta name="qsense-run-id">``)
    that ``manifest.json`` records (:func:`qsense._io.commit_files`). ``stages``: an
    :class:`inverse.study.Stages` with the stages ``report`` and ``write``.

    Returns
    -------
    str
        The run id.
    """
    from .._io import commit_files, new_run_id
    from .report import render_html

    run_id = new_run_id() if run_id is None else run_id
    ds = ds.assign_attrs(run_id=run_id)
    with _stage(stages, "report"):
        text = render_html(ds, command=command)

    def html(path):
        Path(path).write_text(text, encoding="utf-8")

    nc, report = COMPARE_OUTPUTS
    with _stage(stages, "write"):
        return commit_files(out_dir, {nc: lambda path: ds.to_netcdf(path), report: html},
                            run_id=run_id, command=command)


def _stage(stages, key):
    import contextlib

    return contextlib.nullcontext() if stages is None else stages.stage(key)


def run_compare(args) -> int:
    """Run ``qsense compare``: check the settings, run the study, commit and print."""
    cfg = resolve("compare", args)  # everything that can be checked, before the study

    import mne

    from inverse.study import Stages, compare, plan

    from .report import pick, summary

    mne.set_log_level("ERROR")
    settings = dict(spacing=cfg["spacing"], arrays=tuple(cfg["arrays"]), n_opm=cfg["n_opm"],
                    bem_ico=cfg["bem_ico"], recordings=cfg["recordings"],
                    n_probes=cfg["n_probes"], n_trials=tuple(cfg["n_trials"]),
                    n_realisations=cfg["n_realisations"], solvers=tuple(cfg["solvers"]),
                    rejection=cfg["rejection"], curves=cfg["curves"],
                    iivanainen=cfg["iivanainen"])
    shown = cfg["progress"] if cfg["progress"] is not None else sys.stderr.isatty()
    steps = [*plan(**settings), ("report", "report", _REPORT_SECONDS),
             ("write", "writing " + ", ".join(COMPARE_OUTPUTS), _WRITE_SECONDS)]
    out = cfg["output_dir"]
    with Stages(steps, enabled=shown, desc="qsense compare") as stages:
        ds = compare(**settings, opm_sensor=cfg["opm_sensor"], nv_sensor=cfg["nv_sensor"],
                     bandwidth=cfg["bandwidth"], moment=cfg["moment"],
                     lambda2=cfg["lambda2"], rooms=cfg["rooms"], seed=cfg["seed"],
                     coreg_error=cfg["coreg_error"],
                     dipole_conductor=cfg["dipole_conductor"], workers=cfg["workers"],
                     progress=stages)
        run_id = write_outputs(ds, out, command=getattr(args, "command_line", None),
                               stages=stages)
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
        # (the bound's medians are over the sources where it holds: see "localisable")
        print(f"{str(ds['array_label'].values[i]):18s} {int(ds['n_channels'][i]):5d} "
              f"{float(s['information'][i]):9.0f} {float(s['snr'][i]):9.3g} "
              f"{d:6.1f} ({ds_:5.1f}) {sl:6.1f} ({sl_:5.1f}) {_mm(c, 7)} ({_mm(c_, 6)})")
    _print_noisy(ds)
    print(f"wrote {out / 'compare.nc'} and {out / 'report.html'} (run {run_id}, "
          f"{out / 'manifest.json'})")
    return 0


def _mm(value: float, width: int) -> str:
    """A bound in mm, "n.l." (not localisable) where infinite."""
    return f"{value:{width}.3g}" if value != float("inf") else f"{'n.l.':>{width}s}"


def _print_noisy(ds) -> None:
    """The noisy localisation (median and 90th percentile of the error over probes and
    realisations at the largest trial count) and the interference suppression."""
    import numpy as np

    names = [str(v) for v in ds["array_label"].values]
    if "localisable" in ds:
        frac = ds["localisable"].mean("source").values
        print("Cramer-Rao bound holds (localisable) for: " + ", ".join(
            f"{n} {100 * f:.0f} %" for n, f in zip(names, frac, strict=True)) + " of sources")
    if "rec_error" in ds:
        n = int(ds["n_trials"].values[-1])
        err = ds["rec_error"].sel(n_trials=n)
        solvers = [str(v) for v in err["solver"].values
                   if np.isfinite(err.sel(solver=v)).any()]
        print(f"noisy recordings ({ds.sizes['probe']} probes x {ds.sizes['realisation']} "
              f"realisations, {n} trials, rooms {ds.attrs.get('rooms')}): localisation "
              "error, median (90th percentile), mm")
        print(f"{'array':18s} " + " ".join(f"{v:>14s}" for v in solvers))
        for i, label in enumerate(names):
            cells = []
            for v in solvers:
                x = err.sel(solver=v).isel(array=i).values.ravel() * 1e3
                cells.append(f"{np.median(x):6.1f} ({np.percentile(x, 90):5.1f})")
            print(f"{label:18s} " + " ".join(f"{c:>14s}" for c in cells))
    if "rejection_shielding_factor" in ds:
        print("interference suppression in each array's room: " + "; ".join(
            f"{n} {'HFC' if 'hfc' in str(m) else 'SSS'} x{float(f):.3g} (predicted "
            f"x{float(p):.3g}), signal loss {100 * float(lo):.1f} %"
            for n, m, f, p, lo in zip(names, ds["rejection_method"].values,
                                      ds["rejection_shielding_factor"].values,
                                      ds["rejection_predicted_shielding_factor"].values,
                                      ds["rejection_signal_loss"].values, strict=True)))
