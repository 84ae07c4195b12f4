"""``qsense design``: an on-scalp OPM array designed by gradient ascent.

The science is :func:`inverse.design_array` (and its baselines
:func:`inverse.design.even_array`, :func:`inverse.design.greedy_array`); the figure
:func:`inverse.design.plot_design_layouts`. The options are declared here, in
:data:`qsense.cli.config.SCHEMAS` ``["design"]``, and checked (output paths included)
before anything is computed.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from . import UsageError
from .config import SCHEMAS, Option, _opm_names, _output_file, _plot_file, add_options, resolve

__all__ = ["add_design_parser", "run_design"]


def _objectives():
    from inverse.design import OBJECTIVES

    return OBJECTIVES


def _axes():
    from inverse.design import DESIGN_AXES

    return DESIGN_AXES


def _rois():
    from inverse.design import NAMED_ROIS

    return ("none", *NAMED_ROIS)


def _cortex_spacings():
    from ..sources import CORTEX_SPACINGS

    return tuple(CORTEX_SPACINGS)


def _nc_output(path):
    path = _output_file("output")(path)
    if path.suffix.lower() != ".nc":
        raise ValueError(f"output={str(path)!r} must end in .nc (a NetCDF file)")
    return path


SCHEMAS["design"] = (
    Option("n_sensors", "int", 32, "sensors to place", low=1, high=512),
    Option("objective", "str", "information", "what to maximise: information (bits per "
           "sample about the sources) or crb (minus the mean log Cramer-Rao bound)",
           choices=_objectives),
    Option("roi", "str", "none", "region of interest on the fsaverage cortex (none: all "
           "sources)", choices=_rois),
    Option("axes", "str", "radial", "sensor orientation: along the scalp normal, or "
           "tilted freely (optimised)", choices=_axes),
    Option("sensor", "str", "quspin_gen2", "OPM preset", choices=_opm_names),
    Option("head", "str", "fsaverage", "head: fsaverage (fitted-sphere conductor, cortex "
           "sources) or sphere (volume sources)", choices=lambda: ("fsaverage", "sphere")),
    Option("spacing", "str", "ico3", "cortical source spacing (fsaverage head)",
           choices=_cortex_spacings),
    Option("standoff", "float", None, "scalp to cell centre, m", low=0.0, high=0.05,
           default_text="the preset's (6.5 mm for QuSpin)"),
    Option("min_spacing", "float", 0.02, "minimum distance between sensors, m", low=0.0,
           high=0.2),
    Option("n_steps", "int", 300, "Adam steps", low=0, high=100_000),
    Option("learning_rate", "float", 0.01, "peak step, radians of direction", low=0.0,
           high=1.0, low_open=True),
    Option("seed", "int", 0, "seed (random start only)", low=0, high=10**9),
    Option("init", "str", "even", "start: even coverage or random",
           choices=lambda: ("even", "random")),
    Option("source_std", "float", 1e-9, "source amplitude standard deviation, A m "
           "(information)", low=0.0, high=1e-3, low_open=True),
    Option("moment", "float", 20e-9, "dipole moment, A m (crb)", low=0.0, high=1e-3,
           low_open=True),
    Option("bandwidth", "float", 1.0, "noise bandwidth of one sample, Hz", low=0.0,
           high=1e5, low_open=True),
    Option("baselines", "bool", True, "also build and score even coverage and the greedy "
           "selection"),
    Option("output", "path", None, "NetCDF file: the designed layout and the optimisation "
           "history", check=_nc_output),
    Option("plot", "path", None, "figure of the layouts (png, pdf, svg, ...)",
           check=_plot_file),
)


def add_design_parser(subparsers):
    """Add the ``design`` subcommand (its options: ``SCHEMAS["design"]``)."""
    p = subparsers.add_parser(
        "design", help="design an on-scalp OPM array by gradient ascent",
        description="Place on-scalp OPMs to maximise the information about the sources "
                    "(or minimise the Cramer-Rao bound) of a region of interest, by Adam on "
                    "exact JAX gradients of Sarvas's field; compares with even coverage and "
                    "a greedy selection; prints the objectives, optionally writes the "
                    "layout (NetCDF) and a figure.")
    add_options(p, "design")
    p.set_defaults(func=run_design)
    return p


def _layout_dataset(arr, hist, scores) -> xr.Dataset:
    ds = hist.copy()
    ds["position"] = (("sensor", "axis"), np.asarray(arr.positions),
                      {"units": "m", "long_name": "cell centre, head frame"})
    ds["orientation"] = (("sensor", "axis"), np.asarray(arr.orientations),
                         {"units": "1", "long_name": "sensitive axis, head frame"})
    ds = ds.assign_coords(sensor=("sensor", list(arr.names), {"long_name": "channel"}),
                          axis=("axis", ["x", "y", "z"], {"long_name": "head-frame axis"}))
    ds.attrs.update({f"objective_{k}": v for k, v in scores.items()})
    return ds


def run_design(args):
    """Run ``qsense design``; returns the designed :class:`qsense.SensorArray`."""
    import inverse
    from inverse import design as D

    from .._io import atomic_write
    from ..head import Head
    from ..sources import cortex, volume

    cfg = resolve("design", args)  # every setting checked, output paths included
    if cfg["head"] == "fsaverage":
        head = Head.fsaverage(conductor="sphere")
        src = cortex(head, cfg["spacing"])
    else:
        head = Head.sphere()
        src = volume(head, spacing=0.01)
    roi = None if cfg["roi"] == "none" else cfg["roi"]
    common = dict(objective=cfg["objective"], roi=roi, sources=src,
                  source_std=cfg["source_std"], moment=cfg["moment"],
                  bandwidth=cfg["bandwidth"])
    kw = dict(common, sensor=cfg["sensor"], standoff=cfg["standoff"],
              min_spacing=cfg["min_spacing"])
    try:  # what depends on the head (the ROI, room for the sensors): checked before work
        D._problem(head, cfg["n_sensors"], orientation=None, lmax=8,
                   coverage_deg=(100.0, 65.0), **kw)
    except ValueError as err:
        key = next((k for k in ("min_spacing", "roi", "standoff", "sensor") if
                    str(err).startswith(k)), "n_sensors")
        raise UsageError(f"{cfg.source[key]}: {err}") from None
    t0 = time.perf_counter()
    arr, hist = inverse.design_array(head, cfg["n_sensors"], axes=cfg["axes"],
                                     n_steps=cfg["n_steps"],
                                     learning_rate=cfg["learning_rate"], seed=cfg["seed"],
                                     init=cfg["init"], return_history=True, **kw)
    arrays = {"designed": arr}
    times = {"designed": time.perf_counter() - t0}
    if cfg["baselines"]:
        t0 = time.perf_counter()
        arrays["even"] = D.even_array(head, cfg["n_sensors"], standoff=cfg["standoff"],
                                      sensor=cfg["sensor"])
        times["even"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        arrays["greedy"] = D.greedy_array(head, cfg["n_sensors"], **kw)
        times["greedy"] = time.perf_counter() - t0
    scores = {k: D.evaluate_array(a, head, **common) for k, a in arrays.items()}
    unit = "bit" if cfg["objective"] == "information" else "(-mean ln tr CRB/m^2)"
    print(f"design: {cfg['n_sensors']} {hist.attrs['sensor']} OPMs on {head.name}, "
          f"objective {cfg['objective']}, roi {cfg['roi']} "
          f"({hist.attrs['n_roi_sources']} of {hist.attrs['n_sources']} sources)")
    print(f"{'layout':>10} {'objective':>12} {'min dist (mm)':>14} {'time (s)':>9}")
    for k, a in arrays.items():
        print(f"{k:>10} {scores[k]:12.5g} {D._min_distance(a.positions) * 1e3:14.1f} "
              f"{times[k]:9.1f}")
    print(f"objective unit: {unit}")
    if cfg["output"]:
        ds = _layout_dataset(arr, hist, scores)
        atomic_write(cfg["output"], lambda p: ds.to_netcdf(p))
        print(f"wrote {cfg['output']}")
    if cfg["plot"]:
        roi_pos = src.positions[D.region_of_interest(head, src, roi)] if roi else None
        fig = D.plot_design_layouts(arrays, head, roi_positions=roi_pos, values=scores,
                                    unit="bit" if cfg["objective"] == "information" else "")
        fmt = cfg["plot"].suffix.lstrip(".").lower() or "png"
        atomic_write(cfg["plot"], lambda p: fig.savefig(p, dpi=110, format=fmt))
        print(f"wrote {cfg['plot']}")
    return arr
