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

# the constants live in forward_models.constants (with their sources); these two names
# have always been importable from the package itself
from forward_models.constants import KB, MU0  # noqa: E402

__all__ = ["KB", "MU0"]
