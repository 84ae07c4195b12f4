"""The sensor registry and the conductor protocol: one lookup, one object each."""

import mne
import numpy as np
import pytest

import qsense as qs
from qsense import sensors
from qsense.budget import noise_budget
from qsense.conductors import Conductor, SphereConductor
from qsense.surfaces import icosphere, sphere_surface


@pytest.fixture(scope="module")
def head():
    return qs.Head.sphere()


def test_every_family_is_found_by_one_lookup():
    kinds = {p.kind for p in sensors.PRESETS.values()}
    assert kinds == {"squid", "opm", "nv"}
    for name in ("neuromag_mag", "ctf_axial", "quspin_gen2", "nv_bulk", "nv_widefield"):
        p = sensors.get_preset(name)
        assert p.name == name and p.citation
    assert set(qs.nv.NV_PRESETS) == set(sensors.preset_names("nv"))
    # the OPM presets carry their Bloch figures; the NV presets their readout figures
    assert sensors.get_preset("quspin_gen2").bloch is qs.opm.get_opm_model("quspin_gen2")
    assert sensors.get_preset("nv_flux_concentrator").flux_gain == 250.0
    with pytest.raises(ValueError, match="sensor='squid9' is not a known preset.*nv_bulk"):
        sensors.get_preset("squid9")
    with pytest.raises(TypeError, match="sensor must be"):
        sensors.get_preset(3)


def test_coil_type_defaults():
    assert sensors.preset_for_coil(3022).name == "neuromag_mag"
    assert sensors.preset_for_coil(3013).name == "neuromag_grad"
    assert sensors.preset_for_coil(2000).name == "point"  # not an NV preset
    with pytest.raises(ValueError, match="coil type 12345 has no default"):
        sensors.preset_for_coil(12345)


@pytest.mark.parametrize("build, preset", [
    (lambda h: qs.nv.nv_on_scalp(h, 6, sensor="nv_mcg"), "nv_mcg"),
    (lambda h: qs.arrays.opm_on_scalp(h, 4, "triaxial", sensor="quspin_gen3_triaxial"),
     "quspin_gen3_triaxial"),
    (lambda h: qs.arrays.opm_on_scalp(h, 5, sensor="quspin_gen2"), "quspin_gen2"),
])
def test_presets_survive_info_and_fif(head, tmp_path, build, preset):
    arr = build(head)
    back = qs.SensorArray.from_info(arr.to_info())
    assert [p.name for p in back.channel_presets] == [preset] * arr.n_channels
    raw = mne.io.RawArray(np.zeros((arr.n_channels, 10)), arr.to_info(), verbose=False)
    fname = tmp_path / "sim_raw.fif"
    raw.save(fname, verbose=False)
    info = mne.io.read_info(fname, verbose=False)
    again = qs.SensorArray.from_info(info)
    assert [p.name for p in again.channel_presets] == [preset] * arr.n_channels
    np.testing.assert_allclose(again.noise, arr.noise)
    assert again.kind == arr.kind
    # MNE's own channel picking keeps the record valid (it is keyed by channel name)
    sub = qs.SensorArray.from_info(mne.pick_info(info, [1, 2]))
    assert [p.name for p in sub.channel_presets] == [preset] * 2


def test_without_a_record_the_coil_type_decides(head):
    arr = qs.nv.nv_on_scalp(head, 4, sensor="nv_bulk")
    info = arr.to_info()
    with info._unlock():
        info["description"] = None
    assert {p.name for p in qs.SensorArray.from_info(info).channel_presets} == {"point"}


def test_nv_budget_has_the_nv_1_over_f_corner(head):
    """The sensor term of an NV array is the NV preset's white + 1/f spectrum, not a
    flat point-magnetometer floor (the closed form floor * sqrt(1 + fc / f))."""
    p = sensors.get_preset("nv_bulk")
    arr = p.default_array(head, 4)
    f = np.array([0.5, 1.0, 10.0, 100.0])
    ds = noise_budget(arr, freqs=f)
    expected = p.noise_floor * np.sqrt(1 + p.corner_frequency / f)
    np.testing.assert_allclose(ds["asd"].sel(contributor="sensor").values,
                               np.broadcast_to(expected, (4, 4)), rtol=1e-12)
    assert p.corner_frequency == 10.0 and arr.head_mounted


def test_array_presets_and_kind_agree(head):
    arr = qs.arrays.opm_on_scalp(head, 4)
    with pytest.raises(ValueError, match="kind='squid' does not match"):
        arr.replace(kind="squid")
    # a sensor whose coil type is not the channels' is refused
    with pytest.raises(ValueError, match="coil type 8001, but its sensor 'quspin_gen3_dual'"):
        arr.replace(sensor="quspin_gen3_dual")
    # a new sensor sets presets and noise floors again
    quiet = qs.sensors.get_preset("quspin_gen2").replace(noise_floor=7e-15)
    low = arr.replace(sensor=quiet)
    np.testing.assert_array_equal(low.noise, 7e-15)
    assert low.channel_presets[0] is quiet and np.all(arr.noise == 15e-15)
    mixed = qs.arrays.neuromag306(head)
    assert mixed.kind == "squid" and not mixed.head_mounted
    assert {p.name for p in mixed.channel_presets} == {"neuromag_mag", "neuromag_grad"}


def test_default_arrays(head):
    assert qs.sensors.get_preset("neuromag_grad").default_array(head).n_channels == 204
    assert qs.sensors.get_preset("ctf_axial").default_array(head).n_channels == 274
    assert qs.sensors.get_preset("fieldline_hedscan").default_array(head, 7).n_channels == 7
    with pytest.raises(ValueError, match="wide-field microscope"):
        qs.sensors.get_preset("nv_widefield").default_array(head)


def test_heads_hold_a_conductor(head):
    assert isinstance(head.conductor, SphereConductor) and head.conductor.name == "sphere"
    assert isinstance(head.conductor, Conductor) and head.conductor.differentiable
    with pytest.raises(TypeError, match="conductor must be a qsense.conductors.Conductor"):
        qs.Head(name="x", conductor="sphere", scalp=head.scalp, brain=head.brain,
                sphere_origin=head.sphere_origin, sphere_radius=0.08,
                head_mri_t=np.eye(4))


def test_sphere_surface_is_exact_where_the_mesh_is_not():
    s = sphere_surface(0.09, (0.0, 0.0, 0.04))
    mesh = icosphere(4, 0.09, (0.0, 0.0, 0.04))
    rng = np.random.default_rng(0)
    d = rng.normal(size=(50, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = np.array([0.0, 0.0, 0.04]) + 0.095 * d
    np.testing.assert_allclose(s.signed_distance(pts), 0.005, rtol=1e-12)
    # the ico-4 mesh sits inside the sphere between its vertices: off by up to ~0.2 mm
    assert np.max(np.abs(mesh.signed_distance(pts) - 0.005)) > 1e-5
    foot = s.ray_cast([0.0, 0.0, 0.04], d)
    np.testing.assert_allclose(np.linalg.norm(foot - [0, 0, 0.04], axis=1), 0.09,
                               rtol=1e-14)
    off = s.ray_cast([0.01, 0.0, 0.05], d)  # a ray from off the centre
    np.testing.assert_allclose(np.linalg.norm(off - [0, 0, 0.04], axis=1), 0.09,
                               rtol=1e-14)
    np.testing.assert_allclose(s.normals_at(foot), d, atol=1e-14)
