"""One schema per command: each option's type, allowed values, default and help.

The argparse flags (:func:`add_options`) and the ``--config`` TOML file
(:func:`load_config`) are both built and checked from :data:`SCHEMAS`, so a value is
held to the same rules wherever it comes from. :func:`resolve` merges them: the
schema's defaults, overridden by the file's ``[command]`` table, overridden by the flags;
then every value is checked, before any computation. A bad value raises
:class:`~qsense.cli.UsageError` (a ValueError) whose message names the option (``argument
--n-opm``) or the file's key (``argument --config: FILE: [compare] n_opm``), the value and
what is allowed.

TOML types are strict: an integer option needs a TOML integer (``n_freqs = 10``, not
``"10"``), a switch a TOML boolean (``nulling = false``, not ``"false"``), a list of names
a TOML array of strings (``arrays = ["opm", "nv"]``).
"""

from __future__ import annotations

import argparse
import math
import numbers
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from inverse.study import (
    ARRAY_NAMES,
    BANDWIDTH_RANGE,
    BEM_ICOS,
    CURVES,
    DEFAULT_SOLVERS,
    DIPOLE_CONDUCTORS,
    LAMBDA2_RANGE,
    MOMENT_RANGE,
    N_OPM_RANGE,
    N_PROBES_RANGE,
    N_REALISATIONS_RANGE,
    N_TRIALS_RANGE,
    ROOM_CHOICES,
    SOLVERS,
    SPACINGS,
)

from . import UsageError

__all__ = ["Option", "SCHEMAS", "Settings", "add_options", "add_debug_flag", "load_config",
           "resolve", "COMPARE_OUTPUTS", "QUICK", "FULL"]

COMPARE_OUTPUTS = ("compare.nc", "report.html")
TABLES = {"sweep": ("grid", "study")}  # tables a command's file holds beside [command],
# read by the command itself (qsense.cli.sweep)
QUICK = {"spacing": "ico2", "n_opm": 32, "bem_ico": 3, "recordings": False,
         "rejection": False, "curves": "none", "iivanainen": False}
# what --quick sets where the user set nothing: the noiseless view, in under 30 s
FULL = {"spacing": "ico4", "n_probes": 16, "n_trials": (4, 16, 64, 256),
        "n_realisations": 8, "solvers": SOLVERS, "dipole_conductor": "head",
        "curves": "full"}  # what --full sets where the user set nothing

def _preset_text(preset: dict) -> str:
    """The flags a preset (``--quick``, ``--full``) sets, as the user would type them."""
    out = []
    for k, v in preset.items():
        flag = k.replace("_", "-")
        if isinstance(v, bool):
            out.append(f"--{flag}" if v else f"--no-{flag}")
        else:
            out.append(f"--{flag} " + (",".join(map(str, v)) if isinstance(v, tuple)
                                       else str(v)))
    return ", ".join(out)


# kind: (what a flag value must be, what a TOML value must be)
_KINDS = {
    "int": ("a whole number", "a TOML integer"),
    "float": ("a number", "a TOML number (integer or float)"),
    "bool": ("true or false", "a TOML boolean (true or false, without quotes)"),
    "str": ("a name", "a TOML string"),
    "path": ("a path", "a TOML string (a path)"),
    "names": ("comma-separated names", "a TOML array of strings"),
    "ints": ("comma-separated whole numbers", "a TOML array of integers"),
}
_TOML_TYPES = ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
               (list, "array"), (dict, "table"))


def _shown(value) -> str:
    """``value`` as it reads in a TOML file (or the default as it reads in the help)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Option:
    """One option of one command.

    Parameters
    ----------
    key : str
        The TOML key and the argparse ``dest``; the flag is ``--`` + key with ``-`` for
        ``_``.
    kind : {"int", "float", "bool", "str", "path", "names", "ints"}
        ``names`` is a list of distinct names: comma-separated on the command line, an
        array of strings in TOML; ``ints`` a list of distinct whole numbers (each in
        ``[low, high]``), likewise.
    default : object
        The value when neither the file nor a flag sets it (None: unset).
    help : str
        What the option does; the allowed values and the default are added to it.
    low, high : float, optional
        Inclusive bounds of a number (``low_open``: ``low`` itself is excluded).
    choices : callable, optional
        Returns the allowed names (called when needed: the registries load lazily).
    check : callable, optional
        ``check(value)`` raises ValueError for a bad value and returns it (converted).
    default_text : str, optional
        The default in words, for the help (where ``default`` is None: decided at run
        time).
    """

    key: str
    kind: str
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: Callable[[], Sequence[str]] | None = None
    check: Callable[[object], object] | None = None
    default_text: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.choices is not None:
            names = ", ".join(self.choices())
            return f"one of {names}" if self.kind == "str" else f"distinct names from {names}"
        if self.kind == "int" and self.low is not None and self.high is not None:
            return f"a whole number in {self.low:g}..{self.high:g}"
        if self.kind == "ints" and self.low is not None and self.high is not None:
            return f"distinct whole numbers in {self.low:g}..{self.high:g}"
        if self.kind == "float" and self.low is not None and self.high is not None:
            return (f"a finite number in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}]")
        return _KINDS[self.kind][0]

    def describe(self) -> str:
        """The ``--help`` text: what it does, what is allowed, the default."""
        default = (self.default_text if self.default_text is not None
                   else "none" if self.default is None else ",".join(map(str, self.default))
                   if self.kind in ("names", "ints") else _shown(self.default).strip('"'))
        allowed = "" if self.kind in ("bool", "path") else f"{self.allowed()}; "
        return f"{self.help} ({allowed}default: {default})".replace("%", "%%")

    # --- conversion from each source, then one check -------------------------------------

    def from_flag(self, raw, where: str):
        """The value of a flag (argparse gives strings; switches come as bools)."""
        if self.kind == "bool" or not isinstance(raw, str):
            return raw
        try:
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
        except ValueError:
            raise UsageError(f"{where}: must be {self.allowed()}, got {raw}") from None
        if self.kind == "names":
            return tuple(name.strip() for name in raw.split(","))
        if self.kind == "ints":
            try:
                return tuple(int(v) for v in raw.split(","))
            except ValueError:
                raise UsageError(f"{where}: must be {self.allowed()}, got {raw}") from None
        return Path(raw).expanduser() if self.kind == "path" else raw

    def from_toml(self, value, where: str):
        """The value of a TOML key; its TOML type must be the option's."""
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
            "path": isinstance(value, str),
            "names": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "ints": isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value),
        }[self.kind]
        if not ok:
            got = next((name for t, name in _TOML_TYPES if isinstance(value, t)),
                       type(value).__name__)
            raise UsageError(f"{where}: must be {_KINDS[self.kind][1]}, got {got} "
                             f"{_shown(value)}")
        if self.kind in ("names", "ints"):
            return tuple(value)
        return Path(value).expanduser() if self.kind == "path" else value

    def validate(self, value, where: str, shown: str):
        """``value`` checked against the allowed values; ``shown`` is how the user wrote
        it."""
        if value is None:
            return None
        bad = False
        if self.kind in ("int", "float"):
            number = numbers.Integral if self.kind == "int" else numbers.Real
            if isinstance(value, bool) or not isinstance(value, number):
                bad = True
            else:  # ints are compared as ints: 10**400 is out of range, not an overflow
                v = int(value) if self.kind == "int" else float(value)
                bad = ((self.kind == "float" and not math.isfinite(v))
                       or (self.low is not None and (v <= self.low if self.low_open
                                                     else v < self.low))
                       or (self.high is not None and v > self.high))
                value = v
        elif self.kind == "ints":
            bad = (not value or len(set(value)) != len(value)
                   or any((self.low is not None and v < self.low)
                          or (self.high is not None and v > self.high) for v in value))
        elif self.choices is not None:
            allowed = set(self.choices())
            items = (value,) if self.kind == "str" else value
            bad = (not items or any(v not in allowed for v in items)
                   or len(set(items)) != len(items))
        if bad:
            raise UsageError(f"{where}: must be {self.allowed()}, got {shown}")
        if self.check is not None:
            try:
                value = self.check(value)
            except (TypeError, ValueError) as err:
                raise UsageError(f"{where}: {err}") from None
        return value


# --- the per-command checks that need the registries or the file system -------------------

def _sensor_names():
    from ..sensors import preset_names

    return preset_names()


def _opm_names():
    from ..sensors import preset_names

    return preset_names("opm")


def _nv_names():
    from ..nv import NV_PRESETS

    return sorted(NV_PRESETS)


def _room_names():
    from ..environment import room_names

    return room_names()


def _output_file(key: str):
    def check(path):
        from .._checks import check_output_path

        return check_output_path(key, path)
    return check


def _plot_file(path):
    from matplotlib.backend_bases import FigureCanvasBase

    from .._checks import check_output_path

    path = check_output_path("plot", path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in formats:
        raise ValueError(f"plot={str(path)!r}: the format {fmt!r} (from the file name) is not "
                         f"supported; use one of {', '.join(formats)}")
    return path


def _output_dir(path):
    from .._checks import check_output_path
    from .._io import check_commit_target

    path = check_output_path("output_dir", path, folder=True)
    try:
        return check_commit_target(path, COMPARE_OUTPUTS)
    except ValueError as err:
        raise ValueError(f"output_dir={str(path)!r}: {err}") from None


# --- qsense simulate ------------------------------------------------------------------------

SIMULATE_ACTIVITIES = ("evoked", "alpha", "spikes", "empty-room")
POWER_LINES = ("50", "60", "off")


def _array_names():
    from .info import _ARRAYS

    return [name for name, _ in _ARRAYS]


def _axes_names():
    from ..arrays import AXES

    return AXES


def _room_or_none():
    return ["none", *_room_names()]


def _spacing(value):
    """``ico2`` ... ``ico5`` (cortex) or a volume grid step in millimetres (``"10mm"``)."""
    from ..sources import CORTEX_SPACINGS

    if value in CORTEX_SPACINGS:
        return value
    text = value.strip().lower()
    try:
        step = float(text[:-2]) if text.endswith("mm") else math.nan
    except ValueError:
        step = math.nan
    if not 1.0 <= step <= 50.0:  # NaN fails too
        raise ValueError(f"must be one of {', '.join(CORTEX_SPACINGS)} (cortex, fsaverage "
                         f"head) or a volume grid step of 1-50 mm such as \"10mm\", got "
                         f"{_shown(value)}")
    return f"{step:g}mm"


def _fif_output(path):
    path = _output_file("output")(path)
    if not path.name.endswith(".fif"):
        raise ValueError(f"output={str(path)!r} must end in .fif (e.g. sim_raw.fif)")
    return path


def _pos_file(path):
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"head_pos={str(path)!r} is not a file (need a MaxFilter .pos file "
                         "of head positions, as mne.chpi.write_head_pos writes)")
    return path


SCHEMAS: dict[str, tuple[Option, ...]] = {
    "budget": (
        Option("sensor", "str", "quspin_gen2",
               "sensor preset, SQUID, OPM or NV (`qsense info` lists them)",
               choices=_sensor_names),
        Option("room", "str", "opm_two_layer", "room preset", choices=_room_names),
        Option("n_sensors", "int", 32, "on-scalp sensors (OPM, NV)", low=1, high=1000),
        Option("fmin", "float", 0.1, "lowest frequency, Hz", low=0.0, high=1e6,
               low_open=True),
        Option("fmax", "float", 1000.0, "highest frequency, Hz", low=0.0, high=1e6,
               low_open=True),
        Option("n_freqs", "int", 200, "log-spaced frequencies", low=2, high=100_000),
        Option("nulling", "bool", False,
               "on-person nulling coils cancel the remnant field"),
        Option("suppression", "bool", False,
               "report MNE interference suppression (HFC / SSS)"),
        Option("output", "path", None, "NetCDF output file", check=_output_file("output")),
        Option("plot", "path", None, "figure output file (png, pdf, svg, ...)",
               check=_plot_file),
    ),
    "compare": (
        Option("spacing", "str", "ico3", "cortical source spacing (the maps; the noisy "
               "localisation runs on its probes)",
               choices=lambda: SPACINGS),
        Option("arrays", "names", ARRAY_NAMES, "arrays to compare",
               choices=lambda: ARRAY_NAMES),
        Option("n_opm", "int", 64, "sensors in the OPM and NV arrays",
               low=N_OPM_RANGE[0], high=N_OPM_RANGE[1]),
        Option("opm_sensor", "str", "quspin_gen2", "OPM preset", choices=_opm_names),
        Option("nv_sensor", "str", "nv_flux_concentrator", "NV preset", choices=_nv_names),
        Option("bandwidth", "float", 1.0, "noise bandwidth of one sample, Hz",
               low=BANDWIDTH_RANGE[0], high=BANDWIDTH_RANGE[1]),
        Option("moment", "float", 20e-9, "dipole moment for the SNR and the Cramer-Rao "
               "bound, A m", low=MOMENT_RANGE[0], high=MOMENT_RANGE[1]),
        Option("lambda2", "float", 1 / 9, "regularisation of the minimum-norm solvers, "
               "1/SNR^2", low=LAMBDA2_RANGE[0], high=LAMBDA2_RANGE[1]),
        Option("bem_ico", "int", 4, "subdivision of the inner skull in the BEM (3: 642 "
               "vertices, 4: 2562, 5: 10242, minutes to build on a first run)",
               low=min(BEM_ICOS), high=max(BEM_ICOS)),
        Option("recordings", "bool", True, "localise probe sources on simulated noisy "
               "recordings (paired across arrays) with MNE's solvers"),
        Option("n_probes", "int", 4, "probe sources of the noisy localisation (spread over "
               "depth, both hemispheres)", low=N_PROBES_RANGE[0], high=N_PROBES_RANGE[1]),
        Option("n_trials", "ints", (64,), "trial counts averaged (nested: the first n "
               "epochs of one recording)", low=N_TRIALS_RANGE[0], high=N_TRIALS_RANGE[1]),
        Option("n_realisations", "int", 1, "noise realisations per array and probe",
               low=N_REALISATIONS_RANGE[0], high=N_REALISATIONS_RANGE[1]),
        Option("solvers", "names", DEFAULT_SOLVERS, "solvers run on the recordings "
               "(eLORETA costs about 1 s per solve on 306 channels)",
               choices=lambda: SOLVERS),
        Option("coreg_error", "float", 0.003, "co-registration error of every array, m rms "
               "over its sensors (the recordings are analysed where the analysis believes "
               "the sensors are)", low=0.0, high=0.02),
        Option("dipole_conductor", "str", "sphere", "conductor of the dipole fits: sphere "
               "(fitted to the inner skull) or head (the BEM, about 8x slower)",
               choices=lambda: DIPOLE_CONDUCTORS),
        Option("rooms", "str", "typical", "room of the recordings: typical (each array in "
               "its own: OPM/NV in a two-layer OPM room, SQUIDs in a conventional shielded "
               "room), a room name (every array in it), or none (sensor noise only)",
               choices=lambda: (*ROOM_CHOICES, *_room_names())),
        Option("rejection", "bool", True, "measure MNE's interference suppression (HFC on "
               "on-scalp arrays, SSS on helmets) in each array's room"),
        Option("seed", "int", 0, "seed of every simulated recording", low=0, high=2**32 - 1),
        Option("workers", "int", 1, "worker processes for the recordings (1: alongside the "
               "rest of the study; 0: in this process, after it; the same numbers)",
               low=0, high=1),
        Option("curves", "str", "quick", "fair-comparison curves over OPM channel count and "
               "axes, OPM noise floor and NV standoff (quick: reduced sizes, no bounds; "
               "full: with Cramer-Rao bounds; none)", choices=lambda: CURVES),
        Option("iivanainen", "bool", True, "reproduce Iivanainen et al. 2017's on-scalp vs "
               "SQUID signal-power comparison on this head"),
        Option("full", "bool", False,
               "the study a paper would report: " + _preset_text(FULL)
               + ", each only where neither a flag nor the config file sets it; hours on "
               "2 cores (the progress bar gives the estimate)"),
        Option("quick", "bool", False,
               "a fast check: " + _preset_text(QUICK)
               + ", each only where neither a flag nor the config file sets it"),
        Option("output_dir", "path", Path("qsense-compare"),
               "folder for " + " and ".join(COMPARE_OUTPUTS) + " (and manifest.json), "
               "replaced as a whole when the run ends: new, empty, or (with --overwrite) "
               "one a previous run wrote", check=_output_dir),
        Option("overwrite", "bool", False,
               "replace the results of a previous run in --output-dir"),
        Option("progress", "bool", None,
               "progress per stage with the time left, on standard error",
               default_text="on when standard error is a terminal"),
    ),
}

SCHEMAS["simulate"] = (
    Option("output", "path", None, "FIF file to write (ending in .fif; required); the "
           "ground truth goes beside it as <name>-truth.nc", check=_fif_output),
    Option("overwrite", "bool", False, "replace an existing output (and its truth file)"),
    Option("array", "str", "opm_on_scalp", "sensor array (`qsense info` lists them)",
           choices=_array_names),
    Option("sensor", "str", None,
           "sensor preset of the array; unset: the array's own (opm_on_scalp "
           "quspin_gen2, nv_on_scalp nv_flux_concentrator, kernel_flux kernel_flux, a "
           "helmet all its channels); on a helmet a SQUID preset keeps its channels only",
           choices=_sensor_names),
    Option("n_sensors", "int", 64, "sensors in an on-scalp array (opm_on_scalp, "
           "nv_on_scalp; the other layouts are fixed)", low=1, high=1000),
    Option("axes", "str", "radial", "field components each OPM reads (opm_on_scalp)",
           choices=_axes_names),
    Option("head", "str", "fsaverage", "head model: fsaverage (BEM, cortex sources) or "
           "sphere", choices=lambda: ("fsaverage", "sphere")),
    Option("spacing", "str", None, "source space: ico2..ico5 (cortex, fsaverage head) or a "
           "volume grid step such as 10mm; unset: ico4 on fsaverage, 10mm on the sphere",
           check=_spacing),
    Option("activity", "str", "evoked", "source activity (qsense.activity); empty-room: no "
           "sources", choices=lambda: SIMULATE_ACTIVITIES),
    Option("amplitude", "float", None, "dipole moment, nAm (evoked and spikes: peak, alpha: "
           "rms); unset: the preset's, 20 / 200 / 20 nAm", low=0.0, high=1e6, low_open=True),
    Option("n_trials", "int", None, "stimuli (evoked); unset: as many as fit in --duration, "
           "or 30", low=1, high=100_000),
    Option("soa", "float", 1.0, "mean stimulus interval, s (evoked; jitter +-0.2 s)",
           low=0.2, high=60.0, low_open=True),
    Option("frequency", "float", 10.0, "centre frequency, Hz (alpha)", low=0.0, high=1e4,
           low_open=True),
    Option("rate", "float", 0.5, "discharges per second (spikes)", low=0.0, high=100.0,
           low_open=True),
    Option("duration", "float", None, "recording length, s; unset: 10 s, or for evoked the "
           "length of its trials", low=0.0, high=86_400.0, low_open=True),
    Option("sfreq", "float", 1000.0, "sampling rate, Hz", low=0.0, high=1e6, low_open=True),
    Option("room", "str", "none", "shielded room preset, or none for a perfect room "
           "(no remnant field, interference or movement)", choices=_room_or_none),
    Option("nulling", "bool", False, "on-person nulling coils cancel the remnant field "
           "(with a room)"),
    Option("power_line", "str", "50", "power-line frequency in Hz, or off (with a room)",
           choices=lambda: POWER_LINES),
    Option("movement", "bool", True, "draw a head trajectory from the room's movement "
           "spectrum when no --head-pos is given (with a room)"),
    Option("head_pos", "path", None, "head positions over time, a MaxFilter .pos file "
           "(mne.chpi.read_head_pos)", check=_pos_file),
    Option("seed", "int", 0, "seed of every random draw (activity and noise)", low=0,
           high=10**9),
    Option("sensor_physics", "bool", True, "each sensor's response (OPM Bloch model, "
           "low-pass); off: ideal sensors"),
    Option("noise", "bool", True, "add each channel's sensor noise"),
    Option("chunk_duration", "float", 10.0, "seconds computed and written at a time "
           "(memory, not numbers)", low=0.0, high=3600.0, low_open=True),
    Option("progress", "bool", None, "show a progress bar; unset: when stderr is a terminal"),
)


# --- qsense sweep ---------------------------------------------------------------------------

def _scheduler(value):
    """``serial`` or a Dask scheduler address: ``tcp://host:port`` (any scheme Dask knows:
    tcp, tls, ucx, inproc) or ``host:port``."""
    import re

    text = value.strip()
    if text == "serial" or re.fullmatch(
            r"(?:(?:tcp|tls|ucx|inproc)://)?\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}|inproc://\S+",
            text):
        return text
    raise ValueError(f"must be serial or a Dask scheduler address such as "
                     f"tcp://host:8786, got {_shown(value)}")


def _netcdf_output(path):
    path = _output_file("out")(path)
    if path.suffix != ".nc":
        raise ValueError(f"out={str(path)!r} must end in .nc (a NetCDF file)")
    return path


def _store_dir(path):
    from .._checks import check_output_path

    return check_output_path("store", path, folder=True)


SCHEMAS["sweep"] = (
    Option("store", "path", Path("qsense-sweep"), "folder of the sweep's points, one "
           "NetCDF file each, written as each point ends; points already there are read, "
           "not computed again", check=_store_dir),
    Option("out", "path", Path("sweep.nc"), "NetCDF file of the whole sweep (the grid "
           "parameters as dimensions)", check=_netcdf_output),
    Option("overwrite", "bool", False, "replace an existing --out file"),
    Option("scheduler", "str", None, "address of a running Dask scheduler "
           "(tcp://host:8786; its workers need qsense), or serial: one point after the "
           "other in this process", check=_scheduler,
           default_text="a local cluster of --workers processes"),
    Option("workers", "int", None, "worker processes of the local cluster (not with "
           "--scheduler)", low=1, high=1024, default_text="2"),
    Option("retries", "int", 2, "runs again of a point whose study raised (a point of a "
           "worker that died is run again in any case)", low=0, high=100),
    Option("progress", "bool", True, "points done and the time left, on standard error"),
)


class Settings(dict):
    """Resolved option values by key.

    ``source[key]`` says where each value came from (``argument --n-opm``, or
    ``argument --config: FILE: [compare] n_opm``, or the flag's name for a default);
    ``explicit`` holds the keys the user set (in the file or by a flag).
    """

    def __init__(self, command: str):
        super().__init__()
        self.command = command
        self.source: dict[str, str] = {}
        self.explicit: set[str] = set()


def load_config(command: str, path) -> dict:
    """The ``[command]`` table of the TOML file ``path``, its keys checked.

    Hyphens in keys are read as underscores (``n-sensors`` is ``n_sensors``).

    Raises
    ------
    qsense.cli.UsageError
        The file cannot be read or is not TOML; a top-level key other than the
        ``[command]`` table; a key of the table that the command does not have.
    """
    where = f"argument --config: {path}"
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise UsageError(f"{where}: cannot be read ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{where}: not a valid TOML file: {' '.join(str(err).split())}"
                         ) from None
    tables = (command, *TABLES.get(command, ()))
    outside = sorted(k for k in data if k not in tables)
    if outside:
        holds = (f"one table, [{command}]" if len(tables) == 1
                 else "the tables " + ", ".join(f"[{t}]" for t in tables))
        raise UsageError(f"{where}: top-level key{'s' if len(outside) > 1 else ''} "
                         f"{', '.join(map(repr, outside))} not allowed; the file holds "
                         f"{holds}")
    table = data.get(command, {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: {command} must be a table [{command}], got "
                         f"{_shown(table)}")
    keys = [o.key for o in SCHEMAS[command]]
    out = {}
    for k, v in table.items():
        key = k.replace("-", "_")
        if key not in keys:
            raise UsageError(f"{where}: [{command}] has an unknown key {k!r}; allowed: "
                             f"{', '.join(keys)}")
        if key in out:
            raise UsageError(f"{where}: [{command}] sets {key!r} twice")
        out[key] = v
    return out


def add_options(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Add ``--config`` and one flag per option of ``command`` (all default to None, so
    :func:`resolve` can tell what the user set)."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help=f"TOML file with a [{command}] table of the options below "
                             "(keys as the flags, with _ for -, e.g. "
                             f"{SCHEMAS[command][0].key}); flags override it")
    for o in SCHEMAS[command]:
        if o.kind == "bool":
            parser.add_argument(o.flag, dest=o.key, action=argparse.BooleanOptionalAction,
                                default=None, help=o.describe())
        else:
            parser.add_argument(o.flag, dest=o.key, default=None, help=o.describe(),
                                metavar={"names": "A,B,...", "ints": "N,M,..."}.get(
                                    o.kind, o.key.upper()))
    add_debug_flag(parser)
    return parser


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after the command too (``qsense CMD ... --debug``); it does not reset
    the main parser's ``qsense --debug CMD``."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")


def resolve(command: str, args) -> Settings:
    """The settings of ``command``: defaults < ``args.config`` file < flags, all checked.

    ``args`` is the argparse namespace (attributes named by the keys; None: not given).

    Raises
    ------
    qsense.cli.UsageError
        (a ValueError) for the first bad value; the message names the option or key, the
        value and what is allowed.
    """
    options = SCHEMAS[command]
    s = Settings(command)
    shown = {}
    for o in options:
        s[o.key], s.source[o.key], shown[o.key] = o.default, f"argument {o.flag}", None
    path = getattr(args, "config", None)
    if path is not None:
        by_key = {o.key: o for o in options}
        for key, value in load_config(command, path).items():
            where = f"argument --config: {path}: [{command}] {key}"
            s[key] = by_key[key].from_toml(value, where)
            s.source[key], shown[key] = where, _shown(value)
            s.explicit.add(key)
    for o in options:
        raw = getattr(args, o.key, None)
        if raw is not None:
            s.source[o.key] = f"argument {o.flag}"
            s[o.key] = o.from_flag(raw, s.source[o.key])
            shown[o.key] = str(raw)
            s.explicit.add(o.key)
    if command == "compare" and s["quick"] and s["full"]:
        raise UsageError("--quick and --full exclude each other: give one")
    for flag, preset in (("quick", QUICK), ("full", FULL)):
        if command != "compare" or not s[flag]:
            continue
        for key, value in preset.items():
            if key not in s.explicit:
                s[key] = value
                s.source[key] = f"argument --{flag} (sets {key}={_shown(value)})"
    # the values first, then how they go together, then the files (which probe the disk)
    def validate(opts):
        for o in opts:
            s[o.key] = o.validate(s[o.key], s.source[o.key], shown[o.key] or _shown(s[o.key]))

    validate(o for o in options if o.check is None)
    if command == "budget":
        _check_budget(s)
    validate(o for o in options if o.check is not None)
    if command == "compare":
        if s["rejection"] and s["rooms"] == "none":
            raise UsageError(f"{s.source['rooms']}: rooms=none has no interference for "
                             "--rejection to suppress; set --no-rejection or a room")
        _check_compare_output(s)
    return s


def _check_compare_output(s: Settings) -> None:
    """An output folder that holds a previous run's results needs ``overwrite``."""
    from .._io import MANIFEST

    out = s["output_dir"]
    if s["overwrite"] or not out.is_dir():
        return
    ours = [n for n in (*COMPARE_OUTPUTS, MANIFEST) if (out / n).exists()]
    if ours:
        raise UsageError(f"{s.source['output_dir']}: {str(out)!r} holds the results of a "
                         f"previous run ({', '.join(ours)}); pass --overwrite to replace "
                         "them, or choose another folder")


def _check_budget(s: Settings) -> None:
    if not s["fmin"] < s["fmax"]:
        key = "fmax" if "fmax" in s.explicit and "fmin" not in s.explicit else "fmin"
        raise UsageError(f"{s.source[key]}: need fmin < fmax, got fmin={s['fmin']:g} Hz, "
                         f"fmax={s['fmax']:g} Hz")
