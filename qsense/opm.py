"""What OPM sensors report: SERF Bloch-model presets and the array glue.

The physics lives in :mod:`forward_models.opm` (pure JAX). This module holds

* :class:`OPMModel` (re-exported from :mod:`qsense.sensors.opm`, where the OPM presets
  carry it), the Bloch and readout parameters of commercial single-beam zero-field OPMs
  (QuSpin Gen-2, Gen-3 dual, Gen-3 triaxial, FieldLine HEDscan), every figure with its
  source or marked as an assumption;
* :func:`opm_response` (from :mod:`qsense.opm_response`), which turns the true field at
  the sensors (sensors x 3 x time, tesla, head frame) into what the sensors report,
  batched over sensors;
* :func:`simulate_array_recording`, the same for a :class:`qsense.SensorArray`.

Sensor frame convention: each physical sensor has a pump frame whose rows are
(x_p, y_p, z_p) in the head frame; the pump/probe beam runs along z_p. A single-axis
sensor reads y_p (for an on-scalp radial sensor, the radial direction), a dual-axis
sensor reads x_p and y_p, a triaxial sensor also reads z_p (Borna et al. 2022,
NeuroImage 247:118818: single-beam SERF OPMs measure the field perpendicular to the
pump beam).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._checks import validate_type
from .opm_response import _AXES, cell_points, opm_response
from .sensors.opm import OPM_MODELS, OPMModel, OPMPreset, get_opm_model

__all__ = [
    "OPMModel",
    "OPM_MODELS",
    "get_opm_model",
    "opm_response",
    "cell_points",
    "simulate_array_recording",
    "sensor_frames_from_array",
]


# ------------------------------------------------------------------- what the sensors report
# The response machinery (true field at the cells -> readings) lives in qsense.opm_response;
# re-exported from here.


def sensor_frames_from_array(array):
    """Pump frames and channel mapping of the physical sensors of an OPM SensorArray.

    The first channel of each physical sensor is read on y_p, the second on x_p, the
    third along the beam z_p (its sensitive axis must be +-(x_p x y_p)). A single-channel
    sensor takes x_p = its ex, y_p = its ez (sensitive axis), z_p = x_p x y_p.

    Returns
    -------
    sensor_ids : numpy.ndarray, shape (n_sensors,)
    positions : numpy.ndarray, shape (n_sensors, 3), head frame, m
    frames : numpy.ndarray, shape (n_sensors, 3, 3)
    channel_axis : numpy.ndarray, shape (n_channels,) int: pump axis each channel reads
    channel_sign : numpy.ndarray, shape (n_channels,) float: +-1
    mode : str
    """
    from .sensor_array import SensorArray

    validate_type(array, SensorArray, "array", "qsense.SensorArray")
    if not all(isinstance(p, OPMPreset) for p in array.channel_presets):
        raise ValueError(f"array.kind must be 'opm' (every channel an OPM preset), got "
                         f"{array.kind!r}")
    R = np.asarray(array.dev_head_t)[:3, :3]
    ex = array.loc[:, 3:6] @ R.T
    ez = array.orientations
    ids = np.unique(array.sensor_index)
    pos = np.empty((len(ids), 3))
    frames = np.empty((len(ids), 3, 3))
    ch_axis = np.empty(array.n_channels, int)
    ch_sign = np.ones(array.n_channels)
    counts = set()
    for s, sid in enumerate(ids):
        chans = np.flatnonzero(array.sensor_index == sid)
        counts.add(len(chans))
        pos[s] = array.positions[chans].mean(0)
        yp = ez[chans[0]]
        xp = ex[chans[0]] if len(chans) == 1 else ez[chans[1]]
        xp = xp - (xp @ yp) * yp
        if np.linalg.norm(xp) < 1e-6:
            raise ValueError(f"sensor {sid}: its first two channels are parallel")
        xp /= np.linalg.norm(xp)
        zp = np.cross(xp, yp)
        frames[s] = np.stack([xp, yp, zp])
        for k, c in enumerate(chans):
            proj = frames[s] @ ez[c]
            a = int(np.argmax(np.abs(proj)))
            if abs(abs(proj[a]) - 1) > 1e-6:
                raise ValueError(
                    f"channel {array.names[c]!r} is not along an axis of its sensor's frame")
            if k >= 3:
                raise ValueError(f"sensor {sid} has more than 3 channels")
            ch_axis[c] = a
            ch_sign[c] = np.sign(proj[a])
    if len(counts) != 1:
        raise ValueError(f"all sensors must have the same number of channels, got {counts}")
    mode = {1: "single", 2: "dual", 3: "triaxial"}[counts.pop()]
    return ids, pos, frames, ch_axis, ch_sign, mode


def simulate_array_recording(array, field, sfreq, *, model=None, **kwargs):
    """What an OPM :class:`qsense.SensorArray` reports for the field at its sensors.

    Parameters
    ----------
    array : qsense.SensorArray
        Of OPM presets; channels of one physical sensor share ``sensor_index``.
    field : array_like, shape (n_sensors, 3, n_times)
        True field at each physical sensor (ordered by sorted ``sensor_index``), head
        frame, tesla.
    sfreq : float
        Hz.
    model : str or OPMModel, optional
        Default: the Bloch model its OPM preset carries (``preset.bloch``).
    **kwargs
        Passed to :func:`opm_response` (gain_error, orientation_error, crosstalk,
        field_zeroing, closed_loop, noise, seed, ...); ``mode`` follows from the number
        of channels per sensor.

    Returns
    -------
    xarray.DataArray, shape (channel, time), tesla
    """
    ids, pos, frames, ch_axis, ch_sign, mode = sensor_frames_from_array(array)
    if "mode" in kwargs:
        raise TypeError(f"mode={kwargs['mode']!r} cannot be given: it follows from the "
                        f"array's channels per sensor ({mode!r})")
    try:
        n_field = np.shape(field)[0] if np.ndim(field) >= 1 else None
    except ValueError:  # ragged: opm_response says what is wrong
        n_field = None
    if n_field is not None and n_field != len(ids):
        raise ValueError(f"field must hold one row per physical sensor of the array "
                         f"({len(ids)}, ordered by sensor_index), got {n_field}")
    if model is None:
        models = {p.bloch for p in array.channel_presets}
        if len(models) != 1 or None in models:
            raise ValueError(
                f"model must be given: the array's presets {sorted(set(array.sensor.split('+')))}"
                " carry no single Bloch model (OPMPreset.bloch)")
        model = models.pop()
    kwargs.setdefault("sensor_ids", ids)
    ds = opm_response(field, sfreq, frames, pos, model=model, mode=mode, **kwargs)
    axes = list(ds["axis"].values)
    sidx = np.searchsorted(ids, array.sensor_index)
    vals = np.stack([ds["reading"].values[sidx[c], axes.index(_AXES[ch_axis[c]])] * ch_sign[c]
                     for c in range(array.n_channels)])
    return xr.DataArray(
        vals, dims=("channel", "time"),
        coords={"channel": ("channel", list(array.names), {"units": "1", "long_name": "channel"}),
                "time": ds["time"]},
        attrs={"units": "T", "long_name": "field reported by the OPM", "model": ds.attrs["model"],
               "mode": mode},
    )
