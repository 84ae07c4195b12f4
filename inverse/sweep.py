"""Sweeps: the comparison study over a grid of its options, on a Dask cluster.

:func:`sweep` runs :func:`inverse.study.compare` at every point of a parameter grid
(``{"n_opm": [32, 64], "bandwidth": [1.0, 10.0]}``: every combination) and returns one
:class:`xarray.Dataset` with the grid parameters as its first dimensions, followed by the
study's own (``array``, ``solver``, ``source``, ...).

Where the points run
--------------------
On `Dask distributed <https://distributed.dask.org>`_: a ``LocalCluster`` of
``n_workers`` worker processes (one thread each) by default, a running scheduler given by
its address (``"tcp://host:8786"``), or a ``distributed.Client`` the caller holds;
``client="serial"`` runs the points one after the other in this process, without Dask.
The study is deterministic given its options, so every way gives the same numbers (the
tests check 1e-12 relative against the serial loop).

The store
---------
Each point is written as soon as it arrives, by the process that called :func:`sweep`
(the workers need no shared file system): one NetCDF file per point in the ``store``
folder, named by a SHA-256 hash of the point's full options (the grid point, the fixed
study options and :func:`~inverse.study.compare`'s defaults for the rest) and of the
qsense and MNE versions. The file is written beside its name and renamed onto it
(:func:`qsense._io.atomic_write`), so a killed sweep leaves whole points only. A later
sweep reads the points it finds and computes the others; a point's file records its
options (attribute ``sweep_options``, JSON) and its hash (``sweep_key``), checked when
it is read.

Failures
--------
A worker that dies while it computes a point (killed, out of memory) loses the point;
the scheduler runs it again on another worker (up to Dask's
``distributed.scheduler.allowed-failures``, 3 by default). An exception raised by the
study is retried ``retries`` times, then stops the sweep (the points already stored
stay). Everything that can be checked is checked before any point starts and before
anything is written: the grid's names and values, the study options, the store, the
client (an unreachable scheduler fails within ``connect_timeout`` seconds).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import numbers
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["sweep", "connect", "point_key", "study_option_names", "FORBIDDEN", "SERIAL"]

FORBIDDEN = ("head", "progress")  # study options a sweep cannot vary or fix: a Head is not
# a value one can hash or send cheaply; the progress bar is the sweep's own
SERIAL = "serial"  # client="serial": a plain loop in this process
_FORMAT = "qsense-sweep/1"  # part of every point's hash; change it when the layout changes
_UNITS = {"n_opm": "1", "bandwidth": "Hz", "moment": "A m", "lambda2": "1", "bem_ico": "1"}
# of the grid coordinates (as inverse.study.compare documents its options); others: ""


# --- the options: names, values, hashes -----------------------------------------------------

def _study_parameters():
    """The options :func:`inverse.study.compare` takes now, less :data:`FORBIDDEN`."""
    from . import study

    sig = inspect.signature(study.compare)
    return {name: p for name, p in sig.parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in FORBIDDEN}


def study_option_names() -> list[str]:
    """The options a sweep can vary or fix: those :func:`inverse.study.compare` takes now,
    less :data:`FORBIDDEN`."""
    return list(_study_parameters())


def _plain(value, where):
    """``value`` as plain JSON types (numpy scalars to Python, tuples to lists); raises for
    anything else (a sweep's options must hash and travel as values)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    raise TypeError(f"{where} must be a number, a string, a boolean, None or a list of "
                    f"them, got {type(value).__name__} {value!r}")


def _check_values(name, values, where):
    """The checks of :func:`inverse.study.compare` that need no computation, for the options
    it exports ranges of (the others are checked by the study itself)."""
    from qsense._checks import check_int, check_number

    from . import study

    ranges = {"n_opm": study.N_OPM_RANGE, "bandwidth": study.BANDWIDTH_RANGE,
              "moment": study.MOMENT_RANGE, "lambda2": study.LAMBDA2_RANGE}
    for v in values:
        try:
            if name == "spacing" and v not in study.SPACINGS:
                raise ValueError(f"must be one of {study.SPACINGS}, got {v!r}")
            if name == "bem_ico" and v is not None and (
                    isinstance(v, bool) or v not in study.BEM_ICOS):
                raise ValueError(f"must be one of {study.BEM_ICOS} or None, got {v!r}")
            if name == "arrays" and (not isinstance(v, list) or not v or len(set(v)) != len(v)
                                     or any(a not in study.ARRAY_NAMES for a in v)):
                raise ValueError(f"must be a list of distinct names from "
                                 f"{study.ARRAY_NAMES}, got {v!r}")
            if name == "n_opm":
                check_int(name, v, low=ranges[name][0], high=ranges[name][1])
            elif name in ranges:
                check_number(name, v, low=ranges[name][0], high=ranges[name][1])
        except (TypeError, ValueError) as err:
            text = str(err)
            if text.startswith(name):  # qsense._checks names the option itself
                text = text[len(name):].lstrip(" :=")
            raise type(err)(f"{where}: {text}") from None


def _canonical(options) -> str:
    return json.dumps(options, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_key(options: dict) -> str:
    """The hash that names a point's file: SHA-256 (hex, 32 characters) of the full study
    options (JSON, sorted keys), the qsense and MNE versions and the store's format."""
    import mne

    import qsense

    text = _canonical({"format": _FORMAT, "options": options,
                       "qsense": qsense.__version__, "mne": mne.__version__})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _label(value):
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _coordinate(values):
    """The grid coordinate of one parameter: its values where they are numbers (or all
    strings), else their labels (lists: comma-joined names; None: "None")."""
    if all(isinstance(v, str) for v in values):
        return values
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return values
    return [_label(v) for v in values]


def _check_grid(grid, parameters):
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict of option name -> list of values, got "
                        f"{type(grid).__name__}")
    if not grid:
        raise ValueError("grid must name at least one option of inverse.study.compare, got {}")
    out = {}
    for name, values in grid.items():
        if not isinstance(name, str) or name not in parameters:
            why = (" (the sweep sets it)" if name in FORBIDDEN else "")
            raise ValueError(f"grid has the unknown option {name!r}{why}; a grid varies "
                             f"options of inverse.study.compare: {', '.join(parameters)}")
        if not isinstance(values, list | tuple):
            raise TypeError(f"grid[{name!r}] must be a list of values, got "
                            f"{type(values).__name__} {values!r}")
        if len(values) == 0:
            raise ValueError(f"grid[{name!r}] is empty; give at least one value")
        plain = [_plain(v, f"grid[{name!r}][{i}]") for i, v in enumerate(values)]
        _check_values(name, plain, f"grid[{name!r}]")
        labels = [_canonical(v) for v in plain]
        if len(set(labels)) != len(labels):
            raise ValueError(f"grid[{name!r}] repeats a value: {values!r}")
        if len(set(map(_label, plain))) != len(plain):
            raise ValueError(f"grid[{name!r}] has values that read the same: {values!r}")
        out[name] = plain
    return out


def _check_study(study_options, parameters, grid):
    out = {}
    for name, value in study_options.items():
        if name not in parameters:
            why = (" (the sweep sets it)" if name in FORBIDDEN else "")
            raise ValueError(f"unknown study option {name!r}{why}; allowed: "
                             f"{', '.join(parameters)} (and the sweep's own: client, store, "
                             "n_workers, retries, progress, connect_timeout)")
        if name in grid:
            raise ValueError(f"{name!r} is both in the grid and a fixed study option; give "
                             "it once")
        out[name] = _plain(value, name)
        _check_values(name, [out[name]], name)
    return out


def _check_store(store) -> Path:
    from qsense._checks import check_output_path

    return check_output_path("store", store, folder=True)


# --- the client ------------------------------------------------------------------------------

def connect(address: str, timeout: float = 5.0):
    """A ``distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    ValueError
        ``address`` is not a string.
    ConnectionError
        No scheduler answered within ``timeout`` seconds; the message names the address.
    """
    from distributed import Client

    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"client must be a scheduler address such as 'tcp://host:8786', "
                         f"got {address!r}")
    try:
        return Client(address, timeout=timeout)
    except (OSError, ValueError, TypeError) as err:
        raise ConnectionError(f"client={address!r}: no Dask scheduler answered there within "
                              f"{timeout:g} s ({' '.join(str(err).split())}); start one with "
                              "`dask scheduler` or give another address") from None


def _local_cluster(n_workers):
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def _dashboard(client, local, say):
    import importlib.util

    if local and importlib.util.find_spec("bokeh") is None:
        say("no Dask dashboard: it needs bokeh (pip install bokeh)")
        return
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - the dashboard is a convenience
        services = {}
    if "dashboard" in services:
        say(f"Dask dashboard: {client.dashboard_link}")
    else:
        say("no Dask dashboard on this scheduler")


# --- one point ---------------------------------------------------------------------------

def _compute(options):
    """Run the study at one point (on a worker, or in this process)."""
    import mne

    from .study import compare

    with mne.utils.use_log_level("ERROR"):
        return compare(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in options.items()}, progress=False)


def _write(path: Path, ds: xr.Dataset, key: str, options: dict) -> None:
    from qsense._io import atomic_write

    ds = ds.assign_attrs(sweep_key=key, sweep_options=_canonical(options))
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp))


def _read(path: Path, key: str) -> xr.Dataset:
    try:
        ds = xr.load_dataset(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"store: {str(path)!r} cannot be read as a sweep point ({err}); "
                         "remove it to compute the point again") from None
    if ds.attrs.get("sweep_key") != key:
        raise ValueError(f"store: {str(path)!r} is not the point it is named after (its "
                         f"sweep_key is {ds.attrs.get('sweep_key')!r}); remove it to compute "
                         "the point again")
    return ds


class _Counter:
    """Points done and the time left, on standard error: a tqdm bar on a terminal, one
    line per point elsewhere (a log file)."""

    def __init__(self, total, reused, enabled):
        self.total, self.done, self.reused = total, reused, reused
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # an MNE dependency

            self.bar = tqdm(total=total, initial=reused, desc="inverse.sweep", unit="point",
                            file=sys.stderr, dynamic_ncols=True, mininterval=0.2,
                            bar_format="{desc}: {n_fmt}/{total_fmt} points|{bar}| "
                                       "{elapsed} elapsed, ~{remaining} left{postfix}")
            self.bar.set_postfix_str(f", {reused} from the store", refresh=True)
        elif enabled:
            self.say(f"{total} points, {reused} of them in the store")

    def say(self, text):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(f"inverse.sweep: {text}", file=sys.stderr)
        else:
            print(f"inverse.sweep: {text}", file=sys.stderr, flush=True)

    def step(self):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled:
            elapsed = time.perf_counter() - self.t0
            rate = (self.done - self.reused) / elapsed
            left = (self.total - self.done) / rate if rate > 0 else math.nan
            self.say(f"{self.done}/{self.total} points, {elapsed:.0f} s elapsed, "
                     f"~{left:.0f} s left")

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --- the sweep -----------------------------------------------------------------------------

def sweep(grid: dict, *, store, client=None, n_workers: int | None = None, retries: int = 2,
          progress: bool = True, connect_timeout: float = 5.0, **study_options) -> xr.Dataset:
    """Run :func:`inverse.study.compare` at every point of ``grid``, on Dask.

    Parameters
    ----------
    grid : dict of str -> list
        Options of :func:`inverse.study.compare` (any it takes, except ``head`` and
        ``progress``) and the values each takes; the sweep runs every combination. Values
        are numbers, strings, booleans, None or lists of them (``arrays``).
    store : str or path-like
        Folder of the points' NetCDF files (created if missing). Points already there
        are read, not computed.
    client : None, "serial", str or distributed.Client
        None: a ``LocalCluster`` of ``n_workers`` processes with one thread each, closed
        at the end; a string: the address of a running scheduler (its workers need
        qsense installed); a ``Client``: used as it is (not closed); ``"serial"``: a loop
        in this process, without Dask.
    n_workers : int, optional
        Worker processes of the local cluster (default 2; only with ``client=None``).
    retries : int
        How many times a point whose study raises is run again (Dask's ``retries``); a
        point whose worker died is run again by the scheduler in any case.
    progress : bool
        A per-point bar with the time left on standard error, and the dashboard's address
        (or why there is none).
    connect_timeout : float
        Seconds to wait for the scheduler at a ``client`` address.
    **study_options
        Options of :func:`inverse.study.compare` fixed over the grid.

    Returns
    -------
    xarray.Dataset
        The study's variables with the grid parameters as the first dimensions, in the
        grid's order and with its values as coordinates (list values, e.g. of ``arrays``,
        as comma-joined labels; None as "None"). Variables and coordinates that differ
        between points (e.g. ``n_channels`` over ``n_opm``) carry the grid dimensions; a
        study dimension whose coordinate differs between points (``array`` over
        ``arrays``, ``source`` over ``spacing``) is the union, NaN where a point has no
        value. Attributes: ``sweep_grid`` and ``sweep_study_options`` (JSON), ``sweep_points``,
        ``sweep_computed`` (points computed by this call) and ``sweep_reused`` (read from
        the store), and those the points share.

    Raises
    ------
    TypeError, ValueError
        A bad grid, study option, store or client, before anything runs or is written.
    ConnectionError
        No scheduler at the ``client`` address.
    RuntimeError
        A point failed after its retries (the points stored so far stay).
    """
    parameters = _study_parameters()
    grid = _check_grid(grid, parameters)
    fixed = _check_study(study_options, parameters, grid)
    store = _check_store(store)
    from qsense._checks import check_bool, check_int, check_number

    retries = check_int("retries", retries, low=0, high=100)
    progress = check_bool("progress", progress)
    connect_timeout = check_number("connect_timeout", connect_timeout, low=0.1, high=3600.0,
                                   unit="s")
    from distributed import Client

    serial = isinstance(client, str) and client == SERIAL
    if not (client is None or isinstance(client, str | Client)):
        raise TypeError(f"client must be None, 'serial', a scheduler address or a "
                        f"distributed.Client, got {type(client).__name__}")
    if n_workers is not None:
        if client is not None:
            raise ValueError(f"n_workers={n_workers!r} is for the local cluster (client=None); "
                             f"client is {client!r}")
        n_workers = check_int("n_workers", n_workers, low=1, high=1024)

    # every point's full options, hash and file, in grid order
    names = list(grid)
    defaults = {k: _plain(p.default, k) for k, p in parameters.items()
                if p.default is not inspect.Parameter.empty}
    points = []
    for combo in itertools.product(*grid.values()):
        options = {**defaults, **fixed, **dict(zip(names, combo, strict=True))}
        key = point_key(options)
        points.append((combo, options, key, store / f"{key}.nc"))
    todo = [p for p in points if not p[3].exists()]
    stored = {key: _read(path, key) for _, _, key, path in points if path.exists()}
    # (read first: a file that is not its point stops the sweep before anything runs)

    counter = _Counter(len(points), len(points) - len(todo), progress)
    results = []
    try:
        if todo and serial:
            store.mkdir(parents=True, exist_ok=True)
            for _, options, key, path in todo:
                _write(path, _compute(options), key, options)
                counter.step()
        elif todo:
            _run_on_dask(todo, client, n_workers or 2, retries, connect_timeout, store,
                         counter)
        results = [stored[key] if key in stored else _read(path, key)
                   for _, _, key, path in points]
    finally:
        counter.close()
    ds = _combine(grid, points, results)
    return ds.assign_attrs(
        sweep_grid=_canonical(grid), sweep_study_options=_canonical(fixed),
        sweep_points=len(points), sweep_computed=len(todo),
        sweep_reused=len(points) - len(todo))


def _run_on_dask(todo, client, n_workers, retries, timeout, store, counter):
    from distributed import as_completed

    cluster = None
    owned = None
    if client is None:
        owned, cluster = _local_cluster(n_workers)
        client = owned
    elif isinstance(client, str):
        owned = client = connect(client, timeout)
    try:
        _dashboard(client, cluster is not None, counter.say)
        store.mkdir(parents=True, exist_ok=True)
        futures = {}
        for _, options, key, path in todo:
            fut = client.submit(_compute, options, key=f"qsense-sweep-{key}", pure=False,
                                retries=retries)
            futures[fut] = (options, key, path)
        for fut in as_completed(list(futures)):
            options, key, path = futures[fut]
            try:
                ds = fut.result()
            except Exception as err:
                client.cancel(list(futures))
                raise RuntimeError(f"the sweep point {_canonical(options)} failed "
                                   f"({type(err).__name__}: {err})") from err
            _write(path, ds, key, options)
            fut.release()
            counter.step()
    finally:
        if owned is not None:
            owned.close()
        if cluster is not None:
            cluster.close()


def _combine(grid, points, results) -> xr.Dataset:
    """One Dataset: the points along a stacked dimension, unstacked into the grid."""
    names = list(grid)
    labels = {n: _coordinate(v) for n, v in grid.items()}
    index = {n: dict(zip(map(_canonical, v), labels[n], strict=True)) for n, v in grid.items()}
    parts = []
    for ds in results:  # in the order of points
        ds.attrs.pop("sweep_key", None)
        ds.attrs.pop("sweep_options", None)
        for v in ds.variables.values():  # the file's integer encodings cannot hold the
            v.encoding = {}  # NaN of an outer join
        parts.append(ds)
    stacked = xr.concat(parts, dim="sweep_point", data_vars="all", coords="different",
                        compat="equals", join="outer", combine_attrs="drop_conflicts")
    stacked = stacked.assign_coords(
        {n: ("sweep_point", [index[n][_canonical(c[i])] for c, _, _, _ in points])
         for i, n in enumerate(names)})
    if len(names) == 1:
        out = stacked.swap_dims(sweep_point=names[0]).drop_vars("sweep_point",
                                                                errors="ignore")
    else:
        out = stacked.set_index(sweep_point=names).unstack("sweep_point")
    out = out.reindex({n: labels[n] for n in names})
    for name, v in out.variables.items():  # filled by an outer join: names "", flags NaN
        if v.dtype == object:
            flat = v.values.ravel()
            missing = np.array([isinstance(x, float) and np.isnan(x) for x in flat], bool)
            if all(isinstance(x, str) for x in flat[~missing]):
                data = np.where(missing, "", flat).astype(str)
            else:
                data = np.where(missing, np.nan, flat).astype(float)
            out[name] = v.copy(data=data.reshape(v.shape))
    for n in names:
        out[n].attrs = {"units": _UNITS.get(n, ""),
                        "long_name": f"sweep parameter: the study option {n}"}
    return out.transpose(*names, ...)
