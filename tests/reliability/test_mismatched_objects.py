"""Objects that do not belong together are refused, with a message that says what
differs.

A forward solution and an inverse operator must share channels (names, order, coil
types and positions) and sources; the noise of OPM sensors is seeded per sensor id, so
ids must be distinct; noise, source variances and moments must match the channels and
sources they go with; a source space belongs to the head it was built for.
"""

import copy

import mne
import numpy as np
import pytest

import qsense as qs
from inverse import (
    dipole_localisation_bound,
    information_bits,
    peak_localisation_error,
    point_spread_peaks,
    total_information,
)
from qsense import opm as qo

N_OPM = 16


@pytest.fixture(scope="module")
def head():
    return qs.Head.fsaverage(conductor="sphere")


@pytest.fixture(scope="module")
def src(head):
    return qs.sources.cortex(head, "ico2")


@pytest.fixture(scope="module")
def array(head):
    return qs.arrays.opm_on_scalp(head, N_OPM)


def _inverse(info, fwd, **kw):
    cov = mne.make_ad_hoc_cov(info, verbose=False)
    return mne.minimum_norm.make_inverse_operator(info, fwd, cov, verbose=False, **kw)


@pytest.fixture(scope="module")
def pair(array, head, src):
    fwd = qs.make_forward(array, head, src)
    return fwd, _inverse(array.to_info(), fwd)


def _refused(fwd, inv, match):
    """Both public entry points refuse the pair; the message names fwd and inv."""
    for func in (peak_localisation_error, point_spread_peaks):
        with pytest.raises(ValueError, match=match) as err:
            func(fwd, inv, sources=[0, 1])
        assert "fwd" in str(err.value) and "inv" in str(err.value), str(err.value)


# --------------------------------------------------------------- forward and inverse
def test_matching_pair_accepted(pair):
    fwd, inv = pair
    ple = peak_localisation_error(fwd, inv, sources=[0, 5])
    assert ple.sizes["source"] == 2


def test_other_channel_names(pair, head, src):
    """An inverse of a larger array (channels the forward lacks)."""
    fwd, _ = pair
    big = qs.arrays.opm_on_scalp(head, N_OPM + 8)
    inv = _inverse(big.to_info(), qs.make_forward(big, head, src))
    _refused(fwd, inv, r"inv was made for other channels than fwd.*OPM01[7-9]")


def test_same_names_other_positions(pair, array, head, src):
    """Two arrays with the same channel names but sensors further from the scalp."""
    fwd, _ = pair
    far = qs.arrays.opm_on_scalp(head, N_OPM, standoff=0.012)
    assert far.names == array.names
    inv = _inverse(far.to_info(), qs.make_forward(far, head, src))
    _refused(fwd, inv, r"fwd and inv place channel 'OPM0\d\d' differently.*mm in position")


def test_same_loc_other_dev_head_t(pair, array, head, src):
    """Same device-frame loc, another device -> head transform: the head-frame
    positions differ, which is what the lead field depends on."""
    fwd, _ = pair
    t = np.eye(4)
    t[2, 3] = 0.003
    moved = array.replace(dev_head_t=t)
    inv = _inverse(moved.to_info(), qs.make_forward(moved, head, src))
    _refused(fwd, inv, r"fwd and inv place channel .* differently \(16 of 16 .* 3 mm")


def test_other_coil_types(pair, head, src):
    fwd, _ = pair
    point = qs.arrays.opm_on_scalp(head, N_OPM, sensor="point", standoff=0.0065)
    inv = _inverse(point.to_info(), qs.make_forward(point, head, src))
    _refused(fwd, inv, r"fwd and inv have different coil types for channel 'OPM001' "
                       r"\(8001 and 2000\)")


def test_other_channel_order(pair, array):
    fwd, _ = pair
    info = array.to_info()
    order = [1, 0] + list(range(2, N_OPM))
    inv = _inverse(mne.pick_info(info, order), fwd)
    assert inv["eigen_fields"]["col_names"][:2] == ["OPM002", "OPM001"]
    _refused(fwd, inv, r"inv lists its channels in another order than fwd: 'OPM002' comes "
                       r"before 'OPM001'")


def test_other_source_space(pair, array, head):
    fwd, _ = pair
    inv = _inverse(array.to_info(), qs.make_forward(array, head,
                                                    qs.sources.cortex(head, "ico3")))
    _refused(fwd, inv, r"inv has 1284 sources and fwd 324")


def test_same_vertices_other_positions(pair):
    """Same vertex numbers, sources 2 mm elsewhere (another subject's surfaces)."""
    fwd, inv = pair
    other = copy.deepcopy(inv)
    other["src"][1]["rr"] = other["src"][1]["rr"] + [0.0, 0.0, 0.002]
    _refused(fwd, other, r"inv has its sources elsewhere than fwd \(162 of 324 differ; "
                         r"source \d+ by 2 mm")


def test_inverse_without_bad_channels_accepted(pair, array):
    """Channels MNE dropped as bad (info or covariance) are not a mismatch; the result
    is MNE's resolution-matrix peak error for that inverse."""
    fwd, _ = pair
    info = array.to_info()
    info["bads"] = ["OPM003"]
    cov = mne.make_ad_hoc_cov(info, verbose=False)
    cov["bads"] = ["OPM007"]
    inv = mne.minimum_norm.make_inverse_operator(info, fwd, cov, verbose=False)
    assert len(inv["eigen_fields"]["col_names"]) == N_OPM - 2
    ple = peak_localisation_error(fwd, inv, method="sLORETA")
    fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                         use_cps=True, verbose=False)
    resmat = mne.minimum_norm.make_inverse_resolution_matrix(fixed, inv, method="sLORETA",
                                                             lambda2=1 / 9, verbose=False)
    ref = mne.minimum_norm.resolution_metrics(resmat, inv["src"], function="psf",
                                              metric="peak_err", verbose=False).data[:, 0]
    np.testing.assert_allclose(ple.values, ref / 100, rtol=0, atol=1e-12)


def test_forward_read_back_from_fif_accepted(pair, tmp_path):
    """FIF stores positions in single precision: still the same pair."""
    fwd, inv = pair
    fname = tmp_path / "x-fwd.fif"
    mne.write_forward_solution(fname, fwd)
    back = mne.read_forward_solution(fname, verbose=False)
    np.testing.assert_array_equal(point_spread_peaks(back, inv, [0, 3])[0],
                                  point_spread_peaks(fwd, inv, [0, 3])[0])


def test_fixed_orientation_forward_accepted(pair):
    """A fixed (surface-normal) version of the same forward is the same pair: the
    dipoles are along the normals anyway."""
    fwd, inv = pair
    fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                         use_cps=True, verbose=False)
    np.testing.assert_array_equal(peak_localisation_error(fixed, inv).values,
                                  peak_localisation_error(fwd, inv).values)


# ------------------------------------------------------------- OPM sensor noise seeds
FS = 1000.0


def _frames(n):
    return np.tile(np.eye(3), (n, 1, 1))


@pytest.mark.parametrize("ids", [[4, 4, 5], [0, 1, 1]])
def test_duplicate_sensor_ids_refused(ids):
    with pytest.raises(ValueError, match=r"sensor_ids must not repeat a value; repeated"):
        qo.opm_response(np.zeros((3, 3, 20)), FS, _frames(3), noise=True, seed=0,
                        sensor_ids=ids)


def test_duplicate_sensor_ids_refused_without_noise():
    """The ids are checked whenever given, not only when they seed noise."""
    with pytest.raises(ValueError, match=r"sensor_ids"):
        qo.opm_response(np.zeros((2, 3, 20)), FS, _frames(2), sensor_ids=[1, 1])


def test_duplicate_sensor_ids_refused_for_an_array(array):
    with pytest.raises(ValueError, match=r"sensor_ids must not repeat"):
        qo.simulate_array_recording(array, np.zeros((N_OPM, 3, 20)), FS, noise=True,
                                    seed=0, sensor_ids=np.zeros(N_OPM, int))


def test_distinct_sensor_ids_give_distinct_noise():
    ds = qo.opm_response(np.zeros((2, 3, 200)), FS, _frames(2), noise=True, seed=0,
                         sensor_ids=[7, 8])
    a, b = ds["reading"].values
    assert np.std(a) > 0 and abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.3


def test_field_of_another_sensor_count_refused(array):
    with pytest.raises(ValueError, match=rf"field must hold one row per physical sensor of "
                                         rf"the array \({N_OPM}"):
        qo.simulate_array_recording(array, np.zeros((N_OPM - 1, 3, 20)), FS)


# ------------------------------------------------ inputs that must match each other
def test_noise_std_of_another_array(array, head, src):
    with pytest.raises(ValueError, match=rf"noise_std must be one value or one per "
                                         rf"channel, shape \({N_OPM},\)"):
        total_information(array, head, src, source_std=1e-9, noise_std=np.full(5, 1e-14))
    with pytest.raises(ValueError, match="noise_std"):
        dipole_localisation_bound(array, head, src.positions[:2], [1e-8, 0, 0],
                                  noise_std=np.full(N_OPM + 1, 1e-14))


def test_moments_for_other_positions(array, head, src):
    with pytest.raises(ValueError, match=r"moments must have shape \(3,\) or \(2, 3\)"):
        dipole_localisation_bound(array, head, src.positions[:2], np.full((3, 3), 1e-8),
                                  bandwidth=1.0)


def test_information_bits_shapes():
    gain = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"noise_cov must have shape \(4,\) or \(4, 4\)"):
        information_bits(gain, np.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"source_var must be one value or one per source, "
                                         r"shape \(3,\)"):
        information_bits(gain, np.ones(4), np.ones(4))


def test_sources_of_another_head(array, head, src):
    """Sources built for one head, used with another (other subject or frame)."""
    sphere = qs.Head.sphere()
    vol = qs.sources.volume(sphere, 0.02)
    with pytest.raises(ValueError, match=r"sources was built for another head"):
        qs.leadfield(array, head, vol)
    with pytest.raises(ValueError, match=r"sources was built for another head"):
        total_information(array, head, vol, source_std=1e-9, bandwidth=1.0)
    opm = qs.arrays.opm_on_scalp(sphere, 8)
    with pytest.raises(ValueError, match=r"sources was built for another head"):
        qs.make_forward(opm, sphere, src)
    with pytest.raises(ValueError, match=r"src was built for another head"):
        qs.sources.superficial_tangential(src, sphere)
    with pytest.raises(ValueError, match=r"positions was built for another head"):
        dipole_localisation_bound(opm, sphere, src, [1e-8, 0, 0], bandwidth=1.0)


def test_sources_of_the_same_subject_other_conductor_accepted(array, head, src):
    """The cortex of the BEM head used with the sphere head of the same subject (the
    study does this for the Cramer-Rao bound) is the same head geometry."""
    bem_src = qs.sources.cortex(qs.Head.fsaverage(conductor="sphere"), "ico2")
    np.testing.assert_array_equal(bem_src.positions, src.positions)
    assert qs.leadfield(array, head, bem_src).sizes["source"] == len(src)
