"""Stage 1: source currents -> the true field at the sensors.

The lead field of the active sources is computed once (:func:`qsense.leadfield`, MNE's
"accurate" coil integration) and applied to the currents chunk by chunk. Two kinds of
rows:

* **channel readings** ``sum_k w_k B(r_k) . n_k`` over each channel's integration points,
  what an ideal sensor reports (the numbers ``mne.simulation.simulate_raw`` gives on the
  same forward);
* **the 3-component field in each OPM cell**, for sensors simulated with the SERF Bloch
  model, so that it sees the off-axis components too: virtual point magnetometers (MNE
  coil type 2000) along the three axes of each sensor's pump frame sit at the
  integration points of the channel that reads that axis (:func:`cell_array`); each
  component is averaged with the coil definition's weights. The Bloch model sees the
  cell-averaged field (see ``docs/simulation.md``); in the small-signal limit each
  channel reads exactly what its coil definition reads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..forward import leadfield
from ..opm import sensor_frames_from_array
from ..sensor_array import SensorArray
from ..sensors.opm import OPMPreset
from ..sources import SourceSpace
from .currents import ActiveSources, active_sources

__all__ = ["SourceField", "true_field", "bloch_groups", "cell_array", "clear_gain_cache",
           "GAIN_CACHE_BYTES"]

ACCURACY = "accurate"
"""Coil integration accuracy of every lead field here (as ``mne.make_forward_solution``)."""


def bloch_groups(array: SensorArray) -> list:
    """Channels simulated with the SERF Bloch model, grouped by their model.

    Returns
    -------
    list of (OPMModel, ndarray of int)
        The model and the channel indices of each group (OPM presets that carry a Bloch
        model, :attr:`qsense.sensors.OPMPreset.bloch`), in order of first appearance.
    """
    groups: dict = {}
    for i, p in enumerate(array.channel_presets):
        if isinstance(p, OPMPreset) and p.bloch is not None:
            groups.setdefault(p.bloch, []).append(i)
    return [(m, np.array(idx, dtype=int)) for m, idx in groups.items()]


def cell_array(array: SensorArray):
    """The virtual point magnetometers inside the cells of an OPM array.

    For each physical sensor and each axis of its pump frame
    (:func:`qsense.opm.sensor_frames_from_array`), point magnetometers (MNE coil type
    2000) along that axis sit at the integration points of the channel that reads it
    (its coil definition, "accurate"), or of the sensor's first channel for an axis no
    channel reads. Averaged with the coil definition's weights, the component of the
    cell field along each read axis is then exactly what that channel's coil definition
    reads.

    Parameters
    ----------
    array : SensorArray
        OPM channels; channels of one physical sensor share ``sensor_index``.

    Returns
    -------
    virtual : SensorArray
        ``n_sensors * 3 * K`` channels, sensors in sorted ``sensor_index`` order (the
        order :func:`qsense.opm.simulate_array_recording` expects), then pump axes
        x, y, z, then points.
    weights : ndarray, shape (n_sensors, 3, K)
        The coil definition's weight of each point.
    frames : ndarray, shape (n_sensors, 3, 3)
        Pump frames (rows x_p, y_p, z_p in the head frame).
    """
    ids, _, frames, ch_axis, _, _ = sensor_frames_from_array(array)
    cp = array.coil_points(ACCURACY)
    names, locs, weights = [], [], []
    for s, sid in enumerate(ids):
        chans = np.flatnonzero(array.sensor_index == sid)
        w_s = []
        for a in range(3):
            readers = [c for c in chans if ch_axis[c] == a]
            sel = np.flatnonzero(cp.segments == (readers[0] if readers else chans[0]))
            w_s.append(cp.weights[sel])
            ex, ey, ez = frames[s][(a + 1) % 3], frames[s][(a + 2) % 3], frames[s][a]
            for k, r in enumerate(cp.points[sel]):
                names.append(f"cell{int(sid)}_{'xyz'[a]}{k}")
                locs.append(np.concatenate([r, ex, ey, ez]))
        if len({len(w) for w in w_s}) != 1:
            raise ValueError(f"the channels of OPM sensor {int(sid)} have different coil "
                             "definitions; simulate them separately")
        weights.append(w_s)
    if len({len(w[0]) for w in weights}) != 1:
        raise ValueError("the OPM sensors of array have different coil definitions; "
                         "simulate them separately")
    virtual = SensorArray(names=tuple(names), coil_types=np.full(len(names), 2000),
                          loc=np.array(locs), sensor="point")
    return virtual, np.array(weights), frames


@dataclass(frozen=True, eq=False)
class _Rows:
    """A lead field applied to currents: (n_rows, n_active) or (n_rows, 3 n_active)."""

    gain: np.ndarray

    def apply(self, moments):
        return self.gain @ moments


def _subspace(sources: SourceSpace, indices) -> SourceSpace:
    return SourceSpace(sources.kind, sources.positions[indices],
                       None if sources.normals is None else sources.normals[indices],
                       sources.head_mri_t, sources.subject, sources.spacing)


GAIN_CACHE_BYTES = 256 * 2**20
"""Largest total size of the gain matrices :func:`_gain` keeps for reuse (bytes)."""

_gain_cache: OrderedDict = OrderedDict()  # key -> (head, gain); least recently used first
_gain_lock = threading.Lock()


def _digest(*arrays) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.digest()


def clear_gain_cache() -> None:
    """Forget the gain matrices kept for reuse (see :func:`_gain`)."""
    with _gain_lock:
        _gain_cache.clear()


def _gain(array, head, sub, active: ActiveSources) -> np.ndarray:
    """The gain of the active sources, (rows, n_active) along their orientations or
    (rows, 3 n_active) for a vector estimate; read-only.

    Kept for reuse, as a user reuses an MNE forward across recordings: a later recording
    with the same head (the same object, held by the cache so that its id stays its
    own), the same coil integration points (array geometry and coil types, compared by
    content) and the same source positions and orientations gets the same matrix without
    computing the lead field again. At most :data:`GAIN_CACHE_BYTES` in all, least
    recently used dropped first; :func:`clear_gain_cache` empties it.
    """
    cp = array.coil_points(ACCURACY)
    key = (id(head), ACCURACY, _digest(cp.points, cp.normals, cp.weights, cp.segments),
           _digest(sub.positions),
           b"vector" if active.vector else _digest(active.orientations))
    with _gain_lock:
        hit = _gain_cache.get(key)
        if hit is not None and hit[0] is head:
            _gain_cache.move_to_end(key)
            return hit[1]
    lf = leadfield(array, head, sub, accuracy=ACCURACY).values  # (rows, n_active, 3)
    gain = (lf.reshape(lf.shape[0], -1) if active.vector
            else np.einsum("rsk,sk->rs", lf, active.orientations))
    gain.flags.writeable = False
    if gain.nbytes <= GAIN_CACHE_BYTES:
        with _gain_lock:
            _gain_cache[key] = (head, gain)
            while sum(g.nbytes for _, g in _gain_cache.values()) > GAIN_CACHE_BYTES:
                _gain_cache.popitem(last=False)
    return gain


class SourceField:
    """The true field of an estimate's sources at an array, sample range by sample range.

    Parameters
    ----------
    array : SensorArray
    head : Head
    sources : SourceSpace
    active : ActiveSources or None
        From :func:`~qsense.simulation.currents.active_sources`; None: no sources (an
        empty room), every field is zero.
    channels : array_like of int or None
        Channels whose ideal readings are wanted (default all).
    cells : bool
        Also prepare the cell fields of the Bloch-model OPM channels
        (:func:`bloch_groups`).
    """

    def __init__(self, array, head, sources, active, *, channels=None, cells=False):
        self.array = array
        self.active = active
        self.channel_index = (np.arange(array.n_channels) if channels is None
                              else np.asarray(channels, dtype=int))
        self.groups = bloch_groups(array) if cells else []
        self._channels = None
        self._cells = []
        sub = None if active is None else _subspace(sources, active.indices)
        if active is not None and len(self.channel_index):
            picked = array.pick(self.channel_index)
            self._channels = _Rows(_gain(picked, head, sub, active))
        self.n_cells = []
        for _, idx in self.groups:
            virtual, w, frames = cell_array(array.pick(idx))
            n_s, _, K = w.shape
            self.n_cells.append(n_s)
            if active is None:
                self._cells.append(None)
                continue
            g = _gain(virtual, head, sub, active).reshape(n_s, 3, K, -1)
            pump = np.einsum("sakr,sak->sar", g, w)  # pump-frame components
            head_frame = np.einsum("sab,sar->sbr", frames, pump)  # B_head = F^T B_pump
            self._cells.append(_Rows(head_frame.reshape(n_s * 3, -1)))

    def channels(self, start: int, stop: int) -> np.ndarray:
        """Ideal readings of the chosen channels for samples [start, stop), shape
        (n_chosen, n); T (T/m for planar gradiometers)."""
        if self._channels is None:
            return np.zeros((len(self.channel_index), stop - start))
        return self._channels.apply(self.active.moments(start, stop))

    def cells(self, start: int, stop: int) -> list:
        """Head-frame field in the cells of each Bloch group, list of arrays
        (n_sensors, 3, n), tesla."""
        out = []
        for rows, n_s in zip(self._cells, self.n_cells, strict=True):
            if rows is None:
                out.append(np.zeros((n_s, 3, stop - start)))
            else:
                out.append(rows.apply(self.active.moments(start, stop)).reshape(n_s, 3, -1))
        return out


def true_field(array, head, sources, stc, *, start: int = 0, stop: int | None = None
               ) -> xr.Dataset:
    """Stage 1 of :func:`qsense.simulate_raw` on its own: the field of an estimate's
    sources at an array.

    Parameters
    ----------
    array : SensorArray
    head : Head
    sources : SourceSpace
    stc : mne.SourceEstimate or relative
        See :func:`~qsense.simulation.currents.active_sources` (A m; vertices as
        ``sources.to_mne()`` numbers them).
    start, stop : int
        Sample range (default the whole estimate).

    Returns
    -------
    xarray.Dataset
        ``channel_field`` (channel, time): what ideal sensors report, T (T/m for planar
        gradiometers); ``cell_field`` (cell, component, time): the head-frame field
        averaged over each Bloch-model OPM cell, T, present when the array has such
        sensors (coordinates ``cell_model`` and ``cell_sensor`` say whose cell it is).
        Attribute ``sfreq`` (Hz).
    """
    active = active_sources(sources, stc)
    stop = active.n_times if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop:
        raise ValueError(f"start={start}, stop={stop}: need 0 <= start < stop")
    sf = SourceField(array, head, sources, active, cells=True)
    t = np.arange(start, stop) / active.sfreq
    ds = xr.Dataset(
        {"channel_field": (("channel", "time"), sf.channels(start, stop),
                           {"units": "T", "long_name": "ideal channel reading (planar "
                            "gradiometers in T/m)"})},
        coords={"channel": ("channel", list(array.names), {"units": "1",
                                                           "long_name": "channel name"}),
                "time": ("time", t, {"units": "s", "long_name": "time"})},
        attrs={"sfreq": active.sfreq},
    )
    if sf.groups:
        cells = np.concatenate(sf.cells(start, stop))
        models = [m.name for (m, _), n in zip(sf.groups, sf.n_cells, strict=True)
                  for _ in range(n)]
        sensors = np.concatenate([np.unique(array.sensor_index[idx]) for _, idx in sf.groups])
        ds["cell_field"] = xr.DataArray(
            cells, dims=("cell", "component", "time"),
            coords={"cell_model": ("cell", models, {"units": "1", "long_name": "Bloch model"}),
                    "cell_sensor": ("cell", sensors, {"units": "1",
                                                      "long_name": "sensor_index"}),
                    "component": ("component", ["x", "y", "z"],
                                  {"units": "1", "long_name": "head-frame component"})},
            attrs={"units": "T", "long_name": "field averaged over the OPM cell"})
    return ds
