"""The protocol every volume conductor follows."""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["Conductor"]


class Conductor(abc.ABC):
    """A volume conductor: the field of current dipoles inside it, at coils outside.

    Subclasses set :attr:`name` and implement :meth:`leadfield_kernel` and
    :meth:`contains`; :meth:`dipole_fisher` where the field's derivatives with respect to
    the source position are available.
    """

    name: str = ""
    """Short name ("sphere", "bem"), recorded in results."""
    differentiable: bool = False
    """Whether :meth:`dipole_fisher` is available (derivatives of the field with respect
    to the source position)."""

    @abc.abstractmethod
    def leadfield_kernel(self, coil_points, positions):
        """A function that evaluates the lead field for any chunk of sources.

        Parameters
        ----------
        coil_points : qsense.coils.CoilPoints
            Integration points of the channels, head frame (``SensorArray.coil_points``).
        positions : ndarray, shape (n_sources, 3)
            Dipole positions, head frame, m (validated by the caller).

        Returns
        -------
        callable
            ``kernel(idx) -> ndarray (n_channels, len(idx), 3)``: the field of unit
            dipoles along x, y, z at ``positions[idx]``, T/(A m) (T/(A m^2) for planar
            gradiometers). Chunks of equal length share one JIT compilation.
        """

    @abc.abstractmethod
    def contains(self, points) -> np.ndarray:
        """Whether head-frame points (n, 3), m, lie inside the conductor."""

    def dipole_fisher(self, points, normals, weights, positions, moments, noise_std):
        """Fisher information of (position, moment) of single dipoles, shape (n, p, p):
        position first, then the moment components the conductor can see (p = 5 in a
        sphere, whose radial component is silent; 6 in a BEM).

        Parameters
        ----------
        points, normals, weights : ndarray
            Zero-padded coil integration points (n_chan, P, 3), m; normals; weights.
        positions, moments : ndarray, shape (n, 3)
            Dipole positions (m) and moments (A m), head frame.
        noise_std : ndarray, shape (n_chan,)
            White channel noise, T (T/m for planar gradiometers).
        """
        raise ValueError(
            f"the Cramer-Rao bound needs the derivatives of the conductor's field with "
            f"respect to the source position, which conductor {self.name!r} does not "
            "provide yet; use a conductor with derivatives (differentiable = True): the "
            "fsaverage BEM, Head.fsaverage(), or a sphere, Head.sphere()")

    def dipole_hessian(self, points, normals, weights, positions, moments):
        """Second derivatives of each channel's reading with respect to the dipole
        position, the moment held fixed, shape (n, n_chan, 3, 3) (T/m^2; per metre more
        for planar gradiometers). Same arguments as :meth:`dipole_fisher`; used to judge
        where the bound's linearisation holds."""
        raise ValueError(
            f"the validity of the Cramer-Rao bound needs the second derivatives of the "
            f"conductor's field with respect to the source position, which conductor "
            f"{self.name!r} does not provide yet")
