"""Property-based: random invalid values fed to the public API are refused, never used.

Every target below is one argument of one public function or constructor (a JAX kernel
of :mod:`forward_models` or an object of :mod:`qsense`), with the families of invalid
values that argument must refuse: NaN and +-inf, zero or negative where a positive
number is needed, numbers outside a closed range, wrong shapes (lists of the wrong
length, ragged lists, 2-D where 1-D is needed), wrong types (str, None, bool, bytes,
dict, object) and millimetres passed as metres. The call must raise a plain ValueError
or TypeError whose message names the argument: not return (NaN or otherwise), and not
raise anything else (KeyError, IndexError, AttributeError, FloatingPointError, a JAX
error).

Values are drawn by hypothesis (derandomised, so a run is reproducible); each target
first runs once with a valid value, so a refusal is the bad value's doing. The bad
values fail before any compilation, so the whole file takes seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qsense as qs
from forward_models import conductors, currents, noise, nv, opm, shielding
from qsense import arrays, sources
from qsense import environment as env
from qsense import nv as qnv
from qsense.budget import noise_budget
from qsense.coils import coil_definition
from qsense.conductors import SphereConductor
from qsense.sensors import get_opm_model, get_preset, preset_for_coil
from qsense.surfaces import fit_sphere, icosphere

NAN, INF = math.nan, math.inf
SETTINGS = settings(derandomize=True, deadline=None, max_examples=15, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------- invalid-value families
NONFINITE = st.sampled_from([NAN, INF, -INF])
NOT_A_NUMBER = st.sampled_from(["0.1", "", None, True, False, b"1", {"x": 1}, object(),
                                [1.0, "a"], [[1.0, 2.0], [3.0]]])
SCALAR_TYPE = st.sampled_from(["0.1", "", None, True, False, b"1", {"x": 1}, object(),
                               [0.1, 0.2], (0.1,)])
NEGATIVE = st.floats(min_value=-1e12, max_value=-1e-15, allow_nan=False, allow_infinity=False)
NONPOSITIVE = st.one_of(NEGATIVE, st.sampled_from([0.0, -0.0, 0]))
ABOVE_ONE = st.floats(min_value=1.0 + 1e-9, max_value=1e9, allow_nan=False,
                      allow_infinity=False)
COUNT_BAD = st.sampled_from([2.5, 0.5, 4.0, -1, "4", None, True, NAN, INF, b"4", [2]])


def millimetres(low):
    """Lengths that fit once read as millimetres: a unit error."""
    return st.floats(min_value=low, max_value=900.0, allow_nan=False, allow_infinity=False)


def positive_array():
    """Invalid for an array of positive numbers."""
    return st.one_of(NONFINITE, NONPOSITIVE, NOT_A_NUMBER,
                     NONFINITE.map(lambda v: [1.0, v]), NEGATIVE.map(lambda v: [1.0, v]))


def nonnegative_array():
    return st.one_of(NONFINITE, NEGATIVE, NOT_A_NUMBER, NONFINITE.map(lambda v: [1.0, v]))


def finite_array():
    return st.one_of(NONFINITE, NOT_A_NUMBER, NONFINITE.map(lambda v: [1.0, v]))


def positive_scalar():
    return st.one_of(NONFINITE, NONPOSITIVE, SCALAR_TYPE)


def unit_interval():
    """Invalid for a fraction in (0, 1] or [0, 1]."""
    return st.one_of(NONFINITE, NEGATIVE, ABOVE_ONE, NOT_A_NUMBER)


def bad_vectors(good, last=3, types=True):
    """Invalid for an array of shape (..., 3) built on ``good`` (with ``types``: also
    objects that are not arrays of numbers)."""
    good = np.asarray(good, dtype=float)
    objects = ["abc", None, True, [[1.0, 2.0], [3.0]], {"x": 1}] if types else []

    def poke(t):
        i, v = t
        a = good.copy().ravel()
        a[i % a.size] = v
        return a.reshape(good.shape)

    return st.one_of(
        st.tuples(st.integers(0, 100), NONFINITE).map(poke),
        st.sampled_from([good[..., :last - 1], np.concatenate([good, good[..., :1]], -1),
                         *objects]),
    )


def bad_options(*extra, none_ok=False):
    values = ["no-such-option", "", 3, True, ["radial"], *extra]
    return st.sampled_from(values if none_ok else [*values, None])


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    name: str
    arg: str
    call: Callable[[Any], Any]
    good: Any
    bad: st.SearchStrategy

    def __repr__(self):
        return self.name


HEAD = qs.Head.sphere()
OPM = arrays.opm_on_scalp(HEAD, n_sensors=4)
B3 = np.array([1e-4, 2e-4, 3e-4])
R = np.array([0.0, 0.02, 0.11])
R0 = np.array([0.01, 0.0, 0.05])
Q = np.array([1e-8, 0.0, 0.0])
FREQS = np.linspace(2.8e9, 2.95e9, 5)
KEY = jax.random.key(0)
PRESET = get_preset("quspin_gen2")
NV_PRESET = get_preset("nv_bulk")


def T(name, arg, call, good, bad):
    return Target(f"{name}:{arg}", arg, call, good, bad)


TARGETS = [
    # ---- conductors
    T("sphere_dipole_field", "r", lambda v: conductors.sphere_dipole_field(v, R0, Q), R,
      bad_vectors(R)),
    T("sphere_dipole_field", "r0", lambda v: conductors.sphere_dipole_field(R, v, Q), R0,
      bad_vectors(R0)),
    T("sphere_dipole_field", "q", lambda v: conductors.sphere_dipole_field(R, R0, v), Q,
      bad_vectors(Q)),
    T("sphere_dipole_field", "origin",
      lambda v: conductors.sphere_dipole_field(R, R0, Q, v), np.zeros(3),
      bad_vectors(np.zeros(3))),
    T("magnetic_dipole_field", "m",
      lambda v: conductors.magnetic_dipole_field(R, R0, v), Q, bad_vectors(Q)),
    T("magnetic_dipole_field", "r0",
      lambda v: conductors.magnetic_dipole_field(R, v, Q), R0, bad_vectors(R0)),
    T("primary_dipole_field", "q", lambda v: conductors.primary_dipole_field(R, R0, v), Q,
      bad_vectors(Q)),
    # ---- OPM
    T("serf_steady_state", "B", lambda v: opm.serf_steady_state(v, 1e-9), B3 * 1e-5,
      bad_vectors(B3)),
    T("serf_steady_state", "linewidth", lambda v: opm.serf_steady_state(B3 * 1e-5, v), 1e-9,
      positive_array()),
    T("bandwidth_3db", "p0", lambda v: opm.bandwidth_3db(1e-9, v), 0.5, unit_interval()),
    T("bloch_evolve", "dt", lambda v: opm.bloch_evolve(np.zeros((3, 3)), v, 1e-9, 0.5),
      1e-3, positive_scalar()),
    T("bloch_evolve", "n_substeps",
      lambda v: opm.bloch_evolve(np.zeros((3, 3)), 1e-3, 1e-9, 0.5, n_substeps=v), 2,
      COUNT_BAD),
    T("cell_integration_points", "order", lambda v: opm.cell_integration_points(3e-3, v), 2,
      st.one_of(COUNT_BAD, st.integers(6, 1000))),
    T("cell_integration_points", "cell_size", lambda v: opm.cell_integration_points(v), 3e-3,
      positive_scalar()),
    T("transfer_function", "freqs", lambda v: opm.transfer_function(v, 1e-9, 0.5), [1.0],
      finite_array()),
    # ---- NV
    T("resonance_frequencies", "B", lambda v: nv.resonance_frequencies(v), B3,
      bad_vectors(B3)),
    T("resonance_frequencies", "D", lambda v: nv.resonance_frequencies(B3, D=v), 2.87e9,
      st.one_of(NONFINITE, NONPOSITIVE, NOT_A_NUMBER)),
    T("resonance_frequencies", "E", lambda v: nv.resonance_frequencies(B3, E=v), 1e6,
      finite_array()),
    T("resonance_frequencies", "temperature",
      lambda v: nv.resonance_frequencies(B3, temperature=v), 300.0, positive_array()),
    T("resonance_frequencies", "gamma", lambda v: nv.resonance_frequencies(B3, gamma=v),
      28e9, positive_array()),
    T("resonance_frequencies", "rotation",
      lambda v: nv.resonance_frequencies(B3, rotation=v), np.eye(3),
      st.one_of(NONFINITE.map(lambda x: np.full((3, 3), x)),
                st.sampled_from([np.eye(2), 2 * np.eye(3), -np.eye(3), "R", [[1, 0], [0]]]))),
    T("odmr_spectrum", "freqs", lambda v: nv.odmr_spectrum(v, B3), FREQS,
      st.one_of(NONFINITE.map(lambda x: np.r_[FREQS[:2], x]), NOT_A_NUMBER,
                st.just(np.ones((2, 2))))),
    T("odmr_spectrum", "contrast", lambda v: nv.odmr_spectrum(FREQS, B3, contrast=v), 0.01,
      unit_interval()),
    T("odmr_spectrum", "linewidth", lambda v: nv.odmr_spectrum(FREQS, B3, linewidth=v), 1e6,
      positive_array()),
    T("odmr_spectrum", "isotope", lambda v: nv.odmr_spectrum(FREQS, B3, isotope=v), "14N",
      bad_options("13C", 14, none_ok=True)),
    T("cw_sensitivity", "contrast", lambda v: nv.cw_sensitivity(1e6, v, 1e12), 0.02,
      st.one_of(unit_interval(), st.just(0.0))),
    T("cw_sensitivity", "photon_rate", lambda v: nv.cw_sensitivity(1e6, 0.02, v), 1e12,
      positive_array()),
    T("ramsey_sensitivity", "delta_ms",
      lambda v: nv.ramsey_sensitivity(1e-6, 5e-7, 1e10, 0.03, 0.1, delta_ms=v), 2,
      st.sampled_from([0, 3, -1, 1.5, True, "1", None])),
    T("reconstruct_vector", "n_iter",
      lambda v: nv.reconstruct_vector(np.full((4, 2), 2.87e9), 1e3, B3, n_iter=v), 30,
      COUNT_BAD),
    # ---- shielding
    T("spherical_shell_shielding_factor", "mu_r",
      lambda v: shielding.spherical_shell_shielding_factor(v, 0.9, 1.0), 1e4,
      st.one_of(NONFINITE, NOT_A_NUMBER, st.floats(-1e6, 0.999, allow_nan=False))),
    T("spherical_shell_shielding_factor", "r_inner",
      lambda v: shielding.spherical_shell_shielding_factor(1e4, v, 1.0), 0.9,
      positive_array()),
    T("spherical_shell_shielding_factor", "r_outer",
      lambda v: shielding.spherical_shell_shielding_factor(1e4, 0.9, v), 1.0,
      positive_array()),
    T("slab_thermal_noise", "sigma", lambda v: shielding.slab_thermal_noise(v, 1e-3, 0.1, 293),
      3.7e7, positive_array()),
    T("slab_thermal_noise", "thickness",
      lambda v: shielding.slab_thermal_noise(3.7e7, v, 0.1, 293), 1e-3, positive_array()),
    T("slab_thermal_noise", "distance",
      lambda v: shielding.slab_thermal_noise(3.7e7, 1e-3, v, 293), 0.1, positive_array()),
    T("slab_thermal_noise", "temperature",
      lambda v: shielding.slab_thermal_noise(3.7e7, 1e-3, 0.1, v), 293.0, positive_array()),
    T("nested_shielding_factor", "radii",
      lambda v: shielding.nested_shielding_factor([10.0, 20.0], v), [1.0, 1.2],
      st.one_of(st.sampled_from([[1.0], [1.0, 1.2, 1.4], [1.2, 1.0], 1.0, [[1.0], [1.2]],
                                 "ab", None]),
                NONFINITE.map(lambda x: [1.0, x]), NONPOSITIVE.map(lambda x: [x, 1.0]))),
    T("multilayer_shielding_factor", "radii",
      lambda v: shielding.multilayer_shielding_factor([1.0], [2e4, 2e4], [2e6, 2e6], v,
                                                      [1e-3, 1e-3]), [1.0, 1.2],
      st.one_of(st.sampled_from([[1.0], [1.0, 1.2, 1.4], [1.2, 1.0], [1.0, 1.0], [1.0, 1.0005],
                                 "ab", None, [1e-4, 1.2]]),
                NONFINITE.map(lambda x: [1.0, x]))),
    T("multilayer_shielding_factor", "thicknesses",
      lambda v: shielding.multilayer_shielding_factor([1.0], [2e4, 2e4], [2e6, 2e6],
                                                      [1.0, 1.2], v), [1e-3, 1e-3],
      st.one_of(st.sampled_from([[1e-3], [1e-3] * 3, [1.5, 1e-3], [0.3, 0.3], "ab", None]),
                NONPOSITIVE.map(lambda x: [1e-3, x]), NONFINITE.map(lambda x: [x, 1e-3]))),
    T("eddy_current_factor", "geometry",
      lambda v: shielding.eddy_current_factor(1.0, 1e6, 1.0, 1e-3, v), "sphere",
      bad_options("cube")),
    # ---- noise
    T("one_over_f_asd", "freqs", lambda v: noise.one_over_f_asd(v, 1e-14, 3.0), [1.0, 2.0],
      positive_array()),
    T("one_over_f_asd", "floor", lambda v: noise.one_over_f_asd([1.0], v, 3.0), 1e-14,
      nonnegative_array()),
    T("one_over_f_asd", "corner", lambda v: noise.one_over_f_asd([1.0], 1e-14, v), 3.0,
      nonnegative_array()),
    T("gaussian_line_asd", "width",
      lambda v: noise.gaussian_line_asd([50.0], 50.0, 1e-12, v), 0.1, positive_array()),
    T("filter_grid", "n_taps", lambda v: noise.filter_grid(v, 1000.0), 16,
      st.one_of(COUNT_BAD, st.sampled_from([3, 1, 17]))),
    T("filter_grid", "fs", lambda v: noise.filter_grid(16, v), 1000.0,
      st.one_of(positive_scalar(), st.just([1000.0, 2000.0]))),
    T("fir_from_asd", "asd", lambda v: noise.fir_from_asd(v, 1000.0), np.ones(5),
      st.one_of(nonnegative_array(), st.sampled_from([1.0, [1.0]]),
                NONFINITE.map(lambda x: [1.0, 1.0, x]))),
    T("synthesize", "h", lambda v: noise.synthesize(KEY, v, 0, 8), np.ones(4),
      st.one_of(NONFINITE.map(lambda x: [1.0, x]), NOT_A_NUMBER,
                st.sampled_from([np.ones((2, 2, 2)), np.ones((2, 0))]))),
    T("synthesize", "key", lambda v: noise.synthesize(v, np.ones(4), 0, 8), KEY,
      st.sampled_from([0, None, "key", np.zeros(3), 1.5])),
    T("synthesize", "stop", lambda v: noise.synthesize(KEY, np.ones(4), 2, v), 8,
      st.one_of(COUNT_BAD, st.just(1))),
    T("synthesize", "block_size",
      lambda v: noise.synthesize(KEY, np.ones(4), 0, 8, block_size=v), 8, COUNT_BAD),
    # ---- currents
    T("current_loop_field", "radius",
      lambda v: currents.current_loop_field(R, np.zeros(3), [0, 0, 1.0], v, 1.0), 0.01,
      positive_array()),
    T("current_loop_field", "normal",
      lambda v: currents.current_loop_field(R, np.zeros(3), v, 0.01, 1.0), [0, 0, 1.0],
      st.one_of(bad_vectors(np.array([0.0, 0.0, 1.0])), st.just(np.zeros(3)))),
    # ---- qsense: heads, arrays, sources, NV builders
    T("Head.sphere", "radius", lambda v: qs.Head.sphere(radius=v), 0.09,
      st.one_of(positive_scalar(), millimetres(0.6))),
    T("Head.sphere", "origin", lambda v: qs.Head.sphere(origin=v), (0.0, 0.0, 0.04),
      st.one_of(bad_vectors(np.array([0.0, 0.0, 0.04]), types=False),
                st.just([0.0, 0.0, 40.0]))),
    T("opm_on_scalp", "n_sensors", lambda v: arrays.opm_on_scalp(HEAD, n_sensors=v), 4,
      st.one_of(COUNT_BAD, st.sampled_from([0, 1001, 10**9]))),
    T("opm_on_scalp", "standoff", lambda v: arrays.opm_on_scalp(HEAD, 4, standoff=v), 0.0065,
      st.one_of(NONFINITE, NEGATIVE, SCALAR_TYPE.filter(lambda x: x is not None),
                millimetres(1.0))),
    T("opm_on_scalp", "axes", lambda v: arrays.opm_on_scalp(HEAD, 4, axes=v), "radial",
      bad_options("vertical")),
    T("opm_on_scalp", "sensor", lambda v: arrays.opm_on_scalp(HEAD, 4, sensor=v),
      "quspin_gen2", bad_options("quspin_gen9")),
    T("sources.volume", "spacing", lambda v: sources.volume(HEAD, spacing=v), 0.02,
      st.one_of(positive_scalar(), millimetres(1.0))),
    T("sources.points", "positions", lambda v: sources.points(v, HEAD),
      [[0.0, 0.0, 0.05]],
      st.one_of(bad_vectors(np.array([[0.0, 0.0, 0.05]]), types=False),
                st.just([[0.0, 0.0, 50.0]]))),
    T("nv_pixel_grid", "shape",
      lambda v: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=v), (2, 3),
      st.one_of(st.tuples(st.floats(0.5, 64.0).filter(lambda x: x != int(x)), st.just(4)),
                st.sampled_from([(16.0, 16), (0, 4), (4, -1), (4,), (2, 2, 2), "16x16",
                                 None, 16, (True, 4), (4, None), (NAN, 4)]))),
    T("nv_pixel_grid", "pitch",
      lambda v: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(2, 2), pitch=v),
      np.float32(2e-6),
      st.one_of(NONFINITE, NONPOSITIVE, SCALAR_TYPE.filter(lambda x: x is not None),
                millimetres(0.2))),
    T("nv_pixel_grid", "standoff",
      lambda v: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(2, 2), standoff=v),
      1e-6, st.one_of(NONFINITE, NEGATIVE, millimetres(0.2))),
    T("nv_sensors", "positions", lambda v: qnv.nv_sensors(v, [0, 0, 1.0]),
      [[0.0, 0.0, 0.1]],
      st.one_of(bad_vectors(np.array([[0.0, 0.0, 0.1]])), st.just([[0.0, 0.0, 100.0]]))),
    T("nv_sensors", "orientations", lambda v: qnv.nv_sensors([[0, 0, 0.1]], v), [0, 0, 1.0],
      st.one_of(bad_vectors(np.array([0.0, 0.0, 1.0])), st.just(np.zeros(3)))),
    T("nv_gradiometers", "baseline",
      lambda v: qnv.nv_gradiometers([[0, 0, 0.1]], [0, 0, 1.0], baseline=v), 0.02,
      st.one_of(positive_scalar(), millimetres(1.5))),
    T("nv_on_scalp", "n_sensors", lambda v: qnv.nv_on_scalp(HEAD, v), 4, COUNT_BAD),
    # ---- qsense: environment
    T("Environment", "temperature", lambda v: env.Environment(temperature=v), 293.0,
      positive_scalar()),
    T("Environment", "room", lambda v: env.Environment(room=v), "ak3b",
      bad_options("ak4")),
    T("Environment", "nulling", lambda v: env.Environment(nulling=v), True,
      st.sampled_from([1, 0, "yes", None, 1.0, [True]])),
    T("Environment", "sources", lambda v: env.Environment(sources=v), (),
      st.sampled_from(["traffic", None, 3, (None,), ("car",)])),
    T("Room", "s0", lambda v: env.Room(name="x", s0=v), 10.0,
      st.one_of(NONFINITE, SCALAR_TYPE, st.floats(-1e6, 0.999, allow_nan=False))),
    T("Room", "corners", lambda v: env.Room(name="x", s0=10.0, corners=v), (0.1, 10.0),
      st.one_of(positive_array(), st.just([[1.0, 2.0]]))),
    T("Room", "remnant_field", lambda v: env.Room(name="x", s0=10.0, remnant_field=v),
      (0.0, 0.0, 1e-9),
      st.one_of(bad_vectors(np.array([0.0, 0.0, 1e-9])), st.just((0.0, 0.0, 10.0)))),
    T("Movement", "exponent", lambda v: env.Movement(exponent=v), 1.0,
      st.one_of(NONFINITE, SCALAR_TYPE, NEGATIVE, st.floats(4.001, 1e9))),
    T("Movement", "translation_asd", lambda v: env.Movement(translation_asd=v), 20e-6,
      st.one_of(NONFINITE, NEGATIVE, SCALAR_TYPE, millimetres(0.02))),
    T("Movement", "lever", lambda v: env.Movement(lever=v), 0.1,
      st.one_of(positive_scalar(), millimetres(1.5))),
    T("DipoleSource", "position", lambda v: env.DipoleSource("car", v), (30.0, 0.0, 0.0),
      st.one_of(bad_vectors(np.array([30.0, 0.0, 0.0])), st.just((0.1, 0.0, 0.0)))),
    T("DipoleSource", "exponent", lambda v: env.DipoleSource("car", (30.0, 0, 0), exponent=v),
      1.0, st.one_of(NONFINITE, SCALAR_TYPE, NEGATIVE)),
    T("DipoleSource", "moment_asd",
      lambda v: env.DipoleSource("car", (30.0, 0, 0), moment_asd=v), 10.0,
      st.one_of(NONFINITE, SCALAR_TYPE, NEGATIVE)),
    T("PowerLine", "frequency", lambda v: env.PowerLine(frequency=v), 60.0,
      st.one_of(NONFINITE, SCALAR_TYPE, st.sampled_from([55.0, 0.0, -50.0, 5e4]))),
    T("PowerLine", "width", lambda v: env.PowerLine(width=v), 0.1, positive_scalar()),
    T("PowerLine", "amplitudes", lambda v: env.PowerLine(amplitudes=v), (1e-7, 3e-8, 1e-8),
      st.sampled_from([(NAN, 0.0, 0.0), (1e-7, -1e-9, 0.0), (1e-7,), "abc", None,
                       (100.0, 30.0, 10.0)])),
    T("Room.shielding_factor", "freqs", lambda v: env.get_room("ak3b").shielding_factor(v),
      [1.0, 10.0], positive_array()),
    T("dipole_field", "moment",
      lambda v: env.dipole_field(np.ones((2, 3)), np.zeros(3), v), Q, bad_vectors(Q)),
    # ---- qsense: the sensor registry
    T("get_preset", "sensor", get_preset, "quspin_gen2",
      st.sampled_from(["squid9", "", None, 3, 3.5, True, ["quspin_gen2"], {"a": 1}])),
    T("preset_for_coil", "coil_type", preset_for_coil, 3024,
      st.sampled_from([12345, "3024", None, 3024.5, True, [3024]])),
    T("SensorPreset.replace", "noise_floor", lambda v: PRESET.replace(noise_floor=v), 7e-15,
      st.one_of(positive_scalar(), st.floats(1.1e-6, 1e3))),
    T("SensorPreset.replace", "standoff", lambda v: PRESET.replace(standoff=v), 0.005,
      st.one_of(NONFINITE, NEGATIVE, SCALAR_TYPE, millimetres(0.2))),
    T("SensorPreset.replace", "bandwidth", lambda v: PRESET.replace(bandwidth=v), 100.0,
      st.one_of(st.sampled_from([NAN, -INF]), NONPOSITIVE, SCALAR_TYPE)),
    T("SensorPreset.replace", "corner_frequency",
      lambda v: PRESET.replace(corner_frequency=v), 2.0,
      st.one_of(NONFINITE, NEGATIVE, SCALAR_TYPE)),
    T("SensorPreset.replace", "coil_type", lambda v: PRESET.replace(coil_type=v), 8001,
      st.sampled_from([8001.5, "8001", None, True, -1])),
    T("NVPreset.replace", "contrast", lambda v: NV_PRESET.replace(contrast=v), 0.03,
      st.one_of(NONFINITE, NONPOSITIVE, SCALAR_TYPE, ABOVE_ONE)),
    T("NVPreset.replace", "linewidth", lambda v: NV_PRESET.replace(linewidth=v), 1e6,
      positive_scalar()),
    T("get_opm_model", "p0", lambda v: get_opm_model("quspin_gen2", p0=v), 0.4,
      st.one_of(NONFINITE, NONPOSITIVE, SCALAR_TYPE, st.floats(1.0, 1e9))),
    T("get_opm_model", "bandwidth", lambda v: get_opm_model("quspin_gen2", bandwidth=v),
      100.0, positive_scalar()),
    T("get_opm_model", "cell_size", lambda v: get_opm_model("quspin_gen2", cell_size=v),
      3e-3, st.one_of(positive_scalar(), millimetres(1.0))),
    # ---- qsense: geometry
    T("SphereConductor", "radius", lambda v: SphereConductor((0, 0, 0.04), v), 0.08,
      st.one_of(positive_scalar(), millimetres(1.5))),
    T("SphereConductor", "origin", lambda v: SphereConductor(v, 0.08), (0.0, 0.0, 0.04),
      bad_vectors(np.array([0.0, 0.0, 0.04]))),
    T("icosphere", "order", lambda v: icosphere(v), 1, st.one_of(COUNT_BAD.filter(
        lambda x: not (isinstance(x, int) and x == 0)), st.just(8))),
    T("fit_sphere", "points", fit_sphere, icosphere(1).rr,
      st.sampled_from([icosphere(1).rr[:3], np.zeros((5, 3)), np.c_[icosphere(1).rr[:, :2],
                                                                    np.zeros(42)],
                       np.full((5, 3), NAN), "abc", None, np.ones((5, 2))])),
    T("coil_definition", "coil_type", coil_definition, 3024,
      st.sampled_from([3024.5, "3024", None, True, [3024]])),
]


def names(arg: str, message: str) -> bool:
    """Whether ``message`` names ``arg`` as a word (not inside another name)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", message) is not None


def _summary(out) -> str:
    try:
        a = np.asarray(out, dtype=float)
        return f"array of shape {a.shape}, {int(np.sum(~np.isfinite(a)))} non-finite"
    except (TypeError, ValueError):
        return type(out).__name__


def assert_refused(target: Target, bad) -> None:
    try:
        out = target.call(bad)
    except (ValueError, TypeError) as err:
        msg = str(err)
        assert type(err) in (ValueError, TypeError), (
            f"{target.name}: a {type(err).__module__}.{type(err).__name__}, not a plain "
            f"ValueError/TypeError, for {target.arg}={bad!r}: {msg}")
        assert names(target.arg, msg), (
            f"{target.name}: the message does not name {target.arg!r} for "
            f"{target.arg}={bad!r}: {msg}")
        return
    except Exception as err:  # a foreign exception
        pytest.fail(f"{target.name}: {type(err).__module__}.{type(err).__name__} for "
                    f"{target.arg}={bad!r}: {err}")
    pytest.fail(f"{target.name}: {target.arg}={bad!r} was accepted ({_summary(out)})")


@pytest.mark.parametrize("target", TARGETS, ids=repr)
@SETTINGS
@given(data=st.data())
def test_invalid_values_are_refused(target, data):
    assert_refused(target, data.draw(target.bad, label=target.arg))


@pytest.mark.parametrize("target", TARGETS, ids=repr)
def test_the_valid_value_is_accepted(target):
    """Each target works with a valid value, so a refusal above is the bad value's."""
    target.call(target.good)


# Once gaps in other modules (a str or a dict reaching np.asarray(..., dtype=float), a
# str radius passed to float()); now closed, and kept as cases.
KNOWN_GAPS = [
    ("Head.sphere:origin", lambda: qs.Head.sphere(origin="abc"), "origin"),
    ("sources.points:positions", lambda: sources.points({"x": 1}, HEAD), "positions"),
    ("noise_budget:freqs", lambda: noise_budget(OPM, env.Environment(), "abc"), "freqs"),
    ("Head.sphere:brain_radius", lambda: qs.Head.sphere(brain_radius="0.08"),
     "brain_radius"),
]


@pytest.mark.parametrize("call, arg", [g[1:] for g in KNOWN_GAPS], ids=[g[0] for g in KNOWN_GAPS])
def test_former_gaps_name_the_argument(call, arg):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert names(arg, str(info.value)), str(info.value)


def test_noise_budget_freqs_are_refused():
    for bad in ([0.0, 10.0], [NAN], [-1.0], [], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="freqs"):
            noise_budget(OPM, env.Environment(), bad)
