"""MNE's pipeline on a simulated evoked recording: epoching on the events and averaging
recovers the evoked field of the true sources within the noise."""

import mne
import numpy as np
from scipy import signal

import qsense as qs


def test_epoch_average_recovers_true_evoked_field(sphere_head, sphere_points, opm8):
    head, src = sphere_head, sphere_points
    sfreq, n_trials = 500.0, 60
    act = qs.activity.evoked(src, [0, 2], n_trials=n_trials, sfreq=sfreq, soa=0.6,
                             jitter=0.1, amplitude=20e-9, seed=3)
    raw = qs.simulate_raw(opm8, head, src, act, seed=1)
    events, event_id = mne.events_from_annotations(raw, verbose=False)
    np.testing.assert_array_equal(events[:, 0], act.events[:, 0])
    epochs = mne.Epochs(raw, events, event_id, tmin=-0.1, tmax=0.35, baseline=None,
                        preload=True, verbose=False)
    assert len(epochs) == n_trials
    evoked = epochs.average().get_data()
    # the truth: the lead field of the true sources (along their normals) times the
    # N100m waveform, through the OPM's first-order low-pass (135 Hz), independently
    lf = qs.leadfield(opm8, head, src).values[:, [0, 2]]  # (channel, source, xyz)
    gain = np.einsum("csk,sk->cs", lf, src.normals[[0, 2]])
    t = np.arange(-0.4, 0.35 + 1e-9, 1 / sfreq)
    wave = qs.activity.n100m(t, 20e-9)
    a = 2 * np.pi * 135.0
    lp = signal.lsim(signal.StateSpace([[-a]], [[a]], [[1.0]], [[0.0]]), wave, t - t[0])[1]
    truth = gain.sum(axis=1)[:, None] * lp[None, t >= -0.1 - 1e-9]
    # what the sensor noise alone leaves in such an average: 20 independent noise
    # realisations (seeds of another run), epoched and averaged the same way
    starts = events[:, 0] + int(round(-0.1 * sfreq))
    n = evoked.shape[1]
    left = []
    for seed in range(100, 120):
        noise = qs.simulation.sensor_noise(opm8, sfreq, raw.n_times, seed=seed)
        left.append(np.mean([noise[:, s0:s0 + n] for s0 in starts], axis=0))
    left = np.array(left)
    scale = np.sum(truth**2)
    betas = np.einsum("kct,ct->k", left, truth) / scale  # noise on the scale of the truth
    resid = evoked - truth
    rms, rms_noise = np.sqrt(np.mean(resid**2)), np.sqrt(np.mean(left**2))
    assert 0.75 * rms_noise < rms < 1.33 * rms_noise  # the residual is the noise's size
    assert np.abs(truth).max() > 10 * rms_noise  # and the response stands well above it
    beta = np.sum(evoked * truth) / scale  # least-squares scale of the truth in the average
    print(f"rms {rms / rms_noise:.3f} of the noise, peak {np.abs(truth).max() / rms_noise:.1f}, "
          f"beta {beta:.4f} +- {np.sqrt(np.mean(betas**2)):.4f}")
    assert abs(beta - 1) < 4 * np.sqrt(np.mean(betas**2))
