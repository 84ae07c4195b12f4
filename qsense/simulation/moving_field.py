"""Stage 1 with head movement inside a fixed helmet (SQUID arrays).

The helmet stays put and the head moves in it: each row of the trajectory gives the
device -> head transform of that moment, the array with that ``dev_head_t`` gives a lead
field of the active sources, and the readings at each sample blend the lead fields of
the two surrounding control points with the weights ``mne.simulation.simulate_raw``
uses (:mod:`qsense.simulation.trajectory`):

    ``b(s) = w(s) G_k m(s) + (1 - w(s)) G_(k+1) m(s)``

(MNE blends the gains first, ``(w G_k + (1 - w) G_(k+1)) m``: the same to rounding).
Before the first row the array's own ``dev_head_t`` is in effect at sample 0, blending
to the first row, as MNE inserts ``info["dev_head_t"]`` at time 0.

Lead fields are computed when first needed and a few are kept (``cache_size``); a
recording read from start to end computes each control point's once. Sensors that move
with the head (OPM, NV) see the head's sources as if it were still:
:class:`~qsense.simulation.field.SourceField` serves them.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._checks import check_int, check_number, check_option, validate_type
from ..coils import CoilPoints, channel_coil_points
from ..forward import DEFAULT_MEMORY_BUDGET, _chunk_size, _evaluate, check_geometry
from ..head import Head
from ..sensor_array import SensorArray
from ..sources import SourceSpace
from .currents import ActiveSources
from .field import ACCURACY, _subspace
from .trajectory import (
    INTERPS,
    check_head_pos,
    check_sensors_outside,
    control_points,
    interp_weights,
)

__all__ = ["MovingSourceField"]


class MovingSourceField:
    """The true field of an estimate's sources at a fixed helmet while the head moves.

    Same interface as :class:`~qsense.simulation.field.SourceField`.

    Parameters
    ----------
    array : SensorArray
        A fixed helmet (no channel's preset is head-mounted: SQUIDs); its
        ``dev_head_t`` is the position before the first row of ``head_pos``.
    head : Head
    sources : SourceSpace
    active : ActiveSources or None
        From :func:`~qsense.simulation.currents.active_sources`; None: no sources,
        every field is zero.
    head_pos : array_like, shape (n, 10), dict or path-like
        The trajectory in MNE's head-position format (see
        :func:`~qsense.simulation.trajectory.check_head_pos`; times in s from the first
        sample, translations in m).
    sfreq : float
        Hz; must be the estimate's.
    interp : {"cos2", "linear", "zero", "hann"}
        Blending between positions, as ``mne.simulation.simulate_raw(interp=...)``.
    channels : array_like of int or None
        Channels whose readings are wanted (default all).
    cache_size : int
        Lead fields kept in memory (>= 2).

    Attributes
    ----------
    array, active, channel_index, groups, n_cells
        As :class:`~qsense.simulation.field.SourceField` (no Bloch cells: ``groups``
        and ``n_cells`` are empty).
    head_pos : ndarray, shape (n, 10)
        The checked trajectory.
    transforms : ndarray, shape (m, 4, 4)
        Device -> head transform of each control point.
    offsets : ndarray of int, shape (m,)
        Control samples.
    rows : ndarray of int, shape (m,)
        Row of ``head_pos`` of each control point (-1: the array's ``dev_head_t``).
    n_computed : int
        Lead fields computed so far.

    Raises
    ------
    ValueError
        Head-mounted channels, a trajectory that fails
        :func:`~qsense.simulation.trajectory.check_head_pos`, or a position that puts a
        coil inside the scalp (naming ``head_movement``, the row, its time and the
        channel).
    """

    def __init__(self, array, head, sources, active, head_pos, sfreq, *, interp="cos2",
                 channels=None, cache_size=4):
        validate_type(array, SensorArray, "array", "qsense.SensorArray")
        validate_type(head, Head, "head", "qsense.Head")
        validate_type(sources, SourceSpace, "sources", "qsense SourceSpace")
        if active is not None:
            validate_type(active, ActiveSources, "active", "ActiveSources or None")
        moving = [n for n, p in zip(array.names, array.presets, strict=True) if p.head_mounted]
        if moving:
            raise ValueError(
                f"array has {len(moving)} head-mounted channel(s) (e.g. {moving[0]!r}): they "
                "move with the head, so the field of the head's sources at them does not "
                "change with head movement; use SourceField for them (MovingSourceField "
                "is for fixed helmets)")
        check_option("interp", interp, INTERPS)
        self.cache_size = check_int("cache_size", cache_size, low=2)
        sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
        if active is not None and not np.isclose(sfreq, active.sfreq):
            raise ValueError(f"sfreq={sfreq:g} Hz differs from the estimate's "
                             f"{active.sfreq:g} Hz")
        self.array, self.active, self.sfreq, self.interp = array, active, sfreq, interp
        self.channel_index = (np.arange(array.n_channels) if channels is None
                              else np.asarray(channels, dtype=int))
        self.groups, self.n_cells = [], []
        self.n_times = None if active is None else active.n_times
        self.head_pos = check_head_pos(head_pos, sfreq=sfreq, n_times=self.n_times)
        self.transforms, self.offsets, self.rows = control_points(
            self.head_pos, sfreq, initial=array.dev_head_t)
        times = np.where(self.rows < 0, 0.0, self.head_pos[np.maximum(self.rows, 0), 0])
        check_sensors_outside(array, head, self.transforms, "head_movement", times=times,
                              rows=self.rows)
        self._head = head
        self._sub = None if active is None else _subspace(sources, active.indices)
        self._picked = (array.pick(self.channel_index) if len(self.channel_index)
                        else None)
        self._device_points = None
        if self._picked is not None and active is not None:
            check_geometry(self._picked, head, self._sub)
            # integration points in the device frame; each position moves them as
            # SensorArray.coil_points does (the same numbers as qsense.leadfield's)
            self._device_points = channel_coil_points(
                self._picked.coil_types, self._picked.loc, np.eye(4), ACCURACY)
        self._weights = (None if active is None
                         else interp_weights(self.offsets, self.n_times, interp))
        self._cache: OrderedDict = OrderedDict()
        self.n_computed = 0

    def gain(self, k: int) -> np.ndarray:
        """Lead field of the active sources at control point ``k``, shape
        (n_chosen, n_active) (or (n_chosen, 3 n_active) for a vector estimate)."""
        t = self.transforms[k]
        key = t.tobytes()  # control points at the same position share one
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        g = self._compute(t)
        self.n_computed += 1
        self._cache[key] = g
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return g

    def _compute(self, t):
        """What ``qsense.leadfield(array with dev_head_t=t, head, sources, accuracy=
        "accurate")`` computes, projected as :class:`SourceField` projects it, without
        building the array and the DataArray (the geometry was checked once)."""
        dev = self._device_points
        cp = CoilPoints(dev.points @ t[:3, :3].T + t[:3, 3], dev.normals @ t[:3, :3].T,
                        dev.weights, dev.segments, dev.n_channels)
        pos = self._sub.positions
        chunk = _chunk_size(len(cp.points), DEFAULT_MEMORY_BUDGET)
        chunk = min(chunk, max(16, int(2 ** np.ceil(np.log2(len(pos))))))
        kernel = self._head.conductor.leadfield_kernel(cp, pos)
        lf = _evaluate(kernel, len(pos), chunk, cp.n_channels)  # (rows, n_active, 3)
        if self.active.vector:
            return lf.reshape(lf.shape[0], -1)
        return np.einsum("rsk,sk->rs", lf, self.active.orientations)

    def channels(self, start: int, stop: int) -> np.ndarray:
        """Ideal readings of the chosen channels for samples [start, stop), shape
        (n_chosen, n); T (T/m for planar gradiometers). Zero outside the estimate."""
        out = np.zeros((len(self.channel_index), stop - start))
        if self.active is None or self._picked is None:
            return out
        a, b = max(start, 0), min(stop, self.n_times)
        if b <= a:
            return out
        m = self.active.moments(a, b)
        left, right, w = self._weights(a, b)
        cut = np.flatnonzero((np.diff(left) != 0) | (np.diff(right) != 0)) + 1
        edges = np.concatenate([[0], cut, [b - a]])
        for i, j in zip(edges[:-1], edges[1:], strict=True):
            k, r = int(left[i]), int(right[i])
            y = self.gain(k) @ m[:, i:j]
            if r != k:
                y = y * w[i:j] + (self.gain(r) @ m[:, i:j]) * (1.0 - w[i:j])
            out[:, a - start + i:a - start + j] = y
        return out

    def cells(self, start: int, stop: int) -> list:
        """No Bloch-model cells in a fixed helmet: an empty list."""
        return []
