"""``qsense.simulate_raw``: a recording through the whole chain, in memory or to FIF.

The chain, one chunk at a time (each stage is also a public function of
:mod:`qsense.simulation`):

1. source currents -> true field (:class:`~qsense.simulation.field.SourceField`, or
   :class:`~qsense.simulation.moving_field.MovingSourceField` when the head moves in a
   fixed helmet), plus the room's field (:class:`~qsense.simulation.room.RoomField`,
   with the sensors moving through it when they move with the head);
2. sensor physics (:mod:`qsense.simulation.physics`);
3. sensor noise (:mod:`qsense.simulation.noise`);
4. the ADC (:mod:`qsense.simulation.adc`).

See ``docs/simulation.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._checks import check_int, check_number, check_option, validate_type
from ..head import Head
from ..sensor_array import SensorArray
from ..sources import SourceSpace
from .adc import as_adc, digitise
from .currents import active_sources
from .field import SourceField
from .noise import BLOCK, SENSOR_NOISE_STREAM, NoiseSource
from .physics import readout, respond_bloch, response_plan
from .room import (
    DrawnTrajectory,
    RoomField,
    RoomSignals,
    Trajectory,
    environment_record,
    trajectory_truth,
)
from .truth import decoded, stream_truth, truth_dataset, truth_fname

__all__ = ["simulate_raw", "DESCRIPTION_PREFIX"]

DESCRIPTION_PREFIX = "Simulated by qsense simulate_raw: "
"""Start of the ``info["description"]`` line that records the simulation's settings
(JSON follows)."""

INTERP = ("cos2", "linear", "zero", "hann")
"""Blending between the positions of a head trajectory (as ``mne.simulation.simulate_raw``)."""

BLOCH_BLOCK = 2**12
"""Samples per block of the Bloch-model OPM stage (plus the settling window before it):
the block is the same whatever the chunking; JAX's intermediates for a block of 64
sensors are about 30 MB."""

class _Chain:
    """Samples of the simulated recording, computed chunk by chunk (see the module
    docstring). ``samples(start, stop)`` gives any range; the work is done in pieces
    aligned on multiples of ``chunk`` samples.

    Sensors with a state start each window settled ``warmup`` samples before the samples
    wanted. The Bloch-model OPMs are run in fixed blocks of their own (``bloch_block``
    samples, whatever the chunking): their large longitudinal polarisation carries
    rounding into the small readings at ~1e-11, so only the same windows give the same
    numbers."""

    def __init__(self, array, plan, field, room, noise, adc, sfreq, n_times, chunk, progress):
        self.array, self.plan, self.field, self.room = array, plan, field, room
        self.noise, self.adc, self.sfreq = noise, adc, sfreq
        self.n_times, self.chunk = n_times, min(chunk, n_times)
        self.warmup = plan.warmup(sfreq)
        self.bloch_block = min(BLOCH_BLOCK, 1 << (n_times - 1).bit_length())
        self._bloch: dict[int, list] = {}
        self.bar = progress
        self._reached = 0  # last sample computed so far (progress)

    def _bloch_readings(self, k):
        """Readings of each Bloch group over fixed block ``k``; the Bloch kernel always
        gets ``bloch_block + warmup`` samples (padded with the edge values), so it
        compiles once. Without sources (and without a room) the cells are field-free
        and the readings exactly zero."""
        if k not in self._bloch:
            B, W = self.bloch_block, self.warmup
            s, e = k * B, min((k + 1) * B, self.n_times)
            if self.field.active is None and self.room is None:
                return [np.zeros((len(idx), e - s)) for _, idx in self.plan.groups]
            a = max(0, s - W)
            front = W - (s - a)
            back = B + W - front - (e - a)
            cells = self.field.cells(a, e)
            if self.room is not None:
                cells = [c + r for c, r in zip(cells, self.room.cells(a, e), strict=True)]
            cells = [np.pad(c, ((0, 0), (0, 0), (front, back)), mode="edge") for c in cells]
            out = respond_bloch(self.plan, cells, self.sfreq)
            if len(self._bloch) >= 2:
                self._bloch.pop(min(self._bloch))
            self._bloch[k] = [r[:, W:W + e - s] for r in out]
        return self._bloch[k]

    def piece(self, s, e):
        data = np.empty((self.array.n_channels, e - s))
        if len(self.plan.other):
            a = max(0, s - self.warmup)
            ideal = self.field.channels(a, e)
            if self.room is not None:
                ideal = ideal + self.room.channels(a, e)
            data[self.plan.other] = readout(self.plan, ideal, self.sfreq)[:, s - a:]
        B = self.bloch_block
        for k in range(s // B, (e - 1) // B + 1) if self.plan.groups else ():
            a, b = max(s, k * B), min(e, (k + 1) * B)
            for (_, idx), r in zip(self.plan.groups, self._bloch_readings(k), strict=True):
                data[idx, a - s:b - s] = r[:, a - k * B:b - k * B]
        if self.noise is not None:
            data += self.noise.samples(s, e)
        return digitise(data, self.adc)

    def samples(self, start, stop):
        out = np.empty((self.array.n_channels, stop - start))
        first = start // self.chunk * self.chunk
        for s in range(first, stop, self.chunk):
            e = min(s + self.chunk, self.n_times)
            block = self.piece(s, e)
            a, b = max(s, start), min(e, stop)
            out[:, a - start:b - start] = block[:, a - s:b - s]
            if self.bar is not None and e > self._reached:
                self.bar.update(e - self._reached)
                self._reached = e
        return out


def _check_environment(environment):
    """None, an Environment, or a room name (its preset environment)."""
    from ..environment import Environment, room_names

    if environment is None or isinstance(environment, Environment):
        return environment
    if isinstance(environment, str):
        if environment not in room_names():
            raise ValueError(f"environment={environment!r}: a room name must be one of "
                             f"{room_names()} (or pass a qsense.Environment, or None for a "
                             "perfect room)")
        return Environment.preset(environment)
    raise TypeError(f"environment must be a qsense.Environment, a room name or None, got "
                    f"{type(environment).__name__}")


def _movement(array, head, sources, active, plan, environment, head_movement, interp,
              sfreq, n_times, seed):
    """Stage 1 with the head's movement: (source field, trajectory for the room, the
    movement's description for the settings)."""
    from .moving_field import MovingSourceField
    from .trajectory import check_head_pos, check_sensors_outside, control_points, poses_at

    cells = bool(plan.groups)
    if head_movement is None:
        field = SourceField(array, head, sources, active, channels=plan.other, cells=cells)
        trajectory = None
        if (environment is not None and environment.movement is not None
                and array.head_mounted):
            trajectory = DrawnTrajectory(environment.movement, sfreq, seed)
        return field, trajectory, None if trajectory is None else trajectory.description
    check_option("interp", interp, INTERP)
    hp = check_head_pos(head_movement, sfreq=sfreq, n_times=n_times)
    description = {"kind": "given (MNE head-position format)", "n_positions": len(hp),
                   "first_time_s": float(hp[0, 0]), "last_time_s": float(hp[-1, 0]),
                   "interp": interp}
    if array.head_mounted:
        # the sources move with the sensors; only the room's field changes
        field = SourceField(array, head, sources, active, channels=plan.other, cells=cells)
        trajectory = Trajectory(lambda s, e: poses_at(hp, sfreq, s, e, interp), description)
        return field, trajectory, description
    if cells:
        raise ValueError("head_movement with Bloch-model OPMs in a fixed helmet is not "
                         "simulated; pass sensor_physics=False or head_movement=None")
    transforms, offsets, rows = control_points(hp, sfreq, initial=array.dev_head_t)
    check_sensors_outside(array, head, transforms, times=offsets / sfreq, rows=rows)
    field = MovingSourceField(array, head, sources, active, hp, sfreq, interp=interp,
                              channels=plan.other)
    return field, None, dict(description, frame="the head moves inside the fixed helmet")


def _movement_truth(trajectory, head_movement, n_times, sfreq) -> dict:
    """The head's movement for the truth file, ``{name: (dims, values, attrs)}``: the
    given MNE head positions (``head_pos``), and for arrays moving with the head their
    pose in the room (:func:`~qsense.simulation.room.trajectory_truth`)."""
    out = {}
    if head_movement is not None:
        from .trajectory import check_head_pos

        hp = check_head_pos(head_movement, sfreq=sfreq, n_times=n_times)
        out["head_pos"] = (("head_position", "head_pos_column"), hp,
                           {"units": "s, 1, 1, 1, m, m, m, 1, m, m/s", "long_name":
                            "head positions as given (MNE's format: t, q1-q3, x, y, z, gof, "
                            "err, v; device -> head)"})
    if trajectory is not None:
        out.update(trajectory_truth(trajectory, n_times, sfreq))
    return out


def _check_stc(sources, stc, duration, sfreq):
    """(active sources or None, sfreq, n_times, events, event_id, annotations)."""
    from ..activity import Activity

    events = event_id = annotations = None
    if isinstance(stc, Activity):
        stc, events, event_id, annotations = stc
    if stc is None:
        if duration is None or sfreq is None:
            raise ValueError("stc=None (an empty room) needs duration= (s) and sfreq= (Hz)")
        sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
        duration = check_number("duration", duration, low=0, low_open=True, unit="s")
        n_times = int(round(duration * sfreq))
        if n_times < 2:
            raise ValueError(f"duration={duration} s at sfreq={sfreq} Hz gives {n_times} "
                             "sample(s); need at least 2")
        return None, sfreq, n_times, events, event_id, annotations
    active = active_sources(sources, stc)
    if sfreq is not None and not np.isclose(
            check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz"), active.sfreq):
        raise ValueError(f"sfreq={sfreq} Hz differs from the stc's {active.sfreq} Hz; "
                         "sfreq comes from stc (leave it None)")
    if duration is not None:
        d = check_number("duration", duration, low=0, low_open=True, unit="s")
        if not np.isclose(d * active.sfreq, active.n_times, atol=0.5):
            raise ValueError(f"duration={duration} s differs from the stc's "
                             f"{active.n_times / active.sfreq} s; it comes from stc")
    return active, active.sfreq, active.n_times, events, event_id, annotations


def _summary(value):
    arr = np.asarray(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return f"array{list(arr.shape)}" if arr.size > 12 else arr.tolist()


def _settings(array, head, sources, active, *, sfreq, n_times, sensor_physics, noise, seed,
              adc, opm_options, truth, chunk_duration):
    from .. import __version__

    return {
        "qsense_version": __version__,
        "array": array.sensor, "n_channels": array.n_channels, "kind": array.kind,
        "head": head.name, "conductor": head.conductor.name,
        "sources": {"kind": sources.kind, "spacing": sources.spacing,
                    "n_sources": sources.n_sources},
        "stc": None if active is None else active.kind,
        "n_active": 0 if active is None else active.n_active,
        "sfreq": sfreq, "n_times": n_times, "duration": n_times / sfreq,
        "sensor_physics": sensor_physics, "noise": noise, "seed": seed,
        "noise_streams": (f"per channel: numpy default_rng([seed, {SENSOR_NOISE_STREAM}, "
                          f"blake2b(channel identity), block + 1]), blocks of {BLOCK} "
                          "samples") if noise else None,
        "adc": None if adc is None else adc.as_dict(),
        "environment": None, "head_movement": None,
        "opm_options": {k: _summary(v) for k, v in (opm_options or {}).items()},
        "lead_field": "qsense.leadfield, accuracy 'accurate'",
        "truth": truth, "chunk_duration": chunk_duration,
    }


def _info(array, head, sfreq, settings):
    info = array.to_info(sfreq)
    line = DESCRIPTION_PREFIX + json.dumps(settings, separators=(",", ":"), sort_keys=True)
    with info._unlock():
        info["description"] = "\n".join(x for x in (info["description"], line) if x)
        if head.subject:
            info["subject_info"] = {"his_id": head.subject}
    return info


def simulate_raw(array, head, sources, stc, *, environment=None, sensor_physics=True,
                 noise=True, head_movement=None, seed=0, chunk_duration=10.0, fname=None,
                 overwrite=False, duration=None, sfreq=None, adc=None, annotations=None,
                 opm_options=None, split_size="2GB", return_truth=False, progress=False,
                 interp="cos2"):
    """What an array would record from sources in a head, as an ``mne.io.Raw``.

    The chain: source currents -> the true field at every coil integration point (and
    the 3-component field in each OPM cell), head movement and the room's field ->
    sensor physics -> sensor noise -> ADC,
    computed ``chunk_duration`` at a time. See ``docs/simulation.md``.

    Parameters
    ----------
    array : SensorArray
    head : Head
    sources : SourceSpace
    stc : mne.SourceEstimate, VectorSourceEstimate, VolSourceEstimate,
        VolVectorSourceEstimate, qsense.activity.Activity or None
        Dipole moments, A m; vertices as ``sources.to_mne()`` numbers them (see
        :func:`qsense.simulation.active_sources`). Scalar estimates drive the sources
        along their normals, vector estimates give head-frame x, y, z. The sampling rate
        and the number of samples come from it; sample 0 of the estimate is the first
        sample of the recording. An :class:`~qsense.activity.Activity` brings its events
        and annotations along. None: an empty-room recording (needs ``duration`` and
        ``sfreq``).
    environment : qsense.Environment, str or None
        The room (:mod:`qsense.simulation.room`): remnant field and gradient (after the
        nulling coils), distant interferers attenuated by the room's shielding factor,
        the power line's harmonics, the shield's Johnson noise, synthesised from the
        spectra ``qsense budget`` reports; with a movement spectrum and no
        ``head_movement``, a head-mounted array moves along a trajectory drawn from it.
        A room name takes its preset environment (``Environment.preset(name)``). None: a
        perfect room.
    sensor_physics : bool
        True: each sensor's model (SERF Bloch model for OPM presets that carry one,
        first-order low-pass at the preset bandwidth for the other sensors with a finite
        bandwidth, ideal flux-locked SQUIDs). False: ideal sensors.
    noise : bool
        Add each channel's sensor noise (white + 1/f, from the array's noise floors and
        the presets' corner frequencies).
    head_movement : array_like, shape (n, 10), path-like, dict or None
        Head positions in MNE's format (``mne.chpi.read_head_pos``: t, q1, q2, q3, x, y,
        z, gof, err, v; device -> head; t from the first sample, s), a ``.pos`` file, or
        ``{t: 4x4}`` (:func:`qsense.simulation.trajectory.check_head_pos`). A fixed helmet
        (SQUID) sees the head move inside it: its lead field at each position, blended
        between positions as ``mne.simulation.simulate_raw`` does
        (:class:`~qsense.simulation.moving_field.MovingSourceField`); positions that put a
        sensor inside the scalp are refused. A head-mounted array (OPM, NV) moves with the
        head through the room's field, the first row being the reference pose (the room
        frame); the sources move with it.
    seed : int
        >= 0. Same seed, same numbers, whatever ``chunk_duration``.
    chunk_duration : float
        Seconds computed (and written) at a time; memory grows with it, the numbers do
        not depend on it (to rounding, ~1e-15 relative).
    fname : path-like, optional
        Write the recording to this FIF file (ending in ``.fif``; split as MNE splits
        large files) and the ground truth beside it (``<name>-truth.nc``); the returned
        Raw reads the file. Written atomically: nothing appears under ``fname`` unless
        complete.
    overwrite : bool
        Replace an existing ``fname`` (and its truth file).
    duration, sfreq : float, optional
        Length (s) and sampling rate (Hz) of an empty-room recording (``stc=None``);
        with an ``stc`` they must agree with it.
    adc : qsense.simulation.ADC, (range, bits) or dict, optional
        Clip to [-range, range) (tesla; T/m for planar gradiometers) and quantise.
    annotations : mne.Annotations, optional
        Set on the recording (an Activity's annotations by default).
    opm_options : dict, optional
        For the Bloch-model OPMs (:data:`qsense.simulation.physics.OPM_OPTIONS`):
        ``gain_error``, ``orientation_error``, ``crosstalk``, ``closed_loop``,
        ``n_substeps`` (see :func:`qsense.opm.opm_response`).
    split_size : str or int
        Largest FIF file before MNE splits it (default "2GB").
    return_truth : bool
        Also return the ground truth (:mod:`qsense.simulation.truth`).
    progress : bool
        Show a progress bar.
    interp : {"cos2", "linear", "zero", "hann"}
        Blending between the positions of ``head_movement`` (MNE's choices).

    Returns
    -------
    raw : mne.io.Raw
        ``mne.io.RawArray`` in memory, or the FIF file opened with
        ``mne.io.read_raw_fif`` when ``fname`` is given. Its info has the array's
        channels, ``dev_head_t``, ``subject_info`` (fsaverage) and a description that
        keeps the array's preset record and adds a line starting with
        :data:`DESCRIPTION_PREFIX` with the settings (JSON, naming the truth file).
    truth : xarray.Dataset
        Only with ``return_truth=True``.

    Raises
    ------
    ValueError, TypeError
        Naming the argument: an unknown room, a bad head trajectory (NaN, millimetres,
        times out of order or past the end, sensors inside the head), vertices not in
        the source space, sfreq below twice the highest sensor bandwidth or power-line
        harmonic simulated,
        durations <= 0, an existing ``fname`` without ``overwrite`` (also a
        FileExistsError). Nothing is written then.
    """
    import mne

    from .fif import SimulatedRaw, check_fname, save_atomic  # imports mne.io

    validate_type(array, SensorArray, "array", "qsense.SensorArray")
    validate_type(head, Head, "head", "qsense.Head")
    validate_type(sources, SourceSpace, "sources", "qsense SourceSpace")
    environment = _check_environment(environment)
    for name, flag in (("sensor_physics", sensor_physics), ("noise", noise),
                       ("return_truth", return_truth), ("progress", progress)):
        validate_type(flag, bool, name)
    seed = check_int("seed", seed, low=0)
    chunk_duration = check_number("chunk_duration", chunk_duration, low=0, low_open=True,
                                  unit="s")
    active, sfreq, n_times, events, event_id, act_annot = _check_stc(sources, stc, duration,
                                                                     sfreq)
    annotations = act_annot if annotations is None else annotations
    if annotations is not None:
        validate_type(annotations, mne.Annotations, "annotations")
    plan = response_plan(array, sensor_physics, opm_options)
    top = plan.max_bandwidth
    if sfreq < 2 * top:
        raise ValueError(
            f"sfreq={sfreq:g} Hz is below twice the highest frequency simulated, the sensor "
            f"bandwidth {top:g} Hz (sensor_physics=True); use sfreq >= {2 * top:g} Hz "
            "(resample the stc) or sensor_physics=False"
        )
    signals = None if environment is None else RoomSignals(environment, sfreq, seed)
    if signals is not None and sfreq <= 2 * signals.max_frequency:
        f = signals.max_frequency
        raise ValueError(
            f"sfreq={sfreq:g} Hz is not above twice the highest frequency simulated, the "
            f"power-line harmonic at {f:g} Hz (environment.power_line.harmonics); use "
            f"sfreq > {2 * f:g} Hz or fewer harmonics (environment.replace(power_line=...))")
    adc = as_adc(adc)
    if adc is not None and adc.range.ndim == 1 and len(adc.range) != array.n_channels:
        raise ValueError(f"adc range has {len(adc.range)} values; the array has "
                         f"{array.n_channels} channels")
    path = None
    if fname is not None:
        path = check_fname(fname, overwrite, also=[truth_fname(Path(fname).resolve())])
    settings = _settings(array, head, sources, active, sfreq=sfreq, n_times=n_times,
                         sensor_physics=sensor_physics, noise=noise, seed=seed, adc=adc,
                         opm_options=opm_options, chunk_duration=chunk_duration,
                         truth=None if path is None else truth_fname(path).name)
    field, trajectory, movement = _movement(array, head, sources, active, plan, environment,
                                            head_movement, interp, sfreq, n_times, seed)
    room = None if signals is None else RoomField(
        array, signals, channels=plan.other, cells=bool(plan.groups),
        trajectory=trajectory)
    settings["environment"] = environment_record(environment)
    settings["head_movement"] = movement
    info = _info(array, head, sfreq, settings)
    noise_src = NoiseSource(array, sfreq, seed) if noise else None
    chunk = max(1, int(round(chunk_duration * sfreq)))
    bar = None
    if progress:
        from tqdm import tqdm  # an MNE dependency

        bar = tqdm(total=n_times, desc="simulate_raw", unit="sample")
    chain = _Chain(array, plan, field, room, noise_src, adc, sfreq, n_times, chunk, bar)
    truth_args = (active, n_times, sfreq, settings)
    moves = _movement_truth(trajectory, head_movement, n_times, sfreq)
    truth_kw = dict(events=events, event_id=event_id)
    # streamed: the truth file is written from the estimate, not held in memory
    truth = None
    if path is None or return_truth:
        truth = truth_dataset(*truth_args, **truth_kw)
        for name, (dims, values, attrs) in moves.items():
            if name == "pose_time":
                truth.coords[name] = (dims, values, attrs)
            else:
                truth[name] = (dims, values, attrs)
    if path is None:
        raw = mne.io.RawArray(chain.samples(0, n_times), info, verbose=False)
        if annotations is not None:
            raw.set_annotations(annotations)
    else:
        lazy = SimulatedRaw(info, n_times, chain, chain.chunk / sfreq)
        if annotations is not None:
            lazy.set_annotations(annotations)
        save_atomic(lazy, path, overwrite=overwrite, split_size=split_size,
                    buffer_size_sec=chain.chunk / sfreq,
                    before_move=lambda: stream_truth(truth_fname(path), *truth_args,
                                                     extra=moves, **truth_kw))
        raw = mne.io.read_raw_fif(path, preload=False, verbose=False)
    if bar is not None:
        bar.close()
    return (raw, decoded(truth)) if return_truth else raw

