"""qsense: simulate quantum magnetometers (OPM, NV) and SQUID arrays on the head."""

import forward_models  # noqa: F401  (enables JAX 64-bit floats)

from . import (
    _jax_cache,  # noqa: F401  (persistent JAX compilation cache)
    activity,
    arrays,
    brainmap,
    budget,
    environment,
    nv,
    opm,
    sensors,
    simulation,
    sources,
)
from .brainmap import plot_brain_map
from .budget import noise_budget
from .environment import Environment
from .forward import leadfield, make_forward
from .head import Head
from .sensor_array import SensorArray
from .simulation import simulate_raw

__version__ = "0.1.0"
__all__ = [
    "Head",
    "SensorArray",
    "arrays",
    "sensors",
    "sources",
    "opm",
    "nv",
    "environment",
    "budget",
    "Environment",
    "noise_budget",
    "leadfield",
    "make_forward",
    "simulate_raw",
    "activity",
    "simulation",
    "brainmap",
    "plot_brain_map",
    "__version__",
]
