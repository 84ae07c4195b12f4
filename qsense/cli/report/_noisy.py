"""The report's views that are not noiseless per-source maps: localisation on simulated
noisy recordings (``rec_*``), MNE's interference suppression (``rejection_*``), the
Iivanainen et al. (2017) comparison (``iivanainen_*``) and the fair-comparison curves
(``curve_*``). Each returns tables (``dict(caption, head, rows)``) or :class:`Fig`\\ s,
or nothing when the dataset lacks the view."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...plots import curve_style
from . import _format as fmt
from ._figures import _FS, Fig, _figure, png_uri

_PERCENTILES = (50, 90)


def _pooled(da: xr.DataArray) -> np.ndarray:
    """Values pooled over probes and realisations (the last axis)."""
    return da.stack(sample=("probe", "realisation")).transpose(..., "sample").values


def rec_solvers(ds: xr.Dataset) -> list[str]:
    """Solvers with results on the recordings."""
    if "rec_error" not in ds:
        return []
    return [str(s) for s in ds["solver"].values
            if np.isfinite(ds["rec_error"].sel(solver=s).values).any()]


def _interval(x: np.ndarray, q: float, rng, n_boot: int = 1000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the ``q``-th percentile of ``x``."""
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (np.nan, np.nan)
    boot = np.percentile(x[rng.integers(0, x.size, (n_boot, x.size))], q, axis=1)
    return tuple(np.percentile(boot, [2.5, 97.5]))


def recordings_table(ds: xr.Dataset) -> list[dict]:
    """Per array and solver, the localisation error at each trial count: median and 90th
    percentile over probes and realisations, with 95 % bootstrap intervals."""
    solvers = rec_solvers(ds)
    if not solvers:
        return []
    names = fmt.labels(ds)
    rng = np.random.default_rng(0)
    tables = []
    for n in ds["n_trials"].values:
        head = ["array"] + [f"{s}" for s in solvers]
        rows = []
        for i, label in enumerate(names):
            row = [label]
            for s in solvers:
                x = _pooled(ds["rec_error"].sel(solver=s, n_trials=n).isel(array=i)) * 1e3
                med, p90 = np.percentile(x, _PERCENTILES)
                lo, hi = _interval(x, 90, rng)
                row.append(f"{fmt.sig(med, 2)} / {fmt.sig(p90, 2)} "
                           f"[{fmt.sig(lo, 2)}-{fmt.sig(hi, 2)}]")
            rows.append(row)
        tables.append(dict(
            caption=f"Localisation error on noisy recordings, {int(n)} trials averaged: "
                    "median / 90th percentile over probes and realisations, mm, with the "
                    "90th percentile's 95 % bootstrap interval in brackets "
                    "(compare.nc: rec_error).", head=head, rows=rows))
    return tables


def recordings_figure(ds: xr.Dataset) -> Fig | None:
    """Error against trials, one panel per solver, and the dipole fit against its bound."""
    solvers = rec_solvers(ds)
    if not solvers:
        return None
    names = fmt.labels(ds)
    trials = ds["n_trials"].values
    dipole = "dipole" in solvers and "rec_crb" in ds
    panels = len(solvers) + int(dipole)
    ncol = min(panels, 3)
    nrow = -(-panels // ncol)
    fig = _figure(3.0 * ncol, 2.5 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, s in zip(axes, solvers, strict=False):
        for i, label in enumerate(names):
            x = _pooled(ds["rec_error"].sel(solver=s).isel(array=i)) * 1e3
            med = np.median(x, axis=-1)
            p90 = np.percentile(x, 90, axis=-1)
            style = curve_style(i)
            ax.plot(trials, med, label=label, **style)
            ax.fill_between(trials, med, p90, alpha=0.12, color=style.get("color"))
        ax.set_xscale("log")
        ax.set_title(s, fontsize=_FS + 1)
        ax.set_xlabel("trials averaged", fontsize=_FS)
        ax.set_ylabel("error (mm)", fontsize=_FS)
        ax.tick_params(labelsize=_FS - 1)
    if dipole:
        ax = axes[len(solvers)]
        for i, label in enumerate(names):
            err = ds["rec_error"].sel(solver="dipole").isel(array=i)  # probe, n, real
            rms = np.sqrt((err**2).mean("realisation")).values.ravel() * 1e3
            bound = ds["rec_crb"].isel(array=i).values.ravel() * 1e3
            ok = ds["rec_localisable"].isel(array=i).values.ravel()
            style = curve_style(i)
            ax.plot(bound[ok], rms[ok], ls="none", marker=style.get("marker", "o"),
                    color=style.get("color"), label=label, ms=4)
            ax.plot(bound[~ok], rms[~ok], ls="none", marker="x", color=style.get("color"),
                    ms=4)
        lim = [max(1e-2, np.nanmin(ds["rec_crb"].values) * 1e3 / 2), 200.0]
        ax.plot(lim, lim, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Cramér-Rao bound (mm)", fontsize=_FS)
        ax.set_ylabel("rms dipole-fit error (mm)", fontsize=_FS)
        ax.set_title("dipole fit vs bound", fontsize=_FS + 1)
        ax.tick_params(labelsize=_FS - 1)
    for ax in axes[panels:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=_FS - 1)
    return Fig(
        title="Localisation on noisy recordings",
        caption=("Median error (line) and up to the 90th percentile (band) over probes and "
                 "realisations against the number of trials averaged, one panel per "
                 "solver, each array in its room with its own noise covariance and "
                 "regularisation from its data."
                 + (" Last panel: rms error of the dipole fits over realisations at each "
                    "probe and trial count against the Cramér-Rao bound (dotted: equal; "
                    "crosses: where the bound does not hold)." if dipole else "")),
        source="compare.nc variables rec_error, rec_crb, rec_localisable "
               "(inverse.recordings.localise_on_recordings, "
               "inverse.cramer_rao.dipole_localisation_bound).",
        uri=png_uri(fig), alt="localisation error against trials per solver")


def rejection_table(ds: xr.Dataset) -> list[dict]:
    if "rejection_shielding_factor" not in ds:
        return []
    rows = []
    for i, label in enumerate(fmt.labels(ds)):
        rows.append([label, str(ds["rejection_method"].values[i]),
                     fmt.sig(float(ds["rejection_shielding_factor"].values[i]), 3),
                     fmt.sig(float(ds["rejection_predicted_shielding_factor"].values[i]), 3),
                     f"{100 * float(ds['rejection_signal_loss'].values[i]):.1f} %"])
    return [dict(caption="MNE's interference suppression on each array's simulated room "
                 f"({ds.attrs.get('rejection_rooms', '')}): shielding factor (rms of the "
                 "interference before / after), its prediction from the interferers' "
                 "topographies, and the fraction of a probe dipole's field removed "
                 "(compare.nc: rejection_*; inverse.interference_rejection).",
                 head=["array", "suppression", "shielding factor", "predicted",
                       "neural signal loss"], rows=rows)]


def iivanainen_table(ds: xr.Dataset) -> list[dict]:
    if "iivanainen_qsense" not in ds:
        return []
    dim = ds["iivanainen_qsense"].dims[0]
    rows = []
    for k in range(ds.sizes[dim]):
        one = ds.isel({dim: k})
        desc = [str(one[c].values) for c in ("iivanainen_quantity", "iivanainen_arrays")
                if c in one.coords]
        pub = float(one["iivanainen_published"])
        rows.append(desc + [fmt.sig(float(one["iivanainen_qsense"]), 3),
                            "–" if not np.isfinite(pub) else fmt.sig(pub, 3),
                            "–" if not np.isfinite(pub) else
                            fmt.sig(float(one["iivanainen_ratio"]), 2)])
    n_desc = len(rows[0]) - 3 if rows else 0
    return [dict(caption="Iivanainen, Stenroos and Parkkonen (2017), NeuroImage 147:542-553, "
                 "reproduced on this study's head: " + str(ds.attrs.get(
                     "iivanainen_setup", "")) + " What differs: "
                 + str(ds.attrs.get("iivanainen_differences", "")),
                 head=["quantity", "arrays"][:n_desc] + ["qsense", "published", "ratio"],
                 rows=rows)]


def curves_figures(ds: xr.Dataset) -> list[Fig]:
    """The fair-comparison curves (``curve_*`` variables), when the study has them."""
    if not any(str(v).startswith("curve_") for v in ds.data_vars):
        return []
    return []
