"""What OPM sensors report: SERF Bloch-model presets and the array glue.

The physics lives in :mod:`forward_models.opm` (pure JAX). This module holds

* :class:`OPMModel`, frozen presets of the Bloch and readout parameters of commercial
  single-beam zero-field OPMs (QuSpin Gen-2, Gen-3 dual, Gen-3 triaxial, FieldLine
  HEDscan), every figure with its source or marked as an assumption;
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

import dataclasses
from dataclasses import dataclass
from dataclasses import field as _dc_field

import numpy as np
import xarray as xr

from forward_models import opm as _opm

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


@dataclass(frozen=True)
class OPMModel:
    """Bloch-equation and readout parameters of one OPM model.

    Parameters
    ----------
    name : str
        Registry key (same names as :mod:`qsense.sensors`).
    bandwidth : float
        Open-loop -3 dB bandwidth, Hz. The whole bandwidth is attributed to the spin
        dynamics, f = Gamma / (2 pi q(P0)), which fixes the resonance half-width
        :attr:`linewidth`.
    p0 : float
        Zero-field polarisation R_op / Gamma, in (0, 1).
    dynamic_range : float
        Output limit, tesla (readings are clipped to +-dynamic_range).
    cell_size : float
        Edge of the cubic vapour cell, m.
    modes : tuple of str
        Readout modes the sensor offers (``single``, ``dual``, ``triaxial``).
    default_mode : str
        Mode used when none is asked for.
    noise_penalty : tuple of (str, float)
        White-noise factor of each mode relative to the preset's single-axis figure in
        :mod:`qsense.sensors` (multiply that noise floor by it).
    coil_range : float
        Largest field the on-board coils can apply per axis, tesla.
    coil_radius : float
        Effective radius of the on-board coils for the dipole crosstalk model, m.
    closed_loop_bandwidth : float
        -3 dB bandwidth in closed-loop (field-feedback) operation, Hz.
    triaxial_bias : float
        Bias field used to read the pump axis in triaxial mode, in linewidths.
    citation : str
        Sources of the figures.
    assumptions : tuple of str
        Figures without a published source.
    """

    name: str
    bandwidth: float
    p0: float
    dynamic_range: float
    cell_size: float
    modes: tuple = ("single", "dual")
    default_mode: str = "single"
    noise_penalty: tuple = (("single", 1.0), ("dual", 1.0))
    coil_range: float = 50e-9
    coil_radius: float = 5e-3
    closed_loop_bandwidth: float = 400.0
    triaxial_bias: float = 0.5
    citation: str = ""
    assumptions: tuple = _dc_field(default_factory=tuple)

    def __post_init__(self):
        for nm in ("bandwidth", "dynamic_range", "cell_size", "coil_range", "coil_radius",
                   "closed_loop_bandwidth"):
            v = getattr(self, nm)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{nm} must be a finite number > 0, got {v!r}")
        if not 0.0 < float(self.p0) < 1.0:
            raise ValueError(f"p0 must lie in (0, 1), got {self.p0!r}")
        if not 0.0 < float(self.triaxial_bias) < 1.0:
            raise ValueError(f"triaxial_bias must lie in (0, 1), got {self.triaxial_bias!r}")
        for m in self.modes:
            if m not in _opm.READ_MODES:
                raise ValueError(f"modes must be drawn from {_opm.READ_MODES}, got {m!r}")
        if self.default_mode not in self.modes:
            raise ValueError(f"default_mode {self.default_mode!r} is not in modes {self.modes}")
        if self.dynamic_range > 1e-6 or self.coil_range > 1e-3:
            raise ValueError(
                f"dynamic_range={self.dynamic_range!r} / coil_range={self.coil_range!r} look "
                "like a unit error: they are in tesla (nT ranges are ~1e-9)"
            )

    @property
    def linewidth(self) -> float:
        """Resonance half-width dB = 2 pi f q(P0) / gamma_e, tesla."""
        return float(_opm.linewidth_for_bandwidth(self.bandwidth, self.p0))

    def penalty(self, mode: str) -> float:
        """Noise factor of ``mode`` (see ``noise_penalty``)."""
        d = dict(self.noise_penalty)
        if mode not in d:
            raise ValueError(f"mode must be one of {tuple(d)} for {self.name}, got {mode!r}")
        return float(d[mode])

    def replace(self, **changes) -> OPMModel:
        """A copy with some figures changed (validated again)."""
        return dataclasses.replace(self, **changes)


_P0_NOTE = (
    "p0 = 0.5: optimal SERF sensitivity is reached near R_op = R_rel (Ledbetter et al. "
    "2008, Phys. Rev. A 77:033408), i.e. P0 = 1/2; assumption"
)
_CAPE_CITE = (
    "Borna et al. 2022, NeuroImage 247:118818 (SERF OPMs tolerate static fields up to about "
    "+-5 nT; cross-axis projection error)"
)

OPM_MODELS: dict[str, OPMModel] = {
    m.name: m
    for m in [
        OPMModel(
            name="quspin_gen2",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual"),
            default_mode="single",
            noise_penalty=(("single", 1.0), ("dual", 1.3)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "QuSpin QZFM Gen-2 figures as reviewed in Tierney et al. 2019, NeuroImage "
                "199:598 (87Rb, 3x3x3 mm cell, about 135 Hz -3 dB bandwidth, about 30 % more "
                "noise in dual-axis mode); dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "coil_range 50 nT (field-zeroing range of the on-board coils)",
                "coil_radius 5 mm (effective on-board coil radius for crosstalk)",
                "closed_loop_bandwidth 400 Hz (Gen-2 is an open-loop sensor; only used when "
                "closed_loop=True)",
            ),
        ),
        OPMModel(
            name="quspin_gen3_dual",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual"),
            default_mode="dual",
            noise_penalty=(("single", 1.0), ("dual", 1.0)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "QuSpin QZFM Gen-3 specification (dual axis < 15 fT/sqrt(Hz)) as quoted by "
                "Boto et al. 2022, NeuroImage 252:119027; dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "bandwidth and cell size taken equal to Gen-2",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
        OPMModel(
            name="quspin_gen3_triaxial",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual", "triaxial"),
            default_mode="triaxial",
            noise_penalty=(("single", 15.0 / 23.0), ("dual", 15.0 / 23.0), ("triaxial", 1.0)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            triaxial_bias=0.5,
            citation=(
                "QuSpin QZFM Gen-3 specification (dual < 15, triaxial < 23 fT/sqrt(Hz)) as "
                "quoted by Boto et al. 2022, NeuroImage 252:119027 (measured triaxial "
                "13.5/9.9/14.9 fT/sqrt(Hz)); dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "triaxial readout through a +-0.5 linewidth bias along pump x (mechanism and "
                "bias are assumptions; the vendor scheme is unpublished)",
                "bandwidth and cell size taken equal to Gen-2",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
        OPMModel(
            name="fieldline_hedscan",
            bandwidth=150.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single",),
            default_mode="single",
            noise_penalty=(("single", 1.0),),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "FieldLine HEDscan: DC-150 Hz, about 15 fT/sqrt(Hz) (Alem et al. 2023, Front. "
                "Neurosci. 17:1190310); closed-loop operation on the sensed axis with on-board "
                "coils (Robinson et al. 2022, NeuroImage 262:119559); dynamic range: "
                + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "cell_size 3 mm (not published)",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
    ]
}


def get_opm_model(name, **overrides) -> OPMModel:
    """Look up an OPM model by name (or pass one through), optionally overriding figures.

    Parameters
    ----------
    name : str or OPMModel
        One of :data:`OPM_MODELS`.
    **overrides
        Fields to replace, e.g. ``bandwidth=100.0``.
    """
    if isinstance(name, OPMModel):
        model = name
    elif isinstance(name, str):
        if name not in OPM_MODELS:
            raise ValueError(f"model must be one of {sorted(OPM_MODELS)}, got {name!r}")
        model = OPM_MODELS[name]
    else:
        raise TypeError(f"model must be a str or OPMModel, got {type(name).__name__}")
    return model.replace(**overrides) if overrides else model


# ----------------------------------------------------------------------------- helpers
def _checked(value, shape, message, *, finite_message=None, valid=None) -> np.ndarray:
    """``value`` as a float array of ``shape`` (None: any size), finite, passing ``valid``.

    Raises ``ValueError(message)`` for a wrong shape and ``ValueError(finite_message or
    message)`` otherwise; ``{got}`` in a message stands for the shape found.
    """
    a = np.asarray(value, dtype=float)
    if a.ndim != len(shape) or any(
            w is not None and g != w for g, w in zip(a.shape, shape, strict=True)):
        raise ValueError(message.replace("{got}", str(a.shape)))
    if not np.all(np.isfinite(a)) or (valid is not None and not valid(a)):
        raise ValueError((finite_message or message).replace("{got}", str(a.shape)))
    return a


def _as_frames(frames, n=None) -> np.ndarray:
    want = f"({n}, 3, 3)" if n is not None else "(n_sensors, 3, 3)"
    F = _checked(frames, (n, 3, 3), f"frames must have shape {want}, got {{got}}",
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
    B = np.asarray(field, dtype=float)
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
    if not isinstance(sfreq, (int, float, np.floating, np.integer)) or not np.isfinite(sfreq) \
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
    oe = _checked(orientation_error, (n, 3),
                  f"orientation_error must be finite, shape ({n}, 3), got {{got}}")
    Rerr = np.asarray(_opm.rotation_from_rotvec(oe))  # (n, 3, 3)
    return np.einsum("nab,nkb->nka", Rerr, F)  # rotate each axis vector


def _check_gain(gain_error, n) -> np.ndarray:
    if gain_error is None:
        return np.ones((n, 3))
    ge = _checked(gain_error, (n, 3),
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
        pos = _checked(positions, (n, 3), f"positions must be finite with shape ({n}, 3), "
                       "got {got}")
        return np.asarray(_opm.coil_crosstalk_matrix(pos, F_true, m.coil_radius))
    if crosstalk is None:
        return None
    return _checked(crosstalk, (n, 3, n, 3), f"crosstalk must have shape ({n}, 3, {n}, 3), "
                    "got {got}", finite_message="crosstalk must be finite")


def _check_weights(cell_weights, K) -> np.ndarray:
    w = np.full(K, 1.0 / K) if cell_weights is None else cell_weights
    return _checked(w, (K,), f"cell_weights must be finite, shape ({K},), summing to 1",
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
    """(density T/sqrt(Hz), sensor ids) of the sensor noise, or (None, None) without."""
    if not noise:
        return None, None
    if seed is None:
        raise ValueError("seed must be given when noise=True (explicit randomness)")
    from qsense.sensors import get_preset

    dens = get_preset(m.name).noise_floor * m.penalty(mode)
    ids = np.arange(n) if sensor_ids is None else np.asarray(sensor_ids, int)
    if ids.shape != (n,):
        raise ValueError(f"sensor_ids must have shape ({n},), got {ids.shape}")
    return dens, ids


def _check_response_inputs(field, sfreq, frames, positions, *, model, mode, gain_error,
                           orientation_error, crosstalk, field_zeroing, closed_loop,
                           cell_weights, n_substeps, noise, seed, sensor_ids):
    """Validate the arguments of :func:`opm_response` (same names, same meaning) and turn
    them into the kernel's arrays; see :class:`_ResponseInputs`."""
    m = get_opm_model(model)
    mode = _check_mode(m, mode)
    B = _check_field(field)
    n, K = B.shape[:2]
    bw = _check_sfreq(sfreq, m, closed_loop)
    F_true = _true_frames(frames, orientation_error, n)
    gain = _check_gain(gain_error, n)
    Bp = np.einsum("nab,nkbt->nkta", F_true, B)  # field in each cell's true pump frame
    X = _check_crosstalk(crosstalk, positions, F_true, m, n)
    w = _check_weights(cell_weights, K)
    sc = _static_compensation(field_zeroing, np.einsum("k,nka->na", w, Bp[:, :, 0]), X, m)
    ns = int(n_substeps)
    if ns < 1:
        raise ValueError(f"n_substeps must be >= 1, got {n_substeps!r}")
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
    pos = _checked(positions, (None, 3), "positions must be finite with shape (n_sensors, 3), "
                   "got {got}")
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
