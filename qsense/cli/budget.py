"""``qsense budget``: the noise budget of a sensor in a room, from the command line.

The science is :func:`qsense.budget.noise_budget`; the figure
:func:`qsense.plots.plot_budget`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from . import UsageError

__all__ = ["add_budget_parser", "run_budget"]

_DEFAULTS = {"sensor": "quspin_gen2", "room": "opm_two_layer", "n_sensors": 32, "fmin": 0.1,
             "fmax": 1000.0, "n_freqs": 200, "nulling": False, "suppression": False,
             "output": None, "plot": None}
_REPORT_FREQS = (1.0, 10.0, 100.0)


def add_budget_parser(subparsers):
    """Add the ``budget`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "budget", help="noise budget of a sensor in a shielded room",
        description="Noise budget (contributor x channel x frequency) of a sensor array in a "
                    "room; prints the dominant contributor at 1, 10 and 100 Hz. The sensor "
                    "is worn in its usual array (preset.default_array): OPM and NV sensors "
                    "on the scalp, SQUIDs in their helmet.")
    p.add_argument("--config", type=Path, help="TOML file with keys of the flags below")
    p.add_argument("--sensor", default=None,
                   help="sensor preset, SQUID, OPM or NV (default quspin_gen2; "
                        "`qsense info` lists them)")
    p.add_argument("--room", default=None, help="room preset (default opm_two_layer)")
    p.add_argument("--n-sensors", type=int, default=None,
                   help="on-scalp sensors (OPM, NV) (32)")
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


def _settings(args) -> dict:
    """Defaults, overridden by the ``--config`` file, overridden by the flags."""
    cfg = dict(_DEFAULTS)
    source = {k: f"argument --{k.replace('_', '-')}" for k in _DEFAULTS}
    if getattr(args, "config", None) is not None:
        with open(args.config, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("budget", data)
        unknown = set(k.replace("-", "_") for k in data) - set(_DEFAULTS)
        if unknown:
            raise UsageError(f"argument --config: {args.config} has unknown keys "
                             f"{sorted(unknown)}; allowed: {sorted(_DEFAULTS)}")
        for k, v in data.items():
            k = k.replace("-", "_")
            cfg[k], source[k] = v, f"argument --config: key {k}"
    for k in _DEFAULTS:
        v = getattr(args, k, None)
        if v is not None:
            cfg[k], source[k] = v, f"argument --{k.replace('_', '-')}"
    if not (isinstance(cfg["n_sensors"], int) and cfg["n_sensors"] >= 1):
        raise UsageError(f"{source['n_sensors']}: need a whole number >= 1, got "
                         f"{cfg['n_sensors']!r}")
    if not (0 < float(cfg["fmin"]) < float(cfg["fmax"])):
        raise UsageError(f"{source['fmin']}: need 0 < fmin < fmax, got fmin={cfg['fmin']}, "
                         f"fmax={cfg['fmax']}")
    cfg["_source"] = source
    return cfg


def _setting(cfg: dict, key: str, build):
    """``build(cfg[key])``, its ValueError turned into a :class:`UsageError` naming the
    option the value came from."""
    try:
        return build(cfg[key])
    except ValueError as err:
        raise UsageError(f"{cfg['_source'][key]}: {err}") from None


def run_budget(args) -> xr.Dataset:
    """Run ``qsense budget``: compute, print, and optionally save and plot.

    Raises
    ------
    qsense.cli.UsageError
        (a ValueError) for a bad setting; the message names the option and the value.
    """
    from .._io import atomic_write
    from ..budget import CONTRIBUTORS, dominant, noise_budget
    from ..environment import Environment, get_room
    from ..head import Head
    from ..sensors import get_preset

    cfg = _settings(args)
    preset = _setting(cfg, "sensor", lambda s: get_preset(str(s)))
    arr = _setting(cfg, "sensor",
                   lambda _: preset.default_array(Head.sphere(), cfg["n_sensors"]))
    room = _setting(cfg, "room", lambda r: get_room(str(r)))
    env = Environment(room=room, nulling=bool(cfg["nulling"]))
    freqs = np.logspace(np.log10(float(cfg["fmin"])), np.log10(float(cfg["fmax"])),
                        int(cfg["n_freqs"]))
    if env.power_line is not None:
        # sample the power-line harmonics at their centres: narrow lines fall between
        # log-spaced points otherwise and show at a grid-dependent fraction of their peak
        lines = env.power_line.frequency * np.asarray(env.power_line.harmonics, float)
        freqs = np.union1d(freqs, lines[(lines >= freqs[0]) & (lines <= freqs[-1])])
    ds = noise_budget(arr, env, freqs, suppression=bool(cfg["suppression"]))
    print(f"noise budget: sensor {preset.name} ({arr.n_channels} channels), room "
          f"{room.name}, nulling {'on' if cfg['nulling'] else 'off'}")
    print("channel-median ASD in fT/sqrt(Hz)" + (" (fT/(cm sqrt(Hz)) for gradiometers)"
                                                 if bool(np.any(arr.is_gradiometer)) else ""))
    scale = 1e13 if bool(np.all(arr.is_gradiometer)) else 1e15
    print(f"{'f (Hz)':>8} " + " ".join(f"{c:>14}" for c in CONTRIBUTORS) +
          f" {'total':>12}  dominant")
    for f0 in _REPORT_FREQS:
        if not freqs[0] <= f0 <= freqs[-1]:
            continue
        sel = ds.sel(frequency=f0, method="nearest")
        vals = [float(sel["asd"].sel(contributor=c).median("channel")) * scale
                for c in CONTRIBUTORS]
        print(f"{f0:8.1f} " + " ".join(f"{v:14.6g}" for v in vals) +
              f" {float(sel['total'].median('channel')) * scale:12.6g}  {dominant(ds, f0)}")
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
