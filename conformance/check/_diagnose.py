"""Naming the mistake: the failure's kind, a hint, and the mutant the solution behaves like.

``mutants/<mistake>.py`` (beside this module) holds one small learner-style module per known
mistake; the first line of its docstring is the hint shown to learners. When a solution fails a
case, the mutants run (trusted, but in a child of their own, exactly like a learner's file) on
the diagnostic set: the counterexample, other failing cases, and the fixed panel of ``_draw``.
A mutant *matches* when its outcome equals the solution's on every one of those cases; the
diagnosis names the first match in the library's order, or says that none matched.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from conformance.check._draw import PANEL
from conformance.check._grading import Failure, Outcome, read_outcome, wire_case
from conformance.check.sandbox import ARRAY, OTHER_TYPE, ChildGone, Limits, Sandbox
from conformance.core import Case

MUTANTS_DIR = Path(__file__).resolve().parent / "mutants"


class FinishedRun(Protocol):
    """What the diagnosis needs of a check: its failures and the solution's outcomes."""

    failures: Sequence[Failure]
    outcomes: Mapping[str, Outcome]
MAX_EXTRA_FAILURES = 6

#: The hint of each failure kind when no mutant explains it better.
HINTS: dict[str, str] = {
    "wrong_values": "Build nnx.Linear(len(x), int(features), rngs=nnx.Rngs(int(seed))), split it, "
                    "multiply EVERY state leaf by float(scale) with jax.tree_util.tree_map, "
                    "merge, and return merged(x).",
    "wrong_shape": "Return merged(x) for the 1-D x you were given: a 1-D array of length "
                   "features.",
    "wrong_dtype": "Return merged(x) as it is: a float32 array (keep nnx.Linear's default "
                   "dtypes and do not cast the result).",
    "wrong_type": "Return the output array merged(x), not the model, the state or a Python "
                  "value.",
    "exception": "Your function raised an exception on this input; run the reproducer to see "
                 "the traceback.",
    "syntax_error": "The file is not valid Python; fix the line shown.",
    "import_error": "Importing your file raised an exception; make sure it runs on its own "
                    "(only top-level definitions and imports).",
    "missing_function": "Define a function named exactly pure_state_update(seed, x, features, "
                        "scale) at the top level of the file.",
    "not_callable": "pure_state_update must be a function.",
    "cpu_time": "Your code used too much CPU time; avoid loops over elements.",
    "memory": "Your code ran out of memory; the model has len(x) * features parameters, "
              "nothing larger is needed.",
    "exit": "Do not call sys.exit, exit() or os._exit; return the output instead.",
    "killed": "Your process was killed; avoid signals and unbounded resource use.",
    "crash": "The Python process crashed (a signal); avoid ctypes and native extensions.",
    "protocol": "Do not write to, read from or close file descriptors other than stdout and "
                "stderr.",
    "timeout": "Your code took too long on one call; the whole exercise needs no loops over "
               "elements.",
    "budget": "All your calls together took longer than the check allows; avoid compiling or "
              "recomputing anything per call beyond the recipe itself.",
}


@functools.lru_cache(maxsize=1)
def library() -> tuple[tuple[str, str, str], ...]:
    """``(name, path, hint)`` of every mutant, in name order."""
    entries = []
    for path in sorted(MUTANTS_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        entries.append((path.stem, str(path), doc.strip().splitlines()[0] if doc else ""))
    return tuple(entries)


def same_outcome(a: Outcome, b: Outcome) -> bool:
    """Whether two outcomes are the same behaviour (arrays equal up to rounding)."""
    if a.status != b.status:
        return False
    if a.status == OTHER_TYPE:
        return a.type_name == b.type_name
    if a.status != ARRAY:
        return a.exc_type == b.exc_type
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.value is None or b.value is None:  # too large to send: the shapes are all there is
        return a.value is None and b.value is None
    x = np.asarray(a.value, np.float64)
    y = np.asarray(b.value, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(x - y) <= 1e-5 * np.maximum(np.abs(x), np.abs(y)) + 1e-30
    both_nan = np.isnan(x) & np.isnan(y)
    same_inf = np.isinf(x) & (x == y)
    return bool(np.all(both_nan | same_inf | (np.isfinite(x) & np.isfinite(y) & close)))


def diagnostic_set(failure: Failure, run: FinishedRun) -> list[Case]:
    """The cases mutants are compared on (each has a recorded outcome of the solution)."""
    chosen = {failure.case.id: failure.case}
    shapes = {failure.case.shape}
    for problem in run.failures:
        if len(chosen) > MAX_EXTRA_FAILURES:
            break
        if problem.case.shape not in shapes or len(chosen) < 3:
            chosen.setdefault(problem.case.id, problem.case)
            shapes.add(problem.case.shape)
    for case in PANEL:
        chosen.setdefault(case.id, case)
    return [c for c in chosen.values() if c.id in run.outcomes]


_MUTANT_OUTCOMES: dict[tuple[str, str], Outcome] = {}


def mutant_outcomes(cases: list[Case], limits: Limits, cache: str | None
                    ) -> dict[str, dict[str, Outcome]]:
    """Runs every mutant on ``cases`` in one child (memoised per process for batch checks)."""
    todo = [c for c in cases if any((name, c.id) not in _MUTANT_OUTCOMES
                                    for name, _, _ in library())]
    if todo:
        with Sandbox(Limits(timeout_s=max(limits.timeout_s, 30.0), memory_mb=limits.memory_mb,
                            cpu_s=limits.cpu_s), cache) as box:
            box.wait_hello()
            wired = [wire_case(i, c) for i, c in enumerate(todo)]
            for slot, (name, path, _) in enumerate(library()):
                if not box.load(path, slot).get("ok"):
                    continue
                frames, _ = box.run(wired, slot)
                for (header, data), case in zip(frames, todo):
                    _MUTANT_OUTCOMES[(name, case.id)] = read_outcome(header, data, case.features)
    return {name: {c.id: _MUTANT_OUTCOMES[(name, c.id)] for c in cases
                   if (name, c.id) in _MUTANT_OUTCOMES} for name, _, _ in library()}


def matching_mutants(run: FinishedRun, cases: list[Case], limits: Limits, cache: str | None
                     ) -> list[str]:
    """Names of the mutants whose outcomes equal the solution's on every case of ``cases``."""
    table = mutant_outcomes(cases, limits, cache)
    return [name for name, outs in table.items()
            if len(outs) == len(cases)
            and all(same_outcome(run.outcomes[c.id], outs[c.id]) for c in cases)]


def diagnose(failure: Failure, run: FinishedRun, run_mutants: bool = True,
             limits: Limits = Limits(), cache: str | None = None) -> dict[str, Any]:
    """The ``diagnosis`` object of the result: ``kind``, ``message``, ``hint``, ``mutant``."""
    hint = HINTS.get(failure.kind, "")
    result: dict[str, Any] = {"kind": failure.kind, "message": failure.message, "hint": hint,
                              "mutant": None, "also_matches": []}
    if failure.case is None or failure.case.id not in run.outcomes or not run_mutants:
        return result
    try:
        matches = matching_mutants(run, diagnostic_set(failure, run), limits, cache)
    except ChildGone as gone:  # the trusted mutants failing is the grader's problem: say so
        result["mutant_error"] = str(gone)
        return result
    if matches:
        hints = {name: h for name, _, h in library()}
        result.update(mutant=matches[0], hint=hints[matches[0]] or hint,
                      also_matches=matches[1:])
    return result

