"""``qsense simulate`` (qsense.cli.simulate): settings -> qsense.simulate_raw -> FIF.

End to end through ``qsense.cli.main`` on short sphere-head recordings in a perfect room;
the file must hold exactly what ``qsense.simulate_raw`` gives for the same settings
built by hand from the public API. The environment and head-movement settings are checked
as the arguments they become (``simulate_kwargs``), separately from the call.
"""

import subprocess
from pathlib import Path

import mne
import numpy as np
import pytest

import qsense as qs
from qsense.cli import UsageError, build_parser, main
from qsense.cli.config import SCHEMAS, load_config, resolve
from qsense.cli.simulate import (
    check_settings,
    make_environment,
    read_head_movement,
    simulate_kwargs,
)
from qsense.environment import Environment, PowerLine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulate.toml"
# one source near each auditory cortex, head frame (m): the documented rule
TARGETS = np.array([[-0.05, -0.01, 0.045], [0.05, -0.01, 0.045]])
FAST = ["--head", "sphere", "--n-sensors", "8"]


def _cfg(*argv):
    """The checked settings of ``qsense simulate ARGV``."""
    cfg = resolve("simulate", build_parser().parse_args(["simulate", *argv]))
    check_settings(cfg)
    return cfg


def _main(capsys, *argv):
    """``main(argv)`` as a finished process (status, stdout, stderr)."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    return subprocess.CompletedProcess(argv, rc, *capsys.readouterr())


def _one_line_error(res, *words):
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert res.stdout == "" and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("qsense simulate: error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _sphere_sources():
    """The sphere head, its 10 mm grid and the two active sources with their tangential
    orientations, built from the public API (z with its radial part removed)."""
    head = qs.Head.sphere()
    src = qs.sources.volume(head, 0.01)
    idx = np.array([np.argmin(np.linalg.norm(src.positions - t, axis=1)) for t in TARGETS])
    r = src.positions[idx] - head.sphere_origin
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    ori = np.array([0.0, 0.0, 1.0]) - r[:, 2:3] * r
    return head, src, idx, ori / np.linalg.norm(ori, axis=1, keepdims=True)


def test_simulate_writes_what_simulate_raw_gives(tmp_path, capsys):
    out = tmp_path / "sub" / "ev_raw.fif"
    res = _main(capsys, "simulate", *FAST, "--n-trials", "2", "--seed", "3", "--output",
                str(out))
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert f"wrote {out} " in text and f"wrote {tmp_path / 'sub' / 'ev_raw-truth.nc'}" in text
    assert "8 channels" in text and "2 trials" in text and "run time" in text

    raw = mne.io.read_raw_fif(out, preload=True, verbose=False)
    head, src, idx, ori = _sphere_sources()
    array = qs.arrays.opm_on_scalp(head, 8, "radial", sensor="quspin_gen2")
    act = qs.activity.evoked(src, idx, n_trials=2, sfreq=1000.0, soa=1.0, orientations=ori,
                             seed=3)
    ref = qs.simulate_raw(array, head, src, act, seed=3)
    assert raw.ch_names == ref.ch_names and raw.info["sfreq"] == ref.info["sfreq"]
    a, b = raw.get_data(), ref.get_data()
    assert a.shape == b.shape and a.shape[0] == 8 and np.ptp(b) > 0
    assert f"({ref.n_times} samples)" in text
    assert np.array_equal(a, b)  # bit-identical
    assert list(raw.annotations.onset) == list(ref.annotations.onset)
    truth = qs.simulation.read_truth(out)
    assert sorted(truth["source_index"].values.tolist()) == sorted(idx.tolist())


def test_empty_room_and_overwrite(tmp_path, capsys):
    out = tmp_path / "er_raw.fif"
    argv = ["simulate", *FAST, "--activity", "empty-room", "--duration", "1.5", "--sfreq",
            "500", "--no-sensor-physics", "--output", str(out)]
    assert _main(capsys, *argv).returncode == 0
    first = mne.io.read_raw_fif(out, verbose=False).get_data()
    res = _main(capsys, *argv, "--seed", "1", "--overwrite", "--no-progress")
    assert res.returncode == 0, res.stderr
    raw = mne.io.read_raw_fif(out, verbose=False)
    assert raw.n_times == 750 and raw.info["sfreq"] == 500.0
    head = qs.Head.sphere()
    ref = qs.simulate_raw(qs.arrays.opm_on_scalp(head, 8), head, qs.sources.volume(head, 0.01),
                          None, duration=1.5, sfreq=500.0, sensor_physics=False, seed=1)
    assert np.array_equal(raw.get_data(), ref.get_data())
    assert not np.array_equal(first, ref.get_data())  # the overwrite took the new seed


def test_kwargs_of_activities(tmp_path):
    out = str(tmp_path / "x_raw.fif")
    head, src, idx, ori = _sphere_sources()
    kw = simulate_kwargs(_cfg(*FAST, "--activity", "alpha", "--duration", "3", "--frequency",
                              "11", "--amplitude", "30", "--seed", "5", "--output", out))
    ref = qs.activity.alpha(src, idx, duration=3.0, sfreq=1000.0, frequency=11.0,
                            amplitude=30e-9, orientations=ori, seed=5)
    assert np.array_equal(kw["stc"].stc.data, ref.stc.data)
    assert kw["duration"] is None and kw["sfreq"] is None and kw["seed"] == 5
    assert kw["progress"] is False  # stderr is not a terminal under pytest
    assert kw["environment"] is None and kw["head_movement"] is None
    assert kw["fname"] == Path(out) and kw["overwrite"] is False

    kw = simulate_kwargs(_cfg(*FAST, "--activity", "spikes", "--rate", "2", "--output", out))
    ref = qs.activity.spikes(src, idx, duration=10.0, sfreq=1000.0, rate=2.0,
                             orientations=ori, seed=0)
    assert np.array_equal(kw["stc"].stc.data, ref.stc.data)

    # evoked in a given duration: as many trials as surely fit, then silence
    kw = simulate_kwargs(_cfg(*FAST, "--duration", "6.5", "--output", out))
    act = kw["stc"]
    n = int(np.floor((6.5 - 0.003 - 0.5 - 1.0) / 1.2)) + 1
    ref = qs.activity.evoked(src, idx, n_trials=n, orientations=ori, seed=0)
    assert len(act.events) == n == 5 and act.stc.data.shape[-1] == 6500
    assert np.array_equal(act.stc.data[..., :ref.stc.data.shape[-1]], ref.stc.data)
    assert not act.stc.data[..., ref.stc.data.shape[-1]:].any()

    kw = simulate_kwargs(_cfg(*FAST, "--activity", "empty-room", "--output", out))
    assert kw["stc"] is None and kw["duration"] == 10.0 and kw["sfreq"] == 1000.0


def test_room_and_head_movement_become_arguments(tmp_path):
    """Passed through to simulate_raw as an Environment and a head-position array
    (checked as arguments, apart from the call: simulate_raw takes them as its stages
    arrive)."""
    out = str(tmp_path / "x_raw.fif")
    assert make_environment(_cfg("--output", out)) is None  # room "none" by default
    env = make_environment(_cfg("--room", "opm_two_layer", "--nulling", "--power-line", "60",
                                "--output", out))
    assert env == Environment.preset("opm_two_layer", nulling=True,
                                     power_line=PowerLine(frequency=60.0))
    assert env.movement is not None  # drawn by simulate_raw without --head-pos
    env = make_environment(_cfg("--room", "ak3b", "--power-line", "off", "--no-movement",
                                "--output", out))
    assert env == Environment.preset("ak3b", nulling=False, power_line=None, movement=None)

    t = np.arange(0.0, 3.0, 0.5)
    pos = np.zeros((len(t), 10))
    pos[:, 0] = t
    pos[:, 1] = 1.0  # identity quaternion (q0 implied)
    pos[:, 6] = 0.002 * np.sin(t)  # z translation, m
    mne.chpi.write_head_pos(tmp_path / "h.pos", pos)
    cfg = _cfg(*FAST, "--room", "unshielded", "--head-pos", str(tmp_path / "h.pos"),
               "--output", out)
    kw = simulate_kwargs(cfg)
    np.testing.assert_array_equal(kw["head_movement"],
                                  mne.chpi.read_head_pos(tmp_path / "h.pos"))
    assert kw["head_movement"].shape == (6, 10)
    assert kw["environment"] == Environment.preset("unshielded", nulling=False,
                                                   power_line=PowerLine(frequency=50.0))

    (tmp_path / "bad.pos").write_text("not a head position file\n")
    with pytest.raises(UsageError, match=r"^argument --head-pos: .*bad\.pos"):
        read_head_movement(_cfg("--head-pos", str(tmp_path / "bad.pos"), "--output", out))


def test_example_config_parses_and_flags_override_it(tmp_path, capsys, monkeypatch):
    """Precedence: defaults < the file's [simulate] table < flags."""
    monkeypatch.chdir(tmp_path)  # the example's relative output goes here
    table = load_config("simulate", EXAMPLE)
    assert set(table) <= {o.key for o in SCHEMAS["simulate"]}
    cfg = _cfg("--config", str(EXAMPLE))
    assert cfg.explicit == set(table)
    for key, value in table.items():
        assert cfg[key] == (Path(value).resolve() if key == "output" else value), key
    assert (cfg["room"], cfg["activity"], cfg["array"]) == ("opm_two_layer", "evoked",
                                                           "opm_on_scalp")
    assert cfg["progress"] is None and cfg["frequency"] == 10.0  # defaults

    cfg = _cfg("--config", str(EXAMPLE), "--duration", "2", "--no-nulling")
    assert cfg["duration"] == 2.0 and cfg.source["duration"] == "argument --duration"
    assert cfg["nulling"] is False and cfg["sensor"] == "quspin_gen2"
    assert make_environment(cfg) == Environment.preset("opm_two_layer", nulling=False,
                                                       power_line=PowerLine(frequency=50.0))

    # the example runs, shortened and moved to a sphere in a perfect room by flags
    res = _main(capsys, "simulate", "--config", str(EXAMPLE), "--duration", "2", "--room",
                "none", *FAST, "--spacing", "10mm", "--output", "short_raw.fif")
    assert res.returncode == 0, res.stderr
    raw = mne.io.read_raw_fif(tmp_path / "short_raw.fif", verbose=False)
    assert raw.n_times == 2000 and len(raw.ch_names) == 8
    assert len(raw.annotations) == 1  # one trial fits in 2 s
    assert not (tmp_path / "opm_evoked_raw.fif").exists()


@pytest.mark.parametrize("text, words", [
    ("[simulate]\ncolour = 3\n", ["[simulate] has an unknown key 'colour'"]),
    ('[simulate]\nduration = "10"\n', ["[simulate] duration: must be a TOML number",
                                       'got string "10"']),
    ("[simulate]\nnulling = 1\n", ["[simulate] nulling: must be a TOML boolean",
                                   "got integer 1"]),
    ("[simulate]\npower_line = 50\n", ["[simulate] power_line: must be a TOML string",
                                       "got integer 50"]),
    ("[simulate]\nduration = -2.0\n", ["[simulate] duration: must be a finite number in "
                                       "(0, 86400], got -2.0"]),
    ('[simulate]\nroom = "attic"\n', ["[simulate] room: must be one of none, ak3b", "attic"]),
])
def test_bad_config_is_one_line(tmp_path, capsys, text, words):
    cfg = tmp_path / "s.toml"
    cfg.write_text(text + 'output = "x_raw.fif"\n')
    _one_line_error(_main(capsys, "simulate", "--config", str(cfg)),
                    f"argument --config: {cfg}", *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@pytest.mark.parametrize("argv, words", [
    ([], ["argument --output: required"]),
    (["--output", "x_raw.fif", "--duration", "-1"], ["argument --duration", "got -1"]),
    (["--output", "x.txt"], ["argument --output", "must end in .fif"]),
    (["--output", "x_raw.fif", "--head", "sphere", "--spacing", "ico3"],
     ["argument --spacing", "fsaverage"]),
    (["--output", "x_raw.fif", "--array", "nv_on_scalp", "--axes", "dual"],
     ["argument --axes", "opm_on_scalp"]),
    (["--output", "x_raw.fif", "--array", "ctf275", "--sensor", "neuromag_mag"],
     ["argument --sensor", "neuromag_mag"]),
    (["--output", "x_raw.fif", "--array", "opm_on_scalp", "--sensor", "nv_bulk"],
     ["argument --sensor", "OPM preset", "nv_bulk"]),
    (["--output", "x_raw.fif", "--power-line", "55"], ["argument --power-line", "55"]),
    (["--output", "x_raw.fif", "--head-pos", "missing.pos"], ["argument --head-pos",
                                                              "missing.pos"]),
    (["--output", "x_raw.fif", *FAST, "--array", "nv_on_scalp"],
     ["argument --sfreq", "2000"]),
    (["--output", "x_raw.fif", *FAST, "--duration", "1"],
     ["argument --duration", "holds no evoked trial"]),
    (["--output", "x_raw.fif", *FAST, "--duration", "2", "--n-trials", "4"],
     ["argument --duration", "shorter than the 4 evoked trials"]),
    (["--output", "x_raw.fif", *FAST, "--activity", "alpha", "--sfreq", "300",
      "--frequency", "200"], ["argument --frequency", "200"]),
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, argv,
                                                  words):
    monkeypatch.chdir(tmp_path)
    _one_line_error(_main(capsys, "simulate", *argv), *words)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "old_raw.fif"
    out.write_bytes(b"an old recording")
    _one_line_error(_main(capsys, "simulate", *FAST, "--output", str(out)),
                    "argument --output", str(out), "exists", "--overwrite")
    assert out.read_bytes() == b"an old recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old_raw.fif"]
    truth = tmp_path / "new_raw-truth.nc"  # the truth file alone blocks too
    truth.write_bytes(b"old truth")
    _one_line_error(_main(capsys, "simulate", *FAST, "--output", str(tmp_path / "new_raw.fif")),
                    "argument --output", "new_raw-truth.nc", "exists")
    assert truth.read_bytes() == b"old truth"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new_raw-truth.nc", "old_raw.fif"]
