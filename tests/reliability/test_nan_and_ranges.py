"""NaN, out-of-range and wrongly shaped inputs are refused at the public boundary.

Each case is one known way a value used to slip through (a NaN zero-field splitting, a
NaN movement exponent, NaN filter taps, radius lists of the wrong length, a float pixel
count, ...) together with its family. Every refusal is a ValueError or TypeError whose
message names the argument; numpy floating scalars are accepted wherever a float is.
"""

from __future__ import annotations

import math
import re

import jax
import numpy as np
import pytest

from forward_models import conductors, currents, fisher, noise, nv, opm, shielding
from qsense import environment as env
from qsense import nv as qnv
from qsense.sensors import get_opm_model, get_preset

NAN, INF = float("nan"), float("inf")
B = np.array([1e-4, 2e-4, 3e-4])
FREQS = np.linspace(2.8e9, 2.95e9, 7)


def names(arg: str, message: str) -> bool:
    """Whether ``message`` names ``arg`` as a word (not inside another name)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", message) is not None


CASES = [
    # --- NV: every constant of the Hamiltonian, every function that takes it
    ("resonances D=nan", lambda: nv.resonance_frequencies(B, D=NAN), ValueError, "D"),
    ("resonances D=inf", lambda: nv.resonance_frequencies(B, D=INF), ValueError, "D"),
    ("resonances E=nan", lambda: nv.resonance_frequencies(B, E=NAN), ValueError, "E"),
    ("resonances E=str", lambda: nv.resonance_frequencies(B, E="1e6"), TypeError, "E"),
    ("resonances gamma=nan", lambda: nv.resonance_frequencies(B, gamma=NAN), ValueError,
     "gamma"),
    ("resonances gamma=0", lambda: nv.resonance_frequencies(B, gamma=0.0), ValueError,
     "gamma"),
    ("resonances temperature=nan", lambda: nv.resonance_frequencies(B, temperature=NAN),
     ValueError, "temperature"),
    ("resonances D=bool", lambda: nv.resonance_frequencies(B, D=True), TypeError, "D"),
    ("resonances rotation=nan", lambda: nv.resonance_frequencies(
        B, rotation=np.full((3, 3), NAN)), ValueError, "rotation"),
    ("levels E=nan", lambda: nv.energy_levels(B, E=NAN), ValueError, "E"),
    ("hamiltonian D=nan", lambda: nv.nv_hamiltonian(B, D=NAN), ValueError, "D"),
    ("zfs dDdT=nan", lambda: nv.zero_field_splitting(temperature=300.0, dDdT=NAN),
     ValueError, "dDdT"),
    ("zfs t_ref=-1", lambda: nv.zero_field_splitting(temperature=300.0, t_ref=-1.0),
     ValueError, "t_ref"),
    ("odmr D=nan", lambda: nv.odmr_spectrum(FREQS, B, D=NAN), ValueError, "D"),
    ("odmr E=nan", lambda: nv.odmr_spectrum(FREQS, B, E=NAN), ValueError, "E"),
    ("odmr saturation=nan", lambda: nv.odmr_spectrum(FREQS, B, saturation=NAN), ValueError,
     "saturation"),
    ("odmr isotope=list", lambda: nv.odmr_spectrum(FREQS, B, isotope=["14N"]), ValueError,
     "isotope"),
    ("fit D0=nan", lambda: nv.reconstruct_vector(np.full((4, 2), 2.87e9), 1e3, B, D0=NAN),
     ValueError, "D0"),
    ("fit n_iter=2.5", lambda: nv.reconstruct_vector(np.full((4, 2), 2.87e9), 1e3, B,
                                                     n_iter=2.5), ValueError, "n_iter"),
    ("fit B0 shape", lambda: nv.reconstruct_vector(np.full((4, 2), 2.87e9), 1e3, B[:2]),
     ValueError, "B0"),
    ("lorentzian linewidth=nan", lambda: nv.lorentzian(1.0, 0.0, NAN), ValueError,
     "linewidth"),
    ("lockin n_phase=0.5", lambda: nv.lockin_signal(0.0, 0.0, 0.01, 1e6, 1e5, n_phase=0.5),
     ValueError, "n_phase"),
    ("ramsey stretch=nan", lambda: nv.ramsey_sensitivity(1e-6, 5e-7, 1e10, 0.03, 0.1,
                                                         stretch=NAN), ValueError, "stretch"),
    ("noisy spectrum key", lambda: nv.simulate_noisy_spectrum(0, np.ones(4), 1e6), TypeError,
     "key"),
    # --- environment: every number of a movement, source, power line and room
    ("Movement exponent=nan", lambda: env.Movement(exponent=NAN), ValueError, "exponent"),
    ("Movement exponent=inf", lambda: env.Movement(exponent=INF), ValueError, "exponent"),
    ("Movement exponent=str", lambda: env.Movement(exponent="1"), TypeError, "exponent"),
    ("Movement translation in um", lambda: env.Movement(translation_asd=20.0), ValueError,
     "translation_asd"),
    ("DipoleSource exponent=nan", lambda: env.DipoleSource("car", (30.0, 0, 0),
                                                           exponent=NAN), ValueError,
     "exponent"),
    ("DipoleSource moment=nan", lambda: env.DipoleSource("car", (30.0, 0, 0),
                                                         moment_asd=NAN), ValueError,
     "moment_asd"),
    ("PowerLine direction=0", lambda: env.PowerLine(direction=(0.0, 0.0, 0.0)), ValueError,
     "direction"),
    ("PowerLine harmonics=1.5", lambda: env.PowerLine(harmonics=(1.5, 3, 5)), ValueError,
     "harmonics"),
    ("PowerLine amplitudes in nT", lambda: env.PowerLine(amplitudes=(100.0, 30.0, 10.0)),
     ValueError, "amplitudes"),
    ("Room s0=str", lambda: env.Room(name="x", s0="10"), TypeError, "s0"),
    ("Room remnant in nT", lambda: env.Room(name="x", s0=10.0, remnant_field=(0, 0, 10.0)),
     ValueError, "remnant_field"),
    ("Environment nulling=str", lambda: env.Environment(nulling="yes"), TypeError, "nulling"),
    ("Environment room=list", lambda: env.Environment(room=["ak3b"]), TypeError, "room"),
    ("Environment temperature=nan", lambda: env.Environment(temperature=NAN), ValueError,
     "temperature"),
    ("shielding_factor freqs=str", lambda: env.get_room("ak3b").shielding_factor("1"),
     TypeError, "freqs"),
    # --- noise synthesis: NaN taps, ASDs, rates and counts
    ("synthesize h=nan", lambda: noise.synthesize(jax.random.key(0), [1.0, NAN], 0, 4),
     ValueError, "h"),
    ("synthesize key=int", lambda: noise.synthesize(0, [1.0, 0.5], 0, 4), TypeError, "key"),
    ("synthesize stop=2.5", lambda: noise.synthesize(jax.random.key(0), [1.0], 0, 2.5),
     ValueError, "stop"),
    ("filter_grid fs=nan", lambda: noise.filter_grid(8, NAN), ValueError, "fs"),
    ("filter_grid n_taps=8.0", lambda: noise.filter_grid(8.0, 100.0), ValueError, "n_taps"),
    ("fir_from_asd asd=nan", lambda: noise.fir_from_asd([1.0, NAN, 1.0], 100.0), ValueError,
     "asd"),
    ("fir_from_asd asd scalar", lambda: noise.fir_from_asd(1.0, 100.0), ValueError, "asd"),
    ("fir_from_asd fs=inf", lambda: noise.fir_from_asd([1.0, 1.0], INF), ValueError, "fs"),
    ("one_over_f corner=nan", lambda: noise.one_over_f_asd([1.0], 1e-14, NAN), ValueError,
     "corner"),
    ("photon shot qe>1", lambda: noise.opm_photon_shot_noise(1e-3, 795e-9, 1e-9, 0.5, 2.0),
     ValueError, "quantum_efficiency"),
    # --- shielding: layer lists that do not match, walls thicker than the shell
    ("nested radii too short", lambda: shielding.nested_shielding_factor([10.0, 10.0, 10.0],
                                                                         [1.0, 2.0]),
     ValueError, "radii"),
    ("nested radii too long", lambda: shielding.nested_shielding_factor([10.0, 10.0],
                                                                        [1.0, 2.0, 3.0]),
     ValueError, "radii"),
    ("nested factors=nan", lambda: shielding.nested_shielding_factor([10.0, NAN], [1.0, 2.0]),
     ValueError, "factors"),
    ("multilayer radii short", lambda: shielding.multilayer_shielding_factor(
        [1.0], [1e4, 1e4], [1e6, 1e6], [1.0], [1e-3, 1e-3]), ValueError, "radii"),
    ("multilayer too thick", lambda: shielding.multilayer_shielding_factor(
        [1.0], [1e4], [1e6], [1.0], [5.0]), ValueError, "thicknesses"),
    ("multilayer not increasing", lambda: shielding.multilayer_shielding_factor(
        [1.0], [1e4, 1e4], [1e6, 1e6], [1.0, 1.0], [1e-3, 1e-3]), ValueError, "radii"),
    ("multilayer overlapping", lambda: shielding.multilayer_shielding_factor(
        [1.0], [1e4, 1e4], [1e6, 1e6], [1.0, 1.01], [0.1, 0.1]), ValueError, "thicknesses"),
    ("thin shell too thick", lambda: shielding.thin_shell_transfer(1.0, 1e4, 1e6, 1.0, 2.0),
     ValueError, "thickness"),
    ("eddy too thick", lambda: shielding.eddy_current_factor(1.0, 1e6, 1.0, 1.5), ValueError,
     "thickness"),
    ("shell noise too thick", lambda: shielding.spherical_shell_thermal_noise(
        3.7e7, 2.0, 1.0, 293.0), ValueError, "thickness"),
    ("remnant b0 shape", lambda: shielding.remnant_field(np.zeros(3), np.zeros(2),
                                                         np.zeros((3, 3))), ValueError, "b0"),
    ("nulling fields shape", lambda: shielding.active_nulling_fit(np.zeros((4, 3)),
                                                                  np.zeros((3, 3))),
     ValueError, "fields"),
    ("geometry=list", lambda: shielding.eddy_current_factor(1.0, 1e6, 1.0, 1e-3, ["sphere"]),
     ValueError, "geometry"),
    # --- OPM, conductors, currents
    ("bloch n_substeps=2.5", lambda: opm.bloch_evolve(np.zeros((4, 3)), 1e-3, 1e-9, 0.5,
                                                      n_substeps=2.5), ValueError,
     "n_substeps"),
    ("cell order=None", lambda: opm.cell_integration_points(3e-3, None), TypeError, "order"),
    ("polarisation > 1", lambda: opm.slowing_down_factor(1.5), ValueError, "polarisation"),
    ("simulate closed_loop=str", lambda: opm.simulate_sensors(
        np.zeros((1, 1, 3, 3)), 1e-3, 1e-9, 0.5, closed_loop="no"), TypeError,
     "closed_loop"),
    ("sphere field at the centre", lambda: conductors.sphere_dipole_field(
        [0, 0, 0.0], [0, 0, 0.05], [1e-8, 0, 0]), ValueError, "r"),
    ("sphere field on the dipole", lambda: conductors.sphere_dipole_field(
        [0, 0, 0.05], [0, 0, 0.05], [1e-8, 0, 0]), ValueError, "r"),
    ("sphere field nan origin", lambda: conductors.sphere_dipole_field(
        [0, 0, 0.1], [0, 0, 0.05], [1e-8, 0, 0], [0, NAN, 0]), ValueError, "origin"),
    ("magnetic dipole on source", lambda: conductors.magnetic_dipole_field(
        [0, 0, 0.1], [0, 0, 0.1], [0, 0, 1.0]), ValueError, "r"),
    ("coil leadfield weights=nan", lambda: conductors.sphere_coil_leadfield(
        np.ones((1, 1, 3)) * 0.1, np.ones((1, 1, 3)), [[NAN]], np.zeros((1, 3)),
        np.zeros(3)), ValueError, "weights"),
    ("fisher noise_std=0", lambda: fisher.sphere_dipole_fisher(
        np.ones((1, 1, 3)) * 0.1, np.ones((1, 1, 3)), [[1.0]], [[0.0, 0.0, 0.05]],
        [[1e-8, 0, 0]], np.zeros(3), [0.0]), ValueError, "noise_std"),
    ("ellipk m=1", lambda: currents.ellipk(1.0), ValueError, "m"),
    ("polyline closed=str", lambda: currents.polyline_field(np.ones(3), np.eye(3), 1.0,
                                                            closed="yes"), TypeError,
     "closed"),
    # --- qsense presets and NV arrays
    ("pixel shape 16.5", lambda: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0],
                                                   shape=(16.5, 16)), ValueError, "shape"),
    # whole floats are refused too (documented in nv_pixel_grid)
    ("pixel shape 16.0", lambda: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0],
                                                   shape=(16.0, 16)), ValueError, "shape"),
    ("pixel shape 3 axes", lambda: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0],
                                                     shape=(4, 4, 4)), ValueError, "shape"),
    ("pixel pitch in um", lambda: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], pitch=1.0),
     ValueError, "pitch"),
    ("pixel pitch str", lambda: qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], pitch="1e-6"),
     TypeError, "pitch"),
    ("nv names count", lambda: qnv.nv_sensors([[0, 0, 0.1]], [0, 0, 1.0], names=["a", "b"]),
     ValueError, "names"),
    ("preset noise_floor=inf", lambda: get_preset("quspin_gen2").replace(noise_floor=INF),
     ValueError, "noise_floor"),
    ("preset noise_floor=bool", lambda: get_preset("quspin_gen2").replace(noise_floor=True),
     TypeError, "noise_floor"),
    ("preset noise_floor in fT", lambda: get_preset("quspin_gen2").replace(noise_floor=15.0),
     ValueError, "noise_floor"),
    ("preset unknown figure", lambda: get_preset("quspin_gen2").replace(noise=1e-15),
     TypeError, "noise"),
    ("preset axes", lambda: get_preset("quspin_gen2").replace(axes=("up",)), ValueError,
     "axes"),
    ("NV contrast=nan", lambda: get_preset("nv_bulk").replace(contrast=NAN), ValueError,
     "contrast"),
    ("OPM model p0=nan", lambda: get_opm_model("quspin_gen2", p0=NAN), ValueError, "p0"),
    ("OPM model cell in mm", lambda: get_opm_model("quspin_gen2", cell_size=3.0),
     ValueError, "cell_size"),
    ("OPM penalty mode=list", lambda: get_opm_model("quspin_gen2").penalty(["dual"]),
     ValueError, "mode"),
]


@pytest.mark.parametrize("call, exc, arg", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_naming_the_argument(call, exc, arg):
    with pytest.raises(exc) as info:
        call()
    assert names(arg, str(info.value)), str(info.value)


def test_nan_zero_field_splitting_is_refused_not_returned():
    # the reported case: a NaN D used to come back as NaN resonances
    with pytest.raises(ValueError, match="D must be finite"):
        nv.resonance_frequencies(np.zeros(3), D=math.nan)


def test_float_pixel_shape_is_not_truncated():
    with pytest.raises(ValueError, match=r"shape must be \(ny, nx\).*16.0 are refused"):
        qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(16.5, 16))
    g = qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(np.int64(3), 4))
    assert g.n_channels == 12


# ------------------------------------------------- numpy floating scalars are floats
def test_numpy_float_scalars_are_accepted():
    g32 = qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(2, 2), pitch=np.float32(1e-6))
    g64 = qnv.nv_pixel_grid([0, 0, 0.0], [0, 0, 1.0], shape=(2, 2), pitch=1e-6)
    np.testing.assert_allclose(g32.positions, g64.positions, rtol=1e-6)
    q = get_preset("quspin_gen2").replace(noise_floor=np.float32(7e-15),
                                          corner_frequency=np.float64(2.0))
    assert isinstance(q.noise_floor, float) and q.noise_floor == pytest.approx(7e-15)
    assert get_preset("nv_bulk").replace(contrast=np.float32(0.03)).contrast == \
        pytest.approx(0.03)
    assert get_opm_model("quspin_gen2", bandwidth=np.float32(100.0)).bandwidth == 100.0
    assert env.Movement(exponent=np.float32(1.5), lever=np.float64(0.1)).exponent == 1.5
    assert env.Environment(temperature=np.float32(293.0)).temperature == 293.0
    assert env.DipoleSource("car", (30.0, 0, 0), moment_asd=np.float32(5.0)).moment_asd == 5.0
    f = np.asarray(nv.resonance_frequencies(B, D=np.float32(2.87e9), E=np.float64(1e6)))
    assert np.all(np.isfinite(f))
    s = shielding.spherical_shell_shielding_factor(np.float32(1e4), np.float32(0.9), 1.0)
    assert np.isfinite(float(s))
    assert noise.filter_grid(np.int32(8), np.float32(100.0)).shape == (5,)
    assert env.PowerLine(frequency=np.float64(60.0), harmonics=(np.int64(1),),
                         amplitudes=(np.float32(1e-7),)).frequency == 60.0


def test_traced_calls_still_work():
    """The checks look at concrete values only: jit and grad see no difference."""
    f = jax.jit(lambda d: nv.resonance_frequencies(B, D=d))
    assert np.all(np.isfinite(np.asarray(f(2.87e9))))
    g = jax.grad(lambda r: conductors.magnetic_dipole_field(r, np.zeros(3),
                                                            np.array([0, 0, 1.0]))[2])
    assert np.all(np.isfinite(np.asarray(g(np.array([0.0, 0.0, 0.1])))))
