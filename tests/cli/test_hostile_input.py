"""The command line shows no Python tracebacks.

Every bad value ends in one line on stderr that names the option and the value, with exit
status 2, before any computation; a failure during the run ends in one line with exit
status 1; ``--debug`` shows the traceback instead.
"""

import os
import subprocess
import sys
import time

import pytest

from qsense.cli import UsageError, build_parser, main
from qsense.cli.config import resolve


def _qsense(*args, timeout=120):
    """``python -m qsense.cli ARGS`` (what the ``qsense`` console script runs)."""
    return subprocess.run([sys.executable, "-m", "qsense.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _main(capsys, *argv):
    """``main(argv)`` in this interpreter, as a finished process (status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    return subprocess.CompletedProcess(argv, exc.value.code, *capsys.readouterr())


def _assert_one_line(res, option, value, status=2):
    assert res.returncode == status, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert f"argument {option}" in lines[0] and str(value) in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """An existing file, a path below it, a path that cannot be created and an existing
    folder that cannot be written (for root too: /proc)."""
    root = tmp_path_factory.mktemp("paths")
    afile = root / "afile"
    afile.write_text("not a folder\n")
    return {"file": str(afile), "below_file": str(afile / "out"),
            "uncreatable": "/proc/qsense-no-such/out", "unwritable": "/proc/1/qsense-out"}


# the real console script (a fresh interpreter each: about 3 s, so one case per kind)
CONSOLE_CASES = [
    (["compare", "--arrays", "opm,squid"], "--arrays", "squid"),
    (["compare", "--n-opm", "-3"], "--n-opm", "-3"),
    (["compare", "--bandwidth", "nan"], "--bandwidth", "nan"),
    (["budget", "--room", "attic"], "--room", "attic"),
    (["budget", "--sensor", "no_such_sensor"], "--sensor", "no_such_sensor"),
    (["budget", "--n-sensors", "0"], "--n-sensors", "0"),
    (["budget", "--fmin", "100", "--fmax", "10"], "--fmin", "fmin=100"),
    (["budget", "--fmax", "nan"], "--fmax", "nan"),
]
# the same through main() in this interpreter
IN_PROCESS_CASES = [
    (["compare", "--opm-sensor", "quspin_gen9"], "--opm-sensor", "quspin_gen9"),
    (["compare", "--nv-sensor", "nv_dreams"], "--nv-sensor", "nv_dreams"),
    (["compare", "--spacing", "ico7"], "--spacing", "ico7"),
    (["compare", "--n-opm", "0"], "--n-opm", "0"),
    (["compare", "--n-opm", "16.5"], "--n-opm", "16.5"),
    (["compare", "--bandwidth", "0"], "--bandwidth", "0"),
    (["compare", "--bandwidth", "-1"], "--bandwidth", "-1"),
    (["compare", "--bandwidth", "inf"], "--bandwidth", "inf"),
    (["compare", "--arrays", ""], "--arrays", ""),
    (["compare", "--arrays", "opm,opm"], "--arrays", "opm,opm"),
    (["budget", "--fmin", "nan"], "--fmin", "nan"),
    (["budget", "--fmin", "0"], "--fmin", "0"),
    (["budget", "--fmax", "0.05"], "--fmax", "fmax=0.05"),
    (["budget", "--n-freqs", "0"], "--n-freqs", "0"),
    (["budget", "--n-sensors", "-1"], "--n-sensors", "-1"),
    (["budget", "--plot", "b.xyz"], "--plot", "xyz"),
    (["compare", "--n-opm", "1" + "0" * 400], "--n-opm", "100000"),  # no OverflowError
    (["budget", "--fmax", "1e400"], "--fmax", "1e400"),
    (["budget", "--n-freqs", "ten"], "--n-freqs", "ten"),
]


@pytest.mark.parametrize("args, option, value", CONSOLE_CASES)
def test_console_bad_value_is_one_line(args, option, value):
    _assert_one_line(_qsense(*args), option, value)


@pytest.mark.parametrize("args, option, value", IN_PROCESS_CASES)
def test_main_bad_value_is_one_line(args, option, value, no_study, capsys):
    _assert_one_line(_main(capsys, *args), option, value)


@pytest.mark.parametrize("which", ["file", "below_file", "uncreatable", "unwritable"])
def test_console_compare_bad_output_dir_is_one_line(paths, which):
    line = _assert_one_line(_qsense("compare", "--output-dir", paths[which]),
                            "--output-dir", paths[which])
    assert "cannot be written" in line


def test_console_budget_bad_output_is_one_line(paths):
    _assert_one_line(_qsense("budget", "--output", paths["uncreatable"]), "--output",
                     paths["uncreatable"])


@pytest.mark.parametrize("option, which", [("--output", "below_file"),
                                           ("--output", "unwritable"),
                                           ("--plot", "below_file")])
def test_main_budget_bad_output_is_one_line(paths, option, which, capsys):
    _assert_one_line(_main(capsys, "budget", option, paths[which]), option, paths[which])


def test_budget_output_that_is_a_folder(tmp_path, capsys):
    res = _main(capsys, "budget", "--plot", str(tmp_path))
    assert "existing folder" in _assert_one_line(res, "--plot", tmp_path)


def test_argparse_errors_are_one_line_too():
    res = _qsense("compare", "--n-opm")  # argparse: expected one argument
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.splitlines()) == 1 and "--n-opm" in res.stderr


def test_debug_shows_the_traceback():
    res = _qsense("--debug", "compare", "--n-opm", "0")
    assert res.returncode == 2
    assert "Traceback" in res.stderr and "UsageError" in res.stderr
    assert res.stderr.splitlines()[-1].startswith("qsense compare: error: argument --n-opm")


# --- in-process: the checks come before the computation -----------------------------------

@pytest.fixture
def no_study(monkeypatch):
    """Make the study itself fail loudly: a check that lets a bad value through to it
    shows up as this error, not as exit status 2."""
    import inverse.study

    def compare(**kwargs):
        raise AssertionError("the study ran")

    monkeypatch.setattr(inverse.study, "compare", compare)


@pytest.mark.parametrize("option, value", [("--output-dir", "{file}/x"),
                                           ("--output-dir", "{file}"),
                                           ("--n-opm", "0"), ("--arrays", "opm,opm")])
def test_compare_checks_before_the_study_in_well_under_a_second(paths, no_study, capsys,
                                                                option, value):
    value = value.format(**paths)
    main(["info"])  # the imports happen once, outside the timing
    capsys.readouterr()
    t0 = time.perf_counter()
    res = _main(capsys, "compare", option, value)
    elapsed = time.perf_counter() - t0
    _assert_one_line(res, option, value)
    assert elapsed < 1.0, elapsed


def test_output_dir_with_foreign_files_is_refused(tmp_path, no_study, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    res = _main(capsys, "compare", "--output-dir", str(tmp_path))
    assert "notes.txt" in _assert_one_line(res, "--output-dir", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_unexpected_error_is_one_line_with_exit_status_1(tmp_path, monkeypatch, capsys):
    import inverse.study

    def compare(**kwargs):
        raise RuntimeError("the BEM went\nwrong")

    monkeypatch.setattr(inverse.study, "compare", compare)
    argv = ["compare", "--quick", "--output-dir", str(tmp_path / "out")]
    res = _main(capsys, *argv)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == ("qsense compare: error: RuntimeError: the BEM went wrong (run "
                          "with --debug for the traceback)\n")
    assert not os.path.exists(tmp_path / "out") and os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError, match="BEM"):
        main(["--debug", *argv])
    with pytest.raises(RuntimeError, match="BEM"):
        main([*argv, "--debug"])  # the flag works after the command too


def _compare_settings(*argv):
    return resolve("compare", build_parser().parse_args(["compare", *argv]))


def test_quick_fills_only_what_the_user_did_not_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = _compare_settings("--quick")
    assert (s["spacing"], s["n_opm"]) == ("ico2", 32)
    s = _compare_settings("--quick", "--n-opm", "16")
    assert (s["spacing"], s["n_opm"]) == ("ico2", 16)
    s = _compare_settings("--spacing", "ico4", "--quick")
    assert (s["spacing"], s["n_opm"]) == ("ico4", 32)
    s = _compare_settings()
    assert (s["spacing"], s["n_opm"]) == ("ico3", 64)
    s = _compare_settings("--quick", "--recordings", "--n-trials", "4,8")
    assert (s["recordings"], s["n_trials"], s["rejection"]) == (True, (4, 8), False)
    s = _compare_settings("--full")
    assert (s["spacing"], s["n_probes"], s["dipole_conductor"]) == ("ico4", 16, "head")
    with pytest.raises(UsageError, match="--quick and --full"):
        _compare_settings("--quick", "--full")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[compare]\nspacing = "ico3"\nquick = true\n')
    s = _compare_settings("--config", str(cfg))
    assert (s["spacing"], s["n_opm"]) == ("ico3", 32)
    s = _compare_settings("--config", str(cfg), "--no-quick")
    assert (s["spacing"], s["n_opm"]) == ("ico3", 64)


def test_quick_is_documented_in_help(capsys):
    res = _main(capsys, "compare", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split()).replace("--no- ", "--no-")  # argparse's wrapping
    assert ("--quick, --no-quick a fast check: --spacing ico2, --n-opm 32, --bem-ico 3, "
            "--no-recordings, --no-rejection, --curves none, --no-iivanainen, each only where "
            "neither a flag nor the config file sets it") in text


def test_usage_error_is_a_value_error():
    assert issubclass(UsageError, ValueError)
    with pytest.raises(UsageError, match="--n-opm"):
        _compare_settings("--n-opm", "1e3")
