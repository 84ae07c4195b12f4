"""A spherically symmetric conductor (Sarvas 1987)."""

from __future__ import annotations

import numpy as np

from forward_models import conductors, fisher
from forward_models._checks import as_numeric

from .._checks import check_distance, check_points
from .base import Conductor

__all__ = ["SphereConductor"]


class SphereConductor(Conductor):
    """A spherically symmetric conductor about ``origin``.

    Outside it, the field of a current dipole follows Sarvas's closed form (Sarvas 1987,
    Phys. Med. Biol. 32:11, eq. 25), whatever the radial layering of the conductivity;
    :func:`forward_models.conductors.sphere_coil_leadfield` evaluates it over each coil's
    integration points. Radial dipoles make no field outside.

    Parameters
    ----------
    origin : array_like, shape (3,)
        Centre, head frame, m.
    radius : float
        Radius of the conducting region, m (bounds where sources may be; the field does
        not depend on it).
    """

    name = "sphere"
    differentiable = True

    def __init__(self, origin, radius: float):
        self.origin = check_points("origin", as_numeric("origin", origin), n=1)[0]
        self.radius = check_distance("radius", radius, low_open=True, high=1.0,
                                     what="a spherical conductor")

    def __repr__(self):
        return (f"<SphereConductor | origin {np.round(self.origin * 1e3, 1).tolist()} mm, "
                f"radius {self.radius * 1e3:.1f} mm>")

    def contains(self, points) -> np.ndarray:
        p = check_points("points", as_numeric("points", points), limit=np.inf)
        return np.linalg.norm(p - self.origin, axis=1) < self.radius

    def leadfield_kernel(self, coil_points, positions):
        from ..coils import CoilPoints

        if not isinstance(coil_points, CoilPoints):
            raise TypeError(f"coil_points must be a qsense.coils.CoilPoints, got "
                            f"{type(coil_points).__name__}")
        groups = _groups_by_point_count(coil_points)
        n_ch = coil_points.n_channels
        pos = check_points("positions", as_numeric("positions", positions), limit=np.inf)

        def kernel(idx):
            out = np.empty((n_ch, len(idx), 3))
            for rows, pts, nrm, w in groups:
                out[rows] = conductors.sphere_coil_leadfield(pts, nrm, w, pos[idx],
                                                             self.origin)
            return out

        return kernel

    def dipole_fisher(self, points, normals, weights, positions, moments, noise_std):
        """Fisher information of single dipoles, exact JAX derivatives of Sarvas's field
        (:func:`forward_models.fisher.sphere_dipole_fisher`).

        Raises
        ------
        ValueError
            If a moment has no tangential part (radial dipoles are silent outside a
            sphere, so their position cannot be estimated).
        """
        positions, q = self._check_dipoles(positions, moments)
        return fisher.sphere_dipole_fisher(points, normals, weights, positions, q,
                                           self.origin, noise_std)

    def dipole_hessian(self, points, normals, weights, positions, moments):
        """Second derivatives of the readings with respect to the dipole position, exact
        JAX derivatives of Sarvas's field (:func:`forward_models.fisher.
        sphere_dipole_hessian`), shape (n, n_chan, 3, 3)."""
        positions, q = self._check_dipoles(positions, moments)
        return fisher.sphere_dipole_hessian(points, normals, weights, positions, q,
                                            self.origin)

    def _check_dipoles(self, positions, moments):
        positions = check_points("positions", as_numeric("positions", positions),
                                 limit=np.inf)
        q = check_points("moments", as_numeric("moments", moments), n=len(positions),
                         limit=np.inf)
        norm = np.linalg.norm(q, axis=1)
        radial = positions - self.origin
        depth = np.linalg.norm(radial, axis=1, keepdims=True)
        if np.any(depth == 0):
            raise ValueError("positions must not be the sphere's centre: a dipole there is "
                             "silent outside, whatever its moment")
        radial = radial / depth
        tangential = np.linalg.norm(q - np.sum(q * radial, axis=1, keepdims=True) * radial,
                                    axis=1)
        if np.any(tangential <= 1e-6 * np.maximum(norm, 1e-300)):
            i = int(np.argmin(tangential / np.maximum(norm, 1e-300)))
            raise ValueError(f"moments must have a tangential part: moment {i} is zero or "
                             f"radial, which a spherical conductor makes silent outside")
        return positions, q


def _groups_by_point_count(cp):
    """Channels grouped by their number of integration points: (rows, points (n, P, 3),
    normals (n, P, 3), weights (n, P)) per group, so that each group needs no padding."""
    counts = np.bincount(cp.segments, minlength=cp.n_channels)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    groups = []
    for p in np.unique(counts):
        rows = np.flatnonzero(counts == p)
        take = starts[rows, None] + np.arange(p)[None, :]
        groups.append((rows, cp.points[take], cp.normals[take], cp.weights[take]))
    return groups
