"""Streaming a simulated recording to FIF with bounded memory, atomically.

The recording is an ``mne.io.BaseRaw`` whose samples are computed on demand
(:class:`SimulatedRaw`, ``preload=False``); MNE's own writer (``raw.save``) pulls it one
buffer of ``chunk_duration`` at a time and splits the file as it splits any large
recording (``split_size``, parts ``<name>-1.fif``, ... linked by name). Only one chunk of
the recording is in memory at a time.

Atomic write: everything is written into a temporary folder next to the target, under the
final base names (the split parts refer to each other by name), then moved into place,
the split parts first and the main file last. An error or an interruption removes the
temporary folder: nothing appears under the final name unless complete.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from mne.io import BaseRaw

__all__ = ["SimulatedRaw", "FileExists", "split_names", "check_fname", "save_atomic"]


class FileExists(FileExistsError, ValueError):
    """The output file exists and ``overwrite`` is False (a ValueError too)."""


class _TimeAxis:
    """``np.arange(n) / sfreq`` without storing it: ``len``, indexing (the same numbers
    as the stored axis) and ``np.asarray`` (which makes the whole axis)."""

    def __init__(self, n: int, sfreq: float):
        self.n, self.sfreq = int(n), float(sfreq)

    def __len__(self):
        return self.n

    @property
    def shape(self):
        return (self.n,)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return np.arange(*item.indices(self.n), dtype=np.float64) / self.sfreq
        if isinstance(item, int | np.integer):
            k = range(self.n)[item]  # IndexError as an array gives it
            return np.float64(k) / self.sfreq
        return np.asarray(self)[item]

    def __array__(self, dtype=None, copy=None):
        out = np.arange(self.n) / self.sfreq
        return out if dtype is None else out.astype(dtype)


class SimulatedRaw(BaseRaw):
    """A raw recording whose samples come from ``source.samples(start, stop)`` on demand.

    Parameters
    ----------
    info : mne.Info
    n_times : int
    source : object
        Has ``samples(start, stop) -> ndarray (n_channels, stop - start)``.
    buffer_size_sec : float
        Length of the buffers MNE reads (and writes) at a time, s.
    """

    def __init__(self, info, n_times: int, source, buffer_size_sec: float):
        super().__init__(info, preload=False, first_samps=[0], last_samps=[n_times - 1],
                         raw_extras=[{"source": source}], orig_format="double",
                         buffer_size_sec=buffer_size_sec, verbose=False)

    @property
    def times(self):
        """The time axis, computed when indexed (:class:`_TimeAxis`): MNE's writer asks
        for ``len(raw.times)`` once per file part, and a stored axis grows with the
        recording (8 bytes a sample, 14 MiB for 30 minutes at 1 kHz)."""
        return _TimeAxis(self.n_times, float(self.info["sfreq"]))

    def _read_segment_file(self, data, idx, fi, start, stop, cals, mult):
        block = self._raw_extras[fi]["source"].samples(int(start), int(stop))[idx]
        if mult is not None:
            data[:] = mult @ block
        else:
            data[:] = block * cals


def check_fname(fname, overwrite: bool, also=()) -> Path:
    """A FIF output name: a str or path ending in ``.fif`` in an existing folder, not
    existing unless ``overwrite`` (nor the files in ``also``)."""
    if not isinstance(fname, str | os.PathLike):
        raise TypeError(f"fname must be a str or path, got {type(fname).__name__}")
    path = Path(fname).expanduser().resolve()
    if not path.name.endswith(".fif"):
        raise ValueError(f"fname must end with '.fif' (e.g. 'sim_raw.fif'), got {str(fname)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"fname={str(fname)!r}: folder {str(path.parent)!r} does not exist")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    for p in (path, *map(Path, also)):
        if p.exists() and not overwrite:
            raise FileExists(f"fname={str(fname)!r}: {str(p)!r} exists; pass overwrite=True "
                             "to replace it")
    return path


def split_names(path: Path) -> list:
    """Existing split parts ``<name>-1.fif``, ``<name>-2.fif``, ... of ``path`` (in order,
    stopping at the first missing one)."""
    stem = path.name[:-4]
    out, k = [], 1
    while (p := path.with_name(f"{stem}-{k}.fif")).exists():
        out.append(p)
        k += 1
    return out


def _part_number(name: str, stem: str) -> int:
    m = re.fullmatch(re.escape(stem) + r"-(\d+)\.fif", name)
    return int(m.group(1)) if m else 0


def save_atomic(raw, path: Path, *, overwrite: bool, split_size="2GB",
                buffer_size_sec: float = 10.0, before_move=None) -> list:
    """Save ``raw`` to ``path`` (and its split parts) atomically; see the module docstring.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    path : Path
        Checked by :func:`check_fname`.
    overwrite : bool
        Replace an existing recording (its stale split parts are removed).
    split_size : str or int
        As ``mne.io.Raw.save``.
    buffer_size_sec : float
        Seconds written per buffer.
    before_move : callable, optional
        Called after the FIF is complete and before it is moved into place (the truth
        file is written there).

    Returns
    -------
    list of Path
        The files written, main file first.
    """
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-"))
    stem = path.name[:-4]
    old_parts = split_names(path) if overwrite else []
    try:
        raw.save(tmpdir / path.name, split_size=split_size, fmt="double", overwrite=True,
                 buffer_size_sec=buffer_size_sec, verbose=False)
        parts = sorted((p for p in tmpdir.iterdir() if p.name != path.name),
                       key=lambda p: _part_number(p.name, stem))
        if any(_part_number(p.name, stem) == 0 for p in parts):
            raise RuntimeError(f"unexpected files written by MNE: {[p.name for p in parts]}")
        if not overwrite:
            taken = [path.parent / p.name for p in parts if (path.parent / p.name).exists()]
            if taken:
                raise FileExists(f"fname={str(path)!r}: split part {str(taken[0])!r} exists; "
                                 "pass overwrite=True to replace it")
        if before_move is not None:
            before_move()
        for p in parts:
            os.replace(p, path.parent / p.name)
        os.replace(tmpdir / path.name, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    written = [path] + [path.parent / p.name for p in parts]
    for p in old_parts[len(parts):]:
        p.unlink(missing_ok=True)
    return written

