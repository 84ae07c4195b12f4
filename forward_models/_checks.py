"""Argument checks shared by the kernels, skipped under JAX tracing.

The kernels validate at their public boundary and stay jit-able: a check that needs
values (finite, > 0, within a range) runs only on concrete inputs and does nothing for a
JAX tracer (inside ``jit``, ``grad`` or ``vmap``), where the values do not exist yet.

Each kernel module words its messages its own way, and users and tests match on that
wording, so the helpers take the message as a ``str.format`` template. The fields a
template may use are ``name`` (the argument), ``value`` (the argument as given) and
``bad`` (the first offending element); :func:`check_positive` adds ``min`` (the
smallest element), :func:`check_vector3` ``shape`` and :func:`check_dtype` ``dtype``.
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = [
    "is_concrete",
    "check_dtype",
    "check_finite",
    "check_positive",
    "check_range",
    "check_vector3",
    "check_real",
]

FINITE = "{name} must be finite; got {bad}"
POSITIVE = "{name} must be > 0; got {bad}"
VECTOR3 = "{name} must have shape (..., 3); got shape {shape}"


def is_concrete(x) -> bool:
    """True unless ``x`` is a JAX tracer (a value checks can look at)."""
    return not isinstance(x, jax.core.Tracer)


def _raise(exc, message, name, value, a=None, bad=None, **fields):
    first = a[bad].ravel()[0] if bad is not None and np.any(bad) else None
    raise exc(message.format(name=name, value=value, bad=first, **fields))


def check_dtype(name, x, kinds, message):
    """TypeError unless a concrete ``x`` has a dtype whose kind is in ``kinds``.

    ``kinds`` holds numpy kind codes, e.g. ``"biuf"`` (bool, integers, floats) or
    ``"iufcm"`` (``np.number``: integers, timedelta64, floats, complex).
    """
    if is_concrete(x):
        dtype = np.asarray(x).dtype
        if dtype.kind not in kinds:
            _raise(TypeError, message, name, x, dtype=dtype)


def check_finite(name, x, message=FINITE):
    """ValueError if a concrete ``x`` holds NaN or inf."""
    if is_concrete(x):
        a = np.asarray(x)
        ok = np.isfinite(a)
        if not np.all(ok):
            _raise(ValueError, message, name, x, a, ~ok)


def check_positive(name, x, message=POSITIVE, *, allow_zero=False, finite=FINITE,
                   nonempty=False):
    """ValueError if a concrete ``x`` is not finite or not > 0 (>= 0 with ``allow_zero``).

    ``finite`` words the non-finite case (pass ``message`` to use one wording for
    both); ``nonempty`` also rejects an empty array.
    """
    if not is_concrete(x):
        return
    a = np.asarray(x, dtype=float)
    ok = np.isfinite(a)
    if not np.all(ok):
        _raise(ValueError, finite, name, x, a, ~ok)
    bad = a < 0 if allow_zero else a <= 0
    if np.any(bad) or (nonempty and a.size == 0):
        low = np.asarray(x).ravel().min() if a.size else None
        _raise(ValueError, message, name, x, a, bad, min=low)


def check_range(name, x, lo=None, hi=None, *, lo_open=False, unit="", finite=FINITE):
    """ValueError if a concrete ``x`` is not finite or not in [lo, hi] ((lo, hi] if
    ``lo_open``); the message reads ``"{name} must be >= {lo}{unit}; got {bad}"``."""
    check_finite(name, x, finite)
    if not is_concrete(x):
        return
    a = np.asarray(x, dtype=float)
    if lo is not None:
        bad = a <= lo if lo_open else a < lo
        if np.any(bad):
            op = ">" if lo_open else ">="
            _raise(ValueError, f"{{name}} must be {op} {lo}{unit}; got {{bad}}", name, x, a,
                   bad)
    if hi is not None and np.any(a > hi):
        _raise(ValueError, f"{{name}} must be <= {hi}{unit}; got {{bad}}", name, x, a, a > hi)


def check_vector3(name, x, message=VECTOR3, *, finite=FINITE):
    """ValueError if a concrete ``x`` is not finite or its last axis is not of length 3."""
    check_finite(name, x, finite)
    if is_concrete(x):
        shape = np.shape(x)
        if len(shape) == 0 or shape[-1] != 3:
            _raise(ValueError, message, name, x, shape=shape)


def check_real(name, value, *, positive=True, allow_zero=False):
    """TypeError unless a concrete ``value`` is real; ValueError if it is not finite or,
    with ``positive``, not > 0 (>= 0 with ``allow_zero``).

    The checks of the shielding and noise kernels; their messages quote the value as
    given (``"sigma must be positive, got -1.0"``).
    """
    check_dtype(name, value, "biuf", "{name} must be a real number or array, got {value!r}")
    finite = "{name} must be finite, got {value!r}"
    if positive:
        what = "non-negative" if allow_zero else "positive"
        check_positive(name, value, f"{{name}} must be {what}, got {{value!r}}",
                       allow_zero=allow_zero, finite=finite)
    else:
        check_finite(name, value, finite)
