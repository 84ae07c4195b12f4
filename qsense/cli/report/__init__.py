"""The comparison study's report: one self-contained HTML file, from ``compare.nc``.

:func:`render_html` fills the Jinja2 template ``report.html.j2`` (autoescaped; no HTML is
assembled from strings here) with the sections below; every figure is a PNG embedded as
a data URI, so the file needs nothing beside it and no network. The page reads from
800 px up: figures shrink to the page width, wide tables scroll inside their own box.

Sections: summary (table with units, the conclusion written from the numbers), setup
(arrays, head, room, sources, assumptions, where every figure comes from), sensor
layouts (flat and 3-D), example field topographies, maps on the cortex (SNR,
localisation error per solver, Cramér-Rao bound; lateral and medial views of both
hemispheres), noise spectra, localisation error and bound curves, curves over sweep
dimensions (channel count, noise floor: only when the dataset has such dimensions), and
provenance (command line, configuration, versions, seeds, date).

The report shows what the dataset holds: its metrics (``snr``, ``information``,
``ple`` along ``solver``, ``crb``, and any other variable along ``array`` and
``source``), source placement from the ``hemisphere`` and ``vertex`` coordinates (else
the qsense cortex order of the ``spacing`` attribute), positions from ``x, y, z``.
Figures of the arrays themselves (layouts, topographies, spectra) need the arrays: pass
them (``arrays=``) or the report rebuilds them from the dataset's attributes (``n_opm``,
``opm_sensor``, ``nv_sensor``; helmets at the ``dev_head_t`` transforms where the dataset
records them, else seated again on the head, which takes seconds).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import platform
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import xarray as xr

from ..._io import atomic_write
from . import _figures as figs
from . import _format as fmt
from . import _noisy as noisy

__all__ = ["summary", "pick", "render_html", "write_report", "TEMPLATE"]

TEMPLATE = Path(__file__).with_name("report.html.j2")
_CONDUCTORS = {"bem": "single-shell BEM of MNE's fsaverage inner skull (linear collocation)",
               "sphere": "the sphere fitted to MNE's fsaverage inner skull (Sarvas)"}
_VERSIONED = ("qsense", "mne", "jax", "numpy", "scipy", "xarray", "matplotlib", "nilearn")


def pick(da: xr.DataArray, array, solver) -> xr.DataArray:
    """``da`` at one array and one solver."""
    return da.sel(array=array, solver=solver)


def summary(ds: xr.Dataset) -> xr.Dataset:
    """Per-array medians: over all sources and over the superficial tangential ones.

    The bound ``crb`` counts the sources where it does not hold (``localisable`` false)
    as infinitely large: its median is ``inf`` when most sources are not localisable.

    Returns
    -------
    xarray.Dataset
        For every variable along ``source``: its median over the sources and
        ``<name>_superficial`` over the superficial tangential ones (where ``ds`` has the
        ``superficial`` coordinate); variables without ``source`` (``information``) as they
        are. Units and names as in ``ds``.
    """
    out = {}
    sup = ds["superficial"] if "superficial" in ds.coords else None
    for var in fmt.metric_vars(ds):
        da = ds[var]
        if "source" not in da.dims:
            out[var] = da
            continue
        if var == "crb" and "localisable" in ds:
            # a source whose bound does not hold counts as not localisable (inf): a median
            # over the others alone would improve as more sources drop out
            da = da.where(ds["localisable"], np.inf)
        out[var] = da.median("source", skipna=True).assign_attrs(da.attrs)
        if sup is not None:
            out[f"{var}_superficial"] = (da.where(sup).median("source", skipna=True)
                                         .assign_attrs(da.attrs))
    return xr.Dataset(out, attrs=ds.attrs)


# ------------------------------------------------------------------ inputs
_CACHE: OrderedDict = OrderedDict()  # dataset digest -> report content (figures, tables)
_CACHE_SIZE = 4


@functools.cache
def _sphere_head():
    """One fitted-sphere fsaverage head per process (arrays placed on it are cached by
    the head, so the helmets are seated once)."""
    import qsense as qs

    return qs.Head.fsaverage(conductor="sphere")


@functools.cache
def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE.name)


def _digest(ds: xr.Dataset, *extra) -> str:
    """SHA-256 of the dataset's values, coordinates and attributes (its run id aside)."""
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        v = ds[name].variable
        values = np.asarray(v.values)
        if not np.issubdtype(values.dtype, np.number) and values.dtype != bool:
            values = values.astype(str)
        h.update(f"{name}{v.dims}{values.dtype}{values.shape}".encode())
        h.update(np.ascontiguousarray(values).tobytes())
        h.update(repr(sorted((str(k), str(a)) for k, a in v.attrs.items())).encode())
    h.update(repr(sorted((str(k), str(a)) for k, a in ds.attrs.items()
                         if k != "run_id")).encode())
    for e in extra:
        h.update(np.asarray(e).tobytes() if isinstance(e, np.ndarray) else repr(e).encode())
    return h.hexdigest()


def _rebuild_arrays(ds: xr.Dataset, head) -> tuple[dict, list[str]]:
    """The study's arrays rebuilt from the dataset's attributes; notes on any that could
    not be (unknown name, a channel count that differs from the dataset's)."""
    import qsense as qs

    names = [str(a) for a in ds["array"].values]
    channels = dict(zip(names, (int(c) for c in ds["n_channels"].values), strict=True)) \
        if "n_channels" in ds.coords else {}
    n_opm = int(ds.attrs.get("n_opm", channels.get("opm", channels.get("nv", 64))))
    builders = {
        "opm": lambda: qs.arrays.opm_on_scalp(head, n_opm, "radial",
                                              sensor=ds.attrs.get("opm_sensor", "quspin_gen2")),
        "nv": lambda: qs.nv.nv_on_scalp(head, n_opm,
                                        sensor=ds.attrs.get("nv_sensor", "nv_flux_concentrator")),
        "neuromag306": lambda: qs.arrays.neuromag306(head, dev_head_t=seat("neuromag306")),
        "ctf275": lambda: qs.arrays.ctf275(head, dev_head_t=seat("ctf275")),
        "kernel_flux": lambda: qs.arrays.kernel_flux(head),
    }
    def seat(name):
        """The helmet's device -> head transform where the dataset records it (variable
        ``dev_head_t`` along ``array``); else None: seated again (seconds)."""
        if "dev_head_t" not in ds.variables or "array" not in ds["dev_head_t"].dims:
            return None
        t = np.asarray(ds["dev_head_t"].sel(array=name).values, dtype=float)
        return t if t.shape == (4, 4) and np.all(np.isfinite(t)) else None

    arrays, notes = {}, []
    for name in names:
        if name not in builders:
            notes.append(f"{name}: not rebuilt (unknown array name)")
            continue
        arr = builders[name]()
        if name in channels and arr.n_channels != channels[name]:
            notes.append(f"{name}: rebuilt with {arr.n_channels} channels, the dataset has "
                         f"{channels[name]}; left out")
            continue
        arrays[name] = arr
    return arrays, notes


def _examples(ds: xr.Dataset, head) -> list[dict]:
    """Two example sources for the topographies: the superficial tangential source of the
    left hemisphere that the weakest array sees best, and a deep one (the left-hemisphere
    source nearest the 90th percentile of depth)."""
    import qsense as qs

    pos = fmt.positions(ds)
    spacing = ds.attrs.get("spacing")
    if pos is None or spacing is None:
        return []
    src = qs.sources.cortex(head, spacing)
    if len(src) != ds.sizes["source"] or not np.allclose(src.positions, pos, atol=1e-6):
        return []
    left = fmt.hemispheres(ds) == "lh"
    moment = float(ds.attrs.get("moment_Am", 20e-9))
    out = []
    if "superficial" in ds.coords and "snr" in ds:
        base, _ = fmt.base(ds)
        weakest = base["snr"].min("array").values
        cand = np.flatnonzero(left & ds["superficial"].values)
        if cand.size:
            i = int(cand[np.argmax(weakest[cand])])
            out.append(dict(name="superficial", index=i, describe=f"source {i}, "
                            f"{fmt.sig(ds['depth'].values[i] * 1e3, 2)} mm deep, tangential"))
    if "depth" in ds.coords:
        depth = ds["depth"].values
        target = np.percentile(depth[left], 90)
        i = int(np.flatnonzero(left)[np.argmin(np.abs(depth[left] - target))])
        out.append(dict(name="deep", index=i,
                        describe=f"source {i}, {fmt.sig(depth[i] * 1e3, 2)} mm deep"))
    for e in out:
        e.update(position=src.positions[e["index"]], normal=src.normals[e["index"]],
                 moment=moment)
    return out


def _versions() -> list[tuple[str, str]]:
    from importlib import metadata

    out = []
    for name in _VERSIONED:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            mod = sys.modules.get(name)
            out.append((name, str(getattr(mod, "__version__", "not installed"))))
    out.append(("python", platform.python_version()))
    out.append(("platform", platform.platform()))
    return out


# ------------------------------------------------------------------ sections
def _summary_table(ds: xr.Dataset, summ: xr.Dataset) -> dict:
    names = fmt.labels(ds)
    solvers = fmt.solvers(ds)
    head = ["array", "channels", "white noise floor"]
    has = {v: v in summ for v in ("information", "snr", "ple", "crb")}
    if has["information"]:
        head.append("information (bit / sample)")
    if has["snr"]:
        head.append("median SNR, all / superficial")
    if has["ple"]:
        head += [f"{s} peak error (mm), all / superficial" for s in solvers]
    if has["crb"]:
        head.append("Cramér-Rao bound (mm), all / superficial")
    sup = "snr_superficial" in summ

    def pair(var, i, digits=3, **sel):
        a = summ[var].isel(array=i).sel(**sel)
        factor, _ = fmt.display(summ[var].attrs.get("units"))
        text = fmt.sig(float(a) * factor, digits)
        if sup:
            text += " / " + fmt.sig(float(summ[f"{var}_superficial"].isel(array=i).sel(**sel))
                                    * factor, digits)
        return text

    rows = []
    for i, label in enumerate(names):
        row = [label, f"{int(ds['n_channels'].values[i]):,}" if "n_channels" in ds.coords
               else "–", fmt.floors(ds, i)]
        if has["information"]:
            row.append(fmt.sig(float(summ["information"].isel(array=i))))
        if has["snr"]:
            row.append(pair("snr", i))
        if has["ple"]:
            row += [pair("ple", i, 2, solver=s) for s in solvers]
        if has["crb"]:  # infinite median: most sources not localisable
            row.append(pair("crb", i, 2).replace("∞", "not localisable"))
        rows.append(row)
    return dict(head=head, rows=rows)


def _setup(ds: xr.Dataset, arrays: dict, head, room, notes: list[str]) -> dict:
    import qsense as qs

    names = fmt.labels(ds)
    array_rows = []
    for i, name in enumerate(str(a) for a in ds["array"].values):
        arr = arrays.get(name)
        kind = "–" if arr is None else (
            f"{arr.kind}, {arr.n_sensors} sensors" + (", head-mounted" if arr.head_mounted
                                                      else ", fixed helmet"))
        preset = "–" if arr is None else ", ".join(sorted({p.name for p in arr.presets}))
        array_rows.append([name, names[i], kind, preset, fmt.floors(ds, i)])
    n_src = ds.sizes.get("source", 0)
    n_sup = int(ds["superficial"].sum()) if "superficial" in ds.coords else None
    items = [
        ("head", f"{ds.attrs.get('head', 'fsaverage')}: MNE's fsaverage scalp and inner "
                 "skull; conductor " + _CONDUCTORS.get(str(ds.attrs.get("conductor")),
                                                       str(ds.attrs.get("conductor", "?")))),
        ("sources", f"{n_src:,} dipoles on nilearn's fsaverage5 white surface, spacing "
                    f"{ds.attrs.get('spacing', '?')}, along the cortical normal"
                    + (f"; {n_sup:,} superficial tangential (qsense.sources."
                       "superficial_tangential)" if n_sup is not None else "")),
        ("room (noise spectra)", f"{room.name}: {room.citation}"),
        ("noise in the study", "each channel's white floor over a noise bandwidth of "
                               + fmt.setting("bandwidth_Hz", ds.attrs.get("bandwidth_Hz", 1.0))),
    ]
    if "inverse" in ds.attrs:
        items.append(("inverse", str(ds.attrs["inverse"])))
    assumptions = [
        "Noiseless view (SNR, information, peak localisation error, maps): sensor noise "
        "is white at each preset's floor over the noise bandwidth; rooms, interference "
        "and movement do not enter it.",
        "One dipole along the cortical normal at a time; the peak localisation error is "
        "that of a noiseless dipole (it depends on the geometry and the channels' relative "
        "noise only) at a fixed lambda2: a resolution measure, not what noisy data give.",
        "The Cramér-Rao bound is computed on the study's own conductor (the BEM for "
        "Head.fsaverage) from exact derivatives of its field; where the field is too "
        "nonlinear over the bound's size (inverse.cramer_rao.MAX_NONLINEARITY) the source "
        "is not localisable and has no bound (NaN; medians are over the others).",
        "Noisy view (rec_*): one probe source active at a time, no background brain "
        "activity; each array in its room (interferers, power line, shield noise, remnant "
        "field, head movement as the room's preset draws them) with white + 1/f sensor "
        "noise; no trial rejection; the true latency is used.",
        "SQUID helmets sit 20 mm from the scalp at their closest; OPM and NV sensors on the "
        "scalp at their presets' standoffs (qsense.arrays, qsense.nv).",
        "Between sources, the maps on the cortex show the nearest source's value.",
    ]
    return dict(arrays=array_rows, items=items, assumptions=assumptions, notes=notes,
                version=qs.__version__)


def _provenance(ds: xr.Dataset, command, config) -> dict:
    cmd = command if command is not None else ds.attrs.get("command_line",
                                                           ds.attrs.get("command"))
    if isinstance(cmd, list | tuple):
        import shlex

        cmd = shlex.join(str(c) for c in cmd)
    settings = {str(k): v for k, v in ds.attrs.items()
                if k not in ("title", "run_id", "command_line", "command")}
    cfg_rows = [(str(k), fmt.setting(str(k), v)) for k, v in (config or {}).items()]
    seeds = [(k, str(v)) for k, v in ds.attrs.items() if "seed" in str(k).lower()]
    return dict(
        command=cmd or "not recorded (the report was rendered from a dataset)",
        config=cfg_rows,
        settings=[(k, fmt.setting(k, v)) for k, v in settings.items()],
        versions=_versions(),
        seeds=seeds,
        seed_note=("" if seeds else "No seed: the study draws no random numbers (sensor "
                   "lattices, sources and metrics are deterministic)."),
        date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        run_id=ds.attrs.get("run_id"),
    )


def render_html(ds: xr.Dataset, *, arrays: dict | None = None, head=None, command=None,
                config: dict | None = None, room: str = "opm_two_layer",
                budget_freqs=None) -> str:
    """The report as one self-contained HTML string.

    Parameters
    ----------
    ds : xarray.Dataset
        The comparison study (:func:`inverse.study.compare`): dimensions ``array``,
        ``source`` and ``solver`` (and any sweep dimensions), sources placed by the
        ``hemisphere`` and ``vertex`` coordinates (else in qsense's cortex order).
    arrays : dict of str to qsense.SensorArray, optional
        The arrays of the study by name; default rebuilt from ``ds``'s attributes
        (``n_opm``, ``opm_sensor``, ``nv_sensor``).
    head : qsense.Head, optional
        The study's head; default ``Head.fsaverage(conductor="sphere")`` (same scalp and
        cortex, fitted-sphere conductor for the example topographies).
    command : str or sequence of str, optional
        The command line that produced ``ds`` (default ``ds.attrs["command_line"]``).
    config : dict, optional
        The resolved configuration to list.
    room : str
        Room preset of the noise spectra (:data:`qsense.environment.ROOMS`).
    budget_freqs : array_like, optional
        Frequencies of the noise spectra, Hz; default 80 log-spaced from 0.1 to 1000 Hz.

    Returns
    -------
    str
        ``ds.attrs["run_id"]``, where set, goes into ``<meta name="qsense-run-id">``.
    """
    from qsense.environment import get_room

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    for dim in ("array", "source"):
        if dim not in ds.dims:
            raise ValueError(f"ds must have the dimension {dim!r} (dims: {dict(ds.sizes)})")
    if "method" in ds.dims:
        raise ValueError("ds has a dimension 'method': rename it to 'solver' "
                         "(ds.rename(method='solver'))")
    room_obj = get_room(room)
    freqs = (np.logspace(-1, 3, 80) if budget_freqs is None
             else np.asarray(budget_freqs, dtype=float))
    # the figures depend on the data only: a dataset written again (another run id, the
    # same numbers) reuses them; only the provenance is new
    key = None
    if arrays is None and head is None:
        key = _digest(ds, room_obj.name, freqs)
    context = _CACHE.get(key) if key is not None else None
    if context is None:
        context = _content(ds, arrays, head, room_obj, freqs)
        if key is not None:
            _CACHE[key] = context
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    context = dict(context, run_id=ds.attrs.get("run_id"),
                   provenance=_provenance(ds, command, config))
    return _template().render(**context)


def _content(ds, arrays, head, room_obj, freqs) -> dict:
    """Everything of the report but its provenance: figures, tables, words."""
    import qsense as qs
    from qsense.environment import Environment

    sweeps = fmt.sweep_dims(ds)
    base, at = fmt.base(ds)
    summ = summary(base)
    labels = dict(zip((str(a) for a in ds["array"].values), fmt.labels(ds), strict=True))

    head = _sphere_head() if head is None else head
    notes = []
    if arrays is None:
        arrays, notes = _rebuild_arrays(ds, head)
    else:
        arrays = {str(k): v for k, v in arrays.items() if str(k) in labels}

    figures = {}
    figures["overview"] = [f for f in (figs.overview(base, summ),) if f]
    figures["layouts"] = [figs.layouts(arrays, labels, head)] if arrays else []
    examples = _examples(ds, head) if arrays else []
    figures["topographies"] = ([figs.topographies(arrays, labels, head, examples)]
                               if examples else [])
    maps = []
    for var in fmt.metric_vars(base):
        if "source" not in base[var].dims:
            continue
        if "solver" in base[var].dims:
            maps += [figs.brain_maps(base, var, s) for s in fmt.solvers(base)]
        else:
            maps.append(figs.brain_maps(base, var))
    figures["maps"] = maps
    env = Environment(room=room_obj)
    budgets = {name: qs.noise_budget(arr, env, freqs) for name, arr in arrays.items()}
    figures["spectra"] = [figs.spectra(budgets, labels, room_obj)] if budgets else []
    figures["localisation"] = [f for f in (figs.cumulative_ple(base), figs.bound_vs_depth(base))
                               if f]
    figures["sweeps"] = [figs.sweep_curves(ds, d) for d in sweeps]
    figures["recordings"] = [f for f in (noisy.recordings_figure(ds),) if f]
    figures["rejection"], figures["iivanainen"] = [], []
    figures["curves"] = noisy.curves_figures(ds)
    tables = {k: [] for k in figures}
    tables["recordings"] = noisy.recordings_table(ds)
    tables["rejection"] = noisy.rejection_table(ds)
    tables["iivanainen"] = noisy.iivanainen_table(ds)

    sections = [
        ("layouts", "Sensor layouts", ""),
        ("topographies", "Example field topographies", ""),
        ("maps", "Maps on the cortex", "Lateral and medial views of both hemispheres; one "
         "row per array, one colour scale per map. Draw your own with "
         "qsense.plot_brain_map(ds['snr'].sel(array='opm'))."),
        ("spectra", "Noise spectra", ""),
        ("localisation", "Localisation error and bound", ""),
        ("sweeps", "Curves over channel count and noise floor", ""),
        ("recordings", "Localisation on noisy recordings", _recordings_intro(ds)),
        ("rejection", "Interference suppression", ""),
        ("curves", "Fair comparisons: channel count, noise floor, standoff", ""),
        ("iivanainen", "Iivanainen et al. (2017) reproduced", ""),
    ]
    at_text = ", ".join(f"{d} = {v if isinstance(v, str) else fmt.sig(v, strip=True)}"
                        for d, v in at.items())
    return dict(
        title=str(ds.attrs.get("title", "qsense comparison study")),
        intro=(f"{ds.sizes['source']:,} cortical dipoles on the fsaverage head, "
               f"{ds.sizes['array']} arrays: " + ", ".join(labels.values()) + "."
               + (f" Sections other than the curves show the dataset at {at_text}."
                  if at_text else "")),
        table=_summary_table(base, summ),
        conclusions=fmt.conclusions(base, summ),
        overview=figures["overview"],
        setup=_setup(ds, arrays, head, room_obj, notes),
        sections=[dict(id=i, title=t, intro=x, figures=figures[i], tables=tables[i])
                  for i, t, x in sections if figures[i] or tables[i]],
        figure_sources=[(f.title, f.source) for fl in figures.values() for f in fl],
    )


def _recordings_intro(ds: xr.Dataset) -> str:
    if "rec_error" not in ds:
        return ""
    settings = ds.attrs.get("rec_settings", "{}")
    try:
        import json

        st = json.loads(settings)
    except ValueError:
        st = {}
    probes = ", ".join(
        f"{h} {int(v)} ({fmt.sig(d * 1e3, 2)} mm deep)" for h, v, d in zip(
            ds["probe_hemisphere"].values, ds["probe_vertex"].values,
            ds["probe_depth"].values, strict=True))
    moment = fmt.setting("moment_Am", ds.attrs.get("moment_Am"))
    physics = "on" if st.get("sensor_physics") else "off"
    return (f"Each array records the same evoked responses ({moment} peak, N100m-like) of "
            f"one probe source at a time (fsaverage vertices {probes}), "
            f"{ds.sizes['realisation']} noise realisations each, in its room "
            f"({ds.attrs.get('rooms')}: {st.get('environments', '')}), with its preset's "
            f"white and 1/f sensor noise and sensor physics ({physics}); recordings paired "
            f"across arrays (same sources, room draws and seed {ds.attrs.get('seed')}). "
            f"MNE's pipeline as a user runs it: low-pass {st.get('h_freq_Hz')} Hz, epochs, "
            f"noise covariance ({st.get('cov_method')}) from the pre-stimulus baseline, "
            "lambda2 = 1/SNR^2 from the whitened evoked, then each solver; the error is the "
            "distance from the probe to the estimate's peak (the fitted dipole) at the "
            "response's peak latency.")


def write_report(ds: xr.Dataset, path, **kwargs) -> None:
    """Write :func:`render_html` (``kwargs`` passed on) to ``path`` atomically."""
    text = render_html(ds, **kwargs)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, write)
