"""Physics kernels of qsense, in JAX.

Pure functions of arrays in SI units (metres, tesla, ampere-metres, seconds, hertz,
kelvin). This package imports only jax, numpy and scipy: no MNE, no xarray, no files.
Every kernel broadcasts over leading axes and is jit-able.

Importing this package enables JAX's 64-bit mode: accuracy is checked against MNE at
1e-6 relative, which float32 cannot reach. Pass float32 arrays explicitly where an
accelerator needs them.
"""

import jax

jax.config.update("jax_enable_x64", True)

MU0 = 4e-7 * 3.141592653589793
"""Vacuum permeability mu0 = 4 pi 1e-7 T m / A (the pre-2019 exact value; the
2019 SI value differs by 5.5e-10 relative, far below every tolerance here, and MNE uses
this one)."""

KB = 1.380649e-23
"""Boltzmann constant in J/K (exact, 2019 SI)."""
