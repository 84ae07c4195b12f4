"""Nitrogen-vacancy (NV) centres in diamond: ground-state spin physics, CW-ODMR and sensitivity.

Pure JAX kernels in SI units (hertz, tesla, kelvin, seconds). Everything broadcasts over
leading axes and is jit-able; the resonance frequencies are differentiable wherever the
levels are not exactly degenerate.

Modules
-------
- :mod:`~forward_models.nv.hamiltonian`: the ground-state Hamiltonian
  H/h = D Sz**2 + E (Sx**2 - Sy**2) + gamma_nv B.S of the four orientations (Doherty et
  al. 2013, Phys. Rep. 528:1), its closed-form eigen-solution, energy levels, ODMR
  resonances, hyperfine lines and the shared input checks.
- :mod:`~forward_models.nv.odmr`: CW-ODMR spectra, power broadening, photon shot noise,
  slope and lock-in readout, closed-loop frequency tracking.
- :mod:`~forward_models.nv.sensitivity`: shot-noise-limited CW-ODMR and Ramsey
  sensitivities (Barry et al. 2020, Rev. Mod. Phys. 92:015004).
- :mod:`~forward_models.nv.fitting`: the field vector from resonances or a spectrum.

Every name is re-exported here: ``from forward_models import nv`` then
``nv.resonance_frequencies``, ``nv.GAMMA_NV``, ... as before the split.
"""

# each module's __all__ lists its public names (constants and frames included); the
# package exports all of them
from forward_models.nv import fitting, hamiltonian, odmr, sensitivity
from forward_models.nv.fitting import *  # noqa: F403
from forward_models.nv.hamiltonian import *  # noqa: F403
from forward_models.nv.odmr import *  # noqa: F403
from forward_models.nv.sensitivity import *  # noqa: F403

__all__ = [*hamiltonian.__all__, *odmr.__all__, *sensitivity.__all__, *fitting.__all__]
