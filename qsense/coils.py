"""Coil geometry: integration points, weights and normals of MEG sensors.

The definitions come from MNE-Python's ``coil_def.dat`` (Hamalainen; format described
in the file's header), which holds every SQUID and OPM coil type at three accuracies:
0 point, 1 normal, 2 accurate. A channel's output is ``sum_k w_k B(r_k) . n_k`` over
its integration points; planar and axial gradiometers have negative weights.
"""

from __future__ import annotations

import functools
import numbers
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forward_models._checks import as_numeric

__all__ = ["CoilDef", "coil_definitions", "coil_definition", "CoilPoints", "ACCURACIES"]

ACCURACIES = {"point": 0, "normal": 1, "accurate": 2}


@dataclass(frozen=True)
class CoilDef:
    """One coil type at one accuracy, in the coil's own frame (metres).

    Attributes
    ----------
    coil_class : int
        1 magnetometer, 2 axial gradiometer, 3 planar gradiometer, 4 second-order axial.
    coil_type : int
        MNE FIFF coil type.
    accuracy : int
        0 point, 1 normal, 2 accurate.
    size, baseline : float
        Coil size and gradiometer baseline, m.
    description : str
    weights : ndarray, shape (n_points,)
    points : ndarray, shape (n_points, 3)
    normals : ndarray, shape (n_points, 3)
    """

    coil_class: int
    coil_type: int
    accuracy: int
    size: float
    baseline: float
    description: str
    weights: np.ndarray
    points: np.ndarray
    normals: np.ndarray

    @property
    def is_gradiometer(self) -> bool:
        return self.coil_class in (2, 3, 4)


def _coil_def_path() -> Path:
    import mne

    return Path(mne.__file__).parent / "data" / "coil_def.dat"


@functools.cache
def coil_definitions() -> dict[tuple[int, int], CoilDef]:
    """Parse MNE's ``coil_def.dat``: ``{(coil_type, accuracy): CoilDef}``."""
    lines = [
        ln for ln in _coil_def_path().read_text().splitlines() if ln.strip() and ln[0] != "#"
    ]
    defs: dict[tuple[int, int], CoilDef] = {}
    i = 0
    while i < len(lines):
        head = shlex.split(lines[i])
        cls, ctype, acc, npts = (int(v) for v in head[:4])
        size, baseline = float(head[4]), float(head[5])
        desc = head[6] if len(head) > 6 else ""
        rows = np.array([[float(v) for v in lines[i + 1 + k].split()] for k in range(npts)])
        normals = rows[:, 4:7]
        normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
        defs[(ctype, acc)] = CoilDef(
            cls, ctype, acc, size, baseline, desc, rows[:, 0], rows[:, 1:4], normals
        )
        i += 1 + npts
    return defs


def coil_definition(coil_type: int, accuracy: str | int = "normal") -> CoilDef:
    """The definition of one coil type at one accuracy.

    Raises
    ------
    ValueError
        For an unknown accuracy or a coil type that ``coil_def.dat`` does not define.
    """
    acc = _accuracy(accuracy)
    coil_type = _coil_type(coil_type)
    try:
        return coil_definitions()[(coil_type, acc)]
    except KeyError:
        known = sorted({k[0] for k in coil_definitions()})
        raise ValueError(
            f"coil_type={coil_type!r} has no definition at accuracy {accuracy!r} in MNE's "
            f"coil_def.dat; known coil types: {known}"
        ) from None


def _coil_type(value) -> int:
    """An MNE coil type as an int: an integer (numpy too) or a whole float (as FIF
    files may store it); not a bool, a str or 3012.5."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"coil_type must be an int (an MNE coil type), got {value!r}")
    if not float(value).is_integer():
        raise ValueError(f"coil_type must be a whole number (an MNE coil type), got "
                         f"{value!r}")
    return int(value)


def _accuracy(accuracy) -> int:
    if isinstance(accuracy, bool | np.bool_):
        raise ValueError(f"accuracy={accuracy!r} is not allowed; use one of "
                         f"{list(ACCURACIES)}")
    if isinstance(accuracy, str):
        if accuracy not in ACCURACIES:
            raise ValueError(
                f"accuracy={accuracy!r} is not allowed; use one of {list(ACCURACIES)}"
            )
        return ACCURACIES[accuracy]
    if accuracy in (0, 1, 2):
        return int(accuracy)
    raise ValueError(f"accuracy={accuracy!r} is not allowed; use one of {list(ACCURACIES)}")


@dataclass(frozen=True)
class CoilPoints:
    """All integration points of a set of channels, concatenated, in one frame.

    Attributes
    ----------
    points : ndarray, shape (n_points, 3)
        Positions, m.
    normals : ndarray, shape (n_points, 3)
        Unit normals.
    weights : ndarray, shape (n_points,)
        Integration weights.
    segments : ndarray of int, shape (n_points,)
        Channel index of each point, ascending.
    n_channels : int
    """

    points: np.ndarray
    normals: np.ndarray
    weights: np.ndarray
    segments: np.ndarray
    n_channels: int

    def padded(self):
        """Zero-padded per-channel arrays: points (n, P, 3), normals (n, P, 3), weights (n, P)."""
        counts = np.bincount(self.segments, minlength=self.n_channels)
        p = int(counts.max())
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(len(self.segments)) - starts[self.segments]
        pts = np.zeros((self.n_channels, p, 3))
        nrm = np.zeros((self.n_channels, p, 3))
        nrm[..., 2] = 1.0
        w = np.zeros((self.n_channels, p))
        pts[self.segments, slot] = self.points
        nrm[self.segments, slot] = self.normals
        w[self.segments, slot] = self.weights
        # park padding points at the channel's first point so no kernel meets r = 0
        pad = w == 0
        pts[pad] = np.broadcast_to(pts[:, :1], pts.shape)[pad]
        return pts, nrm, w


def _loc(loc) -> np.ndarray:
    a = as_numeric("loc", loc).astype(float)
    if a.ndim != 2 or a.shape[1] != 12:
        raise ValueError(f"loc must have shape (n, 12) (MNE channel loc), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("loc must be finite, got a non-finite entry")
    return a


def loc_to_rotation(loc: np.ndarray) -> np.ndarray:
    """Rotation matrices whose columns are a channel's ex, ey, ez: shape (n, 3, 3)."""
    return _loc(loc)[:, 3:12].reshape(-1, 3, 3).transpose(0, 2, 1)


def channel_coil_points(
    coil_types: np.ndarray, loc: np.ndarray, trans: np.ndarray, accuracy="normal"
) -> CoilPoints:
    """Integration points of channels, transformed by ``trans`` (4x4) from their frame.

    Parameters
    ----------
    coil_types : ndarray of int, shape (n,)
    loc : ndarray, shape (n, 12)
        MNE channel ``loc``: position then ex, ey, ez (the coil's frame).
    trans : ndarray, shape (4, 4)
        Transform applied after placing the coil (device -> head, usually).
    accuracy : {"point", "normal", "accurate"}
    """
    loc = _loc(loc)
    rot = loc_to_rotation(loc)
    coil_types = np.atleast_1d(as_numeric("coil_types", coil_types))
    if coil_types.shape != (len(loc),):
        raise ValueError(f"coil_types must have shape ({len(loc)},) (one per channel of "
                         f"loc), got {coil_types.shape}")
    trans = as_numeric("trans", trans).astype(float)
    if trans.shape != (4, 4) or not np.all(np.isfinite(trans)):
        raise ValueError(f"trans must be a finite (4, 4) transform, got shape {trans.shape}")
    pts, nrms, ws, segs = [], [], [], []
    for ci, (ct, r, pos) in enumerate(zip(coil_types.tolist(), rot, loc[:, :3], strict=True)):
        d = coil_definition(ct, accuracy)
        pts.append(d.points @ r.T + pos)
        nrms.append(d.normals @ r.T)
        ws.append(d.weights)
        segs.append(np.full(len(d.weights), ci))
    points = np.concatenate(pts) @ trans[:3, :3].T + trans[:3, 3]
    normals = np.concatenate(nrms) @ trans[:3, :3].T
    return CoilPoints(
        points, normals, np.concatenate(ws), np.concatenate(segs), len(coil_types)
    )
