"""SensorArray: what a set of MEG channels is, where it is, and how it integrates."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from .coils import CoilPoints, channel_coil_points, coil_definition
from .sensors import get_preset

__all__ = ["SensorArray", "KINDS", "PRESET_FOR_COIL"]

KINDS = ("opm", "squid", "nv")

PRESET_FOR_COIL = {
    3024: "neuromag_mag",
    3022: "neuromag_mag",
    3023: "neuromag_mag",
    3012: "neuromag_grad",
    3013: "neuromag_grad",
    3014: "neuromag_grad",
    5001: "ctf_axial",
    8001: "quspin_gen2",
    8002: "quspin_gen3_dual",
    8101: "fieldline_hedscan",
    8201: "kernel_flux",
    2000: "point",
}
"""Default sensor preset for each MNE coil type (used when an array mixes types)."""

_OPM_COILS = {8001, 8002, 8101, 8201}
_MAX_DEVICE_RADIUS = 1.0  # m: no wearable or helmet channel is a metre from the origin


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
    kind : {"opm", "squid", "nv"}
    sensor : str
        Sensor preset name (see :mod:`qsense.sensors`) or, for arrays mixing coil types
        (Neuromag: magnetometers and gradiometers), a label; then each channel's preset
        follows from its coil type (:data:`PRESET_FOR_COIL`).
    noise : array_like, shape (n,), optional
        White noise floor per channel, T/sqrt(Hz) (T/(m sqrt(Hz)) for planar
        gradiometers). Default: from each channel's preset.

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
    kind: str = "opm"
    sensor: str = "point"
    noise: np.ndarray = None

    def __post_init__(self):
        names = tuple(self.names) if not isinstance(self.names, str) else None
        if names is None or not all(isinstance(n, str) for n in names):
            raise TypeError("names must be a sequence of str")
        n = len(names)
        if n == 0:
            raise ValueError("names is empty: a SensorArray needs at least one channel")
        if len(set(names)) != n:
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"names must be unique; duplicated: {dup[:5]}")
        coil_types = _readonly(self.coil_types, int)
        if coil_types.shape != (n,):
            raise ValueError(f"coil_types must have shape ({n},), got {coil_types.shape}")
        for ct in np.unique(coil_types):
            coil_definition(int(ct), "normal")  # raises for an unknown coil type
        loc = _readonly(self.loc)
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
            dev_head_t = dev_head_t["trans"]
        dev_head_t = _readonly(dev_head_t)
        if dev_head_t.shape != (4, 4) or not np.all(np.isfinite(dev_head_t)):
            raise ValueError(f"dev_head_t must be a finite 4x4 matrix, got {dev_head_t!r}")
        rot = dev_head_t[:3, :3]
        if np.max(np.abs(rot @ rot.T - np.eye(3))) > 1e-5 or np.any(
            dev_head_t[3] != [0, 0, 0, 1]
        ):
            raise ValueError("dev_head_t must be a rigid transform (rotation + translation)")
        if np.linalg.norm(dev_head_t[:3, 3]) >= _MAX_DEVICE_RADIUS:
            raise ValueError(
                f"dev_head_t translation must be in metres, got {dev_head_t[:3, 3]}"
            )
        sensor_index = (
            np.arange(n) if self.sensor_index is None else np.asarray(self.sensor_index)
        )
        sensor_index = _readonly(sensor_index, int)
        if sensor_index.shape != (n,):
            raise ValueError(f"sensor_index must have shape ({n},), got {sensor_index.shape}")
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not allowed; use one of {KINDS}")
        if not isinstance(self.sensor, str):
            raise TypeError(f"sensor must be a str (preset name or label), got {self.sensor!r}")
        presets = self._channel_presets(coil_types)
        noise = (
            np.array([p.noise_floor for p in presets]) if self.noise is None else self.noise
        )
        noise = _readonly(np.broadcast_to(np.asarray(noise, dtype=float), (n,)))
        if not np.all(np.isfinite(noise)) or np.any(noise <= 0):
            raise ValueError(f"noise must be finite and > 0 (T/sqrt(Hz)), got {noise}")
        for field, value in (
            ("names", names),
            ("coil_types", coil_types),
            ("loc", loc),
            ("dev_head_t", dev_head_t),
            ("sensor_index", sensor_index),
            ("noise", noise),
        ):
            object.__setattr__(self, field, value)

    # ------------------------------------------------------------------ presets
    def _channel_presets(self, coil_types=None):
        coil_types = self.coil_types if coil_types is None else coil_types
        try:
            single = get_preset(self.sensor)
        except ValueError:
            single = None
        if single is not None and np.all(coil_types == single.coil_type):
            return [single] * len(coil_types)
        out = []
        for ct in coil_types:
            name = PRESET_FOR_COIL.get(int(ct))
            if name is None:
                raise ValueError(
                    f"sensor={self.sensor!r} is not a preset for coil type {int(ct)} and no "
                    f"default preset exists for it; give noise explicitly"
                )
            out.append(get_preset(name))
        return out

    @property
    def head_mounted(self) -> bool:
        """Whether the sensors move with the head (on-scalp OPM and NV sensors) rather
        than sitting in a fixed helmet (SQUIDs)."""
        return all(p.head_mounted for p in self.channel_presets)

    @property
    def channel_presets(self) -> tuple:
        """The :class:`~qsense.sensors.SensorPreset` of each channel."""
        return tuple(self._channel_presets())

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
        """A copy with some fields changed (validated again)."""
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
            kind=self.kind,
            sensor=self.sensor,
            noise=self.noise[idx],
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

        if not (np.isfinite(sfreq) and sfreq > 0):
            raise ValueError(f"sfreq must be finite and > 0 Hz, got {sfreq!r}")
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
        info._check_consistency()
        return info

    @classmethod
    def from_info(cls, info, *, kind: str | None = None, sensor: str | None = None,
                  noise=None) -> SensorArray:
        """Build from any ``mne.Info`` with MEG channels (reference channels excluded).

        Parameters
        ----------
        info : mne.Info
        kind : {"opm", "squid", "nv"}, optional
            Inferred from the coil types when not given (OPM coil types 8001, 8002, 8101,
            8201 and point magnetometers give "opm"; anything else "squid").
        sensor : str, optional
            Preset name or label; inferred from the coil types when not given.
        noise : array_like, optional
            Per-channel white noise; default from the presets.
        """
        import mne

        if not isinstance(info, mne.Info):
            raise TypeError(f"info must be an mne.Info, got {type(info).__name__}")
        picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=())
        if len(picks) == 0:
            raise ValueError("info has no MEG channels")
        chs = [info["chs"][i] for i in picks]
        coil_types = np.array([c["coil_type"] for c in chs], dtype=int)
        if kind is None:
            kind = "opm" if set(coil_types) <= (_OPM_COILS | {2000}) else "squid"
        if sensor is None:
            uniq = sorted(set(coil_types.tolist()))
            if len(uniq) == 1 and uniq[0] in PRESET_FOR_COIL:
                sensor = PRESET_FOR_COIL[uniq[0]]
            else:
                sensor = "mixed"
        frames = {c["coord_frame"] for c in chs}
        from mne.io.constants import FIFF

        if frames - {FIFF.FIFFV_COORD_DEVICE, FIFF.FIFFV_COORD_UNKNOWN}:
            raise ValueError(
                f"MEG channel locations must be in the device frame, got frames {frames}"
            )
        dev_head_t = info["dev_head_t"]
        dev_head_t = np.eye(4) if dev_head_t is None else np.array(dev_head_t["trans"])
        return cls(
            names=tuple(c["ch_name"] for c in chs),
            coil_types=coil_types,
            loc=np.array([c["loc"] for c in chs]),
            dev_head_t=dev_head_t,
            kind=kind,
            sensor=sensor,
            noise=noise,
        )


@functools.lru_cache(maxsize=32)
def _coil_points_cached(array: SensorArray, accuracy: str) -> CoilPoints:
    return channel_coil_points(array.coil_types, array.loc, array.dev_head_t, accuracy)


def _pick_indices(names, picks) -> np.ndarray:
    if isinstance(picks, str):
        picks = [picks]
    arr = np.asarray(picks)
    if arr.dtype == bool:
        if arr.shape != (len(names),):
            raise ValueError(f"a boolean pick must have shape ({len(names)},), got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.dtype.kind in "US":
        lookup = {n: i for i, n in enumerate(names)}
        missing = [p for p in arr.tolist() if p not in lookup]
        if missing:
            raise ValueError(f"picks name channels that do not exist: {missing[:5]}")
        return np.array([lookup[p] for p in arr.tolist()], dtype=int)
    idx = arr.astype(int)
    if np.any((idx < -len(names)) | (idx >= len(names))):
        raise ValueError(f"picks out of range for {len(names)} channels: {idx}")
    return idx
