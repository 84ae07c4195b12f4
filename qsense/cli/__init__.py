"""The ``qsense`` application: the command line and the comparison report.

One module per command (:mod:`~qsense.cli.info`, :mod:`~qsense.cli.budget`,
:mod:`~qsense.cli.compare`, :mod:`~qsense.cli.simulate`, :mod:`~qsense.cli.sweep`), the
options of every command in one schema (:mod:`~qsense.cli.config`) and the HTML report
(:mod:`~qsense.cli.report`). This package is the only part of ``qsense`` that imports ``inverse``.

Errors end as one line on stderr, never a traceback (``--debug`` shows it):

- a bad setting (a flag, a ``--config`` key, an output path):
  ``qsense CMD: error: argument --OPTION: ...``, exit status 2, before any computation;
- anything that fails during the run:
  ``qsense CMD: error: ExceptionType: message (run with --debug for the traceback)``,
  exit status 1; an interrupt (Ctrl-C) exits with 130.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(ValueError):
    """A bad command-line setting; :func:`main` prints it on one line and exits with 2.

    The message names the option (``argument --sensor: ...``), the value and why.
    """


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: message``)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``qsense`` argument parser with every subcommand."""
    from .budget import add_budget_parser
    from .compare import add_compare_parser
    from .design import add_design_parser
    from .info import add_info_parser
    from .simulate import add_simulate_parser
    from .sweep import add_sweep_parser

    parser = _Parser(
        prog="qsense",
        description="Simulate OPM, NV and SQUID magnetometers on the head, and what can "
        "be localised from them.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also after the command)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_info_parser, add_budget_parser, add_compare_parser,
                add_simulate_parser, add_sweep_parser, add_design_parser):
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run ``qsense`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    A bad setting exits (``SystemExit``) with 2, an error during the run with 1, each
    after one line on stderr (with ``--debug``: after the traceback).
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = ["qsense", *argv]
    prog = f"{parser.prog} {args.command}"
    debug = getattr(args, "debug", False)
    try:
        rc = args.func(args)
    except UsageError as err:
        if debug:
            import traceback

            traceback.print_exc()
        parser.exit(2, f"{prog}: error: {_one_line(err)}\n")
    except BrokenPipeError:  # the reader (e.g. `| head`) closed the pipe: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        parser.exit(130, f"{prog}: interrupted\n")
    except Exception as err:
        if debug:
            raise
        text = _one_line(err)
        parser.exit(1, f"{prog}: error: {type(err).__name__}{': ' + text if text else ''} "
                       "(run with --debug for the traceback)\n")
    return rc if isinstance(rc, int) else 0
