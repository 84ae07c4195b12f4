"""Ideal sensors, no noise, no room: simulate_raw equals MNE's simulate_raw on the same
forward (<= 1e-6 relative), and on the sphere also MNE's own forward."""

import mne
import numpy as np
import pytest

import qsense as qs

TOL = 1e-6
SFREQ = 500.0


def _mne_sphere_forward(array, head, src):
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None, verbose=False)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    return mne.make_forward_solution(array.to_info(SFREQ), trans, src.to_mne(), sphere,
                                     eeg=False, verbose=False)


def _ideal(array, head, src, stc, **kw):
    return qs.simulate_raw(array, head, src, stc, sensor_physics=False, noise=False,
                           **kw).get_data()


@pytest.mark.parametrize("kind", ["neuromag306", "opm_radial"])
def test_sphere_matches_mne(kind, sphere_head, sphere_points, sim):
    head, src = sphere_head, sphere_points
    array = (qs.arrays.neuromag306(head) if kind == "neuromag306"
             else qs.arrays.opm_on_scalp(head, 16, "radial"))
    stc = sim.point_stc(src, sim.smooth_signals(src.n_sources, 400, SFREQ), SFREQ)
    ours = _ideal(array, head, src, stc, chunk_duration=0.3)
    info = array.to_info(SFREQ)
    same_fwd = mne.simulation.simulate_raw(info, stc, forward=qs.make_forward(array, head, src),
                                           verbose=False).get_data()
    mne_fwd = mne.simulation.simulate_raw(info, stc, forward=_mne_sphere_forward(
        array, head, src), verbose=False).get_data()
    assert sim.rel(ours, same_fwd) <= TOL
    assert sim.rel(ours, mne_fwd) <= TOL


def test_vector_estimate_matches_apply_forward(sphere_head, sphere_points, sim):
    """A vector estimate (head-frame components) against mne.apply_forward_raw."""
    head, src = sphere_head, sphere_points
    array = qs.arrays.opm_on_scalp(head, 12, "dual")
    moments = sim.smooth_signals(3 * src.n_sources, 300, SFREQ, seed=3)
    stc = mne.VolVectorSourceEstimate(moments.reshape(src.n_sources, 3, -1),
                                      [src.to_mne()[0]["vertno"]], 0.0, 1 / SFREQ)
    ours = _ideal(array, head, src, stc)
    ref = mne.apply_forward_raw(qs.make_forward(array, head, src), stc,
                                array.to_info(SFREQ), verbose=False).get_data()
    assert sim.rel(ours, ref) <= TOL


@pytest.mark.parametrize("kind", ["neuromag306", "opm_radial"])
def test_fsaverage_bem_matches_mne(kind, bem_head, sim):
    """fsaverage, ico-3 BEM, ico-2 cortex, a fixed-orientation SourceEstimate on a few
    vertices of both hemispheres (numbered as sources.to_mne() numbers them)."""
    head = bem_head
    src = qs.sources.cortex(head, "ico2")
    array = (qs.arrays.neuromag306(head) if kind == "neuromag306"
             else qs.arrays.opm_on_scalp(head, 16, "radial"))
    vertices = [np.array([3, 40, 77]), np.array([5, 101])]
    stc = mne.SourceEstimate(sim.smooth_signals(5, 300, SFREQ, seed=1), vertices, 0.0,
                             1 / SFREQ, subject="fsaverage")
    ours = _ideal(array, head, src, stc)
    ref = mne.simulation.simulate_raw(array.to_info(SFREQ), stc,
                                      forward=qs.make_forward(array, head, src),
                                      verbose=False).get_data()
    assert sim.rel(ours, ref) <= TOL
