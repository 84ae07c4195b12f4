"""Magnetic shielding, conductor thermal noise, remnant fields and active nulling.

Pure functions of arrays in SI units (tesla, metres, siemens per metre, kelvin, hertz).
Everything broadcasts over leading axes and is jit-able; argument checks run only on
concrete (non-traced) inputs.

Modules
-------
- :mod:`~forward_models.shielding.static`: static shielding factors of spherical,
  cylindrical and cubic permeable shells and of nested layers (Sumner, Pendlebury &
  Smith 1987, J. Phys. D 20:1095).
- :mod:`~forward_models.shielding.eddy_currents`: skin depth, eddy-current shielding,
  the complex transfer of a thin conducting shell and multilayer shielding versus
  frequency (Kelha et al. 1982, IEEE Trans. Magn. 18:260).
- :mod:`~forward_models.shielding.thermal_noise`: Johnson noise of slabs, discs and
  shells (Varpula & Poutanen 1984; Nenonen et al. 1996; Lee & Romalis 2008).
- :mod:`~forward_models.shielding.active_nulling`: first-order remnant field, nulling
  coils, feedback compensation.

Every name is re-exported here: ``from forward_models import shielding`` then
``shielding.spherical_shell_shielding_factor``, ``shielding.slab_thermal_noise``, ...
as before the split.
"""

# each module's __all__ lists its public names; the package exports all of them
from forward_models.constants import KB, MU0  # noqa: F401  (importable from here, as before)
from forward_models.shielding import active_nulling, eddy_currents, static, thermal_noise
from forward_models.shielding.active_nulling import *  # noqa: F403
from forward_models.shielding.eddy_currents import *  # noqa: F403
from forward_models.shielding.static import *  # noqa: F403
from forward_models.shielding.thermal_noise import *  # noqa: F403

__all__ = [*static.__all__, *eddy_currents.__all__, *thermal_noise.__all__,
           *active_nulling.__all__]
