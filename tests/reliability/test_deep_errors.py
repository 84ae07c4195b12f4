"""No errors from deep inside: bad input to the public API is refused at the boundary.

A catalogue of bad inputs (the wrong kind of object, None, strings, NaN, fractional or
negative counts, options that do not exist, shapes that do not fit). Each must raise
exactly ValueError or TypeError (not KeyError, AttributeError, IndexError, OverflowError,
numpy's conversion errors or a hang) with a message that names the argument. Before
these checks many ended in such errors from numpy, xarray, MNE or JAX.
"""

import re

import mne
import numpy as np
import pytest
import xarray as xr

import inverse
import qsense as qs
from qsense import arrays, bem, budget, opm, sources

NAN = float("nan")


@pytest.fixture(scope="module")
def o():
    """The objects the calls need, built once."""
    sph = qs.Head.sphere()
    fs = qs.Head.fsaverage(conductor="sphere")
    arr = arrays.opm_on_scalp(fs, 16)
    src = sources.cortex(fs, "ico2")
    fwd = qs.make_forward(arr, fs, src)
    info = arr.to_info()
    inv = mne.minimum_norm.make_inverse_operator(
        info, fwd, mne.make_ad_hoc_cov(info, verbose=False), verbose=False)
    env = qs.Environment()
    return dict(sph=sph, fs=fs, arr=arr, arr_s=arrays.opm_on_scalp(sph, 8), src=src,
                vol=sources.volume(sph, 0.02), fwd=fwd, inv=inv, info=info, env=env,
                ds=qs.noise_budget(arr, env, freqs=[1.0, 10.0]))


def _sensor_array(**kw):
    loc = np.zeros((2, 12))
    loc[:, 2] = 0.15
    loc[:, 3:] = np.eye(3).ravel()
    return qs.SensorArray(**{**dict(names=("A", "B"), coil_types=[2000, 2000], loc=loc),
                             **kw})


def _info_with_description(info, text):
    info = info.copy()
    with info._unlock():
        info["description"] = text
    return qs.SensorArray.from_info(info)


FIELD = np.zeros((2, 3, 50))
FRAMES = np.tile(np.eye(3), (2, 1, 1))
P = [[0.0, 0.0, 0.05]]  # a source inside the sphere head
Q = [1e-8, 0.0, 0.0]


def _opm(**kw):
    return opm.opm_response(FIELD, 1000.0, FRAMES, **kw)


# id, call(o), exception type, regex the message must contain (the argument's name)
CASES = [
    # ------------------------------------------------------------- the BEM cache
    ("bem_cache_dir(3)", lambda o: bem.bem_cache_dir(3), TypeError, "cache_dir"),
    ("fsaverage_bem_solution(conductivity='x')",
     lambda o: bem.fsaverage_bem_solution(2, conductivity="x"), TypeError, "conductivity"),
    ("Head.fsaverage(ico=None)", lambda o: qs.Head.fsaverage(ico=None), ValueError, "ico"),
    # ------------------------------------------------------------------- heads
    ("Head.sphere(brain_radius='a')", lambda o: qs.Head.sphere(brain_radius="a"),
     TypeError, "brain_radius"),
    ("Head.sphere(brain_radius=nan)", lambda o: qs.Head.sphere(brain_radius=NAN),
     ValueError, "brain_radius"),
    ("Head.sphere(origin=None)", lambda o: qs.Head.sphere(origin=None), TypeError, "origin"),
    ("Head.sphere(origin='abc')", lambda o: qs.Head.sphere(origin="abc"), TypeError,
     "origin"),
    ("head.scalp_distance('a')", lambda o: o["sph"].scalp_distance("a"), TypeError,
     "points"),
    ("head.brain_distance([[1, 2]])", lambda o: o["sph"].brain_distance([[1, 2]]),
     ValueError, "points"),
    ("head.brain_distance(nan)", lambda o: o["sph"].brain_distance([NAN] * 3), ValueError,
     "points"),
    ("Head(head_mri_t=None)", lambda o: qs.Head(
        name="x", conductor=o["sph"].conductor, scalp=o["sph"].scalp, brain=o["sph"].brain,
        sphere_origin=o["sph"].sphere_origin, sphere_radius=0.08, head_mri_t=None),
     TypeError, "head_mri_t"),
    ("Head(scalp=None)", lambda o: qs.Head(
        name="x", conductor=o["sph"].conductor, scalp=None, brain=o["sph"].brain,
        sphere_origin=o["sph"].sphere_origin, sphere_radius=0.08, head_mri_t=np.eye(4)),
     TypeError, "scalp"),
    # ------------------------------------------------------------------ arrays
    ("opm_on_scalp(coverage_deg=None)",
     lambda o: arrays.opm_on_scalp(o["sph"], 8, coverage_deg=None), TypeError,
     "coverage_deg"),
    ("opm_on_scalp(coverage_deg=(nan, 1))",  # was OverflowError
     lambda o: arrays.opm_on_scalp(o["sph"], 8, coverage_deg=(NAN, 1)), ValueError,
     "coverage_deg"),
    ("opm_on_scalp(coverage_deg=(0, 0))",  # was OverflowError
     lambda o: arrays.opm_on_scalp(o["sph"], 8, coverage_deg=(0, 0)), ValueError,
     "coverage_deg"),
    ("opm_on_scalp(coverage_deg=(10,))",
     lambda o: arrays.opm_on_scalp(o["sph"], 8, coverage_deg=(10,)), ValueError,
     "coverage_deg"),
    ("opm_on_scalp(coverage_deg=(500, 500))",
     lambda o: arrays.opm_on_scalp(o["sph"], 8, coverage_deg=(500, 500)), ValueError,
     "coverage_deg"),
    ("opm_on_scalp(n_sensors='8')", lambda o: arrays.opm_on_scalp(o["sph"], "8"),
     TypeError, "n_sensors"),
    ("scalp_lattice(n_sensors=0)", lambda o: arrays.scalp_lattice(o["sph"], 0, 0.01),
     ValueError, "n_sensors"),
    ("scalp_lattice(n_sensors='a')", lambda o: arrays.scalp_lattice(o["sph"], "a", 0.01),
     TypeError, "n_sensors"),
    ("scalp_lattice(standoff=nan)", lambda o: arrays.scalp_lattice(o["sph"], 4, NAN),
     ValueError, "standoff"),
    ("scalp_lattice(standoff='a')", lambda o: arrays.scalp_lattice(o["sph"], 4, "a"),
     TypeError, "standoff"),
    ("helmet_placement(gap='a')",
     lambda o: arrays.helmet_placement(o["sph"], np.zeros((3, 3)), "a"), TypeError, "gap"),
    ("helmet_placement(device_positions=None)",
     lambda o: arrays.helmet_placement(o["sph"], None, 0.02), TypeError,
     "device_positions"),
    ("helmet_placement(device_positions=[1, 2])",  # was IndexError
     lambda o: arrays.helmet_placement(o["sph"], [1, 2], 0.02), ValueError,
     "device_positions"),
    ("helmet_placement(device_positions=nan)",
     lambda o: arrays.helmet_placement(o["sph"], np.full((3, 3), NAN), 0.02), ValueError,
     "device_positions"),
    ("neuromag306(gap=None)", lambda o: arrays.neuromag306(o["sph"], gap=None), TypeError,
     "gap"),
    ("ctf275(gap='a')", lambda o: arrays.ctf275(o["sph"], gap="a"), TypeError, "gap"),
    ("neuromag306(dev_head_t='x')", lambda o: arrays.neuromag306(o["sph"], dev_head_t="x"),
     TypeError, "dev_head_t"),
    # ------------------------------------------------------------- SensorArray
    ("SensorArray(names=None)", lambda o: _sensor_array(names=None), TypeError, "names"),
    ("SensorArray(names=3)", lambda o: _sensor_array(names=3), TypeError, "names"),
    ("SensorArray(coil_types=None)", lambda o: _sensor_array(coil_types=None), TypeError,
     "coil_types"),
    ("SensorArray(coil_types=['a', 'b'])", lambda o: _sensor_array(coil_types=["a", "b"]),
     TypeError, "coil_types"),
    ("SensorArray(coil_types=[2000.5, 2000])",
     lambda o: _sensor_array(coil_types=[2000.5, 2000]), ValueError, "coil_types"),
    ("SensorArray(loc='x')", lambda o: _sensor_array(loc="x"), TypeError, "loc"),
    ("SensorArray(dev_head_t='x')", lambda o: _sensor_array(dev_head_t="x"), TypeError,
     "dev_head_t"),
    ("SensorArray(dev_head_t={})",  # was KeyError
     lambda o: _sensor_array(dev_head_t={}), TypeError, "dev_head_t"),
    ("SensorArray(sensor_index='x')", lambda o: _sensor_array(sensor_index="x"), TypeError,
     "sensor_index"),
    ("SensorArray(sensor_index=[0.5, 1])", lambda o: _sensor_array(sensor_index=[0.5, 1]),
     ValueError, "sensor_index"),
    ("SensorArray(kind=3)", lambda o: _sensor_array(kind=3), TypeError, "kind"),
    ("SensorArray(sensor=3)", lambda o: _sensor_array(sensor=3), TypeError, "sensor"),
    ("SensorArray(presets=3)", lambda o: _sensor_array(presets=3), TypeError, "presets"),
    ("SensorArray(presets=['x', 'y'])", lambda o: _sensor_array(presets=["x", "y"]),
     ValueError, "presets"),
    ("SensorArray(presets=[None, None])", lambda o: _sensor_array(presets=[None, None]),
     TypeError, "presets"),
    ("SensorArray(noise='x')", lambda o: _sensor_array(noise="x"), TypeError, "noise"),
    ("SensorArray(noise=3 values for 2)", lambda o: _sensor_array(noise=[1e-15] * 3),
     ValueError, "noise"),
    ("SensorArray(noise=1.0)", lambda o: _sensor_array(noise=1.0), ValueError,
     r"noise.*fT/sqrt\(Hz\)"),
    ("pick(None)", lambda o: o["arr"].pick(None), TypeError, "picks"),
    ("pick([1.5])", lambda o: o["arr"].pick([1.5]), TypeError, "picks"),
    ("pick([0, 0])", lambda o: o["arr"].pick([0, 0]), ValueError, "picks"),
    ("pick([0, -16])", lambda o: o["arr"].pick([0, -16]), ValueError, "picks"),
    ("pick(all False)", lambda o: o["arr"].pick(np.zeros(16, bool)), ValueError, "picks"),
    ("pick({'a': 1})", lambda o: o["arr"].pick({"a": 1}), TypeError, "picks"),
    ("pick([[0, 1]])", lambda o: o["arr"].pick([[0, 1]]), ValueError, "picks"),
    ("pick([])", lambda o: o["arr"].pick([]), ValueError, "picks"),
    ("coil_points(['x'])", lambda o: o["arr"].coil_points(["x"]), ValueError, "accuracy"),
    ("to_info(sfreq='a')", lambda o: o["arr"].to_info(sfreq="a"), TypeError, "sfreq"),
    ("to_info(sfreq=None)", lambda o: o["arr"].to_info(sfreq=None), TypeError, "sfreq"),
    ("from_info(sensor=3)", lambda o: qs.SensorArray.from_info(o["info"], sensor=3),
     TypeError, "sensor"),
    ("from_info(sensor=['x'])", lambda o: qs.SensorArray.from_info(o["info"], sensor=["x"]),
     TypeError, "sensor"),
    ("from_info(kind=3)", lambda o: qs.SensorArray.from_info(o["info"], kind=3), TypeError,
     "kind"),
    ("from_info(noise of another length)",
     lambda o: qs.SensorArray.from_info(o["info"], noise=[1e-15] * 3), ValueError, "noise"),
    ("from_info(damaged preset record)",  # was json.JSONDecodeError
     lambda o: _info_with_description(o["info"], "qsense sensor presets: {not json"),
     ValueError, r'info\["description"\]'),
    ("from_info(preset record of a list)",  # was AttributeError
     lambda o: _info_with_description(o["info"], "qsense sensor presets: [1, 2]"),
     ValueError, r'info\["description"\]'),
    ("from_info(preset record naming no preset)",
     lambda o: _info_with_description(o["info"], 'qsense sensor presets: {"nope": ["A"]}'),
     ValueError, r'info\["description"\].*nope'),
    # ----------------------------------------------------------------- sources
    ("cortex(spacing=['ico4'])", lambda o: sources.cortex(o["fs"], ["ico4"]), ValueError,
     "spacing"),
    ("points('abc')", lambda o: sources.points("abc", o["sph"]), TypeError, "positions"),
    ("points(None)", lambda o: sources.points(None, o["sph"]), TypeError, "positions"),
    ("points(normals='x')", lambda o: sources.points(P, o["sph"], normals="x"), TypeError,
     "normals"),
    ("superficial_tangential(max_depth='a')",
     lambda o: sources.superficial_tangential(o["src"], o["fs"], max_depth="a"),
     TypeError, "max_depth"),
    ("superficial_tangential(max_depth=None)",
     lambda o: sources.superficial_tangential(o["src"], o["fs"], max_depth=None),
     TypeError, "max_depth"),
    ("superficial_tangential(min_tangential='a')",
     lambda o: sources.superficial_tangential(o["src"], o["fs"], min_tangential="a"),
     TypeError, "min_tangential"),
    ("superficial_tangential(upper='yes')",
     lambda o: sources.superficial_tangential(o["src"], o["fs"], upper="yes"), TypeError,
     "upper"),
    ("SourceSpace(kind='x')", lambda o: sources.SourceSpace("x", P, None, np.eye(4)),
     ValueError, "kind"),
    ("SourceSpace(head_mri_t=None)",
     lambda o: sources.SourceSpace("discrete", P, None, None), TypeError, "head_mri_t"),
    ("SourceSpace(head_mri_t 3x3)",  # was IndexError in to_mne()
     lambda o: sources.SourceSpace("discrete", P, None, np.eye(3)), ValueError,
     "head_mri_t"),
    ("SourceSpace(positions=None)",
     lambda o: sources.SourceSpace("discrete", None, None, np.eye(4)), TypeError,
     "positions"),
    # ------------------------------------------------------------- lead fields
    ("leadfield(sources=None)", lambda o: qs.leadfield(o["arr_s"], o["sph"], None),
     TypeError, "source"),
    ("leadfield(sources='src')", lambda o: qs.leadfield(o["arr_s"], o["sph"], "src"),
     TypeError, "source"),
    ("leadfield(sources=mne.SourceSpaces)",
     lambda o: qs.leadfield(o["arr"], o["fs"], o["src"].mne_src), TypeError,
     r"sources.*from_mne"),
    ("leadfield(memory_budget=True)",
     lambda o: qs.leadfield(o["arr_s"], o["sph"], o["vol"], memory_budget=True), TypeError,
     "memory_budget"),
    ("leadfield(memory_budget='1G')",
     lambda o: qs.leadfield(o["arr_s"], o["sph"], o["vol"], memory_budget="1G"), TypeError,
     "memory_budget"),
    ("leadfield(memory_budget=0)",
     lambda o: qs.leadfield(o["arr_s"], o["sph"], o["vol"], memory_budget=0), ValueError,
     "memory_budget"),
    ("make_forward(memory_budget=-1)",
     lambda o: qs.make_forward(o["arr_s"], o["sph"], o["vol"], memory_budget=-1),
     ValueError, "memory_budget"),
    ("make_forward(accuracy=['x'])",
     lambda o: qs.make_forward(o["arr_s"], o["sph"], o["vol"], accuracy=["x"]), ValueError,
     "accuracy"),
    # ------------------------------------------------------------------ budget
    ("noise_budget(freqs='a')", lambda o: qs.noise_budget(o["arr"], o["env"], freqs="a"),
     TypeError, "freqs"),
    ("noise_budget(freqs=True)", lambda o: qs.noise_budget(o["arr"], o["env"], freqs=True),
     TypeError, "freqs"),
    ("noise_budget(freqs=['1', '2'])",
     lambda o: qs.noise_budget(o["arr"], o["env"], freqs=["1", "2"]), TypeError, "freqs"),
    ("noise_budget(freqs=[nan])", lambda o: qs.noise_budget(o["arr"], o["env"], freqs=[NAN]),
     ValueError, "freqs"),
    ("noise_budget(suppression='yes')",
     lambda o: qs.noise_budget(o["arr"], o["env"], freqs=[1.0], suppression="yes"),
     TypeError, "suppression"),
    ("mne_suppression(array=None)",  # was AttributeError
     lambda o: budget.mne_suppression(None, o["env"]), TypeError, "array"),
    ("mne_suppression(environment='x')",  # was AttributeError
     lambda o: budget.mne_suppression(o["arr"], "x"), TypeError, "environment"),
    ("dominant(ds=None)", lambda o: budget.dominant(None, 1.0), TypeError, "ds"),
    ("dominant(empty Dataset)",  # was KeyError
     lambda o: budget.dominant(xr.Dataset(), 1.0), ValueError, "ds"),
    ("dominant(freq=nan)",  # was KeyError
     lambda o: budget.dominant(o["ds"], NAN), ValueError, "freq"),
    ("dominant(freq='a')", lambda o: budget.dominant(o["ds"], "a"), TypeError, "freq"),
    ("dominant(channel_agg='bad')",  # was AttributeError
     lambda o: budget.dominant(o["ds"], 1.0, "bad"), ValueError, "channel_agg"),
    ("dominant(channel_agg='__class__')",
     lambda o: budget.dominant(o["ds"], 1.0, "__class__"), ValueError, "channel_agg"),
    # ---------------------------------------------------------------- OPM physics
    ("opm_response(field=None)", lambda o: opm.opm_response(None, 1000.0, FRAMES),
     TypeError, "field"),
    ("opm_response(field='a')", lambda o: opm.opm_response("a", 1000.0, FRAMES), TypeError,
     "field"),
    ("opm_response(sfreq=True)", lambda o: opm.opm_response(FIELD, True, FRAMES),
     ValueError, "sfreq"),
    ("opm_response(frames=None)", lambda o: opm.opm_response(FIELD, 1000.0, None),
     TypeError, "frames"),
    ("opm_response(gain_error='a')", lambda o: _opm(gain_error="a"), TypeError,
     "gain_error"),
    ("opm_response(positions='a')", lambda o: _opm(positions="a", crosstalk="dipole"),
     TypeError, "positions"),
    ("opm_response(cell_weights='a')", lambda o: _opm(cell_weights="a"), TypeError,
     "cell_weights"),
    ("opm_response(closed_loop='no')",  # 'no' was truthy
     lambda o: _opm(closed_loop="no"), TypeError, "closed_loop"),
    ("opm_response(noise='no')", lambda o: _opm(noise="no", seed=0), TypeError, "noise"),
    ("opm_response(n_substeps='a')", lambda o: _opm(n_substeps="a"), TypeError,
     "n_substeps"),
    ("opm_response(n_substeps=None)", lambda o: _opm(n_substeps=None), TypeError,
     "n_substeps"),
    ("opm_response(n_substeps=2.5)", lambda o: _opm(n_substeps=2.5), ValueError,
     "n_substeps"),
    ("opm_response(n_substeps=10**5)",  # 10**12 hung; 10**5 is refused, not slow
     lambda o: _opm(n_substeps=10**5), ValueError, "n_substeps"),
    ("opm_response(seed='a')", lambda o: _opm(noise=True, seed="a"), TypeError, "seed"),
    ("opm_response(seed=-1)", lambda o: _opm(noise=True, seed=-1), ValueError, "seed"),
    ("opm_response(seed=1.5)", lambda o: _opm(noise=True, seed=1.5), ValueError, "seed"),
    ("opm_response(seed=nan)", lambda o: _opm(noise=True, seed=NAN), ValueError, "seed"),
    ("opm_response(sensor_ids=[-1, 3])",
     lambda o: _opm(noise=True, seed=0, sensor_ids=[-1, 3]), ValueError, "sensor_ids"),
    ("opm_response(sensor_ids=['a', 'b'])",
     lambda o: _opm(noise=True, seed=0, sensor_ids=["a", "b"]), TypeError, "sensor_ids"),
    ("opm_response(sensor_ids=[0.5, 1.5])",
     lambda o: _opm(noise=True, seed=0, sensor_ids=[0.5, 1.5]), ValueError, "sensor_ids"),
    ("cell_points(order='a')",
     lambda o: opm.cell_points(np.zeros((2, 3)), FRAMES, order="a"), TypeError, "order"),
    ("cell_points(order=0)", lambda o: opm.cell_points(np.zeros((2, 3)), FRAMES, order=0),
     ValueError, "order"),
    ("cell_points(positions=None)", lambda o: opm.cell_points(None, FRAMES), TypeError,
     "positions"),
    ("sensor_frames_from_array('x')", lambda o: opm.sensor_frames_from_array("x"),
     TypeError, "array"),
    ("simulate_array_recording(array=None)",
     lambda o: opm.simulate_array_recording(None, FIELD, 1000.0), TypeError, "array"),
    ("simulate_array_recording(mode='dual')",
     lambda o: opm.simulate_array_recording(o["arr"], np.zeros((16, 3, 50)), 1000.0,
                                            mode="dual"), TypeError, "mode"),
    # ----------------------------------------------------------------- inverse
    ("peak_localisation_error(fwd=None)",
     lambda o: inverse.peak_localisation_error(None, o["inv"]), TypeError, "fwd"),
    ("peak_localisation_error(inv=None)",
     lambda o: inverse.peak_localisation_error(o["fwd"], None), TypeError, "inv"),
    ("peak_localisation_error(fwd=dict)",
     lambda o: inverse.peak_localisation_error(dict(o["fwd"]), o["inv"]), TypeError, "fwd"),
    ("peak_localisation_error(method=None)",
     lambda o: inverse.peak_localisation_error(o["fwd"], o["inv"], method=None), ValueError,
     "method"),
    ("peak_localisation_error(lambda2=nan)",
     lambda o: inverse.peak_localisation_error(o["fwd"], o["inv"], lambda2=NAN), ValueError,
     "lambda2"),
    ("peak_localisation_error(lambda2=-1)",
     lambda o: inverse.peak_localisation_error(o["fwd"], o["inv"], lambda2=-1.0),
     ValueError, "lambda2"),
    ("peak_localisation_error(sources='a')",
     lambda o: inverse.peak_localisation_error(o["fwd"], o["inv"], sources="a"), ValueError,
     "sources"),
    ("point_spread_peaks(chunk='a')",
     lambda o: inverse.point_spread_peaks(o["fwd"], o["inv"], chunk="a"), ValueError,
     "chunk"),
    ("leading_eigenvalue('x')", lambda o: inverse.leading_eigenvalue("x"), TypeError, "inv"),
    ("information_bits(gain='a')", lambda o: inverse.information_bits("a", [1.0], 1.0),
     TypeError, "gain"),
    ("information_bits(noise_cov='a')",
     lambda o: inverse.information_bits(np.ones((2, 3)), "a", 1.0), TypeError, "noise_cov"),
    ("information_bits(source_var='a')",
     lambda o: inverse.information_bits(np.ones((2, 3)), [1.0, 1.0], "a"), TypeError,
     "source_var"),
    ("information_bits(empty gain)",  # was 0 bits
     lambda o: inverse.information_bits(np.ones((0, 3)), np.ones(0), 1.0), ValueError,
     "gain"),
    ("total_information(array=None)",  # was AttributeError
     lambda o: inverse.total_information(None, o["fs"], o["src"], source_std=1e-9,
                                         bandwidth=1.0), TypeError, "array"),
    ("total_information(sources=None)",
     lambda o: inverse.total_information(o["arr"], o["fs"], None, source_std=1e-9,
                                         bandwidth=1.0), TypeError, "source"),
    ("total_information(noise_std='a')",
     lambda o: inverse.total_information(o["arr"], o["fs"], o["src"], source_std=1e-9,
                                         noise_std="a"), TypeError, "noise_std"),
    ("total_information(accuracy='bad')",
     lambda o: inverse.total_information(o["arr"], o["fs"], o["src"], source_std=1e-9,
                                         bandwidth=1.0, accuracy="bad"), ValueError,
     "accuracy"),
    ("dipole_localisation_bound(positions=None)",
     lambda o: inverse.dipole_localisation_bound(o["arr_s"], o["sph"], None, Q,
                                                 bandwidth=1.0), TypeError, "positions"),
    ("dipole_localisation_bound(moments='a')",
     lambda o: inverse.dipole_localisation_bound(o["arr_s"], o["sph"], P, "a",
                                                 bandwidth=1.0), TypeError, "moments"),
    ("dipole_localisation_bound(moments=None)",
     lambda o: inverse.dipole_localisation_bound(o["arr_s"], o["sph"], P, None,
                                                 bandwidth=1.0), TypeError, "moments"),
    ("dipole_localisation_bound(noise_std='a')",
     lambda o: inverse.dipole_localisation_bound(o["arr_s"], o["sph"], P, Q, noise_std="a"),
     TypeError, "noise_std"),
    ("dipole_localisation_bound(accuracy=None)",
     lambda o: inverse.dipole_localisation_bound(o["arr_s"], o["sph"], P, Q, bandwidth=1.0,
                                                 accuracy=None), ValueError, "accuracy"),
]


@pytest.mark.parametrize("call, exc, match",
                         [pytest.param(c, e, m, id=i) for i, c, e, m in CASES])
def test_refused_at_the_boundary(o, call, exc, match):
    with pytest.raises((ValueError, TypeError)) as err:
        call(o)
    assert type(err.value) is exc, f"{type(err.value).__name__}: {err.value}"
    assert re.search(match, str(err.value)), str(err.value)


def test_catalogue_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
