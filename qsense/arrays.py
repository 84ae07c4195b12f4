"""Sensor-array builders: SQUID helmets, the Kernel Flux layout and on-scalp OPMs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ._checks import check_array, check_distance, check_int, check_points, validate_type
from .head import Head
from .sensor_array import SensorArray
from .sensors import OPMPreset, get_preset
from .surfaces import fit_sphere

__all__ = [
    "opm_on_scalp",
    "neuromag306",
    "ctf275",
    "kernel_flux",
    "helmet_placement",
    "scalp_lattice",
    "AXES",
    "DEFAULT_HELMET_GAP",
]

AXES = ("radial", "tangential", "dual", "triaxial")

DEFAULT_HELMET_GAP = 0.020
"""Closest coil-to-scalp distance of a SQUID helmet, m. "The necessary thermal
insulation keeps SQUIDs at least 2 cm away from the scalp in most commercial systems"
(Zetter, Iivanainen, Stenroos and Parkkonen 2018, "Requirements for coregistration
accuracy in on-scalp MEG", Brain Topography 31:931, doi 10.1007/s10548-018-0656-5);
an adult head resting against the helmet gets that minimum, the rest of the scalp is
further away (Hamalainen et al. 1993, Rev. Mod. Phys. 65:413: typically 2-4 cm). A
parameter of every helmet builder."""


def _check_head(head):
    validate_type(head, Head, "head", "qsense.Head")


def _check_coverage(coverage_deg) -> tuple[float, float]:
    """Two finite polar angles in (0, 180] degrees: (back and sides, face)."""
    c = check_array("coverage_deg", coverage_deg, unit="degrees")
    if c.shape != (2,):
        raise ValueError(f"coverage_deg must be two polar angles (back and sides, face) in "
                         f"degrees, got shape {c.shape}")
    if np.any(c <= 0) or np.any(c > 180):
        raise ValueError(f"coverage_deg must lie in (0, 180] degrees, got {c.tolist()}")
    return float(c[0]), float(c[1])


def _check_lattice(n_sensors, standoff, coverage_deg):
    """The checked arguments of an on-scalp lattice (see :func:`scalp_lattice`)."""
    n_sensors = check_int("n_sensors", n_sensors, low=1, high=1000)
    standoff = check_distance("standoff", standoff, high=0.1, what="an on-scalp sensor")
    return n_sensors, standoff, _check_coverage(coverage_deg)


def _check_gap(gap) -> float:
    return check_distance("gap", gap, low_open=True, high=0.1, what="a helmet gap")


def _opm_preset(sensor) -> OPMPreset:
    preset = get_preset(sensor)
    if not isinstance(preset, OPMPreset):
        raise ValueError(f"sensor={preset.name!r} is a {preset.kind} preset; an OPM preset is "
                         "needed")
    return preset


def _frames_from_ez(ez: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Orthonormal (ex, ey, ez) frames with the given ez; ex lies along the tangential
    direction towards ``up`` (the polar direction), ey = ez x ex."""
    ez = ez / np.linalg.norm(ez, axis=1, keepdims=True)
    up = np.broadcast_to(np.asarray(up, float), ez.shape)
    ex = up - np.sum(up * ez, axis=1, keepdims=True) * ez
    bad = np.linalg.norm(ex, axis=1) < 1e-6
    ex[bad] = np.cross(ez[bad], [1.0, 0.0, 0.0])
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    return np.stack([ex, ey, ez], axis=1)


def _loc(pos: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return np.concatenate([pos, frames.reshape(len(pos), 9)], axis=1)


def _fibonacci_directions(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    rho = np.sqrt(1 - z * z)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])


def _cap_margin(d: np.ndarray, max_polar_back: float, max_polar_front: float) -> np.ndarray:
    # polar angle from +z over its limit (<= 1 inside the cap); the limit falls from the
    # back/sides to the face linearly in the forward part of the horizontal direction
    polar = np.degrees(np.arccos(np.clip(d[:, 2], -1, 1)))
    horiz = d[:, :2] / np.maximum(np.linalg.norm(d[:, :2], axis=1, keepdims=True), 1e-12)
    fwd = np.clip(horiz[:, 1], 0, 1)
    return polar / (max_polar_back - (max_polar_back - max_polar_front) * fwd)


def _cap_directions(n: int, max_polar_back: float, max_polar_front: float) -> np.ndarray:
    """Exactly n nearly uniform directions on the upper-head cap (Fibonacci lattice).

    The lattice size is the smallest whose cap holds at least n points; any surplus
    (one or two points) is dropped from the cap's edge.
    """
    frac = np.mean(_cap_margin(_fibonacci_directions(20000), max_polar_back,
                               max_polar_front) <= 1)
    m = max(int(0.9 * n / frac), n)
    while True:
        d = _fibonacci_directions(m)
        margin = _cap_margin(d, max_polar_back, max_polar_front)
        inside = np.flatnonzero(margin <= 1)
        if len(inside) >= n:
            keep = inside[np.argsort(margin[inside], kind="stable")[:n]]
            return d[np.sort(keep)]
        m += 1


def opm_on_scalp(
    head: Head,
    n_sensors: int = 64,
    axes: str = "radial",
    standoff: float | None = None,
    sensor: str = "quspin_gen2",
    *,
    coverage_deg: tuple[float, float] = (100.0, 65.0),
) -> SensorArray:
    """OPMs spread evenly over the upper scalp.

    Directions from the centre of the conductor sphere are laid on a Fibonacci lattice
    restricted to the upper head (polar angle from vertical up to ``coverage_deg[0]``
    at the back and sides and ``coverage_deg[1]`` at the face); each is cast onto the
    scalp, and the sensitive volume is put ``standoff`` outside it along the scalp
    normal. With 64 sensors on fsaverage the mean spacing is about 35 mm, like SPM's
    on-scalp generator (35 mm spacing, 6.5 mm offset; Tierney et al. 2019).

    Parameters
    ----------
    head : Head
    n_sensors : int
        Number of sensors (1-1000).
    axes : {"radial", "tangential", "dual", "triaxial"}
        Measured field components: along the scalp normal; one tangential
        (polar direction, towards the vertex); radial + tangential; radial + both
        tangential directions. Dual/triaxial sensors give 2/3 channels each.
    standoff : float, optional
        Scalp to cell-centre distance, m (default: the preset's, 6.5 mm for QuSpin).
    sensor : str
        OPM preset name (:mod:`qsense.sensors`); sets the coil type and noise.
    coverage_deg : (float, float)
        Maximum polar angles (degrees) at the back/sides and at the face.

    Returns
    -------
    SensorArray
        In the head frame (``dev_head_t`` is the identity). Channel names are
        ``OPM001`` (single axis) or ``OPM001_R``, ``OPM001_T``, ``OPM001_T2``.
    """
    _check_head(head)
    preset = _opm_preset(sensor)
    if axes not in AXES:
        raise ValueError(f"axes={axes!r} is not allowed; use one of {AXES}")
    if axes not in preset.axes:
        raise ValueError(
            f"axes={axes!r} is not supported by sensor={sensor!r}; it supports {preset.axes}"
        )
    n_sensors, standoff, coverage_deg = _check_lattice(
        n_sensors, preset.standoff if standoff is None else standoff, coverage_deg)
    pos, normal = scalp_lattice(head, n_sensors, standoff, coverage_deg=coverage_deg)
    frames = _frames_from_ez(normal)  # ex: polar tangential, ey: azimuthal
    ex, ey, ez = frames[:, 0], frames[:, 1], frames[:, 2]
    per_sensor = {
        "radial": [("", ez, ex, ey)],
        "tangential": [("", ex, ey, ez)],
        "dual": [("_R", ez, ex, ey), ("_T", ex, ey, ez)],
        "triaxial": [("_R", ez, ex, ey), ("_T", ex, ey, ez), ("_T2", ey, ez, ex)],
    }[axes]
    names, locs, index = [], [], []
    for i in range(n_sensors):
        for suffix, z_ax, x_ax, y_ax in per_sensor:
            names.append(f"OPM{i + 1:03d}{suffix}")
            fr = np.stack([x_ax[i], y_ax[i], z_ax[i]])
            locs.append(np.concatenate([pos[i], fr.ravel()]))
            index.append(i)
    coil_types = np.full(len(names), preset.coil_type)
    return SensorArray(
        names=tuple(names),
        coil_types=coil_types,
        loc=np.array(locs),
        dev_head_t=np.eye(4),
        sensor_index=np.array(index),
        sensor=preset,
    )


def scalp_lattice(head: Head, n_sensors: int, standoff: float, *,
                  coverage_deg: tuple[float, float] = (100.0, 65.0)):
    """Evenly spread points ``standoff`` outside the upper scalp, and the scalp normals.

    The lattice of :func:`opm_on_scalp` (Fibonacci directions from the conductor
    sphere's centre, cast onto the scalp), for builders of other on-scalp sensors.

    Returns
    -------
    positions : ndarray, shape (n_sensors, 3)
        Head frame, m.
    normals : ndarray, shape (n_sensors, 3)
        Outward scalp normals (unit vectors).
    """
    _check_head(head)
    n_sensors, standoff, coverage_deg = _check_lattice(n_sensors, standoff, coverage_deg)
    return _on_scalp(head, _cap_directions(n_sensors, *coverage_deg), standoff)


def _on_scalp(head: Head, dirs: np.ndarray, standoff: float):
    """Cast directions from the sphere origin onto the scalp; put the sensitive volume
    ``standoff`` outside along the (smoothed) scalp normal. Returns (positions, normals)."""
    foot = head.scalp.ray_cast(head.sphere_origin, dirs)
    normal = head.scalp.normals_at(foot)
    return foot + standoff * normal, normal


# ------------------------------------------------------------------ helmets
def helmet_placement(head: Head, device_positions: np.ndarray, gap: float) -> np.ndarray:
    """Device->head transform that seats a rigid helmet on ``head``.

    The helmet keeps the device axes (no rotation), is centred left-right on the
    head's sphere origin, is placed front-back where the mean coil-scalp distance is
    smallest, and is raised until the closest coil is ``gap`` from the scalp (the
    head resting against the helmet).

    Parameters
    ----------
    head : Head
    device_positions : ndarray, shape (n, 3)
        Coil centres in the device frame, m.
    gap : float
        Closest coil-to-scalp distance, m.

    Returns
    -------
    dev_head_t : ndarray, shape (4, 4)
    """
    _check_head(head)
    gap = _check_gap(gap)
    p = check_points("device_positions",
                     check_array("device_positions", device_positions, unit="m"))
    # a first guess: helmet centroid over the sphere origin
    c_dev = p.mean(axis=0)

    def place(ty, tz):
        return p + np.array([head.sphere_origin[0] - c_dev[0], ty, tz])

    def min_gap(ty, tz):
        return head.scalp_distance(place(ty, tz)).min() - gap

    def tz_for(ty):
        # raise/lower the helmet (head moves the other way) until min gap == gap
        z0 = head.sphere_origin[2] - c_dev[2]
        lo, hi = z0 - 0.15, z0 + 0.15
        if min_gap(ty, hi) < 0:
            raise ValueError(
                f"this helmet does not fit head {head.name!r}: no placement keeps every coil "
                f"{gap * 1e3:g} mm outside the scalp; pass dev_head_t explicitly or a "
                "smaller head"
            )
        if min_gap(ty, lo) > 0:
            return lo
        return brentq(lambda tz: min_gap(ty, tz), lo, hi, xtol=1e-6)

    def mean_gap(ty):
        return head.scalp_distance(place(ty, tz_for(ty))).mean()

    y0 = head.sphere_origin[1] - c_dev[1]
    res = minimize_scalar(mean_gap, bounds=(y0 - 0.04, y0 + 0.04), method="bounded",
                          options={"xatol": 2e-4})
    ty = float(res.x)
    tz = float(tz_for(ty))
    t = np.eye(4)
    t[:3, 3] = [head.sphere_origin[0] - c_dev[0], ty, tz]
    return t


@functools.cache
def _canonical(system: str):
    import mne

    info = mne.channels.read_meg_canonical_info(system, verbose=False)
    arr = SensorArray.from_info(info, sensor="neuromag306" if system == "neuromag" else system)
    # channels at one location (a Neuromag triplet) belong to one sensor
    _, index = np.unique(np.round(arr.loc[:, :3], 3), axis=0, return_inverse=True)
    return arr.replace(sensor_index=index.ravel())


_placement_cache: dict = {}


def _seat(head: Head, array: SensorArray, gap: float) -> SensorArray:
    key = (id(head), array.sensor, float(gap))
    if key not in _placement_cache or _placement_cache[key][0] is not head:
        t = helmet_placement(head, array.loc[:, :3], gap)
        _placement_cache[key] = (head, t)
    return array.replace(dev_head_t=_placement_cache[key][1])


def neuromag306(head: Head, *, gap: float = DEFAULT_HELMET_GAP, dev_head_t=None) -> SensorArray:
    """MEGIN (Elekta Neuromag) Vectorview/TRIUX: 102 magnetometers + 204 planar
    gradiometers, from MNE's canonical sensor definitions.

    Parameters
    ----------
    head : Head
    gap : float
        Closest coil-scalp distance used to seat the helmet, m (see
        :data:`DEFAULT_HELMET_GAP`); ignored when ``dev_head_t`` is given.
    dev_head_t : ndarray, shape (4, 4), optional
        An explicit device->head transform.
    """
    _check_head(head)
    arr = _canonical("neuromag")
    if dev_head_t is not None:
        return arr.replace(dev_head_t=dev_head_t)
    return _seat(head, arr, _check_gap(gap))


def ctf275(head: Head, *, gap: float = DEFAULT_HELMET_GAP, dev_head_t=None) -> SensorArray:
    """CTF 275-channel system: first-order axial gradiometers (50 mm baseline), from MNE's
    canonical sensor definitions (274 channels: the canonical layout omits one dead
    channel). Parameters as :func:`neuromag306`."""
    _check_head(head)
    arr = _canonical("ctf275")
    if dev_head_t is not None:
        return arr.replace(dev_head_t=dev_head_t)
    return _seat(head, arr, _check_gap(gap))


def kernel_flux(head: Head, *, sensor: str = "kernel_flux",
                standoff: float | None = None) -> SensorArray:
    """Kernel Flux OPM layout: the module positions shipped with MNE
    (``mne/data/helmets/Kernel_Flux_ch_pos.txt``, 40 modules).

    The shipped positions lie on a sphere of radius 92 mm about the device origin; the
    Flux helmet comes in sizes, so qsense keeps the layout's directions (from the
    centre of that sphere) and seats each module on ``head``'s scalp along them, its
    sensitive volume ``standoff`` outside the scalp and its axis along the scalp
    normal. The array is in the head frame.

    Parameters
    ----------
    head : Head
    sensor : str
        OPM preset (default ``"kernel_flux"``).
    standoff : float, optional
        Scalp to sensitive-volume distance, m (default: the preset's).
    """
    import mne

    _check_head(head)
    preset = _opm_preset(sensor)
    standoff = check_distance("standoff", preset.standoff if standoff is None else standoff,
                              high=0.1, what="an on-scalp sensor")
    path = Path(mne.__file__).parent / "data" / "helmets" / "Kernel_Flux_ch_pos.txt"
    pos_dict = json.loads(path.read_text())
    names = tuple(pos_dict)
    layout = np.array([pos_dict[n] for n in names], dtype=float)
    centre, _ = fit_sphere(layout)
    dirs = (layout - centre) / np.linalg.norm(layout - centre, axis=1, keepdims=True)
    pos, normal = _on_scalp(head, dirs, standoff)
    return SensorArray(
        names=names,
        coil_types=np.full(len(names), preset.coil_type),
        loc=_loc(pos, _frames_from_ez(normal)),
        sensor=preset,
    )
