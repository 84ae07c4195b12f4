"""Stage 4: the analogue-to-digital converter (range and resolution)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int

__all__ = ["ADC", "as_adc", "digitise"]


@dataclass(frozen=True, eq=False)
class ADC:
    """An ADC: full-scale range and number of bits.

    Parameters
    ----------
    range : float or array_like, shape (n_channels,)
        Full scale: readings are clipped to [-range, range), tesla (T/m for planar
        gradiometer channels, whose readings are in T/m). One value for every channel or
        one per channel.
    bits : int
        Resolution, 2 to 32 bits: 2**bits two's-complement codes of size
        ``2 range / 2**bits`` (code k stands for the reading ``k * step``).
    """

    range: object
    bits: int

    def __post_init__(self):
        r = np.asarray(self.range, dtype=float)
        if r.ndim > 1 or not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise ValueError(f"adc range must be finite and > 0 (tesla), one value or one "
                             f"per channel, got {self.range!r}")
        if np.any(r > 1e-3):
            raise ValueError(f"adc range {self.range!r} is in tesla: MEG ranges are nT "
                             "(1e-9); a value above 1 mT is a unit error")
        object.__setattr__(self, "range", r)
        object.__setattr__(self, "bits", check_int("adc bits", self.bits, low=2, high=32))

    def step(self) -> np.ndarray:
        """Size of one code, same units as ``range``."""
        return 2.0 * self.range / 2.0**self.bits

    def as_dict(self) -> dict:
        return {"range": self.range.tolist(), "bits": self.bits}


def as_adc(adc) -> ADC | None:
    """``adc`` as an :class:`ADC`: None, an ADC, a (range, bits) pair or a dict with
    ``range`` and ``bits``."""
    if adc is None or isinstance(adc, ADC):
        return adc
    if isinstance(adc, dict):
        extra = sorted(set(adc) - {"range", "bits"})
        if extra or {"range", "bits"} - set(adc):
            raise ValueError(f"adc must have the keys 'range' and 'bits' only, got {sorted(adc)}")
        return ADC(**adc)
    if isinstance(adc, tuple | list) and len(adc) == 2:
        return ADC(*adc)
    raise TypeError(f"adc must be None, a qsense.simulation.ADC, (range, bits) or a dict, "
                    f"got {adc!r}")


def digitise(data, adc) -> np.ndarray:
    """Stage 4 of :func:`qsense.simulate_raw` on its own: clip and quantise readings.

    Parameters
    ----------
    data : array_like, shape (n_channels, n_times)
        Readings, T (T/m for planar gradiometers).
    adc : ADC, (range, bits) or dict
        See :class:`ADC`.

    Returns
    -------
    ndarray, shape (n_channels, n_times)
        ``clip(round(data / step), -2**(bits-1), 2**(bits-1) - 1) * step``.
    """
    adc = as_adc(adc)
    x = np.asarray(data, dtype=float)
    if adc is None:
        return x
    step = adc.step()
    if step.ndim == 1:
        if len(step) != x.shape[0]:
            raise ValueError(f"adc range has {len(step)} values but data has {x.shape[0]} "
                             "channels")
        step = step[:, None]
    half = 2.0 ** (adc.bits - 1)
    return np.clip(np.round(x / step), -half, half - 1) * step
