"""The comparison study: each metric equals the one computed directly, by an independent
route where there is one (MNE's ad-hoc covariance for the inverse, the lead field for the
SNR), and `qsense compare` writes a NetCDF file and a report."""

import dataclasses
import io
import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import mne
import numpy as np
import pytest
import xarray as xr

import qsense as qs
from inverse import dipole_localisation_bound, peak_localisation_error, total_information
from inverse.study import Stages, compare, plan, select_source
from qsense.cli import main

BW = 4.0  # Hz
ARRAYS = ("opm", "neuromag306")
NOISY = dict(n_probes=2, n_trials=(4, 16), n_realisations=2, seed=3)  # small: a test size
COREG = 0.004  # m


@pytest.fixture(scope="module")
def study(fsaverage_sphere):
    """The study on the fitted-sphere head, its progress written to a string."""
    noisy = {k: v for k, v in NOISY.items() if k != "seed"}
    steps = plan(spacing="ico2", arrays=ARRAYS, n_opm=16, head=fsaverage_sphere, **noisy)
    text = io.StringIO()
    with Stages(steps, enabled=True, file=text) as stages:
        ds = compare(spacing="ico2", arrays=ARRAYS, n_opm=16, bandwidth=BW,
                     head=fsaverage_sphere, progress=stages, coreg_error=COREG, **NOISY)
    return SimpleNamespace(head=fsaverage_sphere, ds=ds, stages=stages,
                           progress=text.getvalue(),
                           src=qs.sources.cortex(fsaverage_sphere, "ico2"))


def test_metrics_match_direct_computation(study):
    head, src, ds = study.head, study.src, study.ds
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
            ds["ple"].sel(array="neuromag306", solver=method), ple, atol=1e-12)
    # CRB on the head's conductor (here the sphere): NaN where the normal is within 3
    # degrees of radial (silent) or where the bound does not hold (not localisable)
    out = src.positions - head.sphere_origin
    cosr = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
    silent = cosr >= np.cos(np.deg2rad(3.0))
    crb = ds["crb"].sel(array="neuromag306").values
    bound = dipole_localisation_bound(squid, head, src.positions[~silent],
                                      20e-9 * src.normals[~silent], bandwidth=BW)
    assert not np.any(ds["localisable"].sel(array="neuromag306").values[silent])
    np.testing.assert_array_equal(ds["localisable"].sel(array="neuromag306").values[~silent],
                                  bound["localisable"].values)
    np.testing.assert_array_equal(np.isnan(crb[~silent]), ~bound["localisable"].values)
    # the study pads the coils to shared sizes (zero weights): the same sums, in another
    # order and with the Fisher information rescaled from unit noise
    np.testing.assert_allclose(crb[~silent], bound["rms_localisable"], rtol=1e-9)
    assert np.all(np.isnan(crb[silent])) and bound["localisable"].values.mean() > 0.5


def test_noisy_localisation_is_localise_on_recordings_on_the_probes(study):
    """The study's recordings part is inverse.localise_on_recordings (itself checked
    against an MNE-only re-run in test_recordings) on the probes, each array in its
    typical room, and its bound at the probes is the head's Cramer-Rao bound."""
    from inverse.coregistration import coregistration_error, misregistered
    from inverse.recordings import localise_on_recordings, percentiles
    from inverse.rejection import TYPICAL_ROOM, interference_rejection
    from inverse.study import probe_sources

    head, src, ds = study.head, study.src, study.ds
    probes = probe_sources(src, head, NOISY["n_probes"])
    np.testing.assert_array_equal(ds["probe"].values, probes)
    assert ds["probe_hemisphere"].values.tolist() == ["lh", "rh"]
    assert ds["probe_superficial"].values.all()  # the shallowest of each hemisphere
    arrays = {"opm": qs.arrays.opm_on_scalp(head, 16, "radial"),
              "neuromag306": qs.arrays.neuromag306(head)}
    envs = {n: TYPICAL_ROOM[a.head_mounted] for n, a in arrays.items()}
    rooms = {}
    for n, room in envs.items():  # at 300 Hz: the power line's harmonics below 150 Hz
        env = qs.Environment.preset(room)
        line = env.power_line
        keep = [k for k, h in enumerate(line.harmonics) if h * line.frequency < 150.0]
        rooms[n] = env.replace(power_line=dataclasses.replace(
            line, harmonics=tuple(line.harmonics[k] for k in keep),
            amplitudes=tuple(line.amplitudes[k] for k in keep)))
    # analysed 4 mm rms (over the sensors) away from where the sensors were
    coreg = {n: coregistration_error(a, COREG, seed=NOISY["seed"], name=n)
             for n, a in arrays.items()}
    for n, a in arrays.items():
        moved = misregistered(a, coreg[n])
        rms = np.sqrt(np.mean(np.sum((moved.positions - a.positions) ** 2, axis=1)))
        assert rms == pytest.approx(COREG, rel=1e-6)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # as the study's worker runs
        ref = localise_on_recordings(arrays, head, src, probes, n_trials=NOISY["n_trials"],
                                     n_realisations=NOISY["n_realisations"],
                                     amplitude=20e-9,
                                     solvers=("MNE", "dSPM", "sLORETA", "LCMV", "dipole"),
                                     environments=rooms, seed=NOISY["seed"], h_freq=40.0,
                                     sfreq=300.0, cov_method="ledoit_wolf",
                                     dipole_conductor="sphere", coregistration=coreg)
    assert json.loads(ref.attrs["settings"])["coregistration_rms_m"] == pytest.approx(
        {n: COREG for n in arrays}, rel=1e-6)
    linear = ["MNE", "dSPM", "sLORETA", "LCMV"]
    for name in ("error", "dispersion", "correlation", "snr", "lambda2"):
        if "solver" not in ref[name].dims:
            np.testing.assert_array_equal(ds[f"rec_{name}"].values, ref[name].values)
            continue
        np.testing.assert_array_equal(ds[f"rec_{name}"].sel(solver=linear).values,
                                      ref[name].sel(solver=linear).values)
    # the dipole fit is an iterative search that stops at MNE's tolerance: in another
    # process the same arithmetic in another order may end it elsewhere within it
    np.testing.assert_allclose(ds["rec_error"].sel(solver="dipole"),
                               ref["error"].sel(solver="dipole"), rtol=0, atol=2e-4)
    np.testing.assert_allclose(ds["rec_correlation"].sel(solver="dipole"),
                               ref["correlation"].sel(solver="dipole"), rtol=0, atol=1e-3)
    assert "eLORETA" not in ds["solver"].values  # not asked for (the default's choice)
    np.testing.assert_array_equal(ds["rec_seed"].values, ref["seed"].values)
    # the percentiles of the study's errors are those of the direct call
    pct = percentiles(ds.rename({f"rec_{m}": m for m in ("error", "dispersion",
                                                         "correlation")}))
    np.testing.assert_allclose(pct["error"].values, percentiles(ref)["error"].values,
                               rtol=0, atol=2e-4)
    # the bound at the probes: white floors over the averaged evoked's bandwidth
    n = NOISY["n_trials"][-1]
    b = dipole_localisation_bound(arrays["neuromag306"], head, src.positions[probes],
                                  20e-9 * ref["probe_orientation"].values,
                                  bandwidth=45.0 / n)
    np.testing.assert_allclose(ds["rec_crb"].sel(array="neuromag306", n_trials=n), b["rms"],
                               rtol=1e-10)
    # HFC / SSS on each array's room, at the first probe
    rej = interference_rejection(arrays, head, src, int(probes[0]), environments=envs,
                                 duration=2.0, amplitude=20e-9, seed=NOISY["seed"])
    np.testing.assert_array_equal(ds["rejection_shielding_factor"].values,
                                  rej["shielding_factor"].values)
    np.testing.assert_array_equal(ds["rejection_signal_loss"].values,
                                  rej["signal_loss"].values)


def test_dataset_is_self_describing_and_round_trips(study, tmp_path):
    """Every variable and coordinate has units and a long name; NetCDF keeps it all."""
    ds = study.ds
    assert {k: v for k, v in ds.sizes.items() if not k.startswith(("curve_", "iivanainen"))} \
        == {"array": 2, "solver": 5, "source": len(study.src), "row": 4,
                              "col": 4, "probe": 2, "n_trials": 2, "realisation": 2,
                              "component": 3}
    np.testing.assert_array_equal(ds["dev_head_t"].sel(array="neuromag306"),
                                  qs.arrays.neuromag306(study.head).dev_head_t)
    for name, var in ds.variables.items():
        assert isinstance(var.attrs.get("units"), str), name
        assert isinstance(var.attrs.get("long_name"), str) and var.attrs["long_name"], name
        if var.dtype.kind in "fiub" and name not in ("array", "solver"):
            assert var.attrs["units"], f"{name} is a number without units"
    assert ds.attrs["bandwidth_Hz"] == BW
    ds.to_netcdf(tmp_path / "s.nc")
    with xr.open_dataset(tmp_path / "s.nc") as back:
        xr.testing.assert_identical(back.load(), ds)
        assert back["vertex"].dtype.kind == "i" and back["hemisphere"].dtype.kind in "UO"


def test_sel_by_solver_returns_one_solver(study):
    """``solver``, not ``method`` (which ``sel`` takes as its own keyword)."""
    ds = study.ds
    assert "method" not in ds.variables and "method" not in ds.dims
    assert list(ds["solver"].values) == ["MNE", "dSPM", "sLORETA", "LCMV", "dipole"]
    assert np.isnan(ds["ple"].sel(solver=["LCMV", "dipole"])).all()  # noisy view only
    one = ds.sel(solver="dSPM")
    assert "solver" not in one["ple"].dims and one["solver"].item() == "dSPM"
    np.testing.assert_array_equal(one["ple"], ds["ple"].values[:, 1])
    assert ds["ple"].sel(array="opm", solver="sLORETA").dims == ("source",)


def test_sources_carry_the_hemisphere_vertex_and_position_of_mne_s_source_spaces(study):
    """Against ``to_mne()`` and MNE's own fsaverage head<->MRI transform."""
    ds, head = study.ds, study.head
    spaces = qs.sources.cortex(head, "ico2").to_mne()
    trans = mne.read_trans(Path(mne.__file__).parent / "data" / "fsaverage"
                           / "fsaverage-trans.fif")  # head -> MRI
    mri_head = mne.transforms.invert_transform(trans)["trans"]
    ids = {"lh": mne.io.constants.FIFF.FIFFV_MNE_SURF_LEFT_HEMI,
           "rh": mne.io.constants.FIFF.FIFFV_MNE_SURF_RIGHT_HEMI}
    start = 0
    for space, hemi in zip(spaces, ("lh", "rh"), strict=True):
        assert space["id"] == ids[hemi]
        n = len(space["vertno"])
        part = ds.isel(source=slice(start, start + n))
        assert set(part["hemisphere"].values) == {hemi}
        np.testing.assert_array_equal(part["vertex"].values, space["vertno"])
        rr = mne.transforms.apply_trans(mri_head, space["rr"][space["vertno"]])
        # the stored rotation is float32, 2.6e-7 from orthogonal; qsense uses the nearest
        # rotation (elements within 1.3e-7), which moves points < 0.2 m by < 1e-7 m
        np.testing.assert_allclose(np.stack([part[k].values for k in "xyz"], 1), rr,
                                   rtol=0, atol=1e-7)
        start += n
    assert start == ds.sizes["source"]
    # the vertices make an MNE source estimate as they are
    lh, rh = (ds["vertex"].values[ds["hemisphere"].values == h] for h in ("lh", "rh"))
    stc = mne.SourceEstimate(ds["snr"].sel(array="opm").values[:, None], [lh, rh], 0, 1,
                             subject="fsaverage")
    assert stc.data.shape == (ds.sizes["source"], 1)


def test_select_source_by_hemisphere_and_vertex(study):
    ds = study.ds
    rng = np.random.default_rng(13)
    for i in rng.choice(ds.sizes["source"], 5, replace=False):
        hemi, vert = str(ds["hemisphere"].values[i]), int(ds["vertex"].values[i])
        one = select_source(ds, hemi, vert)
        xr.testing.assert_identical(one, ds.isel(source=i))
        where = ds.where((ds.hemisphere == hemi) & (ds.vertex == vert), drop=True)
        np.testing.assert_array_equal(where["snr"].values[:, 0], one["snr"].values)
    both = select_source(ds["snr"], "rh", [5, 0])
    assert list(both["vertex"].values) == [5, 0] and set(both["hemisphere"].values) == {"rh"}
    for args, match in [(("left", 0), "hemisphere"), (("lh", 10241), "vertex 10241"),
                        (("lh", 1.5), "vertex"), (("lh", []), "vertex"),
                        (("lh", True), "vertex")]:
        with pytest.raises(ValueError, match=match):
            select_source(ds, *args)
    with pytest.raises(ValueError, match="hemisphere"):
        select_source(ds.drop_vars("hemisphere"), "lh", 0)


def test_noise_floors_are_numbers_with_units_per_sensor_type(study):
    ds = study.ds
    assert ds["noise_floor_mag"].attrs["units"] == "T/sqrt(Hz)"
    assert ds["noise_floor_grad"].attrs["units"] == "T/(m sqrt(Hz))"
    # Neuromag 306 presets: 3.5 fT/sqrt(Hz) magnetometers, 3 fT/(cm sqrt(Hz)) gradiometers
    # (the floors of the ad-hoc covariance in test_metrics_match_direct_computation)
    assert float(ds["noise_floor_mag"].sel(array="neuromag306")) == pytest.approx(3.5e-15)
    assert float(ds["noise_floor_grad"].sel(array="neuromag306")) == pytest.approx(3e-13)
    opm = qs.arrays.opm_on_scalp(study.head, 16, "radial")
    assert float(ds["noise_floor_mag"].sel(array="opm")) == pytest.approx(float(opm.noise[0]))
    assert np.isnan(float(ds["noise_floor_grad"].sel(array="opm")))


def test_progress_names_every_stage(study):
    text = study.progress
    for key, label, _ in study.stages.plan:
        assert label in text, label
        assert study.stages.durations[key] >= 0
    assert "lead field: Neuromag 306" in text and "seating the helmets" in text
    assert "100%" in text and "left" in text


def test_stages_plan_and_checks():
    steps = [("a", "first", 0.02), ("b", "second", 0.0)]
    quiet = Stages(steps, enabled=False)
    with quiet.stage("a"):
        time.sleep(0.01)
    quiet.close()
    assert quiet.durations["a"] >= 0.01 and "b" not in quiet.durations
    text = io.StringIO()
    with pytest.raises(RuntimeError, match="boom"), Stages(steps, file=text) as bar:
        with bar.stage("a", "first, relabelled"):
            raise RuntimeError("boom")
    assert "first, relabelled" in text.getvalue() and "stopped" in text.getvalue()
    for bad, match in [([("a", "x", 1), ("a", "y", 1)], "distinct"),
                       ([("a", "x", -1)], ">= 0")]:
        with pytest.raises(ValueError, match=match):
            Stages(bad, enabled=False)
    with pytest.raises(ValueError, match="not in the plan"), quiet.stage("c"):
        pass
    with pytest.raises(TypeError, match="progress"):
        compare(spacing="ico2", arrays=("opm",), progress="yes")


def test_plan_counts_the_first_run():
    """A BEM in the cache is loaded, else built; the helmets are one stage."""
    keys = [k for k, _, _ in plan(spacing="ico2", bem_ico=3)]
    assert keys[:4] == ["bem", "sources", "helmets", "lead field opm"]  # the worker needs
    assert keys[-5:] == ["bounds", "rejection", "curves", "iivanainen", "recordings"]
    keys = [k for k, _, _ in plan(spacing="ico2", bem_ico=3, recordings=False)]  # them all
    assert keys[:3] == ["bem", "sources", "lead field opm"] and "helmets" in keys
    keys = [k for k, _, _ in plan(arrays=("opm",), recordings=False, rejection=False,
                                  curves="none", iivanainen=False)]
    assert keys[-1] == "bounds"
    assert [k for k, _, _ in plan(arrays=("opm",), head=object())][0] == "sources"


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
    (dict(arrays=("opm",), opm_sensor="quspin_gen9"), "opm_sensor"),
    (dict(arrays=("opm",), opm_sensor=["quspin_gen2"]), "opm_sensor"),
    (dict(arrays="opm"), "arrays"),
    (dict(bem_ico=2), "bem_ico"),
    (dict(bem_ico=True), "bem_ico"),
    (dict(n_probes=0), "n_probes"),
    (dict(n_probes=65), "n_probes"),
    (dict(n_trials=0), "n_trials"),
    (dict(n_trials=()), "n_trials"),
    (dict(n_trials=(4, 4)), "n_trials"),
    (dict(n_realisations=0), "n_realisations"),
    (dict(solvers=("dSPM", "beamformer")), "solvers"),
    (dict(solvers=()), "solvers"),
    (dict(rooms="cellar"), "rooms"),
    (dict(rooms="none"), "rejection"),
    (dict(seed=-1), "seed"),
    (dict(curves="some"), "curves"),
    (dict(coreg_error=0.05), "coreg_error"),
    (dict(coreg_error=-0.001), "coreg_error"),
    (dict(dipole_conductor="bem"), "dipole_conductor"),
    (dict(workers=2), "workers"),
])
def test_bad_arguments(fsaverage_sphere, kwargs, match):
    args = dict(spacing="ico2", arrays=("nv",), n_opm=8, head=fsaverage_sphere)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        compare(**args)


def test_needs_the_fsaverage_head(sphere_head, fsaverage_sphere):
    with pytest.raises(ValueError, match="fsaverage"):
        compare(spacing="ico2", arrays=("opm",), head=sphere_head)
    with pytest.raises(ValueError, match="bem_ico or head"):
        compare(spacing="ico2", arrays=("opm",), head=fsaverage_sphere, bem_ico=3)


def test_qsense_compare_writes_netcdf_and_report(tmp_path, capsys):
    """The main job through the real entry point (quick form, realistic BEM head)."""
    out = tmp_path / "run"
    assert main(["compare", "--quick", "--arrays", "opm,nv,neuromag306",
                 "--recordings", "--n-probes", "2", "--n-trials", "16", "--rejection",
                 "--curves", "quick", "--iivanainen",
                 "--output-dir", str(out), "--progress"]) == 0
    text, err = capsys.readouterr()
    assert "Neuromag 306" in text and "wrote" in text
    for stage in ("ico-3 BEM", "sources and on-scalp arrays", "seating the helmets",
                  "lead field: NV magnetometers", "solvers: Neuromag 306", "Cramer-Rao",
                  "simulated recordings", "interference suppression", "curves over",
                  "Iivanainen", "report", "writing compare.nc"):
        assert stage in err, stage
    assert "noisy recordings (2 probes x 1 realisations, 16 trials" in text
    assert sorted(os.listdir(out)) == ["compare.nc", "manifest.json", "report.html"]  # no temp
    ds = xr.load_dataset(out / "compare.nc")
    assert list(ds["array"].values) == ["opm", "nv", "neuromag306"]
    assert ds.attrs["conductor"] == "bem" and ds.sizes["source"] == 324
    assert ds.attrs["bem_ico"] == 3 and ds.sizes["solver"] == 5
    assert np.all(np.isfinite(ds["ple"].sel(solver=["MNE", "dSPM", "sLORETA"])))
    assert np.all(np.isfinite(ds["snr"])) and np.all(np.isfinite(ds["rec_error"]))
    assert ds.sizes["probe"] == 2 and ds["n_trials"].values.tolist() == [16]
    html = (out / "report.html").read_text()
    # 11 figures of the noiseless view, the noisy view's, and the three curves
    assert html.count("data:image/png;base64,") == 15 and "<table>" in html
    for section in ("recordings", "rejection", "curves", "iivanainen"):
        assert f'<section id="{section}">' in html, section
    mask = os.umask(0)
    os.umask(mask)
    for name in ("compare.nc", "report.html"):  # usual permissions, not mkstemp's 0600
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~mask
