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
from typing import Any

from conformance.check.sandbox import DEFAULT_BUDGET_S, solution_problem

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
    p.add_argument("--budget", type=_bounded("--budget", float, 1.0, 86400.0,
                                             "a number of seconds in [1, 86400]"),
                   default=DEFAULT_BUDGET_S,
                   help="wall-clock seconds a solution may take in all: its import and every "
                        f"call (default {DEFAULT_BUDGET_S:g})")
    p.add_argument("--seed", type=_bounded("--seed", int, 0, 2**63 - 1,
                                           "an integer in [0, 2**63)"), default=None,
                   metavar="SALT", help="the salt of the cases' draw, to repeat a check exactly "
                                        "(default: a fresh one, recorded in the result)")
    p.set_defaults(handler=run_check)
    w = subparsers.add_parser(
        "warm", help="prepare the check's compilation cache for this environment",
        description="Compile the statement's recipe over the check's shape pool into the "
                    "cache the checks' children read (they never write it). A check does this "
                    "by itself the first time; run it in a grader image's build.")
    w.set_defaults(handler=run_warm)


def _unwritable(target: str) -> str | None:
    """Why the result file ``target`` cannot be written (checked before any grading)."""
    path = os.path.abspath(target)
    if os.path.isdir(path):
        return "a file path, not a directory"
    if not os.path.isdir(os.path.dirname(path)):
        return "a path in an existing directory (or '-')"
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError:
        return "a writable file path (or '-')"
    if not existed:
        os.unlink(path)
    return None


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``check``; returns the exit code."""
    for path in args.solutions:
        problem = solution_problem(path)
        if problem:
            print(f"nnx-conformance check: SOLUTION.py={path!r}, but should be {problem}",
                  file=sys.stderr)
            return 2
    if args.json and args.json != "-":
        problem = _unwritable(args.json)
        if problem:
            print(f"nnx-conformance check: --json={args.json!r}, but should be {problem}",
                  file=sys.stderr)
            return 2
    from conformance.check._pool import CHECK_SHAPES
    from conformance.check.sandbox import Limits, Sandbox, default_workers, warm_cache
    from conformance.core import CHECK_CACHE, cache_path

    cpu = int(60 + 4 * args.timeout + args.cases)  # backstop only; the timeouts act first
    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory, cpu_s=cpu)
    started = time.perf_counter()
    cache = cache_path(True, CHECK_CACHE)
    hidden = sorted({os.path.dirname(os.path.abspath(p)) for p in args.solutions})
    # The first solution's children start before the harness (NumPy, Hypothesis) is imported:
    # their JAX import is most of a warm check's start-up, and it now overlaps ours. They read
    # the cache only once a solution runs, after the warm-up (if this environment needs one).
    first = Sandbox.start(limits, cache, args.workers or default_workers(), hidden=hidden)
    try:
        _warm(cache, CHECK_SHAPES, warm_cache)
        from conformance.check._grader import check_solution, grader_error
        from conformance.check._report import render_text, write_json
    except BaseException:
        for box in first:
            box.close()
        raise
    stream = sys.stderr if args.json == "-" else sys.stdout
    results = []
    for k, path in enumerate(args.solutions):
        try:
            result = check_solution(path, count=args.cases, limits=limits,
                                    shrink=not args.no_shrink, diagnose=not args.no_diagnose,
                                    workers=args.workers, sandboxes=first if k == 0 else None,
                                    salt=args.seed, budget_s=args.budget, hidden=hidden)
        except Exception as exc:  # noqa: BLE001 - a grader error on one file: grade the rest
            result = grader_error(path, exc)
        render_text(result, stream)
        results.append(result)
    if len(results) > 1:
        minutes = (time.perf_counter() - started) / 60
        passed = sum(r.ok for r in results)
        print(f"{passed}/{len(results)} solutions conform; "
              f"{len(results) / minutes:.1f} solutions per minute", file=stream)
    if args.json:
        write_json(results, args.json)
    if any(r.verdict == "error" for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


def _warm(cache: str, shapes: Any, warm_cache: Any) -> bool:
    """Warms the children's compilation cache unless this environment did (see
    ``warm_cache``), saying so on stderr; whether the cache is warm."""
    def announce() -> None:
        print("nnx-conformance: preparing the compilation cache for this environment "
              "(once)...", file=sys.stderr, end=" ", flush=True)

    done = warm_cache(cache, shapes, announce=announce)
    if done["warmed"]:
        print(f"{'done' if done['ok'] else 'FAILED'} in {done['seconds']:.0f} s",
              file=sys.stderr, flush=True)
    return bool(done["ok"])


def run_warm(args: argparse.Namespace) -> int:
    """Handler of ``warm``: the trusted warm-up of the check's compilation cache."""
    from conformance.check._pool import CHECK_SHAPES
    from conformance.check.sandbox import warm_cache
    from conformance.core import CHECK_CACHE, cache_path

    return 0 if _warm(cache_path(True, CHECK_CACHE), CHECK_SHAPES, warm_cache) else 1
