"""The differential run: every available implementation and relation on the shared cases.

Cases are evaluated grouped by shape, so that each implementation compiles (or builds tables)
once per ``(len(x), features, mode)`` and reuses the work; JAX's persistent compilation cache
carries compiled programs across runs. The runner reads registry capabilities only.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from conformance.core import (Case, Mismatch, Semantics, compare_output, compare_params,
                              edge_classes, enable_compilation_cache, expected_output,
                              group_by_shape, host_semantics)
from implementations import IMPLEMENTATIONS, Entry, resolve_prng_mode
from oracles.metamorphic import RELATIONS, Relation


def reference_semantics(entries: Sequence[Entry]) -> tuple[Semantics, bool | None]:
    """``(rounding semantics, fma)`` of the reference platform: measured where JAX is present.

    Without JAX the ports' own defaults decide fusion (``fma=None``) and the reference keeps
    XLA's flush-to-zero semantics, which the ports model.
    """
    if not any(e.uses_jax and e.available() for e in entries):
        return Semantics(ftz=True, daz=True), None
    host = host_semantics()
    return Semantics(ftz=host.ftz, daz=host.daz), host.fma


@dataclass
class Subject:
    """An available implementation with its options bound (what relations call)."""

    entry: Entry
    options: Mapping[str, Any]
    _fn: Callable = field(init=False, repr=False)
    _init: Callable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        module = self.entry.load()
        self._fn, self._init = module.pure_state_update, module.initial_params
        self._params: dict[tuple, Mapping[str, np.ndarray]] = {}

    @property
    def name(self) -> str:
        return self.entry.name

    def supports(self, case: Case) -> bool:
        return resolve_prng_mode(case.prng_mode) in self.entry.prng_modes

    def call(self, case: Case) -> np.ndarray:
        return self._fn(*case.args(), **case.kwargs(), **self.options)

    def params(self, case: Case) -> Mapping[str, np.ndarray]:
        """The initial state for ``case`` (memoised: relations ask for it repeatedly)."""
        key = (case.seed, len(case.x), case.features, case.prng_mode)
        if key not in self._params:
            if len(self._params) > 64:
                self._params.clear()
            self._params[key] = self._init(case.seed, len(case.x), case.features,
                                           prng_mode=case.prng_mode, **self.options)
        return self._params[key]


@dataclass
class Cell:
    """Tally of one implementation (or relation) on one edge class."""

    agreed: int = 0
    disagreed: int = 0

    def add(self, ok: bool) -> None:
        if ok:
            self.agreed += 1
        else:
            self.disagreed += 1


@dataclass
class RunResult:
    """Everything a report needs; ``ok`` is the verdict."""

    cases: int
    shapes: int
    implementations: list[str]
    unavailable: dict[str, str]
    reference: str | None
    table: dict[str, dict[str, Cell]]
    relations: dict[str, dict[str, Cell]]
    failures: list[dict[str, Any]]  # the first ``max_failures`` in full
    failed: int  # (implementation, case) pairs with at least one mismatch
    comparisons: int
    errors: list[str]
    duration_s: float
    semantics: Semantics
    fma: bool | None
    per_impl_seconds: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.errors and self.failed == 0


def _exception_mismatch(what: str, exc: BaseException, impl: str, case: Case) -> Mismatch:
    text = f"{type(exc).__name__}({str(exc)[:200]!r})"
    return Mismatch(what, text, "a float32 array, not an exception", impl, case.id)


def _choose_reference(subjects: Sequence[Subject]) -> Subject | None:
    """The kernel source: the first bit-exact implementation that runs JAX, else the first
    bit-exact one (registry order is the order of preference)."""
    exact = [s for s in subjects if s.entry.exact_kernel]
    for subject in exact:
        if subject.entry.uses_jax:
            return subject
    return exact[0] if exact else None


class _Progress:
    def __init__(self, total: int, stream=sys.stderr, every_s: float = 5.0):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.start = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s and self.stream is not None:
            self.last = now
            rate = done / (now - self.start)
            left = (self.total - done) / rate if rate else math.inf
            print(f"  {done}/{self.total} cases, {rate:.1f}/s, about {left:.0f} s left",
                  file=self.stream, flush=True)


def run(cases: Iterable[Case], names: Sequence[str | Entry] | None = None,
        relations: Sequence[Relation] = RELATIONS, progress: bool = True,
        use_cache: bool = True, max_failures: int = 50) -> RunResult:
    """Runs the differential comparison.

    Args:
        cases: the shared cases (drawn by :func:`conformance.core.collect`).
        names: implementations to run, by registry name or as entries (default: the registry).
        relations: the metamorphic relations to apply to each implementation.
        progress: print progress lines to stderr on long runs.
        use_cache: enable JAX's persistent compilation cache.
        max_failures: how many failures to keep in full (all are counted).

    Returns:
        The :class:`RunResult`; a run with no comparison, fewer than two implementations or a
        relation that never applied carries an error and is not ok.
    """
    started = time.perf_counter()
    cases = group_by_shape(cases)
    entries = [n if isinstance(n, Entry) else IMPLEMENTATIONS[n]
               for n in (names or list(IMPLEMENTATIONS))]
    unavailable = {e.name: e.install for e in entries if not e.available()}
    entries = [e for e in entries if e.name not in unavailable]
    errors: list[str] = []
    if use_cache and any(e.uses_jax for e in entries):
        enable_compilation_cache()
    sem, fma = reference_semantics(entries)
    subjects: list[Subject] = []
    for entry in entries:
        options = {"fma": fma} if "fma" in entry.options and fma is not None else {}
        subjects.append(Subject(entry, options))
    if len(subjects) < 2:
        errors.append(f"implementations={[s.name for s in subjects]}, but should be at least "
                      "two available implementations (a differential run needs a second opinion)")
    reference = _choose_reference(subjects)
    table: dict[str, dict[str, Cell]] = {s.name: defaultdict(Cell) for s in subjects}
    rel_table: dict[str, dict[str, Cell]] = {r.name: defaultdict(Cell) for r in relations}
    failures: list[dict[str, Any]] = []
    seconds: dict[str, float] = defaultdict(float)
    comparisons = failed = 0
    meter = _Progress(len(cases)) if progress else None
    for done, case in enumerate(cases, 1):
        labels = edge_classes(case)
        ref_params = expected = None
        if reference is not None and reference.supports(case):
            t0 = time.perf_counter()
            try:
                ref_params = reference.params(case)
                expected = expected_output(case.x_array, ref_params["kernel"],
                                           ref_params["bias"], case.scale, sem)
            except Exception as exc:  # noqa: BLE001 - the reference failing is a grader error
                errors.append(f"reference {reference.name} failed on {case.id}: {exc!r}")
            seconds[reference.name] += time.perf_counter() - t0
        for subject in subjects:
            if not subject.supports(case):
                continue
            t0 = time.perf_counter()
            problems: list[Mismatch] = []
            try:
                out = subject.call(case)
            except Exception as exc:  # noqa: BLE001 - an implementation's exception is a finding
                out = None
                problems.append(_exception_mismatch("output", exc, subject.name, case))
            if out is not None and expected is not None:
                problems += compare_output(out, expected, subject.name, case.id)
                comparisons += 1
            if subject is not reference and ref_params is not None:
                try:
                    problems += compare_params(subject.params(case), ref_params,
                                               subject.entry.exact_kernel, subject.name, case.id)
                    comparisons += 1
                except Exception as exc:  # noqa: BLE001
                    problems.append(_exception_mismatch("params", exc, subject.name, case))
            for relation in relations:
                if out is None or not relation.applies(case):
                    continue
                try:
                    found = relation.check(subject, case, out, sem)
                except Exception as exc:  # noqa: BLE001
                    found = [_exception_mismatch(relation.name, exc, subject.name, case)]
                comparisons += 1
                for label in labels:
                    rel_table[relation.name][label].add(not found)
                rel_table[relation.name]["all"].add(not found)
                problems += [_tag(m, relation.name) for m in found]
            seconds[subject.name] += time.perf_counter() - t0
            for label in labels:
                table[subject.name][label].add(not problems)
            table[subject.name]["all"].add(not problems)
            failed += bool(problems)
            if problems and len(failures) < max_failures:
                failures.append({
                    "impl": subject.name, "case": case.id, "edge_classes": list(labels),
                    "messages": [str(m) for m in problems],
                    "mismatches": [m.as_dict() for m in problems],
                    "reproducer": case.reproducer(subject.name)})
        if meter:
            meter.update(done)
    if comparisons == 0:
        errors.append("comparisons=0, but should be at least one (no case was compared)")
    for relation in relations:
        applied = rel_table[relation.name]["all"]
        if subjects and applied.agreed + applied.disagreed == 0:
            errors.append(f"oracle {relation.name} applications=0, but should be at least one "
                          "(the relation never applied to these cases)")
    return RunResult(
        cases=len(cases), shapes=len({c.shape for c in cases}),
        implementations=[s.name for s in subjects], unavailable=unavailable,
        reference=reference.name if reference else None,
        table={k: dict(v) for k, v in table.items()},
        relations={k: dict(v) for k, v in rel_table.items()},
        failures=failures, failed=failed, comparisons=comparisons, errors=errors,
        duration_s=time.perf_counter() - started, semantics=sem, fma=fma,
        per_impl_seconds=dict(seconds))


def _tag(m: Mismatch, relation: str) -> Mismatch:
    return Mismatch(f"{relation}: {m.what}", m.actual, m.expected, m.impl, m.case_id)
