"""``qsense info``: heads, arrays and sensor presets."""

from __future__ import annotations

__all__ = ["add_info_parser", "run_info"]


def add_info_parser(subparsers):
    """Add the ``info`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser("info", help="list heads, arrays and sensor presets")
    p.set_defaults(func=run_info)
    return p


def run_info(args=None) -> int:
    """Print what ``qsense info`` lists; returns 0."""
    from .. import __version__
    from ..sensors import PRESETS

    out = [f"qsense {__version__}", "", "Heads:"]
    out.append("  sphere     Head.sphere(radius=0.09, origin=(0, 0, 0.04)): Sarvas sphere model")
    out.append("  fsaverage  Head.fsaverage(): MNE's fsaverage scalp and inner skull, "
               "nilearn's fsaverage5 cortex (offline)")
    out += ["", "Arrays (qsense.arrays):"]
    out.append("  neuromag306   MEGIN Vectorview/TRIUX, 102 magnetometers + 204 planar "
               "gradiometers")
    out.append("  ctf275        CTF, 274 first-order axial gradiometers")
    out.append("  kernel_flux   Kernel Flux OPM layout (40 modules)")
    out.append("  opm_on_scalp  N OPMs on the upper scalp; axes radial|tangential|dual|triaxial")
    out += ["", "Sensor presets (qsense.sensors):"]
    for name, p in sorted(PRESETS.items()):
        unit = "T/(m sqrt(Hz))" if p.coil_type in (3012,) else "T/sqrt(Hz)"
        out.append(f"  {name:22s} {p.kind:5s} coil {p.coil_type:5d}  noise "
                   f"{p.noise_floor:.3g} {unit:15s} {p.description}")
    print("\n".join(out))
    return 0
