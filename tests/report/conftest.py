"""Fixtures of the report tests: a synthetic study dataset on the real ico-2 cortex (fast,
seeded) and a headless Chromium driven by Selenium."""

import os
import shutil
import tempfile

import numpy as np
import pytest
import xarray as xr

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"
# Chromium as root on a machine without network: no sandbox, nothing fetched
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--disable-dev-shm-usage")


def synthetic_study(head, *, arrays=("opm", "nv"), sweep: dict | None = None,
                    seed: int = 7) -> xr.Dataset:
    """A dataset shaped like ``inverse.study.compare``'s (new names: ``solver``, source
    coordinates ``hemisphere``, ``vertex``, ``x``, ``y``, ``z``), on the real ico-2 cortex,
    with seeded random metrics; ``sweep`` adds dimensions {name: (values, units)} to every
    metric (scaled so the curves differ)."""
    import qsense as qs

    rng = np.random.default_rng(seed)
    src = qs.sources.cortex(head, "ico2")
    n, n_arr = len(src), len(arrays)
    per = n // 2
    solvers = ["MNE", "dSPM", "sLORETA"]
    sup = np.isin(np.arange(n), qs.sources.superficial_tangential(src, head))
    coords = {
        "array": ("array", list(arrays), {"long_name": "sensor array"}),
        "array_label": ("array", [f"array {a}" for a in arrays], {"long_name": "label"}),
        "n_channels": ("array", np.full(n_arr, 16), {"units": "1", "long_name": "channels"}),
        "noise_floor": ("array", np.linspace(15e-15, 30e-15, n_arr),
                        {"units": "T/sqrt(Hz)", "long_name": "white noise floor"}),
        "solver": ("solver", solvers, {"long_name": "minimum-norm solver"}),
        "source": ("source", np.arange(n), {"long_name": "source index"}),
        "hemisphere": ("source", np.repeat(["lh", "rh"], per), {"long_name": "hemisphere"}),
        "vertex": ("source", np.tile(np.arange(per), 2), {"long_name": "fsaverage vertex"}),
        "depth": ("source", -head.brain_distance(src.positions), {"units": "m",
                                                                  "long_name": "depth"}),
        "superficial": ("source", sup, {"long_name": "superficial tangential"}),
    }
    for k, axis in enumerate("xyz"):
        coords[axis] = ("source", src.positions[:, k], {"units": "m", "long_name": axis})
    snr = rng.lognormal(2.0, 1.0, (n_arr, n))
    ple = rng.uniform(0.0, 0.04, (n_arr, 3, n))
    crb = rng.lognormal(np.log(2e-3), 1.5, (n_arr, n))
    crb[:, :5] = np.nan  # silent sources
    data = {
        "snr": (("array", "source"), snr, {"units": "1", "long_name": "SNR"}),
        "information": (("array",), rng.uniform(10, 200, n_arr), {"units": "bit",
                                                                  "long_name": "information"}),
        "ple": (("array", "solver", "source"), ple, {"units": "m", "long_name": "PLE"}),
        "crb": (("array", "source"), crb, {"units": "m", "long_name": "CRB"}),
    }
    ds = xr.Dataset(data, coords=coords, attrs={
        "title": "synthetic study", "head": head.name, "conductor": head.conductor.name,
        "spacing": "ico2", "bandwidth_Hz": 1.0, "moment_Am": 20e-9, "lambda2": 1 / 9,
        "opm_sensor": "quspin_gen2", "nv_sensor": "nv_flux_concentrator", "n_opm": 16})
    for dim, (values, units) in (sweep or {}).items():
        scale = xr.DataArray(np.asarray(values, float) / values[0], dims=dim)
        for var in ("snr", "information", "crb"):
            ds[var] = (ds[var] * scale).assign_attrs(ds[var].attrs)
        ds = ds.assign_coords({dim: (dim, list(values), {"units": units, "long_name": dim})})
    return ds


@pytest.fixture(scope="session")
def small_study(fsaverage_sphere):
    return synthetic_study(fsaverage_sphere)


def _browser_paths():
    """Chromium and chromedriver: QSENSE_CHROMIUM / QSENSE_CHROMEDRIVER where set, else
    Debian's paths (apt-get install chromium chromium-driver) or the PATH."""
    binary = os.environ.get("QSENSE_CHROMIUM") or next(
        (p for p in CHROMIUM if os.path.exists(p)), None)
    driver = os.environ.get("QSENSE_CHROMEDRIVER") or (
        CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver"))
    binary = binary if binary and os.path.exists(binary) else None
    driver = driver if driver and os.path.exists(driver) else None
    return binary, driver


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Selenium) with the browser console log captured. Without a
    browser the test is skipped, except under CI (CI=true), where it fails."""
    binary, driver = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    missing = ("selenium" if webdriver is None else
               "chromium" if binary is None else "chromedriver" if driver is None else None)
    if missing:
        msg = (f"{missing} is not installed (apt-get install chromium chromium-driver; "
               "pip install selenium)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"under CI the browser test must run: {msg}")
        pytest.skip(msg)
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    profile = tempfile.mkdtemp(prefix="qsense-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


REAL_ARRAYS = ("opm", "nv", "neuromag306")


@pytest.fixture(scope="session")
def real_report(fsaverage_sphere, tmp_path_factory):
    """A small real study (ico2 cortex, 16 on-scalp sensors, a Neuromag helmet; the
    fitted-sphere head) and its report, written as ``qsense compare`` writes it."""
    import mne

    from inverse.study import compare
    from qsense.cli.report import write_report

    with mne.utils.use_log_level("ERROR"):
        ds = compare(spacing="ico2", arrays=REAL_ARRAYS, n_opm=16, head=fsaverage_sphere,
                     n_probes=2, n_trials=(4, 16), n_realisations=1)  # every view, small
    ds = ds.assign_attrs(run_id="test-run-1")
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(ds, path, head=fsaverage_sphere,
                 command=["qsense", "compare", "--spacing", "ico2", "--n-opm", "16"],
                 config={"spacing": "ico2", "n_opm": 16, "lambda2": 1 / 9})
    return ds, path
