"""Total information a sensor array carries about the sources (Shannon).

For Gaussian sources of covariance ``C_s`` seen through the gain ``L`` in Gaussian
noise of covariance ``N``, the information the data carry about the sources is

    I = 1/2 sum_i log2(1 + lambda_i)   bits per independent sample,

with ``lambda_i`` the eigenvalues of the whitened signal covariance
``N^(-1/2) L C_s L^T N^(-1/2)`` (Kemppainen and Ilmoniemi 1989, "Channel capacity of
multichannel magnetometers", in Advances in Biomagnetism, Plenum, 635-638; used to
compare on-scalp and SQUID arrays by Iivanainen, Stenroos and Parkkonen 2017,
NeuroImage 147:542-553). It does not depend on how the channels are mixed (any invertible
transform of the data leaves it unchanged) and never decreases when a channel is added.
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_array, check_per_item, validate_type

from ._noise import channel_noise_std

__all__ = ["information_bits", "total_information"]


def information_bits(gain, noise_cov, source_var):
    """Shannon information of ``b = L s + n`` about ``s``, and the eigenvalues behind it.

    Parameters
    ----------
    gain : array_like, shape (n_channels, n_sources)
        Lead field (T/(A m), per channel unit).
    noise_cov : array_like, shape (n_channels,) or (n_channels, n_channels)
        Noise variances (a vector: independent channels) or full covariance, in the
        square of the channel units; positive definite.
    source_var : float or array_like, shape (n_sources,)
        Variance of each (independent) source amplitude, (A m)^2.

    Returns
    -------
    bits : float
        Per independent sample.
    eigenvalues : ndarray, shape (min(n_channels, n_sources),)
        Of the whitened signal covariance, descending (each mode's power SNR).
    """
    gain = check_array("gain", gain, finite=False)
    if gain.ndim != 2 or not np.all(np.isfinite(gain)) or 0 in gain.shape:
        raise ValueError(f"gain must be a finite 2-D array (channels, sources) with at least "
                         f"one of each, got shape {gain.shape}")
    n_ch, n_src = gain.shape
    cov = check_array("noise_cov", noise_cov, finite=False)
    if cov.shape == (n_ch,):
        if not np.all(np.isfinite(cov)) or np.any(cov <= 0):
            raise ValueError("noise_cov must be finite and > 0 (channel variances)")
        white = gain / np.sqrt(cov)[:, None]
    elif cov.shape == (n_ch, n_ch):
        if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-10, atol=0):
            raise ValueError("noise_cov must be a finite symmetric matrix")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("noise_cov must be positive definite") from None
        white = np.linalg.solve(chol, gain)  # any square root whitens equally
    else:
        raise ValueError(f"noise_cov must have shape ({n_ch},) or ({n_ch}, {n_ch}), got "
                         f"{cov.shape}")
    var = check_per_item("source_var", source_var, n_src, per="source", unit="(A m)^2")
    if not np.all(np.isfinite(var)) or np.any(var < 0):
        raise ValueError("source_var must be finite and >= 0 ((A m)^2)")
    sing = np.linalg.svd(white * np.sqrt(var)[None, :], compute_uv=False)
    eig = sing**2
    return float(0.5 * np.sum(np.log2(1.0 + eig))), eig


def total_information(array: qs.SensorArray, head: qs.Head, sources, *, source_std,
                      bandwidth=None, noise_std=None, orientation: str = "free",
                      accuracy: str = "accurate") -> xr.Dataset:
    """Total information of an array about independent dipoles at the given sources.

    Parameters
    ----------
    array : qsense.SensorArray
    head : qsense.Head
    sources : qsense.SourceSpace or array_like, shape (n, 3)
    source_std : float
        Standard deviation of each dipole component's amplitude, A m (e.g. 1e-9 to
        10e-9 for spontaneous cortical activity per source; an input, not a preset).
    bandwidth : float, optional
        Noise bandwidth of one sample, Hz: channel noise is ``array.noise *
        sqrt(bandwidth)``. Give this or ``noise_std``.
    noise_std : float or array_like, shape (n_channels,), optional
        Channel noise standard deviation, T (T/m for planar gradiometers).
    orientation : {"free", "normal"}
        Three independent components per source, or one along the source normals
        (cortex).
    accuracy : {"point", "normal", "accurate"}

    Returns
    -------
    xarray.Dataset
        ``information`` (bits per sample) and ``eigenvalues`` (mode) of the whitened
        signal covariance.
    """
    validate_type(array, qs.SensorArray, "array", "qsense.SensorArray")
    validate_type(head, qs.Head, "head", "qsense.Head")
    if orientation not in ("free", "normal"):
        raise ValueError(f"orientation must be 'free' or 'normal', got {orientation!r}")
    if (isinstance(source_std, bool) or not isinstance(source_std, numbers.Real)
            or not np.isfinite(source_std) or source_std <= 0):
        raise ValueError(f"source_std must be a finite number > 0 (A m), got {source_std!r}")
    if source_std > 1e-3:
        raise ValueError(f"source_std must be in A m; got {source_std:g} (brain sources are "
                         f"1e-9 to 1e-6 A m). Were nAm passed as A m?")
    std = channel_noise_std(array, noise_std, bandwidth)
    lf = qs.leadfield(array, head, sources, accuracy=accuracy)
    values = lf.values
    if orientation == "normal":
        normals = getattr(sources, "normals", None)
        if normals is None:
            raise ValueError("orientation 'normal' needs sources with normals (a cortex)")
        gain = np.einsum("csk,sk->cs", values, normals)
    else:
        gain = values.reshape(values.shape[0], -1)
    bits, eig = information_bits(gain, std**2, source_std**2)
    return xr.Dataset(
        {"information": ((), bits, {"units": "bit", "long_name": "total information per "
                                    "independent sample"}),
         "eigenvalues": (("mode",), eig, {"units": "1", "long_name": "eigenvalues of the "
                                          "whitened signal covariance (mode power SNR)"})},
        coords={"mode": ("mode", np.arange(eig.size), {"long_name": "signal mode"})},
        attrs={"sensor": array.sensor, "head": head.name, "orientation": orientation,
               "source_std_Am": float(source_std)})
