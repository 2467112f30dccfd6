"""``nnx-conformance check``: grades learners' ``pure_state_update`` files, each in its own child.

The flow for one solution (:func:`check_solution`):

1. ``workers`` :class:`~conformance.check.sandbox.Sandbox` children start at once (default: one
   per core, at most two), forked from one process that imports JAX and Flax for all of them
   (the command line starts them before it imports this module); meanwhile the parent draws the
   graded cases (``_draw``: the shared cases in the default PRNG mode plus a fixed panel that
   tells the mutants apart).
2. The shape groups are split between the children (``_schedule``: whole groups balanced by
   estimated cost, since a new shape's trace and lowering is most of a child's work), and a
   child out of groups takes one from the back of the other's queue. Each child imports the
   solution and calls it on its cases, one group per request; one parent thread per child judges
   each result while its child works on the next case (``_grading``). The children's outputs
   are only ever compared in this process. Their findings are merged as if one child had run
   every case in order (the earliest failing case wins).
3. On a failure, Hypothesis shrinks the counterexample against the live child that ran it
   (``_shrink``), and ``_diagnose`` names the mutant in ``mutants/`` whose outcomes the
   solution reproduces.

The result is a :class:`CheckResult`; ``_report`` renders it as text or as the versioned JSON
document (``result.schema.json``).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from conformance.check import _diagnose, _shrink
from conformance.check._draw import PANEL, draw_cases, new_salt
from conformance.check._grading import (CASE_KINDS, RESOURCE_KINDS, SHRINKABLE, Failure, Outcome,
                                        Reference, field_text, judge, read_outcome, value_text,
                                        wire_case)
from conformance.check._pool import CHECK_SHAPES
from conformance.check._schedule import split_cases
from conformance.check._subtests import subtests
from conformance.check.sandbox import (ARRAY, DEFAULT_BUDGET_S, LOAD_KINDS, MAX_SOLUTION_BYTES,
                                       MAX_WARNINGS,
                                       ChildGone, Limits, Sandbox, default_workers, read_solution,
                                       warm_cache)
from conformance.core import CHECK_CACHE, Case, cache_path, float_literal

@dataclass
class CheckResult:
    """The verdict on one solution file and everything the report shows."""

    solution: str
    verdict: str
    diagnosis: dict[str, Any] | None
    counterexample: dict[str, Any] | None
    cases: int
    shapes: int
    duration_s: float
    environment: dict[str, Any]
    warnings: list[dict[str, str]] = field(default_factory=list)
    purity: dict[str, Any] = field(
        default_factory=lambda: {"checked": False, "pure": None, "impure_cases": []})
    output: dict[str, str] = field(default_factory=lambda: {"stdout": "", "stderr": ""})
    confinement: dict[str, Any] = field(default_factory=lambda: _confinement([]))
    salt: int | None = None
    #: The submission's id (a learner's folder, a manifest's id; default: the path given).
    submission: str | None = None
    #: The SHA-256 of the submitted file's bytes (what a resumed batch compares).
    sha256: str | None = None
    #: The check as named sub-tests (``_subtests``), for partial credit.
    subtests: list[dict[str, Any]] = field(default_factory=list)
    #: What the grader left out of a notebook (magics, shell lines, top-level work).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


def _environment(hello: dict[str, Any]) -> dict[str, Any]:
    keys = ("python", "jax", "jaxlib", "flax", "numpy", "prng_mode", "x64")
    return {k: hello.get(k) for k in keys}


def _confinement(hellos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the kernel enforced in every child (the sandbox's confinement), the weakest of all.

    The hello frame is sent after the child confined itself and before the solution is
    imported, so the solution cannot have written it.
    """
    reports = [h.get("confinement") if isinstance(h.get("confinement"), dict) else {}
               for h in hellos] or [{}]

    def ints(key: str) -> list[int] | None:
        values = [r.get(key) for r in reports]
        return values if all(isinstance(v, int) and not isinstance(v, bool) for v in values) \
            else None

    def every(key: str) -> bool:
        return all(r.get(key) is True for r in reports)

    abis, users, nprocs = ints("landlock_abi"), ints("user"), ints("nproc")
    sizes, scratches, memories = ints("fsize_mb"), ints("scratch_mb"), ints("memory_mb")
    return {"landlock_abi": min(abis) if abis else None, "writes": every("writes"),
            "reads": every("reads"), "tcp": every("tcp"), "signals": every("signals"),
            "user": users[0] if users else None, "nproc": max(nprocs) if nprocs else None,
            "read_capability": any(r.get("read_capability") is True for r in reports),
            "namespaces": every("namespaces"), "fsize_mb": max(sizes) if sizes else None,
            "scratch_mb": max(scratches) if scratches else None,
            "memory_mb": max(memories) if memories else None,
            "private_cache": every("private_cache")}


def check_solution(path: str, count: int = 200, limits: Limits = Limits(),
                   shrink: bool = True, diagnose: bool = True, use_cache: bool = True,
                   workers: int | None = None, sandboxes: Sequence[Sandbox] | None = None,
                   salt: int | None = None, budget_s: float = DEFAULT_BUDGET_S,
                   hidden: Sequence[str] = (), source: bytes | None = None,
                   submission: str | None = None, notes: Sequence[str] = (),
                   cases: Sequence[Case] | None = None,
                   references: dict[tuple, Reference] | None = None) -> CheckResult:
    """Grades one solution file in isolated child processes.

    Args:
        path: the learner's ``.py`` file (it must define ``pure_state_update``).
        count: cases to draw (the fixed panel is added to them).
        limits: timeout, memory and CPU limits of each child.
        shrink: shrink a failing case with Hypothesis against the live child.
        diagnose: name the mutant the solution behaves like (runs the mutant library).
        use_cache: give the children JAX's persistent compilation cache to read (its
            ``check`` subdirectory, :data:`conformance.core.CHECK_CACHE`), warmed first by a
            trusted process if this environment has not warmed it yet.
        workers: children that split the shape groups between them (default
            :func:`~conformance.check.sandbox.default_workers`). Verdict and counterexample
            do not depend on it.
        sandboxes: children the caller already started with ``limits``, the cache of
            ``use_cache`` and ``hidden`` (so that they import JAX while the caller imports
            this module); they replace ``workers``, and the check owns and closes them.
        salt: the draw's salt (default: a fresh one); the same salt repeats a check.
        budget_s: wall-clock seconds for the solution's import and all its calls.
        hidden: further paths the children may not read (the other solutions' folders).
        source: the code to grade, if not the file's bytes (a notebook's graded code).
        submission: the submission's id (default: ``path``).
        notes: what was left out of a notebook, reported with the result.
        cases: the cases drawn from ``salt`` (a batch draws them once for all its
            solutions); drawn here if None.
        references: the reference answers of a batch, by PRNG mode and jaxlib, shared by
            its solutions (filled as needed; a batch's cases are drawn once, so each answer
            is computed once).

    Returns:
        The :class:`CheckResult`. Learner misbehaviour of any kind is a ``fail`` verdict;
        only grader errors raise.
    """
    started = time.perf_counter()
    submission = path if submission is None else submission
    path = os.path.abspath(path)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers={workers!r}, but should be an integer >= 1")
    salt = new_salt() if salt is None else salt
    cache = cache_path(use_cache, CHECK_CACHE)
    with contextlib.ExitStack() as stack:
        # The children start first: JAX imports in them while the cases are drawn here.
        if sandboxes:
            boxes = [stack.enter_context(box) for box in sandboxes]
        else:
            boxes = [stack.enter_context(box) for box in Sandbox.start(
                limits, cache, workers, hidden=[os.path.dirname(path), *hidden])]
            if cache:  # while the children import JAX; they read the cache only later
                warm_cache(cache, CHECK_SHAPES)
        if source is None:  # (raises for a file no child may be given: the boxes close)
            source = read_solution(path)
        digest = hashlib.sha256(source).hexdigest()
        workers = len(boxes)
        cases = draw_cases(count, salt) if cases is None else tuple(cases)
        shapes = len({c.shape for c in cases})
        parts = split_cases(cases, workers)
        for box in boxes[len(parts):]:
            box.close()  # fewer shape groups than children: free the spare core at once
        boxes = boxes[:len(parts)]
        state = _Run(boxes, cases, parts, budget_s, references)
        state.execute(path, source)
        failure, counterexample, diagnosis = state.failure, None, None
        if (failure is not None and failure.kind in SHRINKABLE and failure.case is not None
                and state.alive and shrink):
            failure = _shrink.shrink_failure(state, failure)
        if failure is not None:
            diagnosis = _diagnose.diagnose(
                failure, state, run_mutants=diagnose and failure.kind not in RESOURCE_KINDS,
                limits=limits, cache=cache)
            if failure.kind in CASE_KINDS or failure.case is not None:
                counterexample = _counterexample(failure, state.reference)
    # After close: the drain threads have read everything.
    output = _merge_output([box.output() for box in boxes])
    return CheckResult(
        solution=path, verdict="fail" if failure else "pass", diagnosis=diagnosis,
        counterexample=counterexample, cases=state.compared, shapes=shapes,
        duration_s=time.perf_counter() - started, environment=state.environment,
        warnings=state.warnings, purity=state.purity(), output=output,
        confinement=_confinement([w.hello for w in state.workers if w.hello is not None]),
        salt=salt, submission=submission, sha256=digest,
        subtests=subtests(cases, state.graded, state.loaded, failure is None),
        notes=list(notes))


def grader_error(path: str, error: BaseException, submission: str | None = None,
                 sha256: str | None = None) -> CheckResult:
    """The result of a solution the grader failed to grade (never the learner's doing): the
    verdict ``error``, so that a batch goes on and its exit code says the grader failed."""
    message = f"{type(error).__name__}: {error}"[:2000]
    return CheckResult(
        solution=os.path.abspath(path), verdict="error",
        diagnosis={"kind": "grader_error", "message": message, "mutant": None,
                   "also_matches": [], "hint": "The grader failed on this file; report it to "
                                               "the course staff with this message."},
        counterexample=None, cases=0, shapes=0, duration_s=0.0, environment={},
        submission=path if submission is None else submission, sha256=sha256,
        subtests=subtests((), {}, False, False))


_NOT_GRADABLE_HINTS = {
    "bad_notebook": "Save the notebook again from Jupyter or Colab (File > Download > .ipynb) "
                    "and resubmit it.",
    "not_gradable": "Submit one regular .py (at most "
                    f"{MAX_SOLUTION_BYTES // 1024} KiB) or .ipynb file, not a link or a "
                    "folder.",
}


def not_gradable(path: str, message: str, submission: str | None = None,
                 sha256: str | None = None, kind: str = "bad_notebook") -> CheckResult:
    """The result of a submission no child can be given: a notebook that cannot be read as
    one (``bad_notebook``), a link, a special or oversized file (``not_gradable``). The
    learner's doing, so a ``fail``, with the reason as its message; nothing is run."""
    if kind not in _NOT_GRADABLE_HINTS:
        raise ValueError(f"kind={kind!r}, but should be one of {sorted(_NOT_GRADABLE_HINTS)}")
    return CheckResult(
        solution=os.path.abspath(path), verdict="fail",
        diagnosis={"kind": kind, "message": message[:2000], "mutant": None,
                   "also_matches": [], "hint": _NOT_GRADABLE_HINTS[kind]},
        counterexample=None, cases=0, shapes=0, duration_s=0.0, environment={},
        submission=path if submission is None else submission, sha256=sha256,
        subtests=subtests((), {}, False, False))


def _shape_groups(cases: Sequence[Case], indices: Sequence[int]) -> list[list[int]]:
    """``indices`` (ascending) cut into runs of one shape each."""
    groups: list[list[int]] = []
    for i in indices:
        if groups and cases[groups[-1][-1]].shape == cases[i].shape:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _merge_output(outputs: list[dict[str, str]]) -> dict[str, str]:
    """The children's stdout and stderr as one: identical texts (import-time prints) once."""
    merged: dict[str, str] = {}
    for key in ("stdout", "stderr"):
        texts: list[str] = []
        for out in outputs:
            if out[key] and out[key] not in texts:
                texts.append(out[key])
        merged[key] = texts[0] if len(texts) == 1 else "".join(
            f"[process {k + 1}]\n{t}{'' if t.endswith(chr(10)) else chr(10)}"
            for k, t in enumerate(texts))
    return merged


@dataclass
class _Worker:
    """One child, the indices of the cases it runs, and what came back from it."""

    sandbox: Sandbox
    indices: list[int]
    hello: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    failures: list[tuple[int, Failure]] = field(default_factory=list)
    compared: int = 0
    gone: ChildGone | None = None
    #: Where the child died in case order: -1 before any case, the case's index, or
    #: ``math.inf`` after its last case (the 1-child rule "earlier failures win" needs it).
    gone_at: float = math.inf
    #: The index of the case in progress (``math.inf`` once all are back).
    current: float = -1
    #: Ended by the check because an earlier case (in case order) already failed for good.
    stopped: bool = False
    error: BaseException | None = None


#: The most values of a wrong output the counterexample lists (its shape says the rest).
SHOWN_VALUES = 1000
#: Failures a check keeps (the first, in case order): the verdict needs one, the diagnosis a few.
FAILURES_KEPT = 8
PANEL_IDS = frozenset(c.id for c in PANEL)


class GraderError(RuntimeError):
    """The grader failed on a solution for reasons of its own (verdict ``error``)."""


class _Stopped(Exception):
    """Raised from a child's result callback: the check no longer needs this child."""


class _Run:
    """The mutable state of one check: outcomes, the first failure, warnings, purity.

    After :meth:`execute`, ``sandbox`` is the one child kept for shrinking (the one that ran
    the failing case); the others are closed.
    """

    def __init__(self, sandboxes: Sequence[Sandbox], cases: Sequence[Case],
                 parts: Sequence[list[int]], budget_s: float = math.inf,
                 references: dict[tuple, Reference] | None = None):
        self.cases = list(cases)
        self._references = {} if references is None else references
        #: Case index -> whether it conformed, for every case judged (the sub-tests).
        self.graded: dict[int, bool] = {}
        self.budget_s = budget_s
        #: The earliest case (in case order) that failed for good: a resource failure or a
        #: child's death. Cases after it are not needed, so no child runs them any more.
        self.stop_at: float = math.inf
        self.workers = [_Worker(box, []) for box in sandboxes[:len(parts)]]
        # Each child's shape groups, in case order: a child takes its own from the front and,
        # when it has none left, one from the back of the child with the most left (work
        # stealing). A group not yet taken always comes after every group its owner took.
        self._queues = [collections.deque(_shape_groups(self.cases, part)) for part in parts]
        self.sandbox = sandboxes[0]
        self.reference: Reference | None = None
        self.environment: dict[str, Any] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.failures: list[Failure] = []
        self.failure: Failure | None = None
        self.alive = True
        self.compared = 0
        self.warnings: list[dict[str, str]] = []
        self._purity: dict[int, tuple[bool, list[str]]] = {}
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """The solution imported and its function was found: in some child, and no child
        failed to (a child killed by the check itself is not the solution's doing)."""
        loads = [w.load for w in self.workers if w.load is not None]
        return (any(load.get("ok") for load in loads)
                and all(load.get("ok") for load in loads)
                and all(w.gone is None or w.gone_at >= 0 for w in self.workers))

    def execute(self, path: str, source: bytes | None = None) -> None:
        """Loads ``path`` (or ``source``) in every child and runs each child's cases, all
        children at once."""
        threads = [threading.Thread(target=self._work, args=(w, path, source), daemon=True)
                   for w in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for w in self.workers:
            if w.error is not None:
                raise w.error  # a grader error, never the learner's
        self._merge()

    def _work(self, w: _Worker, path: str, source: bytes | None = None) -> None:
        """One child's whole session; runs in its own thread (reads release the GIL)."""
        try:
            try:
                try:
                    w.hello = w.sandbox.wait_hello()
                except ChildGone as gone:  # before any solution code: never the learner's
                    raise GraderError(f"a child did not start: {gone.detail}") from None
                if not w.hello.get("jax") or not w.hello.get("flax"):
                    raise GraderError(f"a child did not start: it could not import JAX and "
                                      f"Flax ({field_text(w.hello, 'error', 300)})")
                w.sandbox.deadline = time.monotonic() + self.budget_s
                with self._lock:
                    if self.reference is None:
                        key = (w.hello.get("prng_mode") or "partitionable",
                               value_text(w.hello.get("jaxlib"), 40) or None)
                        if key not in self._references:
                            self._references[key] = Reference(key[0], jaxlib=key[1])
                        self.reference = self._references[key]
                w.load = w.sandbox.load(path, source=source)
                if not w.load.get("ok"):
                    return
                reference = self.reference

                def on_result(local: int, header: dict, data: bytes) -> None:
                    index = w.indices[local]
                    if index > self.stop_at:
                        raise _Stopped
                    if local + 1 < len(w.indices):
                        w.current = w.indices[local + 1]
                    case = self.cases[index]
                    outcome = read_outcome(header, data, case.features)
                    w.compared += 1
                    problem = judge(outcome, case, reference.expected(case)[0])
                    self.graded[index] = problem is None  # disjoint keys: no lock needed
                    if len(w.failures) >= FAILURES_KEPT:
                        # The verdict has all it needs; the diagnosis still wants the panel.
                        if case.id in PANEL_IDS:
                            self.outcomes[case.id] = outcome
                        return
                    if problem is not None or case.id in PANEL_IDS:
                        self.outcomes[case.id] = outcome  # disjoint keys: no lock needed
                    if problem is not None:
                        w.failures.append((index, problem))
                        if problem.kind in RESOURCE_KINDS:
                            self._stop(index, w)
                            raise _Stopped

                for group in iter(lambda: self._next_group(w), None):
                    start = len(w.indices)
                    w.indices.extend(group)
                    w.current = group[0]
                    wired = [wire_case(i, self.cases[i]) for i in group]
                    _, w.end = w.sandbox.run(
                        wired, on_result=lambda local, h, d: on_result(start + local, h, d))
                w.current = math.inf
                if not w.failures:
                    # Only a child with a failing case is ever called again (to shrink it):
                    # end this one now, while the others still run, not after them.
                    w.sandbox.close()
            except _Stopped:
                w.sandbox.kill()
            except ChildGone as gone:
                if w.stopped:
                    return  # killed by the check itself (see _stop): not the learner's doing
                w.gone = gone
                if w.load is None or not w.load.get("ok"):
                    w.gone_at = -1
                elif getattr(gone, "index", None) is not None:
                    w.gone_at = w.current  # the case in progress
                self._stop(w.gone_at, w)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            w.error = exc

    def _next_group(self, w: _Worker) -> list[int] | None:
        """The next shape group for child ``w``: its own next, else one stolen from the back
        of the queue with the most cases left; None when none is left or needed."""
        with self._lock:
            own = self._queues[self.workers.index(w)]
            if own:
                group = own.popleft()
            else:
                victim = max(self._queues, key=lambda q: sum(map(len, q)))
                if not victim:
                    return None
                group = victim.pop()
            return None if group[0] > self.stop_at else group

    def _stop(self, index: float, by: _Worker) -> None:
        """Case ``index`` failed for good: no child runs a later case (in case order) any more.

        A child busy with a later case is killed at once, so that a memory bomb, a hang or an
        exhausted budget is judged in seconds; a child still on earlier cases goes on, so the
        verdict is the one a single child running every case in order would reach.
        """
        with self._lock:
            if index >= self.stop_at:
                return
            self.stop_at = index
            for w in self.workers:
                if w is not by and w.current > index and not w.stopped:
                    w.stopped = True
                    w.sandbox.kill()

    def _merge(self) -> None:
        """Combines the children's findings exactly as one child running every case would."""
        first = next((w for w in self.workers if w.hello is not None), None)
        if first is not None:
            self.environment = _environment(first.hello)
        for w in self.workers:
            if w.load is not None:
                self._add_warnings(w.load)
        for k, w in enumerate(self.workers):
            if w.end is not None:
                self._end(k, w.end)
        self.compared = sum(w.compared for w in self.workers)
        # Each child keeps its first FAILURES_KEPT failures; the first FAILURES_KEPT of their
        # union are the first FAILURES_KEPT a single child would have met.
        found = sorted((f for w in self.workers for f in w.failures),
                       key=lambda f: f[0])[:FAILURES_KEPT]
        self.failures = [f for _, f in found]
        self.alive = all(w.gone is None for w in self.workers)
        bad_load = next((w for w in self.workers if w.load is not None and not w.load.get("ok")
                         and w.gone is None), None)
        deaths = sorted((w for w in self.workers if w.gone is not None),
                        key=lambda w: w.gone_at)
        keep = self.workers[0]
        if deaths and deaths[0].gone_at < 0:
            self.failure = Failure(deaths[0].gone.kind, None, deaths[0].gone.detail)
        elif bad_load is not None:
            kind = bad_load.load.get("kind")
            kind = kind if kind in LOAD_KINDS else "protocol"
            self.failure = Failure(kind, None, _load_message(bad_load.load))
        elif found and (not deaths or found[0][0] < deaths[0].gone_at):
            self.failure = found[0][1]
            keep = next(w for w in self.workers if any(f is self.failure for _, f in w.failures))
        elif deaths:
            gone, at = deaths[0].gone, deaths[0].gone_at
            case = self.cases[int(at)] if at != math.inf else None
            self.failure = Failure(gone.kind, case, gone.detail)
        self.sandbox = keep.sandbox
        for w in self.workers:
            if w is not keep:
                w.sandbox.close()  # only the kept child may still be needed: free its core

    def call(self, cases: Sequence[Case]) -> list[Outcome]:
        """Runs ``cases`` in the kept child; raises :class:`ChildGone`."""
        frames, end = self.sandbox.run([wire_case(i, c) for i, c in enumerate(cases)])
        keep = next(k for k, w in enumerate(self.workers) if w.sandbox is self.sandbox)
        self._end(keep, end)
        out = [read_outcome(h, d, c.features) for (h, d), c in zip(frames, cases)]
        for case, outcome in zip(cases, out):
            self.outcomes[case.id] = outcome
        return out

    def _end(self, worker: int, end: dict) -> None:
        self._add_warnings(end)
        purity = end.get("purity")
        if isinstance(purity, dict):
            impure = purity.get("impure_cases")
            self._purity[worker] = (bool(purity.get("checked")), [
                value_text(i, 20) for i in impure[:20]]
                if isinstance(impure, list) else [])

    def _add_warnings(self, header: dict) -> None:
        items = header.get("warnings")
        if not isinstance(items, list):
            return
        seen = {(w["category"], w["message"]) for w in self.warnings}
        for item in items[:MAX_WARNINGS]:
            if len(self.warnings) >= MAX_WARNINGS:
                return  # the documented cap holds for the merged list too
            if isinstance(item, dict):
                w = {k: field_text(item, k, 300) for k in ("category", "message", "where")}
                if (w["category"], w["message"]) not in seen:
                    seen.add((w["category"], w["message"]))
                    self.warnings.append(w)

    def purity(self) -> dict[str, Any]:
        """Checked only if every child that ran cases reported on purity (as one child would)."""
        ran = [k for k, w in enumerate(self.workers) if w.load and w.load.get("ok")]
        if not ran or not all(self._purity.get(k, (False, []))[0] for k in ran):
            return {"checked": False, "pure": None, "impure_cases": []}
        impure = sorted({i for k in ran for i in self._purity[k][1]},
                        key=lambda i: (len(i), i))[:20]
        return {"checked": True, "pure": not impure, "impure_cases": impure}


def _load_message(header: dict[str, Any]) -> str:
    kind = header.get("kind")
    text = functools.partial(field_text, header)
    if kind == "missing_function":
        names = header.get("names")
        names = [value_text(n, 80) for n in names[:10]] if isinstance(names, list) else []
        return ("the file defines no function named pure_state_update"
                + (f" (it defines: {', '.join(names)})" if names else ""))
    if kind == "not_callable":
        return f"pure_state_update is a {text('type')}, not a function"
    if kind == "syntax_error":
        return (f"SyntaxError on line {text('line')}: {text('message')}\n"
                f"    {text('text').rstrip()}")
    if kind not in LOAD_KINDS:
        return f"the load result was forged (kind {text('kind', 40)!r})"
    detail = f"{text('exc_type')}: {text('message')}"
    trace = text("traceback")
    return f"importing the file raised {detail}" + (f"\n{trace}" if trace else "")


def _counterexample(failure: Failure, reference: Reference | None) -> dict[str, Any] | None:
    case = failure.case
    if case is None:
        return None
    info: dict[str, Any] = {
        "case": case.id, "seed": case.seed, "float_args": case.float_args, "x": list(case.x),
        "features": case.features, "scale": case.scale, "message": failure.message,
        "reproducer": reproducer(case)}
    if reference is not None:
        exp, one = reference.expected(case)
        info["expected"] = [float(v) for v in one]
        info["accepted"] = [exp.describe(j) for j in range(exp.value.shape[0])]
    outcome = failure.outcome
    if outcome is not None and outcome.status == ARRAY and outcome.value is not None:
        values = np.asarray(outcome.value, np.float64).reshape(-1)
        info["actual"] = [float(v) for v in values[:SHOWN_VALUES]]
        info["actual_dtype"], info["actual_shape"] = outcome.dtype, list(outcome.shape)
    elif outcome is not None:
        info["actual"] = outcome.summary()
        if outcome.status == ARRAY:
            info["actual_dtype"], info["actual_shape"] = outcome.dtype, list(outcome.shape)
    return info


def reproducer(case: Case) -> str:
    """A snippet a learner can paste under their own function to recompute the case."""
    seed = f"{float(case.seed)!r}" if case.float_args else str(case.seed)
    feats = f"{float(case.features)!r}" if case.float_args else str(case.features)
    xs = ", ".join(float_literal(v) for v in case.x)
    return ("import jax.numpy as jnp\n"
            f"x = jnp.array([{xs}], dtype=jnp.float32)\n"
            f"print(pure_state_update({seed}, x, {feats}, {float_literal(case.scale)}))")
