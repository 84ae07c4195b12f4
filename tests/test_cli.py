"""The qsense command line, through ``main`` and through the real entry point."""

import math
import subprocess
import sys

import pytest

from qsense.cli import main


def _qsense(*args, timeout=300):
    """``python -m qsense.cli ARGS`` (what the ``qsense`` console script runs)."""
    return subprocess.run([sys.executable, "-m", "qsense.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _row(text, freq):
    """The budget table's row at ``freq`` Hz as {column: value}."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("f (Hz)"))
    cols = lines[header].replace("f (Hz)", "f").split()
    for line in lines[header + 1:]:
        cells = line.split()
        if len(cells) == len(cols) and float(cells[0]) == freq:
            return {c: (v if c == "dominant" else float(v))
                    for c, v in zip(cols, cells, strict=True)}
    raise AssertionError(f"no {freq} Hz row in:\n{text}")


def test_info_lists_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("quspin_gen2", "neuromag306", "fsaverage", "opm_on_scalp"):
        assert name in out


def test_console_info_lists_every_preset_and_room_with_its_citation():
    from qsense.environment import ROOMS
    from qsense.nv import NV_PRESETS
    from qsense.sensors import PRESETS

    res = _qsense("info", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Sensor presets" in res.stdout and "Rooms" in res.stdout
    flat = " ".join(res.stdout.split())  # citations are wrapped for the terminal
    for name, item in {**PRESETS, **NV_PRESETS, **ROOMS}.items():
        assert f" {name} " in flat, name
        assert " ".join(item.citation.split()[:6]) in flat, name


def test_budget_through_main(capsys, tmp_path):
    """The `qsense budget` subcommand through the real entry point exits 0."""
    out = tmp_path / "budget.nc"
    assert main(["budget", "--n-sensors", "4", "--n-freqs", "5", "--output", str(out)]) == 0
    assert "dominant" in capsys.readouterr().out
    assert out.exists()


def test_console_script_budget():
    res = _qsense("budget", "--n-sensors", "4", "--n-freqs", "5")
    assert res.returncode == 0, res.stderr[-2000:]
    row = _row(res.stdout, 1.0)
    assert row["sensor"] == pytest.approx(15.0 * math.sqrt(1 + 3.0), rel=1e-3)  # quspin_gen2


@pytest.mark.parametrize("sensor", ["nv_bulk", "nv_mcg", "nv_flux_concentrator"])
def test_console_script_budget_nv(sensor):
    """NV sensors worn on the head: their 1 Hz sensor noise is floor * sqrt(1 + f_c / 1 Hz)."""
    from qsense.sensors import get_preset

    res = _qsense("budget", "--sensor", sensor, "--n-sensors", "4", "--n-freqs", "5")
    assert res.returncode == 0, res.stderr[-2000:]
    p = get_preset(sensor)
    expected = p.noise_floor * math.sqrt(1 + p.corner_frequency / 1.0) * 1e15  # fT/sqrt(Hz)
    assert _row(res.stdout, 1.0)["sensor"] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("args, value", [(["--sensor", "nv_widefield"], "nv_widefield"),
                                         (["--sensor", "no_such_sensor"], "no_such_sensor"),
                                         (["--room", "attic"], "attic")])
def test_console_script_budget_bad_setting_fails_cleanly(args, value):
    res = _qsense("budget", *args, "--n-freqs", "5", timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("qsense budget: error: argument " + args[0])
    assert value in lines[0]


# --- qsense compare: options, output folder and progress (the study itself is stubbed) ----

@pytest.fixture(scope="module")
def tiny_study(fsaverage_sphere):
    """A real, small study dataset (fitted-sphere head, 8 OPMs) for the report."""
    from inverse.study import compare

    return compare(spacing="ico2", arrays=("opm",), n_opm=8, head=fsaverage_sphere,
                   recordings=False, rejection=False, curves="none", iivanainen=False)


@pytest.fixture
def stub_study(monkeypatch, tiny_study):
    """``inverse.study.compare`` replaced: records its arguments, returns ``tiny_study``
    (or raises ``calls.error`` when set)."""
    import inverse.study

    calls = []

    def compare(**kwargs):
        calls.append(kwargs)
        if getattr(stub, "error", None) is not None:
            raise stub.error
        return tiny_study

    stub = type("Stub", (), {"calls": calls, "error": None})()
    monkeypatch.setattr(inverse.study, "compare", compare)
    return stub


def test_compare_schema_covers_every_study_option():
    import inspect

    from inverse.study import compare
    from qsense.cli.config import SCHEMAS

    keys = {o.key for o in SCHEMAS["compare"]}
    params = set(inspect.signature(compare).parameters) - {"head", "progress"}
    assert params <= keys, params - keys


def test_compare_config_file_sets_every_study_option(tmp_path, stub_study, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[compare]\nspacing = "ico3"\narrays = ["opm", "ctf275"]\nn_opm = 16\n'
                   'opm_sensor = "fieldline_hedscan"\nnv_sensor = "nv_bulk"\nbandwidth = 2.5\n'
                   'moment = 1e-8\nlambda2 = 0.5\nbem_ico = 3\nprogress = false\n'
                   f'output_dir = "{tmp_path / "out"}"\noverwrite = false\n')
    assert main(["compare", "--config", str(cfg), "--lambda2", "0.25"]) == 0
    (kwargs,) = stub_study.calls
    assert kwargs["spacing"] == "ico3" and kwargs["arrays"] == ("opm", "ctf275")
    assert kwargs["n_opm"] == 16 and kwargs["opm_sensor"] == "fieldline_hedscan"
    assert kwargs["nv_sensor"] == "nv_bulk" and kwargs["bandwidth"] == 2.5
    assert kwargs["moment"] == 1e-8 and kwargs["lambda2"] == 0.25 and kwargs["bem_ico"] == 3
    assert (tmp_path / "out" / "compare.nc").is_file()
    assert capsys.readouterr().err == ""  # progress = false


@pytest.mark.parametrize("text, match", [
    ('moment = "20e-9"', r"\[compare\] moment: must be a TOML number .*got string"),
    ("lambda = 0.1", r"\[compare\] has an unknown key 'lambda'"),
    ("bem_ico = 2", r"\[compare\] bem_ico: must be a whole number in 3\.\.5, got 2"),
    ("bem_ico = 3.0", r"\[compare\] bem_ico: must be a TOML integer"),
    ("lambda2 = 0", r"\[compare\] lambda2: .*got 0"),
    ('progress = "yes"', r"\[compare\] progress: must be a TOML boolean"),
    ("overwrite = 1", r"\[compare\] overwrite: must be a TOML boolean"),
])
def test_compare_config_errors_name_the_key(tmp_path, stub_study, capsys, text, match):
    import re

    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[compare]\n{text}\n")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--config", str(cfg), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and re.search(match, err), err
    assert stub_study.calls == []  # before the study


def test_previous_results_need_overwrite_before_the_study(tmp_path, stub_study, capsys):
    out = tmp_path / "out"
    assert main(["compare", "--output-dir", str(out)]) == 0
    first = (out / "manifest.json").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(stub_study.calls) == 1  # refused before the study
    assert "argument --output-dir" in err and "--overwrite" in err and "compare.nc" in err
    assert (out / "manifest.json").read_text() == first
    assert main(["compare", "--output-dir", str(out), "--overwrite"]) == 0
    assert (out / "manifest.json").read_text() != first
    # an empty folder is fine without --overwrite
    (tmp_path / "empty").mkdir()
    assert main(["compare", "--output-dir", str(tmp_path / "empty")]) == 0


def test_progress_on_request_and_quiet_when_piped(tmp_path, stub_study, capsys):
    """capsys's stderr is not a terminal: quiet unless --progress."""
    assert main(["compare", "--output-dir", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().err == ""
    assert main(["compare", "--output-dir", str(tmp_path / "b"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "qsense compare:" in err and "report" in err and "writing compare.nc" in err
    assert "100%" in err and "left" in err
    assert main(["compare", "--output-dir", str(tmp_path / "c"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    stub_study.error = RuntimeError("stop")
    with pytest.raises(SystemExit):
        main(["compare", "--output-dir", str(tmp_path / "d"), "--progress"])
    err = capsys.readouterr().err
    assert "stopped" in err and "RuntimeError: stop" in err
