"""How well any unbiased dipole fit can localise a source: the Cramer-Rao bound.

Wraps :mod:`forward_models.fisher` (exact JAX derivatives of the Sarvas field through
each coil's integration points) for qsense arrays and heads. For a current dipole in a
spherically symmetric conductor with white Gaussian channel noise, the covariance of
the fitted position is at least the position block of the inverse Fisher information
(Mosher, Spencer, Leahy and Lewis 1993, Electroencephalogr. Clin. Neurophysiol.
86:303). The bound is reached by least-squares fits at high SNR (tested against a
Monte-Carlo of fits).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

import qsense as qs
from forward_models import fisher
from qsense._checks import check_array
from qsense.forward import check_geometry

from ._noise import channel_noise_std

__all__ = ["dipole_localisation_bound"]

_CHUNK = 32  # dipoles per Jacobian call of :func:`rms_bounds` (bounded memory)


def _check_moments(moments, n):
    q = np.atleast_2d(check_array("moments", moments, finite=False, unit="A m"))
    if q.shape == (1, 3) and n > 1:
        q = np.broadcast_to(q, (n, 3))
    if q.shape != (n, 3):
        raise ValueError(f"moments must have shape (3,) or ({n}, 3) (A m), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("moments must be finite (A m)")
    norm = np.linalg.norm(q, axis=1)
    if np.any(norm > 1e-3):
        i = int(np.argmax(norm))
        raise ValueError(f"moments must be in A m; moment {i} is {norm[i]:g} A m (brain "
                         f"sources are 1e-9 to 1e-6 A m). Were nAm passed as A m?")
    return q


def dipole_localisation_bound(array: qs.SensorArray, head: qs.Head, positions, moments, *,
                              noise_std=None, bandwidth=None,
                              accuracy: str = "accurate") -> xr.Dataset:
    """Cramer-Rao lower bound on the position error of a single-dipole fit.

    Parameters
    ----------
    array : qsense.SensorArray
    head : qsense.Head
        With a spherical conductor (``Head.sphere`` or
        ``Head.fsaverage(conductor="sphere")``).
    positions : array_like, shape (n, 3)
        True dipole positions, head frame, m (inside the conductor).
    moments : array_like, shape (3,) or (n, 3)
        True dipole moments, A m; the radial part is silent and ignored.
    noise_std : float or array_like, shape (n_channels,), optional
        White noise standard deviation of each channel in the fitted data, T (T/m for
        planar gradiometers).
    bandwidth : float, optional
        Instead of ``noise_std``: noise equivalent bandwidth of one data sample, Hz;
        the noise is ``array.noise * sqrt(bandwidth)``. For an evoked response averaged
        over N trials of T seconds read ``1 / (N T)``.
    accuracy : {"point", "normal", "accurate"}
        Coil integration.

    Returns
    -------
    xarray.Dataset
        ``covariance`` (source, axis, axis_) m^2; ``std`` (source, axis), m;
        ``rms`` (source,), m: the square root of the covariance's trace, a bound on the
        root-mean-square 3-D position error. ``inf`` where the fit is ill-posed.
    """
    if not isinstance(array, qs.SensorArray):
        raise TypeError(f"array must be a qsense.SensorArray, got {type(array).__name__}")
    if not isinstance(head, qs.Head):
        raise TypeError(f"head must be a qsense.Head, got {type(head).__name__}")
    # sources inside the conductor, sensors outside the scalp
    pos = check_geometry(array, head, positions, name="positions").positions
    q = _check_moments(moments, len(pos))
    std = channel_noise_std(array, noise_std, bandwidth)
    pts, nrm, w = array.coil_geometry(accuracy)  # validates accuracy
    info = head.conductor.dipole_fisher(pts, nrm, w, pos, q, std)
    cov = np.asarray(fisher.position_covariance_bound(info))
    std_xyz = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    rms = np.sqrt(np.trace(cov, axis1=1, axis2=2))
    axes = ["x", "y", "z"]
    coords = {"source": ("source", np.arange(len(pos)), {"long_name": "dipole index"}),
              "axis": ("axis", axes, {"long_name": "head-frame axis"}),
              "axis_": ("axis_", axes, {"long_name": "head-frame axis"})}
    for k, name in enumerate(axes):
        coords[f"source_{name}"] = ("source", pos[:, k],
                                    {"units": "m", "long_name": f"dipole {name} (head)"})
    return xr.Dataset(
        {"covariance": (("source", "axis", "axis_"), cov,
                        {"units": "m^2", "long_name": "Cramer-Rao bound on the position "
                         "covariance"}),
         "std": (("source", "axis"), std_xyz,
                 {"units": "m", "long_name": "lower bound on the position error per axis"}),
         "rms": (("source",), rms,
                 {"units": "m", "long_name": "lower bound on the rms 3-D position error"})},
        coords=coords,
        attrs={"head": head.name, "conductor": head.conductor.name, "sensor": array.sensor,
               "accuracy": accuracy,
               "frame": "head"})


def rms_bounds(arrays, head: qs.Head, positions, moments, noise_std, *,
               accuracy: str = "accurate", chunk: int = _CHUNK) -> np.ndarray:
    """The ``rms`` of :func:`dipole_localisation_bound` for several arrays at once.

    Every integration point of every array is one pseudo-channel of a single JAX
    Jacobian call per chunk of ``chunk`` dipoles (the last chunk padded), so the kernel
    compiles once for all arrays and sizes; each channel's derivatives are then the
    weighted sum over its points (the field is linear in them), and each array's Fisher
    information is the sum over its channels of the outer products of the whitened
    derivatives, as in :func:`forward_models.fisher.sphere_dipole_fisher`.

    Parameters
    ----------
    arrays : sequence of qsense.SensorArray
    head : qsense.Head
        With a spherical conductor.
    positions : array_like, shape (n, 3)
        Dipole positions, head frame, m.
    moments : array_like, shape (n, 3)
        Dipole moments, A m, each with a tangential part.
    noise_std : sequence of array_like
        Per array, the noise standard deviation of each channel (T; T/m planar).
    accuracy : {"point", "normal", "accurate"}
    chunk : int
        Dipoles per call.

    Returns
    -------
    ndarray, shape (n_arrays, n)
        Bound on the rms 3-D position error, m (``inf`` where the fit is ill-posed).
    """
    from scipy import sparse

    arrays = list(arrays)
    if not arrays or not all(isinstance(a, qs.SensorArray) for a in arrays):
        raise TypeError("arrays must be a non-empty sequence of qsense.SensorArray")
    if not isinstance(head, qs.Head):
        raise TypeError(f"head must be a qsense.Head, got {type(head).__name__}")
    if not hasattr(head.conductor, "origin"):
        raise ValueError("head must have a spherical conductor (the bound needs its "
                         "derivatives)")
    noise_std = list(noise_std)
    if len(noise_std) != len(arrays):
        raise ValueError(f"noise_std must hold one entry per array ({len(arrays)}), got "
                         f"{len(noise_std)}")
    pos = None
    stds, cps = [], []
    for arr, std in zip(arrays, noise_std, strict=True):
        pos = check_geometry(arr, head, positions, name="positions").positions
        stds.append(channel_noise_std(arr, std, None))
        cps.append(arr.coil_points(accuracy))
    q = _check_moments(moments, len(pos))
    origin = np.asarray(head.conductor.origin, float)
    radial = (pos - origin) / np.linalg.norm(pos - origin, axis=1, keepdims=True)
    tangential = np.linalg.norm(q - np.sum(q * radial, 1, keepdims=True) * radial, axis=1)
    if np.any(tangential <= 1e-6 * np.linalg.norm(q, axis=1)):
        raise ValueError("moments must have a tangential part (radial dipoles are silent "
                         "outside a sphere)")
    pts = np.concatenate([c.points for c in cps])[:, None, :]
    nrm = np.concatenate([c.normals for c in cps])[:, None, :]
    ones = np.ones(pts.shape[:2])
    # per array: its channels x all points, the integration weights
    sums, start = [], 0
    for c in cps:
        n = len(c.points)
        sums.append(sparse.csr_matrix((c.weights, (c.segments, start + np.arange(n))),
                                      shape=(c.n_channels, len(pts))))
        start += n
    n_pos = len(pos)
    size = int(min(chunk, n_pos))
    out = np.empty((len(arrays), n_pos))
    for lo in range(0, n_pos, size):
        idx = np.minimum(np.arange(lo, lo + size), n_pos - 1)  # pad: repeat the last
        jac = np.asarray(fisher.sphere_dipole_jacobian(pts, nrm, ones, pos[idx], q[idx],
                                                       origin))  # (size, n_points, 5)
        flat = jac.transpose(1, 0, 2).reshape(len(pts), -1)
        keep = slice(0, min(size, n_pos - lo))
        for a, (weights, std) in enumerate(zip(sums, stds, strict=True)):
            ch = (weights @ flat).reshape(len(std), size, 5) / std[:, None, None]
            info = np.einsum("csi,csj->sij", ch, ch)
            cov = np.asarray(fisher.position_covariance_bound(info))
            out[a, lo:lo + size] = np.sqrt(np.trace(cov, axis1=1, axis2=2))[keep]
    return out
