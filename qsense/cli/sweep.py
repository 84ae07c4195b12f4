"""``qsense sweep CONFIG.toml``: the comparison study over a grid of its options, on Dask.

The file holds three tables:

- ``[grid]`` (required): options of :func:`inverse.study.compare` and the values each
  takes, as TOML arrays (``n_opm = [32, 64]``; ``arrays = [["opm"], ["opm", "nv"]]``); the
  sweep runs every combination;
- ``[study]``: options of the study fixed over the grid (``spacing = "ico2"``);
- ``[sweep]``: this command's own options (:data:`qsense.cli.config.SCHEMAS` ``["sweep"]``:
  ``store``, ``out``, ``scheduler``, ``workers``, ...), which the flags override.

Every value is checked before anything runs, by the rules of ``qsense compare`` where the
option is one of its settings (the same ``Option`` of the schema), else by
:func:`inverse.sweep` (names against the study's signature); an unreachable ``--scheduler``
is an error within seconds. The points are written to ``--store`` as they end
(:func:`inverse.sweep`: one NetCDF file each, named by a hash of its options; a second
run reads them); the whole goes to ``--out`` in one rename. Progress, and the address of
the Dask dashboard, go to standard error.
"""

from __future__ import annotations

import sys
import time
import tomllib

from . import UsageError
from .config import SCHEMAS, add_options, resolve

__all__ = ["add_sweep_parser", "read_tables", "run_sweep"]


def add_sweep_parser(subparsers):
    """Add the ``sweep`` subcommand to an argparse ``subparsers`` object (its options:
    :data:`qsense.cli.config.SCHEMAS` ``["sweep"]``)."""
    p = subparsers.add_parser(
        "sweep", help="the comparison study over a grid of its options, on Dask",
        description="Run inverse.study.compare at every point of the [grid] table of "
        "CONFIG.toml (with the [study] table's options fixed) on a Dask cluster, store "
        "each point in --store as it ends and write the whole to --out.")
    p.add_argument("config_file", nargs="?", default=None, metavar="CONFIG.toml",
                   help="TOML file with a [grid] table (study option = [values]), a "
                   "[study] table (fixed study options) and a [sweep] table (the options "
                   "below); the same as --config")
    add_options(p, "sweep")
    p.set_defaults(func=run_sweep)
    return p


def _value(key, value, where):
    """A study option's TOML value, held to ``qsense compare``'s rule where it has one."""
    from .config import _shown

    schema = {o.key: o for o in SCHEMAS["compare"]}
    if key not in schema:
        return value  # a study option compare's command does not set: inverse.sweep checks it
    o = schema[key]
    return o.validate(o.from_toml(value, where), where, _shown(value))


def read_tables(path) -> tuple[dict, dict]:
    """The ``[grid]`` and ``[study]`` tables of a sweep's TOML file, checked.

    Returns
    -------
    grid : dict of str -> list
    study : dict of str -> value

    Raises
    ------
    qsense.cli.UsageError
        A missing or empty ``[grid]``; a key that is not an option of
        :func:`inverse.study.compare` (or is ``head`` or ``progress``); a grid value that
        is not a non-empty TOML array; a value that ``qsense compare`` would refuse.
    """
    where = f"argument --config: {path}"
    with open(path, "rb") as fh:  # load_config has read it already: it is TOML
        data = tomllib.load(fh)
    from inverse.sweep import study_option_names

    allowed = study_option_names()
    tables = {}
    for name in ("grid", "study"):
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise UsageError(f"{where}: {name} must be a table [{name}]")
        for key in table:
            if key.replace("-", "_") not in allowed:
                raise UsageError(f"{where}: [{name}] has an unknown key {key!r}; allowed: "
                                 f"options of inverse.study.compare: {', '.join(allowed)}")
        tables[name] = {k.replace("-", "_"): v for k, v in table.items()}
    grid, study = tables["grid"], tables["study"]
    if not grid:
        raise UsageError(f"{where}: needs a [grid] table of study options and their values, "
                         "e.g. [grid] n_opm = [32, 64]")
    both = sorted(set(grid) & set(study))
    if both:
        raise UsageError(f"{where}: {', '.join(both)} in both [grid] and [study]; give each "
                         "once")
    out_grid = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"{where}: [grid] {key} must be a non-empty TOML array of "
                             f"values, got {values!r}")
        out_grid[key] = [_value(key, v, f"{where}: [grid] {key}[{i}]")
                         for i, v in enumerate(values)]
    out_study = {key: _value(key, v, f"{where}: [study] {key}") for key, v in study.items()}
    return out_grid, out_study


def run_sweep(args) -> int:
    """Run ``qsense sweep``: check everything, connect, sweep, write ``--out``."""
    if args.config_file is not None and args.config is not None:
        raise UsageError("argument CONFIG.toml: give the file once (CONFIG.toml or --config)")
    args.config = args.config if args.config is not None else args.config_file
    if args.config is None:
        raise UsageError("argument CONFIG.toml: required: a TOML file with a [grid] table "
                         "(see examples/sweep.toml)")
    cfg = resolve("sweep", args)
    grid, study = read_tables(args.config)
    if cfg["workers"] is not None and cfg["scheduler"] is not None:
        raise UsageError(f"{cfg.source['workers']}: sets the local cluster's processes; "
                         f"not with --scheduler {cfg['scheduler']}")
    out = cfg["out"]
    if out.exists() and not cfg["overwrite"]:
        raise UsageError(f"{cfg.source['out']}: {str(out)!r} exists; pass --overwrite to "
                         "replace it, or choose another file")

    import mne

    from inverse.sweep import SERIAL, connect, sweep

    from .._io import atomic_write

    mne.set_log_level("ERROR")
    client, owned = None, None
    if cfg["scheduler"] == SERIAL:
        client = SERIAL
    elif cfg["scheduler"] is not None:
        try:
            client = owned = connect(cfg["scheduler"])
        except ConnectionError as err:
            raise UsageError(f"{cfg.source['scheduler']}: {err}") from None
    t0 = time.perf_counter()
    try:
        ds = sweep(grid, store=cfg["store"], client=client, n_workers=(
            (cfg["workers"] or 2) if client is None else None), retries=cfg["retries"],
            progress=cfg["progress"], **study)
    finally:
        if owned is not None:
            owned.close()
    ds = ds.assign_attrs(command=" ".join(getattr(args, "command_line", ["qsense", "sweep"])))
    atomic_write(out, lambda tmp: ds.to_netcdf(tmp))
    seconds = time.perf_counter() - t0
    dims = " x ".join(f"{n} {ds.sizes[n]}" for n in grid)
    print(f"qsense sweep: {ds.attrs['sweep_points']} points ({dims}): "
          f"{ds.attrs['sweep_computed']} computed, {ds.attrs['sweep_reused']} from the store "
          f"{cfg['store']}, in {seconds:.1f} s")
    print(f"wrote {out}")
    sys.stdout.flush()
    return 0
