"""The comparison study: on-scalp OPMs, NV sensors and SQUID helmets on one head.

Every array sees the same cortical sources on the fsaverage head (single-shell BEM,
fsaverage5 white-surface dipoles along their normals) and is judged by the same
metrics, each computed by the module that owns it:

- ``snr``: the whitened field norm ``sqrt(sum_c (b_c / sigma_c)^2)`` of one dipole of
  ``moment`` A m, with channel noise ``sigma_c = floor_c * sqrt(bandwidth)``;
- ``information``: total information about independent 1 nAm sources, bits per sample
  (:mod:`inverse.information`);
- ``ple``: peak localisation error of MNE's MNE, dSPM and sLORETA estimates of each
  noiseless dipole (:mod:`inverse.localisation`; MNE's default inverse: loose 0.2,
  depth 0.8, ``lambda2`` 1/9, diagonal noise covariance from the floors);
- ``crb``: Cramer-Rao bound on the rms position error of a dipole fit
  (:mod:`inverse.cramer_rao`), in the sphere fitted to the same inner skull (the bound
  needs the conductor's derivatives, which the sphere model gives exactly). Sources
  whose normal is within 3 degrees of radial are silent in that model: NaN.

The arrays: ``n_opm`` radial OPMs (``opm_sensor`` preset, its standoff and floor); NV
magnetometers on the same lattice (:func:`qsense.nv.nv_on_scalp`: the ``nv_sensor``
preset's standoff and white floor, point coils); Neuromag 306 and CTF 275 helmets 20 mm
from the scalp at their closest.

The dataset
-----------
Dimensions ``array``, ``solver`` and ``source`` (never ``method``: xarray's ``sel``
takes ``method`` as its own keyword, so ``ds.sel(method="dSPM")`` would silently select
nothing). Every variable and coordinate has ``units`` (``""`` for names) and
``long_name``; NetCDF stores no MultiIndex, so each source is described by separate
coordinates along ``source``:

- ``hemisphere`` (``"lh"``, ``"rh"``) and ``vertex``, the fsaverage vertex number as
  ``qsense.sources.cortex(head, spacing).to_mne()`` numbers it (fsaverage5 vertices are
  fsaverage's first 10242, so these are fsaverage's numbers too);
- ``x``, ``y``, ``z``: the source position in the MNE head frame, m;
- ``depth`` below the inner skull, m, and ``superficial`` (superficial and tangential,
  :func:`qsense.sources.superficial_tangential`).

Select one source with :func:`select_source` (``select_source(ds, "lh", 123)``) or,
for any condition, with ``where``:
``ds.where((ds.hemisphere == "lh") & (ds.vertex == 123), drop=True)``. An
``mne.SourceEstimate`` of one map: ``vertices=[ds.vertex.where(ds.hemisphere == h,
drop=True).values for h in ("lh", "rh")]`` with the values in the same order.

Along ``array``: ``array_label``, ``n_channels``, ``dev_head_t`` (array, row, col: each
array's device-to-head transform, where the helmets were seated) and the channels' white
noise floors by kind, as numbers: ``noise_floor_mag`` (channels measured in T: magnetometers, axial
gradiometers; T/sqrt(Hz)) and ``noise_floor_grad`` (planar gradiometers, T/m;
T/(m sqrt(Hz))), NaN where an array has no such channels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import os
import pickle
import threading

import mne
import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number, validate_type

from ._progress import Stages
from .cramer_rao import dipole_localisation_bound, padded_bounds
from .information import information_bits
from .localisation import METHODS, peak_localisation_error
from .recordings import SOLVERS, _check_int_list, _check_solvers, localise_on_recordings
from .rejection import TYPICAL_ROOM, interference_rejection

__all__ = ["compare", "plan", "select_source", "probe_sources", "Stages", "ARRAY_NAMES",
           "SPACINGS", "BEM_ICOS", "N_OPM_RANGE", "BANDWIDTH_RANGE", "MOMENT_RANGE",
           "LAMBDA2_RANGE", "SOLVERS", "ROOM_CHOICES", "N_PROBES_RANGE", "N_TRIALS_RANGE",
           "N_REALISATIONS_RANGE", "CURVES", "DIPOLE_CONDUCTORS", "DEFAULT_SOLVERS"]

ARRAY_NAMES = ("opm", "nv", "neuromag306", "ctf275")
SPACINGS = ("ico2", "ico3", "ico4")
BEM_ICOS = (3, 4, 5)  # subdivision of the inner skull in the BEM (Head.fsaverage)
N_OPM_RANGE = (8, 512)  # sensors in the OPM and NV arrays
BANDWIDTH_RANGE = (1e-6, 1e5)  # noise bandwidth of one sample, Hz
MOMENT_RANGE = (1e-12, 1e-5)  # dipole moment, A m
LAMBDA2_RANGE = (1e-6, 1e6)  # regularisation of the minimum-norm estimates
N_PROBES_RANGE = (1, 64)  # probe sources of the noisy localisation
N_TRIALS_RANGE = (1, 10_000)  # trials averaged
N_REALISATIONS_RANGE = (1, 1000)  # noise realisations per array and probe
ROOM_CHOICES = ("typical", "none")  # or a room name: every array in that room
CURVES = ("quick", "full", "none")  # sizes of the fair-comparison curves
DIPOLE_CONDUCTORS = ("sphere", "head")
DEFAULT_SOLVERS = ("MNE", "dSPM", "sLORETA", "LCMV", "dipole")  # of the noisy view
_LABELS = {"opm": "on-scalp OPMs", "nv": "NV magnetometers", "neuromag306": "Neuromag 306",
           "ctf275": "CTF 275"}
_N_SOURCES = {"ico2": 324, "ico3": 1284, "ico4": 5124}
_N_CHANNELS = {"neuromag306": 306, "ctf275": 274}
_HELMETS = ("neuromag306", "ctf275")
_HEMISPHERES = {101: "lh", 102: "rh"}  # MNE's FIFFV_MNE_SURF_LEFT/RIGHT_HEMI
_PLE_CHUNK = 512  # dipoles per apply_inverse call: MNE assembles the kernel once per call,
# and each call allocates ~60 MB per array (ico4, one BLAS thread, Neuromag, dSPM: user + system
# CPU 4.3 s at 256, 3.5 s at 512, 3.9 s at 1024, 5.1 s at 2048, the larger ones in page faults)


# --- the plan: stages and their estimated durations ----------------------------------------

def _bem_cached(ico) -> bool:
    """Whether a BEM solution of grade ``ico`` is in the cache (for the estimate only)."""
    try:
        from qsense.bem import bem_cache_dir

        folder = bem_cache_dir()
    except (OSError, ValueError):
        return False
    return any(folder.glob(f"fsaverage-inner-skull-ico{ico}-*.npz"))


def _jax_cold() -> bool:
    """Whether JAX will compile the kernels (no persistent cache, or an empty one)."""
    from qsense._jax_cache import CACHE_DIR

    if CACHE_DIR is None:
        return True
    try:
        return sum(1 for _ in os.scandir(CACHE_DIR)) < 10
    except OSError:
        return True


# Estimated seconds on 2 cores, fitted to stage times of `qsense compare --quick` and of
# the default run from empty caches; the bar's observed rate corrects them for the machine.
_BEM_BUILD = {3: 1.5, 4: 12.0, 5: 150.0}
_BEM_LOAD = 0.5
_HELMET_SEAT = 4.5  # per helmet, in the background thread (slowed by the main one)
_COMPILE = {"lead field": 1.0, "bounds": 1.5}  # cold JAX cache: per array, once
_POINTS = {"opm": 24, "nv": 1, "neuromag306": 4896 / 306, "ctf275": 3836 / 274}
# integration points per channel ("accurate"; the OPM and NV presets' values)
_BOUND_PER_POINT_SOURCE = 1e-6  # s, BEM bound with its nonlinearity check (2 cores)
_REC_SECONDS = {"opm": 2.0, "nv": 1.3, "neuromag306": 2.5, "ctf275": 2.5}
# per recording and trial count (simulation shared), the default solvers, one BLAS thread
_WORKER_START = 8.0  # spawning the worker: imports, the kernels (compiled or cached)
_REJECTION_COST = {"opm": 1.0, "nv": 1.0, "neuromag306": 4.0, "ctf275": 4.0}
_CURVES_COST = {"quick": 10.0, "full": 40.0, "none": 0.0}
_IIVANAINEN_COST = 5.0


def plan(*, spacing="ico3", arrays=ARRAY_NAMES, n_opm=64, bem_ico=None, head=None,
         recordings=True, n_probes=4, n_trials=(64,), n_realisations=1,
         solvers=DEFAULT_SOLVERS,
         rejection=True, curves="quick", iivanainen=True):
    """The stages of :func:`compare` and their estimated durations.

    Parameters
    ----------
    spacing, arrays, n_opm, bem_ico, head, recordings, n_probes, n_trials, n_realisations, \
solvers, rejection, curves, iivanainen
        As for :func:`compare` (not checked here).

    Returns
    -------
    list of (key, label, seconds)
        For :class:`Stages`: ``bem`` (without ``head``), ``sources``, per array
        ``lead field NAME``, ``solvers NAME``, ``snr NAME`` (and ``helmets`` before the
        first helmet's; with recordings before the first lead field), ``bounds``, then
        ``rejection``, ``curves``, ``iivanainen`` and ``recordings`` where asked for.
        The estimates assume 2 cores and look at the caches (a BEM built on a first run,
        JAX kernels compiled on a first run).
    """
    n_src = _N_SOURCES.get(spacing, 5124)
    cold = _jax_cold()
    compiling = " (compiling)" if cold else ""
    out = []
    if head is None:
        ico = 4 if bem_ico is None else bem_ico
        if _bem_cached(ico):
            out.append(("bem", f"loading the ico-{ico} BEM", _BEM_LOAD))
        else:
            out.append(("bem", f"building the ico-{ico} BEM (first run)",
                        _BEM_BUILD.get(ico, 150.0)))
    out.append(("sources", "sources and on-scalp arrays", 0.5))
    n_helmets = sum(a in _HELMETS for a in arrays)
    for a in arrays:
        n_ch = _N_CHANNELS.get(a, n_opm)
        label = _LABELS.get(a, a)
        if a in _HELMETS and not any(k == "helmets" for k, _, _ in out) or (
                recordings and n_helmets and len(out) == (2 if head is None else 1)):
            # (with recordings: before the first lead field, the worker needs them all)
            # seated in the background since the start: the wait is what is left
            before = sum(t for _, _, t in out)
            out.append(("helmets", "seating the helmets",
                        max(0.2, _HELMET_SEAT * n_helmets - before)))
        first = not any(k.startswith("lead field") for k, _, _ in out)
        out.append((f"lead field {a}", f"lead field: {label}{compiling}",
                    0.2 + 1.2e-6 * n_ch * n_src
                    + (_COMPILE["lead field"] * (2 if first else 1) if cold else 0.0)))
        out.append((f"solvers {a}", f"solvers: {label} ({', '.join(METHODS)})",
                    0.1 + 0.3 * (n_ch / 306) ** 2 + 7e-8 * n_src**2 * (1.5 + n_ch / 64)))
        out.append((f"snr {a}", f"SNR and information: {label}", 0.05 + 1e-8 * n_ch * n_src))
    points = sum(_POINTS.get(a, 1) * _N_CHANNELS.get(a, n_opm) for a in arrays)
    out.append(("bounds", "Cramer-Rao bounds" + compiling,
                0.2 * len(arrays) + _BOUND_PER_POINT_SOURCE * points * n_src
                + (_COMPILE["bounds"] if cold else 0.0)))
    if rejection:
        out.append(("rejection", "interference suppression (HFC, SSS)",
                    sum(_REJECTION_COST.get(a, 1.0) for a in arrays)))
    if curves != "none":
        out.append(("curves", f"curves over channel count, noise floor, NV standoff "
                    f"({curves})", _CURVES_COST[curves]))
    if iivanainen:
        out.append(("iivanainen", "Iivanainen et al. 2017 comparison", _IIVANAINEN_COST))
    if recordings:  # in a worker process since the lead fields: what is left of it
        n_solve = len(arrays) * n_probes * n_realisations
        cost = _WORKER_START + sum(_REC_SECONDS.get(a, 1.0) * n_probes * n_realisations
                                   * (0.5 + 0.5 * len(tuple(n_trials))) for a in arrays)
        since = sum(t for k, _, t in out[[k for k, _, _ in out].index("bounds"):])
        out.append(("recordings", f"localisation on {n_solve} simulated recordings "
                    f"({len(tuple(solvers))} solvers, {len(tuple(n_trials))} trial counts; "
                    "in a worker process)", max(1.0, cost - since)))
    return out


# --- the study -------------------------------------------------------------------------------

def probe_sources(src, head, n_probes: int) -> np.ndarray:
    """Probe sources of the noisy localisation, spread over depth and both hemispheres.

    Half of the probes (the extra one in the left hemisphere) per hemisphere; in each,
    the sources MEG can see (normal more than 3 degrees from radial in the conductor
    sphere) are ranked by depth below the inner skull and the probe ``k`` of ``m`` is the
    source nearest to the depth quantile ``(k + 1/2) / m``, the shallowest one taken from
    the superficial tangential sources (:func:`qsense.sources.superficial_tangential`)
    where there are any. Deterministic: the same sources for the same cortex.

    Parameters
    ----------
    src : qsense SourceSpace
        A cortex (with normals) on ``head``.
    head : qsense.Head
    n_probes : int
        1 to 64.

    Returns
    -------
    ndarray of int, shape (n_probes,)
        Indices into ``src``, left hemisphere first, shallow to deep within each.
    """
    n_probes = check_int("n_probes", n_probes, low=N_PROBES_RANGE[0], high=N_PROBES_RANGE[1])
    hemisphere, _ = _hemispheres_and_vertices(src)
    out = src.positions - head.sphere_origin
    radial_cos = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
    seen = radial_cos < np.cos(np.deg2rad(3.0))
    depth = -head.brain_distance(src.positions)
    superficial = np.zeros(len(src), bool)
    superficial[qs.sources.superficial_tangential(src, head)] = True
    picked = []
    for h, m in (("lh", (n_probes + 1) // 2), ("rh", n_probes // 2)):
        cand = np.flatnonzero(seen & (hemisphere == h))
        if m == 0:
            continue
        if cand.size < m:
            raise ValueError(f"n_probes={n_probes}: the {h} hemisphere has only "
                             f"{cand.size} visible sources")
        order = cand[np.argsort(depth[cand], kind="stable")]
        chosen = []
        for k in range(m):
            target = np.quantile(depth[order], (k + 0.5) / m)
            pool = order[~np.isin(order, chosen)]
            if k == 0 and np.any(superficial[pool]):
                pool = pool[superficial[pool]]
            chosen.append(int(pool[np.argmin(np.abs(depth[pool] - target))]))
        picked += chosen
    return np.asarray(picked, dtype=np.int64)


def _check_rooms(rooms):
    from qsense.environment import room_names

    allowed = (*ROOM_CHOICES, *room_names())
    if not isinstance(rooms, str) or rooms not in allowed:
        raise ValueError(f"rooms must be one of {allowed} ('typical': each array in its "
                         f"typical room, {TYPICAL_ROOM}; a room name: every array in that "
                         f"room), got {rooms!r}")
    return rooms


def _environments(rooms, built, names, sfreq=None):
    """The room of each array: its preset environment (``qsense.Environment.preset``:
    interferers, power line, shield noise, remnant field, head movement), or None (a
    perfect room: sensor noise only). With ``sfreq``, the power-line harmonics at or
    above the Nyquist frequency are left out (a recording at that rate cannot hold them;
    the recordings' low-pass removes them anyway)."""
    if rooms == "none":
        return {n: None for n in names}
    out = {}
    for n in names:
        env = qs.Environment.preset(TYPICAL_ROOM[built[n].head_mounted] if rooms == "typical"
                                    else rooms)
        line = env.power_line
        if sfreq is not None and line is not None:
            keep = [k for k, h in enumerate(line.harmonics) if h * line.frequency < sfreq / 2]
            env = env.replace(power_line=None if not keep else dataclasses.replace(
                line, harmonics=tuple(line.harmonics[k] for k in keep),
                amplitudes=tuple(line.amplitudes[k] for k in keep)))
        out[n] = env
    return out


def _check_presets(arrays, opm_sensor, nv_sensor):
    from qsense.nv import NV_PRESETS
    from qsense.sensors import preset_names

    if "opm" in arrays and opm_sensor not in preset_names("opm"):
        raise ValueError(f"opm_sensor must be one of {preset_names('opm')}, got "
                         f"{opm_sensor!r}")
    if "nv" in arrays and nv_sensor not in NV_PRESETS:
        raise ValueError(f"nv_sensor must be one of {sorted(NV_PRESETS)}, got {nv_sensor!r}")


def _on_scalp(head, names, n_opm, opm_sensor, nv_sensor):
    from qsense.nv import nv_on_scalp

    builders = {
        "opm": lambda: qs.arrays.opm_on_scalp(head, n_opm, "radial", sensor=opm_sensor),
        "nv": lambda: nv_on_scalp(head, n_opm, sensor=nv_sensor),
    }
    return {name: builders[name]() for name in names if name in builders}


class _Helmets(threading.Thread):
    """Seats the helmets in the background (seconds of scalp-distance queries that need
    only the scalp), while the BEM is built and the on-scalp arrays are computed.

    ``seat_on`` has the scalp and sphere origin of the study's head (checked in
    :meth:`arrays`); the transforms are then applied to the study's head.
    """

    def __init__(self, seat_on, names):
        super().__init__(daemon=True, name="qsense-helmets")
        self.seat_on, self.names = seat_on, [n for n in names if n in _HELMETS]
        self.result, self.error = {}, None

    def run(self):
        try:
            for name in self.names:
                self.result[name] = getattr(qs.arrays, name)(self.seat_on).dev_head_t
        except BaseException as err:  # re-raised in the caller's thread
            self.error = err

    def arrays(self, head):
        self.join()
        if self.error is not None:
            raise self.error
        same = (np.array_equal(self.seat_on.scalp.rr, head.scalp.rr)
                and np.array_equal(self.seat_on.scalp.tris, head.scalp.tris)
                and np.array_equal(self.seat_on.sphere_origin, head.sphere_origin))
        return {name: getattr(qs.arrays, name)(head, **({"dev_head_t": t} if same else {}))
                for name, t in self.result.items()}


def _blas_threads(limit):
    """At most ``limit`` BLAS threads inside the block (None: no limit).

    The solvers run with one: on a 2-core machine that other processes also use,
    OpenBLAS's threads wait for each other (an eigendecomposition of 306 x 306 took
    0.4-1.3 s with two threads, 0.03 s with one), and the default run from empty caches
    took 144 s with one thread against 177 s with two (load average 5). The lead fields
    and bounds (JAX) keep their own threads. threadpoolctl comes with scikit-learn (a
    nilearn dependency); without it nothing is limited.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of a dependency
        return contextlib.nullcontext()
    return (contextlib.nullcontext() if limit is None
            else threadpool_limits(limits=limit, user_api="blas"))


def _noise_cov(info, std):
    return mne.Covariance(np.diag(std**2), info["ch_names"], bads=[], projs=[], nfree=1,
                          verbose=False)


def _floors(info, noise):
    """Median white floor of the channels measured in T and of those in T/m (NaN: none)."""
    per_m = np.array([ch["unit"] == mne.io.constants.FIFF.FIFF_UNIT_T_M
                      for ch in info["chs"]])
    noise = np.asarray(noise, float)
    return (float(np.median(noise[~per_m])) if np.any(~per_m) else np.nan,
            float(np.median(noise[per_m])) if np.any(per_m) else np.nan)


def _hemispheres_and_vertices(src):
    spaces = src.to_mne()
    hemi = np.concatenate([[_HEMISPHERES[int(s["id"])]] * len(s["vertno"]) for s in spaces])
    vertex = np.concatenate([np.asarray(s["vertno"], dtype=np.int64) for s in spaces])
    if len(vertex) != len(src):
        raise RuntimeError("the MNE source spaces do not match the study's sources")
    return hemi, vertex


def _check_progress(progress):
    if isinstance(progress, Stages) or isinstance(progress, bool):
        return progress
    raise TypeError(f"progress must be True, False or an inverse.study.Stages, got "
                    f"{progress!r}")


def compare(*, spacing: str = "ico3", arrays=ARRAY_NAMES, n_opm: int = 64,
            opm_sensor: str = "quspin_gen2", nv_sensor: str = "nv_flux_concentrator",
            bandwidth: float = 1.0, moment: float = 20e-9, lambda2: float = 1 / 9,
            bem_ico: int | None = None, head: qs.Head | None = None,
            progress=False, recordings: bool = True, n_probes: int = 4,
            n_trials=(64,), n_realisations: int = 1, solvers=DEFAULT_SOLVERS,
            rooms: str = "typical", rejection: bool = True, seed: int = 0,
            curves: str = "quick", iivanainen: bool = True, coreg_error: float = 0.003,
            dipole_conductor: str = "sphere", workers: int = 1) -> xr.Dataset:
    """Run the comparison study.

    Parameters
    ----------
    spacing : {"ico2", "ico3", "ico4"}
        Cortical source spacing (324, 1284 or 5124 sources).
    arrays : sequence of {"opm", "nv", "neuromag306", "ctf275"}
    n_opm : int
        Sensors in the OPM and NV arrays (8 to 512).
    opm_sensor : str
        OPM preset (``qsense info`` lists them).
    nv_sensor : str
        NV preset (``qsense.nv.NV_PRESETS``).
    bandwidth : float
        Noise bandwidth of one sample, Hz. For one-sided noise floors, averaging T seconds
        of white noise is an equivalent noise bandwidth of 1/(2T): 1 Hz is half a second
        of averaging.
    moment : float
        Dipole moment for ``snr`` and ``crb``, A m (default 20 nAm, a typical evoked
        response; Hamalainen et al. 1993, Rev. Mod. Phys. 65:413).
    lambda2 : float
        Regularisation of the minimum-norm estimates, 1/SNR^2.
    bem_ico : {3, 4, 5}, optional
        Subdivision of the inner skull in the BEM of ``Head.fsaverage`` (default 4: 2562
        vertices; 3 is 16 times faster to build and moves the fields of the ico2
        sources by 0.7 % (median) against ico-4; 5 takes minutes on a first run). Only
        without ``head``.
    head : qsense.Head, optional
        Default ``Head.fsaverage(ico=bem_ico)`` (BEM).
    progress : bool or Stages
        True: a progress bar on standard error (stages from :func:`plan`); a
        :class:`Stages` made from :func:`plan` (plus stages of the caller's own) to
        carry on after the study.
    recordings : bool
        Also localise probe sources on simulated noisy recordings
        (:func:`inverse.recordings.localise_on_recordings`, paired across arrays): the
        ``rec_*`` variables.
    n_probes : int
        Probe sources (1 to 64; :func:`probe_sources`: spread over depth, both
        hemispheres, the shallowest of each a superficial tangential one).
    n_trials : int or sequence of int
        Trials averaged (each >= 1); nested: the first n epochs of one recording.
    n_realisations : int
        Noise realisations per array and probe (>= 1).
    solvers : sequence of str
        Solvers run on the recordings, from :data:`SOLVERS` ("MNE", "dSPM", "sLORETA",
        "eLORETA", "LCMV", "dipole"); default all but eLORETA (whose weights cost about
        1 s per solve on 306 channels).
    rooms : str
        "typical" (default): each array in its typical room
        (:data:`inverse.rejection.TYPICAL_ROOM`: head-mounted arrays in a two-layer OPM
        room, SQUID helmets in a conventional shielded room); a room name
        (:func:`qsense.environment.room_names`): every array in that room; "none": a
        perfect room (sensor noise only). The room's preset environment includes its
        interferers, power line, shield noise, remnant field and head movement.
    rejection : bool
        Also measure MNE's interference suppression on each array's room (HFC on
        head-mounted arrays, SSS on helmets; :func:`inverse.interference_rejection`):
        ``rejection_*`` variables. Needs a room (not with ``rooms="none"``).
    seed : int
        Seeds every recording (>= 0); the same seed gives the same numbers.
    curves : {"quick", "full", "none"}
        The fair-comparison curves of :mod:`inverse.curves` on the same head and
        sources: metrics over the OPM channel count and axes (Kernel Flux and the SQUID
        helmets as reference points), over the OPM white noise floor (7-15
        fT/sqrt(Hz)), and of flux-concentrator NV sensors over their standoff
        (``curve_count_*``, ``curve_floor_*``, ``curve_nv_*``). "quick": the reduced
        sizes of :data:`inverse.curves.QUICK` (no Cramer-Rao bounds); "full": the
        functions' defaults (4 counts x 3 axis sets, bounds on 16 sources).
    coreg_error : float
        Co-registration error of every array, m rms over its sensors (0 to 0.02; default
        3 mm, an assumption: a few millimetres for digitised SQUID head coils and for
        on-scalp helmets alike): the recordings are analysed with the sensors where the
        analysis believes them (:mod:`inverse.coregistration`, seeded per array).
    dipole_conductor : {"sphere", "head"}
        Conductor of the dipole fits: "sphere" (default) MNE's sphere fitted to the inner
        skull, as MEG users commonly fit (MNE's BEM fit is about 8 times slower without
        numba); "head" the head's own (the BEM the recordings were simulated in).
    workers : {0, 1}
        1 (default): the recordings run in a worker process alongside the rest of the
        study (about half the wall time on 2 cores); 0: in this process, after the rest.
        The numbers are the same.
    iivanainen : bool
        Also reproduce Iivanainen et al. (2017)'s signal-power comparisons on this head
        (:func:`inverse.signal_power.iivanainen_comparison`): ``iivanainen_*``.

    Returns
    -------
    xarray.Dataset
        Dimensions ``array``, ``solver`` and ``source``; the layout is in the module
        docstring. Select with ``ds.sel(solver="dSPM")``, :func:`select_source`.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if isinstance(arrays, str):
        raise ValueError(f"arrays must be a sequence of names from {ARRAY_NAMES}, got the "
                         f"string {arrays!r}")
    arrays = tuple(arrays)
    bad = [a for a in arrays if a not in ARRAY_NAMES]
    if not arrays or bad or len(set(arrays)) != len(arrays):
        raise ValueError(f"arrays must be distinct names from {ARRAY_NAMES}, got {arrays!r}")
    n_opm = check_int("n_opm", n_opm, low=N_OPM_RANGE[0], high=N_OPM_RANGE[1])
    bandwidth = check_number("bandwidth", bandwidth, low=BANDWIDTH_RANGE[0],
                             high=BANDWIDTH_RANGE[1], unit="Hz")
    moment = check_number("moment", moment, low=MOMENT_RANGE[0], high=MOMENT_RANGE[1],
                          unit="A m")
    lambda2 = check_number("lambda2", lambda2, low=LAMBDA2_RANGE[0], high=LAMBDA2_RANGE[1])
    if bem_ico is not None:
        if head is not None:
            raise ValueError("give bem_ico or head, not both (bem_ico builds the head)")
        if (isinstance(bem_ico, bool) or not isinstance(bem_ico, numbers.Integral)
                or bem_ico not in BEM_ICOS):
            raise ValueError(f"bem_ico must be one of {BEM_ICOS}, got {bem_ico!r}")
    if head is not None and (not isinstance(head, qs.Head) or head.subject != "fsaverage"):
        raise ValueError("head must be a fsaverage Head (the study's cortex lives on it)")
    _check_presets(arrays, opm_sensor, nv_sensor)
    validate_type(recordings, bool, "recordings")
    validate_type(rejection, bool, "rejection")
    n_probes = check_int("n_probes", n_probes, low=N_PROBES_RANGE[0], high=N_PROBES_RANGE[1])
    n_trials = sorted(_check_int_list("n_trials", n_trials, low=N_TRIALS_RANGE[0],
                                      high=N_TRIALS_RANGE[1]))
    n_realisations = check_int("n_realisations", n_realisations, low=N_REALISATIONS_RANGE[0],
                               high=N_REALISATIONS_RANGE[1])
    solvers = _check_solvers(solvers)
    rooms = _check_rooms(rooms)
    if rejection and rooms == "none":
        raise ValueError("rejection=True needs a room (rooms='none' has no interference "
                         "to suppress): pass rejection=False or a room")
    seed = check_int("seed", seed, low=0)
    if curves not in CURVES:
        raise ValueError(f"curves must be one of {CURVES}, got {curves!r}")
    validate_type(iivanainen, bool, "iivanainen")
    from .coregistration import COREG_RANGE

    coreg_error = check_number("coreg_error", coreg_error, low=COREG_RANGE[0],
                               high=COREG_RANGE[1], unit="m")
    workers = check_int("workers", workers, low=0, high=1)
    if dipole_conductor not in DIPOLE_CONDUCTORS:
        raise ValueError(f"dipole_conductor must be one of {DIPOLE_CONDUCTORS}, got "
                         f"{dipole_conductor!r}")
    progress = _check_progress(progress)
    stages = progress if isinstance(progress, Stages) else Stages(
        plan(spacing=spacing, arrays=arrays, n_opm=n_opm, bem_ico=bem_ico, head=head,
             recordings=recordings, n_probes=n_probes, n_trials=n_trials,
             n_realisations=n_realisations, solvers=solvers, rejection=rejection,
             curves=curves, iivanainen=iivanainen),
        enabled=progress, desc="inverse.study.compare")
    try:
        ds = _run(stages, spacing, arrays, n_opm, opm_sensor, nv_sensor, bandwidth, moment,
                  lambda2, bem_ico, head, dict(recordings=recordings, n_probes=n_probes,
                                               n_trials=n_trials,
                                               n_realisations=n_realisations,
                                               solvers=solvers, rooms=rooms,
                                               rejection=rejection, seed=seed,
                                               curves=curves, iivanainen=iivanainen,
                                               coreg_error=coreg_error,
                                               dipole_conductor=dipole_conductor,
                                               workers=workers))
    except BaseException:
        if stages is not progress:
            stages.close(complete=False)
        raise
    if stages is not progress:
        stages.close()
    return ds


def _run(stages, spacing, arrays, n_opm, opm_sensor, nv_sensor, bandwidth, moment, lambda2,
         bem_ico, head, noisy):
    # the helmets are seated on the scalp (the sphere head: the same scalp, no BEM needed)
    sphere = (head if head is not None and head.conductor.name == "sphere"
              else qs.Head.fsaverage(conductor="sphere"))
    helmets = _Helmets(sphere, arrays)
    helmets.start()
    if head is None:
        with stages.stage("bem"):
            head = qs.Head.fsaverage(ico=4 if bem_ico is None else bem_ico)
    with stages.stage("sources"):
        src = qs.sources.cortex(head, spacing)
        hemisphere, vertex = _hemispheres_and_vertices(src)
        built = _on_scalp(head, arrays, n_opm, opm_sensor, nv_sensor)
        out = src.positions - head.sphere_origin
        radial_cos = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
        seen = radial_cos < np.cos(np.deg2rad(3.0))
        superficial = qs.sources.superficial_tangential(src, head)
        depth = -head.brain_distance(src.positions)

    n_src, n_arr = len(src), len(arrays)
    snr = np.empty((n_arr, n_src))
    info_bits = np.empty(n_arr)
    ple = np.empty((n_arr, len(METHODS), n_src))
    crb = np.full((n_arr, n_src), np.nan)
    localisable = np.zeros((n_arr, n_src), bool)
    fwds = {}
    n_channels = np.empty(n_arr, dtype=np.int64)
    floors = np.empty((n_arr, 2))
    job = None
    if noisy["recordings"]:  # in a worker process from now on, alongside the rest
        if any(a not in built for a in arrays):
            with stages.stage("helmets"):
                built.update(helmets.arrays(head))
        job = _RecordingsJob(head, src, built, arrays, moment, noisy)
    try:
        return _noiseless(stages, head, src, built, arrays, bandwidth, moment, noisy, job,
                          helmets, locals())
    finally:
        if job is not None:
            job.close()


def _noiseless(stages, head, src, built, arrays, bandwidth, moment, noisy, job, helmets, v):
    """The per-array metrics, then :func:`_rest`; ``v``: the locals of :func:`_run`."""
    snr, info_bits, ple, n_channels, floors = (v["snr"], v["info_bits"], v["ple"],
                                               v["n_channels"], v["floors"])
    fwds, n_src, seen, lambda2 = v["fwds"], v["n_src"], v["seen"], v["lambda2"]
    for a, name in enumerate(arrays):
        if name not in built:
            with stages.stage("helmets"):
                built.update(helmets.arrays(head))
        arr = built[name]
        std = np.asarray(arr.noise) * np.sqrt(bandwidth)
        n_channels[a] = arr.n_channels
        info = arr.to_info()
        floors[a] = _floors(info, arr.noise)
        with stages.stage(f"lead field {name}"):
            fwd = qs.make_forward(arr, head, src)  # the lead field, computed once per array
            fwds[name] = fwd
        with stages.stage(f"solvers {name}"):
            with _blas_threads(1):
                inv = mne.minimum_norm.make_inverse_operator(
                    info, fwd, _noise_cov(info, std), loose=0.2, depth=0.8, verbose=False)
            with _blas_threads(1):
                for m, method in enumerate(METHODS):
                    ple[a, m] = peak_localisation_error(
                        fwd, inv, method=method, lambda2=lambda2, chunk=_PLE_CHUNK).values
        with stages.stage(f"snr {name}"), _blas_threads(1):
            lf = fwd["sol"]["data"].reshape(arr.n_channels, n_src, 3)
            gain = np.einsum("csk,sk->cs", lf, src.normals)
            snr[a] = moment * np.linalg.norm(gain / std[:, None], axis=0)
            info_bits[a] = information_bits(gain, std**2, (1e-9) ** 2)[0]
    return _rest(stages, head, src, built, arrays, bandwidth, moment, noisy, seen, job,
                 {**v, **locals()})


def _rest(stages, head, src, built, arrays, bandwidth, moment, noisy, seen, job, v):
    """The stages after the lead fields; ``v``: the locals of :func:`_run` so far."""
    crb, localisable = v["crb"], v["localisable"]
    # on the study's own conductor (BEM or sphere), every array in one call: the coils
    # padded to shared sizes, so that the kernels compile once per size, not per array
    geometry = [built[a].coil_geometry("accurate") for a in arrays]
    n_points = max(g[2].shape[1] for g in geometry)
    with stages.stage("bounds"):
        rms, ok = padded_bounds(head, geometry, src.positions[seen], moment * src.normals[seen],
                          [[np.asarray(built[a].noise) * np.sqrt(bandwidth)] for a in arrays],
                          n_points)
    for a in range(len(arrays)):
        localisable[a, seen] = ok[a][0]
        crb[a, seen] = np.where(ok[a][0], rms[a][0], np.nan)
    rec = rej = None
    if noisy["rejection"]:
        with stages.stage("rejection"):
            envs = _environments(noisy["rooms"], built, arrays)
            probe = int(probe_sources(src, head, noisy["n_probes"])[0])
            rej = interference_rejection({a: built[a] for a in arrays}, head, src, probe,
                                         environments=envs, duration=_REJECTION_SECONDS,
                                         amplitude=moment, seed=noisy["seed"])
    curve_sets = {}
    if noisy["curves"] != "none":
        with stages.stage("curves"):
            curve_sets = _curves(head, src, built, bandwidth, moment, noisy)
    iiv = None
    if noisy["iivanainen"]:
        with stages.stage("iivanainen"):
            from .signal_power import iivanainen_comparison

            iiv = iivanainen_comparison(head, src)
    if job is not None:
        with stages.stage("recordings"):
            rec = job.result()
    return _dataset({**v, **locals()})


def _curves(head, src, built, bandwidth, moment, noisy):
    """The fair-comparison curves, the helmets the study seated reused."""
    from . import curves as cv

    helmets = {n: built[n] for n in _HELMETS if n in built}
    quick = noisy["curves"] == "quick"
    common = dict(bandwidth=bandwidth, moment=moment, seed=noisy["seed"])
    return {
        "count": cv.channel_count_curve(head, src, prebuilt=helmets, **common,
                                        **(cv.QUICK["channel_count_curve"] if quick
                                           else {})),
        "floor": cv.noise_floor_curve(head, src, prebuilt=helmets, **common,
                                      **(cv.QUICK["noise_floor_curve"] if quick else {})),
        "nv": cv.nv_standoff_curve(head, src, **common,
                                   **(cv.QUICK["nv_standoff_curve"] if quick else {})),
    }


_CURVE_VARS = ("snr_median", "information", "information_per_area", "crb_median",
               "crb_localisable_fraction")


def _curve_variables(name, ds):
    """One curve's per-configuration metrics (data) and descriptors (coordinates), renamed
    for compare.nc: dimension ``curve_<name>``, names ``curve_<name>_<var>``."""
    dim = f"curve_{name}"
    keep = [v for v in _CURVE_VARS if v in ds]
    one = ds[keep].drop_dims([d for d in ds.dims if d != "config"], errors="ignore")
    data, coords = {}, {}
    for k, da in one.variables.items():
        key = dim if k == "config" else f"{dim}_{k}"
        (data if k in keep else coords)[key] = (dim, da.values, dict(da.attrs))
    return data, coords


def _iivanainen_variables(ds):
    """The Iivanainen table for compare.nc: dimension ``iivanainen_row``; the numbers as
    data, the descriptions as coordinates."""
    data, coords = {}, {}
    for k, da in ds.variables.items():
        key = "iivanainen_row" if k == "row" else f"iivanainen_{k}"
        (data if k in ds.data_vars else coords)[key] = ("iivanainen_row", da.values,
                                                        dict(da.attrs))
    return data, coords


_REJECTION_SECONDS = 2.0  # of simulated empty room per array
_REC_H_FREQ = 40.0  # low-pass of the recordings before epoching, Hz (localise_on_recordings)
_REC_SFREQ = 300.0  # sampling rate of the recordings, Hz: above twice the Bloch-model OPMs'
# bandwidth (135 Hz); the NV readout's 1 kHz bandwidth would need 2 kHz, so NV sensors are
# simulated without sensor physics (their lock-in is flat to 0.1 % below the 40 Hz low-pass)
_REC_COV = "ledoit_wolf"  # noise covariance: closed-form shrinkage (Ledoit & Wolf 2004),
# 3 s less per estimate on 306 channels than cross-validated "shrunk"
_REC_ENBW = _REC_H_FREQ + max(0.25 * _REC_H_FREQ, 2.0) / 2
# noise-equivalent bandwidth of MNE's default FIR low-pass (pass band to h_freq, transition
# min(max(h_freq / 4, 2 Hz), ...) wide, -6 dB at its middle), Hz


class _RecordingsJob:
    """``localise_on_recordings`` for the study, started in a worker process (spawned: a
    fresh interpreter, one BLAS thread) as soon as the lead fields are known, so that it
    runs alongside the bounds, the suppression, the curves and the table on the other
    core; :meth:`result` waits for it and adds the bound at the probes. The numbers are
    those of the same call in this process (each recording is seeded on its own)."""

    def __init__(self, head, src, built, arrays, moment, noisy):
        from .coregistration import coregistration_error

        self.head, self.src, self.built, self.arrays = head, src, built, arrays
        self.moment, self.noisy = moment, noisy
        self.probes = probe_sources(src, head, noisy["n_probes"])
        envs = _environments(noisy["rooms"], built, arrays, sfreq=_REC_SFREQ)
        coreg = {a: coregistration_error(built[a], noisy["coreg_error"], seed=noisy["seed"],
                                         name=a)
                 for a in arrays if noisy["coreg_error"] > 0}
        kwargs = dict(
            arrays={a: built[a] for a in arrays}, head=head, sources=src, probes=self.probes,
            n_trials=noisy["n_trials"], n_realisations=noisy["n_realisations"],
            solvers=noisy["solvers"], amplitude=moment, environments=envs,
            seed=noisy["seed"], h_freq=_REC_H_FREQ, sfreq=_REC_SFREQ, cov_method=_REC_COV,
            dipole_conductor=noisy["dipole_conductor"],
            sensor_physics={a: built[a].kind != "nv" for a in arrays},
            coregistration=coreg or None)  # the worker computes the (believed) forwards
        self.pool = self.future = self.value = None
        if noisy["workers"] == 0:
            self.value = _localise(kwargs, mne.get_config("MNE_LOGGING_LEVEL"))
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # pickled here, now: the pool's feeder thread would pickle the head while this
        # thread goes on using (and caching into) it
        payload = pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL)
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.future = self.pool.submit(_localise, payload, mne.get_config("MNE_LOGGING_LEVEL"))

    def result(self) -> xr.Dataset:
        rec = self.value if self.future is None else self.future.result()
        return _with_probe_bounds(rec, self.head, self.src, self.built, self.arrays,
                                  self.moment, self.noisy, self.probes)

    def close(self):
        """Stop the worker (at once when the study stops early)."""
        if self.pool is None:
            return
        if self.future is not None and not self.future.done():
            procs = getattr(self.pool, "_processes", None) or {}
            for proc in [procs[k] for k in list(procs)]:
                try:
                    proc.terminate()
                except (OSError, ValueError):  # already gone
                    pass
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None


def _localise(kwargs, log_level):
    """The worker's part: one BLAS thread; the covariance warning about few samples is
    expected (shrinkage estimators are made for that case) and silenced. ``kwargs``: the
    arguments of ``localise_on_recordings``, or their pickle."""
    import warnings

    if isinstance(kwargs, bytes):
        kwargs = pickle.loads(kwargs)
    mne.set_log_level(log_level or "ERROR")
    with _blas_threads(1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Too few samples",
                                category=RuntimeWarning)
        return localise_on_recordings(**kwargs)


def _with_probe_bounds(rec, head, src, built, arrays, moment, noisy, probes):
    """The recordings' dataset with the Cramer-Rao bound at the probes for each trial
    count (white floors over the averaged evoked's bandwidth)."""
    ori = rec["probe_orientation"].values
    bound = np.full((len(arrays), len(probes), len(noisy["n_trials"])), np.nan)
    ok = np.zeros(bound.shape, bool)
    for a, name in enumerate(arrays):
        for t, n in enumerate(noisy["n_trials"]):
            b = dipole_localisation_bound(built[name], head, src.positions[probes],
                                          moment * ori, bandwidth=_REC_ENBW / n)
            bound[a, :, t] = b["rms"].values
            ok[a, :, t] = b["localisable"].values
    return rec.assign(crb=(("array", "probe", "n_trials"), bound), localisable=(
        ("array", "probe", "n_trials"), ok))


def _dataset(v) -> xr.Dataset:
    """The study's variables (``v``: the locals of :func:`_run`) as a Dataset."""
    arrays, src, head, moment = v["arrays"], v["src"], v["head"], v["moment"]
    n_src = len(src)
    frame = ("MNE head frame (x to the right preauricular point, y to the nasion, "
             "z up)")
    coords = {
        "array": ("array", list(arrays), {"units": "", "long_name": "sensor array"}),
        "array_label": ("array", [_LABELS[a] for a in arrays],
                        {"units": "", "long_name": "sensor array, in words"}),
        "n_channels": ("array", v["n_channels"], {"units": "1", "long_name": "channels"}),
        "noise_floor_mag": ("array", v["floors"][:, 0],
                            {"units": "T/sqrt(Hz)", "long_name": "white noise floor of the "
                             "channels measured in T (magnetometers, axial gradiometers; "
                             "median over channels; NaN: none)"}),
        "noise_floor_grad": ("array", v["floors"][:, 1],
                             {"units": "T/(m sqrt(Hz))", "long_name": "white noise floor of "
                              "the planar gradiometers (median over channels; NaN: none)"}),
        "dev_head_t": (("array", "row", "col"),
                       np.stack([np.asarray(v["built"][a].dev_head_t, float) for a in arrays]),
                       {"units": "m", "long_name": "device-to-head transform of the array "
                        "(4 x 4; the rotation is dimensionless, the translation in m)"}),
        "solver": ("solver", list(METHODS),
                   {"units": "", "long_name": "minimum-norm solver (MNE-Python's "
                    "apply_inverse method)"}),
        "source": ("source", np.arange(n_src, dtype=np.int64),
                   {"units": "1", "long_name": "cortical source index (left hemisphere "
                    "first)"}),
        "hemisphere": ("source", v["hemisphere"].astype(str),
                       {"units": "", "long_name": "cortical hemisphere (lh, rh)"}),
        "vertex": ("source", v["vertex"],
                   {"units": "1", "long_name": "fsaverage vertex number in its hemisphere "
                    "(qsense.sources.cortex(...).to_mne() vertno)"}),
        "depth": ("source", v["depth"], {"units": "m", "long_name": "depth below the inner "
                                         "skull"}),
        "superficial": ("source", np.isin(np.arange(n_src), v["superficial"]),
                        {"units": "1", "long_name": "superficial tangential source "
                         "(qsense.sources.superficial_tangential)"}),
    }
    for k, axis in enumerate("xyz"):
        coords[axis] = ("source", src.positions[:, k],
                        {"units": "m", "long_name": f"source position {axis}, {frame}"})
    data = {
        "snr": (("array", "source"), v["snr"],
                {"units": "1", "long_name": f"whitened field norm of a {moment * 1e9:g} nAm "
                 "dipole along the cortical normal"}),
        "information": (("array",), v["info_bits"],
                        {"units": "bit", "long_name": "total information per sample about "
                         "independent 1 nAm sources"}),
        "ple": (("array", "solver", "source"), v["ple"],
                {"units": "m", "long_name": "peak localisation error of the noiseless "
                 "point-spread function"}),
        "crb": (("array", "source"), v["crb"],
                {"units": "m", "long_name": "Cramer-Rao bound on the rms position error of "
                 "a dipole fit, on the study's conductor; NaN where not localisable (the "
                 "small-error regime fails) or silent"}),
        "localisable": (("array", "source"), v["localisable"],
                        {"units": "1", "long_name": "the Cramer-Rao bound holds: finite, "
                         "field nonlinear by at most MAX_NONLINEARITY over it "
                         "(inverse.cramer_rao.dipole_localisation_bound)"}),
    }
    conductor = head.conductor
    noisy = v["noisy"]
    extra_attrs = {"recordings": int(noisy["recordings"]), "seed": noisy["seed"],
                   "rooms": noisy["rooms"]}
    if v["rec"] is not None:
        rec = _rec_variables(v["rec"], v["src"], v["hemisphere"], v["vertex"],
                             v["superficial"])
        solvers = [s for s in SOLVERS if s in METHODS or s in rec["solver"].values]
        rec = rec.reindex(solver=solvers)  # NaN for the noiseless-only solvers
        data.update({k: (da.dims, da.values, da.attrs) for k, da in rec.data_vars.items()})
        coords.update({k: (c.dims, c.values, c.attrs) for k, c in rec.coords.items()
                       if k not in ("array", "solver")})
        extra_attrs.update(coreg_error_m=noisy["coreg_error"],
                           dipole_conductor=noisy["dipole_conductor"],
                           n_probes=noisy["n_probes"], n_trials=list(noisy["n_trials"]),
                           n_realisations=noisy["n_realisations"],
                           rec_settings=rec.attrs["settings"],
                           rec_crb="Cramer-Rao bound at the probe from the white floors "
                           f"alone over the low-pass's noise-equivalent bandwidth "
                           f"({_REC_ENBW:g} Hz) / n_trials: a lower bound (the room and "
                           "1/f noise only raise the achievable error)")
    else:
        solvers = list(METHODS)
    if v["rej"] is not None:
        rej = v["rej"]
        for name in ("shielding_factor", "predicted_shielding_factor", "signal_loss"):
            data[f"rejection_{name}"] = (("array",), rej[name].values, rej[name].attrs)
        coords["rejection_method"] = ("array", [str(m) for m in rej["method"].values],
                                      {"units": "", "long_name": "interference suppression "
                                       "(MNE's compute_proj_hfc on head-mounted arrays, "
                                       "maxwell_filter on helmets)"})
        extra_attrs.update(rejection_probe=int(rej.attrs["probe"]),
                           rejection_seconds=float(rej.attrs["duration_s"]),
                           rejection_rooms=str(rej.attrs["rooms"]))
    for name, cds in v["curve_sets"].items():
        d, c = _curve_variables(name, cds)
        data.update(d)
        coords.update(c)
        extra_attrs[f"curve_{name}_settings"] = "; ".join(
            f"{k}: {val}" for k, val in cds.attrs.items() if k not in ("title",))
    if v["iiv"] is not None:
        d, c = _iivanainen_variables(v["iiv"])
        data.update(d)
        coords.update(c)
        for k in ("citation", "setup", "differences"):
            extra_attrs[f"iivanainen_{k}"] = str(v["iiv"].attrs.get(k, ""))
    extra_attrs["curves"] = v["noisy"]["curves"]
    coords["solver"] = ("solver", solvers, coords["solver"][2])
    ple = np.full((len(arrays), len(solvers), n_src), np.nan)
    for k, s in enumerate(METHODS):
        ple[:, solvers.index(s)] = v["ple"][:, k]
    data["ple"] = (data["ple"][0], ple, dict(data["ple"][2], long_name=(
        "peak localisation error of the noiseless point-spread function (MNE, dSPM, "
        "sLORETA; NaN for the other solvers)")))
    return xr.Dataset(
        data, coords=coords,
        attrs={"title": "qsense comparison study", "head": head.name,
               "conductor": conductor.name,
               **({"bem_ico": int(conductor.ico)} if hasattr(conductor, "ico") else {}),
               "spacing": v["spacing"], "n_opm": v["n_opm"],
               "bandwidth_Hz": v["bandwidth"], "moment_Am": moment,
               "lambda2": v["lambda2"],
               "inverse": "MNE make_inverse_operator, loose 0.2, depth 0.8, diagonal noise "
               "covariance", "frame": frame,
               "sources": "fsaverage5 white-surface vertices (nilearn), along their normals",
               "opm_sensor": v["opm_sensor"], "nv_sensor": v["nv_sensor"],
               **extra_attrs,
               "qsense_version": qs.__version__, "mne_version": mne.__version__})


_REC_RENAME = {"error": "rec_error", "dispersion": "rec_dispersion",
               "correlation": "rec_correlation", "position": "rec_position", "snr": "rec_snr",
               "lambda2": "rec_lambda2", "seed": "rec_seed", "crb": "rec_crb",
               "localisable": "rec_localisable"}


def _rec_variables(rec, src, hemisphere, vertex, superficial):
    """The recordings' dataset with the study's names: ``rec_*`` variables; probes
    described by ``probe_*`` coordinates (``probe`` holds the study's source index)."""
    rec = rec.drop_vars([c for c in ("noise_floor", "n_channels") if c in rec.coords])
    rec = rec.rename({k: n for k, n in _REC_RENAME.items() if k in rec})
    p = rec["probe"].values
    rec = rec.assign_coords(
        probe=("probe", p, {"units": "1", "long_name": "probe: index of its source along "
                            "'source'"}),
        probe_hemisphere=("probe", hemisphere[p].astype(str),
                          {"units": "", "long_name": "probe's hemisphere"}),
        probe_vertex=("probe", vertex[p], {"units": "1",
                                           "long_name": "probe's fsaverage vertex number"}),
        probe_superficial=("probe", np.isin(p, superficial),
                           {"units": "1", "long_name": "probe is superficial and "
                            "tangential"}))
    rec["rec_crb"].attrs.update(units="m", long_name="Cramer-Rao bound on the rms error of "
                                "the dipole fit at the probe (white floors, the averaged "
                                "evoked's bandwidth; see attrs rec_crb)")
    rec["rec_localisable"].attrs.update(units="1", long_name="the bound rec_crb holds")
    return rec


def select_source(ds: xr.Dataset, hemisphere: str, vertex) -> xr.Dataset:
    """The study (or any object with the study's ``source`` coordinates) at sources
    named by hemisphere and fsaverage vertex number.

    Equivalent to ``ds.where((ds.hemisphere == hemisphere) & (ds.vertex == vertex),
    drop=True)`` for one vertex, without turning integers into floats.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        With the coordinates ``hemisphere`` and ``vertex`` along ``source``.
    hemisphere : {"lh", "rh"}
    vertex : int or sequence of int
        fsaverage vertex numbers (``ds.vertex`` lists those present).

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        Without the ``source`` dimension for one vertex; along ``source`` in the order
        given for a sequence.
    """
    if not isinstance(ds, xr.Dataset | xr.DataArray):
        raise TypeError(f"ds must be an xarray Dataset or DataArray, got {type(ds).__name__}")
    for name in ("hemisphere", "vertex"):
        if name not in ds.coords or ds.coords[name].dims != ("source",):
            raise ValueError(f"ds has no coordinate {name!r} along 'source' (made by "
                             "inverse.study.compare?)")
    if hemisphere not in ("lh", "rh"):
        raise ValueError(f"hemisphere must be 'lh' or 'rh', got {hemisphere!r}")
    one = np.ndim(vertex) == 0
    wanted = np.atleast_1d(np.asarray(vertex))
    if wanted.size == 0 or wanted.ndim != 1 or not all(
            isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in wanted.tolist()):
        raise ValueError(f"vertex must be a whole number or a sequence of them, got {vertex!r}")
    hemi = ds.coords["hemisphere"].values
    vert = ds.coords["vertex"].values
    index = []
    for w in wanted.tolist():
        hit = np.flatnonzero((hemi == hemisphere) & (vert == w))
        if hit.size == 0:
            have = vert[hemi == hemisphere]
            span = f"{have.min()}..{have.max()}" if have.size else "none"
            raise ValueError(f"vertex {w} of hemisphere {hemisphere!r} is not among the "
                             f"sources (those of {hemisphere}: {have.size} vertices, "
                             f"{span})")
        index.append(int(hit[0]))
    return ds.isel(source=index[0] if one else index)
