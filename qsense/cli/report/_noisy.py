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
    out = []
    if "curve_count_information_per_area" in ds:
        out.append(_count_figure(ds))
    if "curve_floor_information_per_area" in ds:
        out.append(_floor_figure(ds))
    if "curve_nv_snr_median" in ds:
        out.append(_nv_figure(ds))
    return out


def _reference_points(ax, ds, prefix, x_var, y_var, scale=1.0):
    ref = ds[f"{prefix}_reference"].values
    for k in np.flatnonzero(ref):
        ax.plot(ds[x_var].values[k], ds[y_var].values[k] * scale, ls="none", marker="*",
                ms=9, color="k")
        ax.annotate(str(ds[f"{prefix}_label"].values[k]),
                    (ds[x_var].values[k], ds[y_var].values[k] * scale), fontsize=_FS - 2,
                    xytext=(4, -3), textcoords="offset points")


def _count_figure(ds):
    p = "curve_count"
    fig = _figure(8.5, 3.2)
    axes = fig.subplots(1, 2)
    ref = ds[f"{p}_reference"].values
    kinds = ds[f"{p}_kind"].values
    for ax, (var, label, scale) in zip(axes, (
            (f"{p}_information_per_area", "information (bit / sample), per area", 1.0),
            (f"{p}_snr_median", "median SNR", 1.0)), strict=True):
        for i, axis in enumerate(dict.fromkeys(ds[f"{p}_axes"].values[~ref & (kinds == "opm")])):
            sel = ~ref & (kinds == "opm") & (ds[f"{p}_axes"].values == axis)
            order = np.argsort(ds[f"{p}_n_channels"].values[sel])
            ax.plot(ds[f"{p}_n_channels"].values[sel][order],
                    ds[var].values[sel][order] * scale, label=f"OPM, {axis}",
                    **curve_style(i))
        _reference_points(ax, ds, p, f"{p}_n_channels", var, scale)
        ax.set_xscale("log")
        ax.set_xlabel("channels", fontsize=_FS)
        ax.set_ylabel(label, fontsize=_FS)
        ax.tick_params(labelsize=_FS - 1)
    axes[0].legend(fontsize=_FS - 1)
    floor = ds[f"{p}_noise_floor_mag"].values[~ref & (kinds == "opm")]
    return Fig(
        title="Channel count and axes",
        caption=("Total information (source variance per unit cortical area) and median "
                 "SNR of on-scalp OPM arrays against their channel count, radial, dual- and "
                 f"triaxial, every OPM channel at {fmt.sig(np.median(floor) * 1e15, 2)} "
                 "fT/sqrt(Hz); stars: Kernel Flux at the same floor and the SQUID helmets "
                 "at their own floors, at their channel counts."),
        source="compare.nc variables curve_count_* (inverse.curves.channel_count_curve).",
        uri=png_uri(fig), alt="information and SNR against channel count")


def _floor_figure(ds):
    p = "curve_floor"
    fig = _figure(8.5, 3.2)
    axes = fig.subplots(1, 2)
    ref = ds[f"{p}_reference"].values
    x = ds[f"{p}_noise_floor_mag"].values * 1e15
    for ax, (var, label) in zip(axes, ((f"{p}_information_per_area",
                                        "information (bit / sample), per area"),
                                       (f"{p}_snr_median", "median SNR")), strict=True):
        order = np.argsort(x[~ref])
        ax.plot(x[~ref][order], ds[var].values[~ref][order], label="OPM array",
                **curve_style(0))
        for k in np.flatnonzero(ref):
            ax.axhline(ds[var].values[k], color="0.3", lw=0.8, ls="--")
            ax.annotate(str(ds[f"{p}_label"].values[k]), (x[~ref].min(), ds[var].values[k]),
                        fontsize=_FS - 2, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel("OPM white noise floor (fT/sqrt(Hz))", fontsize=_FS)
        ax.set_ylabel(label, fontsize=_FS)
        ax.tick_params(labelsize=_FS - 1)
    n = int(ds[f"{p}_n_channels"].values[~ref][0])
    return Fig(
        title="OPM noise floor",
        caption=(f"Total information (per unit cortical area) and median SNR of {n} on-scalp "
                 "OPM channels against their white floor over QuSpin's Gen-2 range (7-15 "
                 "fT/sqrt(Hz)); dashed: the SQUID helmets at their preset floors."),
        source="compare.nc variables curve_floor_* (inverse.curves.noise_floor_curve).",
        uri=png_uri(fig), alt="information and SNR against the OPM noise floor")


def _nv_figure(ds):
    p = "curve_nv"
    fig = _figure(4.5, 3.2)
    ax = fig.subplots()
    x = ds[f"{p}_standoff"].values * 1e3
    models = ds[f"{p}_model"].values
    for i, m in enumerate(dict.fromkeys(models)):
        sel = models == m
        order = np.argsort(x[sel])
        ax.plot(x[sel][order], ds[f"{p}_snr_median"].values[sel][order], label=str(m),
                **curve_style(i))
    ax.set_xlabel("standoff of the NV membrane from the scalp (mm)", fontsize=_FS)
    ax.set_ylabel("median SNR", fontsize=_FS)
    ax.tick_params(labelsize=_FS - 1)
    ax.legend(fontsize=_FS - 1)
    return Fig(
        title="NV sensors: standoff",
        caption=("Median SNR of flux-concentrator NV magnetometers on the scalp against the "
                 "membrane's standoff: the field at the membrane (point) and averaged "
                 "between the concentrator's cones; the smallest standoff is the one the "
                 "cone and its housing allow."),
        source="compare.nc variables curve_nv_* (inverse.curves.nv_standoff_curve).",
        uri=png_uri(fig), alt="NV SNR against standoff")
