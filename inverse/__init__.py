"""Source estimation and comparison, built on MNE-Python's solvers and qsense's forward
models."""
