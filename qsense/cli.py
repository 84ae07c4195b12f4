"""The ``qsense`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_info(args) -> int:
    from . import __version__
    from .sensors import PRESETS

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qsense",
        description="Simulate OPM, NV and SQUID magnetometers on the head, and what can "
        "be localised from them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_info = sub.add_parser("info", help="list heads, arrays and sensor presets")
    p_info.set_defaults(func=_cmd_info)
    from .budget import add_budget_parser
    from .compare_cli import add_compare_parser

    add_budget_parser(sub)
    add_compare_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rc = args.func(args)
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
