"""Bad input to simulate_raw: a clear error naming the argument, and nothing written."""

import mne
import numpy as np
import pytest

import qsense as qs

SFREQ = 1000.0


@pytest.fixture()
def setup(sphere_head, sphere_points, opm8, sim, tmp_path):
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 500, SFREQ), SFREQ)
    return sphere_head, sphere_points, opm8, stc, tmp_path / "x_raw.fif"


def _raises(exc, match, *args, **kw):
    fname = kw.get("fname")
    with pytest.raises(exc, match=match):
        qs.simulate_raw(*args, **kw)
    if fname is not None:
        assert list(fname.parent.iterdir()) == []  # nothing written


def test_bad_environment_and_movement(setup):
    head, src, arr, stc, fname = setup
    _raises(TypeError, "environment must be", arr, head, src, stc, environment=3, fname=fname)
    _raises(ValueError, "a room name must be one of", arr, head, src, stc,
            environment="faraday_cage", fname=fname)
    # 5th harmonic of 60 Hz = 300 Hz needs sfreq > 600 Hz
    env = qs.Environment(power_line=qs.environment.PowerLine(frequency=60.0))
    low = mne.VolSourceEstimate(stc.data[:, ::2], stc.vertices, 0.0, 1 / 500.0)
    _raises(ValueError, r"power-line harmonic at 300 Hz", arr, head, src, low,
            environment=env, sensor_physics=False, fname=fname)
    bad = np.zeros((2, 10))
    bad[:, 0] = [0.0, 0.2]
    bad[1, 4] = np.nan
    _raises(ValueError, "head_movement", arr, head, src, stc, head_movement=bad, fname=fname)
    mm = np.zeros((2, 10))
    mm[:, 0] = [0.0, 0.2]
    mm[1, 6] = 12.0  # millimetres
    _raises(ValueError, "head_movement.*millimetres", arr, head, src, stc, head_movement=mm,
            fname=fname)
    good = np.zeros((2, 10))
    good[:, 0] = [0.0, 0.2]
    _raises(ValueError, "interp", arr, head, src, stc, head_movement=good, interp="spline",
            fname=fname)


def test_head_movement_into_the_helmet_is_refused(sphere_head, sphere_points, sim, tmp_path):
    """A trajectory that moves the head 6 cm up into a Neuromag helmet puts sensors inside
    the scalp: refused, naming head_movement and the time, nothing written."""
    helmet = qs.arrays.neuromag306(sphere_head)
    stc = sim.point_stc(sphere_points, sim.smooth_signals(3, 500, SFREQ), SFREQ)
    dev_head = helmet.dev_head_t
    hp = np.zeros((2, 10))
    hp[:, 0] = [0.0, 0.25]
    # device -> head translation: moving the head up by 3 cm lowers the device by 3 cm
    hp[:, 4:7] = dev_head[:3, 3]
    hp[1, 6] -= 0.06
    hp[:, 1:4] = mne.transforms.rot_to_quat(dev_head[:3, :3])
    fname = tmp_path / "x_raw.fif"
    _raises(ValueError, r"head_movement.*inside", helmet, sphere_head, sphere_points, stc,
            head_movement=hp, fname=fname)


def test_vertices_not_in_source_space(setup):
    head, src, arr, stc, fname = setup
    bad = mne.VolSourceEstimate(stc.data, [np.array([0, 1, 7])], 0.0, 1 / SFREQ)
    _raises(ValueError, r"stc.vertices\[0\].*\[7\]", arr, head, src, bad, fname=fname)
    two = mne.SourceEstimate(stc.data[:2], [np.array([0]), np.array([1])], 0.0, 1 / SFREQ)
    _raises(ValueError, "vertex array", arr, head, src, two, fname=fname)
    _raises(TypeError, "stc must be", arr, head, src, stc.data, fname=fname)


def test_scalar_estimate_needs_normals(setup):
    head, _, arr, stc, fname = setup
    grid = qs.sources.volume(head, spacing=0.04)
    est = mne.VolSourceEstimate(np.zeros((grid.n_sources, 10)),
                                [grid.to_mne()[0]["vertno"]], 0.0, 1 / SFREQ)
    _raises(ValueError, "no normals", arr, head, grid, est, fname=fname)


def test_unit_errors(setup):
    head, src, arr, stc, fname = setup
    nam = mne.VolSourceEstimate(stc.data * 1e9, stc.vertices, 0.0, 1 / SFREQ)
    _raises(ValueError, "nAm", arr, head, src, nam, fname=fname)
    _raises(ValueError, "adc range", arr, head, src, stc, adc=(5.0, 16), fname=fname)


def test_sampling_rate_below_twice_the_bandwidth(setup, sim):
    head, src, arr, _, fname = setup
    slow = sim.point_stc(src, sim.smooth_signals(3, 100, 200.0), 200.0)
    _raises(ValueError, r"sfreq=200 Hz .* 135 Hz", arr, head, src, slow, fname=fname)
    # ideal sensors have no bandwidth: allowed
    qs.simulate_raw(arr, head, src, slow, sensor_physics=False)
    nv = qs.nv.nv_sensors(arr.positions, arr.orientations, sensor="nv_bulk")
    _raises(ValueError, "1000 Hz", nv, head, src, None, duration=1.0, sfreq=1500.0,
            fname=fname)


def test_durations(setup):
    head, src, arr, stc, fname = setup
    for d in (0.0, -1.0):
        _raises(ValueError, "duration", arr, head, src, None, duration=d, sfreq=SFREQ,
                fname=fname)
    _raises(ValueError, "duration", arr, head, src, None, sfreq=SFREQ, fname=fname)
    _raises(ValueError, "sfreq", arr, head, src, None, duration=1.0, sfreq=0.0, fname=fname)
    _raises(ValueError, "chunk_duration", arr, head, src, stc, chunk_duration=0, fname=fname)
    _raises(ValueError, "duration=9", arr, head, src, stc, duration=9.0, fname=fname)
    _raises(ValueError, "sfreq=500", arr, head, src, stc, sfreq=500.0, fname=fname)


def test_other_arguments(setup):
    head, src, arr, stc, fname = setup
    _raises(ValueError, "seed", arr, head, src, stc, seed=-1, fname=fname)
    _raises(TypeError, "array", "neuromag", head, src, stc, fname=fname)
    _raises(TypeError, "sources", arr, head, src.positions, stc, fname=fname)
    _raises(TypeError, "noise", arr, head, src, stc, noise="yes", fname=fname)
    _raises(ValueError, "opm_options", arr, head, src, stc, opm_options={"gain": 1},
            fname=fname)
    _raises(ValueError, "fname must end with '.fif'", arr, head, src, stc,
            fname=fname.with_suffix(".txt"))
    loc = arr.loc.copy()
    loc[:, :3] = head.sphere_origin + 0.9 * (loc[:, :3] - head.sphere_origin)
    _raises(ValueError, "inside the scalp", arr.replace(loc=loc), head, src, stc, fname=fname)


def test_existing_file_needs_overwrite(setup):
    head, src, arr, stc, fname = setup
    fname.write_bytes(b"precious")
    with pytest.raises(ValueError, match="overwrite=True") as err:
        qs.simulate_raw(arr, head, src, stc, fname=fname)
    assert isinstance(err.value, FileExistsError)
    assert fname.read_bytes() == b"precious"
    assert sorted(p.name for p in fname.parent.iterdir()) == ["x_raw.fif"]
    fname.unlink()
    truth = qs.simulation.truth_fname(fname)
    truth.write_bytes(b"old truth")
    with pytest.raises(FileExistsError, match="truth"):
        qs.simulate_raw(arr, head, src, stc, fname=fname)
    assert not fname.exists()
