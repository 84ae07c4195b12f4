"""Noise budgets: what limits a measurement at each frequency.

``noise_budget(array, environment, freqs)`` returns an :class:`xarray.Dataset` with
the amplitude spectral density of every contributor on every channel, referred to the
sensor input (T/sqrt(Hz); T/(m sqrt(Hz)) for gradiometer channels), and their
quadrature sum.  Contributors:

``sensor``
    Intrinsic sensor noise, ``floor * sqrt(1 + f_c / f)`` from the channel's preset.
``shield_thermal``
    Johnson noise of the room's conducting layers (``Room.thermal_noise``); for
    gradiometers divided by the innermost equivalent radius (approximation: the field
    varies on the scale of the room).
``interference``
    Distant magnetic dipoles (traffic, lifts) divided by the room's shielding factor.
``power_line``
    Power-line harmonics (Gaussian lines) divided by the shielding factor.
``movement``
    Head-mounted sensors (``array.head_mounted``: OPM, NV) moving in the remnant field:
    per channel ``sqrt((theta |n x B|)**2 + (dr |G^T n|)**2)`` for isotropic rotation
    theta and translation dr spectra.  Fixed SQUID helmets see no remnant-field artefact
    from head movement (it changes their lead fields instead, see
    ``qsense.environment.squid_movement_leadfield_change``), so this is zero for them.

The ``qsense budget`` command lives in :mod:`qsense.cli.budget`, the figure in
:func:`qsense.plots.plot_budget`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from forward_models import noise as fm_noise

from ._checks import check_array, check_bool, check_number, check_option, validate_type
from .environment import Environment, channel_field, dipole_field

__all__ = ["CONTRIBUTORS", "noise_budget", "mne_suppression", "suppress",
           "recording_suppression", "dominant"]

CONTRIBUTORS = ("sensor", "shield_thermal", "interference", "power_line", "movement")
_LONG = {
    "sensor": "intrinsic sensor noise (white floor + 1/f)",
    "shield_thermal": "Johnson noise of the shield's conducting layers",
    "interference": "distant magnetic dipoles (traffic, lifts) after shielding",
    "power_line": "power-line harmonics after shielding",
    "movement": "sensor movement in the remnant field and gradient",
}


_CHANNEL_AGGREGATES = ("median", "mean", "max", "min")


def _check_inputs(array, environment):
    """The array and the environment (default ``Environment()``), type-checked."""
    from .sensor_array import SensorArray

    validate_type(array, SensorArray, "array", "qsense.SensorArray")
    env = Environment() if environment is None else environment
    validate_type(env, Environment, "environment", "qsense Environment")
    return array, env


def _check_freqs(freqs):
    f = np.atleast_1d(check_array("freqs", freqs, finite=False, unit="Hz"))
    if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"freqs must be a non-empty 1-D array of positive finite frequencies "
                         f"in Hz, got {freqs!r}")
    return f


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _source_couplings(array, env: Environment) -> list[np.ndarray]:
    """Per interference source, each channel's reading of a unit dipole moment along the
    source's direction (T/(A m^2); T/(m A m^2) on gradiometers), shape (n_channels,)."""
    out = []
    for src in env.sources:
        d = _unit(src.direction)
        out.append(channel_field(array, lambda p, s=src, d=d: dipole_field(p, s.position, d)))
    return out


def _power_line_coupling(array, env: Environment) -> np.ndarray:
    """Each channel's reading of a uniform unit field along the power-line field's
    direction (dimensionless; 1/m on gradiometers), shape (n_channels,)."""
    u = _unit(env.power_line.direction)
    return channel_field(array, lambda p: np.broadcast_to(u, p.shape))


def noise_budget(array, environment: Environment | None = None, freqs=None,
                 suppression: bool = False) -> xr.Dataset:
    """Noise budget of a sensor array in an environment.

    Parameters
    ----------
    array : qsense.SensorArray
    environment : Environment, optional
        Default: ``Environment()`` (two-layer OPM room).
    freqs : array_like, shape (n_freq,)
        Frequencies, Hz (> 0).  Default: 200 log-spaced points over 0.1-1000 Hz.
    suppression : bool
        Also run MNE's interference suppression (:func:`mne_suppression`) and add the
        achieved attenuation and the suppressed total.

    Returns
    -------
    xarray.Dataset
        ``asd`` (contributor, channel, frequency) and ``total`` (channel, frequency), in
        T/sqrt(Hz) (T/(m sqrt(Hz)) on gradiometer channels; see the ``unit`` coordinate),
        plus ``shielding_factor`` (frequency).  With ``suppression``: ``attenuation``
        (contributor) and ``total_suppressed`` (channel, frequency).
    """
    array, env = _check_inputs(array, environment)
    f = np.logspace(-1, 3, 200) if freqs is None else _check_freqs(freqs)
    suppression = check_bool("suppression", suppression)
    n_ch = array.n_channels
    # planar gradiometers read T/m; axial ones (CTF) read a field difference in T, like
    # magnetometers (SensorArray.noise, qsense.forward's units)
    grad = np.asarray(array.is_planar_gradiometer, dtype=bool)
    room = env.room
    S = room.shielding_factor(f)
    out = np.zeros((len(CONTRIBUTORS), n_ch, f.size))

    corner = np.array([p.corner_frequency for p in array.channel_presets])
    out[0] = np.asarray(fm_noise.one_over_f_asd(f[None, :], np.asarray(array.noise)[:, None],
                                                corner[:, None]))
    if room.layers:
        bt = room.thermal_noise(env.temperature)
        out[1] = np.where(grad, bt / room.layers[0][2], bt)[:, None]
    for src, coupling in zip(env.sources, _source_couplings(array, env), strict=True):
        out[2] += (np.abs(coupling)[:, None] * src.moment_spectrum(f)[None, :] / S) ** 2
    out[2] = np.sqrt(out[2])
    if env.power_line is not None:
        pl = env.power_line
        coupling = _power_line_coupling(array, env)
        lines = sum(np.asarray(fm_noise.gaussian_line_asd(f, h * pl.frequency, a, pl.width))
                    ** 2 for h, a in zip(pl.harmonics, pl.amplitudes, strict=True))
        out[3] = np.abs(coupling)[:, None] * np.sqrt(lines)[None, :] / S
    if env.movement is not None and array.head_mounted:
        mv = env.movement
        b0, G = env.remnant()
        pos, nrm = np.asarray(array.positions), np.asarray(array.orientations)
        B = b0 + pos @ G.T
        rot = np.linalg.norm(np.cross(nrm, B), axis=-1)
        tra = np.linalg.norm(nrm @ G, axis=-1)
        dr = mv.translation_asd * f ** (-mv.exponent)
        out[4] = np.sqrt((rot[:, None] * dr / mv.lever) ** 2 + (tra[:, None] * dr) ** 2)
        out[4][grad] = 0.0  # no head-fixed gradiometers modelled

    units = np.where(grad, "T/(m sqrt(Hz))", "T/sqrt(Hz)")
    coords = {
        "contributor": ("contributor", list(CONTRIBUTORS),
                        {"long_name": "noise contributor", "units": "1"}),
        "channel": ("channel", list(array.names), {"long_name": "channel name", "units": "1"}),
        "frequency": ("frequency", f, {"long_name": "frequency", "units": "Hz"}),
        "unit": ("channel", units.astype(str),
                 {"long_name": "unit of the channel's spectral densities", "units": "1"}),
    }
    ds = xr.Dataset(
        {
            "asd": (("contributor", "channel", "frequency"), out,
                    {"long_name": "amplitude spectral density per contributor",
                     "units": "T/sqrt(Hz)", "note": "T/(m sqrt(Hz)) where unit says so"}),
            "total": (("channel", "frequency"), np.sqrt(np.sum(out**2, axis=0)),
                      {"long_name": "total amplitude spectral density (quadrature sum)",
                       "units": "T/sqrt(Hz)", "note": "T/(m sqrt(Hz)) where unit says so"}),
            "shielding_factor": (("frequency",), S,
                                 {"long_name": f"shielding factor of room {room.name}",
                                  "units": "1"}),
        },
        coords=coords,
        attrs={"title": "qsense noise budget", "sensor": array.sensor, "kind": array.kind,
               "room": room.name, "nulling": int(env.nulling),
               "temperature_K": float(env.temperature),
               "contributors": "; ".join(f"{k}: {v}" for k, v in _LONG.items())},
    )
    if suppression:
        att = mne_suppression(array, env)
        a = np.array([att.get(c, 1.0) for c in CONTRIBUTORS])
        ds["attenuation"] = (("contributor",), a,
                             {"long_name": "attenuation achieved by MNE interference "
                                           "suppression (rms before / after)", "units": "1",
                              "method": att["method"]})
        ds["total_suppressed"] = (("channel", "frequency"),
                                  np.sqrt(np.sum((out / a[:, None, None]) ** 2, axis=0)),
                                  {"long_name": "total ASD after MNE interference suppression",
                                   "units": "T/sqrt(Hz)"})
    return ds


def mne_suppression(array, environment: Environment) -> dict:
    """Attenuation of the interference topographies by MNE's suppression methods.

    Head-mounted arrays (``array.head_mounted``: OPM, NV): homogeneous field correction,
    ``mne.preprocessing.compute_proj_hfc`` (order 1: the uniform field, Tierney et al.
    2021); fixed helmets (SQUID): ``mne.preprocessing.maxwell_filter`` (SSS,
    Taulu & Kajola 2005).  Each interference
    topography (one per dipole source, one for the power line, one per remnant
    movement term) is filtered, and ``rms(before) / rms(after)`` over channels is the
    achieved attenuation.

    Returns
    -------
    dict
        contributor -> attenuation (dimensionless, >= 1 means suppressed), plus
        ``"method"``.
    """
    array, environment = _check_inputs(array, environment)
    topo = {}
    if environment.sources:
        topo["interference"] = _source_couplings(array, environment)
    if environment.power_line is not None:
        topo["power_line"] = [_power_line_coupling(array, environment)]
    names = list(topo)
    data = np.concatenate([np.stack(topo[k], axis=1) for k in names], axis=1)
    clean, method = suppress(data, array.to_info(), array.head_mounted)
    out, i = {"method": method}, 0
    for k in names:
        n = len(topo[k])
        before = np.sqrt(np.mean(data[:, i:i + n] ** 2))
        after = np.sqrt(np.mean(clean[:, i:i + n] ** 2))
        out[k] = float(before / max(after, 1e-300 * before))
        i += n
    return out


def suppress(data, info, head_mounted: bool):
    """MNE's interference suppression as :func:`mne_suppression` applies it.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n)
        Channel readings (topographies or samples).
    info : mne.Info
    head_mounted : bool
        True: homogeneous field correction, ``mne.preprocessing.compute_proj_hfc``
        (order 1, the uniform field; Tierney et al. 2021), projected out; False: SSS,
        ``mne.preprocessing.maxwell_filter`` (Taulu & Kajola 2005), origin (0, 0, 40) mm.

    Returns
    -------
    clean : ndarray, shape (n_channels, n)
    method : str
    """
    import mne

    if head_mounted:
        projs = mne.preprocessing.compute_proj_hfc(info, order=1, verbose="error")
        U = np.concatenate([p["data"]["data"] for p in projs], axis=0).T
        U, _ = np.linalg.qr(U)
        return data - U @ (U.T @ data), "mne.preprocessing.compute_proj_hfc (order=1)"
    raw = mne.io.RawArray(data, info, verbose="error")
    clean = mne.preprocessing.maxwell_filter(raw, origin=(0.0, 0.0, 0.04),
                                             verbose="error").get_data()
    return clean, "mne.preprocessing.maxwell_filter (SSS, int_order=8, ext_order=3)"


def recording_suppression(raw, head_mounted: bool) -> float:
    """Attenuation ``rms(before) / rms(after)`` of a recording by :func:`suppress`: what
    MNE's suppression does to simulated (or measured) interference, to set beside
    :func:`mne_suppression`'s prediction."""
    before = raw.get_data()
    after, _ = suppress(before, raw.info, head_mounted)
    return float(np.sqrt(np.mean(before**2) / np.mean(after**2)))


def dominant(ds: xr.Dataset, freq: float, channel_agg: str = "median") -> str:
    """Contributor with the largest channel-median ASD at the frequency nearest ``freq``.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`noise_budget` result.
    freq : float
        Hz (> 0).
    channel_agg : {"median", "mean", "max", "min"}
        How the channels are combined.
    """
    validate_type(ds, xr.Dataset, "ds", "xarray.Dataset (a noise_budget result)")
    if "asd" not in ds or "contributor" not in ds.coords:
        raise ValueError("ds must be a noise_budget result (with 'asd' and 'contributor'), "
                         f"got variables {sorted(ds.data_vars)}")
    freq = check_number("freq", freq, low=0.0, low_open=True, unit="Hz")
    check_option("channel_agg", channel_agg, _CHANNEL_AGGREGATES)
    sel = ds["asd"].sel(frequency=freq, method="nearest")
    agg = getattr(sel, channel_agg)("channel")
    return str(ds["contributor"].values[int(np.argmax(agg.values))])
