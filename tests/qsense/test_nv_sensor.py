"""NV presets and SensorArray builders (qsense.nv)."""

import math

import numpy as np
import pytest

import qsense as qs
from forward_models import conductors
from qsense import nv as qnv

GAMMA = 28.03e9


# ------------------------------------------------------------- must-show 2 (presets)
@pytest.mark.parametrize("name", sorted(qnv.NV_PRESETS))
def test_preset_shot_noise_consistent_with_published_figure(name):
    p = qnv.get_nv_preset(name)
    # the closed form of PHYSICS.md / Barry et al. 2020, evaluated here independently
    eta = 4 / (3 * math.sqrt(3)) * p.linewidth / (GAMMA * p.contrast * math.sqrt(p.photon_rate))
    assert p.shot_noise_limit == pytest.approx(eta / p.flux_gain, rel=1e-12)
    # a measured noise floor cannot beat the photon shot-noise limit of the same
    # figures, and a sensor working near its limit is within a few times of it
    assert p.shot_noise_limit <= p.noise_floor <= 10 * p.shot_noise_limit
    assert p.citation and p.kind == "nv" and p.coil_type == 2000


def test_preset_published_figures():
    # the published figures the presets carry (sources in each citation)
    assert qnv.get_nv_preset("nv_flux_concentrator").noise_floor == pytest.approx(0.9e-12)
    assert qnv.get_nv_preset("nv_flux_concentrator").flux_gain == 250.0
    assert qnv.get_nv_preset("nv_mcg").noise_floor == pytest.approx(9e-12)
    # Fescenko 2020: bulk NV sensitivity without concentrators is >~ 10 pT/sqrt(Hz)
    assert qnv.get_nv_preset("nv_bulk").noise_floor >= 10e-12
    wf = qnv.get_nv_preset("nv_widefield")
    vol_norm = wf.noise_floor * math.sqrt(wf.pixel_pitch**2 * wf.layer_thickness)
    assert vol_norm == pytest.approx(43.9e-9 * 1e-9, rel=1e-9)  # 43.9 nT um^1.5 / sqrt(Hz)
    # override keeps validation
    q = wf.replace(noise_floor=10e-9)
    assert q.noise_floor == 10e-9 and wf.noise_floor == 43.9e-9
    with pytest.raises(ValueError, match="contrast must be <= 1"):
        wf.replace(contrast=1.2)
    with pytest.raises(ValueError, match="linewidth must be a finite number > 0"):
        wf.replace(linewidth=-1.0)
    with pytest.raises(ValueError, match="not an NV preset"):
        qnv.get_nv_preset("nv_nonexistent")


# ------------------------------------------------------------------ builders
def test_single_sensors_and_gradiometers():
    pos = np.array([[0.0, 0.0, 0.10], [0.02, 0.0, 0.098]])
    ori = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    arr = qnv.nv_sensors(pos, ori, sensor="nv_mcg")
    assert arr.kind == "nv" and arr.n_channels == 2
    assert np.all(arr.coil_types == 2000)
    np.testing.assert_allclose(arr.positions, pos)
    np.testing.assert_allclose(arr.orientations, ori)
    np.testing.assert_allclose(arr.noise, 9e-12)
    g = qnv.nv_gradiometers(pos, ori, baseline=0.03, sensor="nv_bulk")
    assert g.n_channels == 4 and g.n_sensors == 2
    np.testing.assert_allclose(g.positions[1] - g.positions[0], 0.03 * ori[0], atol=1e-15)
    with pytest.raises(ValueError, match="baseline must be"):
        qnv.nv_gradiometers(pos, ori, baseline=0.0)


def test_pixel_grid_geometry_and_noise_scaling():
    g = qnv.nv_pixel_grid([0.01, 0.0, 0.0], [1.0, 0.0, 0.0], shape=(3, 4), pitch=10e-6,
                          standoff=5e-6)
    assert g.n_channels == 12
    pos = g.positions
    np.testing.assert_allclose(pos[:, 0], 0.01 + 5e-6)
    d = np.linalg.norm(pos[1] - pos[0])
    assert d == pytest.approx(10e-6)
    np.testing.assert_allclose(pos.mean(axis=0), [0.01 + 5e-6, 0, 0], atol=1e-15)
    np.testing.assert_allclose(g.orientations, np.tile([1.0, 0, 0], (12, 1)), atol=1e-15)
    # 10 um pixels: 10x the volume-normalised noise of 1 um^3 pixels / sqrt(100 * 1)
    np.testing.assert_allclose(g.noise, 43.9e-9 / 10)


def test_pixel_grid_bad_input():
    with pytest.raises(ValueError, match="pitch must be a finite pixel pitch > 0"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], pitch=0.0)
    with pytest.raises(ValueError, match="pitch must be"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], pitch=float("nan"))
    with pytest.raises(ValueError, match="standoff must be"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], standoff=-1e-6)
    with pytest.raises(ValueError, match="shape must be"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(0, 4))
    with pytest.raises(ValueError, match="normal must be non-zero"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 0.0])
    with pytest.raises(ValueError, match="positions must be finite"):
        qnv.nv_sensors([[0, np.nan, 0.1]], [0, 0, 1.0])


def test_leadfield_works_on_nv_array():
    """An NV array goes through qsense.leadfield like any other; check against Sarvas."""
    head = qs.Head.sphere(radius=0.09, origin=(0.0, 0.0, 0.04))
    origin = np.array([0.0, 0.0, 0.04])
    dirs = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8], [0.0, -0.6, 0.8]])
    pos = origin + (0.09 + 0.004) * dirs
    arr = qnv.nv_sensors(pos, dirs, sensor="nv_flux_concentrator")
    src = origin + np.array([[0.01, 0.02, 0.05], [-0.02, 0.0, 0.04]])
    lf = qs.leadfield(arr, head, src)
    assert lf.shape == (3, 2, 3)
    for j in range(2):
        for k in range(3):
            q = np.eye(3)[k]
            b = np.asarray(conductors.sphere_dipole_field(pos, src[j], q, origin))
            np.testing.assert_allclose(lf.values[:, j, k], np.sum(b * dirs, axis=1),
                                       rtol=1e-9, atol=1e-22)
