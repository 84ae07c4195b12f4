"""Fixtures of the simulation tests: small heads, arrays and sources (2 CPU cores)."""

from types import SimpleNamespace

import mne
import numpy as np
import pytest

import qsense as qs


@pytest.fixture(scope="session")
def bem_head(tmp_path_factory):
    """fsaverage with the ico-3 single-shell BEM (cached in a temporary folder)."""
    return qs.Head.fsaverage(conductor="bem", ico=3, cache_dir=tmp_path_factory.mktemp("bem"))


@pytest.fixture(scope="session")
def sphere_points(sphere_head):
    """Three tangential dipoles in the sphere head (a discrete space with normals)."""
    pos = [[0.03, 0.0, 0.09], [-0.03, 0.02, 0.08], [0.0, -0.03, 0.10]]
    nn = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    return qs.sources.points(pos, sphere_head, normals=nn)


@pytest.fixture(scope="session")
def opm8(sphere_head):
    """Eight radial QuSpin Gen-2 sensors on the sphere head."""
    return qs.arrays.opm_on_scalp(sphere_head, 8, "radial")


def _smooth_signals(n_src, n_times, sfreq, seed=0, peak=20e-9):
    """Smooth random time courses (content below ~20 Hz), zero at both ends, A m."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / sfreq
    x = np.zeros((n_src, n_times))
    for f in (3.0, 7.0, 13.0, 19.0):
        phase = rng.uniform(0, 6, (n_src, 1))
        x += rng.standard_normal((n_src, 1)) * np.sin(2 * np.pi * f * t + phase)
    x *= np.sin(np.pi * t / t[-1]) ** 2  # zero at both ends
    return peak * x / np.abs(x).max()


def _point_stc(src, data, sfreq):
    """A VolSourceEstimate on every source of a discrete source space."""
    return mne.VolSourceEstimate(data, [src.to_mne()[0]["vertno"]], 0.0, 1.0 / sfreq)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="session")
def sim():
    """Helpers: ``smooth_signals``, ``point_stc``, ``rel``."""
    return SimpleNamespace(smooth_signals=_smooth_signals, point_stc=_point_stc, rel=_rel)
