"""The ``check`` subcommand: ``nnx-conformance check SOLUTION.py [MORE.py ...]``.

Exit codes: 0 every solution conforms; 1 at least one does not (whatever it did: wrong values,
exceptions, syntax errors, timeouts, exits, memory); 2 usage or grader errors only (a file that
does not exist, bad flags), always with a message naming the flag or path, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

MIN_MEMORY_MB = 2048  # below this XLA's JIT cannot map its code sections (measured)
MAX_WORKERS = 32  # each child maps ~1.6 GB and imports JAX: more only adds start-up cost


def _bounded(flag: str, kind: type, low: float, high: float, domain: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}={text!r}, but should be {domain}") from None
        if not (low <= value <= high) or (isinstance(value, float) and value != value):
            raise argparse.ArgumentTypeError(f"{flag}={text!r}, but should be {domain}")
        return value
    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``check`` to the ``nnx-conformance`` command line."""
    p = subparsers.add_parser(
        "check", help="grade learner solution files, each isolated in its own process",
        description="Grade each SOLUTION.py (defining pure_state_update) in an isolated child "
                    "process. Exit 0 if all conform, 1 if any does not, 2 on usage errors.")
    p.add_argument("solutions", nargs="+", metavar="SOLUTION.py", help="learner files")
    p.add_argument("--cases", type=_bounded("--cases", int, 1, 100_000,
                                            "an integer in [1, 100000]"), default=200,
                   help="cases to draw per solution (default 200; a fixed panel of 12 is added)")
    p.add_argument("--json", metavar="PATH",
                   help="write the versioned JSON result (schema nnx-conformance/check/1) to "
                        "PATH ('-': stdout, the text report then goes to stderr)")
    p.add_argument("--timeout", type=_bounded("--timeout", float, 0.1, 3600.0,
                                              "a number of seconds in [0.1, 3600]"),
                   default=10.0, help="wall-clock seconds for the import and for each call "
                                      "(default 10)")
    p.add_argument("--memory", type=_bounded("--memory", int, MIN_MEMORY_MB, 1 << 20,
                                             f"an integer number of MB >= {MIN_MEMORY_MB} (JAX "
                                             "alone maps about 1.6 GB)"),
                   default=4096, help="address-space limit of each child in MB (default 4096)")
    p.add_argument("--workers", type=_bounded("--workers", int, 1, MAX_WORKERS,
                                              f"an integer in [1, {MAX_WORKERS}]"),
                   default=None, help="child processes that split each solution's cases "
                                      "(default min(2, number of CPUs))")
    p.add_argument("--no-shrink", action="store_true", help="report the first failing case "
                                                            "without shrinking it")
    p.add_argument("--no-diagnose", action="store_true",
                   help="do not run the mutant library to name the mistake")
    p.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``check``; returns the exit code."""
    for path in args.solutions:
        if not os.path.isfile(path):
            print(f"nnx-conformance check: SOLUTION.py={path!r}, but should be an existing "
                  "file", file=sys.stderr)
            return 2
    if args.json and args.json != "-":
        parent = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(parent):
            print(f"nnx-conformance check: --json={args.json!r}, but should be a path in an "
                  "existing directory (or '-')", file=sys.stderr)
            return 2
    from conformance.check.sandbox import Limits, Sandbox, default_workers
    from conformance.core import CHECK_CACHE, cache_path

    cpu = int(60 + 4 * args.timeout + args.cases)  # backstop only; the timeouts act first
    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory, cpu_s=cpu)
    started = time.perf_counter()
    # The first solution's children start before the harness (NumPy, Hypothesis) is imported:
    # their JAX import is most of a warm check's start-up, and it now overlaps ours.
    first = Sandbox.start(limits, cache_path(True, CHECK_CACHE), args.workers or default_workers())
    try:
        from conformance.check._grader import check_solution
        from conformance.check._report import render_text, write_json
    except BaseException:
        for box in first:
            box.close()
        raise
    stream = sys.stderr if args.json == "-" else sys.stdout
    results = []
    for k, path in enumerate(args.solutions):
        result = check_solution(path, count=args.cases, limits=limits,
                                shrink=not args.no_shrink, diagnose=not args.no_diagnose,
                                workers=args.workers, sandboxes=first if k == 0 else None)
        render_text(result, stream)
        results.append(result)
    if len(results) > 1:
        minutes = (time.perf_counter() - started) / 60
        passed = sum(r.ok for r in results)
        print(f"{passed}/{len(results)} solutions conform; "
              f"{len(results) / minutes:.1f} solutions per minute", file=stream)
    if args.json:
        write_json(results, args.json)
    return 0 if all(r.ok for r in results) else 1
