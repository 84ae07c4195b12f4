"""The qsense command line."""

import subprocess
import sys

from qsense.cli import main


def test_info_lists_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("quspin_gen2", "neuromag306", "fsaverage", "opm_on_scalp"):
        assert name in out


def test_console_entry_runs():
    res = subprocess.run([sys.executable, "-m", "qsense.cli", "info"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Sensor presets" in res.stdout


def test_budget_through_main(capsys, tmp_path):
    """The `qsense budget` subcommand through the real entry point exits 0."""
    out = tmp_path / "budget.nc"
    assert main(["budget", "--n-sensors", "4", "--n-freqs", "5", "--output", str(out)]) == 0
    assert "dominant" in capsys.readouterr().out
    assert out.exists()


def test_console_script_budget():
    res = subprocess.run([sys.executable, "-m", "qsense.cli", "budget", "--n-sensors", "4",
                          "--n-freqs", "5"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
