"""Stage 3: sensor noise, white + 1/f per channel, the same whatever the chunking.

Each channel's noise has the one-sided amplitude spectral density of its preset,
``noise * sqrt(1 + corner_frequency / f)`` (``noise``: the array's per-channel white floor,
:attr:`qsense.SensorArray.noise`; ``corner_frequency``: the channel preset's). It is
white Gaussian noise, coloured by a fixed FIR filter:

* **Draws in fixed blocks keyed by position in time.** Sample ``n`` of a channel's white
  sequence is draw ``n mod L`` of block ``b = n // L`` (``L`` = :data:`BLOCK`), and block
  ``b`` comes from ``np.random.default_rng([seed, stream, key0, key1, b + 1])``: the
  same seed gives bit-identical draws whatever samples are asked for and in what order.
* **Colouring in fixed blocks.** Block ``b`` of the coloured noise is the convolution of
  the white sequence with a fixed FIR filter (length :data:`BLOCK`, frequency sampling
  of ``sqrt(1 + f_c / f)`` with a Hann window), computed over samples ``[b L - L + 1,
  b L + L)`` of the white sequence (the draws before t = 0 come from block -1). The
  same block is always computed the same way, so any chunking gives bit-identical
  numbers. The 1/f shape holds down to about ``sfreq / BLOCK`` (0.06 Hz at 1 kHz); below
  it the spectrum levels off. White channels (``corner_frequency == 0``) skip the
  filter: their noise is the scaled draws.
* **Keys.** ``(key0, key1)`` are 64 bits of a BLAKE2b hash of the channel's identity
  (name, coil type, ``loc`` in the device frame, preset name), so two different arrays
  get independent streams whatever their channel names (a radial and a tangential OPM
  array both call their channels ``OPM001`` ...), while the same channel of an array
  and of ``array.pick(...)`` gets the same noise. ``stream`` separates the sensor noise
  (:data:`SENSOR_NOISE_STREAM`) from other random streams of a recording.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from scipy import fft as sp_fft

__all__ = ["BLOCK", "SENSOR_NOISE_STREAM", "channel_keys", "noise_filter", "NoiseSource",
           "sensor_noise"]

BLOCK = 2**14
"""Samples per noise block (and taps of the 1/f filter)."""

SENSOR_NOISE_STREAM = 1
"""Stream number of the sensor noise in the generator's key."""


def channel_keys(array) -> np.ndarray:
    """Two 32-bit words per channel from a hash of its identity, shape (n_channels, 2).

    The identity is the channel name, coil type, ``loc`` (device frame, rounded to 1 nm)
    and preset name.
    """
    keys = np.empty((array.n_channels, 2), dtype=np.uint64)
    for i, (name, ct, loc, p) in enumerate(zip(array.names, array.coil_types, array.loc,
                                               array.channel_presets, strict=True)):
        ident = f"{name}|{int(ct)}|{np.round(loc, 9).tolist()}|{p.name}".encode()
        h = int.from_bytes(hashlib.blake2b(ident, digest_size=8).digest(), "little")
        keys[i] = (h >> 32, h & 0xFFFFFFFF)
    return keys


@functools.lru_cache(maxsize=16)
def noise_filter(sfreq: float, corner_frequency: float, n: int = BLOCK):
    """FIR filter (length ``n``) whose amplitude response is ``sqrt(1 + f_c / f)``.

    Frequency sampling on the grid ``k sfreq / n`` (the zero-frequency value taken equal
    to the first bin's), made causal by a half-length delay and tapered with a Hann
    window. Returns None for white noise (``corner_frequency == 0``).
    """
    if corner_frequency == 0:
        return None
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    f[0] = f[1]
    h = np.fft.irfft(np.sqrt(1.0 + corner_frequency / f), n)
    h = np.roll(h, n // 2) * np.hanning(n + 1)[:n]
    h.flags.writeable = False
    return h


@functools.lru_cache(maxsize=16)
def _filter_spectrum(sfreq: float, corner_frequency: float, n: int = BLOCK):
    """(FFT length, real FFT of :func:`noise_filter`) for convolving ``2 n - 1`` draws
    with it: the length and transform ``scipy.signal.fftconvolve`` uses, so that
    :meth:`NoiseSource.block` gives its numbers bit for bit without transforming the
    filter again for every channel and block."""
    h = noise_filter(sfreq, corner_frequency, n)
    nfft = sp_fft.next_fast_len((2 * n - 1) + n - 1, True)
    spectrum = sp_fft.rfftn(h, [nfft], axes=[0])
    spectrum.flags.writeable = False
    return nfft, spectrum


class NoiseSource:
    """Sensor noise of an array, generated block by block (see the module docstring).

    Parameters
    ----------
    array : SensorArray
    sfreq : float
        Hz.
    seed : int
        >= 0.
    stream : int
        Stream number (default :data:`SENSOR_NOISE_STREAM`).

    Notes
    -----
    The last block asked for is kept (the next chunk starts in it), and the draws of the
    coloured channels' last block (the next block's colouring needs them). White channels
    (``corner_frequency == 0``) are the scaled draws, no convolution, drawn only as far
    as samples are asked for. The colouring is ``scipy.signal.fftconvolve(draws, h,
    "valid")`` computed with the filter's transform kept (the same FFT length and calls,
    so the same bits).
    """

    def __init__(self, array, sfreq: float, seed: int, stream: int = SENSOR_NOISE_STREAM):
        self.sfreq = float(sfreq)
        self.seed = int(seed)
        self.stream = int(stream)
        self.keys = channel_keys(array)
        self.scale = np.asarray(array.noise, dtype=float) * np.sqrt(self.sfreq / 2.0)
        self.corner = np.array([float(p.corner_frequency) for p in array.channel_presets])
        self._white_rows = np.flatnonzero(self.corner == 0)
        # block -> [array, white rows drawn up to, their generators (None: not drawing)]
        self._cache: dict[int, list] = {}
        self._white: tuple[int, dict] = (None, {})  # coloured channels' last draws

    @property
    def n_channels(self) -> int:
        return len(self.keys)

    def _rng(self, channel: int, block: int):
        k0, k1 = (int(k) for k in self.keys[channel])
        return np.random.default_rng([self.seed, self.stream, k0, k1, block + 1])

    def white(self, channel: int, block: int) -> np.ndarray:
        """Unit-variance draws of one block of one channel, shape (BLOCK,)."""
        return self._rng(channel, block).standard_normal(BLOCK)

    def block(self, b: int) -> np.ndarray:
        """Coloured noise of block ``b`` (samples [b BLOCK, (b + 1) BLOCK)), shape
        (n_channels, BLOCK); T (T/m for planar gradiometers)."""
        return self._block(b, BLOCK)

    def _block(self, b: int, upto: int) -> np.ndarray:
        """Block ``b`` with its coloured rows complete and its white rows drawn at least
        up to sample ``upto`` of the block. The white rows are drawn as far as asked and
        continued later from the same generators (a generator's draws come one after
        the other, so draws made in pieces are the draws of one call), so the end of a
        recording costs no draws beyond it."""
        entry = self._cache.get(b)
        if entry is None:
            # one block in memory: samples() copies a block's part out before it asks for
            # the next, and a chunk that follows starts in the last block it asked for
            self._cache.clear()
            entry = self._cache[b] = [self._coloured(b), 0, None]
        data, filled, gens = entry
        if upto > filled and len(self._white_rows):
            if gens is None:
                gens = entry[2] = [self._rng(c, b) for c in self._white_rows]
            for c, rng in zip(self._white_rows, gens, strict=True):
                row = data[c, filled:upto]
                rng.standard_normal(out=row)
                row *= self.scale[c]
            if upto == BLOCK:
                entry[2] = None
        entry[1] = max(filled, upto)
        return data

    def _coloured(self, b: int) -> np.ndarray:
        """A new block array with the coloured channels' rows of block ``b`` filled."""
        out = np.empty((self.n_channels, BLOCK))
        prev_b, prev = self._white
        kept = {}
        for c in np.flatnonzero(self.corner != 0):
            w = self.white(c, b)
            kept[c] = w
            # the previous block's draws are let go as they are used (memory)
            before = prev.pop(c) if prev_b == b - 1 and c in prev else self.white(c, b - 1)
            x = np.concatenate([before[1:], w])
            nfft, spectrum = _filter_spectrum(self.sfreq, self.corner[c])
            full = sp_fft.irfftn(sp_fft.rfftn(x, [nfft], axes=[0]) * spectrum, [nfft],
                                 axes=[0])
            # fftconvolve's "valid" part: the centre BLOCK samples of the full length
            lo = (len(x) + BLOCK - 1 - BLOCK) // 2
            out[c] = full[lo:lo + BLOCK] * self.scale[c]
        if kept:
            self._white = (b, kept)
        return out

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Noise of samples [start, stop), shape (n_channels, stop - start)."""
        out = np.empty((self.n_channels, stop - start))
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            a, e = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
            out[:, a - start:e - start] = self._block(b, e - b * BLOCK)[
                :, a - b * BLOCK:e - b * BLOCK]  # no reference kept: one block in memory
        return out


def sensor_noise(array, sfreq: float, n_times: int, *, seed: int = 0, start: int = 0
                 ) -> np.ndarray:
    """Stage 3 of :func:`qsense.simulate_raw` on its own: the sensor noise of an array.

    Parameters
    ----------
    array : SensorArray
    sfreq : float
        Hz.
    n_times : int
        Samples wanted.
    seed : int
        >= 0; the same seed gives the same numbers for the same samples, however they
        are asked for.
    start : int
        First sample (sample 0 is t = 0 of the recording).

    Returns
    -------
    ndarray, shape (n_channels, n_times)
        T (T/m for planar gradiometers), with one-sided amplitude spectral density
        ``array.noise * sqrt(1 + corner_frequency / f)`` per channel.
    """
    from .._checks import check_int, check_number

    sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
    n_times = check_int("n_times", n_times, low=1)
    seed = check_int("seed", seed, low=0)
    start = check_int("start", start, low=0)
    return NoiseSource(array, sfreq, seed).samples(start, start + n_times)
