"""Source estimation and comparison, built on MNE-Python's solvers and qsense's forward
models."""

from .localisation import METHODS, leading_eigenvalue, peak_localisation_error, point_spread_peaks

__all__ = ["METHODS", "leading_eigenvalue", "peak_localisation_error", "point_spread_peaks"]
