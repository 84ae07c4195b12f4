"""Seeds and sensor noise: the same seed gives bit-identical draws for any chunking and
recordings that agree to 1e-12; paired arrays see the same sources and independent noise;
the noise spectrum is the preset's white + 1/f."""

import numpy as np
import pytest
from scipy import signal

import qsense as qs
from qsense.simulation.noise import BLOCK


@pytest.mark.parametrize("chunk", [3.7, 10.0])
def test_noise_bit_identical_whatever_the_chunking(chunk, opm8):
    sfreq = 2000.0
    duration = 12.0  # 24000 samples: two noise blocks of 16384
    assert duration * sfreq > BLOCK
    kw = dict(duration=duration, sfreq=sfreq, sensor_physics=False, seed=11)
    one = qs.simulate_raw(opm8, qs.Head.sphere(), _dummy_src(), None, chunk_duration=1.0,
                          **kw).get_data()
    other = qs.simulate_raw(opm8, qs.Head.sphere(), _dummy_src(), None, chunk_duration=chunk,
                            **kw).get_data()
    np.testing.assert_array_equal(one, other)
    direct = qs.simulation.sensor_noise(opm8, sfreq, 5000, seed=11, start=15000)
    np.testing.assert_array_equal(direct, one[:, 15000:20000])


def _dummy_src():
    return qs.sources.points([[0.0, 0.0, 0.08]], qs.Head.sphere(), normals=[[1.0, 0, 0]])


def test_recording_agrees_whatever_the_chunking(sphere_head, sphere_points, opm8, sim):
    """Sources + Bloch-model OPMs + noise: chunks of 1, 3.7 and 10 s agree to 1e-12."""
    sfreq = 500.0
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 6000, sfreq, seed=7), sfreq)
    runs = [qs.simulate_raw(opm8, sphere_head, sphere_points, stc, seed=5, chunk_duration=c
                            ).get_data() for c in (1.0, 3.7, 10.0)]
    for other in runs[1:]:
        assert np.abs(other - runs[0]).max() <= 1e-12 * np.abs(runs[0]).max()


def test_paired_arrays_same_sources_independent_noise(sphere_head, sphere_points, sim):
    """Two arrays with the same channel names, same stc and seed: same truth, the same
    source part as each array alone, uncorrelated sensor noise."""
    head, src = sphere_head, sphere_points
    radial = qs.arrays.opm_on_scalp(head, 8, "radial")
    tangential = qs.arrays.opm_on_scalp(head, 8, "tangential")
    assert radial.names == tangential.names
    sfreq, n = 500.0, 10000
    stc = sim.point_stc(src, sim.smooth_signals(3, n, sfreq, seed=8), sfreq)
    parts = []
    for array in (radial, tangential):
        raw, truth = qs.simulate_raw(array, head, src, stc, seed=2, return_truth=True)
        clean = qs.simulate_raw(array, head, src, stc, noise=False).get_data()
        noise = raw.get_data() - clean
        np.testing.assert_allclose(noise, qs.simulation.sensor_noise(array, sfreq, n, seed=2),
                                   rtol=0, atol=1e-9 * np.abs(noise).max())
        parts.append((truth, noise))
    (t1, n1), (t2, n2) = parts
    np.testing.assert_array_equal(t1["amplitude"].values, t2["amplitude"].values)
    np.testing.assert_array_equal(t1["position"].values, t2["position"].values)
    # white-ish parts (first differences) of every channel pair: |r| within 4.5 sigma
    d1, d2 = np.diff(n1, axis=1), np.diff(n2, axis=1)
    r = np.corrcoef(d1, d2)[:8, 8:]
    assert np.abs(r).max() < 4.5 / np.sqrt(d1.shape[1])
    # and within one array, the same sensors' noise is not a copy of the other's
    assert np.abs(np.corrcoef(d1)[np.triu_indices(8, 1)]).max() < 4.5 / np.sqrt(d1.shape[1])


def _band_asd(x, sfreq, edges):
    f, p = signal.welch(x, sfreq, nperseg=int(8 * sfreq), axis=-1)
    p = p.mean(axis=0)  # averaged over channels
    bands = zip(edges[:-1], edges[1:], strict=True)
    return np.array([np.sqrt(p[(f >= a) & (f < b)].mean()) for a, b in bands])


@pytest.mark.parametrize("kind", ["opm", "squid_mag", "squid_grad"])
def test_noise_spectrum_matches_preset(kind, sphere_head):
    head = sphere_head
    if kind == "opm":
        array = qs.arrays.opm_on_scalp(head, 8, "radial")
    else:
        nm = qs.arrays.neuromag306(head)
        array = nm.pick(np.flatnonzero(nm.is_planar_gradiometer == (kind == "squid_grad"))[:8])
    sfreq = 500.0
    data = qs.simulation.sensor_noise(array, sfreq, int(120 * sfreq), seed=4)
    edges = np.geomspace(1.0, 100.0, 11)
    got = _band_asd(data, sfreq, edges)
    preset = array.channel_presets[0]
    f = np.geomspace(1.0, 100.0, 2001)
    want = np.array([np.sqrt(np.mean(preset.noise_asd(f[(f >= a) & (f < b)]) ** 2))
                     for a, b in zip(edges[:-1], edges[1:], strict=True)])
    assert preset.corner_frequency > 0  # the 1/f part is exercised
    np.testing.assert_allclose(got, want, rtol=0.15)
