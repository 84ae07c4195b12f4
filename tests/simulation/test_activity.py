"""Activity presets: the estimates, events and annotations they promise."""

import mne
import numpy as np
import pytest
from scipy import signal

import qsense as qs


@pytest.fixture(scope="module")
def cortex():
    return qs.sources.cortex(qs.Head.fsaverage(conductor="sphere"), "ico2")


def test_evoked_trials_events_and_waveform(cortex):
    act = qs.activity.evoked(cortex, [10, 200], n_trials=25, soa=0.8, jitter=0.15,
                             amplitude=[20e-9, 40e-9], event_id={"left": 1, "right": 2},
                             seed=4)
    stc, events = act.stc, act.events
    assert isinstance(stc, mne.SourceEstimate) and stc.subject == "fsaverage"
    # vertices as sources.to_mne() numbers them: 10 in the left, 200 - 162 = 38 in the right
    assert [v.tolist() for v in stc.vertices] == [[10], [38]]
    assert events.shape == (25, 3) and set(events[:, 2]) <= {1, 2}
    gaps = np.diff(events[:, 0]) / 1000.0
    assert np.all((gaps >= 0.8 - 0.15 - 1e-3) & (gaps <= 0.8 + 0.15 + 1e-3))
    assert len(np.unique(np.round(gaps, 3))) > 5  # jittered
    # each response peaks 100 ms after its event at its amplitude
    for s0 in events[:, 0]:
        np.testing.assert_allclose(stc.data[:, s0 + 100], [20e-9, 40e-9], rtol=1e-6)
        assert np.argmax(stc.data[0, s0:s0 + 300]) == 100
    ann = act.annotations
    np.testing.assert_allclose(ann.onset, events[:, 0] / 1000.0)
    names = {1: "left", 2: "right"}
    assert ann.description.tolist() == [names[c] for c in events[:, 2]]
    again = qs.activity.evoked(cortex, [10, 200], n_trials=25, soa=0.8, jitter=0.15,
                               amplitude=[20e-9, 40e-9], event_id={"left": 1, "right": 2},
                               seed=4)
    np.testing.assert_array_equal(again.events, events)


def test_alpha_spectrum_and_amplitude(cortex):
    act = qs.activity.alpha(cortex, [5, 6, 170], duration=20.0, amplitude=30e-9, seed=1)
    x = act.stc.data
    np.testing.assert_allclose(np.sqrt(np.mean(x**2, axis=1)), 30e-9, rtol=1e-9)
    f, p = signal.welch(x, 1000.0, nperseg=4000)
    assert np.all(np.abs(f[np.argmax(p, axis=1)] - 10.0) <= 1.0)
    assert len(act.events) == 0 and len(act.annotations) == 0
    # independent sources
    assert np.abs(np.corrcoef(x)[0, 1:]).max() < 0.2


def test_spikes_events_at_peaks(sphere_head, sphere_points):
    act = qs.activity.spikes(sphere_points, 1, duration=30.0, rate=0.5, min_interval=1.0,
                             orientations=[0.0, 1.0, 0.0], seed=2)
    assert isinstance(act.stc, mne.VolVectorSourceEstimate)
    moment = act.stc.data[0]  # (3, n_times): along +y
    np.testing.assert_array_equal(moment[[0, 2]], 0.0)
    samples = act.events[:, 0]
    assert len(samples) >= 5 and np.all(np.diff(samples) >= 1000)
    for s in samples:
        # the spike's 200 nAm plus the rising slow wave (0.4 exp(-(100/60)^2 / 2) = 0.10)
        np.testing.assert_allclose(moment[1, s], 200e-9 * (1 + 0.4 * np.exp(-0.5 * (
            0.1 / 0.06) ** 2)), rtol=0.01)
        assert np.argmax(moment[1, s - 30:s + 30]) == 30
    # runs through simulate_raw as a vector estimate
    arr = qs.arrays.opm_on_scalp(sphere_head, 4, "radial")
    raw = qs.simulate_raw(arr, sphere_head, sphere_points, act, noise=False, sfreq=1000.0)
    assert raw.annotations.description.tolist() == ["spike"] * len(samples)


def test_bad_preset_inputs(cortex, sphere_points):
    with pytest.raises(ValueError, match="indices"):
        qs.activity.evoked(cortex, [10, 10])
    with pytest.raises(ValueError, match="indices"):
        qs.activity.evoked(cortex, [cortex.n_sources])
    with pytest.raises(ValueError, match="jitter"):
        qs.activity.evoked(cortex, 1, soa=0.5, jitter=0.5)
    with pytest.raises(ValueError, match="amplitude"):
        qs.activity.evoked(cortex, 1, amplitude=20.0)  # nAm passed as A m
    with pytest.raises(ValueError, match="event_id"):
        qs.activity.evoked(cortex, 1, event_id={"a": 0})
    with pytest.raises(ValueError, match="frequency"):
        qs.activity.alpha(cortex, 1, frequency=600.0)
    vol = qs.sources.volume(qs.Head.sphere(), spacing=0.04)
    with pytest.raises(ValueError, match="orientations"):
        qs.activity.alpha(vol, 1)
