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
