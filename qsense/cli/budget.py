"""``qsense budget``: the noise budget of a sensor in a room, from the command line.

The science is :func:`qsense.budget.noise_budget`; the figure
:func:`qsense.plots.plot_budget`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import UsageError
from .config import add_options, resolve

__all__ = ["add_budget_parser", "run_budget"]

_REPORT_FREQS = (1.0, 10.0, 100.0)


def add_budget_parser(subparsers):
    """Add the ``budget`` subcommand to an argparse ``subparsers`` object (its options:
    :data:`qsense.cli.config.SCHEMAS` ``["budget"]``)."""
    p = subparsers.add_parser(
        "budget", help="noise budget of a sensor in a shielded room",
        description="Noise budget (contributor x channel x frequency) of a sensor array in a "
                    "room; prints the dominant contributor at 1, 10 and 100 Hz. The sensor "
                    "is worn in its usual array (preset.default_array): OPM and NV sensors "
                    "on the scalp, SQUIDs in their helmet.")
    add_options(p, "budget")
    p.set_defaults(func=run_budget)
    return p


def _setting(cfg, key: str, build):
    """``build(cfg[key])``, its ValueError turned into a :class:`UsageError` naming the
    option the value came from."""
    try:
        return build(cfg[key])
    except ValueError as err:
        raise UsageError(f"{cfg.source[key]}: {err}") from None


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

    cfg = resolve("budget", args)  # every setting checked, output paths included
    preset = get_preset(cfg["sensor"])
    arr = _setting(cfg, "sensor",
                   lambda _: preset.default_array(Head.sphere(), cfg["n_sensors"]))
    room = get_room(cfg["room"])
    env = Environment(room=room, nulling=cfg["nulling"])
    freqs = np.logspace(np.log10(cfg["fmin"]), np.log10(cfg["fmax"]), cfg["n_freqs"])
    if env.power_line is not None:
        # sample the power-line harmonics at their centres: narrow lines fall between
        # log-spaced points otherwise and show at a grid-dependent fraction of their peak
        lines = env.power_line.frequency * np.asarray(env.power_line.harmonics, float)
        freqs = np.union1d(freqs, lines[(lines >= freqs[0]) & (lines <= freqs[-1])])
    ds = noise_budget(arr, env, freqs, suppression=cfg["suppression"])
    print(f"noise budget: sensor {preset.name} ({arr.n_channels} channels), room "
          f"{room.name}, nulling {'on' if cfg['nulling'] else 'off'}")
    planar = np.asarray(arr.is_planar_gradiometer, dtype=bool)
    print("channel-median ASD in fT/sqrt(Hz)" + (" (fT/(cm sqrt(Hz)) for planar gradiometers)"
                                                 if bool(np.any(planar)) else ""))
    scale = 1e13 if bool(np.all(planar)) else 1e15
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
        atomic_write(cfg["output"], lambda p: ds.to_netcdf(p))
        print(f"wrote {cfg['output']}")
    if cfg["plot"]:
        from ..plots import plot_budget

        fig = plot_budget(ds).figure
        fmt = cfg["plot"].suffix.lstrip(".").lower() or "png"
        atomic_write(cfg["plot"], lambda p: fig.savefig(p, dpi=120, format=fmt))
        print(f"wrote {cfg['plot']}")
    return ds
