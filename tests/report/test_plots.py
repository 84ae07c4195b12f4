"""qsense.plots: the flat layout's projection, sensor layouts, topographies and noise
spectra, drawn on Figures (no pyplot); budget units of axial gradiometers."""

import numpy as np
import pytest
from matplotlib.figure import Figure

import qsense as qs
from qsense.plots import (
    layout_coordinates,
    plot_budget,
    plot_noise_spectra,
    plot_sensor_layout,
    plot_topography,
)


@pytest.fixture(scope="module")
def opm(sphere_head):
    return qs.arrays.opm_on_scalp(sphere_head, 24, "radial")


def _array_at(points):
    """Radial single-axis OPMs at the given head-frame points."""
    pts = np.asarray(points, float)
    ez = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    ex = np.cross([0.3, 0.5, 0.8], ez)
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    loc = np.c_[pts, ex, ey, ez]
    return qs.SensorArray([f"S{i}" for i in range(len(pts))], np.full(len(pts), 8001), loc,
                          sensor="quspin_gen2")


def test_layout_projection_is_azimuthal_equidistant():
    """Vertex at the centre, the equator on the unit circle, 45 deg from the vertex at
    radius 1/2, nose (+y) up and the right ear (+x) right."""
    r = 0.1
    s = np.sqrt(0.5)
    pts = [(0, 0, r), (r, 0, 0), (0, r, 0), (-r, 0, 0), (0, r * s, r * s), (0, -r, 0)]
    xy = layout_coordinates(_array_at(pts), origin=(0, 0, 0))
    np.testing.assert_allclose(xy, [(0, 0), (1, 0), (0, 1), (-1, 0), (0, 0.5), (0, -1)],
                               atol=1e-12)
    shifted = layout_coordinates(_array_at(np.asarray(pts) + [0, 0, 0.04]),
                                 origin=(0, 0, 0.04))
    np.testing.assert_allclose(shifted, xy, atol=1e-12)


def test_layouts_draw_on_figures(opm, sphere_head):
    fig = Figure()
    ax2 = plot_sensor_layout(opm, fig.add_subplot(1, 2, 1), head=sphere_head)
    ax3 = plot_sensor_layout(opm, fig.add_subplot(1, 2, 2, projection="3d"),
                             head=sphere_head, view="3d")
    assert ax2.figure is fig and ax3.name == "3d"
    assert "24 channels" in ax2.get_title()
    with pytest.raises(ValueError, match="view='top'"):
        plot_sensor_layout(opm, view="top")
    with pytest.raises(TypeError, match="head must be a qsense.Head"):
        plot_sensor_layout(opm, head="fsaverage")


def test_topography_draws_values_and_checks_them(opm):
    v = np.linspace(-1e-13, 1e-13, opm.n_channels)
    ax = plot_topography(opm, v, title="t")
    assert ax.get_title() == "t" and isinstance(ax.figure, Figure)
    with pytest.raises(ValueError, match=r"shape \(24,\)"):
        plot_topography(opm, v[:5])
    with pytest.raises(ValueError, match="finite"):
        plot_topography(opm, np.r_[np.nan, v[1:]])
    with pytest.raises(ValueError, match="at least 3"):
        plot_topography(opm, v, picks=[0, 1])


def test_axial_gradiometers_read_tesla(sphere_head):
    """A CTF axial gradiometer's output is a field difference in T (its preset floor is
    5 fT/sqrt(Hz)); only planar gradiometers read T/m."""
    ctf = qs.arrays.ctf275(sphere_head, dev_head_t=np.eye(4))
    f = np.array([100.0, 1000.0])
    ds = qs.noise_budget(ctf, None, f)
    assert set(ds["unit"].values) == {"T/sqrt(Hz)"}
    np.testing.assert_allclose(ds["asd"].sel(contributor="sensor").isel(frequency=-1),
                               5e-15 * np.sqrt(1 + 1 / 1000.0), rtol=1e-12)
    nm = qs.arrays.neuromag306(sphere_head, dev_head_t=np.eye(4))
    units = qs.noise_budget(nm, None, f)["unit"].values
    np.testing.assert_array_equal(units == "T/(m sqrt(Hz))", nm.is_planar_gradiometer)


def test_budget_plots_one_unit_at_a_time(sphere_head):
    """Where an array mixes magnetometers and planar gradiometers the channel median is
    taken within one unit: the magnetometers by default."""
    nm = qs.arrays.neuromag306(sphere_head, dev_head_t=np.eye(4))
    f = np.logspace(0, 2, 5)
    ds = qs.noise_budget(nm, None, f)
    mags = ~nm.is_planar_gradiometer
    ax = plot_budget(ds)
    total = [ln for ln in ax.get_lines() if ln.get_label() == "total"][0]
    np.testing.assert_allclose(total.get_ydata(),
                               ds["total"].isel(channel=np.flatnonzero(mags))
                               .median("channel") * 1e15, rtol=1e-12)
    assert "magnetometers" in ax.get_ylabel() and "fT/sqrt(Hz)" in ax.get_ylabel()
    ax = plot_budget(ds, unit="T/(m sqrt(Hz))")
    total = [ln for ln in ax.get_lines() if ln.get_label() == "total"][0]
    np.testing.assert_allclose(total.get_ydata(),
                               ds["total"].isel(channel=np.flatnonzero(~mags))
                               .median("channel") * 1e13, rtol=1e-12)
    with pytest.raises(ValueError, match="unit='T'"):
        plot_budget(ds, unit="T")
    ax = plot_noise_spectra({"Neuromag": ds, "again": ds})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Neuromag", "again"]
    styles = {(ln.get_linestyle(), ln.get_linewidth()) for ln in ax.get_lines()}
    assert len(styles) == 2  # overlapping curves stay distinguishable
    with pytest.raises(ValueError, match="empty"):
        plot_noise_spectra({})


def test_brain_map_example_saves_its_figure(tmp_path):
    """examples/brain_map.py writes its figure (no window) and its map is the SNR."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "brain_map.py"
    spec = importlib.util.spec_from_file_location("brain_map_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "map.png"
    snr = mod.main(str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert snr.shape == (1284,) and np.all(snr > 0)
