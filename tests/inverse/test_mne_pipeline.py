"""A qsense forward goes through MNE's own inverse pipeline: FIF write/read, conversion
to fixed orientation, inverse operator, minimum-norm estimates of a noiseless
superficial dipole.

Measured here (fsaverage, fitted sphere, ico-3 cortex, 20 nAm, lambda2 = 1/9): MNE-norm
and sLORETA peaks land on the true vertex; dSPM's peak is exactly where dSPM with MNE's
own forward solution puts it (2-3 cm deep at this regularisation, its known depth bias:
Hauk et al. 2011, NeuroImage 54:1966). Where dSPM's peak lands as the regularisation
grows is tested in test_localisation.py.
"""


import mne
import numpy as np
import pytest

import qsense as qs


def _superficial_tangential_vertex(head, src):
    """A vertex near the top of the brain whose normal is far from radial."""
    out = src.positions - head.sphere_origin
    radial = out / np.linalg.norm(out, axis=1, keepdims=True)
    tang = 1 - np.abs(np.sum(radial * src.normals, axis=1))
    depth = head.sphere_radius - np.linalg.norm(out, axis=1)
    score = np.where((depth < 0.02) & (out[:, 2] > 0), tang, -1)
    return int(np.argmax(score))


def _peak(inv, evoked, method):
    stc = mne.minimum_norm.apply_inverse(evoked, inv, lambda2=1 / 9, method=method,
                                         verbose=False)
    return int(np.argmax(np.abs(stc.data).max(axis=1)))


@pytest.mark.parametrize("array_name", ["neuromag306", "opm_radial"])
def test_minimum_norm_pipeline(array_name, fsaverage_sphere, tmp_path):
    head = fsaverage_sphere
    src = qs.sources.cortex(head, "ico3")
    array = (qs.arrays.neuromag306(head) if array_name == "neuromag306"
             else qs.arrays.opm_on_scalp(head, 64, "radial"))
    fwd = qs.make_forward(array, head, src)
    fname = tmp_path / "test-fwd.fif"
    mne.write_forward_solution(fname, fwd)
    fwd = mne.read_forward_solution(fname, verbose=False)
    fwd_fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                             use_cps=True, verbose=False)
    # fixed-orientation gains equal the free ones projected on the normals (FIF: float32)
    free = qs.leadfield(array, head, src).values
    np.testing.assert_allclose(fwd_fixed["sol"]["data"],
                               np.einsum("csk,sk->cs", free, src.normals),
                               rtol=0, atol=1e-6 * np.abs(free).max())
    v = _superficial_tangential_vertex(head, src)
    info = array.to_info(sfreq=1000.0)
    data = fwd_fixed["sol"]["data"][:, v:v + 1] * 20e-9 * np.ones((1, 5))
    evoked = mne.EvokedArray(data, info, tmin=0.0, verbose=False)
    noise_cov = mne.make_ad_hoc_cov(info, std=dict(mag=20e-15, grad=5e-13), verbose=False)
    inv = mne.minimum_norm.make_inverse_operator(info, fwd, noise_cov, loose=0.2, depth=0.8,
                                                 verbose=False)
    for method in ("MNE", "sLORETA"):
        err = np.linalg.norm(src.positions[_peak(inv, evoked, method)] - src.positions[v])
        assert err < 0.01, f"{method} peak {err * 1e3:.1f} mm from the true source"
    # dSPM: the same peak as with MNE's own forward solution
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None, verbose=False)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    fwd_mne = mne.make_forward_solution(info, trans, src.to_mne(), sphere, eeg=False,
                                        verbose=False)
    inv_mne = mne.minimum_norm.make_inverse_operator(info, fwd_mne, noise_cov, loose=0.2,
                                                     depth=0.8, verbose=False)
    assert _peak(inv, evoked, "dSPM") == _peak(inv_mne, evoked, "dSPM")


def test_forward_accepted_for_fixed_orientation_and_resolution(fsaverage_sphere):
    """MNE functions that insist on surface source spaces accept qsense's cortex."""
    head = fsaverage_sphere
    src = qs.sources.cortex(head, "ico2")
    array = qs.arrays.opm_on_scalp(head, 32)
    fwd = qs.make_forward(array, head, src)
    info = array.to_info()
    noise_cov = mne.make_ad_hoc_cov(info, verbose=False)
    inv = mne.minimum_norm.make_inverse_operator(info, fwd, noise_cov, fixed=True,
                                                 verbose=False)
    fwd_fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                             use_cps=True, verbose=False)
    resmat = mne.minimum_norm.make_inverse_resolution_matrix(
        fwd_fixed, inv, method="MNE", lambda2=1 / 9, verbose=False)
    ple = mne.minimum_norm.resolution_metrics(resmat, inv["src"], function="psf",
                                              metric="peak_err", verbose=False)
    assert ple.data.shape == (len(src), 1)
    assert np.all(np.isfinite(ple.data))


