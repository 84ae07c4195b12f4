"""The README's summary of the study is the default run's compare.nc, regenerated.

``docs/results/compare.nc`` is the dataset `qsense compare` wrote with every option at
its default; the README's block between the markers is what
``qsense.cli.report.readme.markdown_summary`` makes of it.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from qsense.cli.config import SCHEMAS
from qsense.cli.report._format import sig
from qsense.cli.report.readme import END, START, main, markdown_summary, replace_block

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "docs" / "results" / "compare.nc"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def default_run():
    with xr.open_dataset(DATASET) as ds:
        return ds.load()


def test_the_stored_dataset_is_the_default_run(default_run):
    """Every study option that compare.nc records has the command's default value."""
    ds = default_run
    defaults = {o.key: o.default for o in SCHEMAS["compare"]}
    assert list(ds["array"].values) == list(defaults["arrays"])
    assert ds.attrs["spacing"] == defaults["spacing"]
    assert ds.attrs["bem_ico"] == defaults["bem_ico"]
    assert ds.attrs["n_opm"] == defaults["n_opm"]
    assert ds.attrs["opm_sensor"] == defaults["opm_sensor"]
    assert ds.attrs["nv_sensor"] == defaults["nv_sensor"]
    assert ds.attrs["bandwidth_Hz"] == defaults["bandwidth"]
    assert ds.attrs["moment_Am"] == defaults["moment"]
    assert ds.attrs["lambda2"] == pytest.approx(defaults["lambda2"], rel=1e-15)
    assert ds.attrs["rooms"] == defaults["rooms"] and ds.attrs["seed"] == defaults["seed"]
    assert ds.attrs["curves"] == defaults["curves"]
    assert ds.sizes["probe"] == defaults["n_probes"]
    assert ds.sizes["realisation"] == defaults["n_realisations"]
    assert tuple(ds["n_trials"].values) == tuple(defaults["n_trials"])
    assert set(defaults["solvers"]) <= set(ds["solver"].values)
    assert "rejection_shielding_factor" in ds and "iivanainen_qsense" in ds


def test_readme_block_is_regenerated_from_the_default_run(default_run):
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    block = markdown_summary(default_run)
    assert replace_block(text, block) == text, (
        "README's study summary is stale: run python -m qsense.cli.report.readme "
        "docs/results/compare.nc README.md")
    assert main([str(DATASET), str(README), "--check"]) == 0


def test_the_summary_states_its_assumptions(default_run):
    block = markdown_summary(default_run)
    for needed in ("noise bandwidth", "probe sources", "trials", "noise realisations",
                   "room", "1/f", "nA m", "lambda2 = 1/SNR^2", "HFC", "SSS", "n.l.",
                   "seed"):
        assert needed in block, needed
    # one table row per array, with its numbers
    rows = [ln for ln in block.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == 1 + default_run.sizes["array"]
    # the noisy error cells are the medians of rec_error: check one by hand
    n = int(default_run["n_trials"].values[-1])
    x = default_run["rec_error"].sel(array="neuromag306", solver="dSPM", n_trials=n).values
    assert f"| {sig(np.median(x) * 1e3, 2)} ({sig(np.percentile(x, 90) * 1e3, 2)}) |" in rows[3]


def test_replace_block_needs_the_markers():
    with pytest.raises(ValueError, match="no block"):
        replace_block("no markers here", "x")
    assert replace_block(f"a\n{START}\nold\n{END}\nb", "new\n") == f"a\n{START}\nnew\n{END}\nb"
