"""The comparison study: each metric equals the one computed directly, by an independent
route where there is one (MNE's ad-hoc covariance for the inverse, the lead field for the
SNR), and `qsense compare` writes a NetCDF file and a report."""

import os
import stat

import mne
import numpy as np
import pytest
import xarray as xr

import qsense as qs
from inverse import dipole_localisation_bound, peak_localisation_error, total_information
from inverse.study import compare
from qsense.cli import main

BW = 4.0  # Hz


@pytest.fixture(scope="module")
def study(fsaverage_sphere):
    ds = compare(spacing="ico2", arrays=("opm", "neuromag306"), n_opm=16, bandwidth=BW,
                 head=fsaverage_sphere)
    return fsaverage_sphere, qs.sources.cortex(fsaverage_sphere, "ico2"), ds


def test_metrics_match_direct_computation(study):
    head, src, ds = study
    squid = qs.arrays.neuromag306(head)
    info = squid.to_info()
    # SNR from the lead field by hand
    gain = np.einsum("csk,sk->cs", qs.leadfield(squid, head, src).values, src.normals)
    std = squid.noise * np.sqrt(BW)
    snr = 20e-9 * np.sqrt(np.sum((gain / std[:, None]) ** 2, axis=0))
    np.testing.assert_allclose(ds["snr"].sel(array="neuromag306"), snr, rtol=1e-10)
    # information
    ref = total_information(squid, head, src, source_std=1e-9, bandwidth=BW,
                            orientation="normal")
    assert float(ds["information"].sel(array="neuromag306")) == pytest.approx(
        float(ref["information"]), rel=1e-12)
    # PLE with the inverse built from MNE's own ad-hoc covariance at the same floors
    cov = mne.make_ad_hoc_cov(info, std=dict(mag=3.5e-15 * 2, grad=3e-13 * 2),
                              verbose=False)
    fwd = qs.make_forward(squid, head, src)
    inv = mne.minimum_norm.make_inverse_operator(info, fwd, cov, loose=0.2, depth=0.8,
                                                 verbose=False)
    for method in ("MNE", "dSPM", "sLORETA"):
        ple = peak_localisation_error(fwd, inv, method=method, lambda2=1 / 9)
        np.testing.assert_allclose(
            ds["ple"].sel({"array": "neuromag306", "solver": method}), ple, atol=1e-12)
    # CRB where defined, NaN where the normal is within 3 degrees of radial
    out = src.positions - head.sphere_origin
    cosr = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
    silent = cosr >= np.cos(np.deg2rad(3.0))
    crb = ds["crb"].sel(array="neuromag306").values
    np.testing.assert_array_equal(np.isnan(crb), silent)
    k = np.flatnonzero(~silent)[:5]
    bound = dipole_localisation_bound(squid, head, src.positions[k], 20e-9 * src.normals[k],
                                      bandwidth=BW)
    np.testing.assert_allclose(crb[k], bound["rms"], rtol=1e-10)


def test_dataset_is_self_describing_and_round_trips(study, tmp_path):
    head, src, ds = study
    for name in ("snr", "information", "ple", "crb", "depth", "source_x"):
        assert "units" in ds[name].attrs, name
    assert ds.sizes == {"array": 2, "solver": 3, "source": len(src)}
    assert ds.attrs["bandwidth_Hz"] == BW
    ds.to_netcdf(tmp_path / "s.nc")
    back = xr.load_dataset(tmp_path / "s.nc")
    xr.testing.assert_identical(back, ds)


@pytest.mark.parametrize("kwargs, match", [
    (dict(spacing="ico5"), "spacing"),
    (dict(arrays=("opm", "squid")), "arrays"),
    (dict(arrays=("opm", "opm")), "arrays"),
    (dict(arrays=()), "arrays"),
    (dict(n_opm=4), "n_opm"),
    (dict(n_opm=16.5), "n_opm"),
    (dict(bandwidth=0.0), "bandwidth"),
    (dict(bandwidth=float("nan")), "bandwidth"),
    (dict(moment=20.0), "moment"),
    (dict(lambda2=-1.0), "lambda2"),
    (dict(nv_sensor="nv_dreams"), "nv_sensor"),
])
def test_bad_arguments(fsaverage_sphere, kwargs, match):
    args = dict(spacing="ico2", arrays=("nv",), n_opm=8, head=fsaverage_sphere)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        compare(**args)


def test_needs_the_fsaverage_head(sphere_head):
    with pytest.raises(ValueError, match="fsaverage"):
        compare(spacing="ico2", arrays=("opm",), head=sphere_head)


def test_qsense_compare_writes_netcdf_and_report(tmp_path, capsys):
    """The main job through the real entry point (quick form, realistic BEM head)."""
    out = tmp_path / "run"
    assert main(["compare", "--quick", "--arrays", "opm,nv,neuromag306",
                 "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Neuromag 306" in text and "wrote" in text
    assert sorted(os.listdir(out)) == ["compare.nc", "manifest.json", "report.html"]  # no temp
    ds = xr.load_dataset(out / "compare.nc")
    assert list(ds["array"].values) == ["opm", "nv", "neuromag306"]
    assert ds.attrs["conductor"] == "bem" and ds.sizes["source"] == 324
    assert np.all(np.isfinite(ds["ple"])) and np.all(np.isfinite(ds["snr"]))
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 11 and "<table>" in html
    mask = os.umask(0)
    os.umask(mask)
    for name in ("compare.nc", "report.html"):  # usual permissions, not mkstemp's 0600
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~mask
