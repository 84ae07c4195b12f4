"""On-scalp magnetometers against SQUID magnetometers: Iivanainen et al. 2017, reproduced.

Iivanainen J, Stenroos M, Parkkonen L (2017) "Measuring MEG closer to the brain:
Performance of on-scalp sensor arrays", NeuroImage 147:542-553,
doi 10.1016/j.neuroimage.2016.12.048 (PMID 28007515, PMCID PMC5432137).

What the paper states (its abstract; checked against two public copies of it)
-----------------------------------------------------------------------------
* Arrays: nOPM, 102 on-scalp OPMs measuring the field component normal to the scalp;
  tOPM, 204 on-scalp OPMs measuring the two tangential components (two per site);
  the SQUID reference is the 306-channel Elekta/MEGIN array (102 magnetometers and
  204 planar gradiometers).
* Forward model: three-compartment BEM of 10 adult heads built from their MRIs,
  current dipoles spread evenly over the cortical mantle.
* "Compared to the SQUID magnetometers, nOPM and tOPM yielded 7.5 and 5.3 times higher
  signal power, while the correlations between the field patterns of source dipoles
  were reduced by factors of 2.8 and 3.6, respectively."
* "Volume currents reduced the signals of primary currents on average by 10%, 72% and
  15% in nOPM, tOPM and SQUID magnetometers, respectively."
* "The information capacities of the OPM arrays were clearly higher than that of the
  SQUID array" (no number in the abstract: not compared here).
* "the minimum-norm-based point-spread functions were on average 2.4 and 2.5 times
  more spread for the SQUID array compared to nOPM and tOPM arrays, respectively."

What could not be verified (the full text was not available to check)
---------------------------------------------------------------------
* The on-scalp distance. The default ``standoff=4.5 mm`` (scalp to the sensitive point)
  is the figure this comparison was asked to use; it is not confirmed from the paper.
  The SQUID helmet is seated 20 mm from the scalp at its closest
  (:data:`qsense.arrays.DEFAULT_HELMET_GAP`); the paper's SQUID distances come from
  its subjects' head positions in a real helmet.
* Whether "signal power" of tOPM (204 channels) is summed over the channels or taken
  per channel (for nOPM against the 102 magnetometers the two are the same ratio). Both
  are computed; the published figure is shown against both, and the basis coordinate
  says so.
* The exact definitions of the field-pattern correlation, of the volume-current
  reduction and of the point-spread "spread", and the noise and regularisation of the
  minimum-norm estimate. The definitions used here are stated per row (``metric``)
  and are assumptions.

Quantities computed (all per source for dipoles along the cortical normal, then averaged
over the sources; ``g_s`` is the column of the gain matrix of source ``s``)
------------------------------------------------------------------------------------------
* total signal power ``|g_s|^2`` (sum over channels of the squared field of a 1 A m
  dipole) and per-channel signal power ``|g_s|^2 / n_channels``; the row value is the
  ratio of the source-averaged powers, on-scalp / SQUID magnetometers;
* field-pattern correlation: ``|g_s . g_t| / (|g_s| |g_t|)`` averaged over all pairs
  ``s != t`` (uncentred, assumption); the row value is SQUID magnetometers / on-scalp,
  the factor by which the correlation is reduced;
* volume-current reduction: ``1 - |g_s| / |g0_s|`` with ``g0`` the primary-current
  (infinite-medium Biot-Savart, :func:`forward_models.conductors.primary_dipole_field`)
  field over the same coil integration points (assumption: amplitude, not power);
* point-spread spread: the spatial deviation of the minimum-norm point-spread function
  about its source (Molins et al. 2008, NeuroImage 42:1069, eq. 12; MNE's
  ``resolution_metrics(function="psf", metric="sd_ext")``), with MNE's own inverse code
  (``make_inverse_operator`` fixed orientation, no depth weighting, diagonal noise from
  the sensors' white noise floors: assumptions). One source variance for all arrays,
  set so that the SQUID array's ``lambda2`` is 1/9 (MNE's default SNR 3); each on-scalp
  array's ``lambda2`` then follows from its own whitened gain (its higher SNR makes
  the estimate less regularised, as in a real comparison at equal brain activity). The
  row value is SQUID (all 306 channels) / on-scalp.
"""

from __future__ import annotations

import time

import mne
import numpy as np
import xarray as xr

import qsense as qs
from forward_models.conductors import primary_dipole_field
from qsense._checks import (
    check_distance,
    check_int,
    check_number,
    check_same_head,
    validate_type,
)

__all__ = ["PUBLISHED", "format_table", "iivanainen_comparison", "signal_power"]

CITATION = ("Iivanainen J, Stenroos M, Parkkonen L (2017) Measuring MEG closer to the brain: "
            "Performance of on-scalp sensor arrays. NeuroImage 147:542-553, "
            "doi 10.1016/j.neuroimage.2016.12.048")

PUBLISHED = {
    ("power", "nOPM"): 7.5,
    ("power", "tOPM"): 5.3,
    ("correlation", "nOPM"): 2.8,
    ("correlation", "tOPM"): 3.6,
    ("volume", "nOPM"): 0.10,
    ("volume", "tOPM"): 0.72,
    ("volume", "SQUID mag"): 0.15,
    ("psf", "nOPM"): 2.4,
    ("psf", "tOPM"): 2.5,
}
"""Figures of the paper's abstract (ratios, or fractions for the volume-current rows)."""

_SOURCE = "abstract (verified)"


def _cortex(head, sources, name="sources"):
    validate_type(sources, qs.sources.SourceSpace, name, "qsense.sources.SourceSpace")
    if sources.normals is None or sources.mne_src is None or sources.kind != "surface":
        raise ValueError(f"{name} must be cortical sources with normals "
                         f"(qsense.sources.cortex), got a {sources.kind!r} source space")
    check_same_head(name, sources, head)
    return sources


def _normal_gain(free, normals):
    """(n_channels, n_sources * 3) free-orientation gain -> (n_channels, n_sources)."""
    return np.einsum("csk,sk->cs", free.reshape(free.shape[0], -1, 3), normals)


def signal_power(array, head, sources, *, per_channel: bool = False) -> np.ndarray:
    """Signal power of each cortical source, dipole along the cortical normal.

    Parameters
    ----------
    array : qsense.SensorArray
        Magnetometers (the power of channels in different units cannot be summed).
    head : qsense.Head
    sources : qsense.sources.SourceSpace
        Cortical sources (:func:`qsense.sources.cortex`) of ``head``.
    per_channel : bool
        False: sum over channels of the squared field of a 1 A m dipole; True: that sum
        divided by the number of channels.

    Returns
    -------
    ndarray, shape (n_sources,)
        T^2/(A m)^2.
    """
    validate_type(array, qs.SensorArray, "array", "qsense.SensorArray")
    validate_type(head, qs.Head, "head", "qsense.Head")
    _cortex(head, sources)
    if not isinstance(per_channel, bool | np.bool_):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    if np.any(array.is_gradiometer):
        raise ValueError("array must hold magnetometers only (T); got "
                         f"{int(np.sum(array.is_gradiometer))} gradiometer channels")
    lf = qs.leadfield(array, head, sources).values
    gain = np.einsum("csk,sk->cs", lf, sources.normals)
    return _power(gain, per_channel)


def _power(gain, per_channel):
    p = np.sum(gain**2, axis=0)
    return p / gain.shape[0] if per_channel else p


def _primary_gain(array, sources, chunk=256):
    """Infinite-medium field of unit normal dipoles over the array's coil points."""
    pts, nrm, w = array.coil_geometry("accurate")
    out = np.empty((array.n_channels, len(sources)))
    for a in range(0, len(sources), chunk):
        r0 = sources.positions[a:a + chunk][None, None]
        q = sources.normals[a:a + chunk][None, None]
        b = np.asarray(primary_dipole_field(pts[:, :, None], r0, q))  # (C, P, S, 3)
        out[:, a:a + chunk] = np.einsum("cpsk,cpk,cp->cs", b, nrm, w)
    return out


def _mean_abs_correlation(gain):
    g = gain / np.linalg.norm(gain, axis=0)
    c = np.abs(g.T @ g)
    n = c.shape[0]
    return float((c.sum() - np.trace(c)) / (n * (n - 1)))


def _psf_spread(fwd, array, lambda2):
    fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                         use_cps=False, verbose=False)
    info = array.to_info()
    noise_std = np.asarray(array.noise)
    cov = mne.Covariance(np.diag(noise_std**2), info["ch_names"], bads=[], projs=[],
                         nfree=1, verbose=False)
    inv = mne.minimum_norm.make_inverse_operator(info, fixed, cov, fixed=True, loose=0.0,
                                                 depth=None, verbose=False)
    res = mne.minimum_norm.make_inverse_resolution_matrix(fixed, inv, method="MNE",
                                                          lambda2=lambda2, verbose=False)
    sd = mne.minimum_norm.resolution_metrics(res, inv["src"], function="psf",
                                             metric="sd_ext", verbose=False)
    return float(np.mean(sd.data)) * 1e-2  # MNE reports centimetres


def _common_source_lambda2(gains, arrays, lambda2_squid):
    """Each array's MNE ``lambda2`` for one source variance and each array's own noise.

    MNE scales the source covariance ``sigma^2 I`` so that the whitened gain ``W``
    gives ``trace(W R W^T) = n`` (channels), which makes its minimum-norm operator
    ``W^T (W W^T + lambda2 |W|_F^2 / n I)^-1``; the same operator with a physical source
    variance ``sigma^2`` has ``1 / sigma^2`` in place of ``lambda2 |W|_F^2 / n``. So
    ``lambda2 = n / (sigma^2 |W|_F^2)``; ``sigma^2`` is set by the SQUID array's
    ``lambda2``, and each array then sees the SNR its own sensors give.
    """
    def white_power(key):
        w = gains[key] / np.asarray(arrays[key].noise)[:, None]
        return float(np.sum(w**2)), w.shape[0]

    total, n = white_power("SQUID")
    var = n / (lambda2_squid * total)
    out = {}
    for key in ("SQUID", "nOPM", "tOPM"):
        total, n = white_power(key)
        out[key] = n / (var * total)
    return out


def _arrays(head, n_sites, standoff, sensor, gap):
    squid = qs.arrays.neuromag306(head, gap=gap)
    tri = qs.arrays.opm_on_scalp(head, n_sites, "triaxial", standoff=standoff, sensor=sensor)
    normal = qs.arrays.opm_on_scalp(head, n_sites, "radial", standoff=standoff, sensor=sensor)
    tangential = tri.pick([i for i, n in enumerate(tri.names) if not n.endswith("_R")])
    return {"SQUID": squid, "nOPM": normal, "tOPM": tangential}


def iivanainen_comparison(head, sources, *, standoff: float = 0.0045, n_sites: int = 102,
                          sensor: str = "point", helmet_gap: float = qs.arrays.DEFAULT_HELMET_GAP,
                          lambda2: float = 1.0 / 9.0, point_spread: bool = True) -> xr.Dataset:
    """Iivanainen et al. 2017's comparisons of on-scalp and SQUID arrays on a qsense head.

    Builds nOPM (``n_sites`` on-scalp magnetometers measuring the field normal to the
    scalp), tOPM (the two tangential components at the same sites) and the Neuromag-306
    SQUID array, computes one lead field per array (dipoles along the cortical normal)
    and from it the quantities described in the module docstring.

    Parameters
    ----------
    head : qsense.Head
        Any conductor (``qs.Head.fsaverage()``: the single-shell BEM; ``conductor=
        "sphere"``: the fitted sphere).
    sources : qsense.sources.SourceSpace
        Cortical sources of ``head`` (:func:`qsense.sources.cortex`).
    standoff : float
        Scalp to on-scalp sensitive point, m (0 < standoff <= 0.05).
    n_sites : int
        On-scalp sites (102 in the paper: 102 nOPM, 204 tOPM channels).
    sensor : str
        OPM preset (:mod:`qsense.sensors`) that supports triaxial sensing; "point" (an
        ideal point magnetometer) by default, as in the paper's simulation.
    helmet_gap : float
        Closest SQUID coil to scalp distance used to seat the helmet, m.
    lambda2 : float
        Regularisation of the SQUID array's minimum-norm estimate (1/SNR^2, MNE's
        convention), > 0; it fixes the source variance that sets the on-scalp arrays'.
    point_spread : bool
        Whether to compute the point-spread rows (MNE's resolution matrix: the slow
        part).

    Returns
    -------
    xarray.Dataset
        Dimension ``row``; variables ``qsense`` (this computation), ``published`` (the
        paper's, NaN where it gives none) and ``ratio`` (qsense / published), all
        dimensionless; string coordinates ``quantity``, ``arrays``, ``basis``,
        ``setup`` (sensor type and distances), ``metric`` (the definition used) and
        ``published_source``. ``attrs``: ``citation``, ``setup``, ``differences``,
        ``elapsed_s``.
    """
    t0 = time.perf_counter()
    validate_type(head, qs.Head, "head", "qsense.Head")
    sources = _cortex(head, sources)
    standoff = check_distance("standoff", standoff, high=0.05, low=0.0, low_open=True,
                              what="an on-scalp sensor")
    helmet_gap = check_distance("helmet_gap", helmet_gap, high=0.1, low=0.0, low_open=True,
                                what="a SQUID helmet")
    n_sites = check_int("n_sites", n_sites, low=4, high=1000)
    lambda2 = check_number("lambda2", lambda2, low=0.0, low_open=True)
    if not isinstance(point_spread, bool | np.bool_):
        raise TypeError(f"point_spread must be True or False, got {point_spread!r}")
    arrays = _arrays(head, n_sites, standoff, sensor, helmet_gap)
    squid = arrays["SQUID"]
    is_mag = ~squid.is_gradiometer
    arrays["SQUID mag"] = squid.pick(is_mag)

    fwds, gains = {}, {}
    for key in ("SQUID", "nOPM", "tOPM"):
        fwds[key] = qs.make_forward(arrays[key], head, sources)
        gains[key] = _normal_gain(fwds[key]["sol"]["data"], sources.normals)
    gains["SQUID mag"] = gains["SQUID"][is_mag]

    rows = []

    def add(quantity, key, arrays_text, basis, metric, value):
        pub = PUBLISHED.get((quantity, key), np.nan)
        rows.append(dict(quantity=_QUANTITY[quantity], arrays=arrays_text, basis=basis,
                         metric=metric, qsense=value, published=pub,
                         published_source=_SOURCE if np.isfinite(pub) else "none"))

    ref = {b: float(np.mean(_power(gains["SQUID mag"], b))) for b in (False, True)}
    for key in ("nOPM", "tOPM"):
        n = gains[key].shape[0]
        for per_channel in (False, True):
            basis = (f"per channel ({n} vs 102 channels)" if per_channel
                     else f"total, sum over {n} vs 102 channels")
            if key == "tOPM":
                basis += "; paper's basis not stated in the abstract"
            value = float(np.mean(_power(gains[key], per_channel))) / ref[per_channel]
            add("power", key, f"{key} / SQUID mag", basis,
                "mean over sources of sum_c g_cs^2 (per channel: / n_channels), ratio",
                value)
    corr_ref = _mean_abs_correlation(gains["SQUID mag"])
    for key in ("nOPM", "tOPM"):
        add("correlation", key, f"SQUID mag / {key}", "all source pairs",
            "mean |cosine| between normal-dipole topographies, all pairs (assumption)",
            corr_ref / _mean_abs_correlation(gains[key]))
    for key in ("nOPM", "tOPM", "SQUID mag"):
        prim = _primary_gain(arrays[key], sources)
        red = 1.0 - np.linalg.norm(gains[key], axis=0) / np.linalg.norm(prim, axis=0)
        add("volume", key, key, "per source, averaged",
            "1 - |g| / |g_primary| (amplitude; assumption)", float(np.mean(red)))
    if point_spread:
        lam = _common_source_lambda2(gains, arrays, lambda2)
        spread = {k: _psf_spread(fwds[k], arrays[k], lam[k]) for k in ("SQUID", "nOPM", "tOPM")}
        for key in ("nOPM", "tOPM"):
            add("psf", key, f"SQUID 306 / {key}", "mean over sources",
                f"MNE PSF spatial deviation sd_ext; fixed, no depth weighting; noise: sensor "
                f"floors; one source variance, SQUID lambda2={lambda2:.3g}, {key} "
                f"lambda2={lam[key]:.3g} (assumption)", spread["SQUID"] / spread[key])

    gap = head.scalp_distance(arrays["SQUID mag"].positions)
    setup_text = (f"on-scalp point magnetometers ({sensor}) {standoff * 1e3:.1f} mm off the "
                  f"scalp at {n_sites} sites; SQUID Neuromag-306 seated {helmet_gap * 1e3:.0f}"
                  f" mm at closest (magnetometers {gap.min() * 1e3:.0f}-{gap.max() * 1e3:.0f}"
                  f" mm, mean {gap.mean() * 1e3:.0f} mm)")
    return _dataset(rows, head, sources, setup_text, time.perf_counter() - t0)


_QUANTITY = {
    "power": "signal power",
    "correlation": "field-pattern correlation reduction",
    "volume": "volume-current reduction",
    "psf": "point-spread spread",
}


def _dataset(rows, head, sources, setup_text, elapsed):
    col = {k: [r[k] for r in rows] for k in rows[0]}
    n = len(rows)
    qv = np.array(col["qsense"], float)
    pv = np.array(col["published"], float)
    string = {
        "quantity": "compared quantity",
        "arrays": "arrays compared (numerator / denominator)",
        "basis": "per channel or total, and over what",
        "metric": "definition used here",
        "published_source": "where the published figure comes from",
    }
    coords = {"row": ("row", np.arange(n), {"units": "1", "long_name": "table row"})}
    for name, long in string.items():
        coords[name] = ("row", np.array(col[name], dtype=str), {"units": "",
                                                                "long_name": long})
    coords["setup"] = ("row", np.array([setup_text] * n, dtype=str),
                       {"units": "", "long_name": "sensor types and distances"})
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = qv / pv
    data = {
        "qsense": ("row", qv, {"units": "1", "long_name": "qsense value (ratio, or fraction "
                                                         "for volume-current rows)"}),
        "published": ("row", pv, {"units": "1", "long_name": "Iivanainen et al. 2017 "
                                                             "(NaN: not published)"}),
        "ratio": ("row", ratio, {"units": "1", "long_name": "qsense / published"}),
    }
    attrs = {
        "title": "Iivanainen et al. 2017 comparison",
        "citation": CITATION,
        "setup": (f"qsense head {head.name!r} ({type(head.conductor).__name__}), "
                  f"{len(sources)} cortical sources ({sources.spacing}) along the surface "
                  f"normal; {setup_text}"),
        "differences": DIFFERENCES,
        "elapsed_s": float(elapsed),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


DIFFERENCES = (
    "head model: one fsaverage template head with a single-shell (inner skull) BEM, not 10 "
    "individual heads with a three-compartment BEM (MEG is insensitive to the outer shells "
    "to first order, but the template scalp sets the distances); source space: fsaverage5 "
    "white surface decimated to the chosen icosahedral spacing, not the paper's evenly "
    "spread dipoles; sensor counts: as the paper (102 nOPM, 204 tOPM at 102 sites, 102+204 "
    "SQUID) but sites on qsense's Fibonacci lattice over the upper head, not the paper's "
    "layout; distances: the on-scalp standoff is an input (4.5 mm default, not verified "
    "from the paper) and the helmet is seated 20 mm from the scalp at its closest; noise "
    "(point-spread rows only): the sensors' preset white noise floors (point OPM 10 "
    "fT/sqrt(Hz), Neuromag magnetometer 3.5 fT/sqrt(Hz), gradiometer 3 fT/(cm sqrt(Hz))) "
    "and one source variance that gives the SQUID array lambda2 = 1/9, plain minimum norm "
    "without depth weighting (the paper's noise and regularisation not verified); metric "
    "definitions of the correlation, volume-current and spread rows are assumptions; "
    "information capacity not compared (the abstract gives no number)")


def format_table(ds: xr.Dataset) -> str:
    """The comparison as a text table (one line per row, then the setup and differences).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`iivanainen_comparison`.

    Returns
    -------
    str
    """
    validate_type(ds, xr.Dataset, "ds", "xarray.Dataset")
    missing = [k for k in ("qsense", "published", "ratio", "quantity", "arrays", "basis")
               if k not in ds.variables]
    if missing or ds["qsense"].dims != ("row",):
        raise ValueError(f"ds must come from iivanainen_comparison (a 'row' table); missing "
                         f"{missing}")

    def num(v):
        return "   n/a" if not np.isfinite(v) else f"{v:6.2f}"

    head = f"{'quantity':37s} {'arrays':18s} {'qsense':>6s} {'paper':>6s} {'q/p':>6s}  basis"
    lines = [str(ds.attrs.get("title", "")), head, "-" * len(head)]
    for i in range(ds.sizes["row"]):
        lines.append(f"{str(ds['quantity'].values[i]):37s} {str(ds['arrays'].values[i]):18s} "
                     f"{num(float(ds['qsense'].values[i]))} "
                     f"{num(float(ds['published'].values[i]))} "
                     f"{num(float(ds['ratio'].values[i]))}  {ds['basis'].values[i]}")
    for key in ("setup", "differences", "citation"):
        if key in ds.attrs:
            lines.append(f"{key}: {ds.attrs[key]}")
    if "elapsed_s" in ds.attrs:
        lines.append(f"computed in {ds.attrs['elapsed_s']:.1f} s")
    return "\n".join(lines)
