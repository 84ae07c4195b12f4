"""Stage 2: sensor physics, what each sensor reports for the true field.

* OPM presets that carry a SERF Bloch model (:attr:`qsense.sensors.OPMPreset.bloch`):
  :func:`qsense.opm.simulate_array_recording` on the 3-component field in each cell
  (bandwidth, cross-axis projection, gain loss in the total field; gain and orientation
  errors, crosstalk and closed loop through ``opm_options``).
* NV presets: the frequency-locked CW-ODMR lock-in readout
  (:func:`forward_models.nv.tracked_readout`): the resonance moves by ``gamma_NV
  flux_gain B`` (B: the channel's ideal reading), the carrier follows it with an
  integral controller whose loop bandwidth is the preset's bandwidth (8 controller steps
  per sample), the field is read from the carrier. Within the lock-in's linear range
  (shifts per step well below the ODMR linewidth) this is the first-order low-pass at
  the preset's bandwidth; beyond it the loop lags or loses lock. Modulation deviation:
  half the linewidth (:data:`NV_MOD_DEPTH`, an assumption).
* Other sensors with a finite preset bandwidth (OPM presets without a Bloch model): an
  ideal readout behind a first-order low-pass at the preset's bandwidth.
* SQUIDs (infinite preset bandwidth): flux-locked and ideal, the reading is the field.

Every stage here is a function of a window of samples that starts settled in the field
of its first sample; :class:`ResponsePlan` says how many samples before a chunk a window
must start (:attr:`ResponsePlan.warmup`) so that the chunk does not depend on where the
window began (the start-up transient decays as exp(-t/tau), tau = 1/(2 pi bandwidth)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.signal import lfilter

from forward_models.constants import GAMMA_NV
from forward_models.nv import tracked_readout

from ..opm import simulate_array_recording
from ..sensors.nv import NVPreset
from .field import bloch_groups

__all__ = ["ResponsePlan", "response_plan", "sensor_response", "first_order_lowpass", "readout",
           "OPM_OPTIONS", "WARMUP_TIME_CONSTANTS"]

OPM_OPTIONS = ("gain_error", "orientation_error", "crosstalk", "closed_loop", "n_substeps")
"""Keywords of :func:`qsense.opm.opm_response` that ``opm_options`` may set."""

NV_MOD_DEPTH = 0.5
"""Frequency deviation of the NV lock-in's modulation, in ODMR linewidths (assumption:
near the deviation of largest slope for a Lorentzian line, about 0.3-0.5 FWHM)."""

NV_SUBSTEPS = 8
"""Controller steps per sample of the NV frequency-tracking loop."""

WARMUP_TIME_CONSTANTS = 60.0
"""Length of the settling window before each chunk, in time constants of the slowest
sensor: the start-up transient has decayed to exp(-60) = 9e-27 of its size."""


def first_order_lowpass(x, sfreq: float, bandwidth: float) -> np.ndarray:
    """First-order low-pass of sampled signals, exact for a piecewise-linear input.

    ``y' = 2 pi f_c (x - y)``, integrated exactly between samples with ``x`` linear
    between them (first-order hold), starting settled at the first sample (``y[0] =
    x[0]``).

    Parameters
    ----------
    x : array_like, shape (..., n_times)
    sfreq : float
        Hz.
    bandwidth : float or array_like, shape (...)
        -3 dB frequency f_c, Hz (per row; ``inf`` passes the row unchanged).

    Returns
    -------
    ndarray, shape (..., n_times)
    """
    x = np.asarray(x, dtype=float)
    out = x.copy()
    bw = np.broadcast_to(np.asarray(bandwidth, dtype=float), x.shape[:-1])
    for f in np.unique(bw):
        if not np.isfinite(f):
            continue
        rows = bw == f
        ah = 2.0 * np.pi * f / float(sfreq)
        e = math.exp(-ah)
        c = 1.0 - (1.0 - e) / ah  # weight of the new sample (first-order hold)
        b, a = [c, 1.0 - e - c], [1.0, -e]
        xs = x[rows]
        zi = (1.0 - c) * xs[..., :1]  # settled: y[0] = x[0]
        out[rows] = lfilter(b, a, xs, axis=-1, zi=zi)[0]
    return out


@dataclass(frozen=True, eq=False)
class ResponsePlan:
    """Which sensor model each channel of an array gets.

    Attributes
    ----------
    groups : list of (OPMModel, ndarray of int)
        Bloch-model OPM channels by model (see
        :func:`~qsense.simulation.field.bloch_groups`).
    other : ndarray of int
        The remaining channels (ideal readings in, possibly low-passed).
    bandwidth : ndarray, shape (n_other,)
        Low-pass -3 dB frequency of each of them, Hz (``inf``: none).
    opm_options : dict
        Passed to :func:`qsense.opm.simulate_array_recording`.
    subarrays : list of SensorArray
        The channels of each group as an array of their own.
    nv : ndarray of int
        Rows of ``other`` read out by NV frequency tracking.
    nv_figures : ndarray, shape (4, n_nv)
        Their contrast, linewidth (Hz), modulation deviation (Hz) and resonance shift
        per tesla (``gamma_NV flux_gain``, Hz/T).
    """

    groups: list
    other: np.ndarray
    bandwidth: np.ndarray
    opm_options: dict = field(default_factory=dict)
    subarrays: list = field(default_factory=list)
    nv: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    nv_figures: np.ndarray = field(default_factory=lambda: np.zeros((4, 0)))

    @property
    def max_bandwidth(self) -> float:
        """Highest finite bandwidth any channel's model has, Hz (0 with none)."""
        bws = [m.closed_loop_bandwidth if self.opm_options.get("closed_loop") else m.bandwidth
               for m, _ in self.groups]
        bws += [b for b in self.bandwidth if np.isfinite(b)]
        return float(max(bws, default=0.0))

    def warmup(self, sfreq: float) -> int:
        """Samples of settling before each chunk (0 when no channel has a state)."""
        bws = [m.bandwidth for m, _ in self.groups]
        bws += [b for b in self.bandwidth if np.isfinite(b)]
        if not bws:
            return 0
        tau = 1.0 / (2.0 * np.pi * min(bws))
        return int(math.ceil(WARMUP_TIME_CONSTANTS * tau * sfreq))


def response_plan(array, sensor_physics: bool = True, opm_options=None) -> ResponsePlan:
    """The sensor model of each channel (see the module docstring).

    Parameters
    ----------
    array : SensorArray
    sensor_physics : bool
        False: every sensor is ideal (no Bloch model, no low-pass).
    opm_options : dict, optional
        Keywords for the Bloch-model OPMs, from :data:`OPM_OPTIONS`.
    """
    opm_options = dict(opm_options or {})
    bad = sorted(set(opm_options) - set(OPM_OPTIONS))
    if bad:
        raise ValueError(f"opm_options has unknown keys {bad}; allowed: {list(OPM_OPTIONS)}")
    if not sensor_physics:
        return ResponsePlan([], np.arange(array.n_channels), np.full(array.n_channels, np.inf),
                            opm_options)
    groups = bloch_groups(array)
    done = np.zeros(array.n_channels, bool)
    for _, idx in groups:
        done[idx] = True
    other = np.flatnonzero(~done)
    bw = np.array([float(array.channel_presets[i].bandwidth) for i in other])
    presets = [array.channel_presets[i] for i in other]
    nv = np.array([k for k, p in enumerate(presets) if isinstance(p, NVPreset)], dtype=int)
    figures = np.array([[presets[k].contrast, presets[k].linewidth,
                         NV_MOD_DEPTH * presets[k].linewidth,
                         GAMMA_NV / (2 * np.pi) * presets[k].flux_gain] for k in nv]
                       ).reshape(-1, 4).T
    return ResponsePlan(groups, other, bw, opm_options, [array.pick(i) for _, i in groups],
                        nv, figures)


def readout(plan: ResponsePlan, channel_field, sfreq) -> np.ndarray:
    """Readings of ``plan.other`` (n_other, n) from their ideal readings: NV frequency
    tracking for the NV rows, the first-order low-pass at the preset's bandwidth for the
    others (none for infinite bandwidths). Starts settled at the first sample."""
    bw = plan.bandwidth.copy()
    bw[plan.nv] = np.inf
    out = first_order_lowpass(channel_field, sfreq, bw)
    if len(plan.nv):
        contrast, linewidth, mod_depth, per_tesla = plan.nv_figures
        shift = np.asarray(channel_field, dtype=float)[plan.nv] * per_tesla[:, None]
        carrier = tracked_readout(shift, sfreq, contrast, linewidth, mod_depth,
                                  plan.bandwidth[plan.nv], n_substeps=NV_SUBSTEPS)
        out[plan.nv] = np.asarray(carrier) / per_tesla[:, None]
    return out


def respond_bloch(plan: ResponsePlan, cells, sfreq) -> list:
    """Readings of the channels of each Bloch group (list of (n_group_channels, n)) from
    the head-frame field in their cells (list of (n_sensors, 3, n))."""
    return [simulate_array_recording(sub, c, sfreq, model=model, noise=False,
                                     **plan.opm_options).values
            for (model, _), sub, c in zip(plan.groups, plan.subarrays, cells, strict=True)]


def respond(plan: ResponsePlan, array, channel_field, cells, sfreq) -> np.ndarray:
    """Readings of every channel, (n_channels, n), from the ideal readings of
    ``plan.other`` (n_other, n) and the cell fields of each Bloch group."""
    n = channel_field.shape[-1] if len(plan.other) else cells[0].shape[-1]
    out = np.empty((array.n_channels, n))
    if len(plan.other):
        out[plan.other] = readout(plan, channel_field, sfreq)
    for (_, idx), r in zip(plan.groups, respond_bloch(plan, cells, sfreq), strict=True):
        out[idx] = r
    return out


def sensor_response(array, true_field: xr.Dataset, *, sensor_physics: bool = True,
                    opm_options=None) -> xr.DataArray:
    """Stage 2 of :func:`qsense.simulate_raw` on its own: what the sensors report.

    Parameters
    ----------
    array : SensorArray
    true_field : xarray.Dataset
        From :func:`~qsense.simulation.true_field` (``channel_field``, ``cell_field``,
        attribute ``sfreq``).
    sensor_physics : bool
        False: ideal sensors (the readings are ``channel_field``).
    opm_options : dict, optional
        For the Bloch-model OPMs: any of :data:`OPM_OPTIONS` (see
        :func:`qsense.opm.opm_response`).

    Returns
    -------
    xarray.DataArray, (channel, time)
        T (T/m for planar gradiometers). The window starts settled in the field of its
        first sample.
    """
    plan = response_plan(array, sensor_physics, opm_options)
    sfreq = float(true_field.attrs["sfreq"])
    chan = true_field["channel_field"].values[plan.other]
    cells, start = [], 0
    for _, idx in plan.groups:
        n_s = len(np.unique(array.sensor_index[idx]))
        cells.append(true_field["cell_field"].values[start:start + n_s])
        start += n_s
    data = respond(plan, array, chan, cells, sfreq)
    return xr.DataArray(
        data, dims=("channel", "time"),
        coords={"channel": true_field["channel"], "time": true_field["time"]},
        attrs={"units": "T", "long_name": "sensor reading (planar gradiometers in T/m)",
               "sensor_physics": int(bool(sensor_physics))},
    )
