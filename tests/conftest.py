"""Shared fixtures. Heavy cases run reduced unless QSENSE_FULL=1."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")

FULL = os.environ.get("QSENSE_FULL", "") == "1"


@pytest.fixture(scope="session")
def full():
    """True when the heavy cases should run at full size (QSENSE_FULL=1)."""
    return FULL


@pytest.fixture(scope="session")
def sphere_head():
    import qsense as qs

    return qs.Head.sphere()


@pytest.fixture(scope="session")
def fsaverage_sphere():
    import qsense as qs

    return qs.Head.fsaverage(conductor="sphere")


@pytest.fixture
def count_solutions(monkeypatch):
    """Calls of ``mne.make_bem_solution`` (one entry each) while the test runs."""
    import mne

    calls = []
    real = mne.make_bem_solution

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mne, "make_bem_solution", counting)
    return calls
