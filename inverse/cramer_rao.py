"""How well any unbiased dipole fit can localise a source: the Cramer-Rao bound.

Wraps :mod:`forward_models.fisher` (exact JAX derivatives of the head's conductor field,
through each coil's integration points) for qsense arrays and heads: the fsaverage BEM
(derivatives of the BEM kernel) or a spherical conductor (of Sarvas's formula). For a
current dipole with white Gaussian channel noise, the covariance of the fitted position
is at least the position block of the inverse Fisher information (Mosher, Spencer, Leahy
and Lewis 1993, Electroencephalogr. Clin. Neurophysiol. 86:303). The bound is reached by
least-squares fits at high SNR (tested against Monte-Carlo fits: our own in a sphere,
``mne.fit_dipole`` in the BEM) and means nothing where its error is not small against
the field's bending length: each source gets a validity flag (``localisable``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

import qsense as qs
from forward_models import fisher
from qsense._checks import check_array, check_number
from qsense.forward import check_geometry

from ._noise import channel_noise_std

__all__ = ["dipole_localisation_bound", "bound_nonlinearity", "padded_bounds",
           "MAX_NONLINEARITY", "WEAK_MOMENT_RATIO"]

WEAK_MOMENT_RATIO = 0.2
"""mne.fit_dipole's rule: the third moment component is fitted only when its whitened
singular value exceeds 0.2 of the first (``mne.dipole._dipole_gof``)."""

MAX_NONLINEARITY = 0.15
"""Default validity threshold of the bound (see :func:`dipole_localisation_bound`)."""

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
                              noise_std=None, bandwidth=None, accuracy: str = "accurate",
                              weak_moment_ratio: float = WEAK_MOMENT_RATIO,
                              max_nonlinearity: float | None = MAX_NONLINEARITY
                              ) -> xr.Dataset:
    """Cramer-Rao lower bound on the position error of a single-dipole fit.

    Computed on the head's own conductor (the fsaverage BEM by default, or a sphere),
    from exact JAX derivatives of its field; the moment is estimated jointly (a nuisance
    parameter).

    Parameters
    ----------
    array : qsense.SensorArray
    head : qsense.Head
        Any head whose conductor has derivatives (``head.conductor.differentiable``):
        ``Head.fsaverage()`` (BEM), ``Head.fsaverage(conductor="sphere")``,
        ``Head.sphere()``.
    positions : array_like, shape (n, 3)
        True dipole positions, head frame, m (inside the conductor).
    moments : array_like, shape (3,) or (n, 3)
        True dipole moments, A m. In a sphere the radial part is silent and ignored.
    noise_std : float or array_like, shape (n_channels,), optional
        White noise standard deviation of each channel in the fitted data, T (T/m for
        planar gradiometers).
    bandwidth : float, optional
        Instead of ``noise_std``: noise equivalent bandwidth of one data sample, Hz;
        the noise is ``array.noise * sqrt(bandwidth)``. The floors are one-sided ASDs, so
        averaging T seconds of white noise has the equivalent noise bandwidth ``1/(2T)``:
        for an evoked response averaged over N trials of T seconds read ``1 / (2 N T)``.
    accuracy : {"point", "normal", "accurate"}
        Coil integration.
    weak_moment_ratio : float
        In a BEM, which moment components count as estimated. The quasi-radial one is
        nearly silent there (its whitened field is typically a few per cent of the
        strongest component's), and ``mne.fit_dipole`` fits only the two strongest
        components whenever the third singular value of the whitened lead field is at
        most 0.2 of the first: the default (0.2) bounds such fits. 0 estimates all three
        components (a larger bound: the nearly silent component trades off against the
        position). No effect in a sphere, whose radial component is left out exactly.
    max_nonlinearity : float or None
        Validity threshold (see Notes): sources whose nonlinearity exceeds it are
        reported as not localisable. None skips the check (and its cost: second
        derivatives of the field).

    Returns
    -------
    xarray.Dataset
        ``covariance`` (source, axis, axis_) m^2; ``std`` (source, axis), m;
        ``rms`` (source,), m: the square root of the covariance's trace, a bound on the
        root-mean-square 3-D position error. ``inf`` where the fit is ill-posed.
        Unless ``max_nonlinearity`` is None, also ``nonlinearity`` (source,) and
        ``localisable`` (source,), bool: finite bound and nonlinearity at most
        ``max_nonlinearity``; ``rms_localisable`` is ``rms`` with NaN where not.

    Notes
    -----
    The bound is the covariance of the linearised problem: it assumes the field is
    linear in the position over the error it predicts. That fails when the error is
    not small against the length over which the field bends (the distance from the
    source to the sensors and to the conductor's boundary, where the volume currents
    change fastest). The check measures this directly, on the field's Taylor expansion
    ``b(r0 + d) = b + J d + d^T H d / 2 + ...``: along each principal axis ``u_k`` of the
    bound's covariance, one standard deviation ``s_k`` away, the ratio of the whitened
    second-order term to the whitened first-order term,

        nonlinearity = max_k  s_k |W H[u_k, u_k]| / (2 |W J u_k|),

    with ``W`` the inverse channel noise. It scales with the noise (as the bound does)
    and with ``s_k`` over the field's bending length (for a field falling as
    ``1/d^2`` it is ``1.5 s / d``). At 1 the second-order term equals the first: the
    linearisation no longer means anything, the error distribution is no longer the
    bound's Gaussian, and a least-squares fit is biased. The default threshold
    (``MAX_NONLINEARITY`` = 0.3: the second-order term at most 30 % of the first at
    one standard deviation, about 2 % of the whitened residual energy at the bound)
    was set from Monte-Carlo fits with ``mne.fit_dipole`` on the fsaverage BEM (the
    tests: below it the fits meet the bound within 20 %, above it they exceed it). This
    is the linearity part of the curvature measures of Bates and Watts (1980), J. R.
    Stat. Soc. B 42:1, taken along the bound's axes (assumption: the position-moment
    coupling of the curvature is left out).

    References
    ----------
    Mosher, Spencer, Leahy and Lewis (1993), Electroencephalogr. Clin. Neurophysiol.
    86:303 (dipole Cramer-Rao bounds).
    """
    if not isinstance(array, qs.SensorArray):
        raise TypeError(f"array must be a qsense.SensorArray, got {type(array).__name__}")
    if not isinstance(head, qs.Head):
        raise TypeError(f"head must be a qsense.Head, got {type(head).__name__}")
    weak_moment_ratio = check_number("weak_moment_ratio", weak_moment_ratio, low=0.0,
                                     high=1.0)
    if max_nonlinearity is not None:
        max_nonlinearity = check_number("max_nonlinearity", max_nonlinearity, low=0.0,
                                        high=np.inf)
    # sources inside the conductor, sensors outside the scalp
    pos = check_geometry(array, head, positions, name="positions").positions
    q = _check_moments(moments, len(pos))
    std = channel_noise_std(array, noise_std, bandwidth)
    pts, nrm, w = array.coil_geometry(accuracy)  # validates accuracy
    info = np.asarray(head.conductor.dipole_fisher(pts, nrm, w, pos, q, std))
    cov = np.asarray(fisher.position_covariance_bound(info,
                                                      weak_moment_ratio=weak_moment_ratio))
    std_xyz = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    rms = np.sqrt(np.trace(cov, axis1=1, axis2=2))
    axes = ["x", "y", "z"]
    coords = {"source": ("source", np.arange(len(pos)), {"long_name": "dipole index"}),
              "axis": ("axis", axes, {"long_name": "head-frame axis"}),
              "axis_": ("axis_", axes, {"long_name": "head-frame axis"})}
    for k, name in enumerate(axes):
        coords[f"source_{name}"] = ("source", pos[:, k],
                                    {"units": "m", "long_name": f"dipole {name} (head)"})
    data = {
        "covariance": (("source", "axis", "axis_"), cov,
                       {"units": "m^2", "long_name": "Cramer-Rao bound on the position "
                        "covariance"}),
        "std": (("source", "axis"), std_xyz,
                {"units": "m", "long_name": "lower bound on the position error per axis"}),
        "rms": (("source",), rms,
                {"units": "m", "long_name": "lower bound on the rms 3-D position error"})}
    attrs = {"head": head.name, "conductor": head.conductor.name, "sensor": array.sensor,
             "accuracy": accuracy, "frame": "head", "weak_moment_ratio": weak_moment_ratio}
    if max_nonlinearity is not None:
        hess = np.asarray(head.conductor.dipole_hessian(pts, nrm, w, pos, q))
        ratio = bound_nonlinearity(cov, info[:, :3, :3], hess / std[None, :, None, None])
        ok = np.isfinite(rms) & (ratio <= max_nonlinearity)
        data["nonlinearity"] = (("source",), ratio, {
            "units": "1", "long_name": "second- over first-order term of the field's "
            "Taylor expansion at one bound standard deviation (largest over the axes)"})
        data["localisable"] = (("source",), ok, {
            "long_name": f"bound valid: finite, nonlinearity <= {max_nonlinearity:g}"})
        data["rms_localisable"] = (("source",), np.where(ok, rms, np.nan), {
            "units": "m", "long_name": "lower bound on the rms 3-D position error, NaN "
            "where not localisable"})
        attrs["max_nonlinearity"] = max_nonlinearity
    return xr.Dataset(data, coords=coords, attrs=attrs)


def bound_nonlinearity(covariance, position_fisher, white_hessian):
    """How far the field bends over the bound: the validity measure of the bound.

    Along each principal axis ``u_k`` of the covariance (standard deviation ``s_k``),
    the whitened second-order Taylor term over the whitened first-order term,
    ``s_k |H[u_k, u_k]| / (2 sqrt(u_k^T F u_k))``; the largest over the axes (see
    :func:`dipole_localisation_bound`, Notes).

    Parameters
    ----------
    covariance : ndarray, shape (n, 3, 3)
        Position covariance bound, m^2 (``inf`` where ill-posed).
    position_fisher : ndarray, shape (n, 3, 3)
        Position block of the Fisher information, 1/m^2: ``(W J)^T (W J)`` with ``J``
        the position derivatives of the readings, ``W`` the inverse channel noise.
    white_hessian : ndarray, shape (n, n_channels, 3, 3)
        Second position derivatives of the readings over the channel noise, 1/m^2.

    Returns
    -------
    ndarray, shape (n,)
        Dimensionless; ``inf`` where the bound is.
    """
    cov = np.asarray(covariance, float)
    finite = np.all(np.isfinite(cov), axis=(1, 2))
    var, axes = np.linalg.eigh(np.where(finite[:, None, None], cov, np.eye(3)))
    s = np.sqrt(np.clip(var, 0.0, None))  # (n, 3)
    first = np.sqrt(np.einsum("nak,nab,nbk->nk", axes, position_fisher, axes))
    second = 0.5 * np.linalg.norm(np.einsum("ncab,nak,nbk->nck", white_hessian, axes, axes),
                                  axis=1)
    ratio = np.max(s * second / first, axis=1)
    return np.where(finite, ratio, np.inf)


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


_BUCKETS = (64, 128, 256, 512, 1024, 2048)


def _padded(points, normals, weights, n_points):
    """Pad coil geometry to a bucket of channels and ``n_points`` points (zero weights),
    so the bound's kernels compile once per bucket, not once per array."""
    n_ch, p = weights.shape
    size = next((b for b in _BUCKETS if b >= n_ch), n_ch)
    pts = np.broadcast_to(points[:1, :1], (size, n_points, 3)).copy()
    nrm = np.zeros((size, n_points, 3))
    nrm[..., 2] = 1.0
    w = np.zeros((size, n_points))
    pts[:n_ch, :p], nrm[:n_ch, :p], w[:n_ch, :p] = points, normals, weights
    pts[:n_ch, p:] = points[:, :1]
    return pts, nrm, w


def padded_bounds(head, geometry, positions, moments, stds, n_points):
    """Cramer-Rao bound (rms, m) and its validity flag for each geometry and noise.

    ``geometry``: per array, ``SensorArray.coil_geometry(accuracy)``; ``n_points``: at
    least the largest number of integration points per channel among them. Returns
    ``(rms, ok)``: per geometry, a list over its noise vectors of arrays over the
    positions. The algebra of :func:`dipole_localisation_bound` (default
    ``weak_moment_ratio`` and ``max_nonlinearity``) on zero-padded coils; padding
    channels have zero field and unit noise, so they add nothing. ``stds`` holds, per
    geometry, a list of channel-noise vectors: the Fisher information and the Hessian are
    computed once per geometry at unit noise and rescaled by the noise.
    """
    rms, ok = [], []
    for (pts, nrm, w), std_list in zip(geometry, stds, strict=True):
        n_ch = w.shape[0]
        pp, nn, ww = _padded(pts, nrm, w, n_points)
        uniform = [np.allclose(s, s[0], rtol=1e-12, atol=0) for s in std_list]
        info0 = (np.asarray(head.conductor.dipole_fisher(pp, nn, ww, positions, moments,
                                                         np.ones(ww.shape[0])))
                 if any(uniform) else None)
        hess0 = np.asarray(head.conductor.dipole_hessian(pp, nn, ww, positions, moments))
        r_list, ok_list = [], []
        for std, same in zip(std_list, uniform, strict=True):
            s = np.ones(ww.shape[0])
            s[:n_ch] = std
            # Fisher at noise s: the unit-noise one over s^2 for uniform noise, else
            # recomputed (the SQUID helmets' magnetometers and gradiometers)
            if same:
                info = info0 / std[0] ** 2
            else:
                info = np.asarray(head.conductor.dipole_fisher(pp, nn, ww, positions,
                                                               moments, s))
            cov = np.asarray(fisher.position_covariance_bound(
                info, weak_moment_ratio=WEAK_MOMENT_RATIO))
            r = np.sqrt(np.trace(cov, axis1=1, axis2=2))
            ratio = bound_nonlinearity(cov, info[:, :3, :3], hess0 / s[None, :, None, None])
            r_list.append(r)
            ok_list.append(np.isfinite(r) & (ratio <= MAX_NONLINEARITY))
        rms.append(r_list)
        ok.append(ok_list)
    return rms, ok
