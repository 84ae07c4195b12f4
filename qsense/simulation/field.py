"""Stage 1: source currents -> the true field at the sensors.

The lead field of the active sources is computed once (:func:`qsense.leadfield`, MNE's
"accurate" coil integration) and applied to the currents chunk by chunk. Two kinds of
rows:

* **channel readings** ``sum_k w_k B(r_k) . n_k`` over each channel's integration points,
  what an ideal sensor reports (the numbers ``mne.simulation.simulate_raw`` gives on the
  same forward);
* **the 3-component field in each OPM cell**, for sensors simulated with the SERF Bloch
  model, so that it sees the off-axis components too. A virtual triaxial point
  magnetometer (MNE coil type 2000) sits at every integration point of the sensor's
  first channel (its coil definition in MNE's ``coil_def.dat``), along head-frame x, y,
  z; the three components are averaged with the coil definition's weights. The Bloch
  model then sees the cell-averaged field (see ``docs/simulation.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..forward import leadfield
from ..sensor_array import SensorArray
from ..sensors.opm import OPMPreset
from ..sources import SourceSpace
from .currents import ActiveSources, active_sources

__all__ = ["SourceField", "true_field", "bloch_groups", "cell_array"]

ACCURACY = "accurate"
"""Coil integration accuracy of every lead field here (as ``mne.make_forward_solution``)."""

_HEAD_AXES = np.eye(3)


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
    """The virtual triaxial point magnetometers inside the cells of an OPM array.

    Parameters
    ----------
    array : SensorArray
        OPM channels; channels of one physical sensor share ``sensor_index``.

    Returns
    -------
    virtual : SensorArray
        Coil type 2000, three channels (head-frame x, y, z) at each integration point of
        each sensor's first channel; sensors in sorted ``sensor_index`` order (the order
        :func:`qsense.opm.simulate_array_recording` expects).
    weights : ndarray, shape (n_sensors, K)
        The coil definition's weights of each point (K points per sensor).
    """
    cp = array.coil_points(ACCURACY)
    ids = np.unique(array.sensor_index)
    firsts = [int(np.flatnonzero(array.sensor_index == s)[0]) for s in ids]
    counts = {int(np.sum(cp.segments == c)) for c in firsts}
    if len(counts) != 1:
        raise ValueError(f"the OPM sensors of array have different coil definitions "
                         f"({sorted(counts)} integration points); simulate them separately")
    names, locs, weights = [], [], []
    # frames whose ez is head x, y, z (ex, ey complete a right-handed frame)
    frames = [np.stack([_HEAD_AXES[(a + 1) % 3], _HEAD_AXES[(a + 2) % 3], _HEAD_AXES[a]])
              for a in range(3)]
    for s, c in zip(ids, firsts, strict=True):
        sel = np.flatnonzero(cp.segments == c)
        weights.append(cp.weights[sel])
        for k, r in enumerate(cp.points[sel]):
            for a, ax in enumerate("xyz"):
                names.append(f"cell{int(s)}_{k}_{ax}")
                locs.append(np.concatenate([r, frames[a].ravel()]))
    virtual = SensorArray(names=tuple(names), coil_types=np.full(len(names), 2000),
                          loc=np.array(locs), sensor="point")
    return virtual, np.array(weights)


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


def _gain(array, head, sub, active: ActiveSources) -> np.ndarray:
    lf = leadfield(array, head, sub, accuracy=ACCURACY).values  # (rows, n_active, 3)
    if active.vector:
        return lf.reshape(lf.shape[0], -1)
    return np.einsum("rsk,sk->rs", lf, active.orientations)


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
        self.cell_weights = []
        sub = None if active is None else _subspace(sources, active.indices)
        if active is not None and len(self.channel_index):
            picked = array.pick(self.channel_index)
            self._channels = _Rows(_gain(picked, head, sub, active))
        self.n_cells = []
        for _, idx in self.groups:
            virtual, w = cell_array(array.pick(idx))
            n_s, K = w.shape
            self.n_cells.append(n_s)
            self.cell_weights.append(w)
            if active is None:
                self._cells.append(None)
                continue
            g = _gain(virtual, head, sub, active).reshape(n_s, K, 3, -1)
            self._cells.append(_Rows(np.einsum("skar,sk->sar", g, w).reshape(n_s * 3, -1)))

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
        coords={"channel": ("channel", list(array.names), {"long_name": "channel name"}),
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
            coords={"cell_model": ("cell", models, {"long_name": "Bloch model"}),
                    "cell_sensor": ("cell", sensors, {"long_name": "sensor_index"}),
                    "component": ("component", ["x", "y", "z"],
                                  {"long_name": "head-frame component"})},
            attrs={"units": "T", "long_name": "field averaged over the OPM cell"})
    return ds
