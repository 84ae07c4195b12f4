"""Total information (Kemppainen and Ilmoniemi 1989): closed forms and the invariances
that define it."""

import numpy as np
import pytest

import qsense as qs
from inverse import information_bits, total_information


def test_single_channel_single_source_closed_form():
    bits, eig = information_bits([[2e-7]], [1e-30], 1e-16)  # 2 fT signal, 1 fT noise
    snr = (2e-7 * 1e-8) ** 2 / 1e-30
    assert snr == pytest.approx(4.0)
    assert bits == pytest.approx(0.5 * np.log2(1 + snr), rel=1e-14)
    np.testing.assert_allclose(eig, [snr], rtol=1e-14)


def test_orthogonal_channels_add_their_information():
    """Independent channels that each see only their own source: the bits add up."""
    gains = np.array([1e-7, 3e-7, 0.5e-7])
    noise = np.array([1e-30, 4e-30, 1e-32])
    bits, _ = information_bits(np.diag(gains), noise, 1e-16)
    each = [information_bits([[g]], [n], 1e-16)[0] for g, n in zip(gains, noise, strict=True)]
    assert bits == pytest.approx(sum(each), rel=1e-13)


def test_invariant_under_invertible_channel_mixing():
    rng = np.random.default_rng(5)
    gain = rng.standard_normal((12, 40)) * 1e-7
    noise = rng.uniform(0.5, 2.0, 12) * 1e-30
    mix = rng.standard_normal((12, 12)) + 4 * np.eye(12)
    bits, _ = information_bits(gain, noise, 1e-16)
    assert 5 < bits < 100  # neither vanishing nor saturated
    mixed, _ = information_bits(mix @ gain, mix @ np.diag(noise) @ mix.T, 1e-16)
    assert mixed == pytest.approx(bits, rel=1e-10)


def test_adding_a_channel_never_loses_information():
    rng = np.random.default_rng(6)
    gain = rng.standard_normal((20, 60)) * 1e-7
    noise = np.full(20, 1e-30)
    bits = [information_bits(gain[:k], noise[:k], 1e-16)[0] for k in range(1, 21)]
    assert np.all(np.diff(bits) > 0)


def test_on_scalp_opms_carry_more_information_than_squid_magnetometers(fsaverage_sphere):
    """At equal noise, 102 radial OPMs on the scalp carry more information about the
    cortex than the 102 magnetometers of a helmet 20 mm off (Iivanainen et al. 2017 find
    the same ordering)."""
    head = fsaverage_sphere
    src = qs.sources.cortex(head, "ico3")
    opm = qs.arrays.opm_on_scalp(head, 102, "radial")
    squid = qs.arrays.neuromag306(head)
    mags = squid.pick(~squid.is_gradiometer)
    kw = dict(source_std=1e-9, noise_std=5e-15, orientation="normal")
    i_opm = total_information(opm, head, src, **kw)
    i_squid = total_information(mags, head, src, **kw)
    assert float(i_opm["information"]) > float(i_squid["information"])
    assert i_opm["information"].attrs["units"] == "bit"
    # bandwidth form equals the explicit form with the array's own floors
    a = total_information(opm, head, src, source_std=1e-9, bandwidth=4.0)
    b = total_information(opm, head, src, source_std=1e-9, noise_std=opm.noise * 2.0)
    assert float(a["information"]) == pytest.approx(float(b["information"]), rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(source_std=10.0), "nAm"),
    (dict(source_std=-1e-9), "source_std"),
    (dict(orientation="radial"), "orientation"),
    (dict(bandwidth=1.0, noise_std=1e-14), "exactly one"),
    (dict(noise_std=np.nan), "noise_std"),
])
def test_bad_input(sphere_head, kwargs, match):
    array = qs.arrays.opm_on_scalp(sphere_head, 8)
    args = dict(source_std=1e-9, noise_std=1e-14)
    args.update(kwargs)
    if "bandwidth" in kwargs and "noise_std" not in kwargs:
        args.pop("noise_std")
    with pytest.raises(ValueError, match=match):
        total_information(array, sphere_head, [[0, 0, 0.08]], **args)


def test_normal_orientation_needs_normals(sphere_head):
    array = qs.arrays.opm_on_scalp(sphere_head, 8)
    with pytest.raises(ValueError, match="normals"):
        total_information(array, sphere_head, [[0, 0, 0.08]], source_std=1e-9,
                          noise_std=1e-14, orientation="normal")


@pytest.mark.parametrize("noise_cov, match", [
    (np.ones(3), "shape"),
    (np.array([1.0, -1.0]), "noise_cov"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
])
def test_information_bits_rejects_bad_covariance(noise_cov, match):
    with pytest.raises(ValueError, match=match):
        information_bits(np.ones((2, 2)), noise_cov, 1.0)
