"""Fair-comparison curves: sensor technology apart from channel count and noise floor.

The comparison study (:mod:`inverse.study`) puts 64 radial OPMs beside the Neuromag 306
and CTF 275 helmets, so technology is confounded with the number of channels and the
noise floor. These curves separate them, on the same head and sources, with the
noiseless (analytic) metrics of the study:

- :func:`channel_count_curve`: on-scalp OPM arrays of several sizes and axis sets at one
  fixed white floor, with Kernel Flux and the SQUID helmets as reference points at their
  own channel counts;
- :func:`noise_floor_curve`: one OPM array over a range of white floors (QuSpin's
  Gen-2 specification: typically 7-10 fT/sqrt(Hz), at most 15), the helmets at their
  preset floors as reference lines;
- :func:`nv_standoff_curve`: flux-concentrator NV sensors against their standoff, as
  point magnetometers and with the concentrator's spatial averaging
  (:func:`qsense.nv.flux_concentrator_points`).

Metrics per configuration (``config``) and cortical source (``source``):

- ``snr``: the whitened field norm ``moment * sqrt(sum_c (g_c / sigma_c)^2)`` of a
  dipole along the cortical normal, ``sigma_c = floor_c * sqrt(bandwidth)``;
- ``information``: total information (bits per sample, :mod:`inverse.information`)
  about independent 1 nAm sources, the study's convention, which grows with the source
  density (ico-3 to ico-4: +40 % here);
- ``information_per_area``: the same with each source's variance proportional to the
  cortical area it stands for (:func:`cortical_patch_areas`), ``q0^2 * area``: the
  cortex as a sheet of independent current elements, so that refining the source space
  leaves the information nearly unchanged (see :data:`Q0`);
- ``crb_*``: the Cramer-Rao bound on the dipole position on the head's own conductor
  (the fsaverage BEM by default) at a seeded subset of ``crb_sources`` sources, with
  the validity flag of :func:`inverse.cramer_rao.dipole_localisation_bound`
  (``localisable``); ``crb_median`` is the median over the subset with the sources
  whose bound is not valid counted as unlocalisable (inf), ``crb_localisable_fraction``
  the fraction valid.

Each result is an ``xarray.Dataset`` with dimensions ``config`` and ``source`` (and
``crb_source``), ``units`` and ``long_name`` on every variable and coordinate, and the
study's source coordinates (``hemisphere``, ``vertex``, ``x``, ``y``, ``z``). The three
curves share the dimension names, so store each in its own NetCDF group
(``ds.to_netcdf(path, group="channel_count", mode="a")``).
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number, check_same_head
from qsense.sensors.nv import FLUX_CONCENTRATOR

from .cramer_rao import MAX_NONLINEARITY, padded_bounds
from .information import information_bits

__all__ = ["channel_count_curve", "noise_floor_curve", "nv_standoff_curve",
           "cortical_patch_areas", "information_per_area", "Q0", "COUNT_RANGE",
           "FLOOR_RANGE", "REFERENCES", "QUICK", "CONCENTRATOR"]

COUNT_RANGE = (8, 512)  # on-scalp sensors per array
FLOOR_RANGE = (1e-16, 1e-11)  # white noise floors, T/sqrt(Hz)
REFERENCES = ("kernel_flux", "neuromag306", "ctf275")
_HELMETS = ("neuromag306", "ctf275")
_LABELS = {"kernel_flux": "Kernel Flux", "neuromag306": "Neuromag 306",
           "ctf275": "CTF 275"}

Q0 = 1.6e-7
"""Default ``q0``, A m / m: the standard deviation of the dipole moment of a cortical
patch is ``q0 * sqrt(area)``. Assumption: a peak current-dipole moment density of
0.16 nAm/mm^2 (the low end of the 0.16-0.77 nAm/mm^2 measured across structures and
species by Murakami and Okada 2015, NeuroImage 111:49), coherent over 1 mm^2 (about a
cortical column, 0.3-0.6 mm across; Mountcastle 1997, Brain 120:701) and independent
beyond: ``0.16 nAm/mm^2 * 1 mm^2`` per ``sqrt(1 mm^2)`` = 0.16 nAm/mm = 1.6e-7 A m/m.
An ico-3 source (about 1.3 cm^2) then has a standard deviation of about 1.8 nAm. The
information depends on ``q0`` only through ``log(1 + q0^2 ...)``."""

CONCENTRATOR = dict(FLUX_CONCENTRATOR)
"""Flux-concentrator geometry for :func:`nv_standoff_curve`, m: the ``nv_flux_concentrator``
preset's (:data:`qsense.sensors.nv.FLUX_CONCENTRATOR`; cone height, base diameter, gap
and housing wall are assumptions). The NV membrane sits ``wall + cone_height + gap / 2``
= 6.0 mm from the scalp at the closest."""

QUICK = {
    "channel_count_curve": {"counts": (32, 64, 128), "axes": ("radial", "triaxial"),
                            "crb_sources": 0},
    "noise_floor_curve": {"crb_sources": 0},
    "nv_standoff_curve": {"standoffs": (6.025e-3, 10e-3, 20e-3), "n_sensors": 32},
}
"""Reduced settings (``channel_count_curve(head, src, **QUICK["channel_count_curve"])``)
for a quick run: fewer configurations and no bounds."""


# --- checks ----------------------------------------------------------------------------------

def _check_head_sources(head, sources):
    if head is None:
        head = qs.Head.fsaverage()
    if not isinstance(head, qs.Head):
        raise TypeError(f"head must be a qsense.Head, got {type(head).__name__}")
    if sources is None:
        sources = qs.sources.cortex(head, "ico3")
    if not isinstance(sources, qs.sources.SourceSpace) or sources.normals is None:
        raise ValueError(f"sources must be a qsense SourceSpace with normals (a cortex, "
                         f"qsense.sources.cortex), got {sources!r}")
    check_same_head("sources", sources, head)
    return head, sources


def _check_sequence(name, value, allowed=None):
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise ValueError(f"{name} must be a sequence, got {value!r}")
    value = tuple(value)
    if not value:
        raise ValueError(f"{name} must not be empty")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must hold distinct values, got {value!r}")
    if allowed is not None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ValueError(f"{name} must hold values from {tuple(allowed)}, got {bad!r}")
    return value


def _check_common(bandwidth, moment, q0, crb_sources, seed):
    bandwidth = check_number("bandwidth", bandwidth, low=1e-6, high=1e5, unit="Hz")
    moment = check_number("moment", moment, low=1e-12, high=1e-5, unit="A m")
    q0 = check_number("q0", q0, low=0.0, low_open=True, high=1e-3, unit="A m / m")
    crb_sources = check_int("crb_sources", crb_sources, low=0, high=10000)
    seed = check_int("seed", seed, low=0)
    return bandwidth, moment, q0, crb_sources, seed


# --- cortical areas and the per-area information ----------------------------------------------

def cortical_patch_areas(sources) -> np.ndarray:
    """Cortical area each source stands for, m^2.

    Every vertex of the full cortical mesh is given to its nearest source along the
    surface (MNE's patch information, ``mne.add_source_space_distances`` with
    ``dist_limit=0``), and carries a third of the area of the triangles around it (the
    barycentric dual area), so the patches tile the mesh: their sum is its area.

    Parameters
    ----------
    sources : qsense.sources.SourceSpace
        A cortex (:func:`qsense.sources.cortex`): MNE surface source spaces with their
        full mesh.

    Returns
    -------
    ndarray, shape (n_sources,)
        Area of each source's patch on the white surface, m^2, in the order of the
        sources.
    """
    import mne

    spaces = getattr(sources, "mne_src", None)
    if spaces is None or any(s.get("type") != "surf" or s.get("tris") is None
                             for s in spaces):
        raise ValueError("sources must be a cortex with its surface mesh "
                         "(qsense.sources.cortex) to give each source a cortical area")
    spaces = sources.to_mne()
    mne.add_source_space_distances(spaces, dist_limit=0, verbose=False)
    out = []
    for s in spaces:
        rr, tris = s["rr"], s["tris"]
        tri_area = 0.5 * np.linalg.norm(np.cross(rr[tris[:, 1]] - rr[tris[:, 0]],
                                                 rr[tris[:, 2]] - rr[tris[:, 0]]), axis=1)
        vert_area = np.zeros(len(rr))
        for k in range(3):
            np.add.at(vert_area, tris[:, k], tri_area / 3.0)
        out.append([vert_area[p].sum() for p in s["pinfo"]])
    areas = np.concatenate(out)
    if len(areas) != len(sources):
        raise RuntimeError("the patches do not match the sources")
    return areas


def information_per_area(gain, noise_var, areas, q0: float = Q0) -> float:
    """Total information about cortical sources whose variance is ``q0^2 * area``.

    Parameters
    ----------
    gain : array_like, shape (n_channels, n_sources)
        Lead field along the source normals, T/(A m).
    noise_var : array_like, shape (n_channels,)
        Channel noise variances, T^2.
    areas : array_like, shape (n_sources,)
        Cortical area of each source, m^2 (:func:`cortical_patch_areas`).
    q0 : float
        A m / m (see :data:`Q0`).

    Returns
    -------
    float
        Bits per sample.
    """
    q0 = check_number("q0", q0, low=0.0, low_open=True, high=1e-3, unit="A m / m")
    areas = np.asarray(areas, float)
    if areas.ndim != 1 or not np.all(np.isfinite(areas)) or np.any(areas <= 0):
        raise ValueError("areas must be a vector of finite areas > 0 (m^2)")
    if np.any(areas > 1e-2):
        raise ValueError(f"areas must be in m^2; the largest is {areas.max():g} m^2 (a "
                         "hemisphere's cortex is about 0.1 m^2). Were mm^2 passed?")
    return information_bits(gain, noise_var, q0**2 * areas)[0]


# --- the pieces shared by the curves ---------------------------------------------------------

def _gain(head, src, points, normals, weights):
    """Lead field along the source normals, (n_channels, n_sources), from coil points."""
    from qsense.coils import CoilPoints

    n_ch, n_pts = weights.shape
    keep = weights.ravel() != 0
    cp = CoilPoints(points.reshape(-1, 3)[keep], normals.reshape(-1, 3)[keep],
                    weights.ravel()[keep], np.repeat(np.arange(n_ch), n_pts)[keep], n_ch)
    lf = head.conductor.leadfield_kernel(cp, src.positions)(np.arange(len(src)))
    return np.einsum("csk,sk->cs", lf, src.normals)


def _array_gain(arr, head, src):
    lf = qs.leadfield(arr, head, src).values
    return np.einsum("csk,sk->cs", lf, src.normals)


def _crb_subset(head, src, n, seed):
    """Indices of ``n`` sources (seeded), visible to the conductor (not near-radial in a
    sphere, where radial dipoles are silent)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ok = np.ones(len(src), bool)
    origin = getattr(head.conductor, "origin", None)
    if origin is not None:
        out = src.positions - np.asarray(origin)
        cos = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
        ok = cos < np.cos(np.deg2rad(3.0))
    pool = np.flatnonzero(ok)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def _source_coords(src, areas):
    hemi_ids = {101: "lh", 102: "rh"}
    spaces = src.mne_src
    if spaces is not None and len(spaces) and spaces[0].get("type") == "surf":
        hemi = np.concatenate([[hemi_ids.get(int(s["id"]), "")] * len(s["vertno"])
                               for s in spaces])
        vertex = np.concatenate([np.asarray(s["vertno"], np.int64) for s in spaces])
    else:
        hemi = np.full(len(src), "")
        vertex = np.arange(len(src), dtype=np.int64)
    frame = "MNE head frame"
    coords = {
        "source": ("source", np.arange(len(src), dtype=np.int64),
                   {"units": "1", "long_name": "cortical source index (left hemisphere "
                    "first)"}),
        "hemisphere": ("source", hemi.astype(str),
                       {"units": "", "long_name": "cortical hemisphere (lh, rh)"}),
        "vertex": ("source", vertex, {"units": "1", "long_name": "fsaverage vertex number "
                                      "in its hemisphere"}),
        "area": ("source", areas, {"units": "m^2", "long_name": "cortical area the source "
                                   "stands for (white surface)"}),
    }
    for k, axis in enumerate("xyz"):
        coords[axis] = ("source", src.positions[:, k],
                        {"units": "m", "long_name": f"source position {axis}, {frame}"})
    return coords


def _bits(white, var):
    """``information_bits`` of an already whitened gain (channels, sources) for source
    variances ``var``, from the eigenvalues of the smaller Gram matrix (``eigvalsh`` of
    at most 768 x 768 instead of an SVD of 768 x 1284: 50 times faster here). The Gram
    matrix squares the condition number, but an eigenvalue's absolute error (about
    1e-16 of the largest) changes ``log2(1 + lambda)`` by less than 1e-9 bit."""
    a = white * np.sqrt(var)[None, :]
    gram = a @ a.T if a.shape[0] <= a.shape[1] else a.T @ a
    eig = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    return float(0.5 * np.sum(np.log2(1.0 + eig)))


def _metrics(gain, std, moment, areas, q0):
    white = gain / std[:, None]
    snr = moment * np.linalg.norm(white, axis=0)
    info = _bits(white, np.full(gain.shape[1], (1e-9) ** 2))
    info_area = _bits(white, q0**2 * areas)
    return snr, info, info_area


def _floors(arr):
    """Median white floor of the channels in T and of the planar gradiometers (NaN)."""
    noise = np.asarray(arr.noise, float)
    planar = np.asarray(arr.is_planar_gradiometer, bool)
    return (float(np.median(noise[~planar])) if np.any(~planar) else np.nan,
            float(np.median(noise[planar])) if np.any(planar) else np.nan)


def _dataset(rows, src, areas, crb_idx, attrs, *, config_long_name):
    """rows: list of dicts (one per configuration) -> Dataset."""
    n = len(rows)
    coords = {
        "config": ("config", [r["config"] for r in rows],
                   {"units": "", "long_name": config_long_name}),
        "label": ("config", [r["label"] for r in rows],
                  {"units": "", "long_name": "configuration, in words"}),
        "kind": ("config", [r["kind"] for r in rows],
                 {"units": "", "long_name": "sensor family (opm, nv, squid)"}),
        "axes": ("config", [r["axes"] for r in rows],
                 {"units": "", "long_name": "measured field components of the on-scalp "
                  "sensors (radial, tangential, dual, triaxial; helmet: the SQUID "
                  "helmet's own)"}),
        "reference": ("config", np.array([r["reference"] for r in rows], bool),
                      {"units": "1", "long_name": "reference array at its own channel "
                       "count (not a point of the curve)"}),
        "n_sensors": ("config", np.array([r["n_sensors"] for r in rows], np.int64),
                      {"units": "1", "long_name": "sensor locations"}),
        "n_channels": ("config", np.array([r["n_channels"] for r in rows], np.int64),
                       {"units": "1", "long_name": "channels"}),
        "noise_floor_mag": ("config", np.array([r["floors"][0] for r in rows]),
                            {"units": "T/sqrt(Hz)", "long_name": "white noise floor of the "
                             "channels measured in T (median; NaN: none)"}),
        "noise_floor_grad": ("config", np.array([r["floors"][1] for r in rows]),
                             {"units": "T/(m sqrt(Hz))", "long_name": "white noise floor of "
                              "the planar gradiometers (median; NaN: none)"}),
        "crb_source": ("crb_source", np.asarray(crb_idx, np.int64),
                       {"units": "1", "long_name": "index along source of the sources "
                        "whose Cramer-Rao bound was computed (seeded subset)"}),
        **_source_coords(src, areas),
    }
    for extra in ("standoff", "model"):
        if extra in rows[0]:
            coords[extra] = ("config", np.array([r[extra] for r in rows]), rows[0][
                f"{extra}_attrs"])
    moment = attrs["moment_Am"]
    k = len(crb_idx)
    crb = np.array([r.get("crb", np.full(k, np.nan)) for r in rows]).reshape(n, k)
    crb_ok = np.array([r.get("crb_ok", np.zeros(k, bool)) for r in rows]).reshape(n, k)
    # median with the sources whose bound is not valid counted as unlocalisable (inf):
    # a median over the valid ones only would improve as the noise drops them
    crb_med = (np.median(np.where(crb_ok, crb, np.inf), axis=1) if k
               else np.full(n, np.nan))
    frac = crb_ok.mean(axis=1) if k else np.full(n, np.nan)
    data = {
        "snr": (("config", "source"), np.array([r["snr"] for r in rows]),
                {"units": "1", "long_name": f"whitened field norm of a {moment * 1e9:g} nAm "
                 "dipole along the cortical normal"}),
        "snr_median": (("config",), np.median([r["snr"] for r in rows], axis=1),
                       {"units": "1", "long_name": "median over the sources of snr"}),
        "information": (("config",), np.array([r["info"] for r in rows]),
                        {"units": "bit", "long_name": "total information per sample about "
                         "independent 1 nAm sources (grows with the source density)"}),
        "information_per_area": (("config",), np.array([r["info_area"] for r in rows]),
                                 {"units": "bit", "long_name": "total information per "
                                  "sample, source variance q0^2 x cortical area"}),
        "crb": (("config", "crb_source"), crb,
                {"units": "m", "long_name": "Cramer-Rao bound on the rms position error "
                 "(head's conductor; NaN: not computed)"}),
        "crb_localisable": (("config", "crb_source"), crb_ok,
                            {"units": "1", "long_name": "bound valid (finite, nonlinearity "
                             f"<= {MAX_NONLINEARITY:g})"}),
        "crb_median": (("config",), crb_med,
                       {"units": "m", "long_name": "median Cramer-Rao bound over the "
                        "subset, sources whose bound is not valid counted as inf (NaN: "
                        "not computed)"}),
        "crb_localisable_fraction": (("config",), frac,
                                     {"units": "1", "long_name": "fraction of the subset "
                                      "whose bound is valid"}),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _attrs(head, src, bandwidth, moment, q0, seed, **extra):
    conductor = head.conductor
    return {"head": head.name, "conductor": conductor.name,
            **({"bem_ico": int(conductor.ico)} if hasattr(conductor, "ico") else {}),
            "spacing": src.spacing, "bandwidth_Hz": bandwidth, "moment_Am": moment,
            "q0_Am_per_m": q0, "seed": seed,
            "q0_assumption": "source variance q0^2 x cortical area; q0 from 0.16 nAm/mm^2 "
            "(Murakami and Okada 2015) coherent over 1 mm^2 (assumption)",
            "qsense_version": qs.__version__, **extra}


def _check_prebuilt(prebuilt):
    if prebuilt is None:
        return {}
    if not isinstance(prebuilt, dict):
        raise TypeError(f"prebuilt must be a dict of name -> qsense.SensorArray, got "
                        f"{prebuilt!r}")
    bad = sorted(set(prebuilt) - set(REFERENCES))
    if bad:
        raise ValueError(f"prebuilt has unknown names {bad}; allowed: {REFERENCES}")
    wrong = [k for k, v in prebuilt.items() if not isinstance(v, qs.SensorArray)]
    if wrong:
        raise TypeError(f"prebuilt[{wrong[0]!r}] must be a qsense.SensorArray, got "
                        f"{type(prebuilt[wrong[0]]).__name__}")
    return prebuilt


def _reference_arrays(head, include, prebuilt):
    """The reference arrays: from ``prebuilt`` (name -> SensorArray, e.g. the helmets the
    study seated) or built on ``head`` (seating a helmet takes seconds)."""
    prebuilt = _check_prebuilt(prebuilt)
    out = {}
    for name in include:
        out[name] = prebuilt[name] if name in prebuilt else getattr(qs.arrays, name)(head)
    return out


def _reference_row(name, arr, head, src, bandwidth, moment, areas, q0, floor=None):
    std = np.asarray(arr.noise, float) if floor is None else np.full(arr.n_channels, floor)
    std = std * np.sqrt(bandwidth)
    gain = _array_gain(arr, head, src)
    snr, info, info_area = _metrics(gain, std, moment, areas, q0)
    floors = _floors(arr) if floor is None else (float(floor), np.nan)
    helmet = name in _HELMETS
    return {"config": name, "label": _LABELS[name], "kind": "squid" if helmet else "opm",
            "axes": "helmet" if helmet else "radial", "reference": True,
            "n_sensors": int(arr.n_sensors), "n_channels": int(arr.n_channels),
            "floors": floors, "snr": snr, "info": info, "info_area": info_area,
            "_geometry": arr.coil_geometry("accurate"), "_std": std / np.sqrt(bandwidth)}


def _add_bounds(rows, head, src, crb_idx, moment, bandwidth):
    if len(crb_idx) == 0:
        return
    pos = src.positions[crb_idx]
    q = moment * src.normals[crb_idx]
    n_points = max(r["_geometry"][2].shape[1] for r in rows)
    # group rows that share a geometry (the same array at several floors)
    groups = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("_geometry_key", i), []).append(i)
    geometry = [rows[g[0]]["_geometry"] for g in groups.values()]
    stds = [[rows[i]["_std"] * np.sqrt(bandwidth) for i in g] for g in groups.values()]
    rms, ok = padded_bounds(head, geometry, pos, q, stds, n_points)
    for g, r_list, o_list in zip(groups.values(), rms, ok, strict=True):
        for i, r, o in zip(g, r_list, o_list, strict=True):
            rows[i]["crb"], rows[i]["crb_ok"] = r, o


# --- the curves ------------------------------------------------------------------------------

def channel_count_curve(head: qs.Head | None = None, sources=None, *,
                        counts=(32, 64, 128, 256), axes=("radial", "dual", "triaxial"),
                        opm_sensor: str = "quspin_gen3_triaxial",
                        noise_floor: float = 15e-15, bandwidth: float = 1.0,
                        moment: float = 20e-9, include=REFERENCES, prebuilt=None,
                        q0: float = Q0, crb_sources: int = 16,
                        seed: int = 0) -> xr.Dataset:
    """The metrics against the number of on-scalp OPM channels, at one noise floor.

    For each count and axis set, ``count`` OPMs on the scalp lattice of
    :func:`qsense.arrays.opm_on_scalp` (``opm_sensor``'s coil and standoff) reading
    ``axes``; every OPM channel, and Kernel Flux, at the same white floor
    ``noise_floor`` so that only the channel count and the axes change. The axis sets of
    one count share the lattice: the radial and dual arrays are channels of the
    triaxial one, whose lead field is computed once. The SQUID helmets (``include``)
    keep their preset floors: reference points at their own channel count.

    Parameters
    ----------
    head : qsense.Head, optional
        Default ``qsense.Head.fsaverage()`` (BEM).
    sources : qsense.sources.SourceSpace, optional
        A cortex; default ``qsense.sources.cortex(head, "ico3")`` (1284 sources).
    counts : sequence of int
        Sensors per on-scalp array, each in ``COUNT_RANGE`` (8-512).
    axes : sequence of {"radial", "tangential", "dual", "triaxial"}
    opm_sensor : str
        OPM preset whose coil and standoff the arrays use; it must support every axis
        set (``"quspin_gen3_triaxial"``, ``"point"``).
    noise_floor : float
        White floor of every OPM channel, T/sqrt(Hz) (default 15 fT/sqrt(Hz), the
        QuSpin Gen-2 and Gen-3 dual-axis specification; Boto et al. 2022, NeuroImage
        252:119027).
    bandwidth : float
        Noise bandwidth of one sample, Hz.
    moment : float
        Dipole moment for ``snr`` and the bound, A m (default 20 nAm).
    include : sequence of {"kernel_flux", "neuromag306", "ctf275"}
        Reference arrays (may be empty).
    prebuilt : dict, optional
        Reference arrays already built on ``head`` (name -> SensorArray), e.g. the
        helmets the study seated; the others are built here.
    q0 : float
        Source amplitude per square root of cortical area, A m / m (:data:`Q0`).
    crb_sources : int
        Sources (a seeded subset) at which the bound is computed; 0 skips it.
    seed : int
        Seed of that subset.

    Returns
    -------
    xarray.Dataset
        Dimensions ``config`` (``opm_{count}_{axes}`` in the order of ``counts`` then
        ``axes``, then the references), ``source`` and ``crb_source``; see the module
        docstring.
    """
    head, src = _check_head_sources(head, sources)
    counts = _check_sequence("counts", counts)
    counts = tuple(check_int("counts", c, low=COUNT_RANGE[0], high=COUNT_RANGE[1])
                   for c in counts)
    axes = _check_sequence("axes", axes, qs.arrays.AXES)
    include = tuple(include) if not isinstance(include, str) else include
    if isinstance(include, str):
        raise ValueError(f"include must be a sequence of names from {REFERENCES}, got "
                         f"the string {include!r}")
    bad = [a for a in include if a not in REFERENCES]
    if bad or len(set(include)) != len(include):
        raise ValueError(f"include must hold distinct names from {REFERENCES}, got "
                         f"{include!r}")
    opm_names = qs.sensors.preset_names("opm")
    if not isinstance(opm_sensor, str) or opm_sensor not in opm_names:
        raise ValueError(f"opm_sensor must be one of {opm_names}, got {opm_sensor!r}")
    preset = qs.sensors.get_preset(opm_sensor)
    missing = [a for a in axes if a not in preset.axes]
    if missing:
        raise ValueError(f"axes {missing!r} are not supported by opm_sensor="
                         f"{opm_sensor!r} (it supports {preset.axes})")
    noise_floor = check_number("noise_floor", noise_floor, low=FLOOR_RANGE[0],
                               high=FLOOR_RANGE[1], unit="T/sqrt(Hz)")
    bandwidth, moment, q0, crb_sources, seed = _check_common(bandwidth, moment, q0,
                                                             crb_sources, seed)
    _check_prebuilt(prebuilt)
    areas = cortical_patch_areas(src)
    std1 = noise_floor * np.sqrt(bandwidth)
    # channels of a dual or triaxial sensor: R, T (polar), T2 (azimuthal); the axis sets
    # it holds are picked from it, any other is built on its own
    picks = {"radial": (0,), "tangential": (1,), "dual": (0, 1), "triaxial": (0, 1, 2)}
    full = next((a for a in ("triaxial", "dual") if a in preset.axes), None)
    holds = {"triaxial": set(picks), "dual": {"radial", "tangential", "dual"}, None: set()}
    rows = []
    for n in counts:
        built = {}
        if full is not None and any(a in holds[full] for a in axes):
            arr = qs.arrays.opm_on_scalp(head, n, full, sensor=preset)
            built[full] = (arr, _array_gain(arr, head, src), arr.coil_geometry("accurate"))
        for a in axes:
            if a in holds[full]:
                arr, gain, geometry = built[full]
                per = arr.n_channels // n
                rows_idx = np.sort(np.concatenate([np.arange(n) * per + k for k in picks[a]]))
            else:
                arr = qs.arrays.opm_on_scalp(head, n, a, sensor=preset)
                gain, geometry = _array_gain(arr, head, src), arr.coil_geometry("accurate")
                rows_idx = np.arange(arr.n_channels)
            g = gain[rows_idx]
            std = np.full(len(rows_idx), std1)
            snr, info, info_area = _metrics(g, std, moment, areas, q0)
            rows.append({"config": f"opm_{n}_{a}", "label": f"{n} {a} OPMs", "kind": "opm",
                         "axes": a, "reference": False, "n_sensors": n,
                         "n_channels": len(rows_idx), "floors": (noise_floor, np.nan),
                         "snr": snr, "info": info, "info_area": info_area,
                         "_geometry": tuple(x[rows_idx] for x in geometry),
                         "_std": np.full(len(rows_idx), noise_floor)})
    for name, arr in _reference_arrays(head, include, prebuilt).items():
        rows.append(_reference_row(name, arr, head, src, bandwidth, moment, areas, q0,
                                   floor=noise_floor if name == "kernel_flux" else None))
    crb_idx = _crb_subset(head, src, crb_sources, seed)
    _add_bounds(rows, head, src, crb_idx, moment, bandwidth)
    attrs = _attrs(head, src, bandwidth, moment, q0, seed, title="channel-count curve",
                   opm_sensor=preset.name, opm_noise_floor=noise_floor,
                   note="every OPM channel and Kernel Flux at opm_noise_floor; the SQUID "
                   "helmets at their preset floors")
    return _dataset(rows, src, areas, crb_idx, attrs,
                    config_long_name="configuration (opm_COUNT_AXES, or a reference array)")


def noise_floor_curve(head: qs.Head | None = None, sources=None, *,
                      floors=(7e-15, 10e-15, 15e-15), n_opm: int = 64,
                      axes: str = "radial", opm_sensor: str = "quspin_gen2",
                      bandwidth: float = 1.0, moment: float = 20e-9,
                      include=_HELMETS, prebuilt=None, q0: float = Q0,
                      crb_sources: int = 16, seed: int = 0) -> xr.Dataset:
    """The metrics of one on-scalp OPM array against its white noise floor.

    The default floors span QuSpin's Gen-2 specification: "typically 7-10
    fT/sqrt(Hz)", at most 15 fT/sqrt(Hz) (QuSpin QZFM Gen-2 data sheet, as quoted in the
    ``quspin_gen2`` preset; Boto et al. 2018, Nature 555:657; Tierney et al. 2019,
    NeuroImage 199:598), which is also the Gen-3 dual-axis specification (Boto et al.
    2022, NeuroImage 252:119027). The lead field is computed once; SNR scales as
    1/floor, the bound as floor. The helmets (``include``) are reference lines at their
    preset floors (Neuromag: 3.5 fT/sqrt(Hz) magnetometers, 3 fT/(cm sqrt(Hz))
    gradiometers; CTF: 5 fT/sqrt(Hz); :mod:`qsense.sensors.squid`).

    Parameters
    ----------
    floors : sequence of float
        White floors, T/sqrt(Hz), each in ``FLOOR_RANGE``.
    n_opm : int
        Sensors in the array (``COUNT_RANGE``).
    axes : {"radial", "tangential", "dual", "triaxial"}
    opm_sensor : str
        OPM preset (coil, standoff; its floor is replaced by ``floors``).
    include : sequence of {"kernel_flux", "neuromag306", "ctf275"}
        Reference arrays at their preset floors (may be empty).
    head, sources, prebuilt, bandwidth, moment, q0, crb_sources, seed
        As for :func:`channel_count_curve`.

    Returns
    -------
    xarray.Dataset
        Dimension ``config`` (``opm_{n}_{axes}_{floor in fT}fT``, then the references),
        ``source``, ``crb_source``.
    """
    head, src = _check_head_sources(head, sources)
    floors = _check_sequence("floors", floors)
    floors = tuple(check_number("floors", f, low=FLOOR_RANGE[0], high=FLOOR_RANGE[1],
                                unit="T/sqrt(Hz)") for f in floors)
    n_opm = check_int("n_opm", n_opm, low=COUNT_RANGE[0], high=COUNT_RANGE[1])
    if not isinstance(axes, str) or axes not in qs.arrays.AXES:
        raise ValueError(f"axes must be one of {qs.arrays.AXES}, got {axes!r}")
    if isinstance(include, str):
        raise ValueError(f"include must be a sequence of names from {REFERENCES}, got "
                         f"the string {include!r}")
    include = tuple(include)
    bad = [a for a in include if a not in REFERENCES]
    if bad or len(set(include)) != len(include):
        raise ValueError(f"include must hold distinct names from {REFERENCES}, got "
                         f"{include!r}")
    if not isinstance(opm_sensor, str) or opm_sensor not in qs.sensors.preset_names("opm"):
        raise ValueError(f"opm_sensor must be one of {qs.sensors.preset_names('opm')}, got "
                         f"{opm_sensor!r}")
    bandwidth, moment, q0, crb_sources, seed = _check_common(bandwidth, moment, q0,
                                                             crb_sources, seed)
    _check_prebuilt(prebuilt)
    areas = cortical_patch_areas(src)
    arr = qs.arrays.opm_on_scalp(head, n_opm, axes, sensor=opm_sensor)
    gain = _array_gain(arr, head, src)
    geometry = arr.coil_geometry("accurate")
    rows = []
    for f in floors:
        std = np.full(arr.n_channels, f * np.sqrt(bandwidth))
        snr, info, info_area = _metrics(gain, std, moment, areas, q0)
        rows.append({"config": f"opm_{n_opm}_{axes}_{f * 1e15:g}fT",
                     "label": f"{n_opm} {axes} OPMs, {f * 1e15:g} fT/sqrt(Hz)",
                     "kind": "opm", "axes": axes, "reference": False, "n_sensors": n_opm,
                     "n_channels": arr.n_channels, "floors": (f, np.nan), "snr": snr,
                     "info": info, "info_area": info_area, "_geometry": geometry,
                     "_geometry_key": "opm", "_std": np.full(arr.n_channels, f)})
    for name, ref in _reference_arrays(head, include, prebuilt).items():
        rows.append(_reference_row(name, ref, head, src, bandwidth, moment, areas, q0))
    crb_idx = _crb_subset(head, src, crb_sources, seed)
    _add_bounds(rows, head, src, crb_idx, moment, bandwidth)
    attrs = _attrs(head, src, bandwidth, moment, q0, seed, title="noise-floor curve",
                   opm_sensor=opm_sensor, n_opm=n_opm,
                   floors_citation="QuSpin QZFM Gen-2 specification (typically 7-10, at "
                   "most 15 fT/sqrt(Hz)); Gen-3 dual axis at most 15 fT/sqrt(Hz) (Boto "
                   "et al. 2022, NeuroImage 252:119027)")
    return _dataset(rows, src, areas, crb_idx, attrs,
                    config_long_name="configuration (opm_N_AXES_FLOORfT, or a reference "
                    "array)")


def _min_standoff(geometry):
    return geometry["wall"] + geometry["cone_height"] + 0.5 * geometry["gap"]


def nv_standoff_curve(head: qs.Head | None = None, sources=None, *,
                      standoffs=(6.025e-3, 8e-3, 10e-3, 15e-3, 20e-3), n_sensors: int = 64,
                      sensor: str = "nv_flux_concentrator", concentrator=None,
                      bandwidth: float = 1.0, moment: float = 20e-9, q0: float = Q0,
                      crb_sources: int = 0, seed: int = 0) -> xr.Dataset:
    """Flux-concentrator NV sensors against their standoff, point and averaged models.

    ``n_sensors`` NV sensors on the on-scalp lattice (:func:`qsense.nv.nv_on_scalp`),
    reading the radial field at the preset's white floor, with the NV membrane
    ``standoff`` from the scalp. Two models per standoff (coordinate ``model``):
    ``"point"``, the field at the membrane (the study's model), and ``"concentrator"``,
    the field averaged by the two cones (:func:`qsense.nv.flux_concentrator_points`,
    geometry ``concentrator``, default :data:`CONCENTRATOR`). A standoff below
    ``wall + cone_height + gap / 2`` (6.0 mm by default) has no room for the near cone
    and its housing: an error.

    Parameters
    ----------
    standoffs : sequence of float
        Scalp to NV membrane, m.
    n_sensors : int
        Sensors (``COUNT_RANGE``).
    sensor : str
        NV preset (its white floor).
    concentrator : dict, optional
        ``cone_height``, ``base_diameter``, ``gap``, ``wall`` in m (missing keys from
        :data:`CONCENTRATOR`).
    head, sources, bandwidth, moment, q0, crb_sources, seed
        As for :func:`channel_count_curve` (default ``crb_sources`` 0 here).

    Returns
    -------
    xarray.Dataset
        Dimension ``config`` (``nv_{model}_{standoff in mm}mm``) with coordinates
        ``standoff`` and ``model``; ``source``, ``crb_source``.
    """
    from qsense.nv import NV_PRESETS, flux_concentrator_points, nv_on_scalp

    head, src = _check_head_sources(head, sources)
    if not isinstance(sensor, str) or sensor not in NV_PRESETS:
        raise ValueError(f"sensor must be one of {sorted(NV_PRESETS)}, got {sensor!r}")
    geometry = dict(CONCENTRATOR)
    if concentrator is not None:
        if not isinstance(concentrator, dict):
            raise TypeError(f"concentrator must be a dict with keys from "
                            f"{sorted(CONCENTRATOR)}, got {concentrator!r}")
        bad = sorted(set(concentrator) - set(CONCENTRATOR))
        if bad:
            raise ValueError(f"concentrator has unknown keys {bad}; allowed: "
                             f"{sorted(CONCENTRATOR)}")
        for k, v in concentrator.items():
            geometry[k] = check_number(f"concentrator[{k!r}]", v, low=0.0, low_open=True,
                                       high=0.1, unit="m")
    lowest = _min_standoff(geometry)
    standoffs = _check_sequence("standoffs", standoffs)
    for s in standoffs:
        if isinstance(s, bool) or not isinstance(s, numbers.Real):
            raise TypeError(f"standoffs must hold numbers (m), got {s!r}")
    standoffs = tuple(check_number("standoffs", s, low=0.0, high=0.1, unit="m")
                      for s in standoffs)
    if min(standoffs) < lowest - 1e-12:
        raise ValueError(f"standoffs must be >= {lowest * 1e3:g} mm (housing wall + one cone "
                         f"+ half the gap: the near cone lies between the scalp and the NV "
                         f"membrane), got {min(standoffs) * 1e3:g} mm")
    n_sensors = check_int("n_sensors", n_sensors, low=COUNT_RANGE[0], high=COUNT_RANGE[1])
    bandwidth, moment, q0, crb_sources, seed = _check_common(bandwidth, moment, q0,
                                                             crb_sources, seed)
    p = NV_PRESETS[sensor]
    areas = cortical_patch_areas(src)
    rows = []
    attrs_standoff = {"units": "m", "long_name": "scalp to NV membrane"}
    attrs_model = {"units": "", "long_name": "sensor model: point (field at the membrane) "
                   "or concentrator (field averaged by the cones)"}
    for s in standoffs:
        arr = nv_on_scalp(head, n_sensors, sensor=p, standoff=s)
        pts0, nrm0, w0 = arr.coil_geometry("accurate")
        pts, nrm, w = flux_concentrator_points(
            arr.positions, arr.orientations, cone_height=geometry["cone_height"],
            base_diameter=geometry["base_diameter"], gap=geometry["gap"])
        std = np.full(arr.n_channels, p.noise_floor * np.sqrt(bandwidth))
        for model, geo in (("point", (pts0, nrm0, w0)), ("concentrator", (pts, nrm, w))):
            gain = _gain(head, src, *geo)
            snr, info, info_area = _metrics(gain, std, moment, areas, q0)
            rows.append({"config": f"nv_{model}_{s * 1e3:g}mm",
                         "label": f"{n_sensors} NV ({model}), {s * 1e3:g} mm",
                         "kind": "nv", "axes": "radial", "reference": False,
                         "n_sensors": n_sensors, "n_channels": arr.n_channels,
                         "floors": (p.noise_floor, np.nan), "snr": snr, "info": info,
                         "info_area": info_area, "_geometry": geo,
                         "_std": np.full(arr.n_channels, p.noise_floor),
                         "standoff": s, "standoff_attrs": attrs_standoff,
                         "model": model, "model_attrs": attrs_model})
    crb_idx = _crb_subset(head, src, crb_sources, seed)
    _add_bounds(rows, head, src, crb_idx, moment, bandwidth)
    attrs = _attrs(head, src, bandwidth, moment, q0, seed, title="NV standoff curve",
                   nv_sensor=sensor, n_sensors=n_sensors,
                   **{f"concentrator_{k}_m": v for k, v in geometry.items()},
                   concentrator_assumption="bowtie of two ferrite cones (Fescenko et al. "
                   "2020, Phys. Rev. Research 2:023394); dimensions and wall are "
                   "assumptions; high-permeability equipotential model")
    return _dataset(rows, src, areas, crb_idx, attrs,
                    config_long_name="configuration (nv_MODEL_STANDOFFmm)")
