"""``nnx-conformance matrix``: run the tox version matrix and report it as Markdown and HTML.

This command runs the envs (``tox p``) or, with ``--collect``, takes the env reports already
there (each env's JSON, from this machine or from CI jobs), and writes ``report.md``, a
self-contained ``report.html`` and a machine-readable ``report.json`` beside them: each env's
verdicts first (green or not, and why), the purity facts, and every behaviour change between
neighbouring envs (ordered by Flax, JAX, Python, NumPy) with its one cause.

    python -m conformance.matrix                 # the whole matrix, two envs at a time
    python -m conformance.matrix -m ci           # a tox label
    python -m conformance.matrix -e py311-flax0.12.9-jax0.10.3   # one (new) env
    python -m conformance.matrix --collect       # re-render from existing JSON
    python -m conformance.matrix --workflow      # regenerate .github/workflows/matrix.yml

Exit codes: 0 every env ran and conforms, 1 an env failed or disagrees, 2 usage error.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any, Sequence

from conformance.matrix._render import write_reports
from conformance.matrix._results import DEFAULT_RESULTS, load_results, run_tox, tox_env_list
from conformance.matrix._verdicts import env_ok
from conformance.matrix._workflow import write_workflow


def _split_envs(values: Sequence[str] | None) -> list[str]:
    return [e for value in values or [] for e in value.split(",") if e]


def handle(args: argparse.Namespace) -> int:
    """Runs (unless ``--collect``) and reports; returns the exit code."""
    if args.workflow:
        print(f"matrix: wrote {write_workflow()} ({len(tox_env_list())} envs of tox.ini)")
        return 0
    envs = _split_envs(args.env)
    tox_code = 0
    if not args.collect:
        tox_code = run_tox(envs, args.label, args.parallel)
    # A new env is reported among its neighbours: the envs of tox.ini plus the ones asked for
    # (reports of envs since removed from tox.ini are left out, unless --collect reads a
    # directory of its own).
    known = tox_env_list() if args.results == DEFAULT_RESULTS else []
    reports = load_results(args.results, (known + envs) if known else None)
    if not reports:
        print(f"matrix: results={args.results} holds no env report, but should hold at least "
              f"one (run without --collect, or pass --results)", file=sys.stderr)
        return 1
    md, page, data = write_reports(reports, args.out or args.results / "report")
    failing = [r["env"] for r in reports if not env_ok(r)]
    print(f"matrix: {len(reports)} envs, {len(failing)} failing"
          f"{': ' + ', '.join(failing) if failing else ''}; tox exit {tox_code}\n"
          f"matrix: wrote {md}, {page} and {data}")
    return 0 if tox_code == 0 and not failing else 1


def register(subparsers: Any) -> None:
    """Adds the ``matrix`` subcommand to an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "matrix", help="run the tox version matrix and write its compatibility report",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-e", "--env", action="append", metavar="ENV",
                        help="tox env(s) to run and report (repeat or comma-separate; "
                             "default: all of tox.ini's env_list)")
    parser.add_argument("-m", "--label", help="run a tox label instead (e.g. ci)")
    parser.add_argument("--collect", action="store_true",
                        help="do not run tox; report the JSON already in --results")
    parser.add_argument("--workflow", action="store_true",
                        help="only regenerate the GitHub Actions workflow from tox.ini")
    parser.add_argument("--results", type=pathlib.Path, default=DEFAULT_RESULTS,
                        help=f"where the envs' JSON is (default {DEFAULT_RESULTS})")
    parser.add_argument("--out", type=pathlib.Path,
                        help="report path without suffix (default RESULTS/report)")
    parser.add_argument("-p", "--parallel", type=int, default=2,
                        help="envs at a time (default 2; this machine has 2 cores)")
    parser.set_defaults(handler=handle)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.matrix``: the subcommand without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m conformance.matrix")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["matrix", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
