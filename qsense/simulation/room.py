"""Stage 1b: the room's field at the sensors as time series, and sensors moving through it.

An :class:`qsense.Environment` becomes a field in the room frame (the head frame at the
reference pose), the sum of terms that each have a fixed spatial shape ``F_j(x)`` and a
time course ``c_j(t)`` (:class:`RoomSignals`):

``static``
    The remnant field and gradient, ``b0 + G x`` (after the nulling coils when
    ``environment.nulling``: :meth:`qsense.Environment.remnant`); ``c = 1``.
``power_line``
    A uniform field along the power line's direction; ``c(t) = sum_h sqrt(2) a_h /
    S(h f0) cos(2 pi h f0 t + phi_h)`` with the rms amplitudes ``a_h`` of its harmonics
    and the room's shielding factor ``S``; the phases ``phi_h`` are seeded draws. A pure
    tone per harmonic: the budget's line width only spreads the same power over 0.1 Hz
    and is not modelled here.
``interferer <i> <name>``
    The field of a unit magnetic dipole at the source's position along its direction
    (Jackson 1999, eq. 5.56); ``c(t)`` the moment, a seeded Gaussian series
    (:mod:`qsense.simulation.series`) with ASD ``moment_asd f**-exponent / S(f)``: the
    same spectrum :func:`qsense.budget.noise_budget` reports for it.
``thermal <x|y|z>``, ``thermal gradient <k>``
    The Johnson noise of the shield's conducting layers: a uniform field with three
    independent components of ASD ``b_t`` (:meth:`qsense.Room.thermal_noise`) and a
    uniform gradient, five independent coefficients along the unit basis
    :func:`forward_models.shielding.gradient_basis`, of ASD ``sqrt(2) b_t / R`` (``R``:
    the innermost layer's radius), so that a planar gradiometer (any two orthogonal
    directions) reads ``b_t / R`` as in the budget. Approximation (as the budget's):
    the noise varies on the scale of the room; its higher spatial orders are left out.

A sensor at head-frame point ``p`` with direction ``n`` reads ``(R n) . B(R p + T)``
when the head's pose in the room is the rotation ``R`` and translation ``T``; without
movement ``R = 1`` and ``T = 0``. Head-mounted arrays (OPM, NV) move with the head
(:class:`Trajectory`: given in MNE's head-position format or drawn from the
environment's movement spectrum); fixed helmets (SQUID) stay where they are in the room,
and the head's movement inside them changes their lead fields instead
(:mod:`qsense.simulation.moving_field`).
"""

from __future__ import annotations

import json
import math

import numpy as np

from forward_models import shielding

from ..coils import CoilPoints
from ..environment import Environment, dipole_field
from .field import ACCURACY, bloch_groups, cell_array
from .series import SeriesSource, label_key

__all__ = ["ROOM_STREAM", "MOVEMENT_STREAM", "RoomSignals", "RoomField", "Trajectory",
           "DrawnTrajectory", "environment_record"]

ROOM_STREAM = 2
"""Stream number of the environment's random series (interferers, thermal noise, the
power line's phases)."""

MOVEMENT_STREAM = 3
"""Stream number of a drawn head trajectory."""

_WORK = 2_000_000
"""Floats of intermediates per sub-block when sensors move (about 16 MB)."""


class RoomSignals:
    """The environment's terms: spatial shapes and time courses (module docstring).

    Parameters
    ----------
    environment : Environment
    sfreq : float
        Hz.
    seed : int
        >= 0. The draws are keyed by the terms' labels, not by any array.
    """

    def __init__(self, environment: Environment, sfreq: float, seed: int):
        env = environment
        room = env.room
        self.environment = env
        self.sfreq = float(sfreq)
        self.b0, self.G = (np.asarray(x, dtype=float) for x in env.remnant())
        labels, asds = [], []
        self.dipoles = []
        for i, src in enumerate(env.sources):
            d = np.asarray(src.direction, dtype=float)
            self.dipoles.append((np.asarray(src.position, dtype=float), d / np.linalg.norm(d)))
            labels.append(f"interferer {i} {src.name}")
            asds.append(lambda f, s=src: s.moment_spectrum(f) / room.shielding_factor(f))
        self.thermal = room.thermal_noise(env.temperature) if room.layers else 0.0
        if self.thermal > 0:
            radius = room.layers[0][2]
            grad_asd = math.sqrt(2.0) * self.thermal / radius
            for c in "xyz":
                labels.append(f"thermal {c}")
                asds.append(lambda f, b=self.thermal: np.full_like(f, b))
            for k in range(5):
                labels.append(f"thermal gradient {k}")
                asds.append(lambda f, b=grad_asd: np.full_like(f, b))
        self.basis = np.asarray(shielding.gradient_basis())
        self.random = SeriesSource(asds, labels, self.sfreq, seed, ROOM_STREAM)
        self.lines = []
        pl = env.power_line
        if pl is not None:
            u = np.asarray(pl.direction, dtype=float)
            self.line_direction = u / np.linalg.norm(u)
            k0, k1 = label_key("power line")
            for h, a in zip(pl.harmonics, pl.amplitudes, strict=True):
                f = h * pl.frequency
                phase = np.random.default_rng([int(seed), ROOM_STREAM, k0, k1, h]).uniform(
                    0.0, 2.0 * np.pi)
                s = float(room.shielding_factor([f])[0])
                self.lines.append((f, math.sqrt(2.0) * a / s, phase))
        self.labels = ["static"] + (["power line"] if pl is not None else []) + labels

    @property
    def n_terms(self) -> int:
        return len(self.labels)

    @property
    def max_frequency(self) -> float:
        """Highest power-line harmonic, Hz (0 without the power line)."""
        return max((f for f, _, _ in self.lines), default=0.0)

    def coefficients(self, start: int, stop: int) -> np.ndarray:
        """Time courses ``c_j`` of samples [start, stop), shape (n_terms, n)."""
        n = stop - start
        rows = [np.ones((1, n))]
        if self.lines:
            t = np.arange(start, stop) / self.sfreq
            rows.append(sum(a * np.cos(2.0 * np.pi * f * t + ph)
                            for f, a, ph in self.lines)[None])
        rows.append(self.random.samples(start, stop))
        return np.concatenate(rows)

    def shapes(self, x: np.ndarray) -> np.ndarray:
        """Spatial shapes ``F_j`` at room-frame points ``x`` (..., 3): (..., n_terms, 3),
        tesla per unit coefficient."""
        x = np.asarray(x, dtype=float)
        out = [self.b0 + x @ self.G.T]
        if self.lines:
            out.append(np.broadcast_to(self.line_direction, x.shape))
        out += [dipole_field(x, pos, d) for pos, d in self.dipoles]
        if self.thermal > 0:
            out += [np.broadcast_to(e, x.shape) for e in np.eye(3)]
            out += [x @ g.T for g in self.basis]
        return np.stack(out, axis=-2)

    def along(self, x: np.ndarray, n: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """``sum_j c_j(t) n . F_j(x)`` for moving points: room-frame positions ``x`` and
        directions ``n`` (n_t, n_points, 3), coefficients (n_terms, n_t); (n_t, n_points).

        The same sum as ``shapes`` contracted with ``n`` and ``coef``, arranged by the
        terms' form: uniform, linear in position, dipoles."""
        j = 1
        uniform = np.broadcast_to(self.b0, (coef.shape[1], 3)).copy()
        linear = np.broadcast_to(self.G, (coef.shape[1], 3, 3)).copy()
        if self.lines:
            uniform += coef[j][:, None] * self.line_direction
            j += 1
        out = np.zeros(x.shape[:2])
        for pos, d in self.dipoles:
            out += coef[j][:, None] * np.einsum("tpc,tpc->tp", n, dipole_field(x, pos, d))
            j += 1
        if self.thermal > 0:
            uniform += coef[j:j + 3].T
            linear += np.einsum("kt,kij->tij", coef[j + 3:j + 8], self.basis)
        out += np.einsum("tpc,tc->tp", n, uniform)
        out += np.einsum("tpi,tij,tpj->tp", n, linear, x)
        return out


class Trajectory:
    """The head's pose in the room at each sample (rotation, translation).

    Parameters
    ----------
    poses : callable
        ``poses(start, stop) -> (R (n, 3, 3), T (n, 3))``: a head-fixed point ``p``
        sits at ``R p + T`` in the room frame.
    description : dict
        What the trajectory is (JSON-serialisable), for the settings record.
    """

    def __init__(self, poses, description: dict):
        self._poses = poses
        self.description = description

    def poses(self, start: int, stop: int):
        return self._poses(start, stop)


class DrawnTrajectory(Trajectory):
    """A trajectory drawn from an environment's movement spectrum.

    Translations along x, y, z are independent Gaussian series of ASD
    ``translation_asd f**-exponent`` (m/sqrt(Hz)), rotations about x, y, z (a rotation
    vector about the head frame's origin) of that ASD over ``lever`` (rad/sqrt(Hz)), as
    :class:`qsense.environment.Movement` defines them and the budget's movement term
    assumes; zero-mean about the reference pose. Seeded draws keyed by
    :data:`MOVEMENT_STREAM` and the component, so paired arrays move alike.
    """

    def __init__(self, movement, sfreq: float, seed: int):
        from scipy.spatial.transform import Rotation

        mv = movement
        tra = lambda f: mv.translation_asd * f ** (-mv.exponent)  # noqa: E731
        rot = lambda f: mv.translation_asd / mv.lever * f ** (-mv.exponent)  # noqa: E731
        self.series = SeriesSource(
            [tra] * 3 + [rot] * 3,
            [f"movement translation {c}" for c in "xyz"] + [f"movement rotation {c}"
                                                           for c in "xyz"],
            sfreq, seed, MOVEMENT_STREAM)

        def poses(start, stop):
            s = self.series.samples(start, stop)
            return Rotation.from_rotvec(s[3:].T).as_matrix(), s[:3].T

        super().__init__(poses, {
            "kind": "drawn from the movement spectrum", "translation_asd": mv.translation_asd,
            "exponent": mv.exponent, "lever": mv.lever, "stream": MOVEMENT_STREAM})


class _Points:
    """The integration points of an array's channels and how the room's terms reach them.

    Without movement every integration point counts (the couplings are computed once).
    Moving sensors are evaluated at each sample; there a channel whose points share one
    direction (a magnetometer) counts as one point, the weighted centroid with the
    total weight: exact for the parts of the room's field that are uniform or linear
    in position (remnant field and gradient, power line, thermal noise), and good to
    second order in (cell size / distance) for the distant dipoles (about 1e-5 of
    their field for a 3 mm cell and a source 1 m away).
    """

    def __init__(self, cp, signals: RoomSignals, moving: bool):
        self.n_channels = cp.n_channels
        self.signals = signals
        starts = np.searchsorted(cp.segments, np.arange(cp.n_channels))
        if not moving:
            per_point = np.einsum("pjc,pc->pj", signals.shapes(cp.points), cp.normals)
            self.coupling = np.add.reduceat(per_point * cp.weights[:, None], starts, axis=0)
            return
        pts, nrm, wts, seg = [], [], [], []
        for c in range(cp.n_channels):
            sel = cp.segments == c
            p, n, w = cp.points[sel], cp.normals[sel], cp.weights[sel]
            if np.allclose(n, n[0], rtol=0, atol=1e-12):
                pts.append((w @ p / w.sum())[None])
                nrm.append(n[:1])
                wts.append(np.array([w.sum()]))
                seg.append([c])
            else:
                pts.append(p)
                nrm.append(n)
                wts.append(w)
                seg.append([c] * len(w))
        self.points, self.normals = np.concatenate(pts), np.concatenate(nrm)
        self.weights = np.concatenate(wts)
        self.starts = np.searchsorted(np.concatenate(seg), np.arange(cp.n_channels))

    def readings(self, coef: np.ndarray, trajectory, start: int) -> np.ndarray:
        """(n_channels, n) for coefficients (n_terms, n) from sample ``start``."""
        if trajectory is None:
            return self.coupling @ coef
        n = coef.shape[1]
        out = np.empty((self.n_channels, n))
        step = max(1, _WORK // (len(self.points) * 3))
        for a in range(0, n, step):
            e = min(n, a + step)
            R, T = trajectory.poses(start + a, start + e)
            x = np.einsum("tij,pj->tpi", R, self.points) + T[:, None, :]
            nr = np.einsum("tij,pj->tpi", R, self.normals)
            per_point = self.signals.along(x, nr, coef[:, a:e]) * self.weights
            out[:, a:e] = np.add.reduceat(per_point, self.starts, axis=1).T
        return out


class RoomField:
    """The room's field at an array, sample range by sample range.

    The same interface as :class:`~qsense.simulation.field.SourceField`, whose numbers
    it adds to.

    Parameters
    ----------
    array : SensorArray
    signals : RoomSignals
        The environment's terms at the recording's sampling rate and seed.
    channels : array_like of int or None
        Channels whose ideal readings are wanted (default all).
    cells : bool
        Also prepare the cell fields of the Bloch-model OPM channels.
    trajectory : Trajectory or None
        The head's pose in the room; used for head-mounted arrays only (a fixed helmet
        stays put).
    """

    def __init__(self, array, signals: RoomSignals, *, channels=None, cells=False,
                 trajectory=None):
        self.signals = signals
        self.trajectory = trajectory if array.head_mounted else None
        self.channel_index = (np.arange(array.n_channels) if channels is None
                              else np.asarray(channels, dtype=int))
        moving = self.trajectory is not None
        self._channels = (_Points(array.pick(self.channel_index).coil_points(ACCURACY),
                                  signals, moving) if len(self.channel_index) else None)
        self.groups = bloch_groups(array) if cells else []
        self._cells = []
        for _, idx in self.groups:
            virtual, w, frames = cell_array(array.pick(idx))
            cp = virtual.coil_points(ACCURACY)
            if moving:  # one channel per (sensor, axis): its K points, weighted
                n_s, _, K = w.shape
                cp = CoilPoints(cp.points, cp.normals, w.ravel(), np.repeat(
                    np.arange(n_s * 3), K), n_s * 3)
                w = np.ones((n_s, 3, 1))
            self._cells.append((_Points(cp, signals, moving), w, frames))

    def channels(self, start: int, stop: int) -> np.ndarray:
        """Ideal readings of the chosen channels for samples [start, stop), (n_chosen, n);
        T (T/m for planar gradiometers)."""
        if self._channels is None:
            return np.zeros((0, stop - start))
        return self._channels.readings(self.signals.coefficients(start, stop),
                                       self.trajectory, start)

    def cells(self, start: int, stop: int) -> list:
        """Head-frame field in the cells of each Bloch group, list of (n_sensors, 3, n)."""
        out = []
        coef = self.signals.coefficients(start, stop) if self._cells else None
        for pts, w, frames in self._cells:
            n_s, _, K = w.shape
            r = pts.readings(coef, self.trajectory, start).reshape(n_s, 3, K, -1)
            pump = np.einsum("sakt,sak->sat", r, w)
            out.append(np.einsum("sab,sat->sbt", frames, pump))
        return out


def environment_record(environment: Environment | None) -> dict | None:
    """The environment's settings as a JSON-serialisable dict (None for a perfect room)."""
    if environment is None:
        return None
    env = environment
    room = env.room
    rec = {
        "room": room.name, "nulling": env.nulling, "temperature_K": env.temperature,
        "remnant_field_T": list(env.remnant()[0]),
        "remnant_gradient_T_per_m": np.asarray(env.remnant()[1]).ravel().tolist(),
        "shielding": {"s0": room.s0, "corners_Hz": list(room.corners),
                      "active_gain": room.active_gain,
                      "active_bandwidth_Hz": room.active_bandwidth},
        "shield_thermal_T_per_rtHz": room.thermal_noise(env.temperature) if room.layers
        else 0.0,
        "sources": [{"name": s.name, "position_m": list(s.position),
                     "direction": list(s.direction), "moment_asd_Am2_per_rtHz": s.moment_asd,
                     "exponent": s.exponent} for s in env.sources],
        "power_line": None if env.power_line is None else {
            "frequency_Hz": env.power_line.frequency,
            "harmonics": list(env.power_line.harmonics),
            "amplitudes_T_rms": list(env.power_line.amplitudes),
            "direction": list(env.power_line.direction)},
        "movement": None if env.movement is None else {
            "translation_asd_m_per_rtHz": env.movement.translation_asd,
            "exponent": env.movement.exponent, "lever_m": env.movement.lever},
        "streams": {"room": ROOM_STREAM, "movement": MOVEMENT_STREAM},
    }
    json.dumps(rec)  # JSON-serialisable
    return rec


POSE_RATE = 100.0
"""Rate (Hz) at which the truth file records a moving head's pose."""


def trajectory_truth(trajectory, n_times: int, sfreq: float) -> dict:
    """The head's pose in the room for the truth file, every ``sfreq / POSE_RATE``
    samples: ``{name: (dims, values, attrs)}`` for ``head_rotation`` and
    ``head_translation`` (pose_time, component), plus the ``pose_time`` coordinate.
    Computed block by block, so memory stays bounded."""
    from scipy.spatial.transform import Rotation

    step = max(1, int(round(sfreq / POSE_RATE)))
    samples = np.arange(0, n_times, step)
    rot, tra = np.empty((len(samples), 3)), np.empty((len(samples), 3))
    block = step * 4096
    for a in range(0, n_times, block):
        e = min(n_times, a + block)
        R, T = trajectory.poses(a, e)
        sel = (samples >= a) & (samples < e)
        idx = samples[sel] - a
        rot[sel] = Rotation.from_matrix(R[idx]).as_rotvec()
        tra[sel] = T[idx]
    dims = ("pose_time", "component")
    return {
        "pose_time": ("pose_time", samples / sfreq,
                      {"units": "s", "long_name": "time of the recorded pose"}),
        "head_rotation": (dims, rot, {"units": "rad", "long_name": "rotation vector of the "
                                      "head's pose in the room (room frame = head frame at "
                                      "the reference pose)"}),
        "head_translation": (dims, tra, {"units": "m", "long_name": "translation of the "
                                         "head's pose in the room"}),
    }
