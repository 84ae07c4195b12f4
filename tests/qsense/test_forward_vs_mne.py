"""qsense.leadfield against mne.make_forward_solution with a sphere model (must match to
1e-6 relative, Frobenius norm), for every array kind and both coil accuracies."""

import functools
from unittest import mock

import mne
import mne.forward._make_forward as mne_make_forward
import numpy as np
import pytest

import qsense as qs

TOL = 1e-6


def _mne_leadfield(array, head, src, accuracy):
    """MNE's own forward, with its coil accuracy set (MNE itself always uses
    'accurate'; the 'normal' reference patches only that default)."""
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None, verbose=False)
    prep = functools.partial(mne_make_forward._prep_meg_channels, accuracy=accuracy)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    with mock.patch.object(mne_make_forward, "_prep_meg_channels", prep):
        fwd = mne.make_forward_solution(array.to_info(), trans, src.to_mne(), sphere,
                                        eeg=False, verbose=False)
    return fwd["sol"]["data"]


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


ARRAYS = {
    "neuromag306": lambda h: qs.arrays.neuromag306(h),
    "ctf275": lambda h: qs.arrays.ctf275(h),
    "opm_radial": lambda h: qs.arrays.opm_on_scalp(h, 24, "radial"),
    "opm_tangential": lambda h: qs.arrays.opm_on_scalp(h, 24, "tangential"),
    "opm_dual": lambda h: qs.arrays.opm_on_scalp(h, 16, "dual"),
    "opm_triaxial": lambda h: qs.arrays.opm_on_scalp(h, 12, "triaxial",
                                                     sensor="quspin_gen3_triaxial"),
    "fieldline": lambda h: qs.arrays.opm_on_scalp(h, 12, "radial", sensor="fieldline_hedscan"),
    "point_mag": lambda h: qs.arrays.opm_on_scalp(h, 12, "radial", sensor="point"),
}


@pytest.fixture(scope="module")
def sphere_sources(sphere_head):
    return qs.sources.volume(sphere_head, spacing=0.02)


@pytest.mark.parametrize("accuracy", ["normal", "accurate"])
@pytest.mark.parametrize("name", list(ARRAYS))
def test_sphere_leadfield_matches_mne(name, accuracy, sphere_head, sphere_sources):
    array = ARRAYS[name](sphere_head)
    lf = qs.leadfield(array, sphere_head, sphere_sources, accuracy=accuracy)
    ref = _mne_leadfield(array, sphere_head, sphere_sources, accuracy)
    assert lf.shape == (array.n_channels, sphere_sources.n_sources, 3)
    assert _rel(lf.values.reshape(array.n_channels, -1), ref) <= TOL


@pytest.mark.parametrize("name", ["neuromag306", "opm_radial", "kernel_flux"])
def test_fsaverage_fitted_sphere_matches_mne(name, fsaverage_sphere):
    """The fsaverage head with its fitted sphere, cortical sources in the MRI frame:
    exercises the head<->MRI transform on both sides."""
    head = fsaverage_sphere
    array = (qs.arrays.kernel_flux(head) if name == "kernel_flux" else ARRAYS[name](head))
    src = qs.sources.cortex(head, spacing="ico2")
    lf = qs.leadfield(array, head, src)
    ref = _mne_leadfield(array, head, src, "accurate")
    assert _rel(lf.values.reshape(array.n_channels, -1), ref) <= TOL


def test_make_forward_matches_mne_forward(sphere_head, sphere_sources):
    array = qs.arrays.neuromag306(sphere_head)
    fwd = qs.make_forward(array, sphere_head, sphere_sources)
    ref = _mne_leadfield(array, sphere_head, sphere_sources, "accurate")
    assert fwd["sol"]["data"].shape == ref.shape
    assert _rel(fwd["sol"]["data"], ref) <= TOL
    np.testing.assert_allclose(fwd["source_rr"], sphere_sources.positions)


def test_chunking_does_not_change_the_result(sphere_head, sphere_sources):
    array = qs.arrays.opm_on_scalp(sphere_head, 16, "dual")
    whole = qs.leadfield(array, sphere_head, sphere_sources)
    tiny = qs.leadfield(array, sphere_head, sphere_sources, memory_budget=1)
    np.testing.assert_array_equal(whole.values, tiny.values)


def test_leadfield_dataarray_metadata(tmp_path, sphere_head):
    array = qs.arrays.neuromag306(sphere_head)
    src = qs.sources.volume(sphere_head, spacing=0.03)
    lf = qs.leadfield(array, sphere_head, src)
    assert lf.dims == ("channel", "source", "orientation")
    assert lf.attrs["units"] == "T/(A m)"
    assert set(lf.coords["units"].values) == {"T/(A m)", "T/(A m^2)"}
    for name in ("source_x", "source_y", "source_z"):
        assert lf.coords[name].attrs["units"] == "m"
    for name in lf.coords:
        assert "long_name" in lf.coords[name].attrs
    path = tmp_path / "lf.nc"
    lf.to_netcdf(path)
    import xarray as xr

    back = xr.load_dataarray(path)
    np.testing.assert_array_equal(back.values, lf.values)
    assert list(back.channel.values) == list(lf.channel.values)
    assert back.attrs["units"] == lf.attrs["units"]
