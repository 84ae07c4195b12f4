"""NV-diamond sensors: the presets and the figures of their ODMR readout.

An NV ensemble magnetometer reads the field along one direction; for lead fields,
simulations, noise budgets and inverses it is a point magnetometer (MNE coil type 2000)
with its own noise floor. A wide-field NV microscope preset describes one pixel. The
physics (Hamiltonian, ODMR, sensitivities) is in :mod:`forward_models.nv`; the builders
of NV arrays are in :mod:`qsense.nv`.

Every figure names its source; figures for which no source was found are listed in
``assumptions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from forward_models import nv as _nv
from forward_models._checks import check_option

from .base import SensorPreset, check_figure, set_figures

__all__ = ["NVPreset", "NV_PRESETS", "PRESETS", "get_nv_preset", "POINT_MAGNETOMETER",
           "FLUX_CONCENTRATOR"]

POINT_MAGNETOMETER = 2000  # MNE coil type

FLUX_CONCENTRATOR = {"cone_height": 5e-3, "base_diameter": 5e-3, "gap": 50e-6,
                     "wall": 1e-3}
"""Geometry of the ``nv_flux_concentrator`` sensor, m: a bowtie of two ferrite cones with
the NV membrane in the gap between their tips, its axis along the sensitive (radial)
axis (Fescenko et al. 2020, Phys. Rev. Research 2:023394). The near cone and the housing
wall lie between the scalp and the membrane, which therefore sits ``wall + cone_height
+ gap / 2`` (6.0 mm) from the scalp at the closest. Assumptions: millimetre cones like
the paper's (their exact dimensions are not taken from it), a 50 um gap for the
membrane, a 1 mm wall. :func:`qsense.nv.flux_concentrator_points` models the cones'
spatial averaging; :func:`inverse.curves.nv_standoff_curve` the metrics against the
standoff."""


@dataclass(frozen=True, kw_only=True)
class NVPreset(SensorPreset):
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

    kind = "nv"
    head_mounted = True

    coil_type: int = POINT_MAGNETOMETER
    contrast: float
    linewidth: float
    photon_rate: float
    flux_gain: float = 1.0
    sensing_volume: float = 0.0
    pixel_pitch: float = 0.0
    layer_thickness: float = 0.0

    def __post_init__(self):
        mm = "; was it given in millimetres?"
        set_figures(
            self,
            contrast=check_figure("contrast", self.contrast, high=1.0),
            linewidth=check_figure("linewidth", self.linewidth),
            photon_rate=check_figure("photon_rate", self.photon_rate),
            flux_gain=check_figure("flux_gain", self.flux_gain),
            sensing_volume=check_figure("sensing_volume", self.sensing_volume,
                                        low_open=False, high=1e-3,
                                        hint=" m^3; was it given in mm^3?"),
            pixel_pitch=check_figure("pixel_pitch", self.pixel_pitch, low_open=False,
                                     high=0.01, hint=" m" + mm),
            layer_thickness=check_figure("layer_thickness", self.layer_thickness,
                                         low_open=False, high=0.01, hint=" m" + mm),
        )
        super().__post_init__()

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
        from ..nv import nv_on_scalp

        return nv_on_scalp(head, n_sensors, sensor=self)

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
        p = self.pixel_pitch if pixel_pitch is None else check_figure(
            "pixel_pitch", pixel_pitch, high=0.1, hint=" m; was it given in millimetres?")
        if self.pixel_pitch <= 0:
            return self.noise_floor
        return self.noise_floor * self.pixel_pitch / p


_BARRY2020 = ("Barry et al. 2020, Rev. Mod. Phys. 92:015004 (sensitivity formulas; "
              "ensemble contrast and linewidth ranges)")

PRESETS = (
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
            standoff=(FLUX_CONCENTRATOR["wall"] + FLUX_CONCENTRATOR["cone_height"]
                      + 0.5 * FLUX_CONCENTRATOR["gap"]),
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
                "contrast 1 %, linewidth 1.5 MHz, photon rate 1e15/s, 1/f corner 10 Hz, "
                "sensing volume",
                "standoff 6.0 mm, scalp to NV membrane: a 1 mm housing wall and one 5 mm "
                "ferrite cone below the membrane (FLUX_CONCENTRATOR; cone size and wall "
                "assumed, was 5 mm before the cone was accounted for)",
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
"""The NV presets."""

NV_PRESETS = {p.name: p for p in PRESETS}
"""NV presets by name."""


def get_nv_preset(name) -> NVPreset:
    """The :class:`NVPreset` called ``name`` (an NVPreset passes through)."""
    if isinstance(name, NVPreset):
        return name
    if not isinstance(name, str):
        raise TypeError(f"sensor must be an NV preset name or an NVPreset, got {name!r}")
    check_option("sensor", name, NV_PRESETS,
                 f"sensor={{value!r}} is not an NV preset; choose one of {sorted(NV_PRESETS)}")
    return NV_PRESETS[name]
