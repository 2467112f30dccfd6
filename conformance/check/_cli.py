"""The ``check`` subcommand: ``nnx-conformance check SOLUTION.py [MORE.py ...]``.

Exit codes: 0 every solution conforms; 1 at least one does not (whatever it did: wrong values,
exceptions, syntax errors, timeouts, exits, memory); 2 usage or grader errors only (a file that
does not exist, bad flags), always with a message naming the flag or path, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

from conformance.check.sandbox import DEFAULT_BUDGET_S

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


FORMATS = ("json", "gradescope", "prairielearn", "junit")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``check``, ``merge`` and ``warm`` to the ``nnx-conformance`` command line."""
    p = subparsers.add_parser(
        "check", help="grade learners' files or notebooks, each isolated in its own processes",
        description="Grade each submission (a .py file or a notebook defining "
                    "pure_state_update; a class folder; a glob; a manifest) in isolated child "
                    "processes. Exit 0 if all conform, 1 if any does not, 2 on usage or grader "
                    "errors.")
    p.add_argument("solutions", nargs="*", metavar="INPUT",
                   help="a .py or .ipynb file, a class folder (one file or one folder per "
                        "learner), or a quoted glob pattern")
    p.add_argument("--manifest", metavar="CSV", help="a CSV of submission id (column 'id' or "
                   "'submission') to file (column 'path' or 'file')")
    p.add_argument("--cases", type=_bounded("--cases", int, 1, 100_000,
                                            "an integer in [1, 100000]"), default=200,
                   help="cases to draw per solution (default 200; a fixed panel of 17 is added)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="the result file's format (default json): json (schema "
                        "nnx-conformance/check/1), gradescope or prairielearn (results.json "
                        "of one submission), junit (XML)")
    p.add_argument("--output", metavar="PATH", help="where the result file goes ('-': stdout, "
                   "the text report then goes to stderr)")
    p.add_argument("--json", metavar="PATH",
                   help="the same as --format json --output PATH")
    p.add_argument("--config", metavar="TOML", help="the instructor's grading config: points "
                   "per sub-test and what a learner is shown (see docs/check.md)")
    p.add_argument("--log", metavar="JSONL", help="stream each result to this JSON Lines log "
                   "as it finishes; a rerun with the same log skips submissions whose content "
                   "it has already graded (resume)")
    p.add_argument("--shard", metavar="I/N", help="grade only shard I of N (0 <= I < N; "
                   "'N' or 'auto/N' reads I from JOB_COMPLETION_INDEX); merge the shards' "
                   "logs with 'nnx-conformance merge'")
    p.add_argument("--gradebook", metavar="CSV", help="also write a gradebook CSV (submission,"
                   " score, max_score, verdict, mistake, sha256, salt)")
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
                                        "(default: a fresh one per run, recorded in the "
                                        "result; all the submissions of one run get the same "
                                        "cases)")
    p.set_defaults(handler=run_check)
    m = subparsers.add_parser(
        "merge", help="combine the logs of a sharded batch into one report and gradebook",
        description="Merge the JSON Lines logs that 'check --log' wrote (one per shard) into "
                    "one result file and gradebook, exactly as one unsharded run would.")
    m.add_argument("logs", nargs="+", metavar="LOG.jsonl")
    m.add_argument("--format", choices=FORMATS, default="json")
    m.add_argument("--output", metavar="PATH", help="the merged result file ('-': stdout)")
    m.add_argument("--gradebook", metavar="CSV", help="the gradebook CSV")
    m.add_argument("--config", metavar="TOML", help="the grading config (points, visibility)")
    m.set_defaults(handler=run_merge)
    w = subparsers.add_parser(
        "warm", help="prepare the check's compilation cache for this environment",
        description="Compile the statement's recipe over the check's shape pool into the "
                    "cache the checks' children read (they never write it). A check does this "
                    "by itself the first time; run it in a grader image's build.")
    w.set_defaults(handler=run_warm)
    from conformance.check._image import register as register_image

    register_image(subparsers)


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


def _usage(flag: str, value: Any, problem: str) -> int:
    print(f"nnx-conformance: {flag}={value!r}, but should be {problem}", file=sys.stderr)
    return 2


def _outputs(args: argparse.Namespace) -> tuple[str, str | None] | int:
    """``(format, output path)`` from ``--format/--output/--json``, or a usage error's code."""
    fmt, output = args.format, args.output
    if args.json is not None:
        if output is not None or fmt not in (None, "json"):
            return _usage("--json", args.json, "used alone (it means --format json --output "
                          "PATH; give those two instead)")
        fmt, output = "json", args.json
    fmt = fmt or "json"
    if fmt != "json" and output is None:
        return _usage("--output", None, f"a path for the {fmt} results (or '-')")
    for flag, target in (("--output", output), ("--gradebook", args.gradebook)):
        if target and target != "-":
            problem = _unwritable(target)
            if problem:
                return _usage(flag, target, problem)
    return fmt, output


def _settings(args: argparse.Namespace, config_path: str | None) -> dict[str, Any]:
    """What makes two gradings comparable (a resumed log must have been written with these)."""
    import hashlib
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    digest = None
    if config_path:
        with open(config_path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    return {"cases": args.cases, "timeout": args.timeout, "budget": args.budget,
            "memory": args.memory, "shrink": not args.no_shrink,
            "diagnose": not args.no_diagnose, "config": digest,
            "grader": version("nnx-conformance"), "jax": version("jax"),
            "jaxlib": version("jaxlib"), "flax": version("flax"),
            "prng": os.environ.get("JAX_THREEFRY_PARTITIONABLE"),
            "x64": os.environ.get("JAX_ENABLE_X64")}


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``check``; returns the exit code. Every usage error (inputs, flags, output
    paths, config, log) is found before anything is graded."""
    from conformance.check import _batch, _platforms

    if not args.solutions and not args.manifest:
        return _usage("INPUT", None, "at least one file, folder or pattern (or --manifest)")
    outputs = _outputs(args)
    if isinstance(outputs, int):
        return outputs
    fmt, output = outputs
    try:
        config = _platforms.load_config(args.config)
        submissions = _batch.discover(args.solutions, args.manifest)
        part = _batch.parse_shard(args.shard)
    except (ValueError, OSError) as exc:
        print(f"nnx-conformance check: {exc}", file=sys.stderr)
        return 2
    if part is not None:
        submissions = _batch.shard(submissions, *part)
    if fmt in ("gradescope", "prairielearn") and len(submissions) != 1:
        return _usage("INPUT", f"{len(submissions)} submissions",
                      f"exactly one for --format {fmt} (it grades one submission per run)")
    log = None
    if args.log:
        try:
            log = _batch.ResultLog(args.log, _settings(args, args.config))
        except (ValueError, OSError) as exc:
            print(f"nnx-conformance check: --log: {exc}", file=sys.stderr)
            return 2
    try:
        return _grade(args, submissions, log, config, fmt, output)
    finally:
        if log is not None:
            log.close()


def _grade(args: argparse.Namespace, submissions: list, log: Any, config: Any, fmt: str,
           output: str | None) -> int:
    """Grades ``submissions`` (skipping those ``log`` has graded), then writes the outputs."""
    from conformance.check import _batch
    from conformance.check._pool import CHECK_SHAPES
    from conformance.check.sandbox import (
        ChildGone,
        Limits,
        SandboxPool,
        default_workers,
        warm_cache,
    )
    from conformance.core import CHECK_CACHE, cache_path

    stream = sys.stderr if output == "-" else sys.stdout
    keys: dict[str, str | None] = {}
    for sub in submissions:
        try:
            keys[sub.id] = None if sub.problem else _batch.content_key(sub.path)
        except ValueError:
            keys[sub.id] = None
    done = log.done({k: v for k, v in keys.items() if v}) if log is not None else {}
    todo = [s for s in submissions if s.id not in done]
    progress = _batch.Progress(len(submissions), sys.stderr)
    results: dict[str, dict] = {}
    for sub in submissions:
        if sub.id in done:
            results[sub.id] = done[sub.id]
            if len(submissions) > 1:
                progress.done(done[sub.id], resumed=True)
    # One solution alone gets the cores (its shape groups split between its children); a
    # class is graded several solutions at once, one child each: each child then starts one
    # JAX backend and builds each features value's programs once, not once per child.
    cores = default_workers()
    if args.workers is not None or len(todo) < 2:
        workers, lanes = args.workers or cores, 1
    else:
        workers, lanes = 1, min(cores, len(todo))
    cpu = int(60 + 4 * args.timeout + args.cases)  # backstop only; the timeouts act first
    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory, cpu_s=cpu)
    started = time.perf_counter()
    if todo:
        cache = cache_path(True, CHECK_CACHE)
        hidden = sorted({os.path.dirname(os.path.abspath(s.path)) for s in todo})
        # The pool's zygote imports JAX and Flax once for the whole batch, while this process
        # imports the harness (NumPy, Hypothesis); every solution's children fork from it.
        pool = SandboxPool(limits, cache, hidden=hidden)
        pool_lock = threading.Lock()

        def start() -> list | BaseException:
            """The next solution's children; a new pool if this one's zygote is gone (no
            learner can reach it, but the grader must not depend on that); the error if
            that fails too (the solution then gets a grader error, the batch goes on)."""
            nonlocal pool
            with pool_lock:
                try:
                    return pool.start(workers)
                except ChildGone:
                    pool.close()
                    try:
                        pool = SandboxPool(limits, cache, hidden=hidden)
                        return pool.start(workers)
                    except Exception as exc:  # noqa: BLE001 - reported per solution
                        return exc

        try:
            _warm(cache, CHECK_SHAPES, warm_cache)
            from conformance.check._draw import draw_cases, new_salt
            from conformance.check._grader import grader_error
            from conformance.check._report import render_text, result_dict

            salt = new_salt() if args.seed is None else args.seed
            cases = draw_cases(args.cases, salt)
            references: dict = {}

            queue = list(reversed(todo))
            lock = threading.Lock()
            stopped: list[int] = []

            def report(sub: Any, result: Any) -> None:
                render_text(result, stream)
                record = result_dict(result)
                results[sub.id] = record
                if log is not None and not stopped:
                    try:
                        log.append(record)
                    except (OSError, ValueError) as exc:  # earlier lines are on disk
                        stopped.append(2)
                        print(f"nnx-conformance check: --log={log.path!r}, but should be "
                              f"writable ({exc}); stopped after {len(results)} of "
                              f"{len(todo)}, rerun with the same log to resume",
                              file=sys.stderr)
                if len(submissions) > 1:
                    progress.done(record)

            lane_errors: list[BaseException] = []

            def lane() -> None:
                """Grades submissions off the queue one after another; the next one's
                children fork and confine themselves while this one is reported."""
                boxes = start()
                try:
                    while True:
                        with lock:
                            sub = queue.pop() if queue and not stopped else None
                            more = bool(queue)
                        if sub is None:
                            break
                        result = _check_one(args, sub, limits, boxes, salt, cases,
                                            references, hidden, workers)
                        boxes = start() if more else []
                        with lock:
                            report(sub, result)
                except BaseException as exc:  # noqa: BLE001 - the grader's own failure
                    lane_errors.append(exc)
                finally:
                    for box in boxes if isinstance(boxes, list) else []:
                        box.close()

            threads = [threading.Thread(target=lane, daemon=True) for _ in range(lanes)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for sub in todo if lane_errors else []:  # never a result lost: say what failed
                if sub.id not in results:
                    record = result_dict(grader_error(sub.path, lane_errors[0], sub.id))
                    results[sub.id] = record
            if stopped:
                return 2
        finally:
            pool.close()
    ordered = [results[s.id] for s in submissions]
    if len(todo) > 1:
        minutes = (time.perf_counter() - started) / 60
        print(f"{sum(r['verdict'] == 'pass' for r in ordered)}/{len(ordered)} solutions "
              f"conform; {len(todo) / minutes:.1f} solutions per minute", file=stream)
    return _finish(ordered, fmt, output, args.gradebook, config)


def _check_one(args: argparse.Namespace, sub: Any, limits: Any, boxes: Any, salt: int,
               cases: Any, references: dict, hidden: list[str], workers: int) -> Any:
    """One submission's result (never raises: a grader error is a result too), graded in
    ``boxes`` (or the error that kept them from starting). Its bytes are read once: what is
    hashed is what is graded."""
    import hashlib

    from conformance.check._grader import check_solution, grader_error, not_gradable
    from conformance.check.sandbox import (
        MAX_SOLUTION_BYTES,
        read_solution,
        solution_problem,
    )

    def close() -> None:
        for box in boxes if isinstance(boxes, list) else []:
            box.close()

    key = None
    try:
        if isinstance(boxes, BaseException):
            raise boxes
        notebook = sub.path.endswith(".ipynb")
        if notebook:
            from conformance.check._notebook import MAX_NOTEBOOK_BYTES as limit
        else:
            limit = MAX_SOLUTION_BYTES
        problem = sub.problem or solution_problem(sub.path, limit)
        if problem:
            close()
            return not_gradable(sub.path, f"{sub.id}: {problem}", sub.id, None, "not_gradable")
        notes: list[str] = []
        if notebook:
            from conformance.check._notebook import NotebookError, notebook_source

            data = read_solution(sub.path, limit)
            key = hashlib.sha256(data).hexdigest()
            try:
                source, notes = notebook_source(sub.path, data)
            except NotebookError as exc:
                close()
                return not_gradable(sub.path, str(exc), sub.id, key)
        else:
            source = read_solution(sub.path)
            key = hashlib.sha256(source).hexdigest()
        result = check_solution(sub.path, count=args.cases, limits=limits, workers=workers,
                                shrink=not args.no_shrink, diagnose=not args.no_diagnose,
                                sandboxes=boxes, salt=salt, budget_s=args.budget,
                                hidden=hidden, source=source, submission=sub.id, notes=notes,
                                cases=cases, references=references)
        result.sha256 = key
        return result
    except Exception as exc:  # noqa: BLE001 - a grader error on one file: grade the rest
        close()
        return grader_error(sub.path, exc, sub.id, key)


def _finish(results: list[dict], fmt: str, output: str | None, gradebook: str | None,
            config: Any) -> int:
    """Writes the result file and the gradebook; the exit code of the whole batch."""
    from conformance.check import _batch, _platforms

    from conformance.check._report import write_json, write_text

    if output is not None and fmt == "json":
        write_json(results, output)
    elif output is not None:
        write_text(_platforms.render(results, fmt, config), output)
    if gradebook:
        rows = []
        for r in results:
            score, top = _platforms.score(r, config)
            diagnosis = r.get("diagnosis") or {}
            rows.append({"submission": r.get("submission"), "score": score, "max_score": top,
                         "verdict": r.get("verdict"),
                         "mistake": diagnosis.get("mutant") or diagnosis.get("kind") or "",
                         "sha256": r.get("sha256"), "salt": r.get("salt")})
        _batch.write_gradebook(rows, gradebook)
    if any(r["verdict"] == "error" for r in results):
        return 2
    return 0 if all(r["verdict"] == "pass" for r in results) else 1


def run_merge(args: argparse.Namespace) -> int:
    """Handler of ``merge``: the shards' logs as one result file and gradebook."""
    from conformance.check import _batch, _platforms

    fmt, output = args.format, args.output
    if output is None and not args.gradebook:
        return _usage("--output", None, "a path (or '-') when no --gradebook is given")
    for flag, target in (("--output", output), ("--gradebook", args.gradebook)):
        if target and target != "-":
            problem = _unwritable(target)
            if problem:
                return _usage(flag, target, problem)
    try:
        config = _platforms.load_config(args.config)
        _, results = _batch.merge(args.logs)
    except (ValueError, OSError) as exc:
        print(f"nnx-conformance merge: {exc}", file=sys.stderr)
        return 2
    if fmt in ("gradescope", "prairielearn") and len(results) != 1:
        return _usage("--format", fmt, f"json or junit for {len(results)} submissions "
                      f"({fmt} takes one)")
    return _finish(results, fmt, output, args.gradebook, config)


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
