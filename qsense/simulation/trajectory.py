"""Head trajectories: MNE's head-position format, checked, turned into transforms, poses
and the per-sample blending weights of ``mne.simulation.simulate_raw``.

A trajectory is the (n, 10) array :func:`mne.chpi.read_head_pos` returns (the columns
of a MaxFilter ``.pos`` file): ``t, q1, q2, q3, x, y, z, gof, err, v``. Row ``i`` says
that from time ``t_i`` (s) the device -> head transform ``dev_head_t`` is the rotation
of the unit quaternion ``(q0, q1, q2, q3)``, ``q0 = sqrt(1 - q1^2 - q2^2 - q3^2)``
(:func:`mne.transforms.quat_to_rot`), followed by the translation ``(x, y, z)`` (m).
``gof``, ``err`` and ``v`` (fit quality, m/s) are carried along and not used.

How ``mne.simulation.simulate_raw(head_pos=...)`` (MNE 1.x, ``_check_head_pos`` and
``mne._ola._Interp2``) reads a trajectory, mirrored here:

* times are seconds of the raw recording: ``first_samp / sfreq`` is subtracted from
  them (array and file forms; a dict is taken as it is); qsense recordings start at
  ``first_samp = 0``, so the times are seconds from the first sample;
* a first time below half a sample (``0.5 / sfreq``) is moved to 0; when the first time
  is later, the recording's own ``info["dev_head_t"]`` (the array's ``dev_head_t``) is
  inserted at time 0, so the position blends from it to the first row;
* each time becomes the control sample ``round(t * sfreq)`` (numpy rounding, half to
  even); two rows on one sample are an error;
* between control samples ``c_k <= s < c_(k+1)`` the forward is
  ``w G_k + (1 - w) G_(k+1)`` with ``w = cos^2(pi/2 (s - c_k) / (c_(k+1) - c_k))``
  ("cos2" or "hann"), ``w = 1 - (s - c_k) / (c_(k+1) - c_k)`` ("linear") or ``w = 1``
  ("zero", a step); from the last control sample on, the last forward holds.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

import numpy as np

from .._checks import check_int, check_number, check_option, check_rigid

__all__ = [
    "INTERPS",
    "MAX_TRANSLATION",
    "check_head_pos",
    "head_pos_transforms",
    "control_points",
    "interp_weights",
    "InterpWeights",
    "poses_at",
    "check_sensors_outside",
]

INTERPS = ("cos2", "linear", "zero", "hann")
"""Blending between successive positions, as ``mne.simulation.simulate_raw(interp=...)``
accepts them ("hann" is "cos2")."""

MAX_TRANSLATION = 0.5
"""Largest |x|, |y| or |z| of a dev_head_t translation, m. A MEG helmet's device origin is
a few centimetres from the head origin; half a metre is millimetres passed as metres."""

_QUAT_SLACK = 1e-6
"""How far above 1 the norm of (q1, q2, q3) may be: ``.pos`` files keep 8 decimals, and
MNE clips ``1 - |q|^2`` at 0."""

_COLUMNS = "t, q1, q2, q3, x, y, z, gof, err, v"

_POINTS_PER_BATCH = 1_000_000
"""Coil points (over all positions of a batch) tested at once by
:func:`check_sensors_outside` (~24 MB per array of positions)."""

_SURE_MARGIN = 1e-3
"""m: a coil point is taken to stay outside the scalp without an exact test only when it
moves at least this much less than its distance to the scalp (the mesh distance is exact
to the triangles near the closest vertices; the margin covers a closer triangle missed)."""


def check_head_pos(head_pos, *, sfreq, n_times=None, first_samp=0, name="head_movement"):
    """Validate a head trajectory in MNE's head-position format.

    Parameters
    ----------
    head_pos : array_like, shape (n, 10), dict, or path-like
        Rows ``t, q1, q2, q3, x, y, z, gof, err, v`` as :func:`mne.chpi.read_head_pos`
        returns them (device -> head transform from time ``t``, s; translations in m);
        or a MaxFilter ``.pos`` file (read with :func:`mne.chpi.read_head_pos`); or a
        dict ``{t: dev_head_t}`` of 4x4 rigid transforms (or ``mne.transforms.Transform``),
        the other form ``mne.simulation.simulate_raw`` accepts (converted to quaternions
        with :func:`mne.transforms.rot_to_quat`; ``gof`` = 1, ``err`` = ``v`` = 0).
    sfreq : float
        Sampling rate of the recording, Hz.
    n_times : int, optional
        Samples in the recording; a row later than the last sample is an error (MNE's
        ``add_chpi`` refuses these too; ``simulate_raw`` would let them shape the last
        blend). None: not checked.
    first_samp : int
        As ``mne.simulation.simulate_raw(first_samp=...)``: ``first_samp / sfreq`` is
        subtracted from the times of the array and file forms (MaxFilter writes times
        of the raw recording, which starts at ``first_samp``); a dict's times are taken
        as they are, as MNE takes them. qsense recordings start at 0 (the default).
    name : str
        The argument's name in error messages.

    Returns
    -------
    ndarray, shape (n, 10)
        float, a new array; times relative to the first sample of the recording (s),
        everything else as given.

    Raises
    ------
    TypeError
        Not numbers, or not one of the forms above.
    ValueError
        Naming ``name``, the row and the value: a wrong shape, no rows, NaN or inf,
        times not strictly increasing, before the recording, after its end or two on
        one sample, |(q1, q2, q3)| > 1, a translation component over
        :data:`MAX_TRANSLATION` (millimetres passed as metres).
    """
    import mne

    sfreq = check_number("sfreq", sfreq, low=0, low_open=True, unit="Hz")
    first_samp = check_int("first_samp", first_samp, low=0)
    if n_times is not None:
        n_times = check_int("n_times", n_times, low=1)
    shift = first_samp / sfreq
    if isinstance(head_pos, str | os.PathLike):
        head_pos = mne.chpi.read_head_pos(head_pos)
    if isinstance(head_pos, dict):
        pos = _from_dict(head_pos, name)
        shift = 0.0
    else:
        pos = _numeric(head_pos, name)
    if pos.ndim != 2 or pos.shape[1] != 10:
        raise ValueError(f"{name} must have shape (n, 10) (columns {_COLUMNS}, as "
                         f"mne.chpi.read_head_pos returns), got shape {pos.shape}")
    if len(pos) == 0:
        raise ValueError(f"{name} has no rows; pass head_movement=None for a still head")
    bad = ~np.isfinite(pos)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name} must be finite; row {i} column {j} ({_COLUMNS.split(', ')[j]})"
                         f" is {float(pos[i, j])!r}")
    pos = pos.copy()
    pos[:, 0] -= shift
    t = pos[:, 0]
    step = np.diff(t)
    if np.any(step <= 0):
        i = int(np.argmax(step <= 0))
        raise ValueError(f"{name} times (column 0, s) must be strictly increasing; row "
                         f"{i + 1} has t = {float(t[i + 1])!r} after t = {float(t[i])!r}")
    if t[0] < 0:
        raise ValueError(f"{name} times must be >= 0 s (from the first sample"
                         + (f", after subtracting first_samp / sfreq = {shift:g} s" if shift
                            else "") + f"); row 0 has t = {float(t[0])!r}")
    if n_times is not None and t[-1] > (n_times - 1) / sfreq:
        i = int(np.argmax(t > (n_times - 1) / sfreq))
        raise ValueError(
            f"{name} row {i} has t = {float(t[i])!r} s, after the last sample "
            f"({(n_times - 1) / sfreq:g} s at {sfreq:g} Hz); times are in seconds (were "
            f"milliseconds passed?); drop the later rows (head_pos[head_pos[:, 0] <= t_end])")
    samples = _samples(t, sfreq)
    same = np.diff(samples) == 0
    if same.any():
        i = int(np.argmax(same))
        raise ValueError(f"{name} rows {i} and {i + 1} (t = {float(t[i])!r} and "
                         f"{float(t[i + 1])!r} s) fall on the same sample at {sfreq:g} Hz; "
                         "keep one of them")
    norm = np.linalg.norm(pos[:, 1:4], axis=1)
    if np.any(norm > 1 + _QUAT_SLACK):
        i = int(np.argmax(norm))
        raise ValueError(f"{name} row {i}: the quaternion part (q1, q2, q3) = "
                         f"{pos[i, 1:4].tolist()} has norm {norm[i]:.6g} > 1; it must be "
                         "part of a unit quaternion")
    big = np.abs(pos[:, 4:7]) > MAX_TRANSLATION
    if big.any():
        i = int(np.argmax(big.any(axis=1)))
        raise ValueError(f"{name} row {i}: translation (x, y, z) = {pos[i, 4:7].tolist()} "
                         f"exceeds {MAX_TRANSLATION} m; translations are in metres (were "
                         "millimetres passed?)")
    return pos


def _numeric(value, name):
    if value is None or isinstance(value, str | bytes | bool | np.bool_):
        raise TypeError(f"{name} must be an (n, 10) array of numbers, a .pos file or a "
                        f"dict {{t: dev_head_t}}, got {type(value).__name__}")
    try:
        a = np.asarray(value)
    except ValueError:  # ragged
        raise ValueError(f"{name} must have shape (n, 10) (columns {_COLUMNS}); got "
                         "ragged rows") from None
    if a.dtype == bool or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (columns {_COLUMNS}), got dtype "
                        f"{a.dtype}")
    return a.astype(float)


def _from_dict(value, name):
    import mne

    rows = []
    for key, trans in value.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Real):
            raise TypeError(f"{name} as a dict needs times (s) as keys, got {key!r}")
        if isinstance(trans, mne.transforms.Transform):
            trans = trans["trans"]
        t = check_rigid(f"{name}[{key!r}]", trans)
        quat = mne.transforms.rot_to_quat(t[:3, :3])
        rows.append(np.concatenate([[float(key)], quat, t[:3, 3], [1.0, 0.0, 0.0]]))
    rows.sort(key=lambda r: r[0])
    return np.array(rows, dtype=float).reshape(-1, 10)


def _samples(t, sfreq):
    """Control samples of times ``t`` (s), as ``mne.simulation.simulate_raw`` makes them:
    a first time under half a sample is 0, then ``round(t * sfreq)``."""
    t = np.array(t, dtype=float)
    if len(t) and t[0] < 0.5 / sfreq:
        t[0] = 0.0
    return np.round(t * sfreq).astype(int)


def head_pos_transforms(head_pos) -> np.ndarray:
    """The device -> head transform of each row of a trajectory.

    Parameters
    ----------
    head_pos : ndarray, shape (n, 10)
        Checked with :func:`check_head_pos`.

    Returns
    -------
    ndarray, shape (n, 4, 4)
        ``[[R, (x, y, z)], [0, 0, 0, 1]]`` with ``R`` from
        :func:`mne.transforms.quat_to_rot` (as :func:`mne.chpi.head_pos_to_trans_rot_t`).
    """
    from mne.transforms import quat_to_rot

    pos = np.asarray(head_pos, dtype=float)
    out = np.zeros((len(pos), 4, 4))
    out[:, :3, :3] = quat_to_rot(np.ascontiguousarray(pos[:, 1:4]))
    out[:, :3, 3] = pos[:, 4:7]
    out[:, 3, 3] = 1.0
    return out


def control_points(head_pos, sfreq, initial=None):
    """The transforms and control samples ``mne.simulation.simulate_raw`` blends.

    Parameters
    ----------
    head_pos : ndarray, shape (n, 10)
        Checked with :func:`check_head_pos` (times from the first sample).
    sfreq : float
        Hz.
    initial : ndarray, shape (4, 4), optional
        The recording's own device -> head transform (the array's ``dev_head_t``), in
        effect at time 0 when the first row comes later than half a sample. None: the
        first row's.

    Returns
    -------
    transforms : ndarray, shape (m, 4, 4)
        ``m = n`` or ``n + 1`` (``initial`` first).
    offsets : ndarray of int, shape (m,)
        Control samples, strictly increasing, starting at 0.
    rows : ndarray of int, shape (m,)
        Row of ``head_pos`` of each control point (-1 for ``initial``).
    """
    pos = np.asarray(head_pos, dtype=float)
    transforms = head_pos_transforms(pos)
    t = pos[:, 0].copy()
    rows = np.arange(len(pos))
    if t[0] >= 0.5 / sfreq:
        first = transforms[0] if initial is None else np.asarray(initial, dtype=float)
        transforms = np.concatenate([first[None], transforms])
        t = np.concatenate([[0.0], t])
        rows = np.concatenate([[-1], rows])
    return transforms, _samples(t, sfreq), rows


@dataclass(frozen=True, eq=False)
class InterpWeights:
    """Per-sample blending weights between control points (see :func:`interp_weights`).

    Calling it with ``(start, stop)`` gives, for samples ``start .. stop - 1``:

    left, right : ndarray of int, shape (stop - start,)
        Control-point indices; the value at a sample is
        ``weight * V[left] + (1 - weight) * V[right]``.
    weight : ndarray, shape (stop - start,)
        In [0, 1]; ``right == left`` and ``weight == 1`` where one value holds (before
        the first control point, from the last one on, and everywhere for "zero").

    Any range is computed on its own; the numbers do not depend on how a recording is
    cut into ranges.
    """

    offsets: np.ndarray
    n_times: int
    interp: str

    def __call__(self, start: int, stop: int):
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n_times:
            raise ValueError(f"need 0 <= start <= stop <= n_times={self.n_times}, got "
                             f"start={start}, stop={stop}")
        c = self.offsets
        s = np.arange(start, stop)
        k = np.searchsorted(c, s, side="right") - 1  # last control point at or before s
        before = k < 0
        last = k >= len(c) - 1
        left = np.clip(k, 0, len(c) - 1)
        right = np.where(before | last, left, left + 1)
        weight = np.ones(len(s))
        inside = ~(before | last)
        if self.interp != "zero" and inside.any():
            kk = left[inside]
            span = (c[kk + 1] - c[kk]).astype(float)
            j = (s[inside] - c[kk]).astype(float)
            if self.interp == "linear":
                # as numpy.linspace(1.0, 0.0, span, endpoint=False)[j]
                weight[inside] = j * (-1.0 / span) + 1.0
            else:  # cos2, hann: numpy.cos(numpy.linspace(0, pi / 2, span, endpoint=False))**2
                w = np.cos(j * ((np.pi / 2.0) / span))
                weight[inside] = w * w
        if self.interp == "zero":
            right = left
        return left, right, weight


def interp_weights(offsets, n_times, interp="cos2") -> InterpWeights:
    """Blending weights between successive positions, as ``mne.simulation.simulate_raw``
    blends its forwards (``mne._ola._Interp2``).

    Parameters
    ----------
    offsets : array_like of int, shape (m,)
        Control samples (strictly increasing, >= 0), e.g. from :func:`control_points`.
        A control sample past the end still shapes the blend before it, as in MNE.
    n_times : int
        Samples in the recording (ranges asked for must lie in [0, n_times]).
    interp : {"cos2", "linear", "zero", "hann"}
        ``w = cos^2(pi/2 j/L)`` ("cos2", "hann"), ``w = 1 - j/L`` ("linear"), ``w = 1``
        ("zero"), at sample ``j`` of a span of ``L`` samples between control points;
        ``w`` weighs the earlier point, ``1 - w`` the later one.

    Returns
    -------
    InterpWeights
        ``weights(start, stop) -> (left, right, weight)``.
    """
    check_option("interp", interp, INTERPS)
    n_times = check_int("n_times", n_times, low=1)
    c = np.asarray(offsets)
    if c.ndim != 1 or len(c) == 0 or c.dtype.kind not in "iu":
        raise ValueError(f"offsets must be a non-empty 1-D array of int, got {offsets!r:.80}")
    if np.any(c < 0) or np.any(np.diff(c) <= 0):
        raise ValueError(f"offsets must be >= 0 and strictly increasing, got {c[:6].tolist()}")
    c = c.astype(np.int64)
    c.flags.writeable = False
    return InterpWeights(c, n_times, interp)


def poses_at(head_pos, sfreq, start, stop, interp="cos2"):
    """The head's pose in the room at each sample, for arrays that move with the head.

    Convention: the room frame is fixed to the MEG device (MNE's ``dev_head_t`` maps the
    device frame into the head frame, so a head-fixed point ``p`` sits at
    ``inv(dev_head_t) p`` in the device frame) and is chosen so that it coincides with
    the head frame at the reference pose, the first row ``T_0``. The head's pose at row
    ``i`` is then ``M_i = T_0 inv(T_i)``: a head-fixed point ``p`` (head frame) is at
    ``M_i p`` in the room. Between rows the rotation is interpolated along the great
    circle (scipy's ``Slerp``) and the translation linearly, with the weights of
    :func:`interp_weights` (the same times and rules as the forwards of a fixed helmet);
    before the first row the head stays at the reference pose. Blending the pose rather
    than the device -> head transform is an assumption (MNE blends forwards).

    Parameters
    ----------
    head_pos : array_like, shape (n, 10)
        Checked with :func:`check_head_pos` (times from the first sample, s).
    sfreq : float
        Hz.
    start, stop : int
        Samples [start, stop).
    interp : {"cos2", "linear", "zero", "hann"}

    Returns
    -------
    rotation : ndarray, shape (stop - start, 3, 3)
    translation : ndarray, shape (stop - start, 3)
        m; the head-fixed point ``p`` is at ``rotation @ p + translation`` in the room.
    """
    from scipy.spatial.transform import Rotation

    pos = check_head_pos(head_pos, sfreq=sfreq)
    transforms, offsets, _ = control_points(pos, sfreq)
    start, stop = check_int("start", start, low=0), check_int("stop", stop, low=0)
    poses = transforms[0] @ np.linalg.inv(transforms)  # (m, 4, 4)
    left, right, w = interp_weights(offsets, max(stop, 1), interp)(start, stop)
    rots = Rotation.from_matrix(poses[:, :3, :3])
    # rotation from left to right, scaled by the share of the right pose (1 - w)
    step = (rots[left].inv() * rots[right]).as_rotvec()
    rotation = (rots[left] * Rotation.from_rotvec(step * (1.0 - w)[:, None])).as_matrix()
    rotation = rotation.reshape(-1, 3, 3)
    same = w == 1.0  # exact rows where one pose holds
    rotation[same] = poses[left[same], :3, :3]
    translation = (w[:, None] * poses[left, :3, 3]
                   + (1.0 - w)[:, None] * poses[right, :3, 3])
    return rotation, translation


def check_sensors_outside(array, head, transforms, name="head_movement", *, times=None,
                          rows=None):
    """Refuse positions of a fixed helmet that would put a sensor inside the head.

    Parameters
    ----------
    array : SensorArray
        The helmet (channel ``loc`` in the device frame).
    head : Head
    transforms : array_like, shape (n, 4, 4)
        Device -> head transforms (e.g. :func:`head_pos_transforms`).
    name : str
        The argument named in the error.
    times : array_like, shape (n,), optional
        Time of each transform, s (named in the error).
    rows : array_like of int, shape (n,), optional
        Row of each transform in the argument (default 0 .. n-1; -1 names the array's
        own ``dev_head_t``).

    Raises
    ------
    ValueError
        Naming ``name``, the row, its time and a channel, when any coil integration
        point (MNE's "accurate" definitions, as the lead field uses) lies on or inside
        the head's scalp (``head.scalp.contains``) at any of the transforms.
    """
    from ..coils import channel_coil_points

    transforms = np.asarray(transforms, dtype=float).reshape(-1, 4, 4)
    rows = np.arange(len(transforms)) if rows is None else np.asarray(rows, dtype=int)
    cp = channel_coil_points(array.coil_types, array.loc, np.eye(4), "accurate")
    batch = max(1, _POINTS_PER_BATCH // len(cp.points))
    for a in range(0, len(transforms), batch):
        tr = transforms[a:a + batch]
        pts = np.einsum("nij,pj->npi", tr[:, :3, :3], cp.points) + tr[:, None, :3, 3]
        # a point that moves less than its distance to the scalp at the batch's first
        # position stays on the same side; only the others are tested exactly
        gap = head.scalp.signed_distance(pts[0])
        unsure = gap[None] <= np.linalg.norm(pts - pts[0], axis=2) + _SURE_MARGIN
        inside = np.zeros(unsure.shape, bool)
        inside[unsure] = head.scalp.contains(pts[unsure])
        if inside.any():
            k, p = np.argwhere(inside)[0]
            i = a + int(k)
            depth = float(-head.scalp.signed_distance(pts[k, p][None])[0])
            ch = array.names[int(cp.segments[p])]
            row = ("the array's own dev_head_t (in effect before the first row)"
                   if rows[i] < 0 else f"row {rows[i]}")
            when = "" if times is None else f" (t = {float(np.asarray(times)[i]):g} s)"
            raise ValueError(
                f"{name} {row}{when} puts channel {ch!r} of the fixed helmet "
                f"{depth * 1e3:.1f} mm inside the scalp of head {head.name!r} "
                f"({int(inside[k].sum())} coil point(s) inside); the head must stay "
                "inside the helmet at every position: check the translations (m) and the "
                "array's dev_head_t")
