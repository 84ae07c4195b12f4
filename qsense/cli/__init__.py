"""The ``qsense`` application: the command line and the comparison report.

One module per command (:mod:`~qsense.cli.info`, :mod:`~qsense.cli.budget`,
:mod:`~qsense.cli.compare`) and the HTML report (:mod:`~qsense.cli.report`). This package
is the only part of ``qsense`` that imports ``inverse``.
"""

from __future__ import annotations

import argparse

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(ValueError):
    """A bad command-line setting; :func:`main` prints it on one line and exits with 2.

    The message names the option (``argument --sensor: ...``), the value and why.
    """


def build_parser() -> argparse.ArgumentParser:
    """The ``qsense`` argument parser with every subcommand."""
    from .budget import add_budget_parser
    from .compare import add_compare_parser
    from .info import add_info_parser

    parser = argparse.ArgumentParser(
        prog="qsense",
        description="Simulate OPM, NV and SQUID magnetometers on the head, and what can "
        "be localised from them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_info_parser, add_budget_parser, add_compare_parser):
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run ``qsense`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except UsageError as err:
        parser.exit(2, f"{parser.prog} {args.command}: error: {err}\n")
    except BrokenPipeError:  # the reader (e.g. `| head`) closed the pipe: not an error
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return rc if isinstance(rc, int) else 0
