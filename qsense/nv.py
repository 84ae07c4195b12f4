"""NV-diamond sensors as qsense objects: presets and SensorArray builders.

An NV ensemble magnetometer reads the field along one direction (one NV orientation,
or a projection chosen by the bias field and the readout); for leadfields, simulations,
noise budgets and inverses it is a point magnetometer (MNE coil type 2000) with its own
noise floor. A wide-field NV microscope is a grid of such pixels a small standoff from
the sample. The physics (Hamiltonian, ODMR, sensitivities) is in
:mod:`forward_models.nv`.

Presets are frozen dataclasses (override with :meth:`NVPreset.replace`). Every figure
names its source; figures for which no source was found are listed in ``assumptions``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from forward_models import nv as _nv

from .sensor_array import SensorArray

__all__ = ["NVPreset", "NV_PRESETS", "get_nv_preset", "nv_sensors", "nv_gradiometers",
           "nv_pixel_grid", "nv_on_scalp"]

POINT_MAGNETOMETER = 2000  # MNE coil type


@dataclass(frozen=True)
class NVPreset:
    """Figures of one NV-diamond sensor.

    Parameters
    ----------
    name : str
        Registry key.
    noise_floor : float
        Published (measured) white noise floor, T/sqrt(Hz): per sensor, or per pixel of
        ``pixel_pitch`` x ``pixel_pitch`` x ``layer_thickness`` for microscopes.
    bandwidth : float
        Measurement bandwidth, Hz.
    standoff : float
        Distance from the NV sensing volume to the skin / sample surface, m.
    contrast : float
        CW-ODMR contrast C (fraction).
    linewidth : float
        CW-ODMR full width at half maximum, Hz.
    photon_rate : float
        Detected photon rate R, 1/s (per pixel for microscopes).
    flux_gain : float
        Field amplification by flux concentrators (1 without).
    sensing_volume : float
        NV sensing volume, m^3 (per pixel for microscopes).
    pixel_pitch : float
        Pixel pitch of a microscope, m (0 for single sensors).
    layer_thickness : float
        NV layer thickness of a microscope, m (0 for single sensors).
    corner_frequency : float
        1/f corner, Hz.
    description, citation : str
        One line; sources of the figures.
    assumptions : tuple of str
        Figures without a found source (parameters; override them).
    """

    name: str
    noise_floor: float
    bandwidth: float
    standoff: float
    contrast: float
    linewidth: float
    photon_rate: float
    flux_gain: float = 1.0
    sensing_volume: float = 0.0
    pixel_pitch: float = 0.0
    layer_thickness: float = 0.0
    corner_frequency: float = 0.0
    description: str = ""
    citation: str = ""
    assumptions: tuple = ()
    kind: str = "nv"
    coil_type: int = POINT_MAGNETOMETER

    def __post_init__(self):
        for f in ("noise_floor", "bandwidth", "contrast", "linewidth", "photon_rate",
                  "flux_gain"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{f} must be a finite number > 0, got {v!r}")
        if self.contrast > 1:
            raise ValueError(f"contrast must be <= 1, got {self.contrast!r}")
        for f in ("standoff", "sensing_volume", "pixel_pitch", "layer_thickness",
                  "corner_frequency"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{f} must be a finite number >= 0, got {v!r}")
        if self.standoff > 0.1:
            raise ValueError(f"standoff must be in metres (< 0.1 m), got {self.standoff!r}")

    @property
    def head_mounted(self) -> bool:
        """NV sensors are worn on the head or body."""
        return True

    def default_array(self, head, n_sensors: int = 32):
        """``n_sensors`` NV magnetometers on the scalp (:func:`nv_on_scalp`).

        A wide-field microscope preset (``pixel_pitch > 0``) describes one pixel, not a
        sensor that can be worn: use :func:`nv_pixel_grid` for it.
        """
        if self.pixel_pitch > 0:
            raise ValueError(
                f"sensor={self.name!r} is a wide-field microscope preset (per "
                f"{self.pixel_pitch * 1e6:g} um pixel), not an on-head sensor; build its "
                "pixel grid with qsense.nv.nv_pixel_grid")
        return nv_on_scalp(head, n_sensors, sensor=self)

    def replace(self, **changes) -> NVPreset:
        """A copy with some figures changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def shot_noise_limit(self) -> float:
        """Photon-shot-noise-limited CW-ODMR sensitivity of these figures, T/sqrt(Hz).

        ``forward_models.nv.cw_sensitivity(linewidth, contrast, photon_rate) / flux_gain``
        (Barry et al. 2020, Rev. Mod. Phys. 92:015004). A measured ``noise_floor`` cannot
        be below it.
        """
        return float(_nv.cw_sensitivity(self.linewidth, self.contrast, self.photon_rate)
                     ) / self.flux_gain

    def pixel_noise(self, pixel_pitch: float | None = None) -> float:
        """Per-pixel noise floor for another pixel pitch (microscopes), T/sqrt(Hz).

        Shot-noise scaling with the pixel volume: noise ~ 1/sqrt(pitch**2 thickness)
        (volume-normalised sensitivity held fixed, Barry et al. 2020).
        """
        if self.pixel_pitch <= 0:
            return self.noise_floor
        p = self.pixel_pitch if pixel_pitch is None else pixel_pitch
        if not (math.isfinite(p) and p > 0):
            raise ValueError(f"pixel_pitch must be > 0 m, got {p!r}")
        return self.noise_floor * self.pixel_pitch / p


_BARRY2020 = ("Barry et al. 2020, Rev. Mod. Phys. 92:015004 (sensitivity formulas; "
              "ensemble contrast and linewidth ranges)")

NV_PRESETS = {
    p.name: p
    for p in (
        NVPreset(
            name="nv_bulk",
            description="bulk-diamond NV ensemble CW-ODMR magnetometer, no flux concentrator",
            noise_floor=15e-12,
            bandwidth=1000.0,
            standoff=1e-3,
            contrast=0.02,
            linewidth=0.8e6,
            photon_rate=1e16,
            sensing_volume=(0.5e-3) ** 2 * 0.1e-3,
            corner_frequency=10.0,
            citation=(
                "noise_floor: Barry et al. 2016, PNAS 113:14133 (about 15 pT/sqrt(Hz), bulk "
                "ensemble CW-ODMR); Fescenko et al. 2020, Phys. Rev. Research 2:023394 "
                "(low-frequency sensitivity of diamond magnetometers without "
                "concentrators is presently >~ 10 pT/sqrt(Hz)); " + _BARRY2020
            ),
            assumptions=(
                "contrast 2 %, linewidth 0.8 MHz, photon rate 1e16/s (about 3 mW of "
                "detected fluorescence): typical ensemble values, chosen within the "
                "ranges discussed by Barry et al. 2020",
                "bandwidth 1 kHz, standoff 1 mm, 1/f corner 10 Hz, sensing volume "
                "0.5 x 0.5 x 0.1 mm^3",
            ),
        ),
        NVPreset(
            name="nv_mcg",
            description="MCG-grade NV ensemble sensor with flux concentration (rat MCG)",
            noise_floor=9e-12,
            bandwidth=200.0,
            standoff=3e-3,
            contrast=0.02,
            linewidth=1.0e6,
            photon_rate=1e15,
            flux_gain=10.0,
            sensing_volume=(1e-3) ** 3,
            corner_frequency=5.0,
            citation=(
                "noise_floor 9 pT/sqrt(Hz), 5 mm sensor scale, flux concentration, about "
                "20 pT R-wave from a living rat: Yu et al. 2024, Phys. Rev. Applied "
                "'Noninvasive magnetocardiography of a living rat based on a diamond "
                "quantum sensor' (arXiv:2405.02376); " + _BARRY2020
            ),
            assumptions=(
                "contrast 2 %, linewidth 1 MHz, photon rate 1e15/s, flux gain 10, "
                "bandwidth 200 Hz, standoff 3 mm, 1/f corner 5 Hz, sensing volume 1 mm^3",
            ),
        ),
        NVPreset(
            name="nv_flux_concentrator",
            description="NV membrane between ferrite cones (best low-frequency NV figure)",
            noise_floor=0.9e-12,
            bandwidth=1000.0,
            standoff=5e-3,
            contrast=0.01,
            linewidth=1.5e6,
            photon_rate=1e15,
            flux_gain=250.0,
            sensing_volume=(0.2e-3) ** 2 * 0.05e-3,
            corner_frequency=10.0,
            citation=(
                "Fescenko et al. 2020, Phys. Rev. Research 2:023394 'Diamond magnetometer "
                "enhanced by ferrite flux concentrators': 0.9 pT/sqrt(Hz) over 10-1000 Hz, "
                "250-fold field enhancement, 200 mW laser, 20 mW microwaves"
            ),
            assumptions=(
                "contrast 1 %, linewidth 1.5 MHz, photon rate 1e15/s, standoff 5 mm "
                "(cone tip to skin), 1/f corner 10 Hz, sensing volume",
            ),
        ),
        NVPreset(
            name="nv_widefield",
            description="wide-field quantum diamond microscope, per 1 um pixel",
            noise_floor=43.9e-9,
            bandwidth=1000.0,
            standoff=1e-6,
            contrast=0.01,
            linewidth=1.0e6,
            photon_rate=1e10,
            sensing_volume=(1e-6) ** 3,
            pixel_pitch=1e-6,
            layer_thickness=1e-6,
            citation=(
                "Oh et al. 2023 (arXiv:2301.05853), lock-in wide-field QDM: mean "
                "volume-normalised per-pixel sensitivity 43.9 nT um^1.5/sqrt(Hz), i.e. "
                "43.9 nT/sqrt(Hz) for a 1 um^3 pixel; Levine et al. 2019, Nanophotonics "
                "8:1945 (QDM principles); " + _BARRY2020
            ),
            assumptions=(
                "pixel pitch 1 um, NV layer 1 um, standoff 1 um, bandwidth 1 kHz; "
                "contrast 1 %, linewidth 1 MHz, photon rate 1e10/s per pixel",
            ),
        ),
    )
}
"""NV presets by name."""


def get_nv_preset(name) -> NVPreset:
    """The :class:`NVPreset` called ``name`` (an NVPreset passes through)."""
    if isinstance(name, NVPreset):
        return name
    if name not in NV_PRESETS:
        raise ValueError(f"sensor={name!r} is not an NV preset; choose one of "
                         f"{sorted(NV_PRESETS)}")
    return NV_PRESETS[name]


# ------------------------------------------------------------------------- builders
def _frames(ez: np.ndarray) -> np.ndarray:
    ez = ez / np.linalg.norm(ez, axis=1, keepdims=True)
    ref = np.where(np.abs(ez[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    ex = ref - np.sum(ref * ez, axis=1, keepdims=True) * ez
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    return np.concatenate([ex, ey, ez], axis=1)


def _check_points(name, x):
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3) or (3,), got {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _check_axes(name, x, n):
    a = np.broadcast_to(_check_points(name, x), (n, 3)).copy()
    norms = np.linalg.norm(a, axis=1)
    if np.any(norms < 1e-12):
        raise ValueError(f"{name} must be non-zero vectors")
    return a / norms[:, None]


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
    pos = _check_points("positions", positions)
    n = len(pos)
    ez = _check_axes("orientations", orientations, n)
    names = tuple(names) if names is not None else tuple(f"NV{i + 1:03d}" for i in range(n))
    loc = np.concatenate([pos, _frames(ez)], axis=1)
    return SensorArray(names=names, coil_types=np.full(n, p.coil_type), loc=loc, kind="nv",
                       sensor=p.name, noise=np.full(n, p.noise_floor))


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
    if isinstance(n_sensors, bool) or not isinstance(n_sensors, int | np.integer):
        raise TypeError(f"n_sensors must be an int, got {n_sensors!r}")
    if not 1 <= n_sensors <= 1000:
        raise ValueError(f"n_sensors must be between 1 and 1000, got {n_sensors}")
    standoff = p.standoff if standoff is None else standoff
    if not (isinstance(standoff, int | float) and math.isfinite(standoff)
            and 0 <= standoff <= 0.1):
        raise ValueError(f"standoff must be a distance in [0, 0.1] m, got {standoff!r}")
    pos, normal = scalp_lattice(head, int(n_sensors), float(standoff))
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
    if not (isinstance(baseline, int | float) and math.isfinite(baseline) and baseline > 0):
        raise ValueError(f"baseline must be a finite distance > 0 m, got {baseline!r}")
    p = get_nv_preset(sensor)
    pos = _check_points("positions", positions)
    n = len(pos)
    ez = _check_axes("orientations", orientations, n)
    base = list(names) if names is not None else [f"NVG{i + 1:03d}" for i in range(n)]
    both = np.stack([pos, pos + baseline * ez], axis=1).reshape(2 * n, 3)
    fr = np.repeat(_frames(ez), 2, axis=0)
    chn = tuple(f"{b}{s}" for b in base for s in ("a", "b"))
    return SensorArray(names=chn, coil_types=np.full(2 * n, p.coil_type),
                       loc=np.concatenate([both, fr], axis=1),
                       sensor_index=np.repeat(np.arange(n), 2), kind="nv", sensor=p.name,
                       noise=np.full(2 * n, p.noise_floor))


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
        Number of pixels.
    pitch : float or None
        Pixel pitch, m (> 0; default the preset's).
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
    if not (isinstance(pitch, int | float) and math.isfinite(pitch) and pitch > 0):
        raise ValueError(f"pitch must be a finite pixel pitch > 0 m, got {pitch!r}")
    standoff = p.standoff if standoff is None else standoff
    if not (isinstance(standoff, int | float) and math.isfinite(standoff) and standoff >= 0):
        raise ValueError(f"standoff must be a finite distance >= 0 m, got {standoff!r}")
    try:
        ny, nx = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (ny, nx) positive integers, got {shape!r}") from None
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be (ny, nx) positive integers, got {shape!r}")
    c = _check_points("center", center)[0]
    nrm = _check_axes("normal", normal, 1)[0]
    ax = nrm if axis is None else _check_axes("axis", axis, 1)[0]
    fr = _frames(nrm[None])[0]
    ex, ey = fr[:3], fr[3:6]
    iy, ix = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2,
                         indexing="ij")
    pos = (c + standoff * nrm + pitch * (ix.reshape(-1, 1) * ex + iy.reshape(-1, 1) * ey))
    n = ny * nx
    names = tuple(f"PX{i:03d}_{j:03d}" for i in range(ny) for j in range(nx))
    loc = np.concatenate([pos, np.repeat(_frames(ax[None]), n, axis=0)], axis=1)
    return SensorArray(names=names, coil_types=np.full(n, p.coil_type), loc=loc, kind="nv",
                       sensor=p.name, noise=np.full(n, p.pixel_noise(pitch)))
