"""Seeded stationary Gaussian series with a given spectrum, the same whatever the chunking.

The environment's random signals (the moments of distant interferers, the shield's
Johnson noise, a head's drawn trajectory) are stationary Gaussian series with a known
one-sided amplitude spectral density (ASD). Each is generated as the sensor noise is
(:mod:`qsense.simulation.noise`):

* unit-variance white draws in fixed blocks of :data:`~qsense.simulation.noise.BLOCK`
  samples, block ``b`` of a series from
  ``np.random.default_rng([seed, stream, key0, key1, b + 1])``, where ``(key0, key1)``
  are 64 bits of a BLAKE2b hash of the series' label (:func:`label_key`);
* coloured by a fixed FIR filter of ``BLOCK`` taps whose amplitude response is
  ``asd(f) sqrt(sfreq / 2)`` (frequency sampling on the grid ``k sfreq / BLOCK``, the
  zero-frequency value equal to the first bin's, made causal by a half-length delay and
  tapered with a Hann window), applied to the draws of the block and the one before it.

A unit-variance white sequence sampled at ``sfreq`` has the one-sided power spectral
density ``2 / sfreq``; the filter's gain ``asd(f) sqrt(sfreq / 2)`` turns it into
``asd(f)**2``. The spectrum is followed down to about ``sfreq / BLOCK`` (0.06 Hz at
1 kHz) and levels off below. The labels, not the arrays, key the draws: two arrays
simulated with the same seed and environment see the same series.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.signal import fftconvolve

from .noise import BLOCK

__all__ = ["label_key", "asd_filter", "SeriesSource"]


def label_key(label: str) -> tuple[int, int]:
    """Two 32-bit words from a BLAKE2b hash of a series' label."""
    h = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")
    return h >> 32, h & 0xFFFFFFFF


def asd_filter(asd, sfreq: float, n: int = BLOCK) -> np.ndarray:
    """FIR filter (``n`` taps) that colours unit-variance white draws to an ASD.

    Parameters
    ----------
    asd : callable
        One-sided amplitude spectral density, ``asd(f)`` for frequencies ``f > 0`` (Hz),
        in the series' unit per sqrt(Hz).
    sfreq : float
        Hz.
    n : int
        Taps.

    Returns
    -------
    ndarray, shape (n,)
        Read-only.
    """
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    f[0] = f[1]
    gain = np.asarray(asd(f), dtype=float) * np.sqrt(sfreq / 2.0)
    if gain.shape != f.shape or not np.all(np.isfinite(gain)) or np.any(gain < 0):
        raise ValueError("asd(f) must return finite, non-negative values of f's shape")
    h = np.fft.irfft(gain, n)
    h = np.roll(h, n // 2) * np.hanning(n + 1)[:n]
    h.flags.writeable = False
    return h


class SeriesSource:
    """Stationary Gaussian series, block by block (see the module docstring).

    Parameters
    ----------
    asds : sequence of callable
        One ASD per series (see :func:`asd_filter`).
    labels : sequence of str
        One unique label per series; it keys the series' draws.
    sfreq : float
        Hz.
    seed : int
        >= 0.
    stream : int
        Stream number, separating these draws from other random streams of a recording.
    """

    def __init__(self, asds, labels, sfreq: float, seed: int, stream: int):
        labels = list(labels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        if len(asds) != len(labels):
            raise ValueError("asds and labels must have the same length")
        self.labels = labels
        self.sfreq = float(sfreq)
        self.seed, self.stream = int(seed), int(stream)
        self.keys = [label_key(lab) for lab in labels]
        self.taps = [asd_filter(a, self.sfreq) for a in asds]
        self._cache: dict[int, np.ndarray] = {}

    @property
    def n_series(self) -> int:
        return len(self.labels)

    def white(self, i: int, block: int) -> np.ndarray:
        """Unit-variance draws of block ``block`` of series ``i``, shape (BLOCK,)."""
        k0, k1 = self.keys[i]
        rng = np.random.default_rng([self.seed, self.stream, k0, k1, block + 1])
        return rng.standard_normal(BLOCK)

    def block(self, b: int) -> np.ndarray:
        """Samples ``[b BLOCK, (b + 1) BLOCK)`` of every series, shape (n_series, BLOCK)."""
        if b not in self._cache:
            out = np.empty((self.n_series, BLOCK))
            for i, h in enumerate(self.taps):
                w = np.concatenate([self.white(i, b - 1)[1:], self.white(i, b)])
                out[i] = fftconvolve(w, h, "valid")
            if len(self._cache) >= 2:
                self._cache.pop(min(self._cache))
            self._cache[b] = out
        return self._cache[b]

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of every series, shape (n_series, stop - start)."""
        out = np.empty((self.n_series, stop - start))
        if not self.n_series:
            return out
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            a, e = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
            out[:, a - start:e - start] = self.block(b)[:, a - b * BLOCK:e - b * BLOCK]
        return out
