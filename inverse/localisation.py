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
        Built from the same source space (``make_inverse_operator``).
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
    n_src = fwd["nsource"]
    same = (inv["nsource"] == n_src and len(inv["src"]) == len(fwd["src"])
            and all(np.array_equal(a["vertno"], b["vertno"])
                    for a, b in zip(inv["src"], fwd["src"], strict=True)))
    if not same:
        raise ValueError(f"inv has {inv['nsource']} sources and fwd {n_src}, or other "
                         f"vertices: build the inverse from this forward solution")
    idx = _check_sources(sources, n_src)
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

