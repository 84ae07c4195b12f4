"""``qsense sweep CONFIG.toml`` (qsense.cli.sweep): the file's tables -> inverse.sweep -> NetCDF.

Every bad setting is one line on stderr with exit status 2, before anything is written
(neither the store nor the output appears). The run end to end uses the serial loop on
two cheap points (ico2 sources, on-scalp OPMs, the ico-3 BEM); the cluster itself is
tested in tests/inverse/test_sweep.py.
"""

import socket
import subprocess
import time
from pathlib import Path

import pytest
import xarray as xr

from inverse.sweep import sweep
from qsense.cli import build_parser, main
from qsense.cli.config import load_config, resolve
from qsense.cli.sweep import read_tables

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"
STUDY = ('[study]\nspacing = "ico2"\narrays = ["opm"]\nbem_ico = 3\nrecordings = false\n'
         'rejection = false\ncurves = "none"\niivanainen = false\n')


def _main(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return subprocess.CompletedProcess(argv, rc, *capsys.readouterr())


def _write(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_example_config_is_checked_by_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = load_config("sweep", EXAMPLE)
    args = build_parser().parse_args(["sweep", str(EXAMPLE)])
    args.config = args.config_file
    s = resolve("sweep", args)
    assert s.explicit == set(table) and s["workers"] == 2 and s["overwrite"] is True
    assert s["store"] == tmp_path / "qsense-sweep" and s["out"] == tmp_path / "sweep.nc"
    grid, study = read_tables(EXAMPLE)
    assert grid == {"n_opm": [32, 64], "bandwidth": [1.0, 10.0, 100.0]}
    assert study == {"spacing": "ico2", "arrays": ("opm", "nv"), "bem_ico": 3,
                     "recordings": False, "rejection": False, "curves": "none",
                     "iivanainen": False}
    assert not (tmp_path / "qsense-sweep").exists()


def _free_address():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


@pytest.mark.parametrize("text, flags, words", [
    ("[grid]\nn_sensors = [8]\n", [], ["[grid] has an unknown key 'n_sensors'", "n_opm"]),
    ("[grid]\nhead = [\"sphere\"]\n", [], ["unknown key 'head'"]),
    ("[grid]\nn_opm = [8]\n[study]\nprogress = true\n", [], ["[study]", "'progress'"]),
    ("[grid]\nn_opm = []\n", [], ["[grid] n_opm must be a non-empty TOML array"]),
    ("[grid]\nn_opm = 8\n", [], ["[grid] n_opm must be a non-empty TOML array"]),
    ("[grid]\nn_opm = [8, 4]\n", [], ["[grid] n_opm[1]", "8..512", "got 4"]),
    ("[grid]\nn_opm = [\"8\"]\n", [], ["[grid] n_opm[0]", "TOML integer"]),
    ("[grid]\narrays = [[\"opm\", \"meg\"]]\n", [], ["[grid] arrays[0]", "meg"]),
    ("[grid]\nn_opm = [8]\n[study]\nspacing = \"ico9\"\n", [], ["[study] spacing", "ico9"]),
    ("[grid]\nn_opm = [8]\n[study]\nn_opm = 8\n", [], ["n_opm in both"]),
    ("[study]\nn_opm = 8\n", [], ["needs a [grid] table"]),
    ("[grids]\nn_opm = [8]\n", [], ["'grids' not allowed", "[sweep], [grid], [study]"]),
    ("[grid]\nn_opm = [8]\n[sweep]\nworkers = \"2\"\n", [], ["[sweep] workers",
                                                             "TOML integer"]),
    ("[grid]\nn_opm = [8]\n", ["--workers", "2", "--scheduler", "serial"],
     ["argument --workers", "not with --scheduler"]),
    ("[grid]\nn_opm = [8]\n", ["--scheduler", "nowhere"], ["argument --scheduler",
                                                          "tcp://host:8786"]),
    ("[grid]\nn_opm = [8]\n", ["--out", "{tmp}/x.txt"], ["argument --out", ".nc"]),
    ("[grid]\nn_opm = [8]\n", ["--out", "{tmp}/exists.nc"], ["argument --out", "exists",
                                                            "--overwrite"]),
    ("[grid]\nn_opm = [8]\n", ["--store", "{tmp}/exists.nc"], ["argument --store",
                                                              "existing file"]),
])
def test_bad_settings_are_one_line_and_write_nothing(capsys, tmp_path, text, flags, words):
    (tmp_path / "exists.nc").write_text("")
    config = _write(tmp_path, text)
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    store, out = tmp_path / "store", tmp_path / "out.nc"
    res = _main(capsys, "sweep", config, "--store", store, "--out", out, *flags)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qsense sweep: error: "), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not store.exists() and not out.exists()


def test_missing_config_and_unreachable_scheduler(capsys, tmp_path):
    res = _main(capsys, "sweep")
    assert res.returncode == 2 and "argument CONFIG.toml: required" in res.stderr
    config = _write(tmp_path, "[grid]\nn_opm = [8]\n" + STUDY)
    address = _free_address()
    t0 = time.perf_counter()
    res = _main(capsys, "sweep", config, "--store", tmp_path / "store", "--out",
                tmp_path / "out.nc", "--scheduler", address)
    assert time.perf_counter() - t0 < 15.0  # the connection's timeout is 5 s
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("qsense sweep: error: argument --scheduler: client=")
    assert address in res.stderr and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "store").exists() and not (tmp_path / "out.nc").exists()


def test_sweep_end_to_end(capsys, tmp_path):
    config = _write(tmp_path, "[grid]\nmoment = [1e-8, 4e-8]\n" + STUDY
                    + "[sweep]\nscheduler = \"serial\"\n")
    store, out = tmp_path / "store", tmp_path / "out.nc"
    res = _main(capsys, "sweep", config, "--store", store, "--out", out)
    assert res.returncode == 0, res.stderr
    assert "2 points (moment 2): 2 computed, 0 from the store" in res.stdout
    assert "inverse.sweep: 2/2 points" in res.stderr  # the per-point counter (not a terminal)
    got = xr.load_dataset(out)
    assert got["snr"].dims == ("moment", "array", "source")
    assert got.attrs["command"].startswith("qsense sweep ")
    # the file is the sweep: the same points, read back from the store
    again = sweep({"moment": [1e-8, 4e-8]}, store=store, client="serial", progress=False,
                  spacing="ico2", recordings=False, rejection=False, curves="none",
               iivanainen=False, arrays=["opm"], bem_ico=3)
    assert again.attrs["sweep_computed"] == 0
    xr.testing.assert_equal(got, again)
    # a second run computes nothing and needs --overwrite for the output
    res = _main(capsys, "sweep", config, "--store", store, "--out", out)
    assert res.returncode == 2 and "--overwrite" in res.stderr
    res = _main(capsys, "sweep", config, "--store", store, "--out", out, "--overwrite",
                "--no-progress")
    assert res.returncode == 0 and "0 computed, 2 from the store" in res.stdout
    assert res.stderr == ""
