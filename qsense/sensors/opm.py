"""Optically pumped magnetometers: the presets and the figures of their SERF physics.

:class:`OPMModel` holds the Bloch-equation and readout figures of a single-beam
zero-field OPM (used by :mod:`qsense.opm` and :mod:`forward_models.opm`);
:class:`OPMPreset` is the sensor preset, which carries its :class:`OPMModel` as
``bloch`` where the sensor has one. MNE coil types (``coil_def.dat``): 8001 QuSpin
Gen-1/2 (8002 for Gen-3), 8101 FieldLine, 8201 Kernel, 2000 point magnetometer.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _dc_field

from forward_models import opm as _opm
from forward_models._checks import check_option

from .base import (
    SensorPreset,
    check_figure,
    check_text,
    check_texts,
    replace_figures,
    set_figures,
)

__all__ = ["OPMModel", "OPM_MODELS", "OPMPreset", "PRESETS", "get_opm_model"]

_AXES = ("x", "y", "z")
_MODE_AXES = {"single": (1,), "dual": (0, 1), "triaxial": (0, 1, 2)}


def _fraction(name, value):
    """A real number in the open interval (0, 1), as a float."""
    try:
        v = check_figure(name, value, high=1.0)
    except ValueError:
        v = 1.0
    if v >= 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return v


@dataclass(frozen=True)
class OPMModel:
    """Bloch-equation and readout parameters of one OPM model.

    Parameters
    ----------
    name : str
        Registry key (the name of the :class:`OPMPreset` that carries it).
    bandwidth : float
        Open-loop -3 dB bandwidth, Hz. The whole bandwidth is attributed to the spin
        dynamics, f = Gamma / (2 pi q(P0)), which fixes the resonance half-width
        :attr:`linewidth`.
    p0 : float
        Zero-field polarisation R_op / Gamma, in (0, 1).
    dynamic_range : float
        Output limit, tesla (readings are clipped to +-dynamic_range).
    cell_size : float
        Edge of the cubic vapour cell, m.
    modes : tuple of str
        Readout modes the sensor offers (``single``, ``dual``, ``triaxial``).
    default_mode : str
        Mode used when none is asked for.
    noise_penalty : tuple of (str, float)
        White-noise factor of each mode relative to the preset's single-axis figure in
        :class:`OPMPreset` (multiply that noise floor by it).
    coil_range : float
        Largest field the on-board coils can apply per axis, tesla.
    coil_radius : float
        Effective radius of the on-board coils for the dipole crosstalk model, m.
    closed_loop_bandwidth : float
        -3 dB bandwidth in closed-loop (field-feedback) operation, Hz.
    triaxial_bias : float
        Bias field used to read the pump axis in triaxial mode, in linewidths.
    citation : str
        Sources of the figures.
    assumptions : tuple of str
        Figures without a published source.
    """

    name: str
    bandwidth: float
    p0: float
    dynamic_range: float
    cell_size: float
    modes: tuple = ("single", "dual")
    default_mode: str = "single"
    noise_penalty: tuple = (("single", 1.0), ("dual", 1.0))
    coil_range: float = 50e-9
    coil_radius: float = 5e-3
    closed_loop_bandwidth: float = 400.0
    triaxial_bias: float = 0.5
    citation: str = ""
    assumptions: tuple = _dc_field(default_factory=tuple)

    def __post_init__(self):
        check_text("name", self.name, empty=False)
        mm = " m; was it given in millimetres?"
        set_figures(
            self,
            bandwidth=check_figure("bandwidth", self.bandwidth),
            dynamic_range=check_figure("dynamic_range", self.dynamic_range),
            cell_size=check_figure("cell_size", self.cell_size, high=0.05, hint=mm),
            coil_range=check_figure("coil_range", self.coil_range),
            coil_radius=check_figure("coil_radius", self.coil_radius, high=0.05, hint=mm),
            closed_loop_bandwidth=check_figure("closed_loop_bandwidth",
                                               self.closed_loop_bandwidth),
            p0=_fraction("p0", self.p0),
            triaxial_bias=_fraction("triaxial_bias", self.triaxial_bias),
            modes=check_texts("modes", self.modes, _opm.READ_MODES),
            citation=check_text("citation", self.citation),
            assumptions=check_texts("assumptions", self.assumptions),
        )
        check_option("default_mode", self.default_mode, self.modes,
                     "default_mode {value!r} is not in modes {allowed}")
        set_figures(self, noise_penalty=self._checked_penalties())
        if self.dynamic_range > 1e-6 or self.coil_range > 1e-3:
            raise ValueError(
                f"dynamic_range={self.dynamic_range!r} / coil_range={self.coil_range!r} look "
                "like a unit error: they are in tesla (nT ranges are ~1e-9)"
            )

    def _checked_penalties(self):
        if isinstance(self.noise_penalty, str) or not isinstance(self.noise_penalty,
                                                                 tuple | list):
            raise TypeError(f"noise_penalty must be a tuple of (mode, factor) pairs, got "
                            f"{self.noise_penalty!r}")
        out = []
        for pair in self.noise_penalty:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"noise_penalty must hold (mode, factor) pairs, got {pair!r}")
            check_option("noise_penalty mode", pair[0], self.modes)
            out.append((pair[0], check_figure(f"noise_penalty[{pair[0]!r}]", pair[1])))
        return tuple(out)

    @property
    def linewidth(self) -> float:
        """Resonance half-width dB = 2 pi f q(P0) / gamma_e, tesla."""
        return float(_opm.linewidth_for_bandwidth(self.bandwidth, self.p0))

    def penalty(self, mode: str) -> float:
        """Noise factor of ``mode`` (see ``noise_penalty``)."""
        d = dict(self.noise_penalty)
        check_option("mode", mode, d, f"mode must be one of {tuple(d)} for {self.name}, got "
                     "{value!r}")
        return float(d[mode])

    def replace(self, **changes) -> OPMModel:
        """A copy with some figures changed (validated again; an unknown figure is a
        TypeError)."""
        return replace_figures(self, changes)


_P0_NOTE = (
    "p0 = 0.5: optimal SERF sensitivity is reached near R_op = R_rel (Ledbetter et al. "
    "2008, Phys. Rev. A 77:033408), i.e. P0 = 1/2; assumption"
)
_CAPE_CITE = (
    "Borna et al. 2022, NeuroImage 247:118818 (SERF OPMs tolerate static fields up to about "
    "+-5 nT; cross-axis projection error)"
)

OPM_MODELS: dict[str, OPMModel] = {  # the Bloch figures, by preset name
    m.name: m
    for m in [
        OPMModel(
            name="quspin_gen2",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual"),
            default_mode="single",
            noise_penalty=(("single", 1.0), ("dual", 1.3)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "QuSpin QZFM Gen-2 figures as reviewed in Tierney et al. 2019, NeuroImage "
                "199:598 (87Rb, 3x3x3 mm cell, about 135 Hz -3 dB bandwidth, about 30 % more "
                "noise in dual-axis mode); dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "coil_range 50 nT (field-zeroing range of the on-board coils)",
                "coil_radius 5 mm (effective on-board coil radius for crosstalk)",
                "closed_loop_bandwidth 400 Hz (Gen-2 is an open-loop sensor; only used when "
                "closed_loop=True)",
            ),
        ),
        OPMModel(
            name="quspin_gen3_dual",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual"),
            default_mode="dual",
            noise_penalty=(("single", 1.0), ("dual", 1.0)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "QuSpin QZFM Gen-3 specification (dual axis < 15 fT/sqrt(Hz)) as quoted by "
                "Boto et al. 2022, NeuroImage 252:119027; dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "bandwidth and cell size taken equal to Gen-2",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
        OPMModel(
            name="quspin_gen3_triaxial",
            bandwidth=135.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single", "dual", "triaxial"),
            default_mode="triaxial",
            noise_penalty=(("single", 15.0 / 23.0), ("dual", 15.0 / 23.0), ("triaxial", 1.0)),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            triaxial_bias=0.5,
            citation=(
                "QuSpin QZFM Gen-3 specification (dual < 15, triaxial < 23 fT/sqrt(Hz)) as "
                "quoted by Boto et al. 2022, NeuroImage 252:119027 (measured triaxial "
                "13.5/9.9/14.9 fT/sqrt(Hz)); dynamic range: " + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "triaxial readout through a +-0.5 linewidth bias along pump x (mechanism and "
                "bias are assumptions; the vendor scheme is unpublished)",
                "bandwidth and cell size taken equal to Gen-2",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
        OPMModel(
            name="fieldline_hedscan",
            bandwidth=150.0,
            p0=0.5,
            dynamic_range=5e-9,
            cell_size=3e-3,
            modes=("single",),
            default_mode="single",
            noise_penalty=(("single", 1.0),),
            coil_range=50e-9,
            coil_radius=5e-3,
            closed_loop_bandwidth=400.0,
            citation=(
                "FieldLine HEDscan: DC-150 Hz, about 15 fT/sqrt(Hz) (Alem et al. 2023, Front. "
                "Neurosci. 17:1190310); closed-loop operation on the sensed axis with on-board "
                "coils (Robinson et al. 2022, NeuroImage 262:119559); dynamic range: "
                + _CAPE_CITE
            ),
            assumptions=(
                _P0_NOTE,
                "cell_size 3 mm (not published)",
                "coil_range 50 nT, coil_radius 5 mm, closed_loop_bandwidth 400 Hz",
            ),
        ),
    ]
}


@dataclass(frozen=True, kw_only=True)
class OPMPreset(SensorPreset):
    """An optically pumped magnetometer worn on the scalp.

    Parameters
    ----------
    bloch : OPMModel or None
        The figures of its SERF Bloch model (:mod:`qsense.opm` simulates the sensor
        with them); None for sensors modelled as ideal coils only.
    **figures
        As :class:`qsense.sensors.SensorPreset`.
    """

    kind = "opm"
    head_mounted = True

    bloch: OPMModel | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.bloch is not None and not isinstance(self.bloch, OPMModel):
            raise TypeError(f"bloch must be an OPMModel or None, got {self.bloch!r}")

    def default_array(self, head, n_sensors: int = 32):
        """``n_sensors`` radial sensors spread over the scalp
        (:func:`qsense.arrays.opm_on_scalp`)."""
        from ..arrays import opm_on_scalp

        return opm_on_scalp(head, n_sensors=n_sensors, sensor=self)


_QUSPIN_CITE = (
    "QuSpin QZFM Gen-2 product specification (sensitivity < 15 fT/sqrt(Hz) over 3-100 Hz, "
    "typically 7-10 fT/sqrt(Hz); bandwidth about 135 Hz; 3x3x3 mm cell whose centre is "
    "about 6.5 mm from the scalp); Boto et al. 2018, Nature 555:657; Tierney et al. 2019, "
    "NeuroImage 199:598."
)

PRESETS = (
    OPMPreset(
        name="quspin_gen2",
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
        coil_default=True,
        bloch=OPM_MODELS["quspin_gen2"],
    ),
    OPMPreset(
        name="quspin_gen3_dual",
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
        coil_default=True,
        bloch=OPM_MODELS["quspin_gen3_dual"],
    ),
    OPMPreset(
        name="quspin_gen3_triaxial",
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
        coil_default=False,
        bloch=OPM_MODELS["quspin_gen3_triaxial"],
    ),
    OPMPreset(
        name="fieldline_hedscan",
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
        coil_default=True,
        bloch=OPM_MODELS["fieldline_hedscan"],
    ),
    OPMPreset(
        name="kernel_flux",
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
        coil_default=True,
    ),
    OPMPreset(
        name="point",
        coil_type=2000,
        noise_floor=10e-15,
        corner_frequency=0.0,
        bandwidth=float("inf"),
        standoff=0.0065,
        axes=("radial", "tangential", "dual", "triaxial"),
        description="Ideal point magnetometer (for theory; white noise only)",
        citation="An idealisation, no device.",
        assumptions=("noise_floor 10 fT/sqrt(Hz), standoff 6.5 mm",),
        coil_default=True,
    ),
)
"""The OPM presets."""


def get_opm_model(name, **overrides) -> OPMModel:
    """Look up the Bloch figures of an OPM preset by name (or pass an OPMModel through),
    optionally overriding figures.

    Parameters
    ----------
    name : str or OPMModel
        One of :data:`OPM_MODELS`.
    **overrides
        Fields to replace, e.g. ``bandwidth=100.0``.
    """
    if isinstance(name, OPMModel):
        model = name
    elif isinstance(name, str):
        check_option("model", name, OPM_MODELS,
                     f"model must be one of {sorted(OPM_MODELS)}, got {{value!r}}")
        model = OPM_MODELS[name]
    else:
        raise TypeError(f"model must be a str or OPMModel, got {type(name).__name__}")
    return model.replace(**overrides) if overrides else model
