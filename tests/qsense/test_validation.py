"""Bad input at the public boundary gets a clear error naming the argument."""

import numpy as np
import pytest

import qsense as qs


def _opm_loc(n=2, r=0.11):
    loc = np.zeros((n, 12))
    loc[:, 2] = r + 0.04
    loc[:, 3:12] = np.eye(3).ravel()
    return loc


def _array(**kw):
    args = dict(names=("A", "B"), coil_types=[2000, 2000], loc=_opm_loc())
    args.update(kw)
    return qs.SensorArray(**args)


def test_nan_sensor_position():
    loc = _opm_loc()
    loc[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"loc must be finite.*'B'"):
        _array(loc=loc)


def test_infinite_sensor_position():
    loc = _opm_loc()
    loc[0, 2] = np.inf
    with pytest.raises(ValueError, match="loc must be finite"):
        _array(loc=loc)


def test_millimetres_for_sensor_positions():
    loc = _opm_loc()
    loc[:, :3] *= 1000
    with pytest.raises(ValueError, match="millimetres"):
        _array(loc=loc)


def test_zero_length_orientation():
    loc = _opm_loc()
    loc[0, 9:12] = 0
    with pytest.raises(ValueError, match="zero-length"):
        _array(loc=loc)


def test_non_orthonormal_coil_frame():
    loc = _opm_loc()
    loc[0, 9:12] = [0, 0, 2.0]
    with pytest.raises(ValueError, match="orthonormal"):
        _array(loc=loc)


def test_mismatched_shapes():
    with pytest.raises(ValueError, match=r"coil_types must have shape \(2,\)"):
        _array(coil_types=[2000])
    with pytest.raises(ValueError, match=r"loc must have shape \(2, 12\)"):
        _array(loc=np.zeros((2, 9)))


def test_unknown_coil_type():
    with pytest.raises(ValueError, match="coil_type=12345"):
        _array(coil_types=[2000, 12345])


def test_duplicate_channel_names():
    with pytest.raises(ValueError, match="unique"):
        _array(names=("A", "A"))


def test_unknown_preset(sphere_head):
    with pytest.raises(ValueError, match="sensor='quspin_gen9' is not a known preset"):
        qs.arrays.opm_on_scalp(sphere_head, 8, sensor="quspin_gen9")


def test_squid_preset_for_opm_array(sphere_head):
    with pytest.raises(ValueError, match="an OPM preset is needed"):
        qs.arrays.opm_on_scalp(sphere_head, 8, sensor="neuromag_mag")


def test_unknown_axes(sphere_head):
    with pytest.raises(ValueError, match="axes='vertical' is not allowed"):
        qs.arrays.opm_on_scalp(sphere_head, 8, axes="vertical")


def test_axes_not_supported_by_sensor(sphere_head):
    with pytest.raises(ValueError, match="not supported by sensor='quspin_gen2'"):
        qs.arrays.opm_on_scalp(sphere_head, 8, axes="triaxial", sensor="quspin_gen2")


@pytest.mark.parametrize("n", [0, -3, 5000])
def test_bad_sensor_count(sphere_head, n):
    with pytest.raises(ValueError, match="n_sensors"):
        qs.arrays.opm_on_scalp(sphere_head, n)


def test_standoff_in_millimetres(sphere_head):
    with pytest.raises(ValueError, match="millimetres"):
        qs.arrays.opm_on_scalp(sphere_head, 8, standoff=6.5)


def test_negative_standoff(sphere_head):
    with pytest.raises(ValueError, match="standoff"):
        qs.arrays.opm_on_scalp(sphere_head, 8, standoff=-0.001)


def test_sensor_inside_scalp(sphere_head):
    inside = _array(loc=_opm_loc(r=0.05))  # 5 cm from the sphere centre: inside
    with pytest.raises(ValueError, match="inside the scalp"):
        qs.leadfield(inside, sphere_head, [[0.0, 0.0, 0.05]])


def test_sensor_inside_realistic_scalp(fsaverage_sphere):
    arr = qs.arrays.opm_on_scalp(fsaverage_sphere, 8)
    moved = arr.replace(loc=np.column_stack([arr.loc[:, :3] * 0.8, arr.loc[:, 3:]]))
    with pytest.raises(ValueError, match="inside the scalp"):
        qs.leadfield(moved, fsaverage_sphere, qs.sources.cortex(fsaverage_sphere, "ico2"))


def test_source_outside_conductor(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 8)
    with pytest.raises(ValueError, match="inside the conductor"):
        qs.leadfield(arr, sphere_head, [[0.0, 0.0, 0.2]])


def test_source_in_millimetres(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 8)
    with pytest.raises(ValueError, match="millimetres"):
        qs.leadfield(arr, sphere_head, [[0.0, 0.0, 40.0]])


def test_nan_source(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 8)
    with pytest.raises(ValueError, match="positions must be finite"):
        qs.leadfield(arr, sphere_head, [[0.0, np.nan, 0.04]])


def test_source_shape(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 8)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        qs.leadfield(arr, sphere_head, np.zeros((4, 2)))


def test_zero_source_normals(sphere_head):
    with pytest.raises(ValueError, match="normals must be finite and non-zero"):
        qs.sources.points([[0, 0, 0.04], [0, 0.01, 0.04]], sphere_head,
                          normals=[[0, 0, 1], [0, 0, 0]])


def test_head_radius_in_millimetres():
    with pytest.raises(ValueError, match="millimetres"):
        qs.Head.sphere(radius=90.0)


def test_head_origin_nan():
    with pytest.raises(ValueError, match="origin must be finite"):
        qs.Head.sphere(origin=(0, np.nan, 0))


def test_unknown_conductor():
    with pytest.raises(ValueError, match="conductor='fem' is not allowed"):
        qs.Head.fsaverage(conductor="fem")


def test_unknown_accuracy(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 4)
    with pytest.raises(ValueError, match="accuracy='high' is not allowed"):
        qs.leadfield(arr, sphere_head, [[0.0, 0.0, 0.05]], accuracy="high")


def test_volume_spacing_in_millimetres(sphere_head):
    with pytest.raises(ValueError, match="millimetres"):
        qs.sources.volume(sphere_head, spacing=5.0)


def test_cortex_needs_fsaverage(sphere_head):
    with pytest.raises(ValueError, match="fsaverage"):
        qs.sources.cortex(sphere_head)


def test_unknown_cortex_spacing(fsaverage_sphere):
    with pytest.raises(ValueError, match="spacing='oct6' is not allowed"):
        qs.sources.cortex(fsaverage_sphere, spacing="oct6")


def test_wrong_types(sphere_head):
    arr = qs.arrays.opm_on_scalp(sphere_head, 4)
    with pytest.raises(TypeError, match="array must be a qsense.SensorArray"):
        qs.leadfield("not an array", sphere_head, [[0, 0, 0.05]])
    with pytest.raises(TypeError, match="head must be a qsense.Head"):
        qs.leadfield(arr, None, [[0, 0, 0.05]])
    with pytest.raises(TypeError, match="info must be an mne.Info"):
        qs.SensorArray.from_info({"chs": []})


def test_bad_noise():
    with pytest.raises(ValueError, match="noise must be finite and > 0"):
        _array(noise=[1e-15, -1e-15])


def test_helmet_that_does_not_fit():
    small = qs.Head.sphere(radius=0.13, origin=(0, 0, 0.0))
    with pytest.raises(ValueError, match="does not fit"):
        qs.arrays.neuromag306(small)
