"""Measurement environment: shielded rooms, interference, movement.

Room presets are calibrated against published measurements (see References).
The passive shielding of a room is modelled as ``S(f) = S0 prod_i |1 + j f / f_i|``:
each corner f_i is the eddy-current time constant of a conducting layer,
``|1 + j omega mu0 sigma R t / 3|`` (forward_models.shielding.eddy_current_factor),
with an effective sigma*t that absorbs the coupling of the conducting and permeable
layers.  Active compensation multiplies by ``|1 + G0 / (1 + j f / f_c)|``.

Calibration table (model vs published, axis-averaged shielding factors)::

    room                 quantity                      published   model   source
    ak3b                 passive S at 0.02 Hz            35          35.6  Vacuumschmelze Ak3b
    ak3b                 passive S at 0.1 Hz             71          67.1    (Kelha et al. 1982)
    ak3b                 passive S at 1 Hz              561         584
    ak3b                 passive S at 100 Hz            5e5         5.0e5
    ak3b                 active/passive at 1 Hz          ~10         10.0
    bmsr2                passive S at 0.01 Hz         75000       75000   Bork et al. 2001
    bmsr2                active S at 0.01 Hz            1e7         9.97e6  (PTB BMSR-2)
    bmsr2                remnant field                < 300 pT    250 pT
    opm_two_layer        remnant field                 < 2 nT      1 nT    Rea et al. 2021
    opm_two_layer        nulling at 0.01 Hz            40 dB       40 dB   Holmes et al. 2019

Figures without a source (interferer moments, distances, power-line amplitudes,
movement spectra, remnant gradients) are labelled "assumption" and are parameters.

References
----------
Bork J, Hahlbohm H-D, Klein R, Schnabel A (2001). The 8-layered magnetically shielded
room of the PTB: design and construction. Proc. 12th Int. Conf. on Biomagnetism
(Biomag 2000), 970-973.

Holmes N et al. (2019). Balanced, bi-planar magnetic field and field gradient coils for
field compensation in wearable magnetoencephalography. Sci. Rep. 9:14196.

Jackson JD (1999). Classical Electrodynamics, 3rd ed., eq. 5.56 (magnetic dipole field).

Kelha VO, Pukki JM, Peltonen RS, Penttinen AJ, Ilmoniemi RJ, Heino JJ (1982). Design,
construction, and performance of a large-volume magnetic shield. IEEE Trans. Magn.
18(1):260-270 (the Vacuumschmelze Ak3b room type).

Rea M et al. (2021). Precision magnetic field modelling and control for wearable
magnetoencephalography. NeuroImage 241:118401.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forward_models import conductors, opm, shielding
from forward_models._checks import as_numeric, check_flag

from ._checks import check_int, check_number, check_option
from .sensors.base import check_text as _text
from .sensors.base import replace_figures
from .sensors.base import set_figures as _set

__all__ = [
    "Room",
    "DipoleSource",
    "PowerLine",
    "Movement",
    "Environment",
    "ROOMS",
    "get_room",
    "room_names",
    "dipole_field",
    "channel_field",
    "movement_artefact",
    "movement_artefact_linear",
    "rotation_matrix",
    "squid_movement_leadfield_change",
]


def _finite(name, value, *, positive=False, allow_zero=True, shape=None, high=None,
            unit=""):
    """``value`` as a float array, checked real (TypeError for a str, None, a bool),
    finite (and non-negative / positive, of ``shape``, and ``|value| <= high``); a
    leading ``...`` in ``shape`` allows any leading axes."""
    arr = as_numeric(name, value).astype(float)
    if shape is not None and not _shape_matches(arr.shape, shape):
        want = "(..., " + ", ".join(map(str, shape[1:])) + ")" if shape[:1] == (...,) else shape
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and (np.any(arr < 0) if allow_zero else np.any(arr <= 0)):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if high is not None and np.any(np.abs(arr) > high):
        raise ValueError(f"{name} must be at most {high:g} {unit} in size, got {value!r}: a "
                         f"unit error? (SI units: {unit})")
    return arr


def _scalar(name, value, *, low=None, high=None, low_open=False, unit=""):
    """A real number (numpy scalars too; not a bool or str) in [low, high], as a float."""
    return check_number(name, value, low=low, high=high, low_open=low_open, unit=unit)




def _shape_matches(got, want):
    if want[:1] == (...,):
        tail = want[1:]
        return len(got) >= len(tail) and got[len(got) - len(tail):] == tail
    return got == want


def _freqs(freqs):
    f = np.atleast_1d(as_numeric("freqs", freqs).astype(float))
    if f.ndim != 1 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"freqs must be a 1-D array of positive finite frequencies in Hz, "
                         f"got {freqs!r}")
    return f


@dataclass(frozen=True)
class Room:
    """A magnetically shielded room (or none).

    Parameters
    ----------
    name : str
    s0 : float
        Passive shielding factor at zero frequency (dimensionless, >= 1).
    corners : tuple of float
        Eddy-current corner frequencies f_i, Hz.
    active_gain : float
        DC loop gain G0 of active compensation (0: none).
    active_bandwidth : float
        Pole frequency f_c of the compensation loop, Hz.
    remnant_field : tuple of 3 float
        Remnant field at the room centre (head position), T.
    remnant_gradient : tuple of 9 float
        Remnant gradient dB_i/dx_j (row-major 3x3, symmetric, traceless), T/m.
    layers : tuple of (sigma, thickness, radius, mu_r)
        Conducting layers, innermost first (S/m, m, equivalent-sphere radius m,
        relative permeability) for the thermal-noise estimate.
    nulling_gain_error : float
        Relative calibration error of on-person nulling coils (0.01 = 40 dB).
    citation : str
        Sources of the figures; "assumption" marks unsourced ones.
    """

    name: str
    s0: float
    corners: tuple = ()
    active_gain: float = 0.0
    active_bandwidth: float = 1.0
    remnant_field: tuple = (0.0, 0.0, 0.0)
    remnant_gradient: tuple = (0.0,) * 9
    layers: tuple = ()
    nulling_gain_error: float = 0.01
    citation: str = ""

    def __post_init__(self):
        _text("name", self.name)
        _text("citation", self.citation)
        _set(self, s0=_scalar("s0", self.s0, low=1.0),
             active_gain=_scalar("active_gain", self.active_gain, low=0.0),
             active_bandwidth=_scalar("active_bandwidth", self.active_bandwidth, low=0.0,
                                      low_open=True, unit="Hz"),
             nulling_gain_error=_scalar("nulling_gain_error", self.nulling_gain_error,
                                        low=0.0, high=0.999))
        corners = _finite("corners", self.corners, positive=True, allow_zero=False)
        if corners.ndim != 1:
            raise ValueError(f"corners must be a sequence of frequencies (Hz), got "
                             f"{self.corners!r}")
        _finite("remnant_field", self.remnant_field, shape=(3,), high=1e-3, unit="T")
        g = _finite("remnant_gradient", self.remnant_gradient, shape=(9,), high=1e-3,
                    unit="T/m").reshape(3, 3)
        shielding.remnant_field(np.zeros(3), np.zeros(3), g)  # symmetric + traceless check
        if isinstance(self.layers, str) or not isinstance(self.layers, tuple | list):
            raise TypeError(f"layers must be a tuple of (sigma, thickness, radius, mu_r), got "
                            f"{self.layers!r}")
        for layer in self.layers:
            sigma, t, radius, mu_r = _finite("layers", layer, positive=True, allow_zero=False,
                                             shape=(4,))
            if t >= radius or radius > 100.0 or mu_r < 1:
                raise ValueError(
                    f"layers must hold (sigma S/m, thickness m, radius m, mu_r) with "
                    f"thickness < radius <= 100 m and mu_r >= 1, got {layer!r}")

    @property
    def gradient(self) -> np.ndarray:
        """Remnant gradient tensor dB_i/dx_j, shape (3, 3), T/m."""
        return np.asarray(self.remnant_gradient, dtype=float).reshape(3, 3)

    def shielding_factor(self, freqs, active: bool = True) -> np.ndarray:
        """Axis-averaged shielding factor at ``freqs`` (Hz, > 0); dimensionless."""
        f = _freqs(freqs)
        active = check_flag("active", active)
        s = self.s0 * np.ones_like(f)
        for fc in self.corners:
            s = s * np.abs(1 + 1j * f / fc)
        if active and self.active_gain > 0:
            s = s * np.asarray(shielding.active_compensation_factor(
                f, self.active_gain, self.active_bandwidth))
        return s

    def thermal_noise(self, temperature: float = 293.0) -> float:
        """Johnson noise of the room's conducting layers at its centre, T/sqrt(Hz).

        Each layer is a spherical shell (``spherical_shell_thermal_noise``, low-frequency
        limit); a layer's noise reaches the centre attenuated by the static shielding of
        the layers inside it; contributions add in power.
        """
        temperature = _scalar("temperature", temperature, low=0.0, low_open=True, unit="K")
        total, inner_s, prev_r = 0.0, 1.0, None
        for sigma, t, radius, mu_r in self.layers:
            b = float(shielding.spherical_shell_thermal_noise(sigma, t, radius, temperature))
            total += (b / inner_s) ** 2
            s_i = float(shielding.spherical_shell_shielding_factor(mu_r, radius, radius + t))
            inner_s = (float(shielding.nested_shielding_factor(
                np.array([inner_s, s_i]), np.array([prev_r, radius])))
                if prev_r is not None else s_i)
            prev_r = radius
        return math.sqrt(total)


_MUMETAL = (1.8e6, 1.5e-3)  # S/m, m  (mu-metal datasheet resistivity 0.55 uOhm m; 1.5 mm:
# assumption)

ROOMS: dict[str, Room] = {
    "ak3b": Room(
        name="ak3b",
        s0=33.6,
        corners=(0.0578, 11.7),
        active_gain=9.05,
        active_bandwidth=10.0,
        remnant_field=(0.0, 0.0, 10e-9),
        remnant_gradient=(5e-9, 0, 0, 0, -2e-9, 0, 0, 0, -3e-9),
        layers=((*_MUMETAL, 1.2, 1.5e4), (*_MUMETAL, 1.35, 1.5e4), (3.7e7, 8e-3, 1.5, 1.0)),
        nulling_gain_error=0.1,
        citation=("Vacuumschmelze Ak3b (2 mu-metal + 1 conducting layer): axis-averaged "
                  "shielding 35 at 0.02 Hz, 71 at 0.1 Hz, 561 at 1 Hz, 5e5 at 100 Hz, about "
                  "10x more at 1 Hz with active compensation (published Ak3b figures; Kelha "
                  "et al. 1982, IEEE Trans. Magn. 18:260, describe the room type). s0 and "
                  "corners are a least-squares fit to those four points; remnant field 10 nT, "
                  "gradient 5 nT/m, layer geometry and active bandwidth: assumption."),
    ),
    "bmsr2": Room(
        name="bmsr2",
        s0=75000.0 / abs(1 + 1j * 0.01 / 0.0578),
        corners=(0.0578, 11.7),
        active_gain=132.0,
        active_bandwidth=0.5,
        remnant_field=(0.0, 0.0, 250e-12),
        remnant_gradient=(0.3e-9, 0, 0, 0, -0.1e-9, 0, 0, 0, -0.2e-9),
        layers=tuple((*_MUMETAL, r, 1.5e4) for r in (1.5, 1.6, 1.75, 1.9, 2.05, 2.2, 2.35))
        + ((3.7e7, 1e-2, 2.5, 1.0),),
        nulling_gain_error=0.01,
        citation=("PTB BMSR-2, 7 mu-metal layers + aluminium: passive shielding 75 000 at "
                  "0.01 Hz, 1e7 with active compensation, residual field < 300 pT (Bork et al. "
                  "2001, Proc. Biomag 2000, 970-973). Corner frequencies taken from the Ak3b "
                  "fit, gradient 0.3 nT/m, layer radii: assumption."),
    ),
    "opm_two_layer": Room(
        name="opm_two_layer",
        s0=33.6,
        corners=(0.0578, 11.7),
        active_gain=0.0,
        remnant_field=(0.0, 0.0, 1e-9),
        remnant_gradient=(1e-9, 0, 0, 0, -0.5e-9, 0, 0, 0, -0.5e-9),
        layers=((*_MUMETAL, 1.2, 1.5e4), (*_MUMETAL, 1.3, 1.5e4), (5.8e7, 4e-3, 1.4, 1.0)),
        nulling_gain_error=0.01,
        citation=("Two-layer OPM-optimised room (2 mu-metal + 1 copper layer, degaussed): "
                  "remnant field < 2 nT (Rea et al. 2021, NeuroImage 241:118401), here 1 nT "
                  "and 1 nT/m; on-person bi-planar nulling coils about 40 dB at 0.01 Hz "
                  "(Holmes et al. 2019, Sci. Rep. 9:14196) -> nulling_gain_error 0.01. "
                  "Passive shielding curve: assumption, the Ak3b calibration (same "
                  "construction class)."),
    ),
    "unshielded": Room(
        name="unshielded",
        s0=1.0,
        remnant_field=(0.0, 20e-6, -45e-6),
        remnant_gradient=(20e-9, 0, 0, 0, -10e-9, 0, 0, 0, -10e-9),
        nulling_gain_error=0.01,
        citation=("No shielding: geomagnetic field about 50 uT (assumption: mid-latitude "
                  "values, 20 uT horizontal, 45 uT vertical); laboratory gradient 20 nT/m "
                  "(assumption)."),
    ),
}


def room_names() -> list[str]:
    """Names of the room presets."""
    return sorted(ROOMS)


def get_room(name: str | Room) -> Room:
    """Room preset by name (or pass a :class:`Room` through)."""
    if isinstance(name, Room):
        return name
    if not isinstance(name, str):
        raise TypeError(f"room must be a room name or a Room, got {name!r}")
    if name not in ROOMS:
        raise ValueError(f"room must be one of {room_names()}, got {name!r}")
    return ROOMS[name]


@dataclass(frozen=True)
class DipoleSource:
    """A distant magnetic dipole interferer (car, lift, tram).

    The moment's ASD is ``moment_asd * (1 Hz / f)**exponent`` in A m^2/sqrt(Hz) along
    the unit ``direction``; position in the head frame (m).  Defaults: assumption.
    """

    name: str
    position: tuple
    direction: tuple = (0.0, 0.0, 1.0)
    moment_asd: float = 10.0
    exponent: float = 1.0

    def __post_init__(self):
        _text("name", self.name)
        pos = _finite("position", self.position, shape=(3,), high=1e5, unit="m")
        if np.linalg.norm(pos) < 1.0:
            raise ValueError(f"position of a distant source must be >= 1 m from the head, got "
                             f"{self.position!r}")
        _direction(self.direction)
        _set(self, moment_asd=_scalar("moment_asd", self.moment_asd, low=0.0,
                                      unit="A m^2/sqrt(Hz)"),
             exponent=_exponent(self.exponent))

    def moment_spectrum(self, freqs) -> np.ndarray:
        """Moment ASD at ``freqs`` (Hz, > 0), A m^2/sqrt(Hz)."""
        return self.moment_asd * _freqs(freqs) ** (-self.exponent)


@dataclass(frozen=True)
class PowerLine:
    """Power-line field at the room: uniform, rms amplitudes (T) at n * frequency.

    Defaults: 50 Hz grid, 100/30/10 nT rms at the 1st/3rd/5th harmonic outside the room,
    line width 0.1 Hz (assumption; typical urban laboratory values).
    """

    frequency: float = 50.0
    harmonics: tuple = (1, 3, 5)
    amplitudes: tuple = (100e-9, 30e-9, 10e-9)
    direction: tuple = (1.0, 0.0, 0.0)
    width: float = 0.1

    def __post_init__(self):
        f = _scalar("frequency", self.frequency, unit="Hz")
        check_option("frequency", f, (50.0, 60.0))
        for name in ("harmonics", "amplitudes"):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, tuple | list):
                raise TypeError(f"{name} must be a tuple, got {v!r}")
        if len(self.harmonics) != len(self.amplitudes):
            raise ValueError("harmonics and amplitudes must have the same length")
        harmonics = tuple(check_int("harmonics", h, low=1, high=1000) for h in self.harmonics)
        _finite("amplitudes", self.amplitudes, positive=True, high=1e-3, unit="T")
        _direction(self.direction)
        _set(self, frequency=f, harmonics=harmonics,
             width=_scalar("width", self.width, low=0.0, low_open=True, unit="Hz"))


@dataclass(frozen=True)
class Movement:
    """Head (OPM) or dewar (SQUID) movement spectra.

    Translation ASD ``translation_asd * (1 Hz / f)**exponent`` (m/sqrt(Hz)), rotation
    ASD the same over ``lever`` (rad/sqrt(Hz)), isotropic.  Defaults (assumption): a
    seated, still subject, 20 um/sqrt(Hz) at 1 Hz falling as 1/f.
    """

    translation_asd: float = 20e-6
    exponent: float = 1.0
    lever: float = 0.1

    def __post_init__(self):
        _set(self,
             translation_asd=_scalar("translation_asd", self.translation_asd, low=0.0,
                                     high=0.01, unit="m/sqrt(Hz)"),
             exponent=_exponent(self.exponent),
             lever=_scalar("lever", self.lever, low=0.0, low_open=True, high=1.0, unit="m"))


def _direction(value):
    d = _finite("direction", value, shape=(3,))
    if np.linalg.norm(d) == 0:
        raise ValueError("direction must be a non-zero vector")
    return d


def _exponent(value):
    """Spectral exponent of a 1/f**exponent amplitude spectrum (0 to 4)."""
    return _scalar("exponent", value, low=0.0, high=4.0)


DEFAULT_SOURCES = (
    DipoleSource("traffic", position=(30.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0),
                 moment_asd=30.0, exponent=1.0),
    DipoleSource("lift", position=(0.0, 15.0, 0.0), direction=(0.0, 0.0, 1.0),
                 moment_asd=5.0, exponent=1.5),
)


@dataclass(frozen=True)
class Environment:
    """Everything around the sensors: room, interferers, movement, temperature.

    Parameters
    ----------
    room : Room or str
    sources : tuple of DipoleSource
    power_line : PowerLine or None
    movement : Movement or None
    nulling : bool
        Whether on-person nulling coils cancel the uniform + gradient remnant field.
    temperature : float
        Shield temperature, K.
    """

    room: Room = field(default_factory=lambda: ROOMS["opm_two_layer"])
    sources: tuple = DEFAULT_SOURCES
    power_line: PowerLine | None = field(default_factory=PowerLine)
    movement: Movement | None = field(default_factory=Movement)
    nulling: bool = False
    temperature: float = 293.0

    def __post_init__(self):
        object.__setattr__(self, "room", get_room(self.room))
        if isinstance(self.sources, str) or not isinstance(self.sources, tuple | list):
            raise TypeError(f"sources must be a tuple of DipoleSource objects, got "
                            f"{self.sources!r}")
        for s in self.sources:
            if not isinstance(s, DipoleSource):
                raise TypeError(f"sources must hold DipoleSource objects, got {s!r}")
        for name, kind in (("power_line", PowerLine), ("movement", Movement)):
            v = getattr(self, name)
            if v is not None and not isinstance(v, kind):
                raise TypeError(f"{name} must be a {kind.__name__} or None, got {v!r}")
        _set(self, sources=tuple(self.sources), nulling=check_flag("nulling", self.nulling),
             temperature=_scalar("temperature", self.temperature, low=0.0, low_open=True,
                                 unit="K"))

    @classmethod
    def preset(cls, room: str, **changes) -> Environment:
        """Environment in a named room with the default interferers."""
        return cls(room=get_room(room), **changes)

    def replace(self, **changes) -> Environment:
        """A copy with some settings changed (validated again; an unknown setting is a
        TypeError)."""
        return replace_figures(self, changes, "setting")

    def remnant(self) -> tuple[np.ndarray, np.ndarray]:
        """Remnant field (3,) T and gradient (3, 3) T/m seen by the sensors (after
        nulling if enabled)."""
        b0, g = np.asarray(self.room.remnant_field, dtype=float), self.room.gradient
        if self.nulling:
            e = self.room.nulling_gain_error
            return e * b0, e * g
        return b0, g


# ------------------------------------------------------------------------ fields
def dipole_field(points, position, moment):
    """Field of a magnetic dipole, ``mu0/(4 pi) (3 (m.n) n - m) / d**3`` (Jackson eq. 5.56).

    Validates its inputs and evaluates the kernel
    :func:`forward_models.conductors.magnetic_dipole_field`.

    Parameters
    ----------
    points : array_like, shape (..., 3)
        Field points, m.
    position : array_like, shape (3,)
        Dipole position, m.
    moment : array_like, shape (3,)
        Moment, A m^2.

    Returns
    -------
    B : numpy.ndarray, shape (..., 3), T.

    Raises
    ------
    ValueError
        If an input is not finite or has the wrong shape, or a point coincides with the
        dipole position.
    """
    p = _finite("points", points, shape=(..., 3))
    r0 = _finite("position", position, shape=(3,))
    m = _finite("moment", moment, shape=(3,))
    if np.any(np.linalg.norm(p - r0, axis=-1) == 0):
        raise ValueError("points coincide with the dipole position")
    return np.asarray(conductors.magnetic_dipole_field(p, r0, m))


def channel_field(array, field_fn) -> np.ndarray:
    """Channel outputs for a field ``field_fn(points (..., 3)) -> B (..., 3)``.

    Integrates B . normal over each channel's coil points with MNE's weights
    (``array.coil_geometry()``); T for magnetometers, T/m for gradiometers.
    """
    from .sensor_array import SensorArray

    if not isinstance(array, SensorArray):
        raise TypeError(f"array must be a qsense.SensorArray, got {type(array).__name__}")
    if not callable(field_fn):
        raise TypeError(f"field_fn must be a function of points (..., 3), got {field_fn!r}")
    pts, nrm, w = array.coil_geometry()
    pts, nrm, w = np.asarray(pts), np.asarray(nrm), np.asarray(w)
    b = _finite("field_fn(points)", field_fn(pts))
    if b.shape != pts.shape:
        raise ValueError(f"field_fn(points) must return B of the points' shape {pts.shape}, "
                         f"got {b.shape}")
    return np.sum(np.sum(b * nrm, axis=-1) * w, axis=-1)


# ---------------------------------------------------------------------- movement
def rotation_matrix(rotvec) -> np.ndarray:
    """Rotation matrix of a rotation vector (axis * angle, rad).

    Validates ``rotvec`` and evaluates Rodrigues' formula with the kernel
    :func:`forward_models.opm.rotation_from_rotvec` (stable as the angle goes to 0).

    Parameters
    ----------
    rotvec : array_like, shape (3,)
        Rotation axis times angle, rad (right-handed).

    Returns
    -------
    R : numpy.ndarray, shape (3, 3)
        Rotation matrix; ``R @ v`` rotates ``v``.
    """
    v = _finite("rotvec", rotvec, shape=(3,))
    return np.asarray(opm.rotation_from_rotvec(v))


def _movement_inputs(positions, orientations, translation, rotation, centre):
    """Checked float arrays p, n (n, 3) and d, omega, c (3,) of a rigid head movement."""
    p = _finite("positions", positions, shape=(..., 3))
    n = _finite("orientations", orientations, shape=p.shape)
    d = _finite("translation", translation, shape=(3,))
    w = _finite("rotation", rotation, shape=(3,))
    c = _finite("centre", centre, shape=(3,))
    return p, n, d, w, c


def _remnant_inputs(b0, gradient):
    """Checked remnant field (3,) T and gradient (3, 3) T/m (symmetric, traceless)."""
    b0 = _finite("b0", b0, shape=(3,), high=1e-3, unit="T")
    g = _finite("gradient", gradient, shape=(3, 3), high=1e-3, unit="T/m")
    shielding.remnant_field(np.zeros(3), b0, g)  # symmetric + traceless check
    return b0, g


def movement_artefact(positions, orientations, b0, gradient, translation=(0, 0, 0),
                      rotation=(0, 0, 0), centre=(0, 0, 0)) -> np.ndarray:
    """Exact change of head-fixed sensor readings when the head moves in a static field.

    Sensors at ``positions`` with sensitive axes ``orientations`` move rigidly with the
    head: ``p' = R (p - c) + c + d``, ``n' = R n``.  The reading is ``n . B(p)`` with
    ``B(p) = b0 + G p`` (:func:`forward_models.shielding.remnant_field`); the artefact is
    ``n' . B(p') - n . B(p)``.

    Parameters
    ----------
    positions, orientations : array_like, shape (n, 3)
        Sensor positions (m) and unit sensitive axes in the room frame.
    b0 : array_like, shape (3,)
        Field at the origin, T.
    gradient : array_like, shape (3, 3)
        dB_i/dx_j, T/m (symmetric, traceless).
    translation : array_like, shape (3,)
        Head translation d, m.
    rotation : array_like, shape (3,)
        Rotation vector (axis * angle, rad) about ``centre``.
    centre : array_like, shape (3,)
        Centre of rotation c, m.

    Returns
    -------
    artefact : numpy.ndarray, shape (n,), T.
    """
    p, n, d, w, c = _movement_inputs(positions, orientations, translation, rotation, centre)
    b0, gradient = _remnant_inputs(b0, gradient)
    R = rotation_matrix(w)
    p2 = (p - c) @ R.T + c + d
    n2 = n @ R.T
    B1 = np.asarray(shielding.remnant_field(p, b0, gradient))
    B2 = np.asarray(shielding.remnant_field(p2, b0, gradient))
    return np.sum(n2 * B2, axis=-1) - np.sum(n * B1, axis=-1)


def movement_artefact_linear(positions, orientations, b0, gradient, translation=(0, 0, 0),
                             rotation=(0, 0, 0), centre=(0, 0, 0)) -> np.ndarray:
    """First-order artefact: field x rotation + gradient x translation.

    ``dS = (omega x n) . B(p) + n . G (omega x (p - c) + d)`` for small rotation vector
    omega; bounded by ``|B| |omega| + |G| |dp|``.  Same arguments as
    :func:`movement_artefact`.
    """
    p, n, d, w, c = _movement_inputs(positions, orientations, translation, rotation, centre)
    b0, G = _remnant_inputs(b0, gradient)
    B = np.asarray(shielding.remnant_field(p, b0, G))
    dp = np.cross(w, p - c) + d
    return np.sum(np.cross(w, n) * B, axis=-1) + np.einsum("ni,ij,nj->n", n, G, dp)


def squid_movement_leadfield_change(array, head, sources, translation=(0, 0, 0),
                                    rotation=(0, 0, 0)):
    """Relative lead-field change when the head moves inside a fixed SQUID helmet.

    The sensors stay put; the head (and sources) move rigidly, which is a change of
    ``dev_head_t``: the new device->head transform is ``T_move^-1 @ dev_head_t``.  The
    remnant field does not change at fixed sensors, so the artefact is a modulation of
    the brain signal.

    Parameters
    ----------
    array : SensorArray
    head : Head
    sources : qsense source space accepted by ``qsense.leadfield``
    translation : array_like (3,), m; rotation : array_like (3,), rad (head frame)

    Returns
    -------
    rel_change : float
        ``||L' - L||_F / ||L||_F``.
    lf0, lf1 : xarray.DataArray
        Lead fields before and after, T/(A m).
    """
    import qsense

    move = np.eye(4)
    move[:3, :3] = rotation_matrix(_finite("rotation", rotation, shape=(3,)))
    move[:3, 3] = _finite("translation", translation, shape=(3,))
    moved = array.replace(dev_head_t=np.linalg.inv(move) @ np.asarray(array.dev_head_t))
    lf0 = qsense.leadfield(array, head, sources)
    lf1 = qsense.leadfield(moved, head, sources)
    a0, a1 = np.asarray(lf0), np.asarray(lf1)
    return float(np.linalg.norm(a1 - a0) / np.linalg.norm(a0)), lf0, lf1
