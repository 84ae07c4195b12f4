"""On-scalp sensor arrays designed by gradient ascent, and the baselines they must beat.

:func:`design_array` moves ``n`` OPMs over the upper scalp (and, optionally, tilts them)
to maximise what the array tells about the sources, by Adam (Kingma and Ba 2015,
arXiv:1412.6980; ``optax.adam``) on exact JAX gradients of the field.

The model
---------
* **Where sensors may sit.** The scalp's distance from the head's sphere origin is
  fitted by real spherical harmonics up to degree ``lmax`` (least squares over the scalp
  vertices of the upper head; :mod:`forward_models.scalp_surface`). A sensor is a
  direction ``u`` from the origin; its cell centre is the fitted scalp point along ``u``
  moved ``standoff`` along the fitted surface's outward normal. The directions are kept
  on the upper-head cap of :func:`qsense.arrays.opm_on_scalp` (polar angle from the
  vertical up to ``coverage_deg[0]`` at the back and sides, ``coverage_deg[1]`` at the
  face) by projecting each step back onto it (projected gradient ascent): the surface
  constraint holds by construction, the cap constraint exactly after every step.
* **Orientation.** ``axes="radial"``: along the fitted surface's normal (what
  ``opm_on_scalp(..., "radial")`` does with the scalp's normal). ``axes="tilted"``: the
  normal plus a free tangential vector, normalised (any direction in the outer
  half-space), also optimised.
* **Field.** Sarvas's formula for a spherically symmetric conductor at the head's
  sphere origin (Sarvas 1987, Phys. Med. Biol. 32:11, eq. 25;
  :func:`forward_models.conductors.sphere_coil_leadfield`), one point magnetometer at
  each cell centre (``coil_def.dat``'s "point" accuracy; assumption: the cell's 3 mm
  extent is negligible for the design). The head's conductor must be that sphere:
  ``qsense.Head.fsaverage(conductor="sphere")`` or ``qsense.Head.sphere()``.
* **Noise.** White, independent, ``sigma = noise_floor * sqrt(bandwidth)`` per channel
  (the sensor preset's floor; ``bandwidth`` as in :func:`inverse.study.compare`).
* **Spacing.** Sensors closer than ``min_spacing`` (between cell centres) are pushed
  apart by the smooth penalty ``w sum_{i<j} max(0, 1 - d_ij / s)^2``, with ``w`` scaled
  to the objective's gradient at the start (``spacing_weight`` times the largest
  per-sensor gradient norm times ``s``: a 1 % violation then pushes back about as hard
  as the objective pulls). The minimum distance reached is reported, not forced.

Objectives (maximised)
----------------------
``"information"``: the Shannon information about independent Gaussian sources in the
region of interest (all sources when ``roi`` is None), bits per sample,

    I = 1/2 log2 det(I + L C L^T / sigma^2),   C = source_std^2 I,

the convention of :func:`inverse.information_bits` (Kemppainen and Ilmoniemi 1989);
``L`` holds one column per source along its normal (cortex, ``orientation="normal"``)
or three (``"free"``).

``"crb"``: minus the mean over the ROI's sources of ``ln tr CRB_s / (1 m^2)``, where
``CRB_s`` is the position block of the inverse Fisher information of a single dipole of
moment ``moment`` along the source's normal (sources without normals: head-frame up
with its radial part removed, as :func:`inverse.localise_on_recordings` does), its two
tangential moment components estimated jointly (Mosher et al. 1993,
Electroencephalogr. Clin. Neurophysiol. 86:303; :mod:`forward_models.fisher`), plus a
weak Gaussian prior (position 0.1 m, moment 1e-6 A m standard deviations; the Bayesian
bound of Van Trees 1968, Detection, Estimation and Modulation Theory I, sec. 2.4.3) so
that the bound exists for arrays of fewer than five sensors (the greedy baseline starts
from one). Its geometric-mean RMS bound is ``exp(-objective / 2)`` m.

Baselines
---------
:func:`even_array`: the Fibonacci lattice of ``opm_on_scalp`` on the same fitted
surface (the design's start). :func:`greedy_array`: from a dense lattice of candidates
on the same surface (radial), add the sensor that most increases the objective, one at
a time, skipping candidates closer than ``min_spacing`` to a chosen one (the classical
greedy sensor selection; e.g. Krause, Singh and Guestrin 2008, J. Mach. Learn. Res.
9:235). :func:`evaluate_array` scores any array on the same model.

Named regions of interest (assumption: boxes, not an atlas; no annotation of fsaverage
ships offline): on the fsaverage cortex, ``"left_temporal"``, ``"right_temporal"`` and
``"temporal"`` (both) are the sources whose fsaverage MRI coordinates (surface RAS,
close to MNI305) have ``|x| >= 40 mm``, ``-75 <= y <= 25 mm`` and ``z <= 5 mm``: the
lateral and inferior temporal lobe below the Sylvian fissure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import qsense as qs
from forward_models import conductors, fisher
from forward_models import scalp_surface as ss
from qsense._checks import (
    check_array,
    check_distance,
    check_int,
    check_number,
    check_option,
    check_same_head,
    validate_type,
)
from qsense.arrays import _cap_directions, _check_coverage, _frames_from_ez, _opm_preset

__all__ = ["OBJECTIVES", "DESIGN_AXES", "NAMED_ROIS", "design_array", "even_array",
           "greedy_array", "evaluate_array", "region_of_interest", "design_surface",
           "DesignSurface", "plot_design_layouts"]

OBJECTIVES = ("information", "crb")
DESIGN_AXES = ("radial", "tilted")
INITS = ("even", "random")
NAMED_ROIS = ("left_temporal", "right_temporal", "temporal")
_TEMPORAL_BOX_MM = dict(abs_x=40.0, y=(-75.0, 25.0), z_max=5.0)
_PRIOR_POSITION_STD = 0.1  # m
_PRIOR_MOMENT_STD = 1e-6  # A m
_FIT_MARGIN = 1.2  # the surface is fitted on the cap widened by 20 % in polar angle


# ------------------------------------------------------------------------ the surface
@dataclass(frozen=True)
class DesignSurface:
    """The smooth surface sensors are kept on (see the module docstring).

    Attributes
    ----------
    centre : ndarray, shape (3,)
        Head frame, m (the head's sphere origin).
    coef : ndarray, shape ((lmax + 1)^2,)
        Real spherical-harmonic coefficients of the scalp's distance from ``centre``, m.
    lmax : int
    standoff : float
        m.
    coverage_deg : (float, float)
        Cap limits (back and sides, face), degrees.
    fit_rms : float
        RMS residual of the fit over the scalp vertices it used, m.
    """

    centre: np.ndarray
    coef: np.ndarray
    lmax: int
    standoff: float
    coverage_deg: tuple
    fit_rms: float

    def place(self, directions):
        """Cell centres (n, 3) and outward unit normals (n, 3) for directions (n, 3)."""
        pos, nrm = ss.surface_points(jnp.asarray(directions), self.coef, self.centre,
                                     self.lmax, self.standoff)
        return np.asarray(pos), np.asarray(nrm)

    def area(self, n_points: int = 8000) -> float:
        """Area of the cap on the offset surface, m^2 (quadrature over a Fibonacci
        lattice of directions: each carries a solid angle of 4 pi / n_points)."""
        d = _fibonacci(n_points)
        inside = _cap_margin_np(d, self.coverage_deg) <= 1
        da = ss.area_element(jnp.asarray(d[inside]), self.coef, self.lmax, self.standoff)
        return float(np.sum(np.asarray(da)) * 4 * np.pi / n_points)


def _fibonacci(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    rho = np.sqrt(1 - z * z)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])


def _cap_limit(fwd, coverage):
    back, front = coverage
    return np.radians(back - (back - front) * fwd)


def _cap_margin_np(d, coverage):
    # the cap of qsense.arrays (polar angle over its limit, <= 1 inside)
    rho = np.linalg.norm(d[:, :2], axis=1)
    polar = np.arctan2(rho, d[:, 2])
    fwd = np.clip(d[:, 1] / np.maximum(rho, 1e-12), 0, 1)
    return polar / _cap_limit(fwd, coverage)


def _project_to_cap(u, coverage):
    """Unit directions, each moved along its meridian into the cap if outside (JAX)."""
    u = u / jnp.linalg.norm(u, axis=-1, keepdims=True)
    rho = jnp.sqrt(u[:, 0] ** 2 + u[:, 1] ** 2 + 1e-30)
    polar = jnp.arctan2(rho, u[:, 2])
    fwd = jnp.clip(u[:, 1] / rho, 0.0, 1.0)
    back, front = (math.radians(c) for c in coverage)
    limit = back - (back - front) * fwd
    h = u[:, :2] / rho[:, None]
    moved = jnp.concatenate([jnp.sin(limit)[:, None] * h, jnp.cos(limit)[:, None]], axis=1)
    return jnp.where((polar > limit)[:, None], moved, u)


def design_surface(head, standoff, *, lmax: int = 8, coverage_deg=(100.0, 65.0)
                   ) -> DesignSurface:
    """Fit the smooth sensor surface of a head (see the module docstring).

    Parameters
    ----------
    head : qsense.Head
    standoff : float
        Scalp to cell centre, m.
    lmax : int
        Highest spherical-harmonic degree (2-16; 8 fits fsaverage's upper scalp to about
        0.4 mm RMS, the spacing of its 2033 vertices being about 5 mm).
    coverage_deg : (float, float)
        Cap limits, degrees (as :func:`qsense.arrays.opm_on_scalp`).
    """
    validate_type(head, qs.Head, "head", "qsense.Head")
    standoff = check_distance("standoff", standoff, high=0.05, what="an on-scalp sensor")
    lmax = check_int("lmax", lmax, low=2, high=16)
    coverage = _check_coverage(coverage_deg)
    rr = head.scalp.rr
    d = rr - head.sphere_origin
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    sel = _cap_margin_np(u, coverage) <= _FIT_MARGIN
    if sel.sum() <= ss.n_coefficients(lmax):
        raise ValueError(f"lmax={lmax} needs more than {ss.n_coefficients(lmax)} scalp "
                         f"vertices over the cap; the head's scalp has {int(sel.sum())}")
    coef, rms = ss.fit_radius(rr[sel], head.sphere_origin, lmax)
    return DesignSurface(np.array(head.sphere_origin), coef, lmax, standoff, coverage, rms)


# ------------------------------------------------------------------------- the ROI
def region_of_interest(head, sources, roi) -> np.ndarray:
    """Indices into ``sources`` of a region of interest.

    Parameters
    ----------
    head : qsense.Head
    sources : qsense.sources.SourceSpace
    roi : None, str, array_like of int, array_like of bool or dict
        None: every source. A name from :data:`NAMED_ROIS` (fsaverage cortex; see the
        module docstring). Source indices, or a boolean mask over the sources. A dict
        ``{"centre": (x, y, z), "radius": r}``: the sources within ``r`` m of the point
        (head frame, m).

    Raises
    ------
    ValueError
        An unknown name, indices out of range or repeated, a mask of the wrong length, a
        bad sphere, or a region with no sources.
    """
    n = sources.n_sources
    if roi is None:
        return np.arange(n)
    if isinstance(roi, str):
        check_option("roi", roi, NAMED_ROIS)
        if head.subject != "fsaverage" or sources.kind != "surface":
            raise ValueError(f"roi={roi!r} is defined on the fsaverage cortex; got head "
                             f"{head.name!r} with {sources.kind} sources (pass source "
                             "indices or a sphere instead)")
        t = head.head_mri_t
        mri = (sources.positions @ t[:3, :3].T + t[:3, 3]) * 1e3
        b = _TEMPORAL_BOX_MM
        sel = ((np.abs(mri[:, 0]) >= b["abs_x"]) & (mri[:, 1] >= b["y"][0])
               & (mri[:, 1] <= b["y"][1]) & (mri[:, 2] <= b["z_max"]))
        if roi == "left_temporal":
            sel &= mri[:, 0] < 0
        elif roi == "right_temporal":
            sel &= mri[:, 0] > 0
        idx = np.flatnonzero(sel)
    elif isinstance(roi, dict):
        if set(roi) != {"centre", "radius"}:
            raise ValueError(f"roi as a dict must have the keys 'centre' (head frame, m) "
                             f"and 'radius' (m), got keys {sorted(roi)}")
        c = check_array("roi['centre']", roi["centre"], shape=(3,), unit="m")
        if np.any(np.abs(c) > 0.5):
            raise ValueError(f"roi['centre'] must be in metres (head frame), got "
                             f"{c.tolist()}")
        r = check_distance("roi['radius']", roi["radius"], low_open=True, high=0.3,
                           what="a region of interest")
        idx = np.flatnonzero(np.linalg.norm(sources.positions - c, axis=1) <= r)
    else:
        a = np.asarray(roi)
        if a.dtype == bool:
            if a.shape != (n,):
                raise ValueError(f"roi as a boolean mask must have shape ({n},) (one per "
                                 f"source), got {a.shape}")
            idx = np.flatnonzero(a)
        else:
            if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or (
                    np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))):
                raise TypeError(f"roi must be None, a name from {NAMED_ROIS}, source "
                                f"indices, a boolean mask or a dict (centre, radius); got "
                                f"{roi!r:.80}")
            idx = a.astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"roi indices must lie in 0..{n - 1} (the sources), got "
                                 f"{idx.min()}..{idx.max()}")
            if np.unique(idx).size != idx.size:
                raise ValueError("roi indices must be distinct")
            idx = np.sort(idx)
    if idx.size == 0:
        raise ValueError(f"roi={roi!r:.80} selects no sources (of {n}); widen it")
    return idx


# ---------------------------------------------------------------------- the problem
@dataclass(frozen=True)
class _Problem:
    head: object
    surface: DesignSurface
    preset: object
    objective: str
    positions: np.ndarray  # ROI sources, (S, 3)
    orients: np.ndarray | None  # (S, 3) normals, or None for free orientation
    moments: np.ndarray  # (S, 3) for the CRB
    sigma: float
    source_std: float
    roi_index: np.ndarray
    settings: dict

    def fun(self):
        """The objective as a JAX function of (positions (n, 3), orientations (n, 3))."""
        origin = jnp.asarray(self.head.sphere_origin)
        if self.objective == "information":
            return _information_fun(jnp.asarray(self.positions), None if self.orients is None
                                    else jnp.asarray(self.orients), origin,
                                    self.source_std / self.sigma)
        return _crb_fun(jnp.asarray(self.positions), jnp.asarray(self.moments), origin,
                        self.sigma)


def _leadfield(pos, ori, src, origin):
    n = pos.shape[0]
    return conductors.sphere_coil_leadfield(pos[:, None, :], ori[:, None, :],
                                            jnp.ones((n, 1), pos.dtype), src, origin)


def _information_fun(src, src_ori, origin, scale):
    def info(pos, ori):
        lf = _leadfield(pos, ori, src, origin)
        gain = (jnp.einsum("csk,sk->cs", lf, src_ori) if src_ori is not None
                else lf.reshape(lf.shape[0], -1))
        w = gain * scale
        m = jnp.eye(w.shape[0], dtype=w.dtype) + w @ w.T
        return 0.5 * jnp.linalg.slogdet(m)[1] / jnp.log(2.0)
    return info


def _prior(dtype):
    return jnp.diag(jnp.array([_PRIOR_POSITION_STD ** -2] * 3 + [_PRIOR_MOMENT_STD ** -2] * 2,
                              dtype=dtype))


def _mean_log_trace(fish):
    """-mean_s ln tr (position block of fish_s^-1), fish (S, 5, 5) (Jacobi-scaled)."""
    d = jnp.sqrt(jnp.diagonal(fish, axis1=-2, axis2=-1))
    scaled = fish / (d[..., :, None] * d[..., None, :])
    inv = jnp.linalg.inv(scaled) / (d[..., :, None] * d[..., None, :])
    tr = inv[..., 0, 0] + inv[..., 1, 1] + inv[..., 2, 2]
    return -jnp.mean(jnp.log(tr))


def _crb_fun(src, mom, origin, sigma):
    def crb(pos, ori):
        n = pos.shape[0]
        jac = fisher.sphere_dipole_jacobian(pos[:, None, :], ori[:, None, :],
                                            jnp.ones((n, 1), pos.dtype), src, mom, origin)
        white = jac / sigma
        fish = jnp.einsum("sci,scj->sij", white, white) + _prior(pos.dtype)
        return _mean_log_trace(fish)
    return crb


def _default_sources(head):
    if head.subject == "fsaverage":
        return qs.sources.cortex(head, "ico3")
    return qs.sources.volume(head, spacing=0.01)


def _dipole_moments(sources, head, amplitude):
    normals = getattr(sources, "normals", None)
    if normals is not None:
        q = np.asarray(normals, float)
    else:
        radial = sources.positions - head.sphere_origin
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
        up = np.array([0.0, 0.0, 1.0])
        q = up - (radial @ up)[:, None] * radial
        weak = np.linalg.norm(q, axis=1) < 1e-3
        q[weak] = np.array([1.0, 0.0, 0.0]) - radial[weak, :1] * radial[weak]
    return amplitude * q / np.linalg.norm(q, axis=1, keepdims=True)


def _check_positive(name, value, *, high, unit):
    return check_number(name, value, low=0, low_open=True, high=high, unit=unit)


def _problem(head, n_sensors, *, objective, roi, standoff, min_spacing, sensor, sources,
             source_std, moment, bandwidth, orientation, lmax, coverage_deg,
             noise_floor=None) -> _Problem:
    """Every argument checked, the surface fitted and the ROI resolved (no optimisation)."""
    validate_type(head, qs.Head, "head", "qsense.Head")
    if head.conductor.name != "sphere":
        raise ValueError(f"head must have a spherical conductor (the design differentiates "
                         f"Sarvas's field), got conductor {head.conductor.name!r}; use "
                         "qsense.Head.fsaverage(conductor='sphere') or qsense.Head.sphere()")
    n_sensors = check_int("n_sensors", n_sensors, low=1, high=512)
    check_option("objective", objective, OBJECTIVES)
    preset = _opm_preset(sensor)
    standoff = preset.standoff if standoff is None else standoff
    min_spacing = check_distance("min_spacing", min_spacing, high=0.2,
                                 what="a sensor spacing")
    source_std = _check_positive("source_std", source_std, high=1e-3, unit="A m")
    moment = _check_positive("moment", moment, high=1e-3, unit="A m")
    bandwidth = _check_positive("bandwidth", bandwidth, high=1e5, unit="Hz")
    if sources is None:
        sources = _default_sources(head)
    validate_type(sources, qs.sources.SourceSpace, "sources", "qsense SourceSpace")
    check_same_head("sources", sources, head)
    if orientation is None:
        orientation = "normal" if sources.normals is not None else "free"
    check_option("orientation", orientation, ("normal", "free"))
    if orientation == "normal" and sources.normals is None:
        raise ValueError("orientation='normal' needs sources with normals (a cortex)")
    surface = design_surface(head, standoff, lmax=lmax, coverage_deg=coverage_deg)
    idx = region_of_interest(head, sources, roi)
    area = surface.area() if min_spacing > 0 else float("nan")
    need = n_sensors * np.pi * (min_spacing / 2) ** 2
    if min_spacing > 0 and need > area:
        raise ValueError(f"min_spacing={min_spacing:g} m cannot fit n_sensors={n_sensors}: "
                         f"their discs need n pi (s/2)^2 = {need * 1e4:.0f} cm^2, more than "
                         f"the {area * 1e4:.0f} cm^2 of the upper scalp at the standoff; "
                         f"use min_spacing <= {2 * np.sqrt(area / (np.pi * n_sensors)):.4f} m")
    pos = sources.positions[idx]
    orients = sources.normals[idx] if orientation == "normal" else None
    moments = _dipole_moments(sources, head, moment)[idx]
    sigma = (preset.noise_floor if noise_floor is None else noise_floor) * math.sqrt(bandwidth)
    settings = dict(objective=objective, n_sensors=n_sensors, standoff_m=standoff,
                    min_spacing_m=min_spacing, sensor=preset.name, source_std_Am=source_std,
                    moment_Am=moment, bandwidth_Hz=bandwidth, orientation=orientation,
                    lmax=surface.lmax, coverage_deg=list(surface.coverage_deg),
                    n_sources=int(sources.n_sources), n_roi_sources=int(idx.size),
                    roi=roi if isinstance(roi, str) or roi is None else "custom",
                    surface_fit_rms_m=surface.fit_rms, cap_area_m2=area,
                    head=head.name, conductor=head.conductor.name)
    return _Problem(head, surface, preset, objective, pos, orients, moments, sigma,
                    source_std, idx, settings)


# --------------------------------------------------------------------- arrays
def _make_array(positions, orientations, preset) -> qs.SensorArray:
    positions = np.asarray(positions, float)
    frames = _frames_from_ez(np.asarray(orientations, float))
    loc = np.concatenate([positions, frames.reshape(len(positions), 9)], axis=1)
    n = len(positions)
    return qs.SensorArray(names=tuple(f"OPM{i + 1:03d}" for i in range(n)),
                          coil_types=np.full(n, preset.coil_type), loc=loc,
                          dev_head_t=np.eye(4), sensor_index=np.arange(n), sensor=preset)


def _min_distance(pos):
    pos = np.asarray(pos)
    if len(pos) < 2:
        return np.inf
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    return float(d[np.triu_indices(len(pos), 1)].min())


def even_array(head, n_sensors, *, standoff=None, sensor="quspin_gen2", lmax=8,
               coverage_deg=(100.0, 65.0)) -> qs.SensorArray:
    """Even coverage on the design surface: the Fibonacci cap lattice of
    :func:`qsense.arrays.opm_on_scalp` placed on the fitted scalp, radial.

    Parameters are those of :func:`design_array`.
    """
    validate_type(head, qs.Head, "head", "qsense.Head")
    n_sensors = check_int("n_sensors", n_sensors, low=1, high=1000)
    preset = _opm_preset(sensor)
    surface = design_surface(head, preset.standoff if standoff is None else standoff,
                             lmax=lmax, coverage_deg=coverage_deg)
    pos, nrm = surface.place(_cap_directions(n_sensors, *surface.coverage_deg))
    return _make_array(pos, nrm, preset)


def evaluate_array(array, head, *, objective="information", roi=None, sources=None,
                   source_std=1e-9, moment=20e-9, bandwidth=1.0, orientation=None) -> float:
    """The design objective of any magnetometer array (its channels' positions and
    ``ez`` axes as point coils, its noise floor), on the model of :func:`design_array`.

    Raises
    ------
    ValueError
        For gradiometer channels, or channels of different noise floors (the model
        has one noise level).

    Returns
    -------
    float
        Bits per sample (``"information"``) or ``-mean ln tr CRB / m^2`` (``"crb"``).
    """
    validate_type(array, qs.SensorArray, "array", "qsense.SensorArray")
    if np.any(array.is_gradiometer):
        raise ValueError("array must hold magnetometers only (the design model has point "
                         "magnetometers); it has gradiometer channels")
    noise = np.asarray(array.noise, float)
    if not np.allclose(noise, noise[0], rtol=1e-12, atol=0):
        raise ValueError(f"array must have one noise floor for all channels, got "
                         f"{noise.min():g} to {noise.max():g} T/sqrt(Hz)")
    p = _problem(head, 1, objective=objective, roi=roi, standoff=None, min_spacing=0.0,
                 sensor="quspin_gen2", sources=sources, source_std=source_std,
                 moment=moment, bandwidth=bandwidth, orientation=orientation, lmax=8,
                 coverage_deg=(100.0, 65.0), noise_floor=float(noise[0]))
    ori = array.loc[:, 9:12]
    return float(p.fun()(jnp.asarray(array.positions), jnp.asarray(ori)))


# ----------------------------------------------------------------------- greedy
def greedy_array(head, n_sensors, *, objective="information", roi=None, standoff=None,
                 min_spacing=0.02, n_candidates=1000, sensor="quspin_gen2", sources=None,
                 source_std=1e-9, moment=20e-9, bandwidth=1.0, orientation=None, lmax=8,
                 coverage_deg=(100.0, 65.0), return_history=False):
    """Greedy selection from a dense radial lattice on the design surface.

    Starting from no sensor, adds the candidate that most increases the objective among
    those at least ``min_spacing`` from every chosen one, until ``n_sensors``.

    Parameters
    ----------
    n_candidates : int
        Candidates: the Fibonacci cap lattice of that many points (1000 on fsaverage:
        about 8 mm apart).
    Others
        As :func:`design_array`.

    Returns
    -------
    SensorArray, or (SensorArray, xarray.Dataset) with ``return_history``: the
    objective after each addition, ``time_s`` in its attrs.
    """
    p = _problem(head, n_sensors, objective=objective, roi=roi, standoff=standoff,
                 min_spacing=min_spacing, sensor=sensor, sources=sources,
                 source_std=source_std, moment=moment, bandwidth=bandwidth,
                 orientation=orientation, lmax=lmax, coverage_deg=coverage_deg)
    n_candidates = check_int("n_candidates", n_candidates, low=p.settings["n_sensors"],
                             high=20000)
    t0 = time.perf_counter()
    cand_pos, cand_nrm = p.surface.place(_cap_directions(n_candidates,
                                                         *p.surface.coverage_deg))
    origin = jnp.asarray(head.sphere_origin)
    n = p.settings["n_sensors"]
    chosen, values = [], []
    if objective == "information":
        lf = np.asarray(_leadfield(jnp.asarray(cand_pos), jnp.asarray(cand_nrm),
                                   jnp.asarray(p.positions), origin))
        gain = (np.einsum("csk,sk->cs", lf, p.orients) if p.orients is not None
                else lf.reshape(len(lf), -1))
        w = gain * (p.source_std / p.sigma)
        norms = np.sum(w * w, axis=1)
        bits = 0.0
        for _ in range(n):
            if chosen:
                ws = w[chosen]
                m = np.eye(len(chosen)) + ws @ ws.T
                g = w @ ws.T
                gain_c = 1 + norms - np.sum(g * np.linalg.solve(m, g.T).T, axis=1)
            else:
                gain_c = 1 + norms
            score = 0.5 * np.log2(np.maximum(gain_c, 1e-300))
            k = _pick(score, cand_pos, chosen, p.settings["min_spacing_m"])
            chosen.append(k)
            bits += float(score[k])
            values.append(bits)
    else:
        jac = np.asarray(fisher.sphere_dipole_jacobian(
            cand_pos[:, None, :], cand_nrm[:, None, :], np.ones((n_candidates, 1)),
            p.positions, p.moments, np.asarray(head.sphere_origin))) / p.sigma  # (S, M, 5)
        fish = np.broadcast_to(np.asarray(_prior(jnp.float64)), (len(p.positions), 5, 5))
        score_fn = jax.jit(jax.vmap(lambda f, j: _mean_log_trace(
            f + jnp.einsum("si,sj->sij", j, j)), in_axes=(None, 1)))
        for _ in range(n):
            score = np.asarray(score_fn(jnp.asarray(fish), jnp.asarray(jac)))
            k = _pick(score, cand_pos, chosen, p.settings["min_spacing_m"])
            chosen.append(k)
            fish = fish + np.einsum("si,sj->sij", jac[:, k], jac[:, k])
            values.append(float(score[k]))
    elapsed = time.perf_counter() - t0
    arr = _make_array(cand_pos[chosen], cand_nrm[chosen], p.preset)
    if not return_history:
        return arr
    hist = xr.Dataset(
        {"objective": (("n",), np.array(values), {"units": _UNITS[objective],
                                                  "long_name": "objective after adding"})},
        coords={"n": ("n", np.arange(1, n + 1), {"long_name": "sensors chosen"})},
        attrs={**_attrs(p.settings), "method": "greedy", "n_candidates": n_candidates,
               "time_s": elapsed, "min_distance_m": _min_distance(arr.positions)})
    return arr, hist


def _pick(score, cand_pos, chosen, min_spacing):
    allowed = np.ones(len(score), bool)
    if chosen:
        d = np.linalg.norm(cand_pos[:, None] - cand_pos[chosen][None], axis=-1)
        allowed &= np.all(d >= min_spacing, axis=1)
        allowed[chosen] = False
    if not allowed.any():
        raise ValueError(f"min_spacing={min_spacing:g} m leaves no candidate for sensor "
                         f"{len(chosen) + 1}; lower it or raise n_candidates")
    return int(np.argmax(np.where(allowed, score, -np.inf)))


_UNITS = {"information": "bit", "crb": "1"}


def _attrs(settings):
    return {k: (str(v) if v is None or isinstance(v, list) else v)
            for k, v in settings.items()}


# ----------------------------------------------------------------------- design
def design_array(head, n_sensors, *, objective="information", roi=None, axes="radial",
                 standoff=None, min_spacing=0.02, n_steps=300, learning_rate=0.01, seed=0,
                 sensor="quspin_gen2", sources=None, source_std=1e-9, moment=20e-9,
                 bandwidth=1.0, orientation=None, init="even", lmax=8,
                 coverage_deg=(100.0, 65.0), spacing_weight=50.0, return_history=False):
    """An on-scalp OPM array whose layout maximises an objective, by gradient ascent.

    See the module docstring for the model, the objectives and the constraints. Every
    argument is checked (and the spacing checked against the available area) before the
    optimisation starts.

    Parameters
    ----------
    head : qsense.Head
        With a spherical conductor (``Head.fsaverage(conductor="sphere")``,
        ``Head.sphere()``).
    n_sensors : int
        1-512.
    objective : {"information", "crb"}
    roi : None, str, indices, mask or dict
        Region of interest (:func:`region_of_interest`); None: every source.
    axes : {"radial", "tilted"}
        Orientation along the fitted scalp normal, or optimised freely.
    standoff : float, optional
        Scalp to cell centre, m (default the preset's, 6.5 mm).
    min_spacing : float
        Minimum distance between cell centres, m (default 20 mm, about a QuSpin Gen-2's
        width; 0: none).
    n_steps : int
        Adam steps (0-100000; 0 returns the start).
    learning_rate : float
        Peak step, radians of direction per step (cosine decay to a tenth of it).
    seed : int
        Seeds the start for ``init="random"`` (>= 0).
    sensor : str
        OPM preset (noise floor, standoff, coil type).
    sources : qsense.sources.SourceSpace, optional
        Default: the fsaverage cortex at ico3 (1284 sources), or a 10 mm volume grid in a
        spherical head.
    source_std : float
        Standard deviation of each source amplitude, A m (information).
    moment : float
        Dipole moment, A m (CRB).
    bandwidth : float
        Noise bandwidth of one sample, Hz.
    orientation : {"normal", "free"}, optional
        Source orientation for the information (default: normal where the sources have
        normals).
    init : {"even", "random"}
        Start from :func:`even_array`, or from ``n_sensors`` directions drawn uniformly
        on the cap.
    lmax : int
        Degree of the scalp fit.
    coverage_deg : (float, float)
        Cap limits, degrees.
    spacing_weight : float
        Strength of the spacing penalty (see the module docstring), >= 0.
    return_history : bool
        Also return the history.

    Returns
    -------
    array : qsense.SensorArray
        Single-axis OPMs (``OPM001``...), head frame.
    history : xarray.Dataset
        With ``return_history``: per ``step`` (0 = the start) ``objective``, ``penalty``
        and ``min_distance``; attrs: the settings, ``objective_start``,
        ``objective_final``, ``min_distance_m`` (final), ``time_s``.
    """
    check_option("axes", axes, DESIGN_AXES)
    check_option("init", init, INITS)
    n_steps = check_int("n_steps", n_steps, low=0, high=100_000)
    learning_rate = check_number("learning_rate", learning_rate, low=0, low_open=True,
                                 high=1.0)
    seed = check_int("seed", seed, low=0)
    spacing_weight = check_number("spacing_weight", spacing_weight, low=0, high=1e9)
    if not isinstance(return_history, bool):
        raise TypeError(f"return_history must be a bool, got {return_history!r}")
    p = _problem(head, n_sensors, objective=objective, roi=roi, standoff=standoff,
                 min_spacing=min_spacing, sensor=sensor, sources=sources,
                 source_std=source_std, moment=moment, bandwidth=bandwidth,
                 orientation=orientation, lmax=lmax, coverage_deg=coverage_deg)
    import optax

    t0 = time.perf_counter()
    n = p.settings["n_sensors"]
    cov = p.surface.coverage_deg
    if init == "even":
        u0 = _cap_directions(n, *cov)
    else:
        rng = np.random.default_rng(seed)
        cand = rng.standard_normal((40 * n + 100, 3))
        cand /= np.linalg.norm(cand, axis=1, keepdims=True)
        cand = cand[_cap_margin_np(cand, cov) <= 1]
        u0 = cand[:n]
    fun = p.fun()
    surf = p.surface
    coef, centre = jnp.asarray(surf.coef), jnp.asarray(surf.centre)
    s = p.settings["min_spacing_m"]
    tilted = axes == "tilted"

    def geometry(params):
        pos, nrm = ss.surface_points(params["u"], coef, centre, surf.lmax, surf.standoff)
        if tilted:
            t = params["tilt"]
            t = t - jnp.sum(t * nrm, axis=-1, keepdims=True) * nrm
            ori = nrm + t
            ori = ori / jnp.linalg.norm(ori, axis=-1, keepdims=True)
        else:
            ori = nrm
        return pos, ori

    iu = np.triu_indices(n, 1)

    def penalty(pos):
        if n < 2 or s == 0:
            return jnp.zeros((), pos.dtype), jnp.asarray(jnp.inf, pos.dtype)
        diff = pos[:, None, :] - pos[None, :, :]
        d2 = jnp.sum(diff * diff, axis=-1)[iu]
        d = jnp.sqrt(d2)
        return jnp.sum(jnp.maximum(0.0, 1.0 - d / s) ** 2), jnp.min(d)

    def objective_of(params):
        return fun(*geometry(params))

    params = {"u": jnp.asarray(u0, jnp.float64)}
    if tilted:
        params["tilt"] = jnp.zeros((n, 3))
    # the penalty's scale: the largest per-sensor gradient of the objective at the start
    g0 = jax.grad(lambda pos: fun(pos, geometry(params)[1]))(geometry(params)[0])
    scale = float(jnp.max(jnp.linalg.norm(g0, axis=1))) * s
    weight = spacing_weight * (scale if scale > 0 and np.isfinite(scale) else 1.0)

    def loss(params):
        pos, ori = geometry(params)
        obj = fun(pos, ori)
        pen, dmin = penalty(pos)
        return -(obj - weight * pen), (obj, pen, dmin)

    sched = optax.cosine_decay_schedule(learning_rate, max(n_steps, 1), alpha=0.1)
    opt = optax.adam(sched)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        (_, aux), grad = jax.value_and_grad(loss, has_aux=True)(params)
        updates, state = opt.update(grad, state, params)
        params = optax.apply_updates(params, updates)
        params = {**params, "u": _project_to_cap(params["u"], cov)}
        return params, state, aux

    evaluate = jax.jit(lambda prm: loss(prm)[1])
    hist = np.empty((n_steps + 1, 3))
    for i in range(n_steps):
        params, state, aux = step(params, state)
        hist[i] = [float(a) for a in aux]
    hist[n_steps] = [float(a) for a in evaluate(params)]
    pos, ori = (np.asarray(a) for a in geometry(params))
    elapsed = time.perf_counter() - t0
    arr = _make_array(pos, ori, p.preset)
    if not return_history:
        return arr
    obj_final = float(objective_of(params))
    ds = xr.Dataset(
        {"objective": (("step",), hist[:, 0], {"units": _UNITS[p.objective],
                                               "long_name": f"{p.objective} objective"}),
         "penalty": (("step",), hist[:, 1], {"units": "1", "long_name":
                                             "spacing penalty (sum of squared relative "
                                             "violations)"}),
         "min_distance": (("step",), hist[:, 2], {"units": "m", "long_name":
                                                  "smallest distance between sensors"})},
        coords={"step": ("step", np.arange(n_steps + 1), {"long_name": "Adam steps done "
                                                          "(the value before the step)"})},
        attrs={**_attrs(p.settings), "method": "adam", "axes": axes, "init": init,
               "seed": seed, "n_steps": n_steps, "learning_rate": learning_rate,
               "spacing_weight": spacing_weight, "penalty_weight": weight,
               "objective_start": float(hist[0, 0]) if n_steps else obj_final,
               "objective_final": obj_final, "min_distance_m": _min_distance(pos),
               "time_s": elapsed})
    return arr, ds


# ------------------------------------------------------------------------- figure
def _flat(points, origin):
    r = np.asarray(points, float) - origin
    theta = np.arccos(np.clip(r[:, 2] / np.linalg.norm(r, axis=1), -1, 1))
    phi = np.arctan2(r[:, 1], r[:, 0])
    return np.c_[np.cos(phi), np.sin(phi)] * (theta / (np.pi / 2))[:, None]


def plot_design_layouts(arrays, head, *, roi_positions=None, values=None, unit=""):
    """Layouts side by side, seen from above (:func:`qsense.plots.plot_sensor_layout`),
    with the region of interest's sources (grey dots, projected the same way).

    Parameters
    ----------
    arrays : dict of str -> SensorArray
        Panel titles -> arrays.
    head : qsense.Head
    roi_positions : array_like, shape (n, 3), optional
        Head frame, m.
    values : dict of str -> float, optional
        A number shown under each title (e.g. the objective).
    unit : str
        Of ``values``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from qsense.plots import plot_sensor_layout

    fig = Figure(figsize=(4.0 * len(arrays), 4.4))
    for i, (name, arr) in enumerate(arrays.items()):
        ax = fig.add_subplot(1, len(arrays), i + 1)
        title = f"{name}: {arr.n_sensors} sensors"
        if values is not None and name in values:
            title += f", {values[name]:.4g} {unit}".rstrip()
        plot_sensor_layout(arr, ax, head=head, title=title)
        if roi_positions is not None:
            xy = _flat(roi_positions, head.sphere_origin)
            ax.plot(xy[:, 0], xy[:, 1], ".", ms=2, color="0.6", zorder=0,
                    label="region of interest")
    return fig
