"""Streaming to FIF: split as MNE splits, read back by mne.io.read_raw_fif with the preset
record, the ground truth beside it, bounded memory, and atomic (an interrupted write
leaves nothing under the final name)."""

import gc
import json
import tracemalloc

import mne
import numpy as np
import pytest

import qsense as qs
from qsense.simulation import DESCRIPTION_PREFIX
from qsense.simulation.noise import NoiseSource


@pytest.fixture(scope="module")
def triaxial(sphere_head):
    """Triaxial QuSpin Gen-3 sensors: not the default preset of their coil type (8002), so
    only the description's preset record says what they are."""
    return qs.arrays.opm_on_scalp(sphere_head, 6, "triaxial", sensor="quspin_gen3_triaxial")


def test_fif_round_trip_split_and_truth(tmp_path, sphere_head, sphere_points, triaxial, sim):
    head, src = sphere_head, sphere_points
    sfreq = 500.0  # 18 channels x 28.6 s in double: 2.1 MB, split at 2 MB (~1 MB parts)
    act = qs.activity.evoked(src, [1], n_trials=40, sfreq=sfreq, soa=0.7, jitter=0.05,
                             seed=2)
    fname = tmp_path / "sim_raw.fif"
    raw = qs.simulate_raw(triaxial, head, src, act, fname=fname, split_size="2MB",
                          chunk_duration=2.0, seed=9)
    names = sorted(p.name for p in tmp_path.iterdir())
    parts = [f"sim_raw-{k}.fif" for k in range(1, len(names) - 1)]
    assert len(parts) >= 1 and names == sorted(parts + ["sim_raw-truth.nc", "sim_raw.fif"])
    back = mne.io.read_raw_fif(fname, preload=True, verbose=False)
    assert back.n_times == act.stc.data.shape[1] == raw.n_times
    memory = qs.simulate_raw(triaxial, head, src, act, seed=9)
    np.testing.assert_array_equal(back.get_data(), memory.get_data())  # double precision
    # channels, coil types, units, frames and the presets survive
    arr = qs.SensorArray.from_info(back.info)
    assert [p.name for p in arr.channel_presets] == ["quspin_gen3_triaxial"] * 18
    np.testing.assert_array_equal(arr.coil_types, triaxial.coil_types)
    np.testing.assert_allclose(arr.loc, triaxial.loc, atol=1e-7)  # FIF stores float32
    lines = back.info["description"].splitlines()
    assert lines[0] == triaxial.to_info()["description"]
    settings = json.loads(lines[1][len(DESCRIPTION_PREFIX):])
    assert settings["seed"] == 9 and settings["truth"] == "sim_raw-truth.nc"
    assert settings["sensor_physics"] and settings["noise"]
    assert back.annotations.description.tolist() == ["stimulus"] * 40
    # the truth beside it
    truth = qs.simulation.read_truth(fname)
    assert truth.attrs["settings"] == settings
    np.testing.assert_array_equal(truth["amplitude"].values, act.stc.data)
    np.testing.assert_allclose(truth["position"].values, src.positions[[1]])
    np.testing.assert_allclose(truth["orientation"].values, src.normals[[1]])
    np.testing.assert_array_equal(truth["event_sample"].values, act.events[:, 0])
    assert truth["amplitude"].attrs["units"] == "A m"
    assert truth.attrs["event_id"] == {"stimulus": 1}


def test_overwrite_replaces_recording_and_stale_parts(tmp_path, opm8, sphere_head,
                                                      sphere_points):
    fname = tmp_path / "er_raw.fif"
    kw = dict(duration=30.0, sfreq=1000.0, sensor_physics=False, split_size="2MB")
    qs.simulate_raw(opm8, sphere_head, sphere_points, None, fname=fname, **kw)
    assert (tmp_path / "er_raw-1.fif").exists()
    raw = qs.simulate_raw(opm8, sphere_head, sphere_points, None, fname=fname,
                          overwrite=True, duration=5.0, sfreq=1000.0, seed=3, progress=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["er_raw-truth.nc", "er_raw.fif"]
    assert raw.n_times == 5000


def test_interrupted_write_leaves_nothing(tmp_path, opm8, sphere_head, sphere_points,
                                          monkeypatch):
    fname = tmp_path / "cut_raw.fif"
    kw = dict(duration=30.0, sfreq=1000.0, sensor_physics=False, split_size="2MB",
              chunk_duration=2.0)
    calls = {"n": 0}
    original = NoiseSource.samples

    def failing(self, start, stop):
        calls["n"] += 1
        if calls["n"] == 10:  # mid-stream, after the first split part was written
            raise KeyboardInterrupt("power cut")
        return original(self, start, stop)

    monkeypatch.setattr(NoiseSource, "samples", failing)
    with pytest.raises(KeyboardInterrupt):
        qs.simulate_raw(opm8, sphere_head, sphere_points, None, fname=fname, **kw)
    assert list(tmp_path.iterdir()) == []
    # over an existing recording: the old one stays as it was
    monkeypatch.setattr(NoiseSource, "samples", original)
    qs.simulate_raw(opm8, sphere_head, sphere_points, None, fname=fname, **kw)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls["n"] = 0
    monkeypatch.setattr(NoiseSource, "samples", failing)
    with pytest.raises(KeyboardInterrupt):
        qs.simulate_raw(opm8, sphere_head, sphere_points, None, fname=fname, overwrite=True,
                        seed=1, **kw)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def _peak_traced(fname, duration, array, head, src):
    gc.collect()
    tracemalloc.start()
    qs.simulate_raw(array, head, src, None, fname=fname, overwrite=True, duration=duration,
                    sfreq=1000.0, chunk_duration=2.0, sensor_physics=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_streamed_memory_does_not_grow_with_duration(tmp_path, sphere_head, sphere_points):
    """Peak Python/NumPy allocations while streaming 40 s and 160 s (64 channels, 1 kHz):
    within 20 % of each other (the recordings are 20 MB and 82 MB in memory)."""
    array = qs.arrays.opm_on_scalp(sphere_head, 64, "radial")
    short = _peak_traced(tmp_path / "a_raw.fif", 40.0, array, sphere_head, sphere_points)
    long = _peak_traced(tmp_path / "b_raw.fif", 160.0, array, sphere_head, sphere_points)
    assert long < 1.2 * short
    assert long < 0.5 * 64 * 160_000 * 8  # well below the recording's size
