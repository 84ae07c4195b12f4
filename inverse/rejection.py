"""Interference rejection on simulated recordings: what MNE's suppression removes of the
room and what it costs of the brain's signal.

For each array, :func:`interference_rejection` simulates with :func:`qsense.simulate_raw`
(ideal sensors, no sensor noise, so that only the part under test is there):

* an empty room with the room's distant interferers alone (no power line, shield noise,
  remnant field or movement), and applies the suppression a user of that array would:
  MNE's homogeneous field correction (``mne.preprocessing.compute_proj_hfc``, order 1:
  the uniform field; Tierney et al. 2021, NeuroImage 244:118484) on head-mounted arrays,
  SSS (``mne.preprocessing.maxwell_filter``; Taulu & Kajola 2005, J. Appl. Phys.
  97:124905) on fixed helmets (:func:`qsense.budget.suppress`). The **shielding factor**
  is ``rms(before) / rms(after)`` over channels and samples, set beside the factor
  :func:`qsense.budget.mne_suppression` predicts from the interferers' topographies;
* the field of a dipole at the probe (a 10 Hz sinusoid), with the same suppression. The
  **signal loss** is ``1 - rms(after) / rms(before)``: the fraction of the neural
  field's amplitude the suppression removes.
"""

from __future__ import annotations

import dataclasses

import mne
import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number
from qsense.budget import mne_suppression, recording_suppression, suppress

from .recordings import _check_arrays, _check_environments, probe_orientations

__all__ = ["interference_rejection", "TYPICAL_ROOM"]

TYPICAL_ROOM = {True: "opm_two_layer", False: "ak3b"}
"""Default room of head-mounted arrays (OPM, NV) and of fixed helmets (SQUID)."""


def _interferers_only(env):
    room = dataclasses.replace(env.room, layers=(), remnant_field=(0.0, 0.0, 0.0),
                               remnant_gradient=(0.0,) * 9)
    return env.replace(room=room, power_line=None, movement=None)


def interference_rejection(arrays, head, sources, probe, *, environments=None,
                           duration=10.0, sfreq=1000.0, amplitude=20e-9,
                           seed=0) -> xr.Dataset:
    """Shielding factor and neural signal loss of MNE's suppression, per array.

    Parameters
    ----------
    arrays : dict or sequence
        Name -> :class:`qsense.SensorArray`, or names from
        :data:`inverse.recordings.ARRAY_NAMES`.
    head : qsense.Head
    sources : qsense SourceSpace
    probe : int
        Index of the source whose field is suppressed.
    environments : dict, Environment, str or None
        The room of each array (default: :data:`TYPICAL_ROOM` by array type); only its
        distant interferers are simulated.
    duration : float
        Seconds of empty room.
    sfreq : float
        Hz.
    amplitude : float
        Peak dipole moment at the probe, A m (the loss does not depend on it).
    seed : int

    Returns
    -------
    xarray.Dataset
        ``shielding_factor``, ``predicted_shielding_factor``, ``signal_loss`` along
        ``array``, with ``method`` (the suppression used).
    """
    arrays = _check_arrays(arrays, head)
    names = list(arrays)
    if environments is None:
        environments = {n: TYPICAL_ROOM[a.head_mounted] for n, a in arrays.items()}
    envs = _check_environments(environments, names)
    duration = check_number("duration", duration, low=0, low_open=True, high=3600, unit="s")
    sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
    amplitude = check_number("amplitude", amplitude, low=0, low_open=True, high=1e-3,
                             unit="A m")
    probe = check_int("probe", probe, low=0, high=sources.n_sources - 1)
    seed = check_int("seed", seed, low=0)
    n = int(round(sfreq))
    src_mne = sources.to_mne()
    vertno = [s["vertno"] for s in src_mne]
    offsets = np.cumsum([0] + [len(v) for v in vertno])
    k = int(np.searchsorted(offsets, probe, side="right") - 1)
    vertices = [np.array([], int) for _ in vertno]
    vertices[k] = np.array([vertno[k][probe - offsets[k]]])
    wave = amplitude * np.sin(2 * np.pi * 10.0 * np.arange(n) / sfreq)[None]
    ori = probe_orientations(sources, head, [probe])[0]  # head frame
    stc_cls = (mne.VectorSourceEstimate if sources.kind == "surface"
               else mne.VolVectorSourceEstimate)
    stc = stc_cls(ori[None, :, None] * wave[:, None], vertices, 0.0, 1 / sfreq,
                  subject=sources.subject)
    shield, predicted, loss, methods = [], [], [], []
    for name in names:
        array, env = arrays[name], envs[name]
        if env is None:
            raise ValueError(f"environments[{name!r}] is None: a room is needed")
        only = _interferers_only(env)
        room = qs.simulate_raw(array, head, sources, None, environment=only,
                               duration=duration, sfreq=sfreq, seed=seed, noise=False,
                               sensor_physics=False)
        shield.append(recording_suppression(room, array.head_mounted))
        predicted.append(mne_suppression(array, only)["interference"])
        brain = qs.simulate_raw(array, head, sources, stc, noise=False, sensor_physics=False)
        before = brain.get_data()
        after, method = suppress(before, brain.info, array.head_mounted)
        loss.append(1.0 - float(np.sqrt(np.mean(after**2) / np.mean(before**2))))
        methods.append(method)
    coords = {"array": ("array", names, {"units": "", "long_name": "array"}),
              "method": ("array", methods, {"units": "", "long_name": "suppression used"})}
    return xr.Dataset(
        {"shielding_factor": ("array", shield, {
            "units": "1", "long_name": "rms of the simulated interference before / after "
                                       "suppression"}),
         "predicted_shielding_factor": ("array", predicted, {
             "units": "1", "long_name": "qsense.budget.mne_suppression's prediction from "
                                        "the interferers' topographies"}),
         "signal_loss": ("array", loss, {
             "units": "1", "long_name": "fraction of the probe's field amplitude removed by "
                                        "the suppression"})},
        coords=coords,
        attrs={"probe": probe, "duration_s": duration, "sfreq_Hz": sfreq, "seed": seed,
               "rooms": str({n: (None if envs[n] is None else envs[n].room.name)
                             for n in names})})
