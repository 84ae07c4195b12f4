"""inverse.signal_power: Iivanainen et al. 2017's comparison (issue 14, must-show 3).

* the signal power agrees with MNE's own forward (``mne.make_forward_solution``) on the
  same sphere model to 1e-6, and on the same BEM (heavy);
* the on-scalp / SQUID power ratio grows as the on-scalp sensors come closer (physics);
* the primary-current field matches the closed form where it must (radial sensors on a
  sphere see no volume currents);
* the table's layout (row dimension, units, NetCDF round trip) and bad inputs.
"""

import mne
import numpy as np
import pytest
import xarray as xr

import qsense as qs
from inverse import signal_power as sp

TOL = 1e-6


def _mne_normal_gain(array, head, src, conductor=None):
    """Gain of dipoles along the cortical normal from mne.make_forward_solution."""
    if conductor is None:
        conductor = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None,
                                          verbose=False)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    fwd = mne.make_forward_solution(array.to_info(), trans, src.to_mne(), conductor,
                                    eeg=False, verbose=False)
    np.testing.assert_allclose(fwd["source_rr"], src.positions, atol=1e-9)
    free = fwd["sol"]["data"].reshape(fwd["nchan"], -1, 3)
    return np.einsum("csk,sk->cs", free, src.normals)


def _arrays(head, standoff=0.0045):
    arr = sp._arrays(head, 102, standoff, "point", qs.arrays.DEFAULT_HELMET_GAP)
    squid = arr["SQUID"]
    arr["SQUID mag"] = squid.pick(~squid.is_gradiometer)
    return arr


@pytest.fixture(scope="module")
def cortex2(fsaverage_sphere):
    return qs.sources.cortex(fsaverage_sphere, "ico2")


@pytest.fixture(scope="module")
def table(fsaverage_sphere, cortex2):
    return sp.iivanainen_comparison(fsaverage_sphere, cortex2)


def _row(ds, quantity, arrays, basis_start=""):
    sel = [i for i in range(ds.sizes["row"])
           if ds["quantity"].values[i] == quantity and ds["arrays"].values[i] == arrays
           and str(ds["basis"].values[i]).startswith(basis_start)]
    assert len(sel) == 1, (quantity, arrays, basis_start)
    return ds.isel(row=sel[0])


def test_signal_power_matches_mne_forward_sphere(fsaverage_sphere, cortex2, table):
    head, src = fsaverage_sphere, cortex2
    arrays = _arrays(head)
    ref_power = {}
    for key in ("nOPM", "tOPM", "SQUID mag"):
        gain = _mne_normal_gain(arrays[key], head, src)
        for per_channel in (False, True):
            ours = sp.signal_power(arrays[key], head, src, per_channel=per_channel)
            ref = np.sum(gain**2, axis=0) / (gain.shape[0] if per_channel else 1)
            assert np.max(np.abs(ours / ref - 1)) <= TOL
        ref_power[key] = np.mean(np.sum(gain**2, axis=0))
    # the table's power rows are the ratios of MNE's powers
    n = {"nOPM": 102, "tOPM": 204}
    for key in ("nOPM", "tOPM"):
        total = ref_power[key] / ref_power["SQUID mag"]
        row = _row(table, "signal power", f"{key} / SQUID mag", "total")
        assert abs(float(row["qsense"]) / total - 1) <= TOL
        row = _row(table, "signal power", f"{key} / SQUID mag", "per channel")
        assert abs(float(row["qsense"]) / (total * 102 / n[key]) - 1) <= TOL


@pytest.mark.heavy
def test_signal_power_matches_mne_forward_bem(full, tmp_path_factory):
    """Same on the fsaverage BEM against MNE's BEM forward (ico-3 BEM, ico-2 sources;
    QSENSE_FULL=1: ico-4 BEM, ico-3 sources)."""
    cache = tmp_path_factory.mktemp("bem-cache")
    head = qs.Head.fsaverage(ico=4 if full else 3, cache_dir=cache)
    src = qs.sources.cortex(head, "ico3" if full else "ico2")
    arrays = _arrays(head)
    for key in ("nOPM", "tOPM", "SQUID mag"):
        gain = _mne_normal_gain(arrays[key], head, src, conductor=head.bem.conductor)
        ours = sp.signal_power(arrays[key], head, src)
        assert np.max(np.abs(ours / np.sum(gain**2, axis=0) - 1)) <= TOL


def test_ratio_grows_as_onscalp_distance_shrinks(fsaverage_sphere, cortex2):
    ratios = []
    for standoff in (0.015, 0.008, 0.0045, 0.002):
        ds = sp.iivanainen_comparison(fsaverage_sphere, cortex2, standoff=standoff,
                                      point_spread=False)
        ratios.append([float(_row(ds, "signal power", f"{k} / SQUID mag", "total")["qsense"])
                       for k in ("nOPM", "tOPM")])
    ratios = np.array(ratios)
    assert np.all(np.diff(ratios, axis=0) > 0), ratios
    # closer than the helmet, on-scalp sensors see more than SQUID magnetometers
    assert np.all(ratios[1:] > 1), ratios


def test_primary_field_is_the_radial_field_on_a_sphere(sphere_head):
    """Volume currents in a sphere do not change the radial field (Sarvas 1987): for
    radial point magnetometers on a concentric spherical scalp, the Biot-Savart field
    over the coil points equals the sphere conductor's lead field."""
    head = sphere_head
    arr = qs.arrays.opm_on_scalp(head, 30, "radial", sensor="point", standoff=0.0045)
    ez = arr.orientations
    radial = arr.positions - head.sphere_origin
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    assert np.max(np.abs(np.sum(ez * radial, axis=1) - 1)) < 1e-9  # the premise
    rng = np.random.default_rng(0)
    pos = head.sphere_origin + rng.uniform(-0.05, 0.05, (40, 3))
    nrm = rng.normal(size=(40, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    src = qs.sources.points(pos, head, normals=nrm)
    lf = np.einsum("csk,sk->cs", qs.leadfield(arr, head, src).values, nrm)
    prim = sp._primary_gain(arr, src, chunk=7)  # chunking exercised
    assert np.linalg.norm(prim - lf) / np.linalg.norm(lf) <= 1e-9


def test_table_layout_and_netcdf(table, tmp_path):
    ds = table
    assert ds["qsense"].dims == ("row",)
    assert "method" not in ds.dims
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    for key in ("setup", "differences", "citation"):
        assert ds.attrs[key]
    assert np.all(np.isfinite(ds["qsense"].values))
    pub = ds["published"].values
    np.testing.assert_allclose(ds["ratio"].values[np.isfinite(pub)],
                               (ds["qsense"].values / pub)[np.isfinite(pub)])
    assert set(pub[np.isfinite(pub)]) <= set(sp.PUBLISHED.values())
    assert _row(ds, "signal power", "nOPM / SQUID mag", "total")["published"] == 7.5
    assert "4.5 mm" in str(ds["setup"].values[0])
    path = tmp_path / "iivanainen.nc"
    ds.to_netcdf(path)
    back = xr.load_dataset(path)
    xr.testing.assert_identical(back, ds)
    text = sp.format_table(ds)
    assert "nOPM / SQUID mag" in text and "7.50" in text and "differences:" in text


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(standoff=4.5), ValueError, "millimetres"),
    (dict(standoff=0.0), ValueError, "standoff"),
    (dict(standoff=float("nan")), ValueError, "standoff"),
    (dict(helmet_gap=-0.01), ValueError, "helmet_gap"),
    (dict(n_sites=2), ValueError, "n_sites"),
    (dict(lambda2=0.0), ValueError, "lambda2"),
    (dict(point_spread="yes"), TypeError, "point_spread"),
    (dict(sensor="squid"), ValueError, "sensor"),
])
def test_bad_options(fsaverage_sphere, cortex2, kwargs, error, match):
    with pytest.raises(error, match=match):
        sp.iivanainen_comparison(fsaverage_sphere, cortex2, **kwargs)


def test_bad_heads_and_sources(fsaverage_sphere, sphere_head, cortex2):
    with pytest.raises(TypeError, match="head"):
        sp.iivanainen_comparison("fsaverage", cortex2)
    vol = qs.sources.volume(sphere_head, spacing=0.03)
    with pytest.raises(ValueError, match="cortical"):
        sp.iivanainen_comparison(sphere_head, vol)
    with pytest.raises(TypeError, match="sources"):
        sp.iivanainen_comparison(fsaverage_sphere, cortex2.positions)
    squid = qs.arrays.neuromag306(fsaverage_sphere)
    with pytest.raises(ValueError, match="magnetometers only"):
        sp.signal_power(squid, fsaverage_sphere, cortex2)
    with pytest.raises(TypeError, match="per_channel"):
        sp.signal_power(squid.pick(~squid.is_gradiometer), fsaverage_sphere, cortex2,
                        per_channel=1)
    with pytest.raises(ValueError, match="iivanainen_comparison"):
        sp.format_table(xr.Dataset({"x": ("row", [1.0])}))
    with pytest.raises(TypeError, match="ds"):
        sp.format_table({"qsense": 1})


def test_example_prints_and_stores_the_table(fsaverage_sphere, table, monkeypatch, tmp_path,
                                             capsys):
    """examples/iivanainen2017.py prints and stores the table (on the fitted-sphere head;
    the comparison itself is the module fixture's, computed and checked above)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "iivanainen2017.py"
    spec = importlib.util.spec_from_file_location("iivanainen2017", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod.qs.Head, "fsaverage", classmethod(lambda cls: fsaverage_sphere))
    seen = []
    monkeypatch.setattr(mod, "iivanainen_comparison",
                        lambda head, src: seen.append((head, len(src))) or table)
    out = tmp_path / "iivanainen2017.nc"
    ds = mod.main("ico2", out)
    text = capsys.readouterr().out
    assert "signal power" in text and "point-spread spread" in text and "setup:" in text
    assert seen == [(fsaverage_sphere, 324)]
    xr.testing.assert_identical(xr.load_dataset(out), ds)
