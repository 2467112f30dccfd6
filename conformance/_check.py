"""``nnx-conformance check``: grades learners' ``pure_state_update`` files, each in its own child.

The flow for one solution (:func:`check_solution`):

1. ``workers`` :class:`~conformance._sandbox.Sandbox` children start at once (default: one per
   core, at most two), forked from one process that imports JAX and Flax for all of them (the
   command line starts them before it imports this module); meanwhile the parent draws the
   shared cases (``conformance._cases.cases(modes=(None,))``, derandomized ``ci`` profile)
   plus :data:`PANEL`, a fixed set that tells the mutants apart.
2. The shape groups are split between the children (:func:`split_cases`, whole groups balanced
   by estimated cost: a new shape's trace and lowering is most of a child's work). Each child
   imports the solution and calls it on its cases; one parent thread per child computes each
   reference while its child works on the next case: kernels from the NumPy port (bit-identical
   to JAX's, no compile), outputs judged with the bound of ``conformance._compare``. The
   children's outputs are only ever compared in this process. Their findings are merged as if
   one child had run every case in order (the earliest failing case wins).
3. On a failure, Hypothesis shrinks the counterexample against the live child that ran it
   (:mod:`conformance._check_shrink`), and :mod:`conformance._check_diagnose` names the mutant in
   ``oracles/mutants`` whose outcomes the solution reproduces.

The result is a :class:`CheckResult`; :mod:`conformance._check_report` renders it as text or as
the versioned JSON document described there and in ``docs/check.md``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from conformance._cases import SHAPE_POOL, Case, collect, float_literal, group_by_shape
from conformance._cases import cases as case_strategy
from conformance._compare import Expected, Semantics, compare_output, expected_output
from conformance._child import LOAD_KINDS
from conformance._config import CHECK_CACHE, cache_path
from conformance._sandbox import ChildGone, Limits, Sandbox, default_workers

#: Failure kinds that belong to one case (they can be shrunk and matched against mutants).
CASE_KINDS = ("wrong_values", "wrong_shape", "wrong_dtype", "wrong_type", "exception",
              "exit", "memory")

#: Fixed cases added to every check: edge scales, aliasing and negative seeds, float and int
#: arguments, a square shape (where a transposed kernel still runs). Shapes are from the pool.
PANEL: tuple[Case, ...] = (
    Case(0, (1.0, -2.0, 0.5), 4, 2.5, None, True),
    Case(7, (0.25, 1.0, -3.0), 4, -1.5, None, False),
    Case(1, (1.0, -1.0), 3, math.inf, None, True),
    Case(5, (2.0, 3.0, -1.0, 0.5), 4, -math.inf, None, True),
    Case(2, (1.0, 2.0), 3, math.nan, None, True),
    Case(3, (1.5, -0.5, 2.0, 1.0), 4, 0.0, None, False),
    Case(11, (1.0,), 1, 1e39, None, True),
    Case(2**32 + 5, (0.5, -1.0, 2.0, 4.0), 4, 3.0, None, True),
    Case(-7, (1.0, 0.5), 3, 0.5, None, False),
    Case(42, (3.0, -1.0, 2.0, 0.5, 1.0), 3, 1e38, None, True),
    Case(9, (1.0, 2.0, -1.0), 2, 1.0, None, True),
    Case(4, (-1.0, 2.0, 0.75), 4, 3.0, None, True),
)


@dataclass
class Outcome:
    """What one call of the solution produced, as read from the child.

    ``status`` is ``array`` (``value`` holds it), ``type`` (not an array: ``type_name``),
    ``error``/``exit``/``memory`` (``exc_type``, ``message``).
    """

    status: str
    value: np.ndarray | None = None
    dtype: str = ""
    shape: tuple[int, ...] = ()
    type_name: str = ""
    exc_type: str = ""
    message: str = ""
    traceback: str = ""

    def summary(self) -> str:
        if self.status == "array":
            return f"array(shape={self.shape}, dtype={self.dtype})"
        if self.status == "type":
            return f"a {self.type_name} (not an array)"
        return f"{self.exc_type}: {self.message}"[:300]


@dataclass
class Failure:
    """Why one case failed: ``kind`` plus the comparator's message."""

    kind: str
    case: Case
    message: str
    outcome: Outcome | None = None
    expected: Expected | None = None


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
    purity: dict[str, Any] = field(default_factory=dict)
    output: dict[str, str] = field(default_factory=dict)
    confinement: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


def wire_case(index: int, case: Case) -> dict[str, Any]:
    """A case as the child's request format wants it (exact: hex floats and float32 bytes)."""
    return {"i": index, "seed": case.seed, "features": case.features,
            "float_args": case.float_args, "scale": float(case.scale).hex(),
            "x": case.x_array.astype("<f4").tobytes().hex()}


def value_text(value: Any, limit: int = 2000) -> str:
    """A value from a child's frame as text for a message. The solution runs in the child and
    may forge frames, so only strings and numbers are shown as they are; anything else is
    named by its type (``str()`` of a deeply nested list would recurse in the grader)."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)[:limit]
    return f"<{type(value).__name__}>"


def field_text(header: dict[str, Any], key: str, limit: int = 2000) -> str:
    """:func:`value_text` of ``header[key]`` ("" when absent)."""
    return value_text(header.get(key), limit)


def read_outcome(header: dict[str, Any], data: bytes, features: int) -> Outcome:
    """Validates one result frame's header and data into an :class:`Outcome`."""
    status = header.get("status")
    text = functools.partial(field_text, header)
    if status == "array":
        shape = header.get("shape")
        dtype = header.get("dtype")
        if (not isinstance(shape, list) or len(shape) > 4 or not isinstance(dtype, str)
                or not all(isinstance(d, int) and 0 <= d <= 1 << 20 for d in shape)
                or 8 * math.prod(shape) != len(data)):  # exact: np.prod could wrap
            raise ChildGone("protocol", "a result frame's shape, dtype and size disagree")
        values = np.frombuffer(data, dtype="<f8").reshape(shape)
        # float64 carries every float32 (and float16/bfloat16) value exactly.
        value = values.astype(np.float32) if dtype == "float32" else values.copy()
        return Outcome("array", value, dtype[:40], tuple(shape))
    if status == "type":
        return Outcome("type", type_name=text("type"), dtype=text("dtype"))
    if status in ("error", "exit", "memory"):
        return Outcome(status, exc_type=text("exc_type"), message=text("message"),
                       traceback=text("traceback"))
    raise ChildGone("protocol", f"a result frame has an unknown status {status!r}")


class Reference:
    """Expected outputs from the NumPy port's kernels (bit-identical to JAX's initialiser)."""

    def __init__(self, prng_mode: str, fma: bool | None = None, sem: Semantics = Semantics()):
        from implementations import numpy_port

        self._init, self.mode, self.fma, self.sem = numpy_port.initial_params, prng_mode, fma, sem
        self._forward = numpy_port.forward
        self._memo: dict[str, tuple[Expected, np.ndarray]] = {}

    def expected(self, case: Case) -> tuple[Expected, np.ndarray]:
        """``(accepted results, one float32 reference output)`` for ``case``."""
        hit = self._memo.get(case.id)
        if hit is None:
            params = self._init(case.seed, len(case.x), case.features, prng_mode=self.mode,
                                fma=self.fma)
            exp = expected_output(case.x_array, params["kernel"], params["bias"], case.scale,
                                  self.sem)
            one = self._forward(case.x_array, params["kernel"], params["bias"], case.scale)
            hit = self._memo[case.id] = (exp, one)
        return hit


def judge(outcome: Outcome, case: Case, expected: Expected) -> Failure | None:
    """None when ``outcome`` conforms on ``case``, else the :class:`Failure`."""
    if outcome.status == "array":
        problems = compare_output(outcome.value, expected, "solution", case.id)
        if not problems:
            return None
        what = problems[0].what
        kind = ("wrong_shape" if what.endswith(".shape") else "wrong_dtype"
                if what.endswith(".dtype") else "wrong_values")
        return Failure(kind, case, str(problems[0]), outcome, expected)
    if outcome.status == "type":
        return Failure("wrong_type", case, f"returned {outcome.summary()}", outcome, expected)
    kind = {"error": "exception"}.get(outcome.status, outcome.status)
    return Failure(kind, case, f"raised {outcome.summary()}", outcome, expected)


#: A check of at least this many cases covers at least this many shapes (see draw_cases).
MIN_SHAPES = 25


@functools.lru_cache(maxsize=8)
def draw_cases(count: int, profile: str = "ci") -> tuple[Case, ...]:
    """The graded cases: ``count`` shared cases in the default PRNG mode, plus :data:`PANEL`.

    Hypothesis's draws from the shape pool cluster (200 derandomized draws reach 20 of its 30
    shapes), so when ``count >= MIN_SHAPES`` drawn cases are re-targeted, largest group first,
    onto the pool's smallest unused shapes until ``MIN_SHAPES`` shapes are covered: every
    other value of those cases is Hypothesis's.
    """
    drawn = list(collect(count, profile, strategy=case_strategy(modes=(None,), float_args=True)))
    if count >= MIN_SHAPES:
        groups: dict[tuple[int, int], list[int]] = {}
        for i, case in enumerate(drawn):
            groups.setdefault(case.shape, []).append(i)
        unused = sorted((s for s in SHAPE_POOL if s not in groups), key=lambda s: s[0] * s[1])
        while len(groups) < MIN_SHAPES and unused:
            biggest = max(groups.values(), key=len)
            if len(biggest) < 2:
                break
            i, shape = biggest.pop(), unused.pop(0)
            drawn[i] = _reshape(drawn[i], shape)
            groups[shape] = [i]
    seen = {c.id for c in drawn}
    return tuple(group_by_shape(drawn + [c for c in PANEL if c.id not in seen]))


#: Files whose code decides the drawn cases: a cached draw is valid only for these bytes.
_CASE_SOURCES = ("_cases.py", "_check.py")


def _case_file(count: int, profile: str, cache: str) -> str | None:
    """Where :func:`cached_cases` keeps the draw for ``(count, profile)``, or None.

    Only derandomized profiles are cached (any other draw is meant to differ each run). The
    key covers everything the draw depends on: count, profile, Python and Hypothesis versions,
    and the source of the two modules that draw and re-target the cases.
    """
    import sys

    import hypothesis
    from hypothesis import settings

    if not settings.get_profile(profile).derandomize:
        return None
    digest = hashlib.sha256(
        f"{count}|{profile}|{sys.version_info[:2]}|{hypothesis.__version__}".encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _CASE_SOURCES:
        with open(os.path.join(here, name), "rb") as source:
            digest.update(source.read())
    return os.path.join(cache.rstrip(os.sep) + "-cases", f"{digest.hexdigest()[:32]}.json")


def cached_cases(count: int, profile: str = "ci", cache: str | None = None
                 ) -> tuple[Case, ...]:
    """:func:`draw_cases`, kept on disk next to the compilation cache ``cache`` across runs.

    Drawing 200 cases costs Hypothesis about 0.5-1.8 s of the parent's CPU while the children
    import JAX on the same cores. Values are stored exactly (hex floats); an unreadable or
    inconsistent file is ignored and redrawn.
    """
    target = _case_file(count, profile, cache) if cache else None
    if target is not None:
        try:
            with open(target, encoding="utf-8") as stream:
                rows = json.load(stream)
            cases = tuple(
                Case(int(seed), tuple(float.fromhex(v) for v in x), int(features),
                     float.fromhex(scale), mode, bool(float_args))
                for seed, x, features, scale, mode, float_args in rows)
            if len(cases) >= count and len({c.id for c in cases}) == len(cases):
                return cases
        except (OSError, ValueError, TypeError, KeyError):
            pass
    cases = draw_cases(count, profile)
    if target is not None:
        rows = [[c.seed, [float(v).hex() for v in c.x], c.features, float(c.scale).hex(),
                 c.prng_mode, c.float_args] for c in cases]
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            # Atomic: a concurrent check reads either no file or a whole one.
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(rows, stream)
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only cache only costs the next check a redraw
    return cases


def _reshape(case: Case, shape: tuple[int, int]) -> Case:
    """``case`` on another shape: x cycled (or cut) to the new length, features replaced."""
    n, features = shape
    x = tuple(case.x[i % len(case.x)] for i in range(n))
    return case.replace(x=x, features=features)


def _environment(hello: dict[str, Any]) -> dict[str, Any]:
    keys = ("python", "jax", "flax", "numpy", "prng_mode", "x64")
    return {k: hello.get(k) for k in keys}


def _confinement(hellos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the kernel enforced in every child (``_child._confine``), the weakest of them.

    The hello frame is sent after the child confined itself and before the solution is
    imported, so the solution cannot have written it.
    """
    reports = [h.get("confinement") if isinstance(h.get("confinement"), dict) else {}
               for h in hellos]
    if not reports:
        return {"landlock_abi": None, "writes": False, "signals": False}
    abis = [r.get("landlock_abi") for r in reports]
    return {"landlock_abi": min(abis) if all(isinstance(a, int) for a in abis) else None,
            "writes": all(r.get("writes") is True for r in reports),
            "signals": all(r.get("signals") is True for r in reports)}


#: Estimated cost of one shape group in a child, in units of one repeated call (about 2.5 ms
#: warm, in a check): a new shape costs JAX a trace, a lowering and a cache load of the programs
#: that depend on it (initialiser, the kernel's two products, the dot: 62-70 ms, measured);
#: elements matter little (a 256x512 call takes 3.6 ms, a 3x4 one 1.9 ms). A ``features``
#: value new to a child adds the programs that depend on it alone (the bias's zeros and
#: product, the output's add: about 20 ms).
SHAPE_COST, CASE_COST, ELEMENT_COST, FEATURES_COST = 30.0, 1.0, 6e-6, 8.0


def split_cases(cases: Sequence[Case], workers: int) -> list[list[int]]:
    """Indices of ``cases`` for each child: whole shape groups, balanced by estimated cost.

    A shape is never split: its trace and compilation would then be paid in both children.
    Shapes that share ``features`` go to one child where the balance allows, so that the
    programs depending on ``features`` alone are built once: whole ``features`` blocks are
    placed largest first on the least loaded child (LPT), then a shape group moves from the
    most to the least loaded child, or swaps with one of its groups, while that lowers the
    larger of the two loads. Each child's indices stay in ascending order, so every child
    meets its cases in the order one child would.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(case.shape, []).append(i)

    def cost(shape: tuple[int, int]) -> float:
        n, features = shape
        return SHAPE_COST + len(groups[shape]) * (CASE_COST + ELEMENT_COST * n * features)

    def load(shapes: list[tuple[int, int]]) -> float:
        return sum(map(cost, shapes)) + FEATURES_COST * len({f for _, f in shapes})

    blocks: dict[int, list[tuple[int, int]]] = {}
    for shape in groups:
        blocks.setdefault(shape[1], []).append(shape)
    parts: list[list[tuple[int, int]]] = [[] for _ in range(max(1, min(workers, len(groups))))]
    for _, block in sorted(blocks.items(), key=lambda kv: (-load(kv[1]), kv[0])):
        k = min(range(len(parts)), key=lambda j: (load(parts[j]), j))
        parts[k].extend(block)
    while len(parts) > 1:
        loads = [load(p) for p in parts]
        high = max(range(len(parts)), key=lambda j: (loads[j], -j))
        low = min(range(len(parts)), key=lambda j: (loads[j], j))
        best, move = loads[high], None
        # Move one group from high to low, or swap one of high's with one of low's.
        for out in sorted(parts[high]):
            for back in [None, *sorted(parts[low])]:
                new_high = [s for s in parts[high] if s != out] + ([back] if back else [])
                new_low = [s for s in parts[low] if s != back] + [out]
                after = max(load(new_high), load(new_low))
                if after < best - 1e-9:
                    best, move = after, (new_high, new_low)
        if move is None:
            break
        parts[high], parts[low] = move
    return [sorted(i for shape in p for i in groups[shape]) for p in parts if p]


def check_solution(path: str, count: int = 200, limits: Limits = Limits(),
                   profile: str = "ci", shrink: bool = True, diagnose: bool = True,
                   use_cache: bool = True, workers: int | None = None,
                   sandboxes: Sequence[Sandbox] | None = None) -> CheckResult:
    """Grades one solution file in isolated child processes.

    Args:
        path: the learner's ``.py`` file (it must define ``pure_state_update``).
        count: cases to draw (the fixed panel is added to them).
        limits: timeout, memory and CPU limits of each child.
        profile: Hypothesis profile for drawing the cases.
        shrink: shrink a failing case with Hypothesis against the live child.
        diagnose: name the mutant the solution behaves like (runs the mutant library).
        use_cache: give the children JAX's persistent compilation cache (its ``check``
            subdirectory, :data:`~conformance._config.CHECK_CACHE`: the grader's ``run``
            never loads what a solution may have written there).
        workers: children that split the shape groups between them (default
            :func:`~conformance._sandbox.default_workers`). Verdict and counterexample do not
            depend on it.
        sandboxes: children the caller already started with ``limits`` and the cache of
            ``use_cache`` (so that they import JAX while the caller imports this module);
            they replace ``workers``, and the check owns and closes them.

    Returns:
        The :class:`CheckResult`. Learner misbehaviour of any kind is a ``fail`` verdict;
        only grader errors raise.
    """
    started = time.perf_counter()
    path = os.path.abspath(path)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers={workers!r}, but should be an integer >= 1")
    cache = cache_path(use_cache, CHECK_CACHE)
    with contextlib.ExitStack() as stack:
        # The children start first: JAX imports in them while the cases are drawn here.
        if sandboxes:
            boxes = [stack.enter_context(box) for box in sandboxes]
        else:
            boxes = [stack.enter_context(box) for box in Sandbox.start(limits, cache, workers)]
        workers = len(boxes)
        cases = cached_cases(count, profile, cache)
        shapes = len({c.shape for c in cases})
        parts = split_cases(cases, workers)
        for box in boxes[len(parts):]:
            box.close()  # fewer shape groups than children: free the spare core at once
        boxes = boxes[:len(parts)]
        state = _Run(boxes, cases, parts)
        state.execute(path)
        failure, counterexample, diagnosis = state.failure, None, None
        if (failure is not None and failure.kind in CASE_KINDS and failure.case is not None
                and state.alive and shrink):
            from conformance._check_shrink import shrink_failure

            failure = shrink_failure(state, failure)
        if failure is not None:
            from conformance._check_diagnose import diagnose as name_it

            diagnosis = name_it(failure, state, run_mutants=diagnose, limits=limits,
                                cache=cache)
            if failure.kind in CASE_KINDS or failure.case is not None:
                counterexample = _counterexample(failure, state.reference)
    # After close: the drain threads have read everything.
    output = _merge_output([box.output() for box in boxes])
    return CheckResult(
        solution=path, verdict="fail" if failure else "pass", diagnosis=diagnosis,
        counterexample=counterexample, cases=state.compared, shapes=shapes,
        duration_s=time.perf_counter() - started, environment=state.environment,
        warnings=state.warnings, purity=state.purity(), output=output,
        confinement=_confinement([w.hello for w in state.workers if w.hello is not None]))


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
    error: BaseException | None = None


class _Run:
    """The mutable state of one check: outcomes, the first failure, warnings, purity.

    After :meth:`execute`, ``sandbox`` is the one child kept for shrinking (the one that ran
    the failing case); the others are closed.
    """

    def __init__(self, sandboxes: Sequence[Sandbox], cases: Sequence[Case],
                 parts: Sequence[list[int]]):
        self.cases = list(cases)
        self.workers = [_Worker(box, list(p)) for box, p in zip(sandboxes, parts)]
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

    def execute(self, path: str) -> None:
        """Loads ``path`` in every child and runs each child's cases, all children at once."""
        threads = [threading.Thread(target=self._work, args=(w, path), daemon=True)
                   for w in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for w in self.workers:
            if w.error is not None:
                raise w.error  # a grader error, never the learner's
        self._merge()

    def _work(self, w: _Worker, path: str) -> None:
        """One child's whole session; runs in its own thread (reads release the GIL)."""
        try:
            try:
                w.hello = w.sandbox.wait_hello()
                with self._lock:
                    if self.reference is None:
                        self.reference = Reference(w.hello.get("prng_mode") or "partitionable")
                w.load = w.sandbox.load(path)
                if not w.load.get("ok"):
                    return
                reference = self.reference

                def on_result(local: int, header: dict, data: bytes) -> None:
                    index = w.indices[local]
                    case = self.cases[index]
                    outcome = read_outcome(header, data, case.features)
                    self.outcomes[case.id] = outcome  # disjoint keys: no lock needed
                    w.compared += 1
                    problem = judge(outcome, case, reference.expected(case)[0])
                    if problem is not None:
                        w.failures.append((index, problem))

                wired = [wire_case(i, self.cases[i]) for i in w.indices]
                _, w.end = w.sandbox.run(wired, on_result=on_result)
                if not w.failures:
                    # Only a child with a failing case is ever called again (to shrink it):
                    # end this one now, while the others still run, not after them.
                    w.sandbox.close()
            except ChildGone as gone:
                w.gone = gone
                local = getattr(gone, "index", None)
                if w.load is None or not w.load.get("ok"):
                    w.gone_at = -1
                elif local is not None:
                    w.gone_at = w.indices[local]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            w.error = exc

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
        found = sorted((f for w in self.workers for f in w.failures), key=lambda f: f[0])
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
        for item in items[:20]:
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
    if outcome is not None and outcome.status == "array":
        info["actual"] = [float(v) for v in np.asarray(outcome.value, np.float64).reshape(-1)]
        info["actual_dtype"], info["actual_shape"] = outcome.dtype, list(outcome.shape)
    elif outcome is not None:
        info["actual"] = outcome.summary()
    return info


def reproducer(case: Case) -> str:
    """A snippet a learner can paste under their own function to recompute the case."""
    seed = f"{float(case.seed)!r}" if case.float_args else str(case.seed)
    feats = f"{float(case.features)!r}" if case.float_args else str(case.features)
    xs = ", ".join(float_literal(v) for v in case.x)
    return ("import jax.numpy as jnp\n"
            f"x = jnp.array([{xs}], dtype=jnp.float32)\n"
            f"print(pure_state_update({seed}, x, {feats}, {float_literal(case.scale)}))")
