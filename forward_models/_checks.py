"""Argument checks shared by the kernels, skipped under JAX tracing.

The kernels validate at their public boundary and stay jit-able: a check that needs
values (finite, > 0, within a range) runs only on concrete inputs and does nothing for a
JAX tracer (inside ``jit``, ``grad`` or ``vmap``), where the values do not exist yet.

Each kernel module words its messages its own way, and users and tests match on that
wording, so the helpers take the message as a ``str.format`` template. The fields a
template may use are ``name`` (the argument), ``value`` (the argument as given) and
``bad`` (the first offending element); :func:`check_positive` adds ``min`` (the
smallest element), :func:`check_vector3` ``shape`` and :func:`check_dtype` ``dtype``.

Values that are not arrays of numbers at all (a str, None, a ragged list) are refused
by every check that looks at values, with a message that names the argument: a
TypeError for the wrong kind of object, a ValueError for a ragged list. Counts
(:func:`check_count`), flags (:func:`check_flag`) and choices (:func:`check_option`)
are Python-level arguments and are checked whatever the tracing.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np

__all__ = [
    "is_concrete",
    "as_numeric",
    "check_dtype",
    "check_finite",
    "check_positive",
    "check_range",
    "check_vector3",
    "check_real",
    "check_count",
    "check_flag",
    "check_option",
    "check_same_shape",
    "check_broadcast",
    "shaped",
    "check_coils",
    "check_key",
    "check_scalar",
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


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_numeric(name, x, kinds="iuf"):
    """A concrete ``x`` as a numpy array whose dtype kind is in ``kinds`` (default: real
    numbers, integers or floats; not bool).

    A str, None, a bool or any other object that is not a number is a TypeError, a
    ragged list a ValueError; both messages name ``name``.
    """
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):  # ragged nesting, objects numpy cannot hold
        raise ValueError(f"{name} must be a number or a rectangular array of numbers, got "
                         f"{_short(x)}") from None
    if a.dtype.kind not in kinds:
        what = "real number" if "c" not in kinds else "number"
        raise TypeError(f"{name} must be a {what} or an array of them, got {_short(x)} "
                        f"(dtype {a.dtype})")
    return a


def check_dtype(name, x, kinds, message):
    """TypeError unless a concrete ``x`` has a dtype whose kind is in ``kinds``.

    ``kinds`` holds numpy kind codes, e.g. ``"iuf"`` (integers, floats) or
    ``"iufcm"`` (``np.number``: integers, timedelta64, floats, complex). A ragged list
    is a ValueError naming ``name``.
    """
    if is_concrete(x):
        try:
            dtype = np.asarray(x).dtype
        except (TypeError, ValueError):
            as_numeric(name, x, kinds)  # raises, naming the argument
        if dtype.kind not in kinds:
            _raise(TypeError, message, name, x, dtype=dtype)


def check_finite(name, x, message=FINITE):
    """ValueError if a concrete ``x`` holds NaN or inf (TypeError if it is not a real
    number or array)."""
    if is_concrete(x):
        a = as_numeric(name, x)
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
    a = as_numeric(name, x).astype(float)
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
    a = as_numeric(name, x).astype(float)
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
    check_dtype(name, value, "iuf", "{name} must be a real number or array, got {value!r}")
    finite = "{name} must be finite, got {value!r}"
    if positive:
        what = "non-negative" if allow_zero else "positive"
        check_positive(name, value, f"{{name}} must be {what}, got {{value!r}}",
                       allow_zero=allow_zero, finite=finite)
    else:
        check_finite(name, value, finite)


def check_count(name, value, low=1, high=None, *, what="an integer"):
    """``value`` as an int: a whole number (``int`` or a numpy integer, a 0-d integer
    array; not a bool, not a float, even a whole one) in [low, high].

    Counts set array sizes and loop lengths, so they are checked whatever the tracing
    (a traced count cannot be used anyway). A non-integer real (``2.5``, ``4.0``) is a
    ValueError, anything else (a str, None, a bool) a TypeError.
    """
    span = f">= {low}" if high is None else f"in {low}..{high}"
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be {what} {span}, got the bool {value!r}")
    if isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0 and is_concrete(value):
        if np.asarray(value).dtype.kind in "iu":
            value = int(value)
    if not isinstance(value, numbers.Integral):
        exc = ValueError if isinstance(value, numbers.Real) else TypeError
        raise exc(f"{name} must be {what} {span} (an int, not a float or str), got "
                  f"{_short(value)}")
    v = int(value)
    if v < low or (high is not None and v > high):
        raise ValueError(f"{name} must be {what} {span}, got {v}")
    return v


def check_flag(name, value):
    """``value`` as a bool: ``True``/``False`` (or a numpy bool), else a TypeError."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {_short(value)}")
    return bool(value)


def _same_option(value, option) -> bool:
    # a bool is not the number 1, a str is compared with strs only
    for kind in (bool | np.bool_, str):
        if isinstance(value, kind) != isinstance(option, kind):
            return False
    try:
        return bool(value == option)
    except (TypeError, ValueError):  # arrays, incomparable objects
        return False


def check_option(name, value, allowed, message=None):
    """``value`` if it is one of ``allowed`` (by equality; a bool never stands for a
    number, a str only for a str), else a ValueError: ``message`` (fields ``name``,
    ``value``, ``allowed``) or ``"{name} must be one of {allowed}, got {value!r}"``."""
    allowed = tuple(allowed)
    if not any(_same_option(value, a) for a in allowed):
        msg = message or "{name} must be one of {allowed}, got {value!r}"
        raise ValueError(msg.format(name=name, value=value, allowed=allowed))
    return value


def check_same_shape(names, *arrays, why=""):
    """ValueError unless the (concrete or traced) arrays all have one shape; ``names``
    holds their argument names, in order, ``why`` says what the shape stands for."""
    shapes = [np.shape(a) for a in arrays]
    if any(s != shapes[0] for s in shapes[1:]):
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} must have the same "
                         f"shape{f' ({why})' if why else ''}; got shapes {listed}")


def shaped(shape):
    """A placeholder of ``shape`` (a zero-memory view) to stand for part of an array's
    shape in :func:`check_broadcast`."""
    return np.broadcast_to(np.empty((), bool), shape)


def check_broadcast(names, *arrays):
    """The broadcast shape of the arrays' shapes, or a ValueError naming them all."""
    shapes = [np.shape(a) for a in arrays]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} must broadcast "
                         f"together; got shapes {listed}") from None


def check_coils(points, normals, weights):
    """Zero-padded coil arrays: ``points`` and ``normals`` of shape (n_channels, P, 3),
    ``weights`` (n_channels, P); finite where concrete, shapes checked in any case."""
    for name, x in (("points", points), ("normals", normals)):
        check_finite(name, x)
        if np.ndim(x) != 3 or np.shape(x)[-1] != 3:
            raise ValueError(f"{name} must have shape (n_chan, P, 3), got {np.shape(x)}")
    if np.shape(normals) != np.shape(points):
        raise ValueError(f"normals must have the shape of points {np.shape(points)}, got "
                         f"{np.shape(normals)}")
    check_finite("weights", weights)
    if np.shape(weights) != np.shape(points)[:2]:
        raise ValueError(f"weights must have shape (n_chan, P) = {np.shape(points)[:2]}, "
                         f"got {np.shape(weights)}")


def check_scalar(name, x, what="number"):
    """ValueError unless ``x`` is one value (shape ()), not an array: ``what`` says what
    it is, e.g. ``"sampling rate (Hz)"``."""
    if np.ndim(x) != 0:
        raise ValueError(f"{name} must be one {what}, got shape {np.shape(x)}")


def check_key(name, key):
    """TypeError unless ``key`` is a JAX PRNG key: ``jax.random.key(seed)`` or a legacy
    ``jax.random.PRNGKey(seed)`` (uint32, shape (2,))."""
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    legacy = (isinstance(key, np.ndarray | jax.Array) and dtype == np.uint32
              and np.shape(key) == (2,))
    if not (typed or legacy):
        raise TypeError(f"{name} must be a JAX PRNG key (jax.random.key(seed)), got "
                        f"{_short(key)}")
