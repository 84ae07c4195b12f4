"""Source estimation and comparison, built on MNE-Python's solvers and qsense's forward
models."""

from .cramer_rao import dipole_localisation_bound
from .design import design_array
from .information import information_bits, total_information
from .localisation import METHODS, leading_eigenvalue, peak_localisation_error, point_spread_peaks
from .recordings import localise_on_recordings
from .rejection import interference_rejection
from .sweep import sweep

__all__ = ["METHODS", "design_array", "dipole_localisation_bound", "information_bits",
           "interference_rejection", "leading_eigenvalue",
           "localise_on_recordings", "peak_localisation_error", "point_spread_peaks", "sweep",
           "total_information"]
