"""examples/simulate_evoked.py runs (fewer trials) and both averages stand above the noise."""

import importlib.util
from pathlib import Path


def test_simulate_evoked_example(tmp_path, monkeypatch):
    monkeypatch.setenv("QSENSE_CACHE_DIR", str(tmp_path / "cache"))
    path = Path(__file__).parents[2] / "examples" / "simulate_evoked.py"
    spec = importlib.util.spec_from_file_location("simulate_evoked", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    snr = mod.main(figure=tmp_path / "fig.png", n_trials=20)
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert len(snr) == 2 and all(v > 10 for v in snr.values())
