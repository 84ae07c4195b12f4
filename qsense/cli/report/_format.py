"""Numbers and words of the report: SI values shown in the units people read, settings
shown as they were meant (``lambda2 = 1/9``, not ``0.1111111111111111``), the dataset's
structure (sweeps, sources) and the written conclusion, generated from the numbers."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import xarray as xr

CORE_DIMS = ("array", "solver", "source")

# SI unit -> (factor, unit shown)
_DISPLAY = {
    "m": (1e3, "mm"),
    "T/sqrt(Hz)": (1e15, "fT/√Hz"),
    "T/(m sqrt(Hz))": (1e13, "fT/(cm √Hz)"),
    "T": (1e15, "fT"),
    "A m": (1e9, "nA m"),
    "Hz": (1.0, "Hz"),
    "bit": (1.0, "bit"),
    "1": (1.0, ""),
}


def display(units: str | None) -> tuple[float, str]:
    """(factor, shown unit) for an SI ``units`` attribute (unknown units: shown as is)."""
    if units is None:
        return 1.0, ""
    return _DISPLAY.get(str(units), (1.0, str(units)))


def sig(x, digits: int = 3, strip: bool = False) -> str:
    """``x`` to ``digits`` significant digits, positional between 1e-3 and 1e6, thousands
    separated; ``"–"`` for NaN. ``strip``: without trailing zeros (``20``, not ``20.0``)."""
    x = float(x)
    if not math.isfinite(x):
        return "–" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 6 or mag < -3:
        m, e = f"{x:.{digits - 1}e}".split("e")
        if strip and "." in m:
            m = m.rstrip("0").rstrip(".")
        return f"{m} × 10^{int(e)}"
    places = digits - 1 - mag  # negative: round to tens, hundreds, ...
    text = f"{round(x, places):,.{max(places, 0)}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def quantity(x, units: str | None, digits: int = 3, strip: bool = True) -> str:
    """``x`` (SI, ``units``) as a number and its display unit, e.g. ``"15 fT/√Hz"``."""
    factor, shown = display(units)
    text = sig(float(x) * factor, digits, strip)
    return f"{text} {shown}".strip()


def setting(key: str, value) -> str:
    """A study setting as written by a person: ``1/9``, ``20 nA m``, ``1 Hz``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return ", ".join(setting(key, v) for v in value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        for suffix, units in (("_Hz", "Hz"), ("_Am", "A m"), ("_m", "m"), ("_s", "s")):
            if key.endswith(suffix):
                return quantity(v, units, 4)
        if 0 < abs(v) < 1:  # a simple fraction (lambda2 = 1/9), where it is one
            frac = Fraction(v).limit_denominator(1000)
            if frac.numerator in (1, -1) and math.isclose(float(frac), v, rel_tol=1e-12):
                return f"{frac.numerator}/{frac.denominator}"
        return sig(v, 4, strip=True)
    return str(value)


# ------------------------------------------------------------------ the dataset
# data variables along ``array`` that describe the arrays rather than measure them
DESCRIPTORS = ("noise_floor", "n_channels", "dev_head_t", "array_label", "channel")


# the views with sections of their own (noisy recordings, interference suppression, the
# Iivanainen et al. 2017 table, fair-comparison curves), not noiseless per-source metrics
VIEWS = ("rec_", "rejection_", "iivanainen_", "curve_")


def metric_vars(ds: xr.Dataset) -> list[str]:
    """Numeric data variables along ``array`` (not descriptors of the arrays such as
    ``noise_floor*``, nor the views of :data:`VIEWS`): the study's noiseless metrics."""
    return [str(v) for v in ds.data_vars if "array" in ds[v].dims
            and not str(v).startswith(DESCRIPTORS + VIEWS)
            and np.issubdtype(ds[v].dtype, np.number)]


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """Dimensions the metrics vary over besides array, solver and source (channel count,
    noise floor, ...): the report draws curves over them."""
    dims = []
    for v in metric_vars(ds):
        for d in ds[v].dims:
            if d not in CORE_DIMS and d not in dims and ds.sizes[d] > 1:
                dims.append(str(d))
    return dims


def base(ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """``ds`` at the first value of every sweep dimension, and those values."""
    at = {d: ds[d].values[0] if d in ds.coords else 0 for d in sweep_dims(ds)}
    return ds.isel({d: 0 for d in at}), at


def hemispheres(ds: xr.Dataset) -> np.ndarray:
    """``"lh"``/``"rh"`` per source: the ``hemisphere`` coordinate, else the qsense cortex
    order (left hemisphere first, equal halves)."""
    if "hemisphere" in ds.coords:
        h = np.array([str(x).lower() for x in ds["hemisphere"].values])
        return np.where(np.isin(h, ("lh", "left", "l")), "lh", "rh")
    n = ds.sizes["source"]
    return np.where(np.arange(n) < n // 2, "lh", "rh")


def positions(ds: xr.Dataset) -> np.ndarray | None:
    """Source positions (n_source, 3), m, from the ``x, y, z`` coordinates (or the older
    ``source_x, ...``); None when absent."""
    for names in (("x", "y", "z"), ("source_x", "source_y", "source_z")):
        if all(n in ds.coords and ds[n].dims == ("source",) for n in names):
            return np.stack([ds[n].values for n in names], axis=1).astype(float)
    return None


def labels(ds: xr.Dataset) -> list[str]:
    if "array_label" in ds.coords:
        return [str(v) for v in ds["array_label"].values]
    return [str(v) for v in ds["array"].values]


def solvers(ds: xr.Dataset) -> list[str]:
    """The solvers of the noiseless view: those with a peak localisation error (the
    noisy view has solvers of its own, e.g. the dipole fit)."""
    if "solver" not in ds.dims:
        return []
    names = [str(s) for s in ds["solver"].values]
    if "ple" in ds and "solver" in ds["ple"].dims:
        names = [s for s in names if np.isfinite(ds["ple"].sel(solver=s).values).any()]
    return names


def floors(ds: xr.Dataset, i: int) -> str:
    """The noise floors of array ``i``: every ``noise_floor*`` variable or coordinate, with
    its units (per sensor type where the floor has such a dimension)."""
    parts = []
    for name in sorted(set(ds.coords) | set(ds.data_vars)):
        if not str(name).startswith("noise_floor") or "array" not in ds[name].dims:
            continue
        da = ds[name].isel(array=i)
        units = da.attrs.get("units")
        prefix = str(name)[len("noise_floor"):].lstrip("_")
        prefix = f"{prefix}: " if prefix else ""
        if da.ndim == 0:
            v = da.values.item()
            if isinstance(v, str):
                parts.append(f"{prefix}{v} {units or ''}".strip())
            elif np.isfinite(v):
                parts.append(prefix + quantity(v, units))
        elif da.ndim == 1:
            dim = da.dims[0]
            keys = ds[dim].values if dim in ds.coords else range(da.size)
            for k, v in zip(keys, da.values, strict=True):
                if isinstance(v, str) or np.isfinite(v):
                    parts.append(f"{k}: {v if isinstance(v, str) else quantity(v, units)}")
    return "; ".join(parts) or "–"


# ------------------------------------------------------------------ the conclusion
def _ratio_text(a: float, b: float) -> str:
    return f"{sig(a / b, 2)}×" if b > 0 else "–"


def possessive(name: str) -> str:
    """``"Neuromag 306's"``, ``"on-scalp OPMs'"``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _spread(values, digits=2) -> tuple[int, int, bool]:
    """Index of the largest and smallest value and whether all are equal at ``digits``."""
    hi, lo = int(np.nanargmax(values)), int(np.nanargmin(values))
    same = sig(values[hi], digits) == sig(values[lo], digits)
    return hi, lo, same


def conclusions(ds: xr.Dataset, summ: xr.Dataset) -> list[str]:
    """Sentences that state what the numbers say (medians over the sources)."""
    names = labels(ds)
    out = []
    if "snr" in summ:
        snr = summ["snr"].values
        best, worst, same = _spread(snr, 3)
        moment = ds.attrs.get("moment_Am")
        what = f"a {setting('moment_Am', moment)} dipole" if moment else "a dipole"
        text = (f"Signal: the highest median signal-to-noise ratio of {what} is "
                f"{possessive(names[best])} ({sig(snr[best])})")
        if not same:
            text += (f", {_ratio_text(snr[best], snr[worst])} that of {names[worst]}, the "
                     f"lowest ({sig(snr[worst])})")
        out.append(text + ".")
    if "information" in summ:
        info = summ["information"].values
        best = int(np.nanargmax(info))
        others = ", ".join(f"{names[i]} {sig(v)}" for i, v in enumerate(info) if i != best)
        out.append(f"Information: {names[best]} carries the most about the sources "
                   f"({sig(info[best])} bit per sample" + (f"; {others}" if others else "")
                   + ").")
    if "ple" in summ and "solver" in summ["ple"].dims:
        for s in solvers(ds):
            ple = summ["ple"].sel(solver=s).values * 1e3
            sup = (summ["ple_superficial"].sel(solver=s).values * 1e3
                   if "ple_superficial" in summ else None)
            hi, lo, same = _spread(ple)
            if same:
                text = (f"Localisation with {s}: every array has the same median peak "
                        f"error of noiseless dipoles, {sig(ple[lo], 2)} mm")
            else:
                text = (f"Localisation with {s}: the smallest median peak error of noiseless "
                        f"dipoles is {possessive(names[lo])} ({sig(ple[lo], 2)} mm over all sources"
                        + (f", {sig(sup[lo], 2)} mm over the superficial tangential ones"
                           if sup is not None else "")
                        + f"), the largest {possessive(names[hi])} ({sig(ple[hi], 2)} mm)")
            out.append(text + ".")
    if "crb" in summ:
        crb = summ["crb"].values * 1e3
        best = int(np.nanargmin(crb))
        text = ("Precision bound: the smallest median Cramér-Rao bound is "
                f"{possessive(names[best])} ({sig(crb[best], 2)} mm)")
        if np.isinf(crb[best]):
            text = ("Precision bound: for every array most sources are not localisable "
                    "(the small-error regime of the Cramér-Rao bound fails)")
        if "localisable" in ds and "source" in ds["localisable"].dims:
            frac = ds["localisable"].mean("source")
            text += ("; sources where the bound holds (localisable; the others count as "
                     "not localisable in the medians): "
                     + ", ".join(f"{names[i]} {100 * float(v):.0f} %"
                                 for i, v in enumerate(np.atleast_1d(frac.values))))
        elif "crb" in ds and "source" in ds["crb"].dims:
            below = (ds["crb"] < 0.01).sum("source") / np.isfinite(ds["crb"]).sum("source")
            text += ("; sources whose bound lies below 1 cm, where fits can attain it: "
                     + ", ".join(f"{names[i]} {100 * float(v):.0f} %"
                                 for i, v in enumerate(np.atleast_1d(below.values))))
        out.append(text + ".")
    if not out:
        out.append("The dataset holds none of the study's metrics (snr, information, ple, "
                   "crb).")
    return out
