"""Sensor physics against closed forms: small signals through an OPM are the first-order
low-pass of the ideal signal (f_3dB = the preset's bandwidth); NV sensors follow the
linear frequency-tracking loop at their preset bandwidth; SQUIDs are ideal; the ADC
clips and quantises."""

import numpy as np
import pytest
from scipy import signal

import qsense as qs
from qsense.simulation import ADC, digitise


def _lowpass(x, sfreq, f3db):
    """Continuous first-order low-pass of the linearly interpolated samples, settled at
    the first sample (scipy.signal.lsim, linear interpolation between samples)."""
    a = 2 * np.pi * f3db
    sys = signal.StateSpace([[-a]], [[a]], [[1.0]], [[0.0]])
    t = np.arange(x.shape[-1]) / sfreq
    return np.array([signal.lsim(sys, row, t, X0=[row[0]])[1] for row in x])


def test_opm_small_signal_is_first_order_lowpass(sphere_head, sphere_points, opm8, sim):
    sfreq = 1000.0
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 1500, sfreq, seed=2), sfreq)
    kw = dict(noise=False, chunk_duration=0.4)
    ideal = qs.simulate_raw(opm8, sphere_head, sphere_points, stc, sensor_physics=False,
                            **kw).get_data()
    real = qs.simulate_raw(opm8, sphere_head, sphere_points, stc, **kw).get_data()
    bandwidth = opm8.channel_presets[0].bandwidth
    assert bandwidth == 135.0
    ref = _lowpass(ideal, sfreq, bandwidth)
    peak = np.abs(ideal).max()
    assert 1e-14 < peak < 1e-11  # small against the 25 nT resonance half-width
    assert np.abs(real - ref).max() <= 1e-3 * peak
    # and not trivially: the low-pass is visible at this level
    assert np.abs(ideal - ref).max() > 1e-2 * peak


def test_opm_dual_axis_reads_both_components(sphere_head, sphere_points, sim):
    """A dual-axis array: each channel is the low-pass of its own ideal reading (the cell
    field along each read axis is averaged over that channel's own integration points)."""
    sfreq = 1000.0
    array = qs.arrays.opm_on_scalp(sphere_head, 6, "dual")
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 800, sfreq, seed=4), sfreq)
    ideal = qs.simulate_raw(array, sphere_head, sphere_points, stc, sensor_physics=False,
                            noise=False).get_data()
    real = qs.simulate_raw(array, sphere_head, sphere_points, stc, noise=False).get_data()
    ref = _lowpass(ideal, sfreq, 135.0)
    assert np.abs(real - ref).max() <= 1e-3 * np.abs(ideal).max()


def _tracking_loop(x, sfreq, bandwidth, n_sub=8):
    """The linear frequency-tracking loop: integral steps f <- f - g (f - x) with
    g = 1 - exp(-2 pi bandwidth / (sfreq n_sub)), n_sub per sample on x interpolated
    linearly between samples, locked at the first sample; the value after each sample."""
    g = 1 - np.exp(-2 * np.pi * bandwidth / (sfreq * n_sub))
    u = np.arange(1, n_sub + 1) / n_sub
    out = []
    for row in x:
        fine = np.concatenate([row[:1], (row[:-1, None] + u * np.diff(row)[:, None]).ravel()])
        y = signal.lfilter([g], [1, g - 1], fine, zi=[(1 - g) * row[0]])[0]
        out.append(y[::n_sub])
    return np.array(out)


def test_nv_tracking_readout_and_squid_ideal(sphere_head, sphere_points, sim):
    """NV: the frequency-locked lock-in readout equals, for fT-pT fields (far inside the
    MHz ODMR linewidth), the linear tracking loop with its bandwidth at the preset's
    (closed form above, to 1e-6 of the peak: the lock-in's nonlinearity is (shift /
    linewidth)^2), which is near the continuous first-order low-pass (within 2 % of the
    peak at 4 kHz sampling). SQUIDs: ideal."""
    sfreq = 4000.0
    head, src = sphere_head, sphere_points
    pos, normal = qs.arrays.scalp_lattice(head, 5, 0.002)
    nv = qs.nv.nv_sensors(pos, normal, sensor="nv_bulk")
    stc = sim.point_stc(src, sim.smooth_signals(3, 1200, sfreq, seed=5), sfreq)
    ideal = qs.simulate_raw(nv, head, src, stc, sensor_physics=False, noise=False).get_data()
    real = qs.simulate_raw(nv, head, src, stc, noise=False, chunk_duration=0.1).get_data()
    bandwidth = nv.channel_presets[0].bandwidth
    peak = np.abs(ideal).max()
    assert np.abs(real - _tracking_loop(ideal, sfreq, bandwidth)).max() <= 1e-6 * peak
    assert np.abs(real - _lowpass(ideal, sfreq, bandwidth)).max() <= 2e-2 * peak
    squid = qs.arrays.neuromag306(head).pick(np.arange(0, 306, 9))
    a = qs.simulate_raw(squid, head, src, stc, sensor_physics=False, noise=False).get_data()
    b = qs.simulate_raw(squid, head, src, stc, noise=False).get_data()
    np.testing.assert_array_equal(a, b)


def test_nv_tracking_follows_a_remnant_field_and_loses_lock_on_a_jump(sphere_head):
    """A 50 uT static field shifts the resonance by 1.4 MHz, more than the 0.8 MHz
    linewidth: the locked loop reads it (it starts locked); a jump of 100 uT between two
    samples (350 kHz per controller step) is followed, one of 1 mT (3.5 MHz per step,
    beyond the lock-in's capture range) is not."""
    from forward_models.nv import tracked_readout

    per_tesla = 28.03e9
    x = np.full((1, 400), 50e-6 * per_tesla)
    y = np.asarray(tracked_readout(x, 2000.0, 0.02, 0.8e6, 0.4e6, 1000.0))
    assert np.abs(y / per_tesla - 50e-6).max() < 1e-15
    for jump, follows in ((100e-6, True), (1e-3, False)):
        z = x.copy()
        z[0, 200:] += jump * per_tesla
        y = np.asarray(tracked_readout(z, 2000.0, 0.02, 0.8e6, 0.4e6, 1000.0))
        error = abs(y[0, -1] / per_tesla - (50e-6 + jump))
        assert (error < 1e-12) if follows else (error > 0.5 * jump)


def test_stages_compose(sphere_head, sphere_points, opm8, sim):
    """The public stages, called one by one, give simulate_raw's recording."""
    sfreq = 1000.0
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 700, sfreq, seed=6), sfreq)
    adc = ADC(range=5e-12, bits=16)
    raw = qs.simulate_raw(opm8, sphere_head, sphere_points, stc, seed=3, adc=adc,
                          chunk_duration=10.0).get_data()
    field = qs.simulation.true_field(opm8, sphere_head, sphere_points, stc)
    assert field["cell_field"].shape == (8, 3, 700)
    resp = qs.simulation.sensor_response(opm8, field)
    noise = qs.simulation.sensor_noise(opm8, sfreq, 700, seed=3)
    np.testing.assert_allclose(digitise(resp.values + noise, adc), raw, rtol=0,
                               atol=1e-12 * np.abs(raw).max())


def test_adc_clips_and_quantises():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2e-9, 2e-9, (3, 1000))
    y = digitise(x, (1e-9, 8))
    step = 2e-9 / 256
    codes = y / step
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-9)
    assert codes.min() == -128 and codes.max() == 127
    inside = np.abs(x) < 1e-9 - step
    assert np.abs(y - x)[inside].max() <= step / 2 * (1 + 1e-12)
    np.testing.assert_array_equal(y[x >= 1e-9], 127 * step)
    with pytest.raises(ValueError, match="range"):
        ADC(range=1.0, bits=12)
    with pytest.raises(ValueError, match="bits"):
        ADC(range=1e-9, bits=1)
