"""What OPM sensors report: SERF Bloch-model presets and the array glue.

The physics lives in :mod:`forward_models.opm` (pure JAX). This module holds

* :class:`OPMModel` (re-exported from :mod:`qsense.sensors.opm`, where the OPM presets
  carry it), the Bloch and readout parameters of commercial single-beam zero-field OPMs
  (QuSpin Gen-2, Gen-3 dual, Gen-3 triaxial, FieldLine HEDscan), every figure with its
  source or marked as an assumption;
* :func:`opm_response`, which turns the true field at the sensors (sensors x 3 x time,
  tesla, head frame) into what the sensors report, batched over sensors;
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

from forward_models import opm as _opm

from .sensors.opm import OPM_MODELS, OPMModel, get_opm_model

__all__ = [
    "OPMModel",
    "OPM_MODELS",
    "get_opm_model",
    "opm_response",
    "simulate_array_recording",
    "sensor_frames_from_array",
]

_AXES = ("x", "y", "z")
_MODE_AXES = {"single": (1,), "dual": (0, 1), "triaxial": (0, 1, 2)}


# ----------------------------------------------------------------------------- helpers
def _as_frames(frames, n=None) -> np.ndarray:
    F = np.asarray(frames, dtype=float)
    if F.ndim != 3 or F.shape[1:] != (3, 3) or (n is not None and F.shape[0] != n):
        want = f"({n}, 3, 3)" if n is not None else "(n_sensors, 3, 3)"
        raise ValueError(f"frames must have shape {want}, got {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("frames must be finite")
    err = np.abs(F @ np.swapaxes(F, 1, 2) - np.eye(3)).max()
    if err > 1e-6:
        raise ValueError(f"frames must be orthonormal (rows x_p, y_p, z_p); max error {err:.2e}")
    if np.any(np.linalg.det(F) < 0):
        raise ValueError("frames must be right-handed (z_p = x_p x y_p)")
    return F


def _noise(shape, density, sfreq, seed, ids):
    """White noise, one independent stream per sensor id (same seed -> same numbers)."""
    n = shape[0]
    out = np.empty(shape)
    for i in range(n):
        rng = np.random.default_rng([int(seed), int(ids[i])])
        out[i] = rng.standard_normal(shape[1:])
    return out * density * np.sqrt(sfreq / 2.0)


def opm_response(
    field,
    sfreq,
    frames,
    positions=None,
    *,
    model="quspin_gen2",
    mode=None,
    gain_error=None,
    orientation_error=None,
    crosstalk=None,
    field_zeroing="none",
    closed_loop=False,
    cell_weights=None,
    n_substeps=4,
    noise=False,
    seed=None,
    sensor_ids=None,
):
    """What an array of single-beam SERF OPMs reports for the true field at its cells.

    Parameters
    ----------
    field : array_like, shape (n_sensors, 3, n_times) or (n_sensors, K, 3, n_times)
        True magnetic field at each cell centre (or at K integration points of each cell,
        see :func:`cell_points`), head frame, tesla.
    sfreq : float
        Sampling rate, Hz; must be at least twice the bandwidth asked for (open-loop
        bandwidth, or the closed-loop bandwidth when ``closed_loop``).
    frames : array_like, shape (n_sensors, 3, 3)
        Nominal pump frame of each sensor: rows x_p, y_p, z_p (beam) in the head frame.
    positions : array_like, shape (n_sensors, 3), optional
        Cell centres, m; needed for ``crosstalk="dipole"``.
    model : str or OPMModel
        OPM preset (see :data:`OPM_MODELS`).
    mode : {"single", "dual", "triaxial"}, optional
        Readout mode; default ``model.default_mode``.
    gain_error : array_like, shape (n_sensors, 3), optional
        Fractional calibration error of the x_p, y_p, z_p readings (0.02 = reads 2 %
        high).
    orientation_error : array_like, shape (n_sensors, 3), optional
        Rotation vector (rad) from the nominal to the true pump frame of each sensor.
    crosstalk : None, "dipole" or array_like, shape (n_sensors, 3, n_sensors, 3)
        Field at cell i (its true pump axes) per unit on-board coil field of sensor j
        (its true pump axes). ``"dipole"`` builds it with
        :func:`forward_models.opm.coil_crosstalk_matrix` (falls as 1/r^3).
    field_zeroing : {"none", "single_pass", "iterated"}
        On-board static compensation before recording, from the field at t = 0:
        ``single_pass`` nulls each cell with its own coils ignoring neighbours (their
        coil fields remain as crosstalk); ``iterated`` solves the coupled problem
        (the fixed point of repeated zeroing rounds).
    closed_loop : bool
        Field-feedback operation (PI loop on the read axes).
    cell_weights : array_like, shape (K,), optional
        Weights of the K integration points (default uniform).
    n_substeps : int
        Integration sub-steps per sample (raised automatically for a stable loop).
    noise : bool
        Add white sensor noise: the :mod:`qsense.sensors` noise floor of the model times
        the mode's noise penalty.
    seed : int, optional
        Required with ``noise``.
    sensor_ids : array_like of int, shape (n_sensors,), optional
        Global sensor numbers that seed each sensor's noise stream, so that the same seed
        gives the same noise whatever the chunking of sensors; default 0..n-1.

    Returns
    -------
    xarray.Dataset
        ``reading`` (sensor, axis, time) in tesla, along the nominal pump axes the mode
        reads; ``saturated`` (sensor, axis, time) bool.
    """
    m = get_opm_model(model)
    mode = m.default_mode if mode is None else mode
    if mode not in _opm.READ_MODES:
        raise ValueError(f"mode must be one of {_opm.READ_MODES}, got {mode!r}")
    if mode not in m.modes:
        raise ValueError(f"mode {mode!r} is not offered by {m.name}; allowed: {m.modes}")
    B = np.asarray(field, dtype=float)
    if B.ndim == 3:
        B = B[:, None]
    if B.ndim != 4 or B.shape[2] != 3:
        raise ValueError(
            f"field must have shape (n_sensors, 3, n_times) or (n_sensors, K, 3, n_times), "
            f"got {np.shape(field)}"
        )
    n, K, _, T = B.shape
    if T < 2:
        raise ValueError(f"field needs at least 2 time samples, got {T}")
    if not np.all(np.isfinite(B)):
        bad = B[~np.isfinite(B)].ravel()[0]
        raise ValueError(f"field must be finite; found {bad!r}")
    if np.abs(B).max() > 1e-3:
        raise ValueError(
            f"field reaches {np.abs(B).max():.3g}: expected tesla (SERF OPMs work below "
            "~1e-8 T); a value this large is a unit error"
        )
    if not isinstance(sfreq, (int, float, np.floating, np.integer)) or not np.isfinite(sfreq) \
            or sfreq <= 0:
        raise ValueError(f"sfreq must be a finite number > 0 (Hz), got {sfreq!r}")
    bw = m.closed_loop_bandwidth if closed_loop else m.bandwidth
    if sfreq < 2.0 * bw:
        raise ValueError(
            f"sfreq={sfreq} Hz is below twice the bandwidth asked for ({bw} Hz"
            f"{' closed loop' if closed_loop else ''}); use sfreq >= {2 * bw} Hz"
        )
    F = _as_frames(frames, n)
    if orientation_error is not None:
        oe = np.asarray(orientation_error, dtype=float)
        if oe.shape != (n, 3) or not np.all(np.isfinite(oe)):
            raise ValueError(f"orientation_error must be finite, shape ({n}, 3), got {oe.shape}")
        Rerr = np.asarray(_opm.rotation_from_rotvec(oe))  # (n, 3, 3)
        F_true = np.einsum("nab,nkb->nka", Rerr, F)  # rotate each axis vector
    else:
        F_true = F
    gain = np.ones((n, 3))
    if gain_error is not None:
        ge = np.asarray(gain_error, dtype=float)
        if ge.shape != (n, 3) or not np.all(np.isfinite(ge)) or np.any(ge <= -1):
            raise ValueError(
                f"gain_error must be finite, > -1, shape ({n}, 3); got shape {ge.shape}")
        gain = 1.0 + ge
    # field in each cell's true pump frame
    Bp = np.einsum("nab,nkbt->nkta", F_true, B)  # (n, K, T, 3)

    X = None
    if isinstance(crosstalk, str):
        if crosstalk != "dipole":
            raise ValueError(f"crosstalk must be None, 'dipole' or an array, got {crosstalk!r}")
        if positions is None:
            raise ValueError("positions (n_sensors, 3) are required for crosstalk='dipole'")
        pos = np.asarray(positions, dtype=float)
        if pos.shape != (n, 3) or not np.all(np.isfinite(pos)):
            raise ValueError(f"positions must be finite with shape ({n}, 3), got {pos.shape}")
        X = np.asarray(_opm.coil_crosstalk_matrix(pos, F_true, m.coil_radius))
    elif crosstalk is not None:
        X = np.asarray(crosstalk, dtype=float)
        if X.shape != (n, 3, n, 3):
            raise ValueError(f"crosstalk must have shape ({n}, 3, {n}, 3), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("crosstalk must be finite")

    w = np.full(K, 1.0 / K) if cell_weights is None else np.asarray(cell_weights, float)
    if w.shape != (K,) or not np.all(np.isfinite(w)) or abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"cell_weights must be finite, shape ({K},), summing to 1")
    b0 = np.einsum("k,nka->na", w, Bp[:, :, 0])
    if field_zeroing == "none":
        sc = None
    elif field_zeroing == "single_pass":
        sc = -b0
    elif field_zeroing == "iterated":
        if X is None:
            sc = -b0
        else:
            Xo = X * (1 - np.eye(n))[:, None, :, None]
            A = np.eye(3 * n) + Xo.reshape(3 * n, 3 * n)
            sc = np.linalg.solve(A, -b0.reshape(-1)).reshape(n, 3)
    else:
        raise ValueError(
            f"field_zeroing must be 'none', 'single_pass' or 'iterated', got {field_zeroing!r}")
    if sc is not None and np.abs(sc).max() > m.coil_range:
        raise ValueError(
            f"static field {np.abs(sc).max():.3g} T exceeds the coil range {m.coil_range} T of "
            f"{m.name}: the sensors cannot be zeroed")

    ns = int(n_substeps)
    if ns < 1:
        raise ValueError(f"n_substeps must be >= 1, got {n_substeps!r}")
    if closed_loop:
        # stability of the discrete PI loop: Kp h / tau <= 0.25
        kp = m.closed_loop_bandwidth / m.bandwidth
        tau = float(_opm.slowing_down_factor(m.p0)) / (_opm.GAMMA_E * m.linewidth)
        ns = max(ns, int(np.ceil(kp / sfreq / tau / 0.25)))
    out, sat = _opm.simulate_sensors(
        Bp, 1.0 / sfreq, m.linewidth, m.p0, mode, weights=w, gain=gain,
        bias=m.triaxial_bias, closed_loop=closed_loop,
        closed_loop_bandwidth=m.closed_loop_bandwidth if closed_loop else None,
        coil_range=m.coil_range, dynamic_range=m.dynamic_range, static_compensation=sc,
        crosstalk=X, n_substeps=ns,
    )
    axes = _MODE_AXES[mode]
    reading = np.asarray(out)[:, :, list(axes)].transpose(0, 2, 1)  # (n, axes, T)
    saturated = np.asarray(sat)[:, :, list(axes)].transpose(0, 2, 1)
    if noise:
        if seed is None:
            raise ValueError("seed must be given when noise=True (explicit randomness)")
        from qsense.sensors import get_preset

        dens = get_preset(m.name).noise_floor * m.penalty(mode)
        ids = np.arange(n) if sensor_ids is None else np.asarray(sensor_ids, int)
        if ids.shape != (n,):
            raise ValueError(f"sensor_ids must have shape ({n},), got {ids.shape}")
        reading = reading + _noise(reading.shape, dens, float(sfreq), seed, ids)
    t = np.arange(T) / float(sfreq)
    ds = xr.Dataset(
        {
            "reading": (("sensor", "axis", "time"), reading,
                        {"units": "T", "long_name": "field reported by the OPM"}),
            "saturated": (("sensor", "axis", "time"), saturated,
                          {"units": "1", "long_name": "output or coils at their range"}),
        },
        coords={
            "sensor": ("sensor", np.arange(n), {"units": "1", "long_name": "sensor index"}),
            "axis": ("axis", [_AXES[a] for a in axes],
                     {"units": "1", "long_name": "pump-frame axis (z = beam)"}),
            "time": ("time", t, {"units": "s", "long_name": "time"}),
        },
        attrs={"model": m.name, "mode": mode, "closed_loop": int(bool(closed_loop)),
               "linewidth_T": m.linewidth, "bandwidth_Hz": bw},
    )
    return ds


def cell_points(positions, frames, model="quspin_gen2", order=2):
    """Integration points of each sensor's cubic cell, head frame.

    Parameters
    ----------
    positions : array_like, shape (n_sensors, 3)
        Cell centres, m.
    frames : array_like, shape (n_sensors, 3, 3)
        Pump frames (rows x_p, y_p, z_p) in the head frame.
    model : str or OPMModel
        Gives the cell edge.
    order : int
        Gauss-Legendre points per edge.

    Returns
    -------
    points : numpy.ndarray, shape (n_sensors, order**3, 3)
        m; evaluate the true field here and pass it as ``field`` (n, K, 3, T).
    weights : numpy.ndarray, shape (order**3,)
    """
    m = get_opm_model(model)
    pos = np.asarray(positions, dtype=float)
    F = _as_frames(frames, pos.shape[0])
    off, w = _opm.cell_integration_points(m.cell_size, order)
    return pos[:, None, :] + np.einsum("ka,nab->nkb", off, F), w


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
    if getattr(array, "kind", None) != "opm":
        raise ValueError(f"array.kind must be 'opm', got {getattr(array, 'kind', None)!r}")
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
        ``kind == "opm"``; channels of one physical sensor share ``sensor_index``.
    field : array_like, shape (n_sensors, 3, n_times)
        True field at each physical sensor (ordered by sorted ``sensor_index``), head
        frame, tesla.
    sfreq : float
        Hz.
    model : str or OPMModel, optional
        Default: ``array.sensor``.
    **kwargs
        Passed to :func:`opm_response` (gain_error, orientation_error, crosstalk,
        field_zeroing, closed_loop, noise, seed, ...); ``mode`` follows from the number
        of channels per sensor.

    Returns
    -------
    xarray.DataArray, shape (channel, time), tesla
    """
    ids, pos, frames, ch_axis, ch_sign, mode = sensor_frames_from_array(array)
    model = array.sensor if model is None else model
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
