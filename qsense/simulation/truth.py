"""Ground truth of a simulated recording: the sources, their currents and the settings.

Saved next to the FIF file as NetCDF (``<name>-truth.nc`` for ``<name>.fif``), written
atomically (:func:`qsense._io.atomic_write`); read it back with :func:`read_truth`.

Variables (head frame, SI units; every variable and coordinate has ``units`` and
``long_name``):

``position`` (source, component)
    Positions of the active sources, m.
``orientation`` (source, component)
    Unit dipole directions, for an estimate of fixed orientation (a scalar
    ``mne.SourceEstimate``: the source normals).
``amplitude`` (source, time)
    Dipole moment along ``orientation``, A m (fixed orientation).
``moment`` (source, component, time)
    Dipole moment, A m (vector estimates, instead of ``amplitude``).
``event_sample``, ``event_code`` (event)
    Events of the activity, when given (sample from the start of the recording).

Coordinates ``source_index`` (index in the qsense source space), ``vertex`` and
``source_space`` (vertex number and MNE source space of each source), ``time`` (s from the
first sample). Attributes: ``settings`` (JSON: every argument that shaped the recording,
the seed included), ``event_id`` (JSON), ``sfreq``, ``stc_kind``, ``stc_tmin``,
``subject``, ``frame`` ("head").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_write

__all__ = ["truth_dataset", "truth_fname", "write_truth", "stream_truth", "read_truth",
           "decoded", "TIME_BLOCK"]

_COMPONENT = ("component", ["x", "y", "z"], {"units": "1", "long_name": "head-frame axis"})


def truth_fname(fname) -> Path:
    """The truth file that goes with a FIF file: ``<name>-truth.nc`` for ``<name>.fif``."""
    fname = Path(fname)
    stem = fname.name[:-4] if fname.name.endswith(".fif") else fname.name
    return fname.with_name(stem + "-truth.nc")


TIME_BLOCK = 2**14
"""Samples of each time-long variable written at a time by :func:`stream_truth` (128 KiB of
``time``; one source's amplitude per row)."""


def _parts(active, n_times: int, sfreq: float, settings: dict, events, event_id):
    """The truth as (dimension sizes, variables, attributes), shared by
    :func:`truth_dataset` and :func:`stream_truth`.

    Each variable is ``(name, dims, values, attrs)`` in the order xarray writes them
    (data variables, then coordinates); ``values`` is an array, or for a variable whose
    last dimension is ``time`` a function ``(a, b) -> values of samples [a, b)`` (views of
    the estimate, not copies)."""
    sfreq = float(sfreq)
    n = 0 if active is None else active.n_active

    def time(a, b):
        return np.arange(a, b) / sfreq

    def zeros(a, b):
        return np.zeros((0, b - a))

    def moments(a, b):
        return active.data[..., a:b]

    data, coords = [], []
    data.append(("position", ("source", "component"),
                 np.zeros((0, 3)) if active is None else active.positions,
                 {"units": "m", "long_name": "source position (head frame)"}))
    if active is None or not active.vector:
        data.append(("orientation", ("source", "component"),
                     np.zeros((0, 3)) if active is None else active.orientations,
                     {"units": "1", "long_name": "dipole direction (head frame)"}))
        data.append(("amplitude", ("source", "time"), zeros if active is None else moments,
                     {"units": "A m", "long_name": "dipole moment along orientation"}))
    else:
        data.append(("moment", ("source", "component", "time"), moments,
                     {"units": "A m", "long_name": "dipole moment (head frame)"}))
    sizes = {"source": n, "component": 3, "time": int(n_times)}
    if events is not None:
        ev = np.asarray(events, dtype=int).reshape(-1, 3)
        sizes["event"] = len(ev)
        data.append(("event_sample", ("event",), ev[:, 0],
                     {"units": "1", "long_name": "sample of the event"}))
        data.append(("event_code", ("event",), ev[:, 2],
                     {"units": "1", "long_name": "event code"}))
    coords.append(("source_index", ("source",),
                   np.zeros(0, int) if active is None else np.asarray(active.indices),
                   {"units": "1", "long_name": "index in the qsense source space"}))
    coords.append(("vertex", ("source",), np.zeros(0, int) if active is None
                   else np.concatenate(active.vertices).astype(int),
                   {"units": "1", "long_name": "vertex number (sources.to_mne())"}))
    coords.append(("source_space", ("source",), np.zeros(0, int) if active is None
                   else np.concatenate([np.full(len(v), k) for k, v in
                                        enumerate(active.vertices)]).astype(int),
                   {"units": "1", "long_name": "index of the MNE source space"}))
    coords.append((_COMPONENT[0], ("component",), np.array(_COMPONENT[1]), _COMPONENT[2]))
    coords.append(("time", ("time",), time,
                   {"units": "s", "long_name": "time from the first sample"}))
    attrs = {
        "title": "qsense simulate_raw ground truth",
        "settings": json.dumps(settings, sort_keys=True),
        "event_id": json.dumps(event_id or {}, sort_keys=True),
        "sfreq": sfreq,
        "n_sources": n,
        "stc_kind": "none" if active is None else active.kind,
        "stc_tmin": 0.0 if active is None else active.tmin,
        "subject": "" if active is None or active.subject is None else active.subject,
        "frame": "head",
    }
    return sizes, data, coords, attrs


def truth_dataset(active, n_times: int, sfreq: float, settings: dict, *, events=None,
                  event_id=None) -> xr.Dataset:
    """The ground truth as an ``xarray.Dataset`` (see the module docstring).

    Parameters
    ----------
    active : ActiveSources or None
        None for an empty room (no sources).
    n_times : int
    sfreq : float
        Hz.
    settings : dict
        JSON-serialisable record of the simulation's arguments.
    events : array_like, shape (n_events, 3), optional
        MNE events (sample, previous, code).
    event_id : dict, optional

    Notes
    -----
    The amplitudes are the estimate's own array (not copied); the ``time`` coordinate
    is made here (8 bytes a sample). :func:`stream_truth` writes the same file without
    either in memory.
    """
    sizes, data, coords, attrs = _parts(active, n_times, sfreq, settings, events, event_id)
    n = sizes["time"]

    def whole(values):
        return values(0, n) if callable(values) else values

    return xr.Dataset({name: (dims, whole(v), a) for name, dims, v, a in data},
                      coords={name: (dims, whole(v), a) for name, dims, v, a in coords},
                      attrs=attrs)


def stream_truth(path, active, n_times: int, sfreq: float, settings: dict, *, events=None,
                 event_id=None, extra=None) -> Path:
    """Write the ground truth to NetCDF without holding its time-long variables in
    memory; atomically (nothing under ``path`` until done).

    The file is the one ``write_truth(truth_dataset(...), path)`` writes (xarray's
    NetCDF-4 layout: the same dimensions, variables, types, ``_FillValue`` NaN for
    floats, attributes and ``coordinates`` lists; tested), but ``time`` and the
    amplitudes are written :data:`TIME_BLOCK` samples at a time from the estimate, so
    memory does not grow with the recording's duration.

    Parameters
    ----------
    path : path-like
        The ``.nc`` file.
    active, n_times, sfreq, settings, events, event_id
        As :func:`truth_dataset`.
    extra : dict, optional
        More variables, ``{name: (dims, values, attrs)}``, held in memory (the head's
        movement); a variable named like its only dimension is that dimension's
        coordinate.

    Returns
    -------
    Path
    """
    import netCDF4

    sizes, data, coords, attrs = _parts(active, n_times, sfreq, settings, events, event_id)
    # xarray lists a data variable's non-index coordinates that share its dimensions
    aux = [(name, set(dims)) for name, dims, _, _ in coords if dims != (name,)]

    def write(tmp):
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            for name, size in sizes.items():
                nc.createDimension(name, size)  # size 0: unlimited, as xarray writes it
            for kind, (name, dims, values, a) in [("data", x) for x in data] + \
                    [("coord", x) for x in coords]:
                sample = values(0, 0) if callable(values) else np.asarray(values)
                if sample.dtype.kind == "U":
                    var = nc.createVariable(name, str, dims)
                elif sample.dtype.kind == "f":
                    var = nc.createVariable(name, sample.dtype, dims, fill_value=np.nan)
                else:
                    var = nc.createVariable(name, sample.dtype, dims)
                a = dict(a)
                if kind == "data":
                    listed = sorted(c for c, cd in aux if cd <= set(dims))
                    if listed:
                        a["coordinates"] = " ".join(listed)
                var.setncatts(a)
                if not callable(values):
                    if np.asarray(values).size:
                        var[...] = (np.asarray(values, dtype=object)
                                    if sample.dtype.kind == "U" else values)
                    continue
                for s in range(0, sizes["time"], TIME_BLOCK):
                    e = min(s + TIME_BLOCK, sizes["time"])
                    block = values(s, e)
                    if block.size:
                        var[..., s:e] = block
            for name, (dims, values, a) in (extra or {}).items():
                dims = (dims,) if isinstance(dims, str) else tuple(dims)
                values = np.asarray(values, dtype=float)
                for d, size in zip(dims, values.shape, strict=True):
                    if d not in nc.dimensions:
                        nc.createDimension(d, size)
                var = nc.createVariable(name, values.dtype, dims, fill_value=np.nan)
                var.setncatts(dict(a))
                var[...] = values
            nc.setncatts(attrs)

    path = Path(path)
    atomic_write(path, write)
    return path


def write_truth(ds: xr.Dataset, path) -> Path:
    """Write a truth dataset to NetCDF atomically (nothing under ``path`` until done)."""
    path = Path(path)
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp))
    return path


def read_truth(fname) -> xr.Dataset:
    """The ground truth of a simulated recording.

    Parameters
    ----------
    fname : path-like
        The FIF file written by :func:`qsense.simulate_raw` (its ``-truth.nc`` beside it
        is read) or the truth file itself.

    Returns
    -------
    xarray.Dataset
        Loaded into memory (see :mod:`qsense.simulation.truth` for the variables);
        ``settings`` and ``event_id`` decoded from JSON into ``ds.attrs``.
    """
    fname = Path(fname)
    path = fname if fname.suffix == ".nc" else truth_fname(fname)
    if not path.exists():
        raise FileNotFoundError(f"no ground-truth file {str(path)!r} next to {str(fname)!r}")
    with xr.open_dataset(path) as ds:
        return decoded(ds.load())


def decoded(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of a truth dataset with ``settings`` and ``event_id`` decoded from
    JSON (as :func:`read_truth` returns it)."""
    ds = ds.copy()
    ds.attrs = dict(ds.attrs)
    for key in ("settings", "event_id"):
        if isinstance(ds.attrs.get(key), str):
            ds.attrs[key] = json.loads(ds.attrs[key])
    return ds
