"""Validators for the public boundary of qsense (in the style of ``mne.utils.check``).

Each raises ``TypeError`` or ``ValueError`` with a message that names the argument, the
value it got and what is allowed, and returns the value converted (a float, an int, a
float array). The kernels in :mod:`forward_models` have their own, tracer-aware set.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "validate_type",
    "check_option",
    "check_number",
    "check_int",
    "check_distance",
    "check_points",
    "check_directions",
    "check_output_path",
    "check_bool",
    "check_array",
    "check_int_array",
    "check_same_head",
    "check_rigid",
    "check_per_item",
]


def validate_type(value, types, name: str, type_name: str | None = None):
    """``value`` if it is an instance of ``types``, else a TypeError naming ``name``."""
    if not isinstance(value, types):
        if type_name is None:
            ts = types if isinstance(types, tuple) else (types,)
            type_name = " or ".join(f"{t.__module__.split('.')[0]}.{t.__name__}"
                                    if t.__module__ != "builtins" else t.__name__
                                    for t in ts)
        raise TypeError(f"{name} must be a {type_name}, got {type(value).__name__}")
    return value


def check_option(name: str, value, allowed) -> object:
    """``value`` if it is one of ``allowed``, else ``name=value is not allowed; use one
    of (...)``."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {allowed}")
    return value


def check_number(name: str, value, *, low=None, high=None, low_open=False,
                 high_open=False, unit: str = "") -> float:
    """A finite real number in [low, high] (open ends on request), as a float.

    ``bool`` is refused; numpy scalars (``np.float32(0.1)``) are accepted.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{_unit(unit)}, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number{_unit(unit)}, got {value!r}")
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if below or above:
        interval = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a finite number in {interval}{_unit(unit)}, got "
                         f"{value!r}")
    return v


def check_int(name: str, value, *, low=None, high=None) -> int:
    """A whole number (int or numpy integer, not bool) in [low, high], as an int.

    A real number that is not whole (``16.5``) is a ValueError; anything else that is not
    an integer (a str, a bool) a TypeError.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be between {low} and {high}, got {v}")
    return v


def check_distance(name: str, value, *, high: float, low: float = 0.0,
                   low_open: bool = False, what: str = "") -> float:
    """A finite distance in metres in [low, high]; a value that fits once divided by
    1000 is reported as millimetres passed as metres."""
    v = check_number(name, value, unit="m")
    if v < low or (low_open and v == low):
        raise ValueError(f"{name} must be a finite distance {'>' if low_open else '>='} "
                         f"{low:g} m, got {value!r}")
    if v > high:
        hint = "; was it given in millimetres?" if v / 1000.0 <= high else ""
        raise ValueError(f"{name}={value!r} m is too large{' for ' + what if what else ''} "
                         f"(allowed <= {high:g} m){hint}")
    return v


def check_points(name: str, value, *, n: int | None = None, limit: float = 1.0
                 ) -> np.ndarray:
    """Positions, shape (n, 3) (a single (3,) point becomes (1, 3)), finite, in metres
    (every point closer than ``limit`` to the origin)."""
    a = _float_array(name, value, "positions in metres")
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 3 or (n is not None and len(a) != n):
        want = f"({n}, 3)" if n is not None else "(n, 3) or (3,)"
        raise ValueError(f"{name} must have shape {want}, got {np.shape(value)}")
    if not np.all(np.isfinite(a)):
        i = int(np.argwhere(~np.isfinite(a))[0, 0])
        raise ValueError(f"{name} must be finite; point {i} is {a[i].tolist()}")
    r = np.linalg.norm(a, axis=1)
    if np.any(r >= limit):
        i = int(np.argmax(r))
        raise ValueError(f"{name} must be in metres; point {i} is {r[i]:g} m from the "
                         f"origin (allowed < {limit:g} m). Were millimetres passed as metres?")
    return a


def check_directions(name: str, value, n: int) -> np.ndarray:
    """Non-zero finite vectors, shape (n, 3) (one (3,) vector is broadcast), normalised."""
    a = _float_array(name, value, "vectors")
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3) or (3,), got {np.shape(value)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    a = np.broadcast_to(a, (n, 3)).copy()
    norms = np.linalg.norm(a, axis=1)
    if np.any(norms < 1e-12):
        raise ValueError(f"{name} must be non-zero vectors")
    return a / norms[:, None]


def check_output_path(name: str, value, *, folder: bool = False) -> Path:
    """A path that a file (or, with ``folder=True``, a folder) can be written to, made
    absolute.

    Checked without writing anything that stays: the path must not be an existing folder
    (a file) or an existing file (a folder); its nearest existing ancestor must be a folder,
    and a hidden temporary folder must be creatable in it (this catches read-only file
    systems and missing permissions, even for root). The missing folders on the way are
    left to the writer to create.

    Raises
    ------
    TypeError
        If ``value`` is not a str or path.
    ValueError
        If the path cannot be written; the message names ``name``, the path and why.
    """
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got "
                        f"{type(value).__name__}")
    shown = os.fspath(value)
    want = "a folder (new, or one that qsense wrote)" if folder else "a file path"
    try:
        if not shown or "\0" in shown:
            raise ValueError("it is empty" if not shown else "it holds a NUL character")
        path = Path(os.path.abspath(shown))
        if path.is_dir() and not folder:
            raise ValueError("it is an existing folder")
        if path.exists() and not path.is_dir() and folder:
            raise ValueError("it is an existing file")
        if path.parent == path:
            raise ValueError("it is the root of the file system")
        ancestor = path.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ValueError(f"{ancestor} is a file, not a folder")
        try:
            os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".qsense-probe-"))
        except OSError as err:
            raise ValueError(f"{ancestor} is not writable ({err.strerror})") from None
    except (ValueError, OSError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ValueError(f"{name}={shown!r} cannot be written: {why}; need {want}") from None
    return path


def _float_array(name: str, value, what: str) -> np.ndarray:
    """``value`` as a float array; a str, a dict or a ragged list is a TypeError naming
    ``name``."""
    if isinstance(value, str | bytes | dict) or value is None:
        raise TypeError(f"{name} must be an array of {what}, got {value!r}")
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of {what}, got {value!r}") from None
    return a


def check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (or numpy bool), else a TypeError naming ``name``.

    A str such as ``"no"`` would be truthy; it is refused rather than read as True.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_array(name: str, value, *, shape=None, finite: bool = True,
                unit: str = "") -> np.ndarray:
    """``value`` as a float array: real numbers only, of ``shape`` (a tuple in which
    None matches any length) and finite unless ``finite=False``.

    None, str, bytes, booleans and arrays of anything but real numbers are a TypeError
    naming ``name``; a wrong shape or a NaN/inf a ValueError.
    """
    a = _real_array(name, value, unit)
    a = a.astype(float, copy=False)
    if shape is not None and (a.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(a.shape, shape, strict=True))):
        want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + (
            ",)" if len(shape) == 1 else ")")
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if finite and not np.all(np.isfinite(a)):
        bad = a[~np.isfinite(a)].ravel()[0]
        raise ValueError(f"{name} must be finite{_unit(unit)}; found {bad!r}")
    return a


def check_int_array(name: str, value, *, shape=None, low=None,
                    unique: bool = False) -> np.ndarray:
    """``value`` as an int64 array of ``shape`` (None matches any length): whole
    numbers (integer dtype, or floats that are whole), each >= ``low``, all different
    when ``unique``."""
    a = _real_array(name, value, "")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must hold whole numbers, got {value!r}")
    a = check_array(name, a, shape=shape).astype(np.int64)
    if low is not None and np.any(a < low):
        raise ValueError(f"{name} must be >= {low}, got {a[a < low].ravel()[0]}")
    if unique:
        values, counts = np.unique(a, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"{name} must not repeat a value; repeated: "
                             f"{values[counts > 1][:5].tolist()}")
    return a


def check_rigid(name: str, value) -> np.ndarray:
    """A finite rigid 4x4 transform (rotation + translation, last row 0 0 0 1), as a
    float array."""
    t = check_array(name, value, shape=(4, 4))
    if (np.max(np.abs(t[:3, :3] @ t[:3, :3].T - np.eye(3))) > 1e-5
            or np.any(t[3] != [0, 0, 0, 1])):
        raise ValueError(f"{name} must be a rigid 4x4 transform (rotation + translation), "
                         f"got {t.tolist()}")
    return t


def check_per_item(name: str, value, n: int, *, per: str = "channel",
                   unit: str = "") -> np.ndarray:
    """One real value, or one per ``per`` (n of them), as a float array of shape (n,)
    (not yet checked for finiteness or sign)."""
    a = check_array(name, value, finite=False, unit=unit)
    if a.shape not in ((), (1,), (n,)):
        raise ValueError(f"{name} must be one value or one per {per}, shape ({n},)"
                         f"{_unit(unit)}, got shape {a.shape}")
    return np.broadcast_to(a, (n,)).copy()


def check_same_head(name: str, src, head) -> None:
    """A ValueError naming ``name`` when source space ``src`` was built for another head
    than ``head`` (another subject, or another head -> MRI transform).

    Every sphere head shares the subject None and the identity transform; sources of one
    sphere in another are checked by position where it matters (inside the conductor).
    """
    same_t = np.allclose(np.asarray(src.head_mri_t), np.asarray(head.head_mri_t),
                         rtol=0, atol=1e-9)
    if src.subject != head.subject or not same_t:
        what = ("subject" if src.subject != head.subject else "head -> MRI transform")
        raise ValueError(
            f"{name} was built for another head ({what} differs: sources of subject "
            f"{src.subject!r}, head {head.name!r} of subject {head.subject!r}); build the "
            f"sources from this head")


def _real_array(name, value, unit):
    if value is None or isinstance(value, str | bytes | bool | np.bool_):
        raise TypeError(f"{name} must be an array of real numbers{_unit(unit)}, got "
                        f"{_short(value)}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nesting
        raise TypeError(f"{name} must be an array of real numbers{_unit(unit)}: "
                        f"{err}") from None
    if a.dtype.kind not in "iuf":
        if a.dtype.kind == "O":  # e.g. a list holding numpy scalars and Python floats
            try:
                a = a.astype(float)
            except (TypeError, ValueError):
                pass
        if a.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be an array of real numbers{_unit(unit)}, got "
                            f"{_short(value)}")
    return a


def _short(value, n=80):
    r = repr(value)
    return r if len(r) <= n else r[:n] + "..."


def _unit(unit: str) -> str:
    return f" ({unit})" if unit else ""


def _interval(low, high, low_open, high_open) -> str:
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{lo}, {hi}{right}"
