"""What OPM sensors report for the true field at their cells (the SERF response glue).

:func:`opm_response` turns the true field at the sensors (sensors x [points x] 3 x time,
tesla, head frame) into what the sensors report, batched over sensors, in three steps:
:func:`_check_response_inputs` validates the arguments and turns them into the kernel's
arrays, :func:`_run_kernel` runs :func:`forward_models.opm.simulate_sensors`, and
:func:`_response_dataset` builds the xarray result. :func:`cell_points` gives the
integration points of the vapour cells for a finite-cell field.

Presets and the :class:`qsense.SensorArray` wrapper live in :mod:`qsense.opm`, which
re-exports :func:`opm_response` and :func:`cell_points`; import them from there.
Sensor frame convention: see :mod:`qsense.opm`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from forward_models import opm as _opm

from ._checks import check_array, check_bool, check_int, check_int_array
from .sensors.opm import OPMModel, get_opm_model

_AXES = ("x", "y", "z")
_MODE_AXES = {"single": (1,), "dual": (0, 1), "triaxial": (0, 1, 2)}
_MAX_SUBSTEPS = 10_000
"""Most integration sub-steps per sample a caller may ask for (the closed loop may raise
the number further for stability)."""

__all__ = ["opm_response", "cell_points"]


# ----------------------------------------------------------------------------- helpers
def _checked(name, value, shape, message, *, finite_message=None, valid=None
             ) -> np.ndarray:
    """``value`` as a float array of ``shape`` (None: any size), finite, passing ``valid``.

    Raises a TypeError naming ``name`` for anything but real numbers,
    ``ValueError(message)`` for a wrong shape and ``ValueError(finite_message or
    message)`` otherwise; ``{got}`` in a message stands for the shape found.
    """
    a = check_array(name, value, finite=False)
    if a.ndim != len(shape) or any(
            w is not None and g != w for g, w in zip(a.shape, shape, strict=True)):
        raise ValueError(message.replace("{got}", str(a.shape)))
    if not np.all(np.isfinite(a)) or (valid is not None and not valid(a)):
        raise ValueError((finite_message or message).replace("{got}", str(a.shape)))
    return a


def _as_frames(frames, n=None) -> np.ndarray:
    want = f"({n}, 3, 3)" if n is not None else "(n_sensors, 3, 3)"
    F = _checked("frames", frames, (n, 3, 3), f"frames must have shape {want}, got {{got}}",
                 finite_message="frames must be finite")
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


# ------------------------------------------------------------- opm_response: input checks
@dataclass(frozen=True, eq=False)
class _ResponseInputs:
    """Checked inputs of :func:`opm_response`, as the kernel takes them.

    ``field`` is the true field in each cell's true pump frame, (n, K, T, 3) tesla;
    ``sfreq`` is the sampling rate as given (Hz); ``bandwidth`` the open- or closed-loop
    bandwidth asked for (Hz); ``noise_density`` is None without noise (T/sqrt(Hz)).
    """

    model: OPMModel
    mode: str
    closed_loop: bool
    sfreq: float
    bandwidth: float
    field: np.ndarray
    weights: np.ndarray
    gain: np.ndarray
    crosstalk: np.ndarray | None
    static_compensation: np.ndarray | None
    n_substeps: int
    noise_density: float | None
    seed: int | None
    sensor_ids: np.ndarray | None

    @property
    def n_sensors(self) -> int:
        return self.field.shape[0]

    @property
    def n_times(self) -> int:
        return self.field.shape[2]


def _check_mode(m, mode):
    mode = m.default_mode if mode is None else mode
    if mode not in _opm.READ_MODES:
        raise ValueError(f"mode must be one of {_opm.READ_MODES}, got {mode!r}")
    if mode not in m.modes:
        raise ValueError(f"mode {mode!r} is not offered by {m.name}; allowed: {m.modes}")
    return mode


def _check_field(field) -> np.ndarray:
    """The true field as (n, K, 3, T) tesla."""
    B = check_array("field", field, finite=False, unit="T")
    if B.ndim == 3:
        B = B[:, None]
    if B.ndim != 4 or B.shape[2] != 3:
        raise ValueError(
            f"field must have shape (n_sensors, 3, n_times) or (n_sensors, K, 3, n_times), "
            f"got {np.shape(field)}"
        )
    T = B.shape[3]
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
    return B


def _check_sfreq(sfreq, m, closed_loop) -> float:
    """Checks the sampling rate against the bandwidth asked for; returns that bandwidth."""
    if isinstance(sfreq, bool | np.bool_) or not isinstance(
            sfreq, (int, float, np.floating, np.integer)) or not np.isfinite(sfreq) \
            or sfreq <= 0:
        raise ValueError(f"sfreq must be a finite number > 0 (Hz), got {sfreq!r}")
    bw = m.closed_loop_bandwidth if closed_loop else m.bandwidth
    if sfreq < 2.0 * bw:
        raise ValueError(
            f"sfreq={sfreq} Hz is below twice the bandwidth asked for ({bw} Hz"
            f"{' closed loop' if closed_loop else ''}); use sfreq >= {2 * bw} Hz"
        )
    return bw


def _true_frames(frames, orientation_error, n) -> np.ndarray:
    """Nominal pump frames turned by the orientation errors, (n, 3, 3)."""
    F = _as_frames(frames, n)
    if orientation_error is None:
        return F
    oe = _checked("orientation_error", orientation_error, (n, 3),
                  f"orientation_error must be finite, shape ({n}, 3), got {{got}}")
    Rerr = np.asarray(_opm.rotation_from_rotvec(oe))  # (n, 3, 3)
    return np.einsum("nab,nkb->nka", Rerr, F)  # rotate each axis vector


def _check_gain(gain_error, n) -> np.ndarray:
    if gain_error is None:
        return np.ones((n, 3))
    ge = _checked("gain_error", gain_error, (n, 3),
                  f"gain_error must be finite, > -1, shape ({n}, 3); got shape {{got}}",
                  valid=lambda g: np.all(g > -1))
    return 1.0 + ge


def _check_crosstalk(crosstalk, positions, F_true, m, n):
    """Coil crosstalk matrix (n, 3, n, 3) in the true pump frames, or None."""
    if isinstance(crosstalk, str):
        if crosstalk != "dipole":
            raise ValueError(f"crosstalk must be None, 'dipole' or an array, got {crosstalk!r}")
        if positions is None:
            raise ValueError("positions (n_sensors, 3) are required for crosstalk='dipole'")
        pos = _checked("positions", positions, (n, 3),
                       f"positions must be finite with shape ({n}, 3), got {{got}}")
        return np.asarray(_opm.coil_crosstalk_matrix(pos, F_true, m.coil_radius))
    if crosstalk is None:
        return None
    return _checked("crosstalk", crosstalk, (n, 3, n, 3),
                    f"crosstalk must have shape ({n}, 3, {n}, 3), got {{got}}",
                    finite_message="crosstalk must be finite")


def _check_weights(cell_weights, K) -> np.ndarray:
    w = np.full(K, 1.0 / K) if cell_weights is None else cell_weights
    return _checked("cell_weights", w, (K,),
                    f"cell_weights must be finite, shape ({K},), summing to 1",
                    valid=lambda a: abs(a.sum() - 1) <= 1e-9)


def _static_compensation(field_zeroing, b0, X, m):
    """Field the on-board coils apply from t = 0 on, (n, 3) tesla, or None."""
    n = b0.shape[0]
    if field_zeroing == "none":
        return None
    if field_zeroing == "single_pass" or (field_zeroing == "iterated" and X is None):
        sc = -b0
    elif field_zeroing == "iterated":
        Xo = X * (1 - np.eye(n))[:, None, :, None]
        A = np.eye(3 * n) + Xo.reshape(3 * n, 3 * n)
        sc = np.linalg.solve(A, -b0.reshape(-1)).reshape(n, 3)
    else:
        raise ValueError(
            f"field_zeroing must be 'none', 'single_pass' or 'iterated', got {field_zeroing!r}")
    if np.abs(sc).max() > m.coil_range:
        raise ValueError(
            f"static field {np.abs(sc).max():.3g} T exceeds the coil range {m.coil_range} T of "
            f"{m.name}: the sensors cannot be zeroed")
    return sc


def _check_noise(noise, seed, sensor_ids, m, mode, n):
    """(density T/sqrt(Hz), sensor ids) of the sensor noise, or (None, None) without.

    ``seed`` and ``sensor_ids`` are checked whenever given: each sensor's noise stream is
    seeded by (seed, its id), so ids must be whole, >= 0 and all different (two sensors
    with one id would get the same noise)."""
    noise = check_bool("noise", noise)
    if seed is not None:
        seed = check_int("seed", seed, low=0)
    ids = np.arange(n) if sensor_ids is None else check_int_array(
        "sensor_ids", sensor_ids, low=0, unique=True)
    if ids.shape != (n,):
        raise ValueError(f"sensor_ids must have shape ({n},), got {ids.shape}")
    if not noise:
        return None, None
    if seed is None:
        raise ValueError("seed must be given when noise=True (explicit randomness)")
    from qsense.sensors import get_preset

    dens = get_preset(m.name).noise_floor * m.penalty(mode)
    return dens, ids


def _check_response_inputs(field, sfreq, frames, positions, *, model, mode, gain_error,
                           orientation_error, crosstalk, field_zeroing, closed_loop,
                           cell_weights, n_substeps, noise, seed, sensor_ids):
    """Validate the arguments of :func:`opm_response` (same names, same meaning) and turn
    them into the kernel's arrays; see :class:`_ResponseInputs`."""
    m = get_opm_model(model)
    mode = _check_mode(m, mode)
    closed_loop = check_bool("closed_loop", closed_loop)
    B = _check_field(field)
    n, K = B.shape[:2]
    bw = _check_sfreq(sfreq, m, closed_loop)
    F_true = _true_frames(frames, orientation_error, n)
    gain = _check_gain(gain_error, n)
    Bp = np.einsum("nab,nkbt->nkta", F_true, B)  # field in each cell's true pump frame
    X = _check_crosstalk(crosstalk, positions, F_true, m, n)
    w = _check_weights(cell_weights, K)
    sc = _static_compensation(field_zeroing, np.einsum("k,nka->na", w, Bp[:, :, 0]), X, m)
    ns = check_int("n_substeps", n_substeps, low=1, high=_MAX_SUBSTEPS)
    dens, ids = _check_noise(noise, seed, sensor_ids, m, mode, n)
    return _ResponseInputs(
        model=m, mode=mode, closed_loop=bool(closed_loop), sfreq=sfreq, bandwidth=bw,
        field=Bp, weights=w, gain=gain, crosstalk=X, static_compensation=sc,
        n_substeps=ns, noise_density=dens, seed=seed, sensor_ids=ids,
    )


# ------------------------------------------------------------ opm_response: kernel, result
def _run_kernel(x: _ResponseInputs):
    """Run :func:`forward_models.opm.simulate_sensors`; returns the reading and saturation
    flags on the axes the mode reads, each (n_sensors, n_axes, n_times)."""
    m = x.model
    ns = x.n_substeps
    if x.closed_loop:
        # stability of the discrete PI loop: Kp h / tau <= 0.25
        kp = m.closed_loop_bandwidth / m.bandwidth
        tau = float(_opm.slowing_down_factor(m.p0)) / (_opm.GAMMA_E * m.linewidth)
        ns = max(ns, int(np.ceil(kp / x.sfreq / tau / 0.25)))
    out, sat = _opm.simulate_sensors(
        x.field, 1.0 / x.sfreq, m.linewidth, m.p0, x.mode, weights=x.weights, gain=x.gain,
        bias=m.triaxial_bias, closed_loop=x.closed_loop,
        closed_loop_bandwidth=m.closed_loop_bandwidth if x.closed_loop else None,
        coil_range=m.coil_range, dynamic_range=m.dynamic_range,
        static_compensation=x.static_compensation, crosstalk=x.crosstalk, n_substeps=ns,
    )
    axes = list(_MODE_AXES[x.mode])
    reading = np.asarray(out)[:, :, axes].transpose(0, 2, 1)  # (n, axes, T)
    saturated = np.asarray(sat)[:, :, axes].transpose(0, 2, 1)
    return reading, saturated


def _response_dataset(x: _ResponseInputs, reading, saturated) -> xr.Dataset:
    """The result of :func:`opm_response` as an xarray.Dataset with units."""
    t = np.arange(x.n_times) / float(x.sfreq)
    return xr.Dataset(
        {
            "reading": (("sensor", "axis", "time"), reading,
                        {"units": "T", "long_name": "field reported by the OPM"}),
            "saturated": (("sensor", "axis", "time"), saturated,
                          {"units": "1", "long_name": "output or coils at their range"}),
        },
        coords={
            "sensor": ("sensor", np.arange(x.n_sensors),
                       {"units": "1", "long_name": "sensor index"}),
            "axis": ("axis", [_AXES[a] for a in _MODE_AXES[x.mode]],
                     {"units": "1", "long_name": "pump-frame axis (z = beam)"}),
            "time": ("time", t, {"units": "s", "long_name": "time"}),
        },
        attrs={"model": x.model.name, "mode": x.mode, "closed_loop": int(x.closed_loop),
               "linewidth_T": x.model.linewidth, "bandwidth_Hz": x.bandwidth},
    )


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
    x = _check_response_inputs(
        field, sfreq, frames, positions, model=model, mode=mode, gain_error=gain_error,
        orientation_error=orientation_error, crosstalk=crosstalk, field_zeroing=field_zeroing,
        closed_loop=closed_loop, cell_weights=cell_weights, n_substeps=n_substeps,
        noise=noise, seed=seed, sensor_ids=sensor_ids,
    )
    reading, saturated = _run_kernel(x)
    if x.noise_density is not None:
        reading = reading + _noise(reading.shape, x.noise_density, float(x.sfreq), x.seed,
                                   x.sensor_ids)
    return _response_dataset(x, reading, saturated)


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
    order = check_int("order", order, low=1, high=5)
    pos = _checked("positions", positions, (None, 3),
                   "positions must be finite with shape (n_sensors, 3), got {got}")
    F = _as_frames(frames, pos.shape[0])
    off, w = _opm.cell_integration_points(m.cell_size, order)
    return pos[:, None, :] + np.einsum("ka,nab->nkb", off, F), w
