"""Localisation on simulated recordings (inverse.recordings).

* The module's errors (and their percentiles) for every solver agree with an
  independent re-run written here from MNE calls alone (MNE's own sphere forward,
  covariance, whitening, inverse, beamformer and dipole fit) on the same FIF recordings.
* Within one array the error shrinks as the trials grow and as the noise floor falls,
  with bootstrap confidence intervals over seeded noise realisations.
* Bad input gives errors naming the argument, before anything is simulated.

Sphere head, 20 mm volume grid, a 20 nAm tangential probe 2 cm below the conductor
boundary under the top of the array, 32 radial Kernel Flux OPMs (first-order low-pass
sensor model, white + 1/f noise).
"""

import json

import mne
import numpy as np
import pytest
import xarray as xr
from scipy.stats import wilcoxon

import qsense as qs
from inverse.recordings import SOLVERS, localise_on_recordings, percentiles, recording_fname

SPACING = 0.02
H_FREQ = 40.0
TMIN, TMAX, LATENCY, WIDTH = -0.2, 0.3, 0.1, 0.02
WINDOW = (LATENCY - 2.5 * WIDTH, LATENCY + 2.5 * WIDTH)


@pytest.fixture(scope="module")
def setup():
    head = qs.Head.sphere()
    src = qs.sources.volume(head, SPACING)
    depth = -head.brain_distance(src.positions)
    # superficial (2 cm) and under the array's top (z above 9 cm)
    probe = int(np.argmin(np.abs(depth - 0.02) + (src.positions[:, 2] < 0.09)))
    array = qs.arrays.opm_on_scalp(head, 32, "radial", sensor="kernel_flux")
    return head, src, probe, array


def _true_orientation(head, position):
    """Head-frame z without its radial part (from the sphere's centre), unit length."""
    r = position - head.sphere_origin
    r /= np.linalg.norm(r)
    ori = np.array([0.0, 0.0, 1.0]) - r[2] * r
    return ori / np.linalg.norm(ori)


_FWD = {}


def _mne_rerun(fname, head, src, probe, n, solvers):
    """MNE calls only: (error m per solver, snr, correlation of MNE's estimate)."""
    raw = mne.io.read_raw_fif(fname, preload=True, verbose=False)
    raw.filter(None, H_FREQ, verbose=False)
    events, _ = mne.events_from_annotations(raw, verbose=False)
    epochs = mne.Epochs(raw, events, tmin=TMIN, tmax=TMAX, baseline=(None, 0),
                        preload=True, verbose=False)[:n]
    cov = mne.compute_covariance(epochs, tmax=0.0, method="shrunk", rank="info",
                                 verbose=False)
    evoked = epochs.average()
    assert evoked.nave == n
    white = mne.cov.whiten_evoked(evoked, cov, rank="info")  # sqrt(nave) C^-1/2 x
    rank = mne.compute_rank(cov, rank="info", info=evoked.info, verbose=False)["mag"]
    sel = (evoked.times >= WINDOW[0] - 1e-9) & (evoked.times <= WINDOW[1] + 1e-9)
    snr = np.sqrt(np.mean(np.sum(white.data[:, sel] ** 2, axis=0) / rank))
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None, verbose=False)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    key = tuple(evoked.ch_names)
    fwd = _FWD.get(key)
    if fwd is None:  # MNE's own forward, once per array
        fwd = _FWD[key] = mne.make_forward_solution(
            evoked.info, trans, src.to_mne(), sphere, eeg=False, verbose=False)
    rr = fwd["source_rr"]
    it = int(np.argmin(np.abs(evoked.times - LATENCY)))
    true = rr[probe]
    err = {}
    inv = mne.minimum_norm.make_inverse_operator(evoked.info, fwd, cov, loose=1.0,
                                                 depth=0.8, rank="info", verbose=False)
    for method in ("MNE", "dSPM", "sLORETA", "eLORETA"):
        if method in solvers:
            stc = mne.minimum_norm.apply_inverse(evoked, inv, 1.0 / snr**2, method,
                                                 verbose=False)  # vector length
            err[method] = np.linalg.norm(rr[np.argmax(stc.data[:, it])] - true)
    if "LCMV" in solvers:
        data_cov = mne.compute_covariance(epochs, tmin=WINDOW[0], tmax=WINDOW[1],
                                          method="shrunk", rank="info", verbose=False)
        filters = mne.beamformer.make_lcmv(evoked.info, fwd, data_cov, reg=0.05,
                                           noise_cov=cov, pick_ori=None,
                                           weight_norm="unit-noise-gain",
                                           reduce_rank=True, rank="info", verbose=False)
        stc = mne.beamformer.apply_lcmv(evoked, filters, verbose=False)
        err["LCMV"] = np.linalg.norm(rr[np.argmax(stc.data[:, it])] - true)
    if "dipole" in solvers:
        t = evoked.times[it]
        dip, _ = mne.fit_dipole(evoked.copy().crop(t, t), cov, sphere, rank="info",
                                verbose=False)
        err["dipole"] = np.linalg.norm(dip.pos[0] - true)
    # MNE's time course at the probe along the true orientation
    vec = mne.minimum_norm.apply_inverse(evoked, inv, 1.0 / snr**2, "MNE",
                                         pick_ori="vector", verbose=False)
    course = _true_orientation(head, true) @ vec.data[probe]
    moment = 20e-9 * np.exp(-0.5 * ((evoked.times - LATENCY) / WIDTH) ** 2)
    corr = np.corrcoef(course, moment)[0, 1]
    return err, snr, corr


# ------------------------------------------------------------------ must-show 1 (a)
def test_agrees_with_mne_rerun(setup, tmp_path):
    """Every solver's error, per realisation and trial count, and its percentiles
    equal an independent MNE re-run on the same recordings, to rounding. Two arrays:
    the preset floor (15 fT/sqrt(Hz)), where the peaks mostly sit on the probe, and
    60 fT/sqrt(Hz), where at 8 trials they mostly do not."""
    head, src, probe, array = setup
    arrays = {"opm": array, "noisy": array.replace(noise=np.full(array.n_channels, 60e-15))}
    n_trials, n_real = (8, 24), 3
    ds = localise_on_recordings(arrays, head, src, [probe], n_trials=n_trials,
                                n_realisations=n_real, amplitude=20e-9, seed=3,
                                recordings_dir=tmp_path)
    assert json.loads(ds.attrs["settings"])["cov_method"] == "shrunk"
    errors = np.empty((len(arrays), len(SOLVERS), len(n_trials), n_real))
    for a, name in enumerate(arrays):
        for r in range(n_real):
            fname = recording_fname(tmp_path, name, probe, r)
            for t, n in enumerate(n_trials):
                err, snr, corr = _mne_rerun(fname, head, src, probe, n, SOLVERS)
                sel = dict(array=name, probe=probe, n_trials=n, realisation=r)
                assert ds.snr.sel(**sel).item() == pytest.approx(snr, rel=1e-9)
                assert ds.correlation.sel(**sel, solver="MNE").item() == pytest.approx(
                    corr, abs=1e-6)
                for s, solver in enumerate(SOLVERS):
                    errors[a, s, t, r] = err[solver]
                    # peaks on the same grid point; the dipole to the fit's tolerance
                    tol = 1e-4 if solver == "dipole" else 1e-9
                    assert ds.error.sel(**sel, solver=solver).item() == pytest.approx(
                        err[solver], abs=tol), (name, solver, n, r)
    assert np.mean(errors[1, :, 0] > 0) > 0.5  # the noisy array's peaks mostly miss
    pc = percentiles(ds, q=(10, 50, 90))
    ref = np.moveaxis(np.percentile(errors, [10, 50, 90], axis=-1), 0, -1)
    ours = pc.error.sel(probe=probe).transpose("array", "solver", "n_trials",
                                               "percentile").values
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)
    det = [SOLVERS.index(s) for s in SOLVERS if s != "dipole"]
    np.testing.assert_allclose(ours[:, det], ref[:, det], rtol=0, atol=1e-9)


# ------------------------------------------------------------------ must-show 1 (b)
# 20 nAm at 120 fT/sqrt(Hz) (white, 1/f corner 3 Hz) and 4 trials is at the noise (the
# whitened SNR is about 1.1); 64 trials or a 20 fT floor localise it. Sampled at 500 Hz
# (the sensors' bandwidth is 150 Hz) to halve the cost.
N_REAL = 12
FLOORS = {"floor_120fT": 120e-15, "floor_20fT": 20e-15}


@pytest.fixture(scope="module")
def trend(setup):
    head, src, probe, array = setup
    arrays = {k: array.replace(noise=np.full(array.n_channels, v)) for k, v in FLOORS.items()}
    return localise_on_recordings(arrays, head, src, [probe], n_trials=(4, 64),
                                  n_realisations=N_REAL, seed=0, sfreq=500.0)


@pytest.fixture(scope="module")
def trend_median(trend):
    return percentiles(trend, q=50, seed=1, n_boot=4000)


def _median_ci(pc, **sel):
    return (pc.error.sel(percentile=50, **sel).item(),
            pc.error_ci.sel(percentile=50, **sel).values.reshape(2))


def _paired_p(worse, better):
    """One-sided Wilcoxon signed-rank p-value that ``worse`` exceeds ``better`` (paired by
    realisation: same seeds)."""
    return wilcoxon(worse, better, alternative="greater").pvalue


@pytest.mark.parametrize("solver", SOLVERS)
def test_error_shrinks_with_trials(trend, trend_median, solver):
    """At 120 fT the median error at 64 trials lies below that at 4 with disjoint 95 %
    bootstrap intervals and a paired test (p < 0.01); at 20 fT it does not grow."""
    few, ci_few = _median_ci(trend_median, array="floor_120fT", solver=solver, n_trials=4)
    many, ci_many = _median_ci(trend_median, array="floor_120fT", solver=solver, n_trials=64)
    assert ci_many[1] < ci_few[0], (ci_few, ci_many)
    e = trend.error.sel(array="floor_120fT", solver=solver).squeeze("probe")
    assert _paired_p(e.sel(n_trials=4).values, e.sel(n_trials=64).values) < 0.01
    few, _ = _median_ci(trend_median, array="floor_20fT", solver=solver, n_trials=4)
    many, _ = _median_ci(trend_median, array="floor_20fT", solver=solver, n_trials=64)
    assert many <= few


@pytest.mark.parametrize("solver", SOLVERS)
def test_error_shrinks_with_noise_floor(trend, trend_median, solver):
    """At 4 trials the 20 fT array's median error lies below the 120 fT array's, with
    disjoint intervals and a paired test (the same seeds: the same noise draws, scaled)."""
    hi, ci_hi = _median_ci(trend_median, array="floor_120fT", solver=solver, n_trials=4)
    lo, ci_lo = _median_ci(trend_median, array="floor_20fT", solver=solver, n_trials=4)
    assert ci_lo[1] < ci_hi[0], (ci_hi, ci_lo)
    e = trend.error.sel(solver=solver, n_trials=4).squeeze("probe")
    assert _paired_p(e.sel(array="floor_120fT").values,
                     e.sel(array="floor_20fT").values) < 0.01


def test_dataset_labels(trend, tmp_path):
    """Units and long names everywhere, no 'method' dimension, NetCDF round trip,
    bootstrap intervals around their percentiles, one seed per probe and realisation."""
    ds = trend
    assert ds.error.dims == ("array", "solver", "probe", "n_trials", "realisation")
    assert "method" not in ds.dims
    pc = percentiles(ds)
    for d in (ds, pc):
        for name, var in {**d.data_vars, **d.coords}.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
    path = tmp_path / "rec.nc"
    ds.to_netcdf(path)
    xr.testing.assert_identical(xr.load_dataset(path), ds)
    # bootstrap intervals contain the percentile
    lo, hi = pc.error_ci.sel(bound="low"), pc.error_ci.sel(bound="high")
    assert bool(((lo <= pc.error + 1e-12) & (pc.error <= hi + 1e-12)).all())
    # paired arrays: the same seed per probe and realisation
    assert ds.seed.dims == ("probe", "realisation")
    assert len(np.unique(ds.seed.values)) == N_REAL


# ------------------------------------------------------------------ options
def test_empty_room_and_room(setup):
    """An empty-room noise covariance and an environment run end to end."""
    head, src, probe, array = setup
    ds = localise_on_recordings({"opm": array}, head, src, [probe], n_trials=16,
                                n_realisations=1, solvers=("MNE", "dipole"),
                                noise_cov="empty_room", empty_room_duration=10.0,
                                environments="opm_two_layer", cov_method="empirical")
    assert np.all(np.isfinite(ds.error.values))
    assert np.all(ds.error.values < 0.03)
    assert json.loads(ds.attrs["settings"])["environments"]["opm"].startswith("opm_two_layer")


def test_forwards_are_used_as_given(setup, monkeypatch):
    """A caller's forward gives the same numbers as the one computed inside, and no
    forward is computed when every array has one."""
    head, src, probe, array = setup
    kw = dict(n_trials=8, n_realisations=1, solvers=("MNE", "LCMV"), seed=5,
              cov_method="empirical", sfreq=500.0)
    ref = localise_on_recordings({"opm": array}, head, src, [probe], **kw)
    fwd = qs.make_forward(array, head, src)

    def no_forward(*args, **kwargs):
        raise AssertionError("make_forward called although a forward was given")

    monkeypatch.setattr(qs, "make_forward", no_forward)
    ds = localise_on_recordings({"opm": array}, head, src, [probe], forwards={"opm": fwd},
                                **kw)
    for v in ("error", "dispersion", "correlation", "snr"):
        np.testing.assert_array_equal(ds[v].values, ref[v].values)


def test_forwards_must_match(setup):
    """A forward of other channels or other sources is refused, naming the array."""
    head, src, probe, array = setup
    small = qs.arrays.opm_on_scalp(head, 8, "radial", sensor="kernel_flux")
    other_src = qs.sources.volume(head, 0.03)
    for fwd, match in ((qs.make_forward(small, head, src), "channels"),
                       (qs.make_forward(array, head, other_src), "source positions")):
        with pytest.raises(ValueError, match=rf"forwards\['opm'\].*{match}"):
            localise_on_recordings({"opm": array}, head, src, [probe],
                                   forwards={"opm": fwd}, n_realisations=1)


def test_dipole_in_fitted_sphere_matches_mne(tmp_path):
    """``dipole_conductor="sphere"`` on a BEM head: the fitted position equals
    ``mne.fit_dipole`` in MNE's single-shell sphere at the head's fitted inner-skull
    sphere, run here on the same FIF recording (to the fit's tolerance)."""
    head = qs.Head.fsaverage(ico=3)
    src = qs.sources.cortex(head, "ico3")
    probe = int(np.argmax(src.positions[:, 2]))
    array = qs.arrays.opm_on_scalp(head, 32, "radial", sensor="kernel_flux")
    n = 16
    ds = localise_on_recordings({"opm": array}, head, src, [probe], n_trials=n,
                                n_realisations=1, solvers=("dipole",), seed=2,
                                cov_method="empirical", sfreq=500.0,
                                dipole_conductor="sphere", recordings_dir=tmp_path)
    settings = json.loads(ds.attrs["settings"])
    assert settings["dipole_conductor"] == "sphere fitted to the inner skull"
    raw = mne.io.read_raw_fif(recording_fname(tmp_path, "opm", probe, 0), preload=True,
                              verbose=False)
    raw.filter(None, H_FREQ, verbose=False)
    events, _ = mne.events_from_annotations(raw, verbose=False)
    epochs = mne.Epochs(raw, events, tmin=TMIN, tmax=TMAX, baseline=(None, 0),
                        preload=True, verbose=False)[:n]
    cov = mne.compute_covariance(epochs, tmax=0.0, method="empirical", rank="info",
                                 verbose=False)
    evoked = epochs.average()
    t = evoked.times[int(np.argmin(np.abs(evoked.times - LATENCY)))]
    sphere = mne.make_sphere_model(r0=head.sphere_origin,
                                   head_radius=head.sphere_radius / 0.9, verbose=False)
    assert sphere["layers"][0]["rad"] == pytest.approx(head.sphere_radius, rel=1e-12)
    dip, _ = mne.fit_dipole(evoked.copy().crop(t, t), cov, sphere, rank="info",
                            verbose=False)
    ours = ds.position.sel(array="opm", solver="dipole").values.reshape(3)
    np.testing.assert_allclose(ours, dip.pos[0], rtol=0, atol=1e-6)
    err = np.linalg.norm(dip.pos[0] - src.positions[probe])
    assert ds.error.item() == pytest.approx(err, abs=1e-9)


def test_empty_room_inverse_made_once(setup, monkeypatch):
    """With an empty-room covariance the inverse operator is made once per recording
    and serves every trial count, with the numbers of one made per trial count."""
    head, src, probe, array = setup
    import inverse.recordings as rec

    kw = dict(n_trials=(8, 16), n_realisations=1, solvers=("MNE", "eLORETA"), seed=4,
              noise_cov="empty_room", empty_room_duration=5.0, cov_method="empirical",
              sfreq=500.0)
    calls = []
    make = mne.minimum_norm.make_inverse_operator

    def counted(*args, **kwargs):
        calls.append(1)
        return make(*args, **kwargs)

    monkeypatch.setattr(mne.minimum_norm, "make_inverse_operator", counted)
    ds = localise_on_recordings({"opm": array}, head, src, [probe], **kw)
    assert len(calls) == 1
    solve = rec._solve
    monkeypatch.setattr(rec, "_solve", lambda *a: solve(*a[:-1], None))  # one per count
    ref = localise_on_recordings({"opm": array}, head, src, [probe], **kw)
    assert len(calls) == 1 + 1 + 2  # the shared one (unused now) and one per count
    for v in ("error", "dispersion", "correlation", "snr"):
        np.testing.assert_array_equal(ds[v].values, ref[v].values)


def test_workers_give_the_same_numbers(setup):
    """n_jobs=2 (two loky workers, each recording whole in one worker from its seed)
    gives the numbers of the serial run."""
    head, src, probe, array = setup
    arrays = {"opm": array, "noisy": array.replace(noise=np.full(array.n_channels, 60e-15))}
    kw = dict(n_trials=(4, 8), n_realisations=2, solvers=("MNE", "eLORETA", "LCMV",
                                                            "dipole"),
              seed=6, cov_method="empirical", sfreq=500.0)
    ref = localise_on_recordings(arrays, head, src, [probe], **kw)
    ds = localise_on_recordings(arrays, head, src, [probe], n_jobs=2, **kw)
    # BLAS thread counts differ between the processes: rounding only
    for v in ("snr", "lambda2", "correlation", "dispersion"):
        np.testing.assert_allclose(ds[v].values, ref[v].values, rtol=1e-9, atol=0)
    det = ds.error.solver != "dipole"
    np.testing.assert_array_equal(ds.error.where(det).values, ref.error.where(det).values)
    np.testing.assert_allclose(ds.error.sel(solver="dipole").values,
                               ref.error.sel(solver="dipole").values, rtol=0, atol=1e-6)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(solvers=("MNE", "beamformer")), ValueError, "solvers"),
    (dict(solvers=()), ValueError, "solvers"),
    (dict(n_trials=(0, 4)), ValueError, "n_trials"),
    (dict(n_trials=-3), ValueError, "n_trials"),
    (dict(n_trials=(4, 4)), ValueError, "n_trials"),
    (dict(probes=()), ValueError, "probes"),
    (dict(probes=(-1,)), ValueError, "probes"),
    (dict(probes=(10**6,)), ValueError, "probes"),
    (dict(n_realisations=0), ValueError, "n_realisations"),
    (dict(arrays={"x": "squid9000"}), ValueError, r"arrays\['x'\]"),
    (dict(arrays={"x": 42}), TypeError, r"arrays\['x'\]"),
    (dict(arrays=["opm", "magnetometer"]), ValueError, "arrays"),
    (dict(arrays={}), ValueError, "arrays"),
    (dict(environments={"nope": None}), ValueError, "environments"),
    (dict(environments="basement"), ValueError, "environment"),
    (dict(cov_method="magic"), ValueError, "cov_method"),
    (dict(noise_cov="template"), ValueError, "noise_cov"),
    (dict(soa=0.4), ValueError, "soa"),
    (dict(amplitude=-1e-9), ValueError, "amplitude"),
    (dict(simulate_kwargs={"seed": 3}), ValueError, "simulate_kwargs"),
    (dict(forwards={"nope": None}), ValueError, "forwards"),
    (dict(forwards=[1]), TypeError, "forwards"),
    (dict(forwards={"opm": 3}), TypeError, r"forwards\['opm'\]"),
    (dict(dipole_conductor="bem"), ValueError, "dipole_conductor"),
    (dict(n_jobs=0), ValueError, "n_jobs"),
])
def test_bad_input(setup, tmp_path, kwargs, exc, match):
    head, src, probe, array = setup
    args = dict(arrays={"opm": array}, probes=[probe], n_realisations=1,
                recordings_dir=tmp_path)
    args.update(kwargs)
    arrays, probes = args.pop("arrays"), args.pop("probes")
    with pytest.raises(exc, match=match):
        localise_on_recordings(arrays, head, src, probes, **args)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_percentiles_bad_input(trend):
    with pytest.raises(ValueError, match="over"):
        percentiles(trend, over="time")
    with pytest.raises(ValueError, match="q"):
        percentiles(trend, q=(50, 120))
