"""``nnx-conformance check``: grades learners' ``pure_state_update`` files, each in its own child.

The flow for one solution (:func:`check_solution`):

1. A :class:`~conformance._sandbox.Sandbox` starts; while the child imports JAX, the parent draws
   the shared cases (``conformance._cases.cases(modes=(None,))``, derandomized ``ci`` profile)
   plus :data:`PANEL`, a fixed set that tells the mutants apart.
2. The child imports the solution and calls it on every case, grouped by shape; the parent
   computes each reference while the child works on the next case: kernels from the NumPy port
   (bit-identical to JAX's, no compile), outputs judged with the bound of
   ``conformance._compare``. The child's outputs are only ever compared in this process.
3. On a failure, Hypothesis shrinks the counterexample against the live child
   (:mod:`conformance._check_shrink`), and :mod:`conformance._check_diagnose` names the mutant in
   ``oracles/mutants`` whose outcomes the solution reproduces.

The result is a :class:`CheckResult`; :mod:`conformance._check_report` renders it as text or as
the versioned JSON document described there and in ``docs/check.md``.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from conformance._cases import SHAPE_POOL, Case, collect, group_by_shape
from conformance._cases import cases as case_strategy
from conformance._compare import Expected, Semantics, compare_output, expected_output
from conformance._sandbox import ChildGone, Limits, Sandbox

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

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


def wire_case(index: int, case: Case) -> dict[str, Any]:
    """A case as the child's request format wants it (exact: hex floats and float32 bytes)."""
    return {"i": index, "seed": case.seed, "features": case.features,
            "float_args": case.float_args, "scale": float(case.scale).hex(),
            "x": case.x_array.astype("<f4").tobytes().hex()}


def read_outcome(header: dict[str, Any], data: bytes, features: int) -> Outcome:
    """Validates one result frame's header and data into an :class:`Outcome`."""
    status = header.get("status")
    text = lambda key: str(header.get(key, ""))[:2000]  # noqa: E731
    if status == "array":
        shape = header.get("shape")
        dtype = header.get("dtype")
        if (not isinstance(shape, list) or len(shape) > 4 or not isinstance(dtype, str)
                or not all(isinstance(d, int) and 0 <= d <= 1 << 20 for d in shape)
                or 8 * int(np.prod(shape, dtype=np.int64)) != len(data)):
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

    Hypothesis's draws from the shape pool cluster (200 derandomized draws reach 24 of its 30
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


def _reshape(case: Case, shape: tuple[int, int]) -> Case:
    """``case`` on another shape: x cycled (or cut) to the new length, features replaced."""
    n, features = shape
    x = tuple(case.x[i % len(case.x)] for i in range(n))
    return case.replace(x=x, features=features)


def _environment(hello: dict[str, Any]) -> dict[str, Any]:
    keys = ("python", "jax", "flax", "numpy", "prng_mode", "x64")
    return {k: hello.get(k) for k in keys}


def cache_path(use_cache: bool) -> str | None:
    if not use_cache:
        return None
    from conformance._runner import cache_dir

    path = cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def check_solution(path: str, count: int = 200, limits: Limits = Limits(),
                   profile: str = "ci", shrink: bool = True, diagnose: bool = True,
                   use_cache: bool = True) -> CheckResult:
    """Grades one solution file in its own child process.

    Args:
        path: the learner's ``.py`` file (it must define ``pure_state_update``).
        count: cases to draw (the fixed panel is added to them).
        limits: timeout, memory and CPU limits of the child.
        profile: Hypothesis profile for drawing the cases.
        shrink: shrink a failing case with Hypothesis against the live child.
        diagnose: name the mutant the solution behaves like (runs the mutant library).
        use_cache: share JAX's persistent compilation cache with the child.

    Returns:
        The :class:`CheckResult`. Learner misbehaviour of any kind is a ``fail`` verdict;
        only grader errors raise.
    """
    started = time.perf_counter()
    path = os.path.abspath(path)
    sandbox = Sandbox(limits, cache_path(use_cache))  # starts first: JAX imports meanwhile
    with sandbox:
        cases = draw_cases(count, profile)
        shapes = len({c.shape for c in cases})
        env: dict[str, Any] = {}
        state = _Run(sandbox, cases)
        try:
            env = _environment(sandbox.wait_hello())
            state.reference = Reference(env.get("prng_mode") or "partitionable")
            state.load(path)
            if state.failure is None:
                state.run_all()
        except ChildGone as gone:
            state.gone(gone)
        failure, counterexample, diagnosis = state.failure, None, None
        if failure is not None and failure.kind in CASE_KINDS and state.alive and shrink:
            from conformance._check_shrink import shrink_failure

            failure = shrink_failure(state, failure)
        if failure is not None:
            from conformance._check_diagnose import diagnose as name_it

            diagnosis = name_it(failure, state, run_mutants=diagnose, limits=limits,
                                cache=cache_path(use_cache))
            if failure.kind in CASE_KINDS or failure.case is not None:
                counterexample = _counterexample(failure, state.reference)
    output = sandbox.output()  # after close: the drain threads have read everything
    return CheckResult(
        solution=path, verdict="fail" if failure else "pass", diagnosis=diagnosis,
        counterexample=counterexample, cases=state.compared, shapes=shapes,
        duration_s=time.perf_counter() - started, environment=env,
        warnings=state.warnings, purity=state.purity(), output=output)


class _Run:
    """The mutable state of one check: outcomes, the first failure, warnings, purity."""

    def __init__(self, sandbox: Sandbox, cases: Sequence[Case]):
        self.sandbox, self.cases = sandbox, list(cases)
        self.reference: Reference | None = None
        self.outcomes: dict[str, Outcome] = {}
        self.failures: list[Failure] = []
        self.failure: Failure | None = None
        self.alive = True
        self.compared = 0
        self.warnings: list[dict[str, str]] = []
        self._impure: list[str] = []
        self._purity_checked = False

    def load(self, path: str) -> None:
        header = self.sandbox.load(path)
        self._add_warnings(self.sandbox, header)
        if not header.get("ok"):
            kind = str(header.get("kind", "import_error"))
            self.failure = Failure(kind, None, _load_message(header))

    def call(self, cases: Sequence[Case]) -> list[Outcome]:
        """Runs ``cases`` in the live child; raises :class:`ChildGone`."""
        frames, end = self.sandbox.run([wire_case(i, c) for i, c in enumerate(cases)])
        self._end(end)
        out = [read_outcome(h, d, c.features) for (h, d), c in zip(frames, cases)]
        for case, outcome in zip(cases, out):
            self.outcomes[case.id] = outcome
        return out

    def run_all(self) -> None:
        reference = self.reference

        def on_result(index: int, header: dict, data: bytes) -> None:
            case = self.cases[index]
            outcome = read_outcome(header, data, case.features)
            self.outcomes[case.id] = outcome
            self.compared += 1
            problem = judge(outcome, case, reference.expected(case)[0])
            if problem is not None:
                self.failures.append(problem)

        frames, end = self.sandbox.run(
            [wire_case(i, c) for i, c in enumerate(self.cases)], on_result=on_result)
        self._end(end)
        if self.failures:
            self.failure = self.failures[0]

    def gone(self, gone: ChildGone) -> None:
        self.alive = False
        index = getattr(gone, "index", None)
        case = self.cases[index] if index is not None else None
        self.failure = self.failures[0] if self.failures else Failure(
            gone.kind, case, gone.detail)

    def _end(self, end: dict) -> None:
        self._add_warnings(None, end)
        purity = end.get("purity")
        if isinstance(purity, dict):
            self._purity_checked = bool(purity.get("checked"))
            impure = purity.get("impure_cases")
            if isinstance(impure, list):
                self._impure = [str(i)[:20] for i in impure[:20]]

    def _add_warnings(self, _sandbox: Any, header: dict) -> None:
        items = header.get("warnings")
        if not isinstance(items, list):
            return
        seen = {(w["category"], w["message"]) for w in self.warnings}
        for item in items[:20]:
            if isinstance(item, dict):
                w = {k: str(item.get(k, ""))[:300] for k in ("category", "message", "where")}
                if (w["category"], w["message"]) not in seen:
                    seen.add((w["category"], w["message"]))
                    self.warnings.append(w)

    def purity(self) -> dict[str, Any]:
        if not self._purity_checked:
            return {"checked": False, "pure": None, "impure_cases": []}
        return {"checked": True, "pure": not self._impure, "impure_cases": self._impure}


def _load_message(header: dict[str, Any]) -> str:
    kind = header.get("kind")
    if kind == "missing_function":
        names = header.get("names") or []
        return ("the file defines no function named pure_state_update"
                + (f" (it defines: {', '.join(map(str, names[:10]))})" if names else ""))
    if kind == "not_callable":
        return f"pure_state_update is a {header.get('type')}, not a function"
    if kind == "syntax_error":
        return (f"SyntaxError on line {header.get('line')}: {header.get('message')}\n"
                f"    {str(header.get('text', '')).rstrip()}")
    detail = f"{header.get('exc_type')}: {header.get('message')}"
    trace = str(header.get("traceback") or "")
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


def _literal(v: float) -> str:
    if math.isnan(v):
        return "float('nan')"
    if math.isinf(v):
        return "float('inf')" if v > 0 else "-float('inf')"
    return repr(v)


def reproducer(case: Case) -> str:
    """A snippet a learner can paste under their own function to recompute the case."""
    seed = f"{float(case.seed)!r}" if case.float_args else str(case.seed)
    feats = f"{float(case.features)!r}" if case.float_args else str(case.features)
    xs = ", ".join(_literal(v) for v in case.x)
    return ("import jax.numpy as jnp\n"
            f"x = jnp.array([{xs}], dtype=jnp.float32)\n"
            f"print(pure_state_update({seed}, x, {feats}, {_literal(case.scale)}))")
