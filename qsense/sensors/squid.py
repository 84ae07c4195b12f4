"""SQUID sensors: the helmets the comparison is made against.

MNE coil types used here (MNE's ``coil_def.dat``): 3024 Vectorview magnetometer (T3; 3022
and 3023 are the older T1/T2 variants), 3012 Vectorview planar gradiometer (T1; 3013,
3014), 5001 CTF first-order axial gradiometer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import SensorPreset, check_text

__all__ = ["SquidPreset", "PRESETS", "HELMETS"]

HELMETS = ("neuromag306", "ctf275")
"""The SQUID helmets :mod:`qsense.arrays` builds (a :class:`SquidPreset`'s ``helmet``)."""


@dataclass(frozen=True, kw_only=True)
class SquidPreset(SensorPreset):
    """A SQUID sensor in a fixed, helium-cooled helmet.

    Parameters
    ----------
    helmet : str
        Builder in :mod:`qsense.arrays` of the helmet this sensor sits in
        (``"neuromag306"``, ``"ctf275"``).
    **figures
        As :class:`qsense.sensors.SensorPreset`.
    """

    kind = "squid"
    head_mounted = False

    helmet: str = ""

    def __post_init__(self):
        super().__post_init__()
        check_text("helmet", self.helmet)

    def default_array(self, head, n_sensors: int = 32):
        """The channels of this sensor in its helmet, seated on ``head``
        (``n_sensors`` is ignored: a helmet has the channels it has)."""
        from .. import arrays

        if self.helmet not in HELMETS:
            raise ValueError(f"sensor={self.name!r} has helmet={self.helmet!r}, which names no "
                             f"helmet builder; use one of {HELMETS}")
        arr = getattr(arrays, self.helmet)(head)
        keep = [n for n, c in zip(arr.names, arr.coil_types, strict=True)
                if int(c) in self.coil_types]
        return arr.pick(keep).replace(sensor=self.name)


_MEGIN_SPEC = (
    "MEGIN (Elekta Neuromag) Vectorview/TRIUX vendor specification: magnetometers about "
    "3-3.5 fT/sqrt(Hz), planar gradiometers about 3 fT/(cm sqrt(Hz)); helmet geometry from "
    "MNE's canonical Vectorview sensor definitions."
)

PRESETS = (
    SquidPreset(
        name="neuromag_mag",
        coil_type=3024,
        also_coil_types=(3022, 3023),
        coil_default=True,
        helmet="neuromag306",
        noise_floor=3.5e-15,
        corner_frequency=1.0,
        description="MEGIN TRIUX/Vectorview magnetometer (SQUID)",
        citation=_MEGIN_SPEC,
        assumptions=("noise_floor: the vendor's figure, no peer-reviewed measurement found",
                     "corner_frequency 1 Hz"),
    ),
    SquidPreset(
        name="neuromag_grad",
        coil_type=3012,
        also_coil_types=(3013, 3014),
        coil_default=True,
        helmet="neuromag306",
        noise_floor=3.0e-13,
        corner_frequency=1.0,
        description="MEGIN TRIUX/Vectorview planar gradiometer (SQUID)",
        citation=_MEGIN_SPEC + " 3 fT/(cm sqrt(Hz)) = 3e-13 T/(m sqrt(Hz)).",
        assumptions=("noise_floor: the vendor's figure, no peer-reviewed measurement found",
                     "corner_frequency 1 Hz"),
    ),
    SquidPreset(
        name="ctf_axial",
        coil_type=5001,
        coil_default=True,
        helmet="ctf275",
        noise_floor=5e-15,
        corner_frequency=1.0,
        description="CTF 275 first-order axial gradiometer, 50 mm baseline (SQUID)",
        citation="Vrba & Robinson 2002, Methods 25:249 (CTF system; 50 mm baseline).",
        assumptions=("noise_floor 5 fT/sqrt(Hz) and corner_frequency 1 Hz",),
    ),
)
"""The SQUID presets."""
