"""Activity presets: source time courses with their events, for :func:`qsense.simulate_raw`.

Each preset returns an :class:`Activity`: an MNE source estimate on chosen sources of a
:class:`qsense.sources.SourceSpace` (vertices numbered as ``sources.to_mne()`` numbers
them, dipole moments in A m), the events (MNE's ``(sample, 0, code)`` array), the event
codes by name and the same events as ``mne.Annotations``. Pass it as ``stc`` to
:func:`qsense.simulate_raw`, which keeps the annotations and writes the events into the
ground truth.

* :func:`evoked`: N100m-like responses, repeated trials with jittered intervals;
* :func:`alpha`: ongoing alpha oscillations (narrow-band noise around 10 Hz);
* :func:`spikes`: interictal-like spikes followed by a slow wave.

Figures: evoked cortical responses are 10-50 nAm and the auditory N100m peaks about
100 ms after the stimulus (Hamalainen, Hari, Ilmoniemi, Knuutila & Lounasmaa 1993, Rev.
Mod. Phys. 65:413, section on evoked responses). The Gaussian shape of the N100m here is
an idealisation of its single dominant deflection, not a fit to data. Spike durations
follow the IFCN definition of an EEG spike, 20 to under 70 ms (Chatrian et al. 1974,
Electroencephalogr. Clin. Neurophysiol. 37:538). The alpha and spike amplitudes are
assumptions (override them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_int, check_number, validate_type
from .sources import SourceSpace

__all__ = ["Activity", "n100m", "evoked", "alpha", "spikes", "padded"]


class Activity(NamedTuple):
    """Source activity with its events.

    Attributes
    ----------
    stc : mne.SourceEstimate, VolSourceEstimate or their vector forms
        Dipole moments, A m.
    events : ndarray of int, shape (n_events, 3)
        MNE events: sample (from the first sample of ``stc``), 0, code.
    event_id : dict
        Event name -> code.
    annotations : mne.Annotations
        The events as annotations (onset in s, zero duration, the event's name).
    """

    stc: object
    events: np.ndarray
    event_id: dict
    annotations: object


def n100m(t, amplitude=20e-9, latency=0.1, width=0.02):
    """An N100m-like response: a Gaussian peak.

    Parameters
    ----------
    t : array_like
        Time after the stimulus, s.
    amplitude : float
        Peak dipole moment, A m (default 20 nAm; evoked responses are 10-50 nAm,
        Hamalainen et al. 1993).
    latency : float
        Peak latency, s (default 100 ms, the auditory N100m).
    width : float
        Standard deviation of the peak, s (default 20 ms: an assumption giving a
        full width at half maximum of 47 ms).

    Returns
    -------
    ndarray, like ``t``
        A m.
    """
    t = np.asarray(t, dtype=float)
    return amplitude * np.exp(-0.5 * ((t - latency) / width) ** 2)


# ------------------------------------------------------------------------ helpers
def _check_indices(sources, indices) -> np.ndarray:
    validate_type(sources, SourceSpace, "sources", "qsense SourceSpace")
    idx = np.atleast_1d(np.asarray(indices))
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(f"indices must be a non-empty 1-D sequence of source indices, "
                         f"got {indices!r}")
    if np.any((idx < 0) | (idx >= sources.n_sources)) or len(np.unique(idx)) != len(idx):
        raise ValueError(f"indices must be distinct source indices in [0, "
                         f"{sources.n_sources}), got {idx.tolist()}")
    return idx.astype(int)


def _per_source(name, value, n, **limits) -> np.ndarray:
    v = np.broadcast_to(np.asarray(value, dtype=float), (n,))
    for x in v:
        check_number(name, float(x), **limits)
    return v.copy()


def _estimate(sources, idx, data, sfreq, orientations):
    """The MNE estimate of ``data`` (n, n_times) on sources ``idx`` (scalar along the
    normals, or vector along ``orientations``), vertices sorted as MNE wants them."""
    import mne

    order = np.argsort(idx)
    idx, data = idx[order], data[order]
    spaces = sources.to_mne()
    offsets = np.concatenate([[0], np.cumsum([len(s["vertno"]) for s in spaces])])
    vertices = [np.asarray(s["vertno"])[idx[(idx >= a) & (idx < b)] - a]
                for s, a, b in zip(spaces, offsets[:-1], offsets[1:], strict=True)]
    surface = len(spaces) == 2
    kw = dict(tmin=0.0, tstep=1.0 / sfreq, subject=sources.subject)
    if orientations is None:
        if sources.normals is None:
            raise ValueError(f"the {sources.kind} source space has no normals: pass "
                             "orientations (n, 3) for a vector estimate")
        cls = mne.SourceEstimate if surface else mne.VolSourceEstimate
        return cls(data, vertices, **kw)
    ori = np.asarray(orientations, dtype=float)
    ori = np.broadcast_to(ori, (len(idx), 3)) if ori.ndim == 1 else ori
    if ori.shape != (len(idx), 3) or not np.all(np.isfinite(ori)):
        raise ValueError(f"orientations must be finite with shape ({len(idx)}, 3) or (3,), "
                         f"got {np.shape(orientations)}")
    norm = np.linalg.norm(ori, axis=1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("orientations must be non-zero vectors")
    ori = (ori / norm)[order]
    cls = mne.VectorSourceEstimate if surface else mne.VolVectorSourceEstimate
    return cls(data[:, None, :] * ori[:, :, None], vertices, **kw)


def _activity(stc, onsets, codes, event_id, sfreq):
    import mne

    samples = np.round(np.asarray(onsets) * sfreq).astype(int)
    events = np.column_stack([samples, np.zeros_like(samples), np.asarray(codes, int)])
    names = {v: k for k, v in event_id.items()}
    annot = mne.Annotations(samples / sfreq, np.zeros(len(samples)),
                            [names[c] for c in events[:, 2]])
    return Activity(stc, events.reshape(-1, 3), dict(event_id), annot)


def _timing(sfreq, duration):
    """Checked (sfreq Hz, duration s, number of samples >= 2)."""
    sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
    duration = check_number("duration", duration, low=0, low_open=True, unit="s")
    n_times = int(round(duration * sfreq))
    if n_times < 2:
        raise ValueError(f"duration={duration} s gives fewer than 2 samples at {sfreq} Hz")
    return sfreq, duration, n_times


def _check_event_id(event_id, default):
    event_id = dict(default if event_id is None else event_id)
    if not event_id or not all(isinstance(k, str) and isinstance(v, int | np.integer) and v > 0
                               for k, v in event_id.items()):
        raise ValueError(f"event_id must map names (str) to codes (int > 0), got {event_id!r}")
    return {k: int(v) for k, v in event_id.items()}


# ------------------------------------------------------------------------ presets
def evoked(sources, indices, *, n_trials=30, sfreq=1000.0, soa=1.0, jitter=0.2,
           amplitude=20e-9, latency=0.1, width=0.02, prestim=0.5, event_id=None,
           orientations=None, seed=0) -> Activity:
    """An evoked paradigm: N100m-like responses (:func:`n100m`) to repeated stimuli.

    Stimulus ``i + 1`` follows stimulus ``i`` after ``soa`` plus a uniform jitter in
    [-jitter, jitter]; each stimulus is one of the ``event_id`` conditions, drawn at
    random (all conditions evoke the same response).

    Parameters
    ----------
    sources : SourceSpace
    indices : int or sequence of int
        Sources that respond (indices into ``sources``).
    n_trials : int
    sfreq : float
        Hz.
    soa : float
        Mean stimulus onset asynchrony, s.
    jitter : float
        Half-width of the uniform jitter of the SOA, s (< soa).
    amplitude, latency, width : float or array_like, shape (n_sources,)
        Of each source's response (A m, s, s); see :func:`n100m`.
    prestim : float
        Time before the first stimulus, s.
    event_id : dict, optional
        Condition name -> code (default ``{"stimulus": 1}``).
    orientations : array_like, shape (n_sources, 3) or (3,), optional
        Head-frame dipole directions (a vector estimate); default along the source
        normals.
    seed : int
        Seeds the jitter and the conditions.

    Returns
    -------
    Activity
        The recording lasts until ``soa`` after the last stimulus.
    """
    idx = _check_indices(sources, indices)
    n_trials = check_int("n_trials", n_trials, low=1)
    sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
    soa = check_number("soa", soa, low=0, low_open=True, unit="s")
    jitter = check_number("jitter", jitter, low=0, high=soa, high_open=True, unit="s")
    prestim = check_number("prestim", prestim, low=0, unit="s")
    amp = _per_source("amplitude", amplitude, len(idx), low=0, high=1e-3, unit="A m")
    lat = _per_source("latency", latency, len(idx), low=0, high=soa, unit="s")
    wid = _per_source("width", width, len(idx), low=0, low_open=True, high=soa, unit="s")
    event_id = _check_event_id(event_id, {"stimulus": 1})
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    gaps = soa + rng.uniform(-jitter, jitter, n_trials - 1)
    onsets = prestim + np.concatenate([[0.0], np.cumsum(gaps)])
    onsets = np.round(onsets * sfreq) / sfreq  # on samples: events mark the true onsets
    codes = rng.choice(list(event_id.values()), n_trials)
    n_times = int(np.ceil((onsets[-1] + soa) * sfreq)) + 1
    data = np.zeros((len(idx), n_times))
    span = int(np.ceil((lat.max() + 6 * wid.max()) * sfreq)) + 1
    for onset in onsets:
        s0 = int(round(onset * sfreq))
        n = min(span, n_times - s0)
        t = np.arange(s0, s0 + n) / sfreq - onset
        data[:, s0:s0 + n] += n100m(t[None], amp[:, None], lat[:, None], wid[:, None])
    stc = _estimate(sources, idx, data, sfreq, orientations)
    return _activity(stc, onsets, codes, event_id, sfreq)


def alpha(sources, indices, *, duration=10.0, sfreq=1000.0, frequency=10.0, bandwidth=2.0,
          amplitude=20e-9, orientations=None, seed=0) -> Activity:
    """Ongoing alpha oscillations: independent narrow-band Gaussian noise per source.

    White noise filtered with a Gaussian spectral window centred on ``frequency``
    (standard deviation ``bandwidth / 2``), scaled to RMS ``amplitude``; the envelope
    waxes and wanes on a time scale of about ``1 / bandwidth``.

    Parameters
    ----------
    sources : SourceSpace
    indices : int or sequence of int
    duration : float
        s.
    sfreq : float
        Hz.
    frequency : float
        Centre frequency, Hz (default 10 Hz).
    bandwidth : float
        Spectral width, Hz (two standard deviations).
    amplitude : float or array_like, shape (n_sources,)
        RMS dipole moment, A m (default 20 nAm; an assumption).
    orientations : array_like, optional
        As in :func:`evoked`.
    seed : int

    Returns
    -------
    Activity
        With no events.
    """
    idx = _check_indices(sources, indices)
    sfreq, duration, n_times = _timing(sfreq, duration)
    frequency = check_number("frequency", frequency, low=0, low_open=True,
                             high=sfreq / 2, high_open=True, unit="Hz")
    bandwidth = check_number("bandwidth", bandwidth, low=0, low_open=True, unit="Hz")
    amp = _per_source("amplitude", amplitude, len(idx), low=0, high=1e-3, unit="A m")
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    spec = np.fft.rfft(rng.standard_normal((len(idx), n_times)), axis=1)
    f = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    x = np.fft.irfft(spec * np.exp(-0.5 * ((f - frequency) / (bandwidth / 2)) ** 2), n_times)
    x *= (amp / np.sqrt(np.mean(x**2, axis=1)))[:, None]
    stc = _estimate(sources, idx, x, sfreq, orientations)
    return _activity(stc, [], [], {}, sfreq)


def spikes(sources, indices, *, duration=10.0, sfreq=1000.0, rate=0.5, min_interval=0.5,
           amplitude=200e-9, spike_width=0.01, slow_wave=0.4, event_id=None,
           orientations=None, seed=0) -> Activity:
    """Interictal-like spikes: a sharp peak followed by a slow wave, at random times.

    Each discharge is a Gaussian spike (standard deviation ``spike_width``: 10 ms gives
    a base of about 40 ms, inside the 20-70 ms of an EEG spike, Chatrian et al. 1974)
    followed by a slow wave of the same sign (a Gaussian of standard deviation 60 ms,
    peaking 100 ms after the spike, ``slow_wave`` times its amplitude). Intervals
    between discharges are ``min_interval`` plus an exponential draw (a Poisson process
    with dead time) of mean rate ``rate``.

    Parameters
    ----------
    sources : SourceSpace
    indices : int or sequence of int
        All listed sources discharge together.
    duration, sfreq : float
        s, Hz.
    rate : float
        Mean discharges per second (of the exponential part).
    min_interval : float
        Dead time between discharges, s.
    amplitude : float or array_like, shape (n_sources,)
        Peak of the spike component, A m (default 200 nAm; an assumption); the rising
        slow wave adds ``0.25 * slow_wave`` of it at the spike's peak.
    spike_width : float
        s.
    slow_wave : float
        Slow-wave peak relative to the spike's (>= 0).
    event_id : dict, optional
        Default ``{"spike": 1}`` (one name only).
    orientations : array_like, optional
        As in :func:`evoked`.
    seed : int

    Returns
    -------
    Activity
        Events at the spike peaks.
    """
    idx = _check_indices(sources, indices)
    sfreq, duration, n_times = _timing(sfreq, duration)
    rate = check_number("rate", rate, low=0, low_open=True, unit="1/s")
    min_interval = check_number("min_interval", min_interval, low=0, unit="s")
    spike_width = check_number("spike_width", spike_width, low=0, low_open=True, high=0.035,
                               unit="s")
    slow_wave = check_number("slow_wave", slow_wave, low=0)
    amp = _per_source("amplitude", amplitude, len(idx), low=0, high=1e-3, unit="A m")
    event_id = _check_event_id(event_id, {"spike": 1})
    if len(event_id) != 1:
        raise ValueError(f"event_id must have one entry for spikes, got {event_id!r}")
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    peaks, t = [], 0.25
    while True:
        t += min_interval + rng.exponential(1.0 / rate)
        if t > duration - 0.5:
            break
        peaks.append(round(t * sfreq) / sfreq)  # on samples
    times = np.arange(n_times) / sfreq
    shape = np.zeros(n_times)
    for p in peaks:
        shape += np.exp(-0.5 * ((times - p) / spike_width) ** 2)
        shape += slow_wave * np.exp(-0.5 * ((times - p - 0.1) / 0.06) ** 2)
    stc = _estimate(sources, idx, amp[:, None] * shape[None], sfreq, orientations)
    code = next(iter(event_id.values()))
    return _activity(stc, peaks, [code] * len(peaks), event_id, sfreq)


def padded(activity: Activity, n_times: int) -> Activity:
    """``activity`` with its estimate followed by silence up to ``n_times`` samples (a
    recording longer than its last response); events and annotations unchanged."""
    stc = activity.stc
    have = stc.data.shape[-1]
    if n_times < have:
        raise ValueError(f"n_times={n_times} is shorter than the activity's {have} samples")
    pad = np.zeros(stc.data.shape[:-1] + (n_times - have,))
    longer = type(stc)(np.concatenate([stc.data, pad], axis=-1), stc.vertices,
                       tmin=stc.tmin, tstep=stc.tstep, subject=stc.subject)
    return activity._replace(stc=longer)

