"""The ``run`` subcommand: ``nnx-conformance run [--cases N] [--impl NAME ...] ...``."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterator

from conformance.core import PROFILES


class _ImplementationNames:
    """``--impl``'s choices, read from the registry only when argparse uses them.

    The registry imports NumPy; ``check`` starts its children before that (see
    ``conformance.core``'s config).
    """

    @staticmethod
    def _names() -> list[str]:
        from implementations import IMPLEMENTATIONS

        return sorted(IMPLEMENTATIONS)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cases={text!r}, but should be an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"--cases={value}, but should be an integer >= 1")
    return value


def _run(args: argparse.Namespace) -> int:
    from conformance.core import collect
    from conformance.differential._report import render_text, write_json
    from conformance.differential._runner import run

    print(f"drawing {args.cases} cases (profile {args.profile})...", file=sys.stderr)
    cases = collect(args.cases, args.profile)
    result = run(cases, names=args.impl or None, progress=not args.quiet)
    render_text(result, stream=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        write_json(result, args.json)
    return 0 if result.ok else 1


def register(subparsers: Any) -> None:
    """Adds ``run`` to the ``nnx-conformance`` command line."""
    run = subparsers.add_parser(
        "run", help="run every implementation and oracle on the shared cases",
        description="Run every available implementation and metamorphic relation on the shared "
                    "cases; exit 0 only if all agree.")
    run.add_argument("--cases", type=_positive, default=500,
                     help="number of cases to draw (default 500)")
    run.add_argument("--impl", nargs="+", choices=_ImplementationNames(), metavar="NAME",
                     help="implementations to run (default: all of %(choices)s)")
    run.add_argument("--profile", choices=PROFILES, default="ci",
                     help="Hypothesis profile: dev (random), ci (derandomized, default), "
                          "thorough (more shapes)")
    run.add_argument("--json", metavar="PATH", help="also write the result as JSON ('-': stdout)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.set_defaults(handler=_run)
