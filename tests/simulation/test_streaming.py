"""Streaming and memory, the short version of issue 12's must-show 5 (the benchmark
``benchmarks/simulate_vs_mne.py --memory`` runs 1, 10 and 30 minutes at full size).

A 306-channel SQUID recording and a triaxial OPM recording (SERF Bloch model, 1/f noise)
with an evoked activity are streamed to FIF with a small ``split_size``, so that MNE
splits them; ``mne.io.read_raw_fif`` reads back exactly the in-memory recording, and the
peak of Python/NumPy allocations while streaming 10 s and 30 s differ by less than 20 %
(tracemalloc; the JAX kernels of the Bloch model allocate outside it, per fixed block).
"""

import gc
import tracemalloc

import mne
import numpy as np
import pytest

import qsense as qs

SFREQ = 1000.0


def _activity(src, seconds):
    """Evoked responses at two sources, a stimulus every 1 +- 0.2 s, zero-padded to
    exactly ``seconds``."""
    n = int(round(seconds * SFREQ))
    act = qs.activity.evoked(src, [0, 1], n_trials=int(0.9 * seconds) - 1, sfreq=SFREQ,
                             soa=1.0, jitter=0.2, seed=4)
    return qs.activity.padded(act, n)


def _streamed_peak(array, head, src, act, fname, split_size):
    """Peak traced allocations (bytes) while streaming ``act`` to ``fname``."""
    gc.collect()
    tracemalloc.start()
    try:
        raw = qs.simulate_raw(array, head, src, act, seed=3, fname=fname,
                              split_size=split_size, chunk_duration=2.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return raw, peak


@pytest.mark.parametrize("kind", ["squid", "opm_triaxial"])
def test_streamed_split_read_back_and_bounded_memory(kind, tmp_path, sphere_head,
                                                     sphere_points):
    head, src = sphere_head, sphere_points
    if kind == "squid":
        array, split = qs.arrays.neuromag306(head), "10MB"  # 10 s: 24 MB, 3 parts
    else:
        array = qs.arrays.opm_on_scalp(head, 8, "triaxial", sensor="quspin_gen3_triaxial")
        split = 1_500_000  # bytes; 24 channels, 10 s: 1.9 MB, 2 parts
    short, long = _activity(src, 10.0), _activity(src, 30.0)
    mem = qs.simulate_raw(array, head, src, short, seed=3, chunk_duration=2.0)  # compiles
    raw, peak_short = _streamed_peak(array, head, src, short, tmp_path / "a_raw.fif", split)
    parts = sorted(p.name for p in tmp_path.glob("a_raw-*.fif"))
    assert len(parts) >= 1  # MNE split it: a_raw.fif, a_raw-1.fif, ...
    back = mne.io.read_raw_fif(tmp_path / "a_raw.fif", preload=True, verbose=False)
    assert back.n_times == raw.n_times == 10000
    np.testing.assert_array_equal(back.get_data(), mem.get_data())  # bit for bit
    assert back.annotations.description.tolist() == ["stimulus"] * len(short.events)
    _, peak_long = _streamed_peak(array, head, src, long, tmp_path / "b_raw.fif", split)
    assert len(list(tmp_path.glob("b_raw-*.fif"))) > len(parts)
    assert abs(peak_long - peak_short) < 0.2 * peak_short, (peak_short, peak_long)


def test_memory_per_sample_does_not_grow(tmp_path, sphere_head, sphere_points):
    """Sensitive to anything held per sample: three magnetometers (a fixed peak of
    about 3 MB) with an evoked activity, 1 and 10 minutes. One array of the recording's
    time axis (8 bytes a sample, 4.8 MB at 10 minutes) would break it; it caught MNE's
    writer asking for ``raw.times`` and the truth file's time coordinate."""
    head, src = sphere_head, sphere_points
    array = qs.arrays.neuromag306(head).pick(["MEG 0111", "MEG 0121", "MEG 0131"])
    short, long = _activity(src, 60.0), _activity(src, 600.0)
    qs.simulate_raw(array, head, src, short, seed=3, chunk_duration=2.0)  # warm-up
    _, peak_short = _streamed_peak(array, head, src, short, tmp_path / "a_raw.fif", "2GB")
    _, peak_long = _streamed_peak(array, head, src, long, tmp_path / "b_raw.fif", "2GB")
    assert abs(peak_long - peak_short) < 0.2 * peak_short, (peak_short, peak_long)
