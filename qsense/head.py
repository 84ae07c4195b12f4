"""Heads: the scalp sensors sit on, the conductor sources sit in, and their frames."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import (
    check_array,
    check_distance,
    check_option,
    check_points,
    check_rigid,
    validate_type,
)
from .conductors import Conductor, SphereConductor
from .surfaces import Surface, fit_sphere, sphere_surface

__all__ = ["Head"]

_CONDUCTORS = ("sphere", "bem")


@dataclass(frozen=True, eq=False)
class Head:
    """A head model: scalp, conductor, source region and coordinate frames.

    Build one with :meth:`Head.sphere` or :meth:`Head.fsaverage`. Everything is stored
    in the head frame (MNE convention: RAS, origin between the ears, metres), with
    ``head_mri_t`` giving the head -> MRI (surface RAS) transform.

    Attributes
    ----------
    name : str
        "sphere" or "fsaverage".
    conductor : qsense.conductors.Conductor
        The volume conductor (:class:`~qsense.conductors.SphereConductor` or the
        BEM, :class:`qsense.bem.FsaverageBEM`): it evaluates the field of sources
        for :func:`qsense.leadfield`; ``conductor.name`` says which it is.
    scalp : Surface
        Outer surface; sensors must lie outside it.
    brain : Surface
        The conducting volume's boundary (inner skull, or the conductor sphere);
        sources must lie inside it.
    sphere_origin : ndarray, shape (3,)
        Centre of the sphere model (head frame), m.
    sphere_radius : float
        Radius of the conductor sphere, m (the fitted inner-skull sphere for
        fsaverage).
    head_mri_t : ndarray, shape (4, 4)
        Head -> MRI transform.
    subject : str or None
        FreeSurfer subject name ("fsaverage") or None.
    """

    name: str
    conductor: Conductor
    scalp: Surface
    brain: Surface
    sphere_origin: np.ndarray
    sphere_radius: float
    head_mri_t: np.ndarray
    subject: str | None = None

    def __post_init__(self):
        validate_type(self.name, str, "name")
        if not isinstance(self.conductor, Conductor):
            raise TypeError(f"conductor must be a qsense.conductors.Conductor, got "
                            f"{type(self.conductor).__name__}")
        validate_type(self.scalp, Surface, "scalp", "qsense.surfaces.Surface")
        validate_type(self.brain, Surface, "brain", "qsense.surfaces.Surface")
        origin = check_points("sphere_origin", check_array("sphere_origin",
                                                           self.sphere_origin), n=1)[0]
        radius = check_distance("sphere_radius", self.sphere_radius, low_open=True,
                                high=0.5, what="a head")
        t = check_rigid("head_mri_t", self.head_mri_t)
        if self.subject is not None:
            validate_type(self.subject, str, "subject")
        object.__setattr__(self, "sphere_origin", origin)
        object.__setattr__(self, "sphere_radius", radius)
        object.__setattr__(self, "head_mri_t", t)

    @property
    def bem(self):
        """The boundary-element model, when the conductor is one (else None)."""
        from .bem import FsaverageBEM

        return self.conductor if isinstance(self.conductor, FsaverageBEM) else None

    # ------------------------------------------------------------- builders
    @classmethod
    def sphere(cls, radius: float = 0.09, origin=(0.0, 0.0, 0.04), *,
               brain_radius: float | None = None) -> Head:
        """A spherical head.

        Parameters
        ----------
        radius : float
            Scalp radius, m (default 9 cm). Sensors must lie outside it.
        origin : array_like, shape (3,)
            Sphere centre in the head frame, m (default 4 cm above the head origin, as
            in MNE's sphere-model examples).
        brain_radius : float, optional
            Radius of the region that holds sources, m; default ``0.9 * radius``
            (an assumption: scalp and skull about 9 mm thick). The magnetic field
            outside a spherically symmetric conductor does not depend on its layers
            (Sarvas 1987), so this radius only bounds where sources may be.
        """
        radius = check_distance("radius", radius, low_open=True, high=0.5, what="a head")
        origin = check_points("origin", check_array("origin", origin, unit="m"), n=1)[0]
        brain_radius = (0.9 * radius if brain_radius is None else check_distance(
            "brain_radius", brain_radius, low_open=True, high=0.5, what="a head"))
        if not (0 < brain_radius <= radius):
            raise ValueError(
                f"brain_radius must be in (0, radius={radius}] m, got {brain_radius!r}"
            )
        return cls(
            name="sphere",
            conductor=SphereConductor(origin, brain_radius),
            scalp=sphere_surface(radius, origin),
            brain=sphere_surface(brain_radius, origin),
            sphere_origin=origin,
            sphere_radius=float(brain_radius),
            head_mri_t=np.eye(4),
            subject=None,
        )

    @classmethod
    def fsaverage(cls, conductor: str = "bem", *, ico: int = 4, cache_dir=None) -> Head:
        """The fsaverage head, built offline from data shipped in MNE's wheel.

        The scalp is MNE's ``fsaverage-head.fif``, the conductor boundary the inner
        skull ``fsaverage-inner_skull-bem.fif`` (ico-5), both moved into the head frame
        with ``fsaverage-trans.fif``. Cortical sources come from nilearn's fsaverage5
        white surfaces (:func:`qsense.sources.cortex`).

        Parameters
        ----------
        conductor : {"bem", "sphere"}
            ``"bem"`` (default): a single-shell boundary-element model of the inner
            skull (MNE's linear-collocation solution, cached on disk, evaluated in JAX).
            ``"sphere"``: a sphere fitted to the inner skull by least squares
            (Sarvas's formula; fast, less accurate for tangential sensors).
        ico : int
            Subdivision of the inner skull used by the BEM (3, 4 or 5; ico-4 is the
            default, 2562 vertices).
        cache_dir : path-like, optional
            Where the BEM solution is cached (default: the user cache directory, or
            ``$QSENSE_CACHE_DIR``).
        """
        check_option("conductor", conductor, _CONDUCTORS)
        scalp, inner, head_mri_t = _fsaverage_surfaces()
        origin, radius = fit_sphere(inner.rr)
        if conductor == "bem":
            from .bem import fsaverage_bem

            model = fsaverage_bem(ico=ico, cache_dir=cache_dir)
        else:
            model = SphereConductor(origin, radius)
        return cls(
            name="fsaverage",
            conductor=model,
            scalp=scalp,
            brain=inner,
            sphere_origin=origin,
            sphere_radius=radius,
            head_mri_t=head_mri_t,
            subject="fsaverage",
        )

    # ------------------------------------------------------------ geometry
    @property
    def mri_head_t(self) -> np.ndarray:
        """MRI -> head transform, shape (4, 4)."""
        return np.linalg.inv(self.head_mri_t)

    def scalp_distance(self, points) -> np.ndarray:
        """Signed distance of points (head frame, m; shape (n, 3) or (3,)) to the scalp:
        > 0 outside."""
        return self.scalp.signed_distance(_check_query_points(points))

    def brain_distance(self, points) -> np.ndarray:
        """Signed distance of points (head frame, m; shape (n, 3) or (3,)) to the
        boundary of the source region (inner skull, or the conductor sphere): < 0
        inside."""
        return self.brain.signed_distance(_check_query_points(points))

    def __repr__(self):
        return (
            f"<Head {self.name!r} | conductor={self.conductor.name!r}, sphere origin "
            f"{np.round(self.sphere_origin * 1e3, 1).tolist()} mm, radius "
            f"{self.sphere_radius * 1e3:.1f} mm>"
        )


def _check_query_points(points) -> np.ndarray:
    """Points for a distance query: finite, shape (n, 3) or (3,) (kept as given)."""
    a = check_array("points", points, unit="m")
    if a.ndim not in (1, 2) or a.shape[-1] != 3:
        raise ValueError(f"points must have shape (n, 3) or (3,), got {a.shape}")
    return a


def _mne_data() -> Path:
    import mne

    return Path(mne.__file__).parent / "data"


@functools.cache
def _fsaverage_surfaces():
    import mne

    from .bem import fsaverage_head_mri_t

    d = _mne_data() / "fsaverage"
    # fsaverage-trans.fif with its rotation made exactly orthogonal (the file stores it
    # in single precision), shared with the BEM so every frame change agrees
    head_mri_t = np.array(fsaverage_head_mri_t()["trans"])
    mri_head_t = np.linalg.inv(head_mri_t)
    surfs = {}
    for key, fname in (("scalp", "fsaverage-head.fif"),
                       ("inner", "fsaverage-inner_skull-bem.fif")):
        s = mne.read_bem_surfaces(d / fname, verbose=False)[0]
        surfs[key] = Surface(s["rr"], s["tris"], "mri").transformed(mri_head_t, "head")
    return surfs["scalp"], surfs["inner"], head_mri_t
