"""Noise budget dataset, NetCDF round trip, MNE suppression and the CLI."""

import argparse

import numpy as np
import pytest
import xarray as xr

import qsense
from qsense import arrays
from qsense.budget import dominant, noise_budget
from qsense.cli.budget import add_budget_parser, run_budget
from qsense.environment import Environment
from qsense.plots import plot_budget


@pytest.fixture(scope="module")
def opm():
    return arrays.opm_on_scalp(qsense.Head.sphere(), n_sensors=16, sensor="quspin_gen2")


def test_budget_structure_and_physics(opm, tmp_path):
    env = Environment.preset("opm_two_layer")
    f = np.array([1.0, 10.0, 100.0])
    ds = noise_budget(opm, env, f)
    assert ds["asd"].dims == ("contributor", "channel", "frequency")
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    # total is the quadrature sum; sensor term is the preset's floor * sqrt(1 + fc/f)
    np.testing.assert_allclose(ds["total"], np.sqrt((ds["asd"] ** 2).sum("contributor")))
    np.testing.assert_allclose(ds["asd"].sel(contributor="sensor", frequency=100.0),
                               15e-15 * np.sqrt(1 + 3.0 / 100.0))
    # interference scales as 1/S(f): compare two rooms
    ds2 = noise_budget(opm, Environment.preset("unshielded"), f)
    ratio = (ds2["asd"].sel(contributor="interference") /
             ds["asd"].sel(contributor="interference")).values
    np.testing.assert_allclose(ratio, np.broadcast_to(env.room.shielding_factor(f), ratio.shape),
                               rtol=1e-10)
    # nulling to 1 % scales the movement term by 0.01
    ds3 = noise_budget(opm, env.replace(nulling=True), f)
    np.testing.assert_allclose(ds3["asd"].sel(contributor="movement"),
                               0.01 * ds["asd"].sel(contributor="movement"), rtol=1e-10)
    p = tmp_path / "b.nc"
    ds.to_netcdf(p)
    back = xr.load_dataset(p)
    xr.testing.assert_identical(back, ds)
    with pytest.raises(ValueError, match="freqs"):
        noise_budget(opm, env, [0.0, 1.0])
    with pytest.raises(TypeError, match="array"):
        noise_budget("opm", env, f)


def test_hfc_suppression_removes_uniform_power_line(opm):
    ds = noise_budget(opm, Environment(), [10.0], suppression=True)
    att = ds["attenuation"]
    # a uniform field lies in the HFC subspace: removed to rounding error
    assert float(att.sel(contributor="power_line")) > 1e8
    # distant dipoles are nearly uniform+gradient over the head: at least 20 dB
    assert float(att.sel(contributor="interference")) > 10
    assert float(att.sel(contributor="sensor")) == 1.0


def test_cli_prints_dominant_contributors(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_budget_parser(parser.add_subparsers())
    cfg = tmp_path / "b.toml"
    cfg.write_text('[budget]\nsensor = "quspin_gen2"\nroom = "opm_two_layer"\nn_sensors = 8\n'
                   'n_freqs = 50\n')
    out = tmp_path / "out" / "budget.nc"
    args = parser.parse_args(["budget", "--config", str(cfg), "--output", str(out),
                              "--plot", str(tmp_path / "b.png")])
    ds = run_budget(args)
    text = capsys.readouterr().out
    assert "dominant" in text and str(out) in text
    assert out.exists() and (tmp_path / "b.png").stat().st_size > 1000
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left
    assert dominant(ds, 100.0) == "sensor"
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 3\n")
    with pytest.raises(ValueError, match="colour"):
        run_budget(parser.parse_args(["budget", "--config", str(bad)]))


def test_plot_budget_draws_on_a_figure_without_pyplot(opm, tmp_path):
    from matplotlib.figure import Figure

    ds = noise_budget(opm, Environment(), [1.0, 10.0, 100.0])
    ax = plot_budget(ds)
    assert isinstance(ax.figure, Figure) and ax.get_title() == "quspin_gen2 in room opm_two_layer"
    ax.figure.savefig(tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 1000
    own = Figure().subplots()
    assert plot_budget(ds, ax=own, title="t") is own and own.get_title() == "t"


def test_movement_and_suppression_follow_head_mounting(opm):
    """Movement only for head-mounted arrays; HFC for them, SSS for fixed helmets."""
    squid = qsense.sensors.get_preset("neuromag_mag").default_array(qsense.Head.sphere())
    assert opm.head_mounted and not squid.head_mounted
    env = Environment()
    ds_opm, ds_squid = (noise_budget(a, env, [1.0], suppression=True) for a in (opm, squid))
    assert float(ds_opm["asd"].sel(contributor="movement").min()) > 0
    assert float(abs(ds_squid["asd"].sel(contributor="movement")).max()) == 0.0
    assert "compute_proj_hfc" in ds_opm["attenuation"].attrs["method"]
    assert "maxwell_filter" in ds_squid["attenuation"].attrs["method"]

