"""Localisation on simulated recordings: MNE's solvers run as a user would run them.

The noiseless resolution metrics (:mod:`inverse.localisation`) say where an estimate
puts a dipole when there is no noise; they cannot say how the arrays compare once the
data are noisy. :func:`localise_on_recordings` simulates what each array records
(:func:`qsense.simulate_raw`: sensor physics, white + 1/f sensor noise, optionally the
room), and runs MNE-Python's own pipeline on the recordings, step by step as an MNE user
would, then scores the estimates against the known source.

The method, for each array, probe source and noise realisation
-----------------------------------------------------------------
1. **Recording.** An evoked paradigm (:func:`qsense.activity.evoked`): ``max(n_trials)``
   N100m-like responses of ``amplitude`` A m at the probe (latency 100 ms, width 20 ms),
   stimulus onset asynchrony ``soa`` with a uniform ``jitter``. On a cortex each probe
   points along its normal; sources without normals (volume grids, points) point up
   (head-frame z) with the radial part from the conductor sphere's centre removed, a
   tangential dipole that a sphere does not silence (the same choice as
   ``qsense simulate``). The recording is ``qsense.simulate_raw(array, head, sources,
   activity, environment=..., seed=s)`` with ``s`` drawn from
   ``numpy.random.SeedSequence([seed, probe, realisation])``: **paired arrays** get the
   same source estimate and the same seed, so they see the same sources and the same
   room (interferers, power line, drawn head movement) with independent sensor noise
   (see ``docs/simulation.md``). Optionally written to FIF (``recordings_dir``).
2. **Preprocessing.** A zero-phase FIR low-pass at ``h_freq`` (``raw.filter``, MNE's
   defaults; None skips it), epochs ``[tmin, tmax]`` around the stimuli with baseline
   correction over ``[tmin, 0]`` (``mne.Epochs``, no rejection). For each entry of
   ``n_trials`` the **first n epochs** of the one recording are used, so the trial
   counts of a realisation are nested (a paired design).
3. **Noise covariance** with ``mne.compute_covariance(method=cov_method)`` (default
   ``"shrunk"``: shrinkage chosen by cross-validation; Engemann & Gramfort 2015,
   NeuroImage 108:328) from the baseline ``[tmin, 0]`` of the same n epochs
   (``noise_cov="baseline"``), or by ``mne.compute_raw_covariance`` from a simulated
   empty-room recording of ``empty_room_duration`` s (``noise_cov="empty_room"``: the
   same array and environment, no sources, an independent seed, the same filter).
4. **Regularisation from the data.** The evoked (average of the n epochs, ``nave = n``)
   is whitened with ``mne.cov.compute_whitener`` and ``sqrt(nave)`` (as
   ``mne.cov.whiten_evoked`` does); the SNR is the square root of MNE's whitened global
   field power (sum of squares over channels divided by the whitener's rank, the
   definition of ``mne.viz.plot_evoked_white``) averaged over the response window
   ``[latency - 2.5 width, latency + 2.5 width]``. ``lambda2 = 1 / SNR^2`` (MNE's
   convention: its source covariance is scaled so that the whitened signal per channel
   is the SNR). The SNR includes the noise (whitened noise alone gives 1), as a user
   reading it off the whitened evoked would.
5. **Solvers** (the forward is ``qsense.make_forward`` of the array on the same head,
   free orientation):

   * ``"MNE"``, ``"dSPM"``, ``"sLORETA"``, ``"eLORETA"``:
     ``mne.minimum_norm.make_inverse_operator(info, fwd, noise_cov, loose=loose,
     depth=depth)`` and ``apply_inverse(evoked, inv, lambda2, method,
     pick_ori="vector")`` (``None`` for a fixed-orientation inverse). Minimum-norm
     estimate: Hamalainen & Ilmoniemi 1994, Med. Biol. Eng. Comput. 32:35-42; dSPM:
     Dale et al. 2000, Neuron 26:55-67; sLORETA: Pascual-Marqui 2002, Methods Find.
     Exp. Clin. Pharmacol. 24D:5-12; eLORETA: Pascual-Marqui 2007, arXiv:0710.3341, and
     Pascual-Marqui et al. 2011, Phil. Trans. R. Soc. A 369:3768-3784.
   * ``"LCMV"``: ``mne.beamformer.make_lcmv(info, fwd, data_cov, reg=lcmv_reg,
     noise_cov=noise_cov, pick_ori="vector", weight_norm="unit-noise-gain",
     reduce_rank=<sphere conductor>)`` with the data covariance (same ``cov_method``)
     over the response window of the same n epochs, then ``apply_lcmv``. Van Veen et
     al. 1997, IEEE Trans. Biomed. Eng. 44:867-880; the rank reduction is MNE's advice
     for MEG in a spherical head, where the radial dipole is silent.
   * ``"dipole"``: ``mne.fit_dipole`` of the evoked at the response peak (one sample)
     with the noise covariance, in MNE's sphere model at the head's sphere origin
     (``mne.make_sphere_model(r0, head_radius=None)``) or in the head's BEM
     (``head.bem.conductor``, MNE's own conductor model; ``dipole_conductor="sphere"``
     fits a BEM head in a sphere whose brain shell is the fitted inner-skull sphere, about
     8x faster); its time course is a fixed
     dipole fitted at that position and orientation (``fit_dipole(pos=, ori=)``); MNE
     refuses a fixed dipole on or outside the boundary, where a noisy free fit can end,
     so such a position is first moved towards the sphere origin in 0.5 mm steps.

Metrics (all at the response's true peak latency, ``latency`` after the stimulus: the
paradigm's timing is known, so the latency is not estimated)
----------------------------------------------------------------------------------------
* ``error``: distance from the probe to the source where the estimate's amplitude (the
  length of the vector estimate) is largest; for ``"dipole"`` to the fitted position.
* ``dispersion``: spatial deviation of the amplitude map ``a`` about the true source,
  ``sqrt(sum_i d_i^2 a_i^2 / sum_i a_i^2)`` (Molins et al. 2008, NeuroImage 42:1069,
  eq. 12; MNE's ``resolution_metrics(metric="sd_ext")``, here in metres and on the
  noisy estimate instead of a point-spread function). NaN for ``"dipole"`` (a point).
* ``correlation``: Pearson correlation over the epoch ``[tmin, tmax]`` between the true
  moment of the probe and the estimate's time course at the probe projected on the
  true orientation (a fixed-orientation estimate: its signed value; the dipole: the
  fixed-dipole amplitude).

:func:`percentiles` turns the realisations into percentiles with percentile-bootstrap
confidence intervals (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13).

Assumptions: one active source per recording (no background brain activity: the noise
is the sensors' and the room's); no trial rejection; the true latency is used.

Cost (``benchmarks/localise_profile.py``: fsaverage ico-3 BEM, ico-3 cortex, one BLAS
thread). Three settings decide it; none is changed behind the caller's back:

* ``cov_method``: ``"shrunk"`` cross-validates the shrinkage (about 3 s of CPU per
  estimate on 306 channels, two estimates per solve); ``"ledoit_wolf"`` and ``"oas"``
  are closed forms (0.1-0.3 s; Ledoit & Wolf 2004, J. Multivar. Anal. 88:365-411; Chen
  et al. 2010, IEEE Trans. Signal Process. 58:5016-5029).
* ``dipole_conductor``: without numba MNE's BEM fit checks the inside-the-skull
  constraint with a Python loop over the skull's triangles (about 3 s per fit);
  ``"sphere"`` about 0.35 s.
* ``sfreq``: 300 Hz suffices for a 40 Hz low-pass; ``simulate_raw`` needs more than
  twice the sensors' bandwidth with ``sensor_physics`` (the Bloch-model OPMs 135 Hz, the
  NV magnetometers 1 kHz: 2000 Hz) and more than twice the highest power-line harmonic
  of the room (drop harmonics above the Nyquist frequency, which the low-pass removes
  anyway).

Whatever the settings, eLORETA's weights (about 1 s per solve on 306 channels) and the
free dipole fit dominate the solvers; the forward (about 2 s per array) can be passed in
``forwards``; with ``noise_cov="empty_room"`` one inverse operator serves every trial
count. On a shared 2-core machine, multi-threaded OpenBLAS multiplied the CPU time by
about 5 (threads waiting on each other); one BLAS thread per process (``n_jobs``'s
workers have it; else ``threadpoolctl.threadpool_limits(1)``) avoided it.
"""

from __future__ import annotations

import json
import numbers
import re
from pathlib import Path

import mne
import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number, validate_type

__all__ = ["SOLVERS", "ARRAY_NAMES", "METRICS", "localise_on_recordings", "percentiles",
           "probe_orientations", "recording_fname", "recording_seed", "whitened_snr"]

SOLVERS = ("MNE", "dSPM", "sLORETA", "eLORETA", "LCMV", "dipole")
"""Solvers, as named in the output's ``solver`` coordinate."""
_MINIMUM_NORM = ("MNE", "dSPM", "sLORETA", "eLORETA")

ARRAY_NAMES = ("opm", "nv", "neuromag306", "ctf275")
"""Array names :func:`localise_on_recordings` builds itself (64 radial QuSpin Gen-2
OPMs, 64 NV flux-concentrator magnetometers on the same lattice, the SQUID helmets)."""

RANK = "info"
"""The data rank every MNE call is told (``rank=`` of ``compute_covariance``,
``make_inverse_operator``, ``make_lcmv``, ``fit_dipole``, ``compute_whitener``): the
simulated channels carry no projector and no SSS, so the data are full rank. MNE's
default (``None``: estimated from the scaled data) fails when the room's interference
spans ten orders of magnitude in the eigenvalues: on Neuromag 306 in a conventional
shielded room it estimated 244 of 306 and the whitener became unstable (results then
changed with the number of BLAS threads)."""

COV_METHODS = ("shrunk", "empirical", "ledoit_wolf", "oas", "diagonal_fixed")
NOISE_COVS = ("baseline", "empty_room")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_FORBIDDEN_KWARGS = {"array", "head", "sources", "stc", "environment", "sensor_physics",
                     "seed", "fname", "overwrite", "duration", "sfreq", "return_truth"}


# ------------------------------------------------------------------------ validation
def _build_array(name, head):
    if name == "opm":
        return qs.arrays.opm_on_scalp(head, 64, "radial")
    if name == "nv":
        from qsense.nv import nv_on_scalp
        return nv_on_scalp(head, 64)
    if name == "neuromag306":
        return qs.arrays.neuromag306(head)
    return qs.arrays.ctf275(head)


def _check_arrays(arrays, head):
    """dict name -> SensorArray from a dict (values arrays or built-in names) or a
    sequence of built-in names."""
    if isinstance(arrays, str):
        arrays = (arrays,)
    if isinstance(arrays, dict):
        items = list(arrays.items())
    elif isinstance(arrays, list | tuple):
        items = [(a, a) for a in arrays]
    else:
        raise TypeError(f"arrays must be a dict of name -> qsense.SensorArray or a sequence "
                        f"of names from {ARRAY_NAMES}, got {type(arrays).__name__}")
    if not items:
        raise ValueError("arrays must name at least one array, got none")
    out = {}
    for name, value in items:
        if not isinstance(name, str) or not name:
            raise TypeError(f"arrays: names must be non-empty str, got {name!r}")
        if name in out:
            raise ValueError(f"arrays: {name!r} appears twice")
        if isinstance(value, str):
            if value not in ARRAY_NAMES:
                raise ValueError(f"arrays[{name!r}]={value!r} is not a known array; use one "
                                 f"of {ARRAY_NAMES} or pass a qsense.SensorArray")
            value = _build_array(value, head)
        validate_type(value, qs.SensorArray, f"arrays[{name!r}]",
                      f"qsense.SensorArray (or one of the names {ARRAY_NAMES})")
        out[name] = value
    return out


def _check_int_list(name, value, *, low, high=None):
    vals = [value] if isinstance(value, numbers.Integral) else value
    if isinstance(vals, str) or not hasattr(vals, "__iter__"):
        raise TypeError(f"{name} must be an int or a sequence of int, got {value!r}")
    vals = list(vals)
    if not vals:
        raise ValueError(f"{name} must hold at least one value, got {value!r}")
    out = []
    for v in vals:
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must hold integers, got {v!r} in {value!r}")
        if v < low or (high is not None and v > high):
            allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"{name} must hold integers {allowed}, got {int(v)} in "
                             f"{list(vals)!r}")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must hold distinct values, got {out}")
    return out


def _check_solvers(solvers):
    solvers = (solvers,) if isinstance(solvers, str) else tuple(solvers)
    bad = [s for s in solvers if s not in SOLVERS]
    if not solvers or bad or len(set(solvers)) != len(solvers):
        raise ValueError(f"solvers must be distinct names from {SOLVERS}, got {solvers!r}"
                         + (f" (unknown: {bad})" if bad else ""))
    return solvers


def _check_environments(environments, names):
    from qsense.simulation.raw import _check_environment

    if not isinstance(environments, dict):
        env = _check_environment(environments)
        return {n: env for n in names}
    _check_array_keys("environments", environments, names, "room")
    out = {}
    for n in names:
        try:
            out[n] = _check_environment(environments.get(n))
        except (TypeError, ValueError) as err:
            raise type(err)(f"environments[{n!r}]: {err}") from None
    return out


def _check_array_keys(name, value, arrays, what):
    """``value`` is a dict whose keys are among the array names ``arrays``."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict of array name -> {what}, got "
                        f"{type(value).__name__}")
    unknown = [k for k in value if k not in arrays]
    if unknown:
        raise ValueError(f"{name} has keys {unknown} that are not arrays; the arrays are "
                         f"{list(arrays)}")


def _check_forwards(forwards, arrays, sources):
    """dict name -> mne.Forward, each matching its array's channels and the sources."""
    if forwards is None:
        return {}
    _check_array_keys("forwards", forwards, arrays, "mne.Forward")
    free = mne.io.constants.FIFF.FIFFV_MNE_FREE_ORI
    for name, fwd in forwards.items():
        validate_type(fwd, mne.Forward, f"forwards[{name!r}]", "mne.Forward")
        if list(fwd["sol"]["row_names"]) != list(arrays[name].names):
            raise ValueError(f"forwards[{name!r}]: its channels are not those of "
                             f"arrays[{name!r}] (in order); pass qsense.make_forward of "
                             "that array")
        if fwd["source_ori"] != free:
            raise ValueError(f"forwards[{name!r}] must be free-orientation (as "
                             "qsense.make_forward returns it)")
        rr = np.asarray(fwd["source_rr"])
        if rr.shape != sources.positions.shape or not np.allclose(
                rr, sources.positions, rtol=0, atol=1e-9):
            raise ValueError(f"forwards[{name!r}]: its {len(rr)} source positions are "
                             f"not those of sources ({sources.n_sources})")
    return dict(forwards)


def _check_physics(sensor_physics, names):
    """dict name -> bool from a bool or a dict (missing names: True)."""
    if isinstance(sensor_physics, bool):
        return {n: sensor_physics for n in names}
    if not isinstance(sensor_physics, dict):
        raise TypeError(f"sensor_physics must be a bool or a dict of array name -> bool, "
                        f"got {sensor_physics!r}")
    _check_array_keys("sensor_physics", sensor_physics, names, "bool")
    for k, v in sensor_physics.items():
        validate_type(v, bool, f"sensor_physics[{k!r}]")
    return {n: sensor_physics.get(n, True) for n in names}


def _check_coregistration(coregistration, arrays):
    """dict name -> the believed SensorArray."""
    from .coregistration import misregistered

    if coregistration is None:
        return {}
    _check_array_keys("coregistration", coregistration, arrays, "4 x 4 transform")
    out = {}
    for name, t in coregistration.items():
        try:
            out[name] = misregistered(arrays[name], t)
        except (TypeError, ValueError) as err:
            raise type(err)(f"coregistration[{name!r}]: {err}") from None
    return out


def _check_loose(loose):
    if loose == "auto":
        return loose
    return check_number("loose", loose, low=0, high=1)


# ------------------------------------------------------------------------ helpers
def recording_seed(seed: int, probe: int, realisation: int) -> int:
    """The ``simulate_raw`` seed of one recording: the same for every array (paired).

    ``numpy.random.SeedSequence([seed, probe, realisation])``'s first 32-bit word.
    """
    ss = np.random.SeedSequence([check_int("seed", seed, low=0),
                                 check_int("probe", probe, low=0),
                                 check_int("realisation", realisation, low=0)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _empty_room_seed(seed, probe, realisation):
    ss = np.random.SeedSequence([seed, probe, realisation, 1])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def recording_fname(directory, array_name: str, probe: int, realisation: int) -> Path:
    """Where ``recordings_dir`` keeps one recording: ``<array>_p<probe>_r<real>_raw.fif``."""
    return Path(directory) / f"{array_name}_p{probe}_r{realisation}_raw.fif"


def probe_orientations(sources, head, probes) -> np.ndarray:
    """Unit dipole directions of the probes (head frame), shape (n_probes, 3).

    Along the normals when the sources have them; else head-frame z with its radial
    part from the conductor sphere's centre removed (x for a probe straight above or
    below the centre).
    """
    probes = np.asarray(probes, dtype=int)
    if sources.normals is not None:
        return np.array(sources.normals[probes], dtype=float)
    r = sources.positions[probes] - head.sphere_origin
    r = r / np.linalg.norm(r, axis=1, keepdims=True)
    ori = np.array([0.0, 0.0, 1.0]) - r[:, 2:3] * r
    small = np.linalg.norm(ori, axis=1) < 1e-6
    ori[small] = np.array([1.0, 0.0, 0.0]) - r[small, 0:1] * r[small]
    return ori / np.linalg.norm(ori, axis=1, keepdims=True)


def _stc_rows(stc_vertices, sources):
    """Index into ``sources`` of each row of an estimate with ``stc_vertices``."""
    spaces = sources.to_mne()
    offset, rows = 0, []
    for s, verts in zip(spaces, stc_vertices, strict=True):
        vertno = np.asarray(s["vertno"])
        pos = np.searchsorted(vertno, verts)
        if np.any(pos >= len(vertno)) or np.any(vertno[np.minimum(pos, len(vertno) - 1)]
                                                 != verts):
            raise RuntimeError("estimate vertices are not in the source space")
        rows.append(offset + pos)
        offset += len(vertno)
    return np.concatenate(rows)


def _dipole_conductor(head, kind="head"):
    """(MNE conductor model, head -> MRI transform or None) for ``mne.fit_dipole``:
    the head's own conductor (``kind="head"``), or for a BEM head a single-shell sphere
    fitted to its inner skull (``kind="sphere"``)."""
    if kind == "sphere" and head.bem is not None:
        # MNE's four-shell default, scaled so that its brain shell (0.9 of the head
        # radius) is the fitted inner skull; the MEG field does not depend on the shells
        return mne.make_sphere_model(r0=head.sphere_origin,
                                     head_radius=head.sphere_radius / 0.9,
                                     verbose=False), None
    if head.bem is not None:
        return head.bem.conductor, head.bem.head_mri_t
    if head.conductor.name == "sphere":
        return mne.make_sphere_model(r0=head.sphere_origin, head_radius=None,
                                     verbose=False), None
    raise ValueError(f"head: dipole fitting needs a sphere or BEM conductor, got "
                     f"{head.conductor.name!r}")


def _amplitude_and_course(stc, rows, probe, ori):
    """(amplitude per source at every time, time course at the probe along ``ori``)."""
    data = stc.data
    k = int(np.flatnonzero(rows == probe)[0])
    if data.ndim == 3:  # vector estimate, head-frame x, y, z
        return np.linalg.norm(data, axis=1), ori @ data[k]
    return np.abs(data), data[k]


def _map_metrics(amp, positions, probe):
    """(peak error m, spatial deviation m) of an amplitude map over sources."""
    d = np.linalg.norm(positions - positions[probe], axis=1)
    peak = int(np.argmax(amp))
    w = amp**2
    return d[peak], float(np.sqrt(np.sum(d**2 * w) / np.sum(w))), peak


def _corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt(np.sum(a**2) * np.sum(b**2))
    return float(np.sum(a * b) / den) if den > 0 else np.nan


def whitened_snr(evoked, noise_cov, window) -> float:
    """Square root of the whitened global field power averaged over ``window`` (s).

    ``W`` from ``mne.cov.compute_whitener(noise_cov, info)``, data ``sqrt(nave) W x``
    (as ``mne.cov.whiten_evoked``), power ``sum over channels / rank`` (as
    ``mne.viz.plot_evoked_white``), averaged over the samples in ``window``.
    """
    W, ch_names, rank = mne.cov.compute_whitener(noise_cov, evoked.info, rank=RANK,
                                                 return_rank=True,
                                                 verbose=False)
    sel = (evoked.times >= window[0] - 1e-9) & (evoked.times <= window[1] + 1e-9)
    rows = [evoked.ch_names.index(c) for c in ch_names]
    w = np.sqrt(evoked.nave) * (W @ evoked.data[rows][:, sel])
    return float(np.sqrt(np.mean(np.sum(w**2, axis=0) / rank)))


# ------------------------------------------------------------------------ main
def localise_on_recordings(arrays, head, sources, probes, *, n_trials=(4, 16, 64),
                           n_realisations=20, solvers=SOLVERS, amplitude=20e-9,
                           environments=None, seed=0, sensor_physics=True,
                           noise_cov="baseline", cov_method="shrunk",
                           empty_room_duration=30.0, sfreq=1000.0, h_freq=40.0, soa=0.6,
                           jitter=0.05, latency=0.1, width=0.02, tmin=-0.2, tmax=0.3,
                           loose="auto", depth=0.8, lcmv_reg=0.05, recordings_dir=None,
                           simulate_kwargs=None, forwards=None,
                           dipole_conductor="head", n_jobs=1,
                           coregistration=None) -> xr.Dataset:
    """Localise a probe source on simulated recordings of each array, with MNE's solvers.

    See the module docstring for the method. Every input is checked before anything is
    simulated or written.

    Parameters
    ----------
    arrays : dict of str -> SensorArray or str, or sequence of str
        Arrays by name; a value (or a sequence entry) may be one of
        :data:`ARRAY_NAMES`, built on ``head`` with its defaults.
    head : qsense.Head
        Sphere or BEM conductor (the dipole fit uses MNE's model of the same conductor).
    sources : qsense.sources.SourceSpace
        The source space of the inverse; the probes are among its sources.
    probes : int or sequence of int
        Indices into ``sources`` of the sources to localise (one per recording).
    n_trials : int or sequence of int
        Trial counts (>= 1); each uses the first n epochs of a recording of
        ``max(n_trials)`` trials.
    n_realisations : int
        Noise realisations per array and probe (>= 1).
    solvers : sequence of str
        From :data:`SOLVERS`.
    amplitude : float
        Peak moment of the evoked response, A m (default 20 nAm).
    environments : qsense.Environment, str, dict or None
        The room for every array, or a dict array name -> room (missing names: None).
        None: a perfect room (sensor noise only).
    seed : int
        >= 0. Seeds the paradigm's timing (``qsense.activity.evoked``) and every
        recording (:func:`recording_seed`).
    sensor_physics : bool or dict of str -> bool
        Passed to ``simulate_raw`` (False: ideal sensors, much faster for Bloch-model
        OPMs); a dict sets it per array (missing names: True).
    noise_cov : {"baseline", "empty_room"}
        Where the noise covariance comes from (see the module docstring).
    cov_method : str
        ``mne.compute_covariance`` method for the noise and the LCMV data covariance:
        one of ``"shrunk"`` (default), ``"empirical"``, ``"ledoit_wolf"``, ``"oas"``,
        ``"diagonal_fixed"``.
    empty_room_duration : float
        s, for ``noise_cov="empty_room"``.
    sfreq : float
        Sampling rate, Hz.
    h_freq : float or None
        Low-pass of the recordings before epoching, Hz (None: none).
    soa, jitter : float
        Mean stimulus interval and its uniform jitter, s (``soa - jitter > tmax - tmin``
        so that epochs do not overlap).
    latency, width : float
        Of the N100m-like response (:func:`qsense.activity.n100m`), s.
    tmin, tmax : float
        Epoch limits, s (``tmin < 0``: the baseline is ``[tmin, 0]``).
    loose : float or "auto"
        ``make_inverse_operator``'s orientation constraint ("auto": 0.2 on a cortex,
        1 elsewhere).
    depth : float or None
        ``make_inverse_operator``'s depth weighting exponent (MNE's default 0.8).
    lcmv_reg : float
        ``make_lcmv``'s regularisation (MNE's default 0.05).
    recordings_dir : path-like, optional
        Write each recording (and its truth file) to
        :func:`recording_fname` there (an existing file is an error) and read it back.
    simulate_kwargs : dict, optional
        More ``simulate_raw`` arguments for every recording (e.g. ``opm_options``,
        ``adc``, ``head_movement``).
    forwards : dict of str -> mne.Forward, optional
        Forwards already computed by the caller, by array name (keyword only; missing
        names are computed here). Each must be ``qsense.make_forward(array, head,
        sources)`` of that array: free orientation, the array's channels in order, the
        sources' positions (checked). Saves about 2 s per array and call when a study
        computes the forwards for other metrics too; the numbers do not change.

    dipole_conductor : {"head", "sphere"}
        The conductor of the ``"dipole"`` fit (keyword only). ``"head"`` (default): the
        head's own (MNE's BEM of a BEM head, as the recordings were simulated).
        ``"sphere"``: for a BEM head, MNE's sphere model fitted to the inner skull
        (``head.sphere_origin``, ``head.sphere_radius``; the fit is kept inside that
        sphere); the same as ``"head"`` for a sphere head. MEG barely sees the conductor
        beyond a sphere for most sources (Sarvas 1987, Phys. Med. Biol. 32:11-22), and
        without numba MNE's BEM fit spends most of its time on the inside-the-skull
        constraint (a Python loop over the skull's triangles): the sphere fit is about
        8x faster, with a model error that the BEM fit does not have (recorded in the
        settings).

    coregistration : dict of str -> array_like (4, 4), optional
        Co-registration error by array name (keyword only): a rigid head-frame transform
        ``E`` (:func:`inverse.coregistration.coregistration_error`). The recordings are
        simulated with the true sensor positions and analysed with the believed ones,
        ``E`` applied to the array's device-to-head transform: the forward (unless
        ``forwards`` gives it: it must then be the believed array's) and the data's
        ``info["dev_head_t"]`` (which the dipole fit uses).
    n_jobs : int
        Worker processes (keyword only; joblib's ``loky`` backend, which limits each
        worker's BLAS threads to its share of the cores). The recordings (array x probe x
        realisation) are dealt round-robin to the workers; each recording is computed
        whole by one worker from its own seed, so the numbers do not depend on
        ``n_jobs``. Each worker pays its start (imports, JIT compilation: a few s).

    Returns
    -------
    xarray.Dataset
        Dimensions ``array``, ``solver``, ``probe``, ``n_trials``, ``realisation``
        (and ``component``): ``error`` (m), ``dispersion`` (m), ``correlation`` (1),
        ``position`` (m, the estimate's peak or the fitted dipole), ``snr`` and
        ``lambda2`` (per array, probe, n_trials, realisation), ``seed`` (per probe and
        realisation); probe positions, orientations and depths as coordinates; the
        settings as JSON in ``attrs["settings"]``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: unknown arrays or solvers, trial, probe or realisation
        counts out of range, overlapping epochs, an unknown room, a bad option.
    """
    validate_type(head, qs.Head, "head", "qsense.Head")
    validate_type(sources, qs.sources.SourceSpace, "sources", "qsense SourceSpace")
    arrays = _check_arrays(arrays, head)
    names = list(arrays)
    probes = _check_int_list("probes", probes, low=0, high=sources.n_sources - 1)
    n_trials = sorted(_check_int_list("n_trials", n_trials, low=1, high=100_000))
    n_realisations = check_int("n_realisations", n_realisations, low=1, high=100_000)
    solvers = _check_solvers(solvers)
    amplitude = check_number("amplitude", amplitude, low=0, low_open=True, high=1e-3,
                             unit="A m")
    envs = _check_environments(environments, names)
    seed = check_int("seed", seed, low=0)
    sensor_physics = _check_physics(sensor_physics, names)
    if noise_cov not in NOISE_COVS:
        raise ValueError(f"noise_cov={noise_cov!r} is not allowed; use one of {NOISE_COVS}")
    if cov_method not in COV_METHODS:
        raise ValueError(f"cov_method={cov_method!r} is not allowed; use one of "
                         f"{COV_METHODS}")
    empty_room_duration = check_number("empty_room_duration", empty_room_duration, low=1,
                                       high=3600, unit="s")
    sfreq = check_number("sfreq", sfreq, low=50, high=100_000, unit="Hz")
    if h_freq is not None:
        h_freq = check_number("h_freq", h_freq, low=0, low_open=True, high=sfreq / 2,
                              high_open=True, unit="Hz")
    tmin = check_number("tmin", tmin, low=-10, high=0, high_open=True, unit="s")
    tmax = check_number("tmax", tmax, low=0, low_open=True, high=10, unit="s")
    latency = check_number("latency", latency, low=0, low_open=True, high=tmax,
                           high_open=True, unit="s")
    width = check_number("width", width, low=0, low_open=True, high=tmax, unit="s")
    soa = check_number("soa", soa, low=0, low_open=True, high=100, unit="s")
    jitter = check_number("jitter", jitter, low=0, high=soa, high_open=True, unit="s")
    if soa - jitter <= tmax - tmin:
        raise ValueError(f"soa - jitter = {soa - jitter:g} s must exceed the epoch length "
                         f"tmax - tmin = {tmax - tmin:g} s (epochs would overlap)")
    loose = _check_loose(loose)
    if depth is not None:
        depth = check_number("depth", depth, low=0, high=10)
    lcmv_reg = check_number("lcmv_reg", lcmv_reg, low=0, high=100)
    simulate_kwargs = dict(simulate_kwargs or {})
    clash = sorted(_FORBIDDEN_KWARGS & set(simulate_kwargs))
    if clash:
        raise ValueError(f"simulate_kwargs must not set {clash}: localise_on_recordings "
                         "sets them")
    if recordings_dir is not None:
        recordings_dir = Path(recordings_dir)
        if not recordings_dir.is_dir():
            raise ValueError(f"recordings_dir={str(recordings_dir)!r} is not a folder")
        bad = [n for n in names if not _SAFE_NAME.match(n)]
        if bad:
            raise ValueError(f"arrays: names {bad} cannot name files in recordings_dir "
                             "(letters, digits, '_', '-', '.')")
        for n in names:
            for p in probes:
                for r in range(n_realisations):
                    f = recording_fname(recordings_dir, n, p, r)
                    if f.exists():
                        raise ValueError(f"recordings_dir: {f.name} exists already")
    if dipole_conductor not in ("head", "sphere"):
        raise ValueError(f"dipole_conductor={dipole_conductor!r} is not allowed; use "
                         "'head' or 'sphere'")
    n_jobs = check_int("n_jobs", n_jobs, low=1, high=1024)
    forwards = _check_forwards(forwards, arrays, sources)
    believed = _check_coregistration(coregistration, arrays)
    window = (latency - 2.5 * width, latency + 2.5 * width)
    window = (max(window[0], 0.0), min(window[1], tmax))
    sphere_head = head.conductor.name == "sphere"
    dip_model = _dipole_conductor(head, dipole_conductor) if "dipole" in solvers else None
    orientations = probe_orientations(sources, head, probes)

    A, S, P, T, R = len(names), len(solvers), len(probes), len(n_trials), n_realisations
    error = np.full((A, S, P, T, R), np.nan)
    dispersion = np.full((A, S, P, T, R), np.nan)
    correlation = np.full((A, S, P, T, R), np.nan)
    position = np.full((A, S, P, T, R, 3), np.nan)
    snr = np.full((A, P, T, R), np.nan)
    lambda2 = np.full((A, P, T, R), np.nan)
    seeds = np.array([[recording_seed(seed, p, r) for r in range(R)] for p in probes])

    fwds = {name: (forwards[name] if name in forwards
                   else qs.make_forward(believed.get(name, arrays[name]), head, sources))
            for name in names}
    acts = [qs.activity.evoked(sources, [probe], n_trials=n_trials[-1], sfreq=sfreq, soa=soa,
                               jitter=jitter, amplitude=amplitude, latency=latency,
                               width=width, prestim=-tmin + 0.3,
                               orientations=(None if sources.normals is not None
                                             else orientations[ip]), seed=seed)
            for ip, probe in enumerate(probes)]
    job = dict(names=names, arrays=arrays, fwds=fwds, acts=acts, head=head, sources=sources,
               probes=probes, orientations=orientations, seeds=seeds, envs=envs,
               sensor_physics=sensor_physics, recordings_dir=recordings_dir,
               simulate_kwargs=simulate_kwargs, h_freq=h_freq, tmin=tmin, tmax=tmax,
               n_trials=n_trials, noise_cov=noise_cov, sfreq=sfreq,
               empty_room_duration=empty_room_duration, cov_method=cov_method, seed=seed,
               amplitude=amplitude, latency=latency, width=width, solvers=solvers,
               loose=loose, depth=depth, window=window, lcmv_reg=lcmv_reg,
               sphere_head=sphere_head, dip_model=dip_model,
               believed={n: b.dev_head_t for n, b in believed.items()})
    # recordings ordered probe, realisation, array; dealt round-robin to the workers
    tasks = [(a, ip, r) for ip in range(P) for r in range(R) for a in range(A)]
    if n_jobs == 1 or len(tasks) == 1:
        results = _recordings(tasks, job)
    else:
        from joblib import Parallel, delayed

        n_jobs = min(n_jobs, len(tasks))
        parts = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_recordings)(tasks[k::n_jobs], job) for k in range(n_jobs))
        results = [x for part in parts for x in part]
    for (a, ip, r), outs in results:
        for it, out in enumerate(outs):
            snr[a, ip, it, r], lambda2[a, ip, it, r] = out["snr"], out["lambda2"]
            for s, solver in enumerate(solvers):
                e, d, c, pos = out[solver]
                error[a, s, ip, it, r] = e
                dispersion[a, s, ip, it, r] = d
                correlation[a, s, ip, it, r] = c
                position[a, s, ip, it, r] = pos

    settings = dict(n_realisations=R, amplitude_Am=amplitude, seed=seed,
                    sensor_physics=(sensor_physics[names[0]]
                                    if len(set(sensor_physics.values())) == 1
                                    else sensor_physics), noise_cov=noise_cov,
                    coregistration_rms_m={
                        n: float(np.sqrt(np.mean(np.sum(
                            (b.positions - arrays[n].positions) ** 2, axis=1))))
                        for n, b in believed.items()},
                    cov_method=cov_method, empty_room_duration_s=empty_room_duration,
                    sfreq_Hz=sfreq, h_freq_Hz=h_freq, soa_s=soa, jitter_s=jitter,
                    latency_s=latency, width_s=width, tmin_s=tmin, tmax_s=tmax,
                    response_window_s=list(window), loose=loose, depth=depth,
                    lcmv_reg=lcmv_reg,
                    dipole_conductor=("sphere fitted to the inner skull"
                                      if dipole_conductor == "sphere" and head.bem is not None
                                      else head.conductor.name),
                    lcmv="pick_ori vector, weight_norm unit-noise-gain, "
                    f"reduce_rank {sphere_head}",
                    snr="sqrt of the whitened GFP (sum of squares / rank) averaged over "
                    "the response window; lambda2 = 1/snr^2",
                    environments={n: (None if envs[n] is None else
                                      f"{envs[n].room.name}, nulling {envs[n].nulling}")
                                  for n in names},
                    simulate_kwargs=sorted(simulate_kwargs))
    return _dataset(names, arrays, solvers, probes, n_trials, R, sources, head, orientations,
                    error, dispersion, correlation, position, snr, lambda2, seeds, settings)


def _recordings(tasks, job):
    """Simulate and solve the recordings ``tasks`` (array, probe, realisation indices):
    [((a, ip, r), [_solve output per trial count])]. One worker's share with n_jobs > 1."""
    j = job
    out = []
    for a, ip, r in tasks:
        name = j["names"][a]
        array, fwd, act = j["arrays"][name], j["fwds"][name], j["acts"][ip]
        probe = j["probes"][ip]
        n_max = j["n_trials"][-1]
        raw = _record(array, j["head"], j["sources"], act, j["envs"][name],
                      j["sensor_physics"][name], int(j["seeds"][ip, r]), j["recordings_dir"],
                      name, probe, r, j["simulate_kwargs"])
        if j["h_freq"] is not None:
            raw.filter(None, j["h_freq"], verbose=False)
        if name in j["believed"]:  # analysed where the analysis believes the sensors are
            with raw.info._unlock():
                raw.info["dev_head_t"] = mne.transforms.Transform(
                    "meg", "head", np.asarray(j["believed"][name], float))
        epochs = mne.Epochs(raw, act.events, tmin=j["tmin"], tmax=j["tmax"],
                            baseline=(None, 0), preload=True, reject=None, flat=None,
                            verbose=False)
        if len(epochs) != n_max:
            raise RuntimeError(f"{len(epochs)} epochs of {n_max} survived")
        er_cov = None
        if j["noise_cov"] == "empty_room":
            er_cov = _empty_room_cov(array, j["head"], j["sources"], j["envs"][name],
                                     j["sensor_physics"][name], j["sfreq"],
                                     j["empty_room_duration"], j["h_freq"], j["cov_method"],
                                     _empty_room_seed(j["seed"], probe, r),
                                     j["simulate_kwargs"])
        truth = qs.activity.n100m(epochs.times, j["amplitude"], j["latency"], j["width"])
        inv = None  # an empty-room covariance serves every trial count
        if er_cov is not None and any(s in _MINIMUM_NORM for s in j["solvers"]):
            inv = mne.minimum_norm.make_inverse_operator(
                epochs.info, fwd, er_cov, loose=j["loose"], depth=j["depth"], verbose=False)
        out.append(((a, ip, r), [
            _solve(epochs[:n], fwd, j["sources"], probe, j["orientations"][ip], truth,
                   j["solvers"], er_cov, j["cov_method"], j["window"], j["latency"],
                   j["loose"], j["depth"], j["lcmv_reg"], j["sphere_head"], j["dip_model"],
                   j["head"].sphere_origin, inv)
            for n in j["n_trials"]]))
    return out


def _record(array, head, sources, act, environment, sensor_physics, rec_seed, directory,
            name, probe, r, simulate_kwargs):
    fname = None if directory is None else recording_fname(directory, name, probe, r)
    raw = qs.simulate_raw(array, head, sources, act, environment=environment,
                          sensor_physics=sensor_physics, seed=rec_seed, fname=fname,
                          **simulate_kwargs)
    return raw.load_data()


def _empty_room_cov(array, head, sources, environment, sensor_physics, sfreq, duration,
                    h_freq, cov_method, er_seed, simulate_kwargs):
    """``mne.compute_raw_covariance`` of a simulated empty-room recording."""
    kw = {k: v for k, v in simulate_kwargs.items() if k != "annotations"}
    raw = qs.simulate_raw(array, head, sources, None, environment=environment,
                          sensor_physics=sensor_physics, seed=er_seed, duration=duration,
                          sfreq=sfreq, **kw).load_data()
    if h_freq is not None:
        raw.filter(None, h_freq, verbose=False)
    return mne.compute_raw_covariance(raw, method=cov_method, rank=RANK, verbose=False)


def _solve(epochs, fwd, sources, probe, ori, truth, solvers, er_cov, cov_method, window,
           latency, loose, depth, lcmv_reg, sphere_head, dip_model, origin, inv=None):
    """All solvers on the first-n epochs: {solver: (error, dispersion, corr, position)}.
    ``inv``: the inverse operator of ``er_cov`` when the caller has made it already."""
    positions = sources.positions
    if er_cov is None:
        noise_cov = mne.compute_covariance(epochs, tmax=0.0, method=cov_method, rank=RANK,
                                           verbose=False)
    else:
        noise_cov = er_cov
    evoked = epochs.average()
    it = int(np.argmin(np.abs(evoked.times - latency)))
    snr = whitened_snr(evoked, noise_cov, window)
    lam2 = 1.0 / snr**2
    out = {"snr": snr, "lambda2": lam2}
    if any(s in _MINIMUM_NORM for s in solvers):
        if inv is None:
            inv = mne.minimum_norm.make_inverse_operator(evoked.info, fwd, noise_cov,
                                                         loose=loose, depth=depth,
                                                         rank=RANK, verbose=False)
        fixed = inv["source_ori"] == mne.io.constants.FIFF.FIFFV_MNE_FIXED_ORI
        for solver in solvers:
            if solver not in _MINIMUM_NORM:
                continue
            stc = mne.minimum_norm.apply_inverse(evoked, inv, lam2, solver,
                                                 pick_ori=None if fixed else "vector",
                                                 verbose=False)
            out[solver] = _score(stc, sources, probe, ori, truth, it, positions)
    if "LCMV" in solvers:
        data_cov = mne.compute_covariance(epochs, tmin=window[0], tmax=window[1],
                                          method=cov_method, rank=RANK, verbose=False)
        filters = mne.beamformer.make_lcmv(evoked.info, fwd, data_cov, reg=lcmv_reg,
                                           noise_cov=noise_cov, pick_ori="vector",
                                           weight_norm="unit-noise-gain",
                                           reduce_rank=sphere_head, rank=RANK,
                                           verbose=False)
        stc = mne.beamformer.apply_lcmv(evoked, filters, verbose=False)
        out["LCMV"] = _score(stc, sources, probe, ori, truth, it, positions)
    if "dipole" in solvers:
        bem, trans = dip_model
        t = evoked.times[it]
        dip, _ = mne.fit_dipole(evoked.copy().crop(t, t), noise_cov, bem, trans=trans,
                                rank=RANK, verbose=False)
        pos = dip.pos[0]
        course = _fixed_dipole_course(evoked, noise_cov, bem, trans, pos, dip.ori[0],
                                      origin)
        out["dipole"] = (float(np.linalg.norm(pos - positions[probe])), np.nan,
                         _corr(course, truth), pos)
    return out


def _fixed_dipole_course(evoked, noise_cov, bem, trans, pos, ori, origin):
    """Amplitude (A m) of a fixed dipole at ``pos`` along ``ori`` over the evoked's times
    (``mne.fit_dipole(pos=, ori=)``). MNE refuses a position on or outside the conductor
    boundary, where a noisy free fit can end: such a position is moved towards the
    sphere origin in 0.5 mm steps (at most 10 mm) until MNE accepts it."""
    r = pos - origin
    for step in range(21):
        p = origin + r * (1 - step * 5e-4 / np.linalg.norm(r))
        try:
            fixed, _ = mne.fit_dipole(evoked, noise_cov, bem, trans=trans, pos=p, ori=ori,
                                      rank=RANK, verbose=False)
            return fixed.data[0]
        except ValueError as err:
            if "outside" not in str(err):
                raise
    return np.full(len(evoked.times), np.nan)


def _score(stc, sources, probe, ori, truth, it, positions):
    rows = _stc_rows(stc.vertices if isinstance(stc.vertices, list) else [stc.vertices],
                     sources)
    amp, course = _amplitude_and_course(stc, rows, probe, ori)
    pos = positions[rows]
    k = int(np.flatnonzero(rows == probe)[0])
    err, disp, peak = _map_metrics(amp[:, it], pos, k)
    return float(err), disp, _corr(course, truth), pos[peak]


def _dataset(names, arrays, solvers, probes, n_trials, R, sources, head, orientations,
             error, dispersion, correlation, position, snr, lambda2, seeds, settings):
    dims = ("array", "solver", "probe", "n_trials", "realisation")
    pdims = ("array", "probe", "n_trials", "realisation")
    probe_pos = sources.positions[probes]
    coords = {
        "array": ("array", names, {"units": "1", "long_name": "sensor array"}),
        "n_channels": ("array", [arrays[n].n_channels for n in names],
                       {"units": "1", "long_name": "channels"}),
        "noise_floor": ("array", [", ".join(f"{f:.3g}" for f in np.unique(arrays[n].noise))
                                  for n in names],
                        {"units": "T/sqrt(Hz) (T/(m sqrt(Hz)) planar)",
                         "long_name": "white noise floors"}),
        "solver": ("solver", list(solvers), {"units": "1", "long_name": "inverse solver"}),
        "probe": ("probe", np.asarray(probes), {"units": "1",
                                               "long_name": "probe source index"}),
        "n_trials": ("n_trials", np.asarray(n_trials),
                     {"units": "1", "long_name": "trials averaged"}),
        "realisation": ("realisation", np.arange(R),
                        {"units": "1", "long_name": "noise realisation"}),
        "component": ("component", ["x", "y", "z"],
                      {"units": "1", "long_name": "head-frame axis"}),
        "probe_position": (("probe", "component"), probe_pos,
                           {"units": "m", "long_name": "probe position (head frame)"}),
        "probe_orientation": (("probe", "component"), orientations,
                              {"units": "1", "long_name": "probe dipole direction"}),
        "probe_depth": ("probe", -head.brain_distance(probe_pos),
                        {"units": "m", "long_name": "probe depth below the conductor "
                         "boundary"}),
    }
    data = {
        "error": (dims, error, {"units": "m", "long_name": "localisation error: estimate's "
                               "amplitude peak (dipole: fitted position) to the probe, at "
                               "the response peak"}),
        "dispersion": (dims, dispersion, {"units": "m", "long_name": "spatial deviation "
                                          "of the amplitude map about the probe (Molins "
                                          "et al. 2008 eq. 12; NaN for the dipole)"}),
        "correlation": (dims, correlation, {"units": "1", "long_name": "correlation of the "
                                            "estimated time course at the probe (along its "
                                            "orientation) with the true moment"}),
        "position": (dims + ("component",), position,
                     {"units": "m", "long_name": "estimated position (peak source or "
                      "fitted dipole), head frame"}),
        "snr": (pdims, snr, {"units": "1", "long_name": "whitened SNR over the response "
                             "window (sqrt of the whitened GFP)"}),
        "lambda2": (pdims, lambda2, {"units": "1", "long_name": "minimum-norm "
                                     "regularisation 1/snr^2"}),
        "seed": (("probe", "realisation"), seeds.astype(np.int64),
                 {"units": "1", "long_name": "simulate_raw seed (the same for every array)"}),
    }
    return xr.Dataset(data, coords=coords, attrs={
        "title": "qsense localisation on simulated recordings",
        "head": head.name, "conductor": head.conductor.name,
        "sources": f"{sources.kind}, {sources.spacing}, {sources.n_sources} sources",
        "settings": json.dumps(settings), "mne_version": mne.__version__,
        "qsense_version": qs.__version__})


METRICS = ("error", "dispersion", "correlation")
_BOOT_BLOCK = 100


def percentiles(ds, q=(50, 90), *, over=("realisation",), ci=0.95, n_boot=2000,
                seed=0) -> xr.Dataset:
    """Percentiles of the metrics over realisations (or pooled dimensions), with
    percentile-bootstrap confidence intervals.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`localise_on_recordings`.
    q : float or sequence of float
        Percentiles in [0, 100] (``numpy.percentile``'s linear interpolation).
    over : str or sequence of str
        Dimensions pooled into the sample (default the realisations; add ``"probe"`` to
        pool probes).
    ci : float
        Confidence level of the intervals, in (0, 1).
    n_boot : int
        Bootstrap resamples: the pooled sample drawn with replacement, the percentile of
        each resample, the interval between its ``(1 - ci) / 2`` and ``(1 + ci) / 2``
        quantiles (Efron & Tibshirani 1993, ch. 13). NaN values (the dipole's
        dispersion) give NaN.
    seed : int
        Seeds the resampling.

    Returns
    -------
    xarray.Dataset
        For each metric (``error``, ``dispersion``, ``correlation``) its percentiles
        (dimension ``percentile``) and ``<metric>_ci`` (with dimension ``bound``: low,
        high); the remaining dimensions of ``ds``.
    """
    validate_type(ds, xr.Dataset, "ds", "xarray.Dataset")
    missing = [m for m in METRICS if m not in ds]
    if missing:
        raise ValueError(f"ds lacks {missing}: pass the output of localise_on_recordings")
    q = np.atleast_1d(np.asarray(q, dtype=float))
    if q.ndim != 1 or not np.all((q >= 0) & (q <= 100)):
        raise ValueError(f"q must be percentiles in [0, 100], got {q.tolist()}")
    over = (over,) if isinstance(over, str) else tuple(over)
    bad = [d for d in over if d not in ds[METRICS[0]].dims]
    if not over or bad:
        raise ValueError(f"over must name dimensions of the metrics "
                         f"{ds[METRICS[0]].dims}, got {over!r}")
    ci = check_number("ci", ci, low=0, low_open=True, high=1, high_open=True)
    n_boot = check_int("n_boot", n_boot, low=10, high=1_000_000)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    out = {}
    keep = None
    for m in METRICS:
        da = ds[m].stack(sample=over).transpose(..., "sample")
        x = da.values
        keep = [d for d in da.dims if d != "sample"]
        n = x.shape[-1]
        pct = np.moveaxis(np.percentile(x, q, axis=-1), 0, -1)
        boot = np.concatenate([  # (q, ..., n_boot), in blocks to bound memory
            np.percentile(x[..., rng.integers(0, n, size=(min(_BOOT_BLOCK, n_boot - b), n))],
                          q, axis=-1)
            for b in range(0, n_boot, _BOOT_BLOCK)], axis=-1)
        lo, hi = np.percentile(boot, [50 * (1 - ci), 50 * (1 + ci)], axis=-1)
        ci_arr = np.stack([np.moveaxis(lo, 0, -1), np.moveaxis(hi, 0, -1)], axis=-1)
        attrs = dict(ds[m].attrs)
        out[m] = (keep + ["percentile"], pct, attrs)
        out[f"{m}_ci"] = (keep + ["percentile", "bound"], ci_arr,
                          {"units": attrs.get("units", "1"),
                           "long_name": f"{ci:.0%} bootstrap interval of the percentile of "
                           f"{m} over {', '.join(over)} ({n_boot} resamples)"})
    coords = {k: v for k, v in ds.coords.items() if set(v.dims) <= set(keep)}
    coords["percentile"] = ("percentile", q, {"units": "%", "long_name": "percentile"})
    coords["bound"] = ("bound", ["low", "high"], {"units": "1",
                                                  "long_name": "confidence bound"})
    return xr.Dataset(out, coords=coords, attrs={**ds.attrs, "pooled": ", ".join(over),
                                                 "confidence": ci})
