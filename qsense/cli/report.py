"""A self-contained HTML report of the comparison study (figures embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import xarray as xr

from .._io import atomic_write

__all__ = ["summary", "pick", "render_html", "write_report"]


def pick(da: xr.DataArray, array, solver) -> xr.DataArray:
    """``da`` at one array and one solver."""
    return da.sel(array=array, solver=solver)


def summary(ds: xr.Dataset) -> xr.Dataset:
    """Per-array medians: over all sources and over the superficial tangential ones.

    Returns
    -------
    xarray.Dataset
        ``snr``, ``ple`` (per solver), ``crb`` medians (all and ``*_superficial``), and
        ``information``; units as in ``ds``.
    """
    sup = ds["superficial"]
    out = {"information": ds["information"]}
    for var in ("snr", "ple", "crb"):
        out[var] = ds[var].median("source", skipna=True).assign_attrs(ds[var].attrs)
        out[f"{var}_superficial"] = (ds[var].where(sup).median("source", skipna=True)
                                     .assign_attrs(ds[var].attrs))
    return xr.Dataset(out, attrs=ds.attrs)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(ds: xr.Dataset) -> list[tuple[str, str]]:
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    labels = [str(v) for v in ds["array_label"].values]
    figs = []
    fig = Figure(figsize=(10, 3.4))
    axes = fig.subplots(1, 2)
    axes[0].bar(labels, ds["information"].values, color="C0")
    axes[0].set_ylabel("total information (bit / sample)")
    axes[1].bar(labels, ds["snr"].median("source").values, color="C1")
    axes[1].set_yscale("log")
    axes[1].set_ylabel(f"median SNR of a {ds.attrs['moment_Am'] * 1e9:g} nAm dipole")
    for ax in axes:
        ax.tick_params(axis="x", rotation=20)
    figs.append(("Information and signal-to-noise ratio", _png(fig)))

    methods = [str(m) for m in ds["solver"].values]
    fig = Figure(figsize=(4 * len(methods), 3.4))
    axes = fig.subplots(1, len(methods), sharey=True)
    for ax, method in zip(np.atleast_1d(axes), methods, strict=True):
        for label, a in zip(labels, ds["array"].values, strict=True):
            err = np.sort(pick(ds["ple"], a, method).values) * 1e3
            ax.step(err, np.arange(1, err.size + 1) / err.size, where="post", label=label)
        ax.set_title(method)
        ax.set_xlabel("peak localisation error (mm)")
    np.atleast_1d(axes)[0].set_ylabel("fraction of sources")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figs.append(("Peak localisation error of noiseless dipoles (cumulative)", _png(fig)))

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    depth = ds["depth"].values * 1e3
    for label, a in zip(labels, ds["array"].values, strict=True):
        ax.semilogy(depth, ds["crb"].sel(array=a).values * 1e3, ".", ms=2, label=label)
    ax.set_xlabel("depth below the inner skull (mm)")
    ax.set_ylabel("Cramer-Rao bound, rms (mm)")
    ax.legend(fontsize=8, markerscale=4)
    figs.append(("Best possible dipole-fit precision against depth", _png(fig)))
    return figs


def _floor_text(ds: xr.Dataset, i: int) -> str:
    """The array's white noise floors with their units (fT/sqrt(Hz), fT/(cm sqrt(Hz)))."""
    parts = []
    mag, grad = (float(ds[k].values[i]) for k in ("noise_floor_mag", "noise_floor_grad"))
    if np.isfinite(mag):
        parts.append(f"{mag * 1e15:.3g} fT/\u221aHz")
    if np.isfinite(grad):
        parts.append(f"{grad * 1e13:.3g} fT/(cm \u221aHz)")
    return ", ".join(parts)


def _table(ds: xr.Dataset) -> str:
    s = summary(ds)
    methods = [str(m) for m in ds["solver"].values]
    head = ["array", "channels", "noise floor", "information (bit)", "median SNR",
            *[f"{m} PLE (mm), all / superficial" for m in methods],
            "CRB (mm), all / superficial"]
    rows = []
    for i, a in enumerate(ds["array"].values):
        cells = [str(ds["array_label"].values[i]), str(int(ds["n_channels"].values[i])),
                 _floor_text(ds, i), f"{float(s['information'][i]):.0f}",
                 f"{float(s['snr'][i]):.3g}"]
        for m in methods:
            cells.append(f"{float(pick(s['ple'], a, m)) * 1e3:.1f} / "
                         f"{float(pick(s['ple_superficial'], a, m)) * 1e3:.1f}")
        cells.append(f"{float(s['crb'][i]) * 1e3:.3g} / "
                     f"{float(s['crb_superficial'][i]) * 1e3:.3g}")
        rows.append(cells)
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
    out.append("</table>")
    return "\n".join(out)


def render_html(ds: xr.Dataset) -> str:
    """The report as one HTML string (no external files).

    ``ds.attrs["run_id"]``, where set, goes into ``<meta name='qsense-run-id'>``.
    """
    attrs = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                    for k, v in ds.attrs.items())
    run_id = ds.attrs.get("run_id")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        *([f"<meta name='qsense-run-id' content='{html.escape(str(run_id), quote=True)}'>"]
          if run_id is not None else []),
        "<title>qsense comparison study</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 6px;"
        "font-size:13px}</style></head><body>",
        "<h1>qsense comparison study</h1>",
        f"<p>{ds.sizes['source']} cortical dipoles on the fsaverage head, "
        f"{ds.sizes['array']} arrays. Medians over all sources and over the superficial "
        "tangential ones. SNR, information and the Cramer-Rao bound (CRB) depend on the "
        "noise floors; the peak localisation error (PLE) of noiseless dipoles depends only "
        "on the geometry and the relative noise of the channels. A CRB above about a "
        "centimetre lies outside the small-error regime in which fits attain it.</p>",
        _table(ds),
    ]
    for title, png in _figures(ds):
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{png}'>")
    parts += ["<h2>Settings</h2><ul>", attrs, "</ul></body></html>"]
    return "\n".join(parts)


def write_report(ds: xr.Dataset, path) -> None:
    """Write :func:`render_html` to ``path`` atomically."""
    text = render_html(ds)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, write)
