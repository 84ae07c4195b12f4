"""``qsense budget``: the noise budget of a sensor in a room, from the command line.

The science is :func:`qsense.budget.noise_budget`; the figure
:func:`qsense.plots.plot_budget`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["add_budget_parser", "run_budget"]


def add_budget_parser(subparsers):
    """Add the ``budget`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "budget", help="noise budget of a sensor in a shielded room",
        description="Noise budget (contributor x channel x frequency) of a sensor array in a "
                    "room; prints the dominant contributor at 1, 10 and 100 Hz.")
    p.add_argument("--config", type=Path, help="TOML file with keys of the flags below")
    p.add_argument("--sensor", default=None, help="sensor preset (default quspin_gen2)")
    p.add_argument("--room", default=None, help="room preset (default opm_two_layer)")
    p.add_argument("--n-sensors", type=int, default=None, help="OPMs on the scalp (32)")
    p.add_argument("--fmin", type=float, default=None, help="lowest frequency, Hz (0.1)")
    p.add_argument("--fmax", type=float, default=None, help="highest frequency, Hz (1000)")
    p.add_argument("--n-freqs", type=int, default=None, help="log-spaced points (200)")
    p.add_argument("--nulling", action="store_true", default=None,
                   help="on-person nulling coils cancel the remnant field")
    p.add_argument("--suppression", action="store_true", default=None,
                   help="report MNE interference suppression (HFC / SSS)")
    p.add_argument("--output", type=Path, default=None, help="NetCDF output file")
    p.add_argument("--plot", type=Path, default=None, help="figure output file (png/pdf)")
    p.set_defaults(func=run_budget)
    return p


_DEFAULTS = {"sensor": "quspin_gen2", "room": "opm_two_layer", "n_sensors": 32, "fmin": 0.1,
             "fmax": 1000.0, "n_freqs": 200, "nulling": False, "suppression": False,
             "output": None, "plot": None}


def _settings(args) -> dict:
    cfg = dict(_DEFAULTS)
    if getattr(args, "config", None) is not None:
        with open(args.config, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("budget", data)
        unknown = set(k.replace("-", "_") for k in data) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed: "
                             f"{sorted(_DEFAULTS)}")
        cfg.update({k.replace("-", "_"): v for k, v in data.items()})
    for k in _DEFAULTS:
        v = getattr(args, k, None)
        if v is not None:
            cfg[k] = v
    if not (0 < float(cfg["fmin"]) < float(cfg["fmax"])):
        raise ValueError(f"need 0 < fmin < fmax, got fmin={cfg['fmin']}, fmax={cfg['fmax']}")
    return cfg


def _array_for(sensor: str, n_sensors: int):
    from .. import arrays
    from ..head import Head
    from ..sensors import get_preset

    head = Head.sphere()
    preset = get_preset(sensor)
    if preset.kind == "squid":
        if sensor.startswith("neuromag"):
            arr = arrays.neuromag306(head)
            want = preset.coil_type
            return arr.pick([n for n, c in zip(arr.names, arr.coil_types, strict=True)
                             if int(c) == want]).replace(sensor=sensor)
        return arrays.ctf275(head)
    return arrays.opm_on_scalp(head, n_sensors=n_sensors, sensor=sensor)


def run_budget(args) -> xr.Dataset:
    """Run ``qsense budget``: compute, print, and optionally save and plot."""
    from .._io import atomic_write
    from ..budget import CONTRIBUTORS, dominant, noise_budget
    from ..environment import Environment, get_room

    cfg = _settings(args)
    arr = _array_for(str(cfg["sensor"]), int(cfg["n_sensors"]))
    env = Environment(room=get_room(str(cfg["room"])), nulling=bool(cfg["nulling"]))
    freqs = np.logspace(np.log10(float(cfg["fmin"])), np.log10(float(cfg["fmax"])),
                        int(cfg["n_freqs"]))
    if env.power_line is not None:
        # sample the power-line harmonics at their centres: narrow lines fall between
        # log-spaced points otherwise and show at a grid-dependent fraction of their peak
        lines = env.power_line.frequency * np.asarray(env.power_line.harmonics, float)
        freqs = np.union1d(freqs, lines[(lines >= freqs[0]) & (lines <= freqs[-1])])
    ds = noise_budget(arr, env, freqs, suppression=bool(cfg["suppression"]))
    print(f"noise budget: sensor {cfg['sensor']} ({arr.n_channels} channels), room "
          f"{cfg['room']}, nulling {'on' if cfg['nulling'] else 'off'}")
    print("channel-median ASD in fT/sqrt(Hz)" + (" (fT/(cm sqrt(Hz)) for gradiometers)"
                                                 if bool(np.any(arr.is_gradiometer)) else ""))
    scale = 1e13 if bool(np.all(arr.is_gradiometer)) else 1e15
    header = f"{'f (Hz)':>8} " + " ".join(f"{c:>14}" for c in CONTRIBUTORS) + \
        f" {'total':>10}  dominant"
    print(header)
    for f0 in (1.0, 10.0, 100.0):
        if not freqs[0] <= f0 <= freqs[-1]:
            continue
        sel = ds.sel(frequency=f0, method="nearest")
        vals = [float(sel["asd"].sel(contributor=c).median("channel")) * scale
                for c in CONTRIBUTORS]
        print(f"{f0:8.1f} " + " ".join(f"{v:14.3g}" for v in vals) +
              f" {float(sel['total'].median('channel')) * scale:10.3g}  {dominant(ds, f0)}")
    if "attenuation" in ds:
        print("MNE suppression (" + ds["attenuation"].attrs["method"] + "): " + ", ".join(
            f"{c} x{float(ds['attenuation'].sel(contributor=c)):.3g}"
            for c in ("interference", "power_line")))
    if cfg["output"]:
        atomic_write(Path(cfg["output"]), lambda p: ds.to_netcdf(p))
        print(f"wrote {cfg['output']}")
    if cfg["plot"]:
        from ..plots import plot_budget

        fig = plot_budget(ds).figure
        fmt = Path(cfg["plot"]).suffix.lstrip(".") or "png"
        atomic_write(Path(cfg["plot"]), lambda p: fig.savefig(p, dpi=120, format=fmt))
        print(f"wrote {cfg['plot']}")
    return ds
