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
import numbers
import os
import threading

import mne
import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number

from ._progress import Stages
from .cramer_rao import rms_bounds
from .information import information_bits
from .localisation import METHODS, peak_localisation_error

__all__ = ["compare", "plan", "select_source", "Stages", "ARRAY_NAMES", "SPACINGS",
           "BEM_ICOS", "N_OPM_RANGE", "BANDWIDTH_RANGE", "MOMENT_RANGE", "LAMBDA2_RANGE"]

ARRAY_NAMES = ("opm", "nv", "neuromag306", "ctf275")
SPACINGS = ("ico2", "ico3", "ico4")
BEM_ICOS = (3, 4, 5)  # subdivision of the inner skull in the BEM (Head.fsaverage)
N_OPM_RANGE = (8, 512)  # sensors in the OPM and NV arrays
BANDWIDTH_RANGE = (1e-6, 1e5)  # noise bandwidth of one sample, Hz
MOMENT_RANGE = (1e-12, 1e-5)  # dipole moment, A m
LAMBDA2_RANGE = (1e-6, 1e6)  # regularisation of the minimum-norm estimates
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


def plan(*, spacing="ico4", arrays=ARRAY_NAMES, n_opm=64, bem_ico=None, head=None):
    """The stages of :func:`compare` and their estimated durations.

    Parameters
    ----------
    spacing, arrays, n_opm, bem_ico, head
        As for :func:`compare` (not checked here).

    Returns
    -------
    list of (key, label, seconds)
        For :class:`Stages`: ``bem`` (without ``head``), ``sources``, per array
        ``lead field NAME``, ``solvers NAME``, ``snr NAME`` (and ``helmets`` before the
        first helmet's), then ``bounds``. The estimates assume 2 cores and look at the
        caches (a BEM built on a first run, JAX kernels compiled on a first run).
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
        if a in _HELMETS and not any(k == "helmets" for k, _, _ in out):
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
                2.5e-7 * points * n_src + (_COMPILE["bounds"] if cold else 0.0)))
    return out


# --- the study -------------------------------------------------------------------------------

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


def compare(*, spacing: str = "ico4", arrays=ARRAY_NAMES, n_opm: int = 64,
            opm_sensor: str = "quspin_gen2", nv_sensor: str = "nv_flux_concentrator",
            bandwidth: float = 1.0, moment: float = 20e-9, lambda2: float = 1 / 9,
            bem_ico: int | None = None, head: qs.Head | None = None,
            progress=False) -> xr.Dataset:
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
    progress = _check_progress(progress)
    stages = progress if isinstance(progress, Stages) else Stages(
        plan(spacing=spacing, arrays=arrays, n_opm=n_opm, bem_ico=bem_ico, head=head),
        enabled=progress, desc="inverse.study.compare")
    try:
        ds = _run(stages, spacing, arrays, n_opm, opm_sensor, nv_sensor, bandwidth, moment,
                  lambda2, bem_ico, head)
    except BaseException:
        if stages is not progress:
            stages.close(complete=False)
        raise
    if stages is not progress:
        stages.close()
    return ds


def _run(stages, spacing, arrays, n_opm, opm_sensor, nv_sensor, bandwidth, moment, lambda2,
         bem_ico, head):
    # the study's bound (rms_bounds) is the sphere's: the head's own where it is one,
    # else the sphere fitted to the same inner skull (the same scalp: it seats the helmets)
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
    n_channels = np.empty(n_arr, dtype=np.int64)
    floors = np.empty((n_arr, 2))
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
    with stages.stage("bounds"):  # all arrays in one call: the kernel compiles once
        crb[:, seen] = rms_bounds([built[a] for a in arrays], sphere, src.positions[seen],
                                  moment * src.normals[seen],
                                  [np.asarray(built[a].noise) * np.sqrt(bandwidth)
                                   for a in arrays])
    return _dataset(locals())


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
                {"units": "m", "long_name": "Cramer-Rao bound on the rms position error "
                 "(fitted sphere; NaN where silent)"}),
    }
    conductor = head.conductor
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
               "qsense_version": qs.__version__, "mne_version": mne.__version__})


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
