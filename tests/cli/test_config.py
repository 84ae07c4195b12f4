"""Configs are checked with one schema for every command (qsense.cli.config).

The flags and the ``--config`` TOML file of ``budget`` and ``compare`` go through the same
checks; a bad key, a wrong TOML type or a value out of range is a UsageError (a
ValueError) whose message names the key, and the command exits with 2 and one line.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from qsense.cli import UsageError, build_parser, main
from qsense.cli.config import SCHEMAS, add_options, load_config, resolve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _settings(command, tmp_path, text, *flags):
    cfg = tmp_path / f"{command}.toml"
    cfg.write_text(text)
    args = build_parser().parse_args([command, "--config", str(cfg), *flags])
    return resolve(command, args)


@pytest.mark.parametrize("command, text, match", [
    # keys: unknown in the table, outside the table, another command's table
    ("budget", "[budget]\ncolour = 3\n", r"unknown key 'colour'"),
    ("budget", "colour = 3\n", r"top-level key 'colour'"),
    ("budget", "n_sensors = 8\n", r"top-level key 'n_sensors'.*\[budget\]"),
    ("budget", "[compare]\nn_opm = 16\n", r"top-level key 'compare'"),
    ("compare", "[compare]\nn_sensors = 8\n", r"unknown key 'n_sensors'"),
    ("compare", "budget = 1\n[compare]\n", r"top-level key 'budget'"),
    ("budget", "budget = 3\n", r"budget must be a table"),
    ("budget", "[budget]\nn_sensors = 8\nn-sensors = 9\n", r"'n_sensors' twice"),
    # TOML types
    ("budget", '[budget]\nnulling = "false"\n', r"\[budget\] nulling: must be a TOML "
                                                r"boolean.*got string \"false\""),
    ("budget", '[budget]\nn_freqs = "10"\n', r"\[budget\] n_freqs: must be a TOML integer"),
    ("budget", "[budget]\nn_freqs = 10.0\n", r"\[budget\] n_freqs: must be a TOML integer"),
    ("budget", "[budget]\nfmin = true\n", r"\[budget\] fmin: must be a TOML number"),
    ("budget", "[budget]\nsensor = 3\n", r"\[budget\] sensor: must be a TOML string"),
    ("budget", "[budget]\noutput = 3\n", r"\[budget\] output: must be a TOML string"),
    ("compare", '[compare]\narrays = "opm,nv"\n', r"\[compare\] arrays: must be a TOML "
                                                  r"array of strings"),
    ("compare", "[compare]\nquick = 1\n", r"\[compare\] quick: must be a TOML boolean"),
    # ranges and allowed values
    ("budget", "[budget]\nn_freqs = 0\n", r"\[budget\] n_freqs: .*2\.\.100000, got 0"),
    ("budget", "[budget]\nn_freqs = 1000000000\n", r"n_freqs: .*2\.\.100000, got 1000000000"),
    ("budget", "[budget]\nfmin = nan\n", r"\[budget\] fmin: must be a finite number"),
    ("budget", "[budget]\nfmin = 10.0\nfmax = 1.0\n", r"\[budget\] fmin: need fmin < fmax"),
    ("budget", '[budget]\nroom = "attic"\n', r"\[budget\] room: must be one of .*attic"),
    ("compare", "[compare]\nn_opm = 0\n", r"\[compare\] n_opm: .*8\.\.512, got 0"),
    ("compare", "[compare]\nbandwidth = -inf\n", r"\[compare\] bandwidth: .*got -inf"),
    ("compare", '[compare]\narrays = ["opm", "squid"]\n', r"\[compare\] arrays: .*squid"),
    ("compare", "[compare]\narrays = []\n", r"\[compare\] arrays: must be distinct"),
    # the file itself
    ("budget", "[budget\n", r"--config: .*not a valid TOML file"),
])
def test_bad_config_names_the_key(tmp_path, command, text, match):
    with pytest.raises(UsageError, match=match) as exc:
        _settings(command, tmp_path, text)
    assert isinstance(exc.value, ValueError)
    assert str(exc.value).startswith(f"argument --config: {tmp_path / command}.toml")


def test_missing_config_file(tmp_path):
    args = build_parser().parse_args(["budget", "--config", str(tmp_path / "none.toml")])
    with pytest.raises(UsageError, match=r"argument --config: .*none\.toml: cannot be read"):
        resolve("budget", args)


def test_bad_config_through_the_console_script_is_one_line(tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('[budget]\nnulling = "false"\n')
    res = subprocess.run([sys.executable, "-m", "qsense.cli", "budget", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "[budget] nulling" in lines[0] and "boolean" in lines[0]


def test_bad_compare_config_through_main_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[compare]\nn_opm = 1000000000\n")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--config", str(cfg)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[compare] n_opm" in err and "8..512" in err


def test_flags_override_the_file_and_the_file_the_defaults(tmp_path):
    text = ('[budget]\nsensor = "nv_bulk"\nn-sensors = 8\nnulling = true\nfmin = 1\n'
            'plot = "b.svg"\n')
    s = _settings("budget", tmp_path, text, "--n-sensors", "4", "--no-nulling")
    assert s["sensor"] == "nv_bulk" and s["n_sensors"] == 4 and s["nulling"] is False
    assert s["fmin"] == 1.0 and isinstance(s["fmin"], float) and s["fmax"] == 1000.0
    assert s["plot"] == Path.cwd() / "b.svg"
    assert s.explicit == {"sensor", "n_sensors", "nulling", "fmin", "plot"}
    assert s.source["n_sensors"] == "argument --n-sensors"
    assert s.source["sensor"].endswith("[budget] sensor")
    # a bad file value overridden by a good flag is never used, so never an error
    s = _settings("budget", tmp_path, "[budget]\nn_freqs = 0\n", "--n-freqs", "20")
    assert s["n_freqs"] == 20


def test_one_schema_builds_every_flag():
    """Every option of the schema is a flag of its command, default None (so the file and
    --quick know what the user set), with its allowed values and default in the help."""
    for command, options in SCHEMAS.items():
        parser = argparse.ArgumentParser()
        add_options(parser, command)
        flags = {a.dest: a for a in parser._actions}
        assert {o.key for o in options} <= set(flags)
        for o in options:
            assert flags[o.key].default is None and o.flag in flags[o.key].option_strings
            assert "default:" in flags[o.key].help
    budget_flags = ["--sensor", "--room", "--n-sensors", "--fmin", "--fmax", "--n-freqs",
                    "--nulling", "--suppression", "--output", "--plot", "--config"]
    compare_flags = ["--output-dir", "--spacing", "--arrays", "--n-opm", "--opm-sensor",
                     "--nv-sensor", "--bandwidth", "--quick", "--config"]
    for command, flags in (("budget", budget_flags), ("compare", compare_flags)):
        parser = argparse.ArgumentParser()
        add_options(parser, command)
        known = {s for a in parser._actions for s in a.option_strings}
        assert set(flags) <= known, command


def test_schema_limits_are_the_study_s():
    import inverse.study as study

    opts = {o.key: o for o in SCHEMAS["compare"]}
    assert (opts["n_opm"].low, opts["n_opm"].high) == study.N_OPM_RANGE
    assert (opts["bandwidth"].low, opts["bandwidth"].high) == study.BANDWIDTH_RANGE
    assert tuple(opts["arrays"].choices()) == study.ARRAY_NAMES
    assert tuple(opts["spacing"].choices()) == study.SPACINGS


@pytest.mark.parametrize("command", ["budget", "compare"])
def test_example_configs_load(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative output paths are checked where they would go
    path = EXAMPLES / f"{command}.toml"
    table = load_config(command, path)
    assert table and set(table) <= {o.key for o in SCHEMAS[command]}
    s = resolve(command, build_parser().parse_args([command, "--config", str(path)]))
    assert s.explicit == set(table)
    for key, value in table.items():
        got = s[key]
        if isinstance(got, Path):
            assert got == Path(value).resolve()
        else:
            assert got == (tuple(value) if isinstance(value, list) else value), key
