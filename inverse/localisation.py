"""Where a linear minimum-norm estimate puts a noiseless dipole.

The estimate of a single dipole at source ``k`` with nothing else in the data is column
``k`` of the resolution matrix, the point-spread function (PSF). Its peak localisation
error (PLE) is the distance from the PSF's largest value to source ``k`` (Hauk, Wakeman
and Henson 2011, "Comparison of noise-normalized minimum norm estimates for MEG analysis
using multiple resolution metrics", NeuroImage 54:1966-1974).

Everything here runs MNE-Python's own inverse code (``apply_inverse`` on the forward
columns); qsense only chooses the columns, works in chunks so that memory stays bounded,
and keeps the peaks.

Regularisation and dSPM
-----------------------
MNE whitens the gain, weights it by the source covariance R (depth weighting, loose
orientation) and scales R so that the mean eigenvalue of G R G^T is 1. With that
scaling, ``lambda2`` is the inverse of the assumed power SNR, and the leading
eigenvalue ``s_1^2 = inv["sing"][0] ** 2`` (see :func:`leading_eigenvalue`) is the
natural unit: about 13 for 64 radial on-scalp OPMs and 60 for Neuromag or CTF
(fsaverage, ad-hoc noise, depth 0.8).

- sLORETA's PSF peaks on the true source for any ``lambda2`` (fixed orientations;
  Pascual-Marqui 2002,
  "Standardized low-resolution brain electromagnetic tomography (sLORETA): technical
  details", Methods Find Exp Clin Pharmacol 24D:5-12).
- dSPM (Dale et al. 2000, Neuron 26:55-67) does not: at ``lambda2 = 1/9`` (SNR 3) the
  PSF of a superficial cortical dipole peaks 1-3 cm deeper, with qsense's forward and
  with MNE's alike (its depth bias; Hauk et al. 2011).
- When ``lambda2 >> s_1^2`` the inverse operator tends to ``R G^T / lambda2`` and the
  dSPM value at source ``j`` for a dipole at ``k`` tends to
  ``(g_j . g_k) / |g_j|`` (whitened, fixed-orientation gains; R cancels). By the
  Cauchy-Schwarz inequality this is largest at ``j = k``: with fixed orientations the
  PLE of every source goes to zero (loose orientations: nearly). The tests check MNE's
  dSPM against this closed form; on fsaverage, ``lambda2 = 10 s_1^2`` already puts
  every superficial dSPM peak on its source (docs/inverse.md).
"""

from __future__ import annotations

import numbers

import mne
import numpy as np
import xarray as xr

__all__ = ["METHODS", "leading_eigenvalue", "point_spread_peaks",
           "peak_localisation_error"]

METHODS = ("MNE", "dSPM", "sLORETA")
"""Linear methods whose point-spread functions are computed (those MNE's resolution
matrix supports)."""

_DEFAULT_CHUNK = 256
_POSITION_TOL = 1e-6
"""m (and dimensionless for coil axes): channel locations and source positions of a
forward and an inverse that belong together agree to this (FIF stores them in single
precision: ~1e-8 m)."""


def _check_forward(fwd):
    if not isinstance(fwd, mne.Forward):
        raise TypeError(f"fwd must be an mne.Forward (e.g. from qsense.make_forward), "
                        f"got {type(fwd).__name__}")
    kinds = {s["type"] for s in fwd["src"]}
    if kinds != {"surf"}:
        raise ValueError(f"fwd must be on a surface (cortical) source space, whose normals "
                         f"give each dipole's orientation; got source space kinds "
                         f"{sorted(kinds)}")


def _check_inverse(inv):
    if not isinstance(inv, mne.minimum_norm.InverseOperator):
        raise TypeError(f"inv must be an mne.minimum_norm.InverseOperator (from "
                        f"make_inverse_operator), got {type(inv).__name__}")


def _check_pair(fwd, inv):
    """That ``inv`` was made from ``fwd`` (or a forward with the same channels, channel
    positions and sources): a ValueError naming ``fwd`` and ``inv`` that says what differs.

    MNE builds an inverse on the forward's channels less the bad ones (``info["bads"]``,
    the noise covariance's bads, channels the covariance lacks), in the order of the
    measurement info, and keeps a copy of the forward's channel info and source spaces.
    So the inverse's channels (``inv["eigen_fields"]["col_names"]``) must be forward
    channels in the forward's order (dropped ones are bads), at the same positions
    (``loc`` and ``dev_head_t``, to 1e-6 m), and its sources the forward's (count,
    vertices and positions).
    """
    fwd_names = list(fwd["sol"]["row_names"])
    inv_names = list(inv["eigen_fields"]["col_names"])
    extra = [n for n in inv_names if n not in fwd_names]
    if extra:
        raise ValueError(
            f"inv was made for other channels than fwd: {len(extra)} of its "
            f"{len(inv_names)} channels are not in fwd (e.g. {extra[:3]}); build the "
            "inverse from this forward solution")
    rank = {n: i for i, n in enumerate(fwd_names)}
    order = [rank[n] for n in inv_names]
    if order != sorted(order):
        i = next(k for k in range(1, len(order)) if order[k] < order[k - 1])
        raise ValueError(
            f"inv lists its channels in another order than fwd: {inv_names[i - 1]!r} comes "
            f"before {inv_names[i]!r} in inv but after it in fwd; build the inverse from "
            "an info whose channels are in the forward's order")
    _check_channel_positions(fwd["info"], inv["info"], inv_names)
    _check_same_sources(fwd, inv)


def _channel_geometry(info, names):
    """Head-frame position and coil axes of named channels, (n, 12), and coil types."""
    idx = [info["ch_names"].index(n) for n in names]
    loc = np.array([info["chs"][i]["loc"][:12] for i in idx], dtype=float)
    t = np.eye(4) if info["dev_head_t"] is None else np.asarray(info["dev_head_t"]["trans"])
    head = np.empty_like(loc)
    head[:, :3] = loc[:, :3] @ t[:3, :3].T + t[:3, 3]
    head[:, 3:] = (loc[:, 3:].reshape(-1, 3, 3) @ t[:3, :3].T).reshape(-1, 9)
    return head, [int(info["chs"][i]["coil_type"]) for i in idx]


def _check_channel_positions(fwd_info, inv_info, names):
    missing = [n for n in names if n not in inv_info["ch_names"]]
    if missing:
        raise ValueError(f"inv['info'] lacks channels its operator uses ({missing[:3]}): "
                         "inv is damaged; make it again from fwd")
    a, types_a = _channel_geometry(fwd_info, names)
    b, types_b = _channel_geometry(inv_info, names)
    for i, (ta, tb) in enumerate(zip(types_a, types_b, strict=True)):
        if ta != tb:
            raise ValueError(f"fwd and inv have different coil types for channel "
                             f"{names[i]!r} ({ta} and {tb}): they belong to different arrays")
    diff = np.abs(a - b).max(axis=1)
    if np.any(diff > _POSITION_TOL):
        i = int(np.argmax(diff))
        n_bad = int(np.sum(diff > _POSITION_TOL))
        moved = np.linalg.norm(a[i, :3] - b[i, :3])
        turned = np.abs(a[i, 3:] - b[i, 3:]).max()
        raise ValueError(
            f"fwd and inv place channel {names[i]!r} differently ({n_bad} of {len(names)} "
            f"channels differ; this one by {moved * 1e3:.3g} mm in position, {turned:.3g} "
            "in its coil axes; head frame, dev_head_t applied): they belong to different "
            "arrays or head positions; build the inverse from this forward solution")


def _source_positions(space, mri_head_t):
    """Head-frame positions of the used sources of an MNE source-space list."""
    from mne.io.constants import FIFF

    out = []
    for s in space:
        rr = s["rr"][s["vertno"]]
        if s["coord_frame"] == FIFF.FIFFV_COORD_MRI:
            t = np.asarray(mri_head_t["trans"])
            if mri_head_t["from"] != FIFF.FIFFV_COORD_MRI:
                t = np.linalg.inv(t)
            rr = rr @ t[:3, :3].T + t[:3, 3]
        out.append(rr)
    return np.concatenate(out)


def _check_same_sources(fwd, inv):
    n_src = fwd["nsource"]
    same = (inv["nsource"] == n_src and len(inv["src"]) == len(fwd["src"])
            and all(np.array_equal(a["vertno"], b["vertno"])
                    for a, b in zip(inv["src"], fwd["src"], strict=True)))
    if not same:
        raise ValueError(f"inv has {inv['nsource']} sources and fwd {n_src}, or other "
                         f"vertices: build the inverse from this forward solution")
    a = _source_positions(fwd["src"], fwd["mri_head_t"])
    b = _source_positions(inv["src"], inv["mri_head_t"])
    dist = np.linalg.norm(a - b, axis=1)
    if np.any(dist > _POSITION_TOL):
        i = int(np.argmax(dist))
        n_bad = int(np.sum(dist > _POSITION_TOL))
        raise ValueError(f"inv has its sources elsewhere than fwd ({n_bad} of {n_src} "
                         f"differ; source {i} by {dist[i] * 1e3:.3g} mm, head frame): build "
                         "the inverse from this forward solution")


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _check_lambda2(lambda2):
    if (isinstance(lambda2, bool) or not isinstance(lambda2, numbers.Real)
            or not np.isfinite(lambda2) or lambda2 <= 0):
        raise ValueError(f"lambda2 must be a finite number > 0 (1/SNR^2), got {lambda2!r}")
    return float(lambda2)


def _check_sources(sources, n_sources):
    if sources is None:
        return np.arange(n_sources)
    idx = np.asarray(sources)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"sources must be a non-empty 1-D sequence of source indices, "
                         f"got {sources!r}")
    bad = idx[(idx < 0) | (idx >= n_sources)]
    if bad.size:
        raise ValueError(f"sources must lie in [0, {n_sources}); got {bad[:5].tolist()}")
    if np.unique(idx).size != idx.size:
        raise ValueError("sources must not repeat an index")
    return idx


def _check_chunk(chunk):
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    return int(chunk)


def leading_eigenvalue(inv) -> float:
    """The largest eigenvalue ``s_1^2`` of MNE's whitened, weighted gain ``G R G^T``.

    MNE scales the source covariance so that the mean eigenvalue is 1, so ``lambda2``
    and ``s_1^2`` share units: ``lambda2 >> s_1^2`` is the matched-filter regime in
    which dSPM's point-spread peaks sit on the true sources (module docstring).

    Parameters
    ----------
    inv : mne.minimum_norm.InverseOperator

    Returns
    -------
    float
        Dimensionless.
    """
    _check_inverse(inv)
    return float(inv["sing"][0] ** 2)


def _fixed_gain(fwd):
    """Gains of dipoles along the surface normals (channels x sources), head frame."""
    fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                         use_cps=True, copy=True, verbose=False)
    return fixed["sol"]["data"], list(fixed["sol"]["row_names"])


def _data_info(fwd, names):
    """A measurement info for data on the forward's rows."""
    types = fwd["info"].get_channel_types(picks=names)
    return mne.create_info(names, sfreq=1000.0, ch_types=types)


def point_spread_peaks(fwd, inv, sources=None, *, method="dSPM", lambda2=1 / 9,
                       chunk=_DEFAULT_CHUNK):
    """Peaks of the estimates of noiseless unit dipoles, one source at a time.

    Each dipole points along its surface normal. Its field (a column of ``fwd``) goes
    through MNE's ``apply_inverse`` unchanged; the estimate's absolute value (its
    Euclidean length over orientations for loose or free inverses, as MNE's resolution
    metrics take it) is searched for its largest value.

    Parameters
    ----------
    fwd : mne.Forward
        On a surface source space, e.g. ``qsense.make_forward(array, head,
        qsense.sources.cortex(head))``. Any orientation; it is converted to fixed
        surface-normal dipoles for the simulated data.
    inv : mne.minimum_norm.InverseOperator
        Built from ``fwd`` (``make_inverse_operator``): its channels must be ``fwd``'s,
        in the same order, less any bad ones, at the same positions, and its sources
        ``fwd``'s (ValueError otherwise).
    sources : sequence of int, optional
        Indices of the true sources (into the forward's source list); all by default.
    method : {"MNE", "dSPM", "sLORETA"}
    lambda2 : float
        Regularisation, 1/SNR^2 (MNE's convention).
    chunk : int
        Dipoles per ``apply_inverse`` call. Memory is about
        ``8 * n_sources * chunk`` bytes (x3 for loose inverses); the result does not
        depend on it.

    Returns
    -------
    peak : ndarray of int, shape (n_selected,)
        Index of the source where each estimate is largest.
    value : ndarray, shape (n_selected,)
        The estimate there (A m for MNE, dimensionless for dSPM and sLORETA).
    """
    _check_forward(fwd)
    _check_inverse(inv)
    _check_method(method)
    lambda2 = _check_lambda2(lambda2)
    chunk = _check_chunk(chunk)
    _check_pair(fwd, inv)
    idx = _check_sources(sources, fwd["nsource"])
    gain, names = _fixed_gain(fwd)
    info = _data_info(fwd, names)
    inv_prep = mne.minimum_norm.prepare_inverse_operator(inv, nave=1, lambda2=lambda2,
                                                         method=method, verbose=False)
    peak = np.empty(idx.size, dtype=int)
    value = np.empty(idx.size)
    for start in range(0, idx.size, chunk):
        sel = idx[start:start + chunk]
        evoked = mne.EvokedArray(gain[:, sel], info, tmin=0.0, nave=1, verbose=False)
        if inv["projs"]:  # the inverse applies its own SSP; the data must declare it
            evoked.add_proj(inv["projs"], verbose=False)
        stc = mne.minimum_norm.apply_inverse(evoked, inv_prep, lambda2=lambda2,
                                             method=method, prepared=True, verbose=False)
        est = np.abs(stc.data)
        peak[start:start + sel.size] = np.argmax(est, axis=0)
        value[start:start + sel.size] = est.max(axis=0)
    return peak, value


def peak_localisation_error(fwd, inv, sources=None, *, method="dSPM", lambda2=1 / 9,
                            chunk=_DEFAULT_CHUNK) -> xr.DataArray:
    """Peak localisation error of the point-spread function of each source.

    The distance from each true (noiseless, surface-normal) dipole to the peak of its
    estimate (Hauk et al. 2011). The same numbers as MNE's
    ``resolution_metrics(make_inverse_resolution_matrix(...), metric="peak_err")``
    (which are in cm), without forming the whole resolution matrix: memory is bounded
    by ``chunk`` (see :func:`point_spread_peaks`, which takes the same arguments).

    Returns
    -------
    xarray.DataArray, dims ("source",)
        Error in metres, with the true and peak positions (head frame, m) and the peak
        index as coordinates.
    """
    peak, value = point_spread_peaks(fwd, inv, sources, method=method, lambda2=lambda2,
                                     chunk=chunk)
    idx = _check_sources(sources, fwd["nsource"])
    rr = fwd["source_rr"]
    err = np.linalg.norm(rr[peak] - rr[idx], axis=1)
    frame = "head" if fwd["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD else "mri"
    coords = {"source": ("source", idx, {"long_name": "true source index"}),
              "peak_source": ("source", peak, {"long_name": "index of the estimate's peak"})}
    for axis, name in enumerate("xyz"):
        coords[f"source_{name}"] = ("source", rr[idx, axis],
                                    {"units": "m", "long_name": f"true source {name} ({frame})"})
        coords[f"peak_{name}"] = ("source", rr[peak, axis],
                                  {"units": "m", "long_name": f"peak {name} ({frame})"})
    return xr.DataArray(
        err, dims=("source",), coords=coords, name="peak_localisation_error",
        attrs={"units": "m", "long_name": "peak localisation error of the point-spread "
               "function", "method": method, "lambda2": lambda2, "frame": frame})

