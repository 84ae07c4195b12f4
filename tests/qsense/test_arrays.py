"""Sensor arrays: geometry, presets, MNE Info round trips, helmet placement."""

import mne
import numpy as np
import pytest

import qsense as qs
from qsense.coils import coil_definition, coil_definitions


def test_coil_definitions_match_mne():
    """Our parse of coil_def.dat equals MNE's own coil reader for every coil type."""
    from mne.forward._make_forward import _read_coil_defs

    theirs = _read_coil_defs(verbose=False)
    ours = coil_definitions()
    assert len(theirs) == len(ours)
    for c in theirs:
        d = ours[(c["coil_type"], c["accuracy"])]
        np.testing.assert_allclose(d.points, c["rmag"], atol=1e-12)
        np.testing.assert_allclose(d.normals, c["cosmag"], atol=1e-12)
        np.testing.assert_allclose(d.weights, c["w"], atol=1e-12)


def test_coil_points_match_mne_create_meg_coils(sphere_head):
    from mne.forward._make_forward import _create_meg_coils, _read_coil_defs

    array = qs.arrays.neuromag306(sphere_head)
    info = array.to_info()
    coils = _create_meg_coils(info["chs"], "accurate", info["dev_head_t"], _read_coil_defs())
    cp = array.coil_points("accurate")
    np.testing.assert_allclose(cp.points, np.concatenate([c["rmag"] for c in coils]), atol=1e-12)
    np.testing.assert_allclose(cp.normals, np.concatenate([c["cosmag"] for c in coils]),
                               atol=1e-12)
    np.testing.assert_allclose(cp.weights, np.concatenate([c["w"] for c in coils]))


@pytest.mark.parametrize("axes,per", [("radial", 1), ("tangential", 1), ("dual", 2),
                                      ("triaxial", 3)])
def test_opm_on_scalp_geometry(axes, per, fsaverage_sphere):
    head = fsaverage_sphere
    sensor = "quspin_gen3_triaxial" if axes == "triaxial" else "quspin_gen2"
    arr = qs.arrays.opm_on_scalp(head, 50, axes, standoff=0.0065, sensor=sensor)
    assert arr.n_channels == 50 * per and arr.n_sensors == 50
    gap = head.scalp_distance(arr.positions)
    np.testing.assert_allclose(gap, 0.0065, atol=3e-4)  # faceted scalp vs smoothed normal
    # the channels of one sensor are orthogonal
    for i in range(3):
        o = arr.orientations[arr.sensor_index == i]
        np.testing.assert_allclose(o @ o.T, np.eye(per), atol=1e-12)
    # radial channels point outwards, tangential ones lie in the scalp plane
    radial = arr.orientations[0]
    out = arr.positions[0] - head.sphere_origin
    if axes == "tangential":
        assert abs(radial @ out) / np.linalg.norm(out) < 0.35
    else:
        assert radial @ out / np.linalg.norm(out) > 0.8


def test_opm_spacing_like_spm(fsaverage_sphere):
    """64 sensors over the upper fsaverage scalp give roughly SPM's 35 mm spacing."""
    from scipy.spatial import cKDTree

    arr = qs.arrays.opm_on_scalp(fsaverage_sphere, 64)
    d, _ = cKDTree(arr.positions).query(arr.positions, k=2)
    assert 25e-3 < d[:, 1].mean() < 40e-3
    assert d[:, 1].min() > 0.5 * d[:, 1].mean()  # evenly spread, no clumps


@pytest.mark.parametrize("builder,n", [(qs.arrays.neuromag306, 306), (qs.arrays.ctf275, 274)])
def test_helmet_gap(builder, n, fsaverage_sphere, sphere_head):
    # mean gap: 2-4 cm is typical on real heads (Hamalainen et al. 1993); a 9 cm sphere
    # is rounder than the helmet, so its mean gap runs a little larger
    for head, max_mean in ((fsaverage_sphere, 0.035), (sphere_head, 0.045)):
        arr = builder(head)
        assert arr.n_channels == n
        gap = head.scalp_distance(arr.positions)
        assert gap.min() == pytest.approx(qs.arrays.DEFAULT_HELMET_GAP, abs=1e-4)
        assert 0.02 < gap.mean() < max_mean


def test_kernel_flux(fsaverage_sphere):
    arr = qs.arrays.kernel_flux(fsaverage_sphere)
    assert arr.n_channels == 40 and arr.kind == "opm"
    assert np.all(arr.coil_types == 8201)
    gap = fsaverage_sphere.scalp_distance(arr.positions)
    np.testing.assert_allclose(gap, qs.sensors.get_preset("kernel_flux").standoff, atol=3e-4)


def test_info_round_trip(sphere_head, tmp_path):
    for k, arr in enumerate((qs.arrays.neuromag306(sphere_head), qs.arrays.ctf275(sphere_head),
                             qs.arrays.opm_on_scalp(sphere_head, 10, "dual"))):
        info = arr.to_info()
        assert mne.pick_types(info, meg=True).size == arr.n_channels
        # through a FIF file and back
        fname = tmp_path / f"x{k}-info.fif"
        mne.io.write_info(fname, info)
        back = qs.SensorArray.from_info(mne.io.read_info(fname, verbose=False))
        np.testing.assert_array_equal(back.coil_types, arr.coil_types)
        np.testing.assert_allclose(back.loc, arr.loc, atol=1e-7)  # FIF stores float32
        np.testing.assert_allclose(back.dev_head_t, arr.dev_head_t, atol=1e-7)
        assert back.names == arr.names
        assert back.kind == arr.kind


def test_to_info_types_and_units(sphere_head):
    from mne.io.constants import FIFF

    info = qs.arrays.neuromag306(sphere_head).to_info()
    types = info.get_channel_types()
    assert types.count("grad") == 204 and types.count("mag") == 102
    grads = [c for c in info["chs"] if c["coil_type"] == 3012]
    assert all(c["unit"] == FIFF.FIFF_UNIT_T_M for c in grads)
    opm = qs.arrays.opm_on_scalp(sphere_head, 4).to_info()
    assert {c["coil_type"] for c in opm["chs"]} == {8001}


def test_from_info_uses_mne_sample_like_info():
    info = mne.channels.read_meg_canonical_info("neuromag", verbose=False)
    arr = qs.SensorArray.from_info(info)
    assert arr.kind == "squid" and arr.n_channels == 306
    assert arr.n_sensors == 306  # from_info cannot know triplets; the builder groups them
    assert arr.is_planar_gradiometer.sum() == 204
    np.testing.assert_allclose(arr.noise[arr.is_planar_gradiometer], 3e-13)


def test_pick_and_presets(sphere_head):
    arr = qs.arrays.neuromag306(sphere_head)
    mags = arr.pick(~arr.is_gradiometer)
    assert mags.n_channels == 102
    assert {p.name for p in mags.channel_presets} == {"neuromag_mag"}
    assert mags.n_sensors == 102
    assert coil_definition(3012, "accurate").is_gradiometer


def test_preset_noise_asd():
    p = qs.sensors.get_preset("quspin_gen2")
    asd = p.noise_asd([p.corner_frequency, 1e6])
    np.testing.assert_allclose(asd, [p.noise_floor * np.sqrt(2), p.noise_floor], rtol=1e-5)
    q = p.replace(noise_floor=7e-15)
    assert q.noise_floor == 7e-15 and p.noise_floor == 15e-15
