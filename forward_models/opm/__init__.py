"""SERF optically pumped magnetometer (OPM) physics, in JAX.

The spin polarisation ``P`` (dimensionless, pump-frame components) of the alkali vapour
obeys the Bloch equation of a spin-exchange-relaxation-free (SERF) magnetometer pumped
along ``z`` (Seltzer & Romalis 2004, Appl. Phys. Lett. 85:4804; Tierney et al. 2019,
NeuroImage 199:598, eq. 1):

    q(|P|) dP/dt = gamma_e (B x P) + R_op (z_hat - P) - R_rel P

Modules
-------
- :mod:`~forward_models.opm.serf`: the equation's steady state (Dupont-Roc et al. 1969),
  the slowing-down factor of 87Rb, linewidth and bandwidth, small-signal transfer
  functions.
- :mod:`~forward_models.opm.bloch`: exact-exponential time integration through a
  sampled field.
- :mod:`~forward_models.opm.readout`: readout modes (single, dual, triaxial), factory
  calibration, closed-loop field feedback: what a batch of sensors reports.
- :mod:`~forward_models.opm.geometry`: integration points over the cell, crosstalk of
  the on-board coils, rotations.

Every name is re-exported here: ``from forward_models import opm`` then
``opm.serf_steady_state``, ``opm.GAMMA_E``, ``opm.READ_MODES``, ... as before the split.
All functions are pure, jit-able and broadcast over leading axes; SI units.
"""

# each module's __all__ lists its public names; the package exports all of them
from forward_models.constants import MU0  # noqa: F401  (importable from here, as before)
from forward_models.opm import bloch, geometry, readout, serf
from forward_models.opm.bloch import *  # noqa: F403
from forward_models.opm.geometry import *  # noqa: F403
from forward_models.opm.readout import *  # noqa: F403
from forward_models.opm.serf import *  # noqa: F403

__all__ = [*serf.__all__, *bloch.__all__, *readout.__all__, *geometry.__all__]
