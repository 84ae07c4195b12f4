"""On-scalp OPMs see several times the signal power of SQUID magnetometers (Iivanainen
et al. 2017 report 7.5x radial, 5.3x tangential; qsense's fsaverage BEM gives 5.5x and
2.0x at ico-4 with its own coverage and standoffs)."""

import importlib.util
from pathlib import Path


def test_opm_signal_power_exceeds_squid():
    path = Path(__file__).parents[2] / "examples" / "opm_vs_squid_signal.py"
    spec = importlib.util.spec_from_file_location("opm_vs_squid_signal", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ratio = mod.main(spacing="ico3")
    # radial on-scalp sensors: several-fold the power of helmet magnetometers
    assert 3.0 < ratio["radial"] < 15.0
    # tangential sensors lose most to volume currents but still beat the helmet
    assert 1.0 < ratio["tangential"] < ratio["radial"]
