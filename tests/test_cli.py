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
