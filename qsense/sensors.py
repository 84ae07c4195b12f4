"""Sensor presets: the figures that decide what a sensor records.

Each preset is a frozen dataclass; override any figure with :func:`dataclasses.replace`
or :meth:`SensorPreset.replace`. Every figure carries its source in ``citation``; a
figure for which no published source was found is listed in ``assumptions``.

MNE coil types used here (``mne/data/coil_def.dat``): 2000 point magnetometer,
3012 Vectorview planar gradiometer (T1), 3024 Vectorview magnetometer (T3),
5001 CTF axial gradiometer, 8001 QuSpin Gen-1/2 OPM (QuSpin ZF OPM, 8002 for Gen-3),
8101 FieldLine OPM, 8201 Kernel OPM.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SensorPreset", "PRESETS", "get_preset", "preset_names"]


@dataclass(frozen=True)
class SensorPreset:
    """Figures of one sensor model.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"quspin_gen2"``.
    kind : {"opm", "squid", "nv"}
        Sensor family.
    coil_type : int
        MNE FIFF coil type used for integration points and for ``mne.Info``.
    noise_floor : float
        White noise amplitude spectral density, T/sqrt(Hz); T/(m sqrt(Hz)) for planar
        gradiometers. For multi-axis OPMs this is the figure of one axis in that mode.
    corner_frequency : float
        1/f corner, Hz: the amplitude spectral density is
        ``noise_floor * sqrt(1 + corner_frequency / f)``.
    bandwidth : float
        -3 dB bandwidth of the sensor response, Hz (``inf`` for SQUIDs here).
    standoff : float
        Distance from the sensitive volume's centre to the scalp when the sensor
        housing touches it, m (0 for SQUIDs, whose gap is set by the helmet).
    axes : tuple of str
        Measurement axis modes the sensor supports.
    description : str
        One line for listings.
    citation : str
        Where the figures come from.
    assumptions : tuple of str
        Figures for which no source was found (they are parameters; override them).
    """

    name: str
    kind: str
    coil_type: int
    noise_floor: float
    corner_frequency: float
    bandwidth: float
    standoff: float
    axes: tuple[str, ...]
    description: str
    citation: str
    assumptions: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in ("opm", "squid", "nv"):
            raise ValueError(f"kind must be 'opm', 'squid' or 'nv', got {self.kind!r}")
        for field in ("noise_floor", "bandwidth"):
            value = getattr(self, field)
            if not value > 0:
                raise ValueError(f"{field} must be > 0, got {value!r}")
        for field in ("corner_frequency", "standoff"):
            value = getattr(self, field)
            if not value >= 0 or value != value:
                raise ValueError(f"{field} must be >= 0, got {value!r}")
        if self.standoff > 0.1:
            raise ValueError(
                f"standoff must be in metres (< 0.1 m for any wearable sensor), got "
                f"{self.standoff!r}; was it given in millimetres?"
            )

    @property
    def head_mounted(self) -> bool:
        """Whether the sensor is worn on the head (OPM, NV) rather than held in a fixed
        helmet (SQUID)."""
        return self.kind != "squid"

    def default_array(self, head, n_sensors: int = 32):
        """The array this sensor is usually worn in, on ``head``.

        OPMs: ``n_sensors`` radial sensors on the scalp (:func:`qsense.arrays.opm_on_scalp`);
        SQUIDs: their helmet (the channels of this preset's coil type).
        """
        from . import arrays

        if self.kind == "opm":
            return arrays.opm_on_scalp(head, n_sensors=n_sensors, sensor=self.name)
        if self.name.startswith("neuromag"):
            arr = arrays.neuromag306(head)
            keep = [n for n, c in zip(arr.names, arr.coil_types, strict=True)
                    if int(c) == self.coil_type]
            return arr.pick(keep).replace(sensor=self.name)
        return arrays.ctf275(head)

    def replace(self, **changes) -> SensorPreset:
        """Return a copy with some figures changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def noise_asd(self, freqs):
        """Amplitude spectral density at ``freqs`` (Hz), T/sqrt(Hz): white + 1/f."""
        import numpy as np

        f = np.asarray(freqs, dtype=float)
        if np.any(~np.isfinite(f)) or np.any(f <= 0):
            raise ValueError("freqs must be finite and > 0 Hz")
        return self.noise_floor * np.sqrt(1.0 + self.corner_frequency / f)


_QUSPIN_CITE = (
    "QuSpin QZFM Gen-2 product specification (sensitivity < 15 fT/sqrt(Hz) over 3-100 Hz, "
    "typically 7-10 fT/sqrt(Hz); bandwidth about 135 Hz; 3x3x3 mm cell whose centre is "
    "about 6.5 mm from the scalp); Boto et al. 2018, Nature 555:657; Tierney et al. 2019, "
    "NeuroImage 199:598."
)

PRESETS: dict[str, SensorPreset] = {
    p.name: p
    for p in [
        SensorPreset(
            name="quspin_gen2",
            kind="opm",
            coil_type=8001,
            noise_floor=15e-15,
            corner_frequency=3.0,
            bandwidth=135.0,
            standoff=0.0065,
            axes=("radial", "tangential", "dual"),
            description="QuSpin QZFM Gen-2 zero-field OPM (87Rb, single beam)",
            citation=_QUSPIN_CITE,
            assumptions=(
                "noise_floor: the specified upper bound 15 fT/sqrt(Hz) is used, not the "
                "typical 7-10",
                "corner_frequency: the specification's 3 Hz lower band edge is taken as "
                "the 1/f corner",
            ),
        ),
        SensorPreset(
            name="quspin_gen3_dual",
            kind="opm",
            coil_type=8002,
            noise_floor=15e-15,
            corner_frequency=3.0,
            bandwidth=135.0,
            standoff=0.0065,
            axes=("radial", "tangential", "dual"),
            description="QuSpin QZFM Gen-3 in dual-axis mode",
            citation=(
                "QuSpin QZFM Gen-3 specification (dual axis < 15 fT/sqrt(Hz), triaxial "
                "< 23 fT/sqrt(Hz)); Boto et al. 2022, NeuroImage 252:119027 (measured "
                "triaxial 13.5/9.9/14.9 fT/sqrt(Hz))."
            ),
            assumptions=("bandwidth and standoff taken equal to Gen-2",),
        ),
        SensorPreset(
            name="quspin_gen3_triaxial",
            kind="opm",
            coil_type=8002,
            noise_floor=23e-15,
            corner_frequency=3.0,
            bandwidth=135.0,
            standoff=0.0065,
            axes=("triaxial", "radial", "tangential", "dual"),
            description="QuSpin QZFM Gen-3 in triaxial mode",
            citation=(
                "QuSpin QZFM Gen-3 specification (triaxial < 23 fT/sqrt(Hz)); Boto et al. "
                "2022, NeuroImage 252:119027."
            ),
            assumptions=("bandwidth and standoff taken equal to Gen-2",),
        ),
        SensorPreset(
            name="fieldline_hedscan",
            kind="opm",
            coil_type=8101,
            noise_floor=15e-15,
            corner_frequency=3.0,
            bandwidth=150.0,
            standoff=0.005,
            axes=("radial",),
            description="FieldLine HEDscan zero-field OPM",
            citation=(
                "FieldLine HEDscan: about 15 fT/sqrt(Hz) typical, DC-150 Hz, cell about 5 mm "
                "from the scalp; Alem et al. 2023, Front. Neurosci. 17:1190310."
            ),
            assumptions=("corner_frequency 3 Hz",),
        ),
        SensorPreset(
            name="kernel_flux",
            kind="opm",
            coil_type=8201,
            noise_floor=15e-15,
            corner_frequency=3.0,
            bandwidth=150.0,
            standoff=0.0065,
            axes=("radial",),
            description="Kernel Flux OPM module (positions from MNE's shipped layout)",
            citation="Pratt et al. 2021, Proc. SPIE 11700 (Kernel Flux).",
            assumptions=(
                "noise_floor, corner_frequency, bandwidth and standoff: no public "
                "specification found; set equal to the other zero-field OPMs",
            ),
        ),
        SensorPreset(
            name="neuromag_mag",
            kind="squid",
            coil_type=3024,
            noise_floor=3.5e-15,
            corner_frequency=1.0,
            bandwidth=float("inf"),
            standoff=0.0,
            axes=("radial",),
            description="MEGIN TRIUX/Vectorview magnetometer (SQUID)",
            citation=(
                "MEGIN TRIUX/Vectorview: magnetometers about 3-3.5 fT/sqrt(Hz) "
                "(qsense physics reference, section 5)."
            ),
            assumptions=("corner_frequency 1 Hz",),
        ),
        SensorPreset(
            name="neuromag_grad",
            kind="squid",
            coil_type=3012,
            noise_floor=3.0e-13,
            corner_frequency=1.0,
            bandwidth=float("inf"),
            standoff=0.0,
            axes=("radial",),
            description="MEGIN TRIUX/Vectorview planar gradiometer (SQUID)",
            citation=(
                "MEGIN TRIUX/Vectorview: planar gradiometers about 3 fT/(cm sqrt(Hz)) "
                "= 3e-13 T/(m sqrt(Hz)) (qsense physics reference, section 5)."
            ),
            assumptions=("corner_frequency 1 Hz",),
        ),
        SensorPreset(
            name="ctf_axial",
            kind="squid",
            coil_type=5001,
            noise_floor=5e-15,
            corner_frequency=1.0,
            bandwidth=float("inf"),
            standoff=0.0,
            axes=("radial",),
            description="CTF 275 first-order axial gradiometer, 50 mm baseline (SQUID)",
            citation="Vrba & Robinson 2002, Methods 25:249 (CTF system; 50 mm baseline).",
            assumptions=("noise_floor 5 fT/sqrt(Hz) and corner_frequency 1 Hz",),
        ),
        SensorPreset(
            name="point",
            kind="opm",
            coil_type=2000,
            noise_floor=10e-15,
            corner_frequency=0.0,
            bandwidth=float("inf"),
            standoff=0.0065,
            axes=("radial", "tangential", "dual", "triaxial"),
            description="Ideal point magnetometer (for theory; white noise only)",
            citation="An idealisation, no device.",
            assumptions=("noise_floor 10 fT/sqrt(Hz), standoff 6.5 mm",),
        ),
    ]
}


def preset_names(kind: str | None = None) -> list[str]:
    """Names of the registered presets, optionally of one ``kind``."""
    return sorted(n for n, p in PRESETS.items() if kind is None or p.kind == kind)


def get_preset(name: str | SensorPreset) -> SensorPreset:
    """Look up a preset by name (a :class:`SensorPreset` passes through).

    Raises
    ------
    ValueError
        If ``name`` is not a registered preset; the message lists the allowed names.
    """
    if isinstance(name, SensorPreset):
        return name
    if not isinstance(name, str):
        raise TypeError(f"sensor must be a preset name or SensorPreset, got {type(name)}")
    try:
        return PRESETS[name]
    except KeyError:
        from .nv import NV_PRESETS

        if name in NV_PRESETS:
            return NV_PRESETS[name]
        raise ValueError(
            f"sensor={name!r} is not a known preset; allowed: {', '.join(preset_names())}"
        ) from None
