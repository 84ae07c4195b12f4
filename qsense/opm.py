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


# ------------------------------------------------------------------- what the sensors report
# The response machinery (true field at the cells -> readings) lives in qsense.opm_response.
# It uses the presets above, so it is imported after them; re-exported from here.
from .opm_response import cell_points, opm_response  # noqa: E402, F401


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
