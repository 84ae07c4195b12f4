"""The figures every sensor preset has, whatever its family."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forward_models._checks import check_positive

__all__ = ["SensorPreset", "AXES", "check_figure", "check_text", "check_texts",
           "set_figures", "replace_figures"]

AXES = ("radial", "tangential", "dual", "triaxial")
"""Measurement axis modes a sensor may support."""


def check_figure(name, value, *, low=0.0, low_open=True, high=None, allow_inf=False,
                 hint=""):
    """A figure of a preset as a float: a real number (``int``, ``float`` or a numpy
    scalar; not a bool, not a str), finite (``inf`` only with ``allow_inf``), ``> low``
    (``>= low`` unless ``low_open``) and ``<= high``.

    Messages read ``"{name} must be a finite number > 0, got nan"``; ``hint`` is added to
    the one for a value above ``high`` (a unit error, e.g. "was it given in fT?").
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    op = ">" if low_open else ">="
    if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        raise ValueError(f"{name} must be a finite number {op} {low:g}, got {value!r}")
    if v < low or (low_open and v == low):
        raise ValueError(f"{name} must be a finite number {op} {low:g}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high:g}, got {value!r}{hint}")
    return v


def check_text(name, value, *, empty=True):
    """``value`` if it is a str (non-empty unless ``empty``), else a TypeError/ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    if not empty and not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def check_texts(name, value, allowed=None):
    """A tuple (or list) of str, each one of ``allowed`` when given, as a tuple."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise TypeError(f"{name} must be a tuple of str, got {value!r}")
    for v in value:
        check_text(f"{name} entries", v)
        if allowed is not None and v not in allowed:
            raise ValueError(f"{name} must be drawn from {allowed}, got {v!r}")
    return tuple(value)


def _check_coil_type(name, value):
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int (an MNE coil type), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an MNE coil type (>= 0), got {value!r}")
    return int(value)


def set_figures(obj, **values):
    """Store checked (converted) values on a frozen dataclass."""
    for name, v in values.items():
        object.__setattr__(obj, name, v)


def replace_figures(obj, changes, what="figure"):
    """``dataclasses.replace(obj, **changes)`` that names unknown fields (TypeError);
    ``what`` is what the fields are called ("figure", "setting")."""
    fields = [f.name for f in dataclasses.fields(obj) if f.init]
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no {what}(s) {unknown}; its {what}s are "
                        f"{fields}")
    return dataclasses.replace(obj, **changes)


@dataclass(frozen=True, kw_only=True)
class SensorPreset:
    """Figures of one sensor model (the base of every family's preset).

    A family (SQUID, OPM, NV, ...) subclasses this in its own module of
    :mod:`qsense.sensors`, sets :attr:`kind` and :attr:`head_mounted`, adds the figures of
    its physics and says in :meth:`default_array` which array the sensor is usually
    worn in.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"quspin_gen2"``.
    coil_type : int
        MNE FIFF coil type used for integration points and for ``mne.Info``.
    noise_floor : float
        White noise amplitude spectral density, T/sqrt(Hz); T/(m sqrt(Hz)) for planar
        gradiometers. For multi-axis OPMs this is the figure of one axis in that mode.
    corner_frequency : float
        1/f corner, Hz: the amplitude spectral density is
        ``noise_floor * sqrt(1 + corner_frequency / f)``.
    bandwidth : float
        -3 dB bandwidth of the sensor response, Hz (``inf`` for SQUIDs here).
    standoff : float
        Distance from the sensitive volume's centre to the scalp when the sensor
        housing touches it, m (0 for SQUIDs, whose gap is set by the helmet).
    axes : tuple of str
        Measurement axis modes the sensor supports.
    description : str
        One line for listings.
    citation : str
        Where the figures come from.
    assumptions : tuple of str
        Figures for which no source was found (they are parameters; override them).
    coil_default : bool
        Whether this preset is the one a channel of its coil type gets when nothing else
        says which sensor it is (one per coil type; see
        :func:`qsense.sensors.preset_for_coil`).
    also_coil_types : tuple of int
        Further MNE coil types this preset stands for (older variants of the same
        sensor, e.g. Vectorview magnetometers 3022/3023 next to 3024).
    """

    kind: ClassVar[str] = ""
    """Family name ("squid", "opm", "nv", ...), set by each family's class."""
    head_mounted: ClassVar[bool] = True
    """Whether the sensor is worn on the head (moving with it) rather than held in a
    fixed helmet."""

    name: str
    coil_type: int
    noise_floor: float
    corner_frequency: float = 0.0
    bandwidth: float = float("inf")
    standoff: float = 0.0
    axes: tuple[str, ...] = ("radial",)
    description: str = ""
    citation: str = ""
    assumptions: tuple[str, ...] = ()
    coil_default: bool = False
    also_coil_types: tuple[int, ...] = ()

    def __post_init__(self):
        check_text("name", self.name, empty=False)
        set_figures(
            self,
            coil_type=_check_coil_type("coil_type", self.coil_type),
            noise_floor=check_figure(
                "noise_floor", self.noise_floor, high=1e-6,
                hint=" T/sqrt(Hz); was it given in fT/sqrt(Hz) or pT/sqrt(Hz)?"),
            corner_frequency=check_figure("corner_frequency", self.corner_frequency,
                                          low_open=False),
            bandwidth=check_figure("bandwidth", self.bandwidth, allow_inf=True),
            standoff=check_figure(
                "standoff", self.standoff, low_open=False, high=0.1,
                hint=" m (metres; any wearable sensor is closer to the scalp); was it given "
                     "in millimetres?"),
            axes=check_texts("axes", self.axes, AXES),
            description=check_text("description", self.description),
            citation=check_text("citation", self.citation),
            assumptions=check_texts("assumptions", self.assumptions),
            also_coil_types=tuple(_check_coil_type("also_coil_types entries", c)
                                  for c in _as_tuple("also_coil_types",
                                                     self.also_coil_types)),
        )
        if not isinstance(self.coil_default, bool | np.bool_):
            raise TypeError(f"coil_default must be True or False, got {self.coil_default!r}")

    def replace(self, **changes) -> SensorPreset:
        """Return a copy with some figures changed (validated again).

        Raises
        ------
        TypeError
            For a name that is not a figure of this preset, or a figure of the wrong type.
        ValueError
            For a figure out of its range (NaN, negative, a unit error).
        """
        return replace_figures(self, changes)

    @property
    def coil_types(self) -> tuple[int, ...]:
        """Every MNE coil type this preset stands for."""
        return (int(self.coil_type), *map(int, self.also_coil_types))

    @property
    def noise_unit(self) -> str:
        """Unit of :attr:`noise_floor` (planar gradiometers: per metre)."""
        from ..coils import coil_definition

        planar = coil_definition(int(self.coil_type), "normal").coil_class == 3
        return "T/(m sqrt(Hz))" if planar else "T/sqrt(Hz)"

    def noise_asd(self, freqs):
        """Amplitude spectral density at ``freqs`` (Hz), T/sqrt(Hz): white + 1/f."""
        check_positive("freqs", freqs, "freqs must be finite and > 0 Hz, got {bad!r}",
                       finite="freqs must be finite and > 0 Hz, got {bad!r}")
        f = np.asarray(freqs, dtype=float)
        return self.noise_floor * np.sqrt(1.0 + self.corner_frequency / f)

    def default_array(self, head, n_sensors: int = 32):
        """The array this sensor is usually worn in, on ``head`` (a
        :class:`qsense.SensorArray`); each family says which."""
        raise TypeError(f"sensor={self.name!r} ({type(self).__name__}) names no usual "
                        "array; build one with qsense.SensorArray")


def _as_tuple(name, value):
    if not isinstance(value, tuple | list):
        raise TypeError(f"{name} must be a tuple, got {value!r}")
    return tuple(value)
