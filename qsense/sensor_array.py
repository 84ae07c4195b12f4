"""SensorArray: what a set of MEG channels is, where it is, and how it integrates."""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
from dataclasses import dataclass

import numpy as np

from . import sensors as _sensors
from ._checks import (
    check_array,
    check_int_array,
    check_number,
    check_per_item,
    check_rigid,
    validate_type,
)
from .coils import CoilPoints, _accuracy, channel_coil_points, coil_definition

__all__ = ["SensorArray"]

_MAX_DEVICE_RADIUS = 1.0  # m: no wearable or helmet channel is a metre from the origin
_MAX_NOISE = 1e-5
"""T/sqrt(Hz): no sensor's white floor comes near (NV wide-field pixels: ~4e-8); a larger
value is a unit error (fT/sqrt(Hz) passed as T/sqrt(Hz))."""
_PRESET_RECORD = "qsense sensor presets: "
"""Prefix of the line of ``info["description"]`` that records the channels whose preset
their coil type alone does not say (NV sensors are point magnetometers, coil type 2000,
like the ideal ``point`` preset)."""


def _readonly(a, dtype=float):
    a = np.array(a, dtype=dtype, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class SensorArray:
    """A set of MEG channels: names, coil types, positions and orientations.

    Parameters
    ----------
    names : sequence of str, length n
        Channel names (unique).
    coil_types : array_like of int, shape (n,)
        MNE FIFF coil types (defined in MNE's ``coil_def.dat``).
    loc : array_like, shape (n, 12)
        MNE-style channel location in the device frame: position (m), then the unit
        vectors ex, ey, ez of the coil frame; ez is the sensitive axis.
    dev_head_t : array_like, shape (4, 4), optional
        Device-to-head transform; identity (device frame = head frame) by default, as
        for on-scalp arrays.
    sensor_index : array_like of int, shape (n,), optional
        Physical sensor of each channel (dual/triaxial OPMs: 2 or 3 channels share an
        index). Default: one sensor per channel.
    kind : str, optional
        Sensor family ("opm", "squid", "nv"); it follows from the presets, and when
        given must agree with them.
    sensor : str or SensorPreset or sequence, optional
        Which sensor the channels are (see :mod:`qsense.sensors`): one preset (name or
        object) for every channel, or one per channel. A str that is not a preset name
        is a label for an array whose channels are of their coil types' default presets
        (:func:`qsense.sensors.preset_for_coil`; Neuromag: magnetometers and
        gradiometers); so is None (the default).
    noise : array_like, shape (n,), optional
        White noise floor per channel, T/sqrt(Hz) (T/(m sqrt(Hz)) for planar
        gradiometers). Default: from each channel's preset.
    presets : sequence of str or SensorPreset, length n, optional
        The preset of each channel; overrides ``sensor`` (which is then only a label).
        After construction this holds the :class:`~qsense.sensors.SensorPreset` objects.

    Notes
    -----
    Positions are validated: finite, in metres (a channel a metre or more from the
    device origin is taken for a unit error), orthonormal coil frames.
    """

    names: tuple
    coil_types: np.ndarray
    loc: np.ndarray
    dev_head_t: np.ndarray = None
    sensor_index: np.ndarray = None
    kind: str | None = None
    sensor: object = None
    noise: np.ndarray = None
    presets: tuple = None

    def __post_init__(self):
        try:
            names = None if isinstance(self.names, str) else tuple(self.names)
        except TypeError:
            names = None
        if names is None or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a sequence of str, got {self.names!r:.80}")
        n = len(names)
        if n == 0:
            raise ValueError("names is empty: a SensorArray needs at least one channel")
        if len(set(names)) != n:
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"names must be unique; duplicated: {dup[:5]}")
        coil_types = _readonly(check_int_array("coil_types", self.coil_types), int)
        if coil_types.shape != (n,):
            raise ValueError(f"coil_types must have shape ({n},), got {coil_types.shape}")
        for ct in np.unique(coil_types):
            coil_definition(int(ct), "normal")  # raises for an unknown coil type
        loc = _readonly(check_array("loc", self.loc, finite=False, unit="m"))
        if loc.shape != (n, 12):
            raise ValueError(f"loc must have shape ({n}, 12), got {loc.shape}")
        if not np.all(np.isfinite(loc)):
            bad = int(np.argwhere(~np.isfinite(loc))[0, 0])
            raise ValueError(f"loc must be finite; channel {names[bad]!r} has {loc[bad]}")
        radius = np.linalg.norm(loc[:, :3], axis=1)
        if np.any(radius >= _MAX_DEVICE_RADIUS):
            i = int(np.argmax(radius))
            raise ValueError(
                f"loc positions must be in metres; channel {names[i]!r} is "
                f"{radius[i]:g} m from the device origin (allowed < {_MAX_DEVICE_RADIUS} m). "
                "Were millimetres passed as metres?"
            )
        axes = loc[:, 3:].reshape(n, 3, 3)
        lengths = np.linalg.norm(axes, axis=2)
        if np.any(lengths < 1e-9):
            i = int(np.argwhere(lengths < 1e-9)[0, 0])
            raise ValueError(
                f"loc orientation vectors must be non-zero; channel {names[i]!r} has a "
                "zero-length axis"
            )
        gram = np.einsum("nij,nkj->nik", axes, axes)
        if np.max(np.abs(gram - np.eye(3))) > 1e-3:  # canonical files: 2e-4
            i = int(np.argmax(np.abs(gram - np.eye(3)).max(axis=(1, 2))))
            raise ValueError(
                f"loc must hold orthonormal unit vectors ex, ey, ez; channel {names[i]!r} "
                f"has ex, ey, ez = {axes[i].tolist()}"
            )
        dev_head_t = np.eye(4) if self.dev_head_t is None else self.dev_head_t
        if isinstance(dev_head_t, dict):  # an mne.transforms.Transform
            if "trans" not in dev_head_t:
                raise TypeError("dev_head_t must be a 4x4 matrix or an "
                                f"mne.transforms.Transform, got a dict with keys "
                                f"{sorted(dev_head_t)[:5]}")
            dev_head_t = dev_head_t["trans"]
        dev_head_t = _readonly(check_rigid("dev_head_t", dev_head_t))
        if np.linalg.norm(dev_head_t[:3, 3]) >= _MAX_DEVICE_RADIUS:
            raise ValueError(
                f"dev_head_t translation must be in metres, got {dev_head_t[:3, 3]}"
            )
        sensor_index = (
            np.arange(n) if self.sensor_index is None else np.asarray(self.sensor_index)
        )
        sensor_index = _readonly(check_int_array("sensor_index", sensor_index), int)
        if sensor_index.shape != (n,):
            raise ValueError(f"sensor_index must have shape ({n},), got {sensor_index.shape}")
        presets = _resolve_presets(self.sensor, self.presets, coil_types, names)
        families = sorted({p.kind for p in presets})
        kind = families[0] if len(families) == 1 else "mixed"
        if self.kind is not None:
            validate_type(self.kind, str, "kind")
        if self.kind is not None and self.kind != kind:
            raise ValueError(f"kind={self.kind!r} does not match the channels' presets, "
                             f"which are {kind!r} sensors")
        label = _label(self.sensor, presets)
        noise = (
            np.array([p.noise_floor for p in presets]) if self.noise is None else self.noise
        )
        noise = _readonly(check_per_item("noise", noise, n, unit="T/sqrt(Hz)"))
        if not np.all(np.isfinite(noise)) or np.any(noise <= 0):
            raise ValueError(f"noise must be finite and > 0 (T/sqrt(Hz)), got {noise}")
        if np.any(noise > _MAX_NOISE):
            raise ValueError(f"noise must be in T/sqrt(Hz) (T/(m sqrt(Hz)) for planar "
                             f"gradiometers); got up to {noise.max():g}, above "
                             f"{_MAX_NOISE:g}. Were fT/sqrt(Hz) passed as T/sqrt(Hz)?")
        for field, value in (
            ("names", names),
            ("coil_types", coil_types),
            ("loc", loc),
            ("dev_head_t", dev_head_t),
            ("sensor_index", sensor_index),
            ("noise", noise),
            ("presets", presets),
            ("kind", kind),
            ("sensor", label),
        ):
            object.__setattr__(self, field, value)

    # ------------------------------------------------------------------ presets
    @property
    def head_mounted(self) -> bool:
        """Whether the sensors move with the head (on-scalp OPM and NV sensors) rather
        than sitting in a fixed helmet (SQUIDs)."""
        return all(p.head_mounted for p in self.presets)

    @property
    def channel_presets(self) -> tuple:
        """The :class:`~qsense.sensors.SensorPreset` of each channel."""
        return self.presets

    # --------------------------------------------------------------- geometry
    @property
    def n_channels(self) -> int:
        return len(self.names)

    @property
    def n_sensors(self) -> int:
        return len(np.unique(self.sensor_index))

    @property
    def positions(self) -> np.ndarray:
        """Channel positions in the head frame, m, shape (n, 3)."""
        t = self.dev_head_t
        return self.loc[:, :3] @ t[:3, :3].T + t[:3, 3]

    @property
    def orientations(self) -> np.ndarray:
        """Sensitive axes (ez) in the head frame, unit vectors, shape (n, 3)."""
        return self.loc[:, 9:12] @ self.dev_head_t[:3, :3].T

    @property
    def is_gradiometer(self) -> np.ndarray:
        """Whether each channel is a gradiometer (planar or axial), shape (n,)."""
        return np.array(
            [coil_definition(int(ct), "normal").is_gradiometer for ct in self.coil_types]
        )

    @property
    def is_planar_gradiometer(self) -> np.ndarray:
        return np.array(
            [coil_definition(int(ct), "normal").coil_class == 3 for ct in self.coil_types]
        )

    def coil_points(self, accuracy: str = "normal") -> CoilPoints:
        """All integration points in the head frame (see :class:`qsense.coils.CoilPoints`)."""
        _accuracy(accuracy)  # a clear error before the cache sees an unhashable value
        return _coil_points_cached(self, accuracy)

    def coil_geometry(self, accuracy: str = "normal"):
        """Zero-padded integration points in the head frame.

        Returns
        -------
        points : ndarray, shape (n, P, 3)
            m.
        normals : ndarray, shape (n, P, 3)
        weights : ndarray, shape (n, P)
            Zero for padding slots.
        """
        return self.coil_points(accuracy).padded()

    # ------------------------------------------------------------------ edits
    def replace(self, **changes) -> SensorArray:
        """A copy with some fields changed (validated again).

        A new ``sensor`` (without ``presets``) sets every channel's preset again, and
        with it the noise floors unless ``noise`` is given too.
        """
        if "sensor" in changes and "presets" not in changes:
            changes["presets"] = None
            changes.setdefault("noise", None)
        elif "presets" in changes:
            changes.setdefault("noise", None)
        return dataclasses.replace(self, **changes)

    def pick(self, picks) -> SensorArray:
        """A sub-array: ``picks`` are channel indices, a boolean mask, or names."""
        idx = _pick_indices(self.names, picks)
        return SensorArray(
            names=tuple(self.names[i] for i in idx),
            coil_types=self.coil_types[idx],
            loc=self.loc[idx],
            dev_head_t=self.dev_head_t,
            sensor_index=self.sensor_index[idx],
            sensor=self.sensor,
            noise=self.noise[idx],
            presets=tuple(self.presets[i] for i in idx),
        )

    def __repr__(self):
        return (
            f"<SensorArray | {self.n_channels} channels, {self.n_sensors} sensors, "
            f"kind={self.kind!r}, sensor={self.sensor!r}>"
        )

    def __len__(self):
        return self.n_channels

    # -------------------------------------------------------------------- MNE
    def to_info(self, sfreq: float = 1000.0):
        """An ``mne.Info`` with these channels (device frame, proper coil types, units).

        Parameters
        ----------
        sfreq : float
            Sampling frequency to record in the Info, Hz.
        """
        import mne
        from mne.io.constants import FIFF

        sfreq = check_number("sfreq", sfreq, low=0.0, low_open=True, unit="Hz")
        planar = self.is_planar_gradiometer
        ch_types = ["grad" if p else "mag" for p in planar]
        info = mne.create_info(list(self.names), float(sfreq), ch_types)
        with info._unlock():
            for ch, ct, loc, p in zip(info["chs"], self.coil_types, self.loc, planar,
                                      strict=True):
                ch["coil_type"] = int(ct)
                ch["loc"] = np.array(loc, dtype=float)
                ch["coord_frame"] = FIFF.FIFFV_COORD_DEVICE
                ch["kind"] = FIFF.FIFFV_MEG_CH
                ch["unit"] = FIFF.FIFF_UNIT_T_M if p else FIFF.FIFF_UNIT_T
            info["dev_head_t"] = mne.transforms.Transform(
                "meg", "head", np.array(self.dev_head_t)
            )
            record = _preset_record(self)
            if record:
                info["description"] = record
        info._check_consistency()
        return info

    @classmethod
    def from_info(cls, info, *, kind: str | None = None, sensor: str | None = None,
                  noise=None) -> SensorArray:
        """Build from any ``mne.Info`` with MEG channels (reference channels excluded).

        Each channel's preset is the one qsense recorded in ``info["description"]``
        when it wrote the Info (:meth:`to_info`; it survives FIF files), else the
        default preset of its coil type (:func:`qsense.sensors.preset_for_coil`).

        Parameters
        ----------
        info : mne.Info
        kind : {"opm", "squid", "nv"}, optional
            Checked against the presets when given.
        sensor : str, optional
            A preset name for every channel, or a label.
        noise : array_like, optional
            Per-channel white noise; default from the presets.
        """
        import mne
        from mne.io.constants import FIFF

        if not isinstance(info, mne.Info):
            raise TypeError(f"info must be an mne.Info, got {type(info).__name__}")
        if sensor is not None:
            validate_type(sensor, (str, _sensors.SensorPreset), "sensor",
                          "preset name (str) or qsense.sensors.SensorPreset")
        if kind is not None:
            validate_type(kind, str, "kind")
        picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=())
        if len(picks) == 0:
            raise ValueError("info has no MEG channels")
        chs = [info["chs"][i] for i in picks]
        frames = {c["coord_frame"] for c in chs}
        if frames - {FIFF.FIFFV_COORD_DEVICE, FIFF.FIFFV_COORD_UNKNOWN}:
            raise ValueError(
                f"MEG channel locations must be in the device frame, got frames {frames}"
            )
        names = tuple(c["ch_name"] for c in chs)
        presets = None
        if sensor is None or sensor not in _sensors.PRESETS:
            recorded = _read_preset_record(info.get("description"))
            presets = tuple(recorded.get(n) or _sensors.preset_for_coil(c["coil_type"])
                            for n, c in zip(names, chs, strict=True))
        dev_head_t = info["dev_head_t"]
        dev_head_t = np.eye(4) if dev_head_t is None else np.array(dev_head_t["trans"])
        return cls(
            names=names,
            coil_types=np.array([c["coil_type"] for c in chs], dtype=int),
            loc=np.array([c["loc"] for c in chs]),
            dev_head_t=dev_head_t,
            kind=kind,
            sensor=sensor,
            noise=noise,
            presets=presets,
        )


def _resolve_presets(sensor, presets, coil_types, names) -> tuple:
    """One :class:`~qsense.sensors.SensorPreset` per channel (see SensorArray)."""
    n = len(names)
    given_presets = presets
    for arg, value in (("sensor", sensor), ("presets", presets)):
        if not (value is None or isinstance(value, str | _sensors.SensorPreset)
                or np.iterable(value)):
            raise TypeError(f"{arg} must be a preset name, a SensorPreset or one of them "
                            f"per channel, got {value!r}")
    if presets is None and isinstance(sensor, _sensors.SensorPreset):
        presets = (sensor,) * n
    elif presets is None and isinstance(sensor, str) and sensor in _sensors.PRESETS:
        presets = (_sensors.PRESETS[sensor],) * n
    elif presets is None and sensor is not None and not isinstance(sensor, str):
        presets = tuple(sensor)
    if presets is None:
        try:
            return tuple(_sensors.preset_for_coil(ct) for ct in coil_types)
        except ValueError as err:
            raise ValueError(f"sensor={sensor!r} is not a preset: {err}") from None
    arg = "sensor" if given_presets is None else "presets"
    presets = tuple(presets)
    for i, p in enumerate(presets):
        try:
            _sensors.get_preset(p)
        except (TypeError, ValueError) as err:
            channel = f"channel {names[i]!r}" if i < n else f"entry {i}"
            raise type(err)(f"{arg} ({channel}): {err}") from None
    presets = tuple(_sensors.get_preset(p) for p in presets)
    if len(presets) != n:
        raise ValueError(f"presets must name one preset per channel ({n}), got "
                         f"{len(presets)}")
    for name, ct, p in zip(names, coil_types, presets, strict=True):
        if int(ct) not in p.coil_types:
            raise ValueError(f"channel {name!r} has coil type {int(ct)}, but its sensor "
                             f"{p.name!r} has coil type(s) {list(p.coil_types)}")
    return presets


def _label(sensor, presets) -> str:
    if isinstance(sensor, str):
        return sensor
    if isinstance(sensor, _sensors.SensorPreset):
        return sensor.name
    return "+".join(sorted({p.name for p in presets}))


def _preset_record(array) -> str:
    """The description line recording the channels whose preset is not their coil
    type's default (empty when there are none)."""
    odd: dict[str, list[str]] = {}
    for name, ct, p in zip(array.names, array.coil_types, array.presets, strict=True):
        try:
            default = _sensors.preset_for_coil(ct)
        except ValueError:
            default = None
        if default is None or p.name != default.name:
            odd.setdefault(p.name, []).append(name)
    return _PRESET_RECORD + json.dumps(odd, separators=(",", ":")) if odd else ""


def _read_preset_record(description) -> dict:
    """Channel name -> SensorPreset from a description written by :meth:`to_info`."""
    out = {}
    for line in (description or "").splitlines():
        if line.startswith(_PRESET_RECORD):
            try:
                record = json.loads(line[len(_PRESET_RECORD):])
            except ValueError as err:
                raise ValueError(f'info["description"] holds a damaged qsense preset '
                                 f"record ({err}): {line[:120]!r}") from None
            if not isinstance(record, dict) or not all(
                    isinstance(k, str) and isinstance(v, list)
                    and all(isinstance(c, str) for c in v) for k, v in record.items()):
                raise ValueError(f'info["description"] holds a damaged qsense preset '
                                 f"record (expected preset -> channel names): "
                                 f"{line[:120]!r}")
            for preset, chans in record.items():
                try:
                    p = _sensors.get_preset(preset)
                except ValueError as err:
                    raise ValueError(f'info["description"] records preset {preset!r} for '
                                     f"channels {chans[:3]}: {err}") from None
                out.update(dict.fromkeys(chans, p))
    return out


@functools.lru_cache(maxsize=32)
def _coil_points_cached(array: SensorArray, accuracy: str) -> CoilPoints:
    return channel_coil_points(array.coil_types, array.loc, array.dev_head_t, accuracy)


def _pick_indices(names, picks) -> np.ndarray:
    if isinstance(picks, str | numbers.Integral) and not isinstance(picks, bool):
        picks = [picks]
    if picks is None or isinstance(picks, dict | set | bool) or not np.iterable(picks):
        raise TypeError(f"picks must be channel indices, a boolean mask or channel names, "
                        f"got {picks!r:.80}")
    try:
        arr = np.asarray(list(picks))
    except ValueError:  # ragged
        arr = np.asarray(None)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"picks must be a non-empty 1-D sequence, got {picks!r:.80}")
    if arr.dtype.kind not in "biuUS":
        raise TypeError(f"picks must be channel indices, a boolean mask or channel names, "
                        f"got {picks!r:.80}")
    if arr.dtype == bool:
        if arr.shape != (len(names),):
            raise ValueError(f"picks as a boolean mask must have shape ({len(names)},), "
                             f"got {arr.shape}")
        if not arr.any():
            raise ValueError("picks selects no channel (a boolean mask of all False)")
        return np.flatnonzero(arr)
    if arr.dtype.kind in "US":
        lookup = {n: i for i, n in enumerate(names)}
        missing = [p for p in arr.tolist() if p not in lookup]
        if missing:
            raise ValueError(f"picks name channels that do not exist: {missing[:5]}")
        if len(set(arr.tolist())) != len(arr):
            raise ValueError(f"picks must not repeat a channel, got {picks!r:.80}")
        return np.array([lookup[p] for p in arr.tolist()], dtype=int)
    idx = arr.astype(int)
    if np.any((idx < -len(names)) | (idx >= len(names))):
        raise ValueError(f"picks out of range for {len(names)} channels: {idx}")
    if len(np.unique(idx % len(names))) != len(idx):
        raise ValueError(f"picks must not repeat a channel, got {picks!r:.80}")
    return idx
