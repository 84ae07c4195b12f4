"""``qsense simulate``: a simulated recording written to FIF, from the command line.

The science is :func:`qsense.simulate_raw` (see ``docs/simulation.md``). This module turns
the checked settings (:data:`qsense.cli.config.SCHEMAS` ``["simulate"]``: flags over the
``--config`` file over the defaults) into its arguments, :func:`simulate_kwargs`, and
calls it once.

What the settings build:

- the array: ``opm_on_scalp`` (``n_sensors`` sensors of an OPM preset reading ``axes``),
  ``nv_on_scalp`` (``n_sensors`` NV magnetometers), ``kernel_flux`` (an OPM preset on the
  Kernel Flux layout), ``neuromag306`` or ``ctf275`` (the whole helmet, or only the
  channels of a SQUID preset of that helmet);
- the head: ``Head.fsaverage()`` (BEM) or ``Head.sphere()``; the sources: the fsaverage
  cortex at an ``ico`` spacing, or a volume grid (``"10mm"``);
- the active sources (assumption: where an N100m-like response is usually placed): one
  per auditory cortex, the source nearest :data:`AUDITORY_TARGETS` (head frame, about
  5 cm left and right of the head centre, 1 cm back, 4.5 cm up). On a cortex only
  superficial tangential sources are candidates (:func:`qsense.sources.
  superficial_tangential`) and each dipole lies along its normal; a volume grid has no
  normals, so each dipole points up (head-frame z) with its radial part (from the conductor
  sphere's centre) removed: a tangential dipole, which a sphere does not silence;
- the activity (:mod:`qsense.activity`): ``evoked`` (its length follows from its trials,
  or as many trials as surely fit are placed in ``duration`` and the rest is silence),
  ``alpha``, ``spikes``, or ``empty-room`` (no sources);
- the environment: None for ``room = "none"``, else ``Environment.preset(room,
  nulling=..., power_line=...)`` (``movement=None`` with ``movement = false``); head
  positions from a ``.pos`` file (``mne.chpi.read_head_pos``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import UsageError
from .budget import _setting
from .config import add_options, resolve

__all__ = ["add_simulate_parser", "run_simulate", "simulate_kwargs", "check_settings",
           "make_head", "make_array", "make_sources", "auditory_sources", "make_activity",
           "make_environment", "read_head_movement", "AUDITORY_TARGETS", "EVOKED_PRESTIM",
           "EVOKED_JITTER", "DEFAULT_DURATION"]

AUDITORY_TARGETS = np.array([[-0.05, -0.01, 0.045], [0.05, -0.01, 0.045]])
"""Head-frame points (m) near the left and right auditory cortex of fsaverage (the same
targets as ``examples/simulate_evoked.py``); assumption, not a fit to data."""

EVOKED_PRESTIM = 0.5
"""Silence before the first stimulus, s (:func:`qsense.activity.evoked`'s default)."""

EVOKED_JITTER = 0.2
"""Half-width of the uniform jitter of the stimulus interval, s (the preset's default)."""

DEFAULT_DURATION = 10.0
"""Recording length without ``duration`` (alpha, spikes, empty room), s."""

_DEFAULT_SENSOR = {"opm_on_scalp": "quspin_gen2", "nv_on_scalp": "nv_flux_concentrator",
                   "kernel_flux": "kernel_flux"}
_EVOKED_TRIALS = 30  # without n_trials and duration (the preset's default)


def add_simulate_parser(subparsers):
    """Add the ``simulate`` subcommand to an argparse ``subparsers`` object (its options:
    :data:`qsense.cli.config.SCHEMAS` ``["simulate"]``)."""
    p = subparsers.add_parser(
        "simulate", help="a simulated recording (qsense.simulate_raw) written to FIF",
        description="Simulate what an array records from N100m-like, alpha or spike "
                    "activity in the auditory cortices (or an empty room) and write it to a "
                    "FIF file, with the ground truth beside it (<name>-truth.nc). Settings "
                    "come from the flags, then the --config file, then the defaults.")
    add_options(p, "simulate")
    p.set_defaults(func=run_simulate)
    return p


def _fail(cfg, key: str, message: str):
    raise UsageError(f"{cfg.source[key]}: {message}")


def check_settings(cfg) -> None:
    """The checks between settings and against the disk, after
    :func:`qsense.cli.config.resolve` and before anything is built.

    Raises
    ------
    qsense.cli.UsageError
        No output; an existing output or truth file without ``overwrite``; ``axes`` other
        than radial on an array that is not ``opm_on_scalp``; a sensor preset that the
        array cannot hold; a cortex spacing on the sphere head.
    """
    from ..sensors import get_preset
    from ..simulation.truth import truth_fname

    out = cfg["output"]
    if out is None:
        _fail(cfg, "output", "required: the FIF file to write (e.g. --output sim_raw.fif)")
    if not cfg["overwrite"]:
        for path in (out, truth_fname(out)):
            if path.exists():
                _fail(cfg, "output", f"{str(path)!r} exists; pass --overwrite to replace it")
    array, sensor = cfg["array"], cfg["sensor"]
    if array != "opm_on_scalp" and cfg["axes"] != "radial":
        _fail(cfg, "axes", f"axes={cfg['axes']!r} applies to the opm_on_scalp array only; "
                           f"the {array} array reads what its sensors read")
    if sensor is not None:
        preset = get_preset(sensor)
        want = {"opm_on_scalp": "opm", "kernel_flux": "opm", "nv_on_scalp": "nv"}.get(array)
        if want is not None and preset.kind != want:
            _fail(cfg, "sensor", f"the {array} array needs an {want.upper()} preset, got "
                                 f"{sensor!r} ({preset.kind})")
        if want is None and getattr(preset, "helmet", None) != array:
            _fail(cfg, "sensor", f"the {array} helmet holds the SQUID presets of its own "
                                 f"channels only, got {sensor!r}")
    spacing = cfg["spacing"]
    if cfg["head"] == "sphere" and spacing is not None and spacing.startswith("ico"):
        _fail(cfg, "spacing", f"spacing={spacing!r} is a cortex, which needs the fsaverage "
                              "head; on the sphere use a volume grid such as \"10mm\"")


def make_head(cfg):
    """``Head.fsaverage()`` or ``Head.sphere()``."""
    from ..head import Head

    return Head.fsaverage() if cfg["head"] == "fsaverage" else Head.sphere()


def make_array(cfg, head):
    """The sensor array of the settings on ``head`` (see the module docstring)."""
    from .. import arrays
    from ..sensors import get_preset

    name, n = cfg["array"], cfg["n_sensors"]
    sensor = cfg["sensor"] or _DEFAULT_SENSOR.get(name)
    if name == "opm_on_scalp":
        return _setting(cfg, "axes", lambda axes: arrays.opm_on_scalp(head, n, axes,
                                                                      sensor=sensor))
    if name == "nv_on_scalp":
        return _setting(cfg, "sensor", lambda _: get_preset(sensor).default_array(head, n))
    if name == "kernel_flux":
        return _setting(cfg, "sensor", lambda _: arrays.kernel_flux(head, sensor=sensor))
    if sensor is None:
        return getattr(arrays, name)(head)
    return _setting(cfg, "sensor", lambda _: get_preset(sensor).default_array(head))


def make_sources(cfg, head):
    """The source space: the cortex (``ico2`` ... ``ico5``, fsaverage) or a volume grid."""
    from .. import sources

    spacing = cfg["spacing"] or ("ico4" if cfg["head"] == "fsaverage" else "10mm")
    if spacing.startswith("ico"):
        return _setting(cfg, "spacing", lambda _: sources.cortex(head, spacing))
    step = float(spacing[:-2]) * 1e-3
    return _setting(cfg, "spacing", lambda _: sources.volume(head, step))


def auditory_sources(sources, head):
    """The active sources: one near each auditory cortex (:data:`AUDITORY_TARGETS`).

    Returns
    -------
    indices : ndarray of int, shape (2,)
        Into ``sources``.
    orientations : ndarray, shape (2, 3) or None
        None on a cortex (the dipoles lie along the normals); on a volume grid the unit
        head-frame z with its radial part (from the conductor sphere's centre) removed.
    """
    from ..sources import superficial_tangential

    pos = sources.positions
    if sources.normals is not None:
        cand = superficial_tangential(sources, head, upper=False)
    else:
        cand = np.arange(sources.n_sources)
    idx = np.array([int(cand[np.argmin(np.linalg.norm(pos[cand] - t, axis=1))])
                    for t in AUDITORY_TARGETS])
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"the source space ({sources.n_sources} sources) is too coarse to "
                         "hold a source near each auditory cortex; use a finer spacing")
    if sources.normals is not None:
        return idx, None
    radial = pos[idx] - head.sphere_origin
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    up = np.array([0.0, 0.0, 1.0])
    ori = up - (radial @ up)[:, None] * radial
    return idx, ori / np.linalg.norm(ori, axis=1, keepdims=True)


def _evoked(cfg, sources, idx, ori, kw):
    from ..activity import evoked

    sfreq, soa, duration = cfg["sfreq"], cfg["soa"], cfg["duration"]

    def make(n):
        return _setting(cfg, "soa", lambda _: evoked(
            sources, idx, n_trials=n, sfreq=sfreq, soa=soa, jitter=EVOKED_JITTER,
            prestim=EVOKED_PRESTIM, orientations=ori, seed=cfg["seed"], **kw))

    if duration is None:
        return make(cfg["n_trials"] or _EVOKED_TRIALS)
    n_times = int(round(duration * sfreq))
    n = cfg["n_trials"]
    if n is None:  # as many as fit at the longest intervals (3 samples for rounding)
        room = duration - 3.0 / sfreq - EVOKED_PRESTIM - soa
        n = int(np.floor(room / (soa + EVOKED_JITTER))) + 1 if room >= 0 else 0
        if n < 1:
            need = EVOKED_PRESTIM + soa + 3.0 / sfreq
            _fail(cfg, "duration", f"duration={duration:g} s holds no evoked trial; one needs "
                                   f"{need:g} s ({EVOKED_PRESTIM:g} s before the stimulus, "
                                   f"soa={soa:g} s after it)")
    act = make(n)
    while act.stc.data.shape[-1] > n_times and cfg["n_trials"] is None and n > 1:
        n -= 1  # not reached with the bound above; kept for rounding at extreme rates
        act = make(n)
    have = act.stc.data.shape[-1]
    if have > n_times:
        _fail(cfg, "duration", f"duration={duration:g} s is shorter than the {n} evoked "
                               f"trials ({have / sfreq:g} s); lengthen --duration or lower "
                               "--n-trials")
    from ..activity import padded

    return padded(act, n_times) if have < n_times else act


def make_activity(cfg, sources, head):
    """The ``stc`` argument: an :class:`~qsense.activity.Activity`, or None for an empty
    room."""
    from ..activity import alpha, spikes

    kind = cfg["activity"]
    if kind == "empty-room":
        return None
    idx, ori = _setting(cfg, "spacing", lambda _: auditory_sources(sources, head))
    # nAm / 1e9 (not * 1e-9): 20 / 1e9 is the double 20e-9 exactly
    kw = {} if cfg["amplitude"] is None else {"amplitude": cfg["amplitude"] / 1e9}
    if kind == "evoked":
        return _evoked(cfg, sources, idx, ori, kw)
    duration = cfg["duration"] or DEFAULT_DURATION
    common = dict(duration=duration, sfreq=cfg["sfreq"], orientations=ori, seed=cfg["seed"])
    if kind == "alpha":
        return _setting(cfg, "frequency", lambda f: alpha(sources, idx, frequency=f,
                                                          **common, **kw))
    return _setting(cfg, "rate", lambda r: spikes(sources, idx, rate=r, **common, **kw))


def make_environment(cfg):
    """The ``environment`` argument: None for ``room = "none"``, else
    ``Environment.preset(room, nulling=..., power_line=...)``."""
    if cfg["room"] == "none":
        return None
    from ..environment import Environment, PowerLine

    line = cfg["power_line"]
    changes = {"nulling": cfg["nulling"],
               "power_line": None if line == "off" else PowerLine(frequency=float(line))}
    if not cfg["movement"]:
        changes["movement"] = None
    return _setting(cfg, "room", lambda room: Environment.preset(room, **changes))


def read_head_movement(cfg):
    """The ``head_movement`` argument: the ``(n, 10)`` head positions of the ``.pos`` file
    (``mne.chpi.read_head_pos``), or None."""
    path = cfg["head_pos"]
    if path is None:
        return None
    from mne.chpi import read_head_pos

    try:
        with warnings.catch_warnings():  # numpy warns of an empty file: an error here
            warnings.simplefilter("error", UserWarning)
            pos = read_head_pos(path)
    except (OSError, ValueError, IndexError, UserWarning) as err:
        _fail(cfg, "head_pos", f"{str(path)!r} is not a readable .pos file of head "
                               f"positions ({type(err).__name__}: {' '.join(str(err).split())})")
    if pos.ndim != 2 or pos.shape[1] != 10 or len(pos) == 0:
        _fail(cfg, "head_pos", f"{str(path)!r} holds head positions of shape {pos.shape}; "
                               "need (n >= 1, 10)")
    return pos


def simulate_kwargs(cfg) -> dict:
    """The keyword arguments of :func:`qsense.simulate_raw` for the checked settings
    ``cfg`` (from :func:`qsense.cli.config.resolve` and :func:`check_settings`).

    Raises
    ------
    qsense.cli.UsageError
        A setting that cannot be built (naming its option), or a sampling rate below
        twice the highest sensor bandwidth simulated.
    """
    from ..simulation.physics import response_plan

    head = make_head(cfg)
    array = make_array(cfg, head)
    top = response_plan(array, cfg["sensor_physics"]).max_bandwidth
    if cfg["sfreq"] < 2 * top:
        _fail(cfg, "sfreq", f"sfreq={cfg['sfreq']:g} Hz is below twice the sensor bandwidth "
                            f"{top:g} Hz; use --sfreq {2 * top:g} or more, or "
                            "--no-sensor-physics")
    sources = make_sources(cfg, head)
    stc = make_activity(cfg, sources, head)
    progress = cfg["progress"]
    return dict(
        array=array, head=head, sources=sources, stc=stc,
        environment=make_environment(cfg), head_movement=read_head_movement(cfg),
        sensor_physics=cfg["sensor_physics"], noise=cfg["noise"], seed=cfg["seed"],
        chunk_duration=cfg["chunk_duration"], fname=cfg["output"],
        overwrite=cfg["overwrite"],
        duration=(cfg["duration"] or DEFAULT_DURATION) if stc is None else None,
        sfreq=cfg["sfreq"] if stc is None else None,
        progress=sys.stderr.isatty() if progress is None else progress,
    )


def _describe(cfg, kw, raw) -> list[str]:
    array = kw["array"]
    preset = " + ".join(sorted({p.name for p in array.channel_presets}))
    axes = f", {cfg['axes']}" if cfg["array"] == "opm_on_scalp" else ""
    act = cfg["activity"]
    if kw["stc"] is not None:
        stc = kw["stc"]
        data = stc.stc.data
        amp = float((np.linalg.norm(data, axis=1) if data.ndim == 3 else np.abs(data)).max())
        amp *= 1e9
        act += f", 2 sources, peak {amp:.3g} nAm"
        if cfg["activity"] == "evoked":
            n = len(stc.events)
            act += f", {n} trial{'s' if n != 1 else ''}"
    room = cfg["room"]
    if kw["environment"] is None:
        room = "none (a perfect room)"
    else:
        env = kw["environment"]
        line = "off" if env.power_line is None else f"{env.power_line.frequency:g} Hz"
        room += (f" (nulling {'on' if env.nulling else 'off'}, power line {line}, head "
                 + ("positions from --head-pos" if kw["head_movement"] is not None else
                    "movement drawn" if env.movement is not None and array.head_mounted
                    else "still") + ")")
    sfreq = raw.info["sfreq"]
    return [
        f"qsense simulate: {array.n_channels} channels ({cfg['array']}, {preset}{axes}) on "
        f"the {kw['head'].name} head, {kw['sources'].n_sources} sources "
        f"({kw['sources'].spacing})",
        f"  activity {act}; room {room}",
        f"  {raw.n_times / sfreq:g} s at {sfreq:g} Hz ({raw.n_times} samples), seed "
        f"{cfg['seed']}, sensor physics {'on' if cfg['sensor_physics'] else 'off'}, noise "
        f"{'on' if cfg['noise'] else 'off'}",
    ]


def run_simulate(args) -> int:
    """Run ``qsense simulate``: check every setting, simulate, write, print what was
    written; returns 0."""
    start = time.perf_counter()
    cfg = resolve("simulate", args)
    check_settings(cfg)

    import mne

    from ..simulation import simulate_raw
    from ..simulation.fif import split_names
    from ..simulation.truth import truth_fname

    mne.set_log_level("ERROR")
    kw = simulate_kwargs(cfg)
    out = Path(kw["fname"])
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = simulate_raw(**kw)
    elapsed = time.perf_counter() - start
    lines = _describe(cfg, kw, raw)
    for path in (out, *split_names(out)):
        lines.append(f"wrote {path} ({path.stat().st_size / 2**20:.3g} MiB)")
    lines.append(f"wrote {truth_fname(out)} (ground truth: qsense.simulation.read_truth)")
    lines.append(f"run time {elapsed:.1f} s (after start-up)")
    print("\n".join(lines))
    return 0
