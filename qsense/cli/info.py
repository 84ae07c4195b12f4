"""``qsense info``: heads, arrays, sensor presets and rooms, with their sources."""

from __future__ import annotations

import shutil
import textwrap

import numpy as np

from .config import add_debug_flag

__all__ = ["add_info_parser", "run_info", "all_presets"]

_HEADS = (
    ("sphere", "Head.sphere(radius=0.09, origin=(0, 0, 0.04)): Sarvas sphere model"),
    ("fsaverage", "Head.fsaverage(): MNE's fsaverage scalp and inner skull, nilearn's "
                  "fsaverage5 cortex (offline)"),
)
_ARRAYS = (
    ("neuromag306", "MEGIN Vectorview/TRIUX, 102 magnetometers + 204 planar gradiometers"),
    ("ctf275", "CTF, 274 first-order axial gradiometers"),
    ("kernel_flux", "Kernel Flux OPM layout (40 modules)"),
    ("opm_on_scalp", "N OPMs on the upper scalp; axes radial|tangential|dual|triaxial"),
    ("nv_on_scalp", "N NV magnetometers on the same scalp lattice (qsense.nv)"),
)


def add_info_parser(subparsers):
    """Add the ``info`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "info", help="list heads, arrays, sensor presets and rooms",
        description="List the heads, arrays, sensor presets (SQUID, OPM, NV) and shielded "
                    "rooms qsense knows, with the sources of their figures.")
    add_debug_flag(p)
    p.set_defaults(func=run_info)
    return p


def all_presets() -> dict:
    """Every sensor preset (SQUID, OPM, NV) by name, sorted by name
    (:data:`qsense.sensors.PRESETS`)."""
    from ..sensors import PRESETS

    return dict(sorted(PRESETS.items()))


def _cited(text: str, width: int, indent: str = " " * 6) -> list[str]:
    """``text`` wrapped to ``width`` columns, every line indented (no word is split)."""
    return textwrap.wrap(" ".join(text.split()), width=width, initial_indent=indent,
                         subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [indent + "(no citation)"]


def run_info(args=None) -> int:
    """Print what ``qsense info`` lists; returns 0."""
    from .. import __version__
    from ..environment import ROOMS

    width = max(60, min(100, shutil.get_terminal_size((100, 24)).columns))
    out = [f"qsense {__version__}", "", "Heads (qsense.Head):"]
    out += [f"  {name:10s} {text}" for name, text in _HEADS]
    out += ["", "Arrays (qsense.arrays):"]
    out += [f"  {name:13s} {text}" for name, text in _ARRAYS]
    out += ["", "Sensor presets (qsense.sensors.get_preset), with their sources:"]
    for name, p in all_presets().items():
        out.append(f"  {name:22s} {p.kind:5s} coil {p.coil_type:5d}  noise "
                   f"{p.noise_floor:.3g} {p.noise_unit:15s} {p.description}")
        out += _cited(p.citation, width)
    out += ["", "Rooms (qsense.environment.get_room), with their sources:"]
    for name, room in sorted(ROOMS.items()):
        remnant = float(np.linalg.norm(room.remnant_field)) * 1e9
        out.append(f"  {name:22s} passive shielding factor {room.s0:.3g} at DC, remnant "
                   f"field {remnant:.3g} nT")
        out += _cited(room.citation, width)
    print("\n".join(out))
    return 0
