"""qsense.plot_brain_map: maps drawn on fsaverage5 show the data's pattern (read back from
the rendered pixels), vertex numbering checked against MNE's icosahedra, offline, and
clear errors at the boundary."""

import socket

import mne
import numpy as np
import pytest
import xarray as xr
from matplotlib import colormaps

import qsense as qs
from qsense.brainmap import _fill_nearest, _fsaverage5, _mesh_sphere


@pytest.fixture(scope="module")
def cortex3(fsaverage_sphere):
    return qs.sources.cortex(fsaverage_sphere, "ico3")


def _panels(fig):
    """{panel title: RGB float image of that panel} from the rendered figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the figure is not pyplot's: give it a raster canvas
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].astype(float) / 255
    h = img.shape[0]
    out = {}
    for ax in fig.axes:
        title = ax.get_title()
        if not title:
            continue
        bb = ax.get_window_extent()
        x0, x1 = int(np.ceil(bb.x0)), int(np.floor(bb.x1))
        y0, y1 = h - int(np.floor(bb.y1)), h - int(np.ceil(bb.y0))
        out[title] = img[y0:y1, x0:x1]
    return out


def _surface(rgb):
    """Pixels that show the surface (the background is white)."""
    return np.any(rgb < 0.97, axis=-1)


def _left_positive(src, kind):
    n = len(src) // 2
    values = np.r_[np.ones(n), np.zeros(n)]
    if kind == "array":
        return values, src
    if kind == "dataarray":
        return xr.DataArray(values, dims="source", coords={
            "hemisphere": ("source", np.repeat(["lh", "rh"], n)),
            "vertex": ("source", np.tile(np.arange(n), 2))}), None
    vertices = [s["vertno"] for s in src.to_mne()]
    stc = mne.SourceEstimate(np.c_[values, 0.5 * values], vertices, tmin=0.0, tstep=0.01,
                             subject="fsaverage")
    return stc, src


@pytest.mark.parametrize("kind", ["array", "dataarray", "stc"])
def test_map_shows_left_positive_right_zero(cortex3, kind):
    """Must-show 2: 1 on the left hemisphere, 0 on the right: the left panels are red,
    the right ones are not; swapping the data swaps the colours."""
    data, src = _left_positive(cortex3, kind)
    for swapped in (False, True):
        if swapped:
            data = (data.copy() if kind != "dataarray" else data)
            if kind == "stc":
                data = data.copy()
                data.data = 1 - data.data
            else:
                data = 1 - data
        fig = qs.plot_brain_map(data, src, cmap="Reds", vmin=0, vmax=1, resolution=200)
        panels = _panels(fig)
        assert set(panels) == {"left lateral", "left medial", "right lateral", "right medial"}
        for title, rgb in panels.items():
            on = _surface(rgb)
            assert on.mean() > 0.2, title  # the surface fills the panel
            redness = np.median(rgb[on][:, 0] - rgb[on][:, 2])
            positive = title.startswith("left") != swapped
            if positive:  # Reds(1) = dark red: red well above blue, even where shaded
                assert redness > 0.25, (title, redness)
            else:  # Reds(0) = near white, shaded grey: no red cast
                assert redness < 0.08, (title, redness)


def test_map_shows_y_coordinate_on_left_only(cortex3):
    """Must-show 2: the source's y coordinate (anterior +) on the left hemisphere, 0 on the
    right. Read back through the colour map: on the left lateral view anterior is on the
    screen's left, on the medial view on its right; the right hemisphere reads 0."""
    n = len(cortex3) // 2
    y = cortex3.positions[:, 1] * 1e3
    values = np.r_[y[:n], np.zeros(n)]
    lo, hi = float(y[:n].min()), float(y[:n].max())
    cmap = colormaps["viridis"]
    fig = qs.plot_brain_map(values, cortex3, cmap=cmap, vmin=lo, vmax=hi, shading=False,
                            resolution=300)
    from scipy.spatial import cKDTree

    lut = cmap(np.linspace(0, 1, 256))[:, :3]
    for title, rgb in _panels(fig).items():
        on = _surface(rgb)
        px = rgb[on]
        dist, index = cKDTree(lut).query(px)
        exact = dist < 0.03  # colours of the map (not edge blends)
        value = lo + (hi - lo) * index[exact] / 255
        cols = np.nonzero(on)[1][exact]
        if title.startswith("left"):
            r = np.corrcoef(value, cols)[0, 1]
            expect = -1 if title.endswith("lateral") else 1
            assert r * expect > 0.9, (title, r)
            assert np.ptp(value) > 0.8 * (hi - lo)
        else:
            assert exact.mean() > 0.9
            np.testing.assert_allclose(np.median(value), 0.0, atol=2 * (hi - lo) / 255)
            assert np.percentile(np.abs(value), 95) < 3 * (hi - lo) / 255, title


def test_fsaverage5_is_the_ico5_subdivision():
    """The numbering the maps rely on: fsaverage5's sphere is MNE's ico-5 surface vertex
    for vertex, and its first 642 / 2562 vertices are the ico-3 / ico-4 vertices."""
    from scipy.spatial import cKDTree

    for hemi in ("lh", "rh"):
        rr, tris = _mesh_sphere(hemi)
        unit = rr / np.linalg.norm(rr, axis=1, keepdims=True)
        ico5 = mne.surface._get_ico_surface(5)
        np.testing.assert_allclose(unit, ico5["rr"], atol=2e-4)
        assert {tuple(t) for t in np.sort(tris, 1)} == {tuple(t) for t in
                                                         np.sort(ico5["tris"], 1)}
        for grade, n in ((3, 642), (4, 2562)):
            d, idx = cKDTree(mne.surface._get_ico_surface(grade)["rr"]).query(unit[:n])
            assert d.max() < 2e-4 and np.unique(idx).size == n


def test_nearest_fill_keeps_every_source_value():
    rng = np.random.default_rng(3)
    for n in (162, 642, 2562, 10242):
        values = rng.normal(size=n)
        full = _fill_nearest("lh", np.arange(n), values)
        np.testing.assert_array_equal(full[:n], values)
        assert np.all(np.isfinite(full))
    # every other vertex takes its nearest source on the sphere (brute force)
    rr, _ = _mesh_sphere("rh")
    unit = rr / np.linalg.norm(rr, axis=1, keepdims=True)
    vertno = np.arange(162)
    values = rng.normal(size=162)
    full = _fill_nearest("rh", vertno, values)
    probe = rng.choice(np.arange(162, 10242), 200, replace=False)
    cos = unit[probe] @ unit[vertno].T
    for k, v in enumerate(probe):
        # the value of a source at the smallest distance (edge midpoints of the coarse
        # mesh are equally far from two sources: either is right)
        nearest = np.flatnonzero(cos[k] >= cos[k].max() - 1e-9)
        assert full[v] in values[nearest], v


def test_draws_offline(cortex3, monkeypatch):
    """No network: the surfaces come from nilearn's wheel."""
    import nilearn

    _fsaverage5.cache_clear()

    def refuse(*args, **kwargs):
        raise OSError("network access during plot_brain_map")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fig = qs.plot_brain_map(np.arange(len(cortex3), dtype=float), cortex3, resolution=100)
    assert len(fig.axes) == 5  # four views and the colour bar
    root = nilearn.__file__.rsplit("/", 1)[0]
    assert all(str(p).startswith(root) for k, p in _fsaverage5().items() if k != "description")


def test_nan_drawn_grey_when_allowed(cortex3):
    values = np.ones(len(cortex3))
    values[: len(cortex3) // 2] = np.nan
    fig = qs.plot_brain_map(values, cortex3, cmap="Reds", vmin=0, vmax=1, allow_nan=True,
                            resolution=120)
    p = _panels(fig)
    grey = p["left lateral"][_surface(p["left lateral"])]
    assert np.median(np.ptp(grey, axis=1)) < 0.02  # R = G = B
    red = p["right lateral"][_surface(p["right lateral"])]
    assert np.median(red[:, 0] - red[:, 2]) > 0.25


@pytest.mark.parametrize("call, exc, match", [
    (lambda s: qs.plot_brain_map(np.ones(100)), ValueError, r"100 values.*324 \(ico2\)"),
    (lambda s: qs.plot_brain_map(np.ones(324), s), ValueError, "324 values but the source"),
    (lambda s: qs.plot_brain_map(np.r_[np.nan, np.ones(1283)], s), ValueError,
     "NaN at 1 of 1284 sources.*allow_nan"),
    (lambda s: qs.plot_brain_map(np.r_[np.inf, np.ones(1283)], s), ValueError, "finite"),
    (lambda s: qs.plot_brain_map(np.ones((2, 642))), ValueError, "1-D"),
    (lambda s: qs.plot_brain_map(["a"] * 1284, s), TypeError, "real numbers"),
    (lambda s: qs.plot_brain_map(np.ones(1284), s, views=("sideways",)), ValueError,
     "views='sideways'"),
    (lambda s: qs.plot_brain_map(np.ones(1284), s, hemis=("lh", "lh")), ValueError, "hemis"),
    (lambda s: qs.plot_brain_map(np.ones(1284), s, hemis=("top",)), ValueError, "hemis"),
    (lambda s: qs.plot_brain_map(np.ones(1284), s, surface="flat"), ValueError, "surface"),
    (lambda s: qs.plot_brain_map(np.ones(1284), "ico3"), TypeError, "sources must be"),
    (lambda s: qs.plot_brain_map(xr.DataArray(np.ones((2, 1284)), dims=("array", "source"))),
     ValueError, "1-D along 'source'"),
])
def test_bad_input_is_named(cortex3, call, exc, match):
    with pytest.raises(exc, match=match):
        call(cortex3)


def test_estimate_vertices_are_checked(cortex3):
    lh, rh = (s["vertno"] for s in cortex3.to_mne())
    # a vertex of fsaverage beyond fsaverage5 (an oct-6 source space, say)
    stc = mne.SourceEstimate(np.ones((3, 1)), [np.array([0, 1, 20000]), np.array([], int)],
                             0.0, 1.0, subject="fsaverage")
    with pytest.raises(ValueError, match="vertex 20000 is not an fsaverage5 vertex"):
        qs.plot_brain_map(stc)
    # a vertex of fsaverage5 that the source space does not hold
    stc = mne.SourceEstimate(np.ones((lh.size + 1, 1)), [np.r_[lh, 5000], np.array([], int)],
                             0.0, 1.0, subject="fsaverage")
    with pytest.raises(ValueError, match="lh vertex 5000 .* not in the source space"):
        qs.plot_brain_map(stc, cortex3)
    stc = mne.SourceEstimate(np.ones((lh.size + rh.size, 1)), [lh, rh], 0.0, 1.0,
                             subject="sample")
    with pytest.raises(ValueError, match="subject 'sample'"):
        qs.plot_brain_map(stc)
    stc = mne.SourceEstimate(np.ones((lh.size + rh.size, 3)), [lh, rh], 0.0, 1.0)
    with pytest.raises(ValueError, match="time=9.0 s lies outside"):
        qs.plot_brain_map(stc, time=9.0)
    vol = mne.VolSourceEstimate(np.ones((3, 1)), [np.arange(3)], 0.0, 1.0)
    with pytest.raises(TypeError, match="surface mne.SourceEstimate"):
        qs.plot_brain_map(vol)


def test_estimate_time_and_subset_of_sources(cortex3):
    """A SourceEstimate on part of the source space draws, at the asked time."""
    lh, rh = (s["vertno"] for s in cortex3.to_mne())
    data = np.zeros((lh.size // 2 + rh.size, 3))
    data[:, 2] = 1.0
    stc = mne.SourceEstimate(data, [lh[::2], rh], tmin=0.0, tstep=0.1, subject="fsaverage")
    fig = qs.plot_brain_map(stc, cortex3, time=0.2, resolution=80, title="late")
    assert fig._suptitle.get_text() == "late (t = 200.0 ms)"
    fig = qs.plot_brain_map(stc, resolution=80)  # default: the peak time
    assert "t = 200.0 ms" in fig._suptitle.get_text()
