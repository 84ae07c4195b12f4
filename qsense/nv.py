"""NV-diamond sensors as qsense arrays: single sensors, gradiometers, pixel grids.

An NV ensemble magnetometer reads the field along one direction (one NV orientation,
or a projection chosen by the bias field and the readout); for leadfields, simulations,
noise budgets and inverses it is a point magnetometer (MNE coil type 2000) with its own
noise floor. A wide-field NV microscope is a grid of such pixels a small standoff from
the sample. The physics (Hamiltonian, ODMR, sensitivities) is in
:mod:`forward_models.nv`.

The presets (:class:`NVPreset`, with their cited figures) live in
:mod:`qsense.sensors.nv` and are found, like every sensor, by
:func:`qsense.sensors.get_preset`.
"""

from __future__ import annotations

import numbers

import numpy as np

from forward_models._checks import as_numeric

from ._checks import check_directions, check_distance, check_int, check_number, check_points
from .sensor_array import SensorArray
from .sensors.nv import NV_PRESETS, NVPreset, get_nv_preset

__all__ = ["NVPreset", "NV_PRESETS", "get_nv_preset", "nv_sensors", "nv_gradiometers",
           "nv_pixel_grid", "nv_on_scalp", "flux_concentrator_points"]


# ------------------------------------------------------------------------- builders
def _frames(ez: np.ndarray) -> np.ndarray:
    ez = ez / np.linalg.norm(ez, axis=1, keepdims=True)
    ref = np.where(np.abs(ez[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    ex = ref - np.sum(ref * ez, axis=1, keepdims=True) * ez
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    return np.concatenate([ex, ey, ez], axis=1)


def _names(names, n, default):
    """``n`` channel names: ``names`` (a sequence of n str) or the default ones."""
    if names is None:
        return default
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise TypeError(f"names must be a sequence of {n} str, got {names!r}")
    names = tuple(names)
    if len(names) != n or not all(isinstance(x, str) for x in names):
        raise ValueError(f"names must be {n} str (one per position), got {names!r}")
    return names


def _positions_and_axes(positions, orientations):
    """Checked positions (n, 3), m, and unit axes (n, 3) (one (3,) axis is broadcast)."""
    pos = check_points("positions", as_numeric("positions", positions))
    ez = check_directions("orientations", as_numeric("orientations", orientations), len(pos))
    return pos, ez


def nv_sensors(positions, orientations, sensor="nv_bulk", names=None) -> SensorArray:
    """Single NV ensemble sensors as a :class:`qsense.SensorArray` (point magnetometers).

    Parameters
    ----------
    positions : array (n, 3) or (3,)
        Sensing-volume centres in the head/body frame, m.
    orientations : array (n, 3) or (3,)
        Sensitive axes (normalised internally), e.g. the surface normal.
    sensor : str or NVPreset
        Preset (see :data:`NV_PRESETS`); sets the noise floor.
    names : sequence of str or None
        Channel names (default "NV001", ...).

    Returns
    -------
    SensorArray with kind "nv", coil type 2000, noise = preset noise floor.
    """
    p = get_nv_preset(sensor)
    pos, ez = _positions_and_axes(positions, orientations)
    n = len(pos)
    names = _names(names, n, tuple(f"NV{i + 1:03d}" for i in range(n)))
    loc = np.concatenate([pos, _frames(ez)], axis=1)
    return SensorArray(names=names, coil_types=np.full(n, p.coil_type), loc=loc, sensor=p,
                       noise=np.full(n, p.noise_floor))


def nv_on_scalp(head, n_sensors: int = 64, sensor="nv_flux_concentrator",
                standoff: float | None = None) -> SensorArray:
    """NV magnetometers on the on-scalp OPM lattice, reading the radial field.

    The positions are those of :func:`qsense.arrays.opm_on_scalp` (an even Fibonacci
    lattice over the upper scalp), each ``standoff`` outside the scalp along its normal.

    Parameters
    ----------
    head : qsense.Head
    n_sensors : int
        Number of sensors (1-1000).
    sensor : str or NVPreset
        NV preset; sets the noise floor and the default standoff.
    standoff : float, optional
        Scalp to sensing-volume distance, m (default: the preset's).

    Returns
    -------
    SensorArray with kind "nv", coil type 2000, names "NV001", ...
    """
    from .arrays import scalp_lattice

    p = get_nv_preset(sensor)
    n_sensors = check_int("n_sensors", n_sensors, low=1, high=1000)
    standoff = check_distance("standoff", p.standoff if standoff is None else standoff,
                              high=0.1, what="an on-scalp sensor")
    pos, normal = scalp_lattice(head, n_sensors, standoff)
    return nv_sensors(pos, normal, sensor=p)


def nv_gradiometers(positions, orientations, baseline=0.02, sensor="nv_bulk",
                    names=None) -> SensorArray:
    """NV gradiometer pairs: two ensemble sensors a ``baseline`` apart along the axis.

    Each physical gradiometer is two point-magnetometer channels (near: at ``positions``;
    far: ``baseline`` further out along ``orientations``) sharing one ``sensor_index``;
    the gradiometer output is their difference (near - far), formed after simulation.
    Uncorrelated sensor noise adds in quadrature (sqrt(2) x noise_floor for the
    difference).

    Parameters
    ----------
    positions, orientations : array (n, 3) or (3,)
        Near-sensor positions (m) and the common axis (outward).
    baseline : float
        Separation, m (> 0).
    sensor : str or NVPreset
        Preset of each sensor.
    names : sequence of str or None
        Base names; channels are "<name>a" (near) and "<name>b" (far).

    Returns
    -------
    SensorArray with 2 n channels (near, far interleaved), kind "nv".
    """
    baseline = check_distance("baseline", baseline, low_open=True, high=1.0)
    p = get_nv_preset(sensor)
    pos, ez = _positions_and_axes(positions, orientations)
    n = len(pos)
    base = _names(names, n, tuple(f"NVG{i + 1:03d}" for i in range(n)))
    both = np.stack([pos, pos + baseline * ez], axis=1).reshape(2 * n, 3)
    fr = np.repeat(_frames(ez), 2, axis=0)
    chn = tuple(f"{b}{s}" for b in base for s in ("a", "b"))
    return SensorArray(names=chn, coil_types=np.full(2 * n, p.coil_type),
                       loc=np.concatenate([both, fr], axis=1),
                       sensor_index=np.repeat(np.arange(n), 2), sensor=p,
                       noise=np.full(2 * n, p.noise_floor))


def _grid_shape(shape) -> tuple[int, int]:
    """(ny, nx) as ints >= 1; floats (even 16.0), bools and strs are refused."""
    if isinstance(shape, str) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise ValueError(f"shape must be (ny, nx), two positive integers, got {shape!r}")
    for s in shape:
        if isinstance(s, bool | np.bool_) or not isinstance(s, numbers.Integral):
            raise ValueError(f"shape must be (ny, nx), two positive integers (ints; floats "
                             f"such as 16.0 are refused), got {shape!r}")
    return tuple(check_int("shape", s, low=1, high=4096) for s in shape)


def nv_pixel_grid(center, normal, shape=(16, 16), pitch=None, standoff=None,
                  sensor="nv_widefield", axis=None) -> SensorArray:
    """A wide-field NV microscope image as a grid of point-magnetometer pixels.

    The pixel plane is perpendicular to ``normal`` at ``center + standoff * normal``
    (``center``: a point on the sample / skin surface, ``normal``: pointing away from
    the sample). Pixel noise follows the preset's volume scaling
    (:meth:`NVPreset.pixel_noise`).

    Parameters
    ----------
    center : array (3,)
        Surface point under the image centre, m.
    normal : array (3,)
        Outward surface normal.
    shape : (ny, nx)
        Number of pixels: two ints >= 1 (numpy integers too). Floats are refused, even
        whole ones such as 16.0 (a pixel count that arrived as a float usually came from
        a computation that went wrong).
    pitch : float or None
        Pixel pitch, m (> 0 and <= 0.1; default the preset's); any real number,
        numpy scalars included.
    standoff : float or None
        Sample-to-NV-layer distance, m (>= 0; default the preset's).
    sensor : str or NVPreset
        Preset.
    axis : array (3,) or None
        Sensitive axis of every pixel (default ``normal``); e.g. one NV orientation in
        the lab frame.

    Returns
    -------
    SensorArray with ny * nx channels, row-major ("PX000_000", ...), kind "nv".
    """
    p = get_nv_preset(sensor)
    pitch = p.pixel_pitch if pitch is None else pitch
    pitch = check_number("pitch", pitch, unit="m")  # TypeError for a str, a bool, None
    if not pitch > 0:
        raise ValueError(f"pitch must be a finite pixel pitch > 0 m, got {pitch!r}")
    pitch = check_distance("pitch", pitch, high=0.1, what="a pixel pitch")
    standoff = check_distance("standoff", p.standoff if standoff is None else standoff,
                              high=0.1)
    ny, nx = _grid_shape(shape)
    c = check_points("center", as_numeric("center", center), n=1)[0]
    nrm = check_directions("normal", as_numeric("normal", normal), 1)[0]
    ax = nrm if axis is None else check_directions("axis", as_numeric("axis", axis), 1)[0]
    fr = _frames(nrm[None])[0]
    ex, ey = fr[:3], fr[3:6]
    iy, ix = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2,
                         indexing="ij")
    pos = (c + standoff * nrm + pitch * (ix.reshape(-1, 1) * ex + iy.reshape(-1, 1) * ey))
    n = ny * nx
    names = tuple(f"PX{i:03d}_{j:03d}" for i in range(ny) for j in range(nx))
    loc = np.concatenate([pos, np.repeat(_frames(ax[None]), n, axis=0)], axis=1)
    return SensorArray(names=names, coil_types=np.full(n, p.coil_type), loc=loc, sensor=p,
                       noise=np.full(n, p.pixel_noise(pitch)))


# ------------------------------------------------------------- flux concentrators
_DISC = (np.concatenate([[0.0], np.full(6, np.sqrt(2.0 / 3.0))]),  # radius / disc radius
         np.concatenate([[0.0], np.arange(6) * np.pi / 3.0]),       # angle
         np.concatenate([[0.25], np.full(6, 0.125)]))                # weight
# the 7-point disc rule exact for polynomials of degree 3 (Stroud 1971, Approximate
# Calculation of Multiple Integrals, rule S2:3-1)


def flux_concentrator_points(positions, axes, *, cone_height: float, base_diameter: float,
                             gap: float, n_axial: int = 4, n_line: int = 4):
    """Integration points of an NV sensor between two flux-concentrating cones.

    The sensor of Fescenko et al. 2020 (Phys. Rev. Research 2:023394): an NV-doped
    diamond membrane in the gap between the tips of two coaxial ferrite cones (a
    bowtie), the cones' axis along the sensitive axis. Model (high-permeability limit,
    an assumption): each cone is an equipotential of the magnetic scalar potential
    ``psi`` (``B = -mu0 grad psi`` outside the head, where no currents flow) at the
    potential of the applied field averaged over its volume, so the field in the gap is
    proportional to ``psi_near - psi_far``. Pairing each point ``p`` of the near cone
    with its mirror image ``p'`` in the far cone, ``psi(p) - psi(p') = integral of
    B . a / mu0 along the segment p -> p'``, so the reading is a weighted mean of the
    applied axial field over the segments that join the cones: the integration points
    are Gauss-Legendre nodes along those segments (``n_line``), for Gauss-Legendre
    layers (``n_axial``) and a 7-point disc rule across the near cone. The weights are
    normalised to read a uniform field exactly: the published enhancement (250) and
    noise floor are for uniform fields and refer the noise to the applied field, so the
    gain does not appear here.

    Parameters
    ----------
    positions : array_like, shape (n, 3) or (3,)
        Centres of the gaps (the NV membranes), head frame, m.
    axes : array_like, shape (n, 3) or (3,)
        Sensitive axes, pointing away from the head (normalised here).
    cone_height, base_diameter, gap : float
        Each cone's height and base diameter, and the gap between the tips, m.
    n_axial, n_line : int
        Gauss-Legendre nodes across each cone's height and along each segment (1-16).

    Returns
    -------
    points : ndarray, shape (n, P, 3)
        m, with ``P = 7 n_axial n_line``.
    normals : ndarray, shape (n, P, 3)
        The sensitive axis at every point.
    weights : ndarray, shape (n, P)
        Sum to 1 for every sensor.
    """
    pos, ez = _positions_and_axes(positions, axes)
    h = check_distance("cone_height", cone_height, low_open=True, high=0.1)
    d = check_distance("base_diameter", base_diameter, low_open=True, high=0.1)
    g = check_distance("gap", gap, low_open=True, high=0.1)
    n_axial = check_int("n_axial", n_axial, low=1, high=16)
    n_line = check_int("n_line", n_line, low=1, high=16)
    # near cone: base plane at distance g/2 + h below the gap centre, s from the base
    xs, ws = np.polynomial.legendre.leggauss(n_axial)
    s = 0.5 * h * (xs + 1.0)
    area = (1.0 - s / h) ** 2  # cross-section over the base's
    w_s = ws * area
    w_s = w_s / w_s.sum()
    radius = 0.5 * d * (1.0 - s / h)
    rho_f, phi, w_d = _DISC
    half = 0.5 * g + h - s  # distance of the layer below the gap centre, (n_axial,)
    xl, wl = np.polynomial.legendre.leggauss(n_line)
    t = 0.5 * (xl + 1.0)  # position along the segment, 0 (near) to 1 (far mirror)
    wl = 0.5 * wl
    # per (layer, disc point, line node): axial offset and transverse offset
    along = -half[:, None, None] + 2.0 * half[:, None, None] * t[None, None, :]
    trans = radius[:, None] * rho_f[None, :]  # (n_axial, 7)
    length = 2.0 * half
    weight = (w_s[:, None, None] * w_d[None, :, None] * wl[None, None, :]
              * length[:, None, None])
    weight = weight / weight.sum()  # = dividing by the centroid distance (exact)
    fr = _frames(ez)
    ex, ey = fr[:, 0:3], fr[:, 3:6]
    a = np.broadcast_to(along[:, :, :, None], (n_axial, 7, n_line, 1)).reshape(-1)
    r = np.broadcast_to(trans[:, :, None], (n_axial, 7, n_line)).reshape(-1)
    ph = np.broadcast_to(phi[None, :, None], (n_axial, 7, n_line)).reshape(-1)
    pts = (pos[:, None, :] + a[None, :, None] * ez[:, None, :]
           + (r * np.cos(ph))[None, :, None] * ex[:, None, :]
           + (r * np.sin(ph))[None, :, None] * ey[:, None, :])
    nrm = np.broadcast_to(ez[:, None, :], pts.shape).copy()
    w = np.broadcast_to(weight.reshape(-1)[None], pts.shape[:2]).copy()
    return pts, nrm, w
