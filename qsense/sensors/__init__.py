"""The sensor registry: every sensor qsense knows, found by one lookup.

Each family of sensors is one module here, holding a subclass of :class:`SensorPreset`
(with the figures of its physics) and a tuple ``PRESETS`` of its presets:

- :mod:`qsense.sensors.squid`: SQUID magnetometers and gradiometers in fixed helmets;
- :mod:`qsense.sensors.opm`: optically pumped magnetometers, with the figures of their
  SERF Bloch model (:class:`OPMModel`);
- :mod:`qsense.sensors.nv`: NV-diamond magnetometers, with their ODMR readout figures.

``get_preset(name)`` finds any of them; ``preset_for_coil(coil_type)`` says which preset
a channel of an MNE coil type is when nothing else says so. Adding a sensor family is a
new module with its ``PRESETS`` and one entry in :data:`FAMILIES`.

Every preset is a frozen dataclass (override figures with ``preset.replace(...)``);
every figure carries its source in ``citation``, and figures for which no published
source was found are listed in ``assumptions``.
"""

from __future__ import annotations

import numbers

from . import nv, opm, squid
from .base import SensorPreset
from .nv import NVPreset
from .opm import OPM_MODELS, OPMModel, OPMPreset, get_opm_model
from .squid import SquidPreset

__all__ = [
    "FAMILIES",
    "PRESETS",
    "SensorPreset",
    "SquidPreset",
    "OPMPreset",
    "OPMModel",
    "OPM_MODELS",
    "NVPreset",
    "get_preset",
    "get_opm_model",
    "preset_names",
    "preset_for_coil",
]

FAMILIES = (squid, opm, nv)
"""The modules that define sensor families (each has a ``PRESETS`` tuple)."""


def _registry() -> dict[str, SensorPreset]:
    out: dict[str, SensorPreset] = {}
    for family in FAMILIES:
        for p in family.PRESETS:
            if p.name in out:
                raise RuntimeError(f"sensor preset {p.name!r} is defined twice")
            out[p.name] = p
    return out


PRESETS: dict[str, SensorPreset] = _registry()
"""Every sensor preset, by name."""


def _coil_defaults() -> dict[int, SensorPreset]:
    out: dict[int, SensorPreset] = {}
    for p in PRESETS.values():
        if p.coil_default:
            for ct in p.coil_types:
                if ct in out:
                    raise RuntimeError(f"coil type {ct} has two default presets: "
                                       f"{out[ct].name!r} and {p.name!r}")
                out[ct] = p
    return out


_COIL_DEFAULTS = _coil_defaults()


def preset_names(kind: str | None = None) -> list[str]:
    """Names of the registered presets, optionally of one family (``"opm"``, ...)."""
    return sorted(n for n, p in PRESETS.items() if kind is None or p.kind == kind)


def get_preset(name: str | SensorPreset) -> SensorPreset:
    """Look up a preset by name (a :class:`SensorPreset` passes through).

    Raises
    ------
    ValueError
        If ``name`` is not a registered preset; the message lists the allowed names.
    TypeError
        If ``name`` is neither a str nor a preset.
    """
    if isinstance(name, SensorPreset):
        return name
    if not isinstance(name, str):
        raise TypeError(f"sensor must be a preset name or SensorPreset, got "
                        f"{type(name).__name__}")
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"sensor={name!r} is not a known preset; allowed: {', '.join(preset_names())}"
        ) from None


def preset_for_coil(coil_type: int) -> SensorPreset:
    """The preset a channel of MNE coil type ``coil_type`` is taken to be when nothing
    records which sensor it is (e.g. 3024 -> ``neuromag_mag``, 2000 -> ``point``).

    Raises
    ------
    ValueError
        If no preset stands for that coil type.
    """
    if isinstance(coil_type, bool) or not isinstance(coil_type, numbers.Integral):
        raise TypeError(f"coil_type must be an int (an MNE coil type), got {coil_type!r}")
    try:
        return _COIL_DEFAULTS[int(coil_type)]
    except KeyError:
        raise ValueError(
            f"coil type {int(coil_type)} has no default sensor preset (coil_type="
            f"{int(coil_type)}); coil types with "
            f"one: {sorted(_COIL_DEFAULTS)}. Name the sensor (sensor=...) or give noise"
        ) from None
