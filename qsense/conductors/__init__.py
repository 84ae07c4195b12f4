"""Volume conductors: what field sources inside a head make at coil points outside it.

Every conductor is a :class:`Conductor` (the protocol below, one module each):

- :class:`SphereConductor` (:mod:`qsense.conductors.sphere`): a spherically symmetric
  conductor, Sarvas's closed form, with exact JAX derivatives for the Cramer-Rao bound;
- :class:`qsense.bem.FsaverageBEM`: the single-shell boundary-element model of MNE's
  fsaverage inner skull, with exact JAX derivatives of its kernel for the bound too.

A :class:`qsense.Head` holds one as ``head.conductor``; :func:`qsense.leadfield`, the
array builders and the Cramer-Rao bound ask it instead of asking which it is. A new
head model (a three-shell BEM, a torso for magnetocardiography) is one new module with
a :class:`Conductor` subclass.
"""

from __future__ import annotations

from .base import Conductor
from .sphere import SphereConductor

__all__ = ["Conductor", "SphereConductor"]
