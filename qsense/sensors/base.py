"""The figures every sensor preset has, whatever its family."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["SensorPreset"]


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
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        for field in ("noise_floor", "bandwidth"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{field} must be > 0, got {value!r}")
        for field in ("corner_frequency", "standoff"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{field} must be >= 0, got {value!r}")
        if self.standoff > 0.1:
            raise ValueError(
                f"standoff must be in metres (< 0.1 m for any wearable sensor), got "
                f"{self.standoff!r}; was it given in millimetres?"
            )

    def replace(self, **changes) -> SensorPreset:
        """Return a copy with some figures changed (validated again)."""
        return dataclasses.replace(self, **changes)

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
        f = np.asarray(freqs, dtype=float)
        if np.any(~np.isfinite(f)) or np.any(f <= 0):
            raise ValueError("freqs must be finite and > 0 Hz")
        return self.noise_floor * np.sqrt(1.0 + self.corner_frequency / f)

    def default_array(self, head, n_sensors: int = 32):
        """The array this sensor is usually worn in, on ``head`` (a
        :class:`qsense.SensorArray`); each family says which."""
        raise TypeError(f"sensor={self.name!r} ({type(self).__name__}) names no usual "
                        "array; build one with qsense.SensorArray")
