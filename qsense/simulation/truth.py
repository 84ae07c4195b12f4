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

__all__ = ["truth_dataset", "truth_fname", "write_truth", "read_truth", "decoded"]

_COMPONENT = ("component", ["x", "y", "z"], {"units": "1", "long_name": "head-frame axis"})


def truth_fname(fname) -> Path:
    """The truth file that goes with a FIF file: ``<name>-truth.nc`` for ``<name>.fif``."""
    fname = Path(fname)
    stem = fname.name[:-4] if fname.name.endswith(".fif") else fname.name
    return fname.with_name(stem + "-truth.nc")


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
    """
    t = np.arange(n_times) / float(sfreq)
    n = 0 if active is None else active.n_active
    src_coords = {
        "source_index": ("source", np.zeros(0, int) if active is None else active.indices,
                         {"units": "1", "long_name": "index in the qsense source space"}),
        "vertex": ("source", np.zeros(0, int) if active is None
                   else np.concatenate(active.vertices).astype(int),
                   {"units": "1", "long_name": "vertex number (sources.to_mne())"}),
        "source_space": ("source", np.zeros(0, int) if active is None else np.concatenate(
            [np.full(len(v), k) for k, v in enumerate(active.vertices)]).astype(int),
            {"units": "1", "long_name": "index of the MNE source space"}),
    }
    coords = dict(src_coords, component=_COMPONENT,
                  time=("time", t, {"units": "s", "long_name": "time from the first sample"}))
    data = {"position": (("source", "component"),
                         np.zeros((0, 3)) if active is None else active.positions,
                         {"units": "m", "long_name": "source position (head frame)"})}
    if active is None or not active.vector:
        data["orientation"] = (("source", "component"), np.zeros((0, 3)) if active is None
                               else active.orientations,
                               {"units": "1", "long_name": "dipole direction (head frame)"})
        data["amplitude"] = (("source", "time"), np.zeros((0, n_times)) if active is None
                             else active.data,
                             {"units": "A m", "long_name": "dipole moment along orientation"})
    else:
        data["moment"] = (("source", "component", "time"), active.data,
                          {"units": "A m", "long_name": "dipole moment (head frame)"})
    if events is not None:
        ev = np.asarray(events, dtype=int).reshape(-1, 3)
        data["event_sample"] = ("event", ev[:, 0], {"units": "1", "long_name":
                                                     "sample of the event"})
        data["event_code"] = ("event", ev[:, 2], {"units": "1", "long_name": "event code"})
    attrs = {
        "title": "qsense simulate_raw ground truth",
        "settings": json.dumps(settings, sort_keys=True),
        "event_id": json.dumps(event_id or {}, sort_keys=True),
        "sfreq": float(sfreq),
        "n_sources": n,
        "stc_kind": "none" if active is None else active.kind,
        "stc_tmin": 0.0 if active is None else active.tmin,
        "subject": "" if active is None or active.subject is None else active.subject,
        "frame": "head",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


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
