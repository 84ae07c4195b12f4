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
    # the noise left after averaging: per-sample sensor noise over sqrt(n_trials)
    sigma = opm8.noise[0] * np.sqrt(sfreq / 2) / np.sqrt(n_trials)
    resid = evoked - truth
    rms = np.sqrt(np.mean(resid**2))
    assert 0.8 * sigma < rms < 1.5 * sigma  # the noise left (a little more with 1/f)
    assert np.abs(truth).max() > 10 * sigma  # the response stands well above it
    # the least-squares scale of the truth in the average is 1 within its noise
    beta = np.sum(evoked * truth) / np.sum(truth**2)
    assert abs(beta - 1) < 4 * rms / np.sqrt(np.sum(truth**2))
