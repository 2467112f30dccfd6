"""The ``nnx-conformance`` command line: ``run`` (the differential run), ``check`` (grade
learners' files) and ``matrix`` (the version matrix), each registered by its own program.

Exit codes: 0 everything conforms, 1 a disagreement (or a vacuous run), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from conformance.check import register as register_check
from conformance.differential import register as register_run
from conformance.matrix import register as register_matrix


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (each program adds its own)."""
    parser = argparse.ArgumentParser(
        prog="nnx-conformance",
        description="Differential conformance suite for the NNX pure-state-update exercise.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in (register_run, register_check, register_matrix):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m conformance``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
