"""The report's figures, each drawn on its own ``matplotlib.figure.Figure`` (no pyplot)
and returned as a :class:`Fig`: title, caption, source and the PNG as a data URI."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ...plots import curve_style
from . import _format as fmt

CRB_LIMIT_MM = 10.0  # above about 1 cm fits leave the small-error regime the bound assumes
CRB_AXIS_MM = (0.05, 100.0)  # drawn range of the bound: 50 um to 10 cm (the head's scale)
_FS = 9  # font size


@dataclass
class Fig:
    """One figure of the report."""

    title: str
    caption: str
    source: str
    uri: str
    alt: str = ""


def png_uri(fig, dpi: int = 100) -> str:
    """``fig`` as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w, h, constrained: bool = True, **kw):
    """A Figure; ``constrained=False`` for many-panel figures (the constrained layout
    costs seconds there), placed with ``subplots_adjust`` instead."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained" if constrained else None, **kw)


# ------------------------------------------------------------------ from the dataset
def overview(ds: xr.Dataset, summ: xr.Dataset) -> Fig | None:
    if "information" not in summ or "snr" not in summ:
        return None
    names = fmt.labels(ds)
    fig = _figure(8, 3.2)
    axes = fig.subplots(1, 2)
    colours = [f"C{i}" for i in range(len(names))]
    axes[0].bar(names, summ["information"].values, color=colours)
    axes[0].set_ylabel("total information (bit / sample)", fontsize=_FS)
    axes[1].bar(names, summ["snr"].values, color=colours)
    axes[1].set_yscale("log")
    moment = ds.attrs.get("moment_Am")
    what = f"{fmt.setting('moment_Am', moment)} dipole" if moment else "dipole"
    axes[1].set_ylabel(f"median SNR of a {what}", fontsize=_FS)
    for ax in axes:
        ax.tick_params(axis="x", rotation=20, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    return Fig("Information and signal-to-noise ratio",
               "Left: total information about independent 1 nA m sources, bits per sample. "
               "Right: median over all sources of the whitened field norm (SNR) of one "
               "dipole along the cortical normal.",
               "compare.nc variables information and snr (inverse.information, "
               "inverse.study).", png_uri(fig), "bar charts of information and median SNR")


def cumulative_ple(ds: xr.Dataset) -> Fig | None:
    if "ple" not in ds or "solver" not in ds["ple"].dims:
        return None
    names, solvers = fmt.labels(ds), fmt.solvers(ds)
    ncol = min(len(solvers), 2)
    nrow = -(-len(solvers) // ncol)
    fig = _figure(4.2 * ncol, 3.3 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, sharey=True, squeeze=False)).ravel()
    xmax = float(np.nanpercentile(ds["ple"].values, 99)) * 1e3
    for ax, solver in zip(axes, solvers, strict=False):
        for i, label in enumerate(names):
            err = np.sort(ds["ple"].sel(solver=solver).isel(array=i).values) * 1e3
            err = err[np.isfinite(err)]
            frac = np.arange(1, err.size + 1) / err.size
            style = curve_style(i)
            marks = np.unique(np.searchsorted(frac, np.linspace(0.1, 0.9, 9)))
            ax.step(err, frac, where="post", label=label, markevery=list(marks), ms=5,
                    zorder=10 - i, **style)
        ax.set_title(solver, fontsize=_FS + 1)
        ax.set_xlabel("peak localisation error (mm)", fontsize=_FS)
        ax.set_xlim(0, max(xmax, 1.0))
        ax.grid(True, alpha=0.3)
    for ax in axes[len(solvers):]:
        ax.set_axis_off()
    axes[0].set_ylabel("fraction of sources", fontsize=_FS)
    axes[0].legend(fontsize=8, loc="lower right")
    return Fig("Peak localisation error of noiseless dipoles (cumulative)",
               "Fraction of sources whose minimum-norm estimate peaks within a given distance "
               "of the true dipole, one panel per solver. Each array has its own line style "
               "and marker (markers at every 10 % of the sources), so curves that coincide "
               "stay visible: the thick translucent solid line lies under the thinner dashed "
               "and dotted ones. x axis up to the 99th percentile of all errors.",
               "compare.nc variable ple (inverse.localisation.peak_localisation_error; "
               "MNE's make_inverse_operator and apply_inverse).", png_uri(fig),
               "cumulative distributions of the peak localisation error")


def bound_vs_depth(ds: xr.Dataset) -> Fig | None:
    if "crb" not in ds or "depth" not in ds.coords:
        return None
    names = fmt.labels(ds)
    fig = _figure(6.5, 3.8)
    ax = fig.subplots()
    lo, hi = CRB_AXIS_MM
    depth = ds["depth"].values * 1e3
    clipped = []
    for i, label in enumerate(names):
        crb = ds["crb"].isel(array=i).values * 1e3
        ok = np.isfinite(crb)
        over = ok & (crb > hi)
        under = ok & (crb < lo)
        style = curve_style(i)
        ax.plot(depth[ok & ~over & ~under], crb[ok & ~over & ~under], ls="none",
                marker=style["marker"], ms=2.5, color=style["color"], alpha=0.6, label=label)
        if over.any():
            ax.plot(depth[over], np.full(over.sum(), hi), ls="none", marker="^", ms=4,
                    color=style["color"], clip_on=False)
        clipped.append((label, int(over.sum()), int(under.sum()), int(ok.sum())))
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.axhline(CRB_LIMIT_MM, color="0.3", ls="--", lw=1)
    ax.text(0.99, CRB_LIMIT_MM * 1.12, "1 cm: beyond it fits leave the small-error regime",
            transform=ax.get_yaxis_transform(), fontsize=7, color="0.2", ha="right",
            va="bottom", zorder=20, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8,
                                              pad=1.5))
    ax.set_xlabel("depth below the inner skull (mm)", fontsize=_FS)
    ax.set_ylabel("Cramér-Rao bound, rms (mm)", fontsize=_FS)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, markerscale=2.5, loc="lower right")
    over_text = "; ".join(f"{label}: {n_over} of {n_ok} above, {n_under} below"
                          for label, n_over, n_under, n_ok in clipped)
    return Fig("Best possible dipole-fit precision against depth",
               f"Each point is one source. The axis is clipped to {lo:g}–{hi:g} mm: a bound "
               "larger than about 10 cm (the size of the head) says only that the array "
               "cannot place the source at all, and the bound is attained only in the "
               "small-error regime below about 1 cm (dashed line). Sources above the range "
               f"are drawn as triangles on its upper edge ({over_text}). Sources whose "
               "normal is within 3° of radial are silent in the sphere model and left out.",
               "compare.nc variable crb (inverse.cramer_rao.dipole_localisation_bound).",
               png_uri(fig), "scatter of the Cramér-Rao bound against source depth")


def sweep_curves(ds: xr.Dataset, dim: str) -> Fig:
    """Median metrics over the sources against one sweep dimension, one line per array."""
    names = fmt.labels(ds)
    others = [d for d in fmt.sweep_dims(ds) if d != dim]
    sub = ds.isel({d: 0 for d in others})
    panels = []
    for var in fmt.metric_vars(sub):
        da = sub[var]
        if dim not in da.dims:
            continue
        if "solver" in da.dims:
            panels += [(var, s, da.sel(solver=s)) for s in fmt.solvers(sub)]
        else:
            panels.append((var, None, da))
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = _figure(3.0 * ncol, 2.8 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    x = ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])
    xfac, xunit = fmt.display(ds[dim].attrs.get("units") if dim in ds.coords else None)
    for ax, (var, solver, da) in zip(axes, panels, strict=False):
        factor, unit = fmt.display(da.attrs.get("units"))
        y = da.median("source", skipna=True) if "source" in da.dims else da
        for i, label in enumerate(names):
            ax.plot(x * xfac, y.isel(array=i).transpose(dim).values * factor, label=label,
                    ms=5, **curve_style(i))
        ax.set_title(f"{var}{' ' + solver if solver else ''}", fontsize=_FS)
        what = f"median {var}" if "source" in da.dims else var
        ax.set_ylabel(f"{what}{f' ({unit})' if unit else ''}", fontsize=8)
        ax.set_xlabel(f"{dim}{f' ({xunit})' if xunit else ''}", fontsize=8)
        if np.all(np.asarray(x) > 0) and np.ptp(np.log10(np.asarray(x, float))) > 1:
            ax.set_xscale("log")
        if var in ("snr", "crb"):
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    at = ", ".join(f"{d} = {fmt.sig(ds[d].values[0], strip=True) if d in ds.coords else 0}"
                   for d in others)
    return Fig(f"Metrics against {dim}",
               f"Each metric (its median over the sources) as {dim} varies"
               + (f" (at {at})" if at else "") + "; one line style per array.",
               f"compare.nc, dimension {dim}.", png_uri(fig), f"curves over {dim}")


# ------------------------------------------------------------------ on the cortex
_MAPS = {
    # var: (title, log scale, colormap, what the colours mean)
    "snr": ("Signal-to-noise ratio on the cortex", True, "viridis",
            "Whitened field norm of one dipole along the cortical normal (log scale)."),
    "ple": ("Peak localisation error on the cortex", False, "magma_r",
            "Distance from each noiseless dipole to the peak of its estimate."),
    "crb": ("Cramér-Rao bound on the cortex", True, "magma_r",
            "Best possible rms position error of a dipole fit (log scale); grey: sources "
            "silent in the sphere model (normal within 3° of radial)."),
}


_NAMES = {"snr": "signal-to-noise ratio", "ple": "peak localisation error",
          "crb": "Cramér-Rao bound"}


def brain_maps(ds: xr.Dataset, var: str, solver: str | None = None) -> Fig:
    """One row per array, four views (left lateral, left medial, right medial, right
    lateral) on the inflated fsaverage5 cortex, one shared colour scale."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    from ...brainmap import plot_brain_map

    title, log, cmap, meaning = _MAPS.get(
        var, (f"{var} on the cortex", False, "viridis",
              str(ds[var].attrs.get("long_name", var)) + "."))
    da = ds[var].sel(solver=solver) if solver is not None else ds[var]
    factor, unit = fmt.display(da.attrs.get("units"))
    values = da.values * factor  # (array, source)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        finite = np.array([1.0])  # nothing to draw: any scale
    note = ""
    if var == "crb":
        vmin = max(float(np.min(finite)), CRB_AXIS_MM[0])
        vmax = min(float(np.max(finite)), CRB_AXIS_MM[1])
        note = f" Colours saturate outside {fmt.sig(vmin, 2)}–{fmt.sig(vmax, 2)} mm."
    elif log:
        pos = finite[finite > 0]
        vmin, vmax = float(np.percentile(pos, 1)), float(np.max(pos))
        note = f" Colours saturate below the 1st percentile ({fmt.sig(vmin, 2)})."
    else:
        vmin, vmax = 0.0 if np.min(finite) >= 0 else float(np.min(finite)), float(
            np.percentile(finite, 95))
        note = (f" Colours saturate at the 95th percentile of all arrays "
                f"({fmt.sig(vmax, 2)}{' ' + unit if unit else ''}).")
    if not vmin < vmax:
        vmax = vmin + 1.0
    norm = LogNorm(vmin, vmax) if log else Normalize(vmin, vmax)
    names = fmt.labels(ds)
    n = len(names)
    # a manual grid (constrained layout costs seconds for 4 x n panels): n rows of four
    # panels (left lateral, left medial, right medial, right lateral), a colour bar below
    from matplotlib.figure import Figure

    width, panel_h, label_h, head_h, bar_h = 8.4, 1.3, 0.22, 0.25, 0.9
    height = head_h + n * (panel_h + label_h) + bar_h
    fig = Figure(figsize=(width, height))
    columns = ("left lateral", "left medial", "right medial", "right lateral")
    for c, text in enumerate(columns):
        fig.text((c + 0.5) / 4, 1 - 0.6 * head_h / height, text, ha="center", va="center",
                 fontsize=8)
    for i, label in enumerate(names):
        top = head_h + i * (panel_h + label_h)
        fig.text(0.01, 1 - (top + 0.55 * label_h) / height, label, fontsize=_FS,
                 fontweight="bold", va="center")
        bottom = 1 - (top + label_h + panel_h) / height
        axes = [fig.add_axes((0.005 + 0.25 * c, bottom, 0.24, panel_h / height))
                for c in range(4)]
        if not np.isfinite(values[i]).any():  # e.g. a bound that holds nowhere
            for ax in axes:
                ax.set_axis_off()
            axes[0].text(0.0, 0.5, "no value at any source" + (
                " (not localisable anywhere)" if var == "crb" else ""), fontsize=_FS,
                transform=axes[0].transAxes, va="center")
            continue
        # plot_brain_map fills its axes view by view: lateral (lh, rh), medial (lh, rh)
        plot_brain_map(_on_sources(ds, np.clip(values[i], vmin, vmax)),
                       views=("lateral", "medial"), hemis=("lh", "rh"),
                       cmap=cmap, vmin=vmin, vmax=vmax, log=log, allow_nan=True,
                       colorbar=False, axes=[axes[0], axes[3], axes[1], axes[2]],
                       resolution=200)
        for ax in axes:
            ax.set_title("")
    cax = fig.add_axes((0.2, 0.5 / height, 0.6, 0.15 / height))
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=colormaps[cmap]), cax=cax,
                      orientation="horizontal")
    name = _NAMES.get(var, str(da.attrs.get("long_name", var)))
    cb.set_label(f"{name}{', ' + solver if solver else ''}{f' ({unit})' if unit else ''}",
                 fontsize=8)
    cb.ax.tick_params(labelsize=7)
    full = f"{title}{' (' + solver + ')' if solver else ''}"
    return Fig(full,
               f"{meaning}{note} Inflated fsaverage5 surface; between the sources each "
               "vertex shows its nearest source on the registration sphere "
               "(qsense.plot_brain_map).",
               f"compare.nc variable {var}; surfaces: nilearn's fsaverage5 (fsaverage: Fischl "
               "et al. 1999, NeuroImage 9:195).", png_uri(fig, dpi=90),
               f"maps of {var} on the cortex")


def _on_sources(ds: xr.Dataset, values: np.ndarray):
    """``values`` (one per source) placed by the dataset's ``hemisphere`` and ``vertex``
    coordinates where it has them; else a plain array in the qsense cortex order."""
    if "hemisphere" in ds.coords and "vertex" in ds.coords:
        return xr.DataArray(values, dims="source",
                            coords={"hemisphere": ("source", ds["hemisphere"].values),
                                    "vertex": ("source", ds["vertex"].values)})
    return values


# ------------------------------------------------------------------ the arrays
def layouts(arrays: dict, labels: dict, head) -> Fig:
    """Each array flat (from above) and in perspective on the scalp."""
    from ...plots import plot_sensor_layout

    n = len(arrays)
    fig = _figure(8.0, 3.9 * n, constrained=False)
    fig.subplots_adjust(left=0.02, right=0.96, bottom=0.5 / (3.9 * n),
                        top=1 - 0.45 / (3.9 * n), wspace=0.15, hspace=0.35)
    for i, (name, arr) in enumerate(arrays.items()):
        ax2 = fig.add_subplot(n, 2, 2 * i + 1)
        ax3 = fig.add_subplot(n, 2, 2 * i + 2, projection="3d")
        plot_sensor_layout(arr, ax2, head=head, view="2d", title=labels[name])
        plot_sensor_layout(arr, ax3, head=head, view="3d", title=labels[name])
    return Fig("Sensor layouts on the head",
               "Left: seen from above (azimuthal equidistant projection about the centre of "
               "the sphere fitted to the inner skull; the circle is that centre's horizontal "
               "plane, nose up). Right: in the head frame with the fsaverage scalp, each "
               "channel's sensitive axis drawn 1 cm long. Neuromag's planar gradiometers "
               "(triangles) share their magnetometer's position.",
               "qsense.arrays (opm_on_scalp, neuromag306, ctf275), qsense.nv.nv_on_scalp; "
               "scalp: MNE's fsaverage-head.fif; drawn by qsense.plots.plot_sensor_layout.",
               png_uri(fig, dpi=85), "sensor layouts, flat and in 3-D")


def topographies(arrays: dict, labels: dict, head, examples: list) -> Fig:
    """The field of example dipoles at each array's channels, flat layout."""
    import qsense as qs

    from ...plots import plot_topography

    n_arr, n_src = len(arrays), len(examples)
    fig = _figure(2.3 * n_arr + 0.4, 2.5 * n_src, constrained=False)
    axes = np.atleast_2d(fig.subplots(n_src, n_arr, squeeze=False))
    fig.subplots_adjust(left=0.01, right=0.97, bottom=0.02, top=1 - 0.55 / (2.5 * n_src),
                        wspace=0.25, hspace=0.3)
    pos = np.array([e["position"] for e in examples])
    nrm = np.array([e["normal"] for e in examples])
    src = qs.sources.points(pos, head, normals=nrm)
    for j, (name, arr) in enumerate(arrays.items()):
        lf = qs.leadfield(arr, head, src).values  # (channel, source, 3), T/(A m)
        for i, e in enumerate(examples):
            b = lf[:, i, :] @ nrm[i] * e["moment"]
            plot_topography(arr, b, axes[i, j], head=head, colorbar=True,
                            title=f"{labels[name]}\n{e['name']}" if i == 0 else e["name"])
    for ax in axes.ravel():
        ax.title.set_fontsize(8)
    desc = "; ".join(f"{e['name']}: {e['describe']}" for e in examples)
    return Fig("Example field topographies",
               f"The field of one {fmt.setting('moment_Am', examples[0]['moment'])} dipole "
               f"along the cortical normal at each array's channels ({desc}), drawn on the "
               "flat layout (filled contours between channels; magnetometers only where an "
               "array also has planar gradiometers; CTF: axial-gradiometer output). Each "
               "panel has its own colour scale: compare patterns and peak values. Conductor: "
               f"{head.conductor.name} ({head.name}).",
               "qsense.leadfield on qsense.sources.cortex; drawn by "
               "qsense.plots.plot_topography.", png_uri(fig, dpi=90),
               "field topographies of example dipoles")


def spectra(budgets: dict, labels: dict, room) -> Fig:
    """Every array's budget, and the totals side by side."""
    from ...plots import plot_budget, plot_noise_spectra

    n = len(budgets)
    ncol = 2
    nrow = 1 + -(-n // ncol)
    fig = _figure(8.4, 3.2 * nrow, constrained=False)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.45 / (3.2 * nrow),
                        top=1 - 0.35 / (3.2 * nrow), wspace=0.28, hspace=0.45)
    gs = axes[0, 0].get_subplotspec().get_gridspec()
    for ax in axes[0]:
        ax.remove()
    top = fig.add_subplot(gs[0, :])
    mags = {labels[k]: b for k, b in budgets.items()}
    plot_noise_spectra(mags, top, title="total noise, channel median")
    flat = axes[1:].ravel()
    for ax, (name, b) in zip(flat, budgets.items(), strict=False):
        plot_budget(b, ax, title=labels[name])
        ax.title.set_fontsize(_FS)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(7)
        ax.legend(fontsize=6)
    for ax in flat[n:]:
        ax.set_axis_off()
    return Fig("Noise spectra per array",
               f"Amplitude spectral density of each contributor and the total, channel "
               f"median, in the room {room.name!r} (Environment defaults: interferers, power "
               "line, movement for head-mounted sensors). Arrays with planar gradiometers: "
               "their magnetometers. The study itself uses only each sensor's white floor "
               "over its noise bandwidth.",
               f"qsense.budget.noise_budget; room: {room.citation} Drawn by "
               "qsense.plots.plot_budget and plot_noise_spectra.", png_uri(fig, dpi=90),
               "noise spectra of every array")
