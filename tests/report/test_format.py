"""The report's numbers and words: SI values in the units people read, settings as they
were meant, the dataset's structure."""

import math

import numpy as np
import pytest
import xarray as xr

from qsense.cli.report import _format as fmt


@pytest.mark.parametrize("x, digits, strip, text", [
    (0.1111111111111111, 3, False, "0.111"),
    (12345.6, 3, False, "12,300"),
    (41.4213, 3, False, "41.4"),
    (20.0, 3, False, "20.0"),
    (20.0, 3, True, "20"),
    (0.000123, 2, False, "1.2 × 10^-4"),
    (2.5e7, 2, True, "2.5 × 10^7"),
    (0.0, 3, False, "0"),
    (math.nan, 3, False, "–"),
    (-0.0456, 2, False, "-0.046"),
])
def test_significant_digits(x, digits, strip, text):
    assert fmt.sig(x, digits, strip) == text


@pytest.mark.parametrize("key, value, text", [
    ("lambda2", 1 / 9, "1/9"),
    ("lambda2", 0.25, "1/4"),
    ("lambda2", 0.3, "0.3"),
    ("moment_Am", 20e-9, "20 nA m"),
    ("bandwidth_Hz", 1.0, "1 Hz"),
    ("standoff_m", 0.0065, "6.5 mm"),
    ("n_opm", 64, "64"),
    ("arrays", ["opm", "nv"], "opm, nv"),
    ("quick", True, "yes"),
])
def test_settings_read_as_written(key, value, text):
    assert fmt.setting(key, value) == text


def test_quantities_in_display_units():
    assert fmt.quantity(1.5e-14, "T/sqrt(Hz)") == "15 fT/√Hz"
    assert fmt.quantity(3e-13, "T/(m sqrt(Hz))") == "3 fT/(cm √Hz)"
    assert fmt.quantity(0.0123, "m") == "12.3 mm"
    assert fmt.quantity(7.0, "1") == "7"


def test_noise_floors_per_sensor_type():
    """Numeric floors with units, one variable per sensor type or one along a sensor-type
    dimension; NaN (a type the array lacks) left out; legacy strings shown as they are."""
    per_type = xr.Dataset(coords={
        "array": ["opm", "neuromag306"],
        "noise_floor_mag": ("array", [15e-15, 3.5e-15], {"units": "T/sqrt(Hz)"}),
        "noise_floor_grad": ("array", [np.nan, 3e-13], {"units": "T/(m sqrt(Hz))"}),
    })
    assert fmt.floors(per_type, 0) == "mag: 15 fT/√Hz"
    assert fmt.floors(per_type, 1) == "grad: 3 fT/(cm √Hz); mag: 3.5 fT/√Hz"
    along = xr.Dataset(coords={
        "array": ["opm", "ctf275"], "sensor_type": ["mag", "axial"],
        "noise_floor": (("array", "sensor_type"), [[15e-15, np.nan], [np.nan, 5e-15]],
                        {"units": "T/sqrt(Hz)"})})
    assert fmt.floors(along, 0) == "mag: 15 fT/√Hz"
    assert fmt.floors(along, 1) == "axial: 5 fT/√Hz"
    legacy = xr.Dataset(coords={"array": ["opm"], "noise_floor": (
        "array", ["1.5e-14"], {"units": "T/sqrt(Hz)"})})
    assert fmt.floors(legacy, 0) == "1.5e-14 T/sqrt(Hz)"


def test_sweep_dimensions_are_the_metrics_extra_dims(small_study):
    assert fmt.sweep_dims(small_study) == []
    ds = small_study.expand_dims(n_opm=[16, 32]).assign_coords(
        sensor_type=("sensor_type", ["mag", "grad"]))
    ds["noise_floor_by_type"] = (("array", "sensor_type"), np.ones((2, 2)))
    assert fmt.sweep_dims(ds) == ["n_opm"]  # sensor_type carries no metric
    base, at = fmt.base(ds)
    assert at == {"n_opm": 16} and "n_opm" not in base["snr"].dims


def test_hemispheres_and_positions(small_study):
    h = fmt.hemispheres(small_study)
    assert (h == "lh").sum() == (h == "rh").sum() == small_study.sizes["source"] // 2
    legacy = small_study.drop_vars(["hemisphere", "vertex"])
    np.testing.assert_array_equal(fmt.hemispheres(legacy), h)
    assert fmt.positions(small_study).shape == (small_study.sizes["source"], 3)
    renamed = small_study.rename({"x": "source_x", "y": "source_y", "z": "source_z"})
    np.testing.assert_array_equal(fmt.positions(renamed), fmt.positions(small_study))


def test_conclusion_reads_as_written(small_study):
    from qsense.cli.report import summary

    text = " ".join(fmt.conclusions(small_study, summary(small_study)))
    assert text.count("Localisation with") == 3 and "Precision bound" in text
    assert fmt.possessive("on-scalp OPMs") == "on-scalp OPMs'"
    assert fmt.possessive("CTF 275") == "CTF 275's"
    same = small_study.copy(deep=True)
    same["ple"][:] = 0.005  # every array alike: said so, no "best"
    text = " ".join(fmt.conclusions(same, summary(same)))
    assert text.count("every array has the same median peak error of noiseless dipoles, "
                      "5.0 mm") == 3
