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
