"""Shrinking a failing case with Hypothesis's own shrinker, against the live child.

The property "the solution fails this case with the same kind of failure" is handed to
``hypothesis.find`` over a strategy restricted to the failing case's edge class: its scale
class and x class are kept (an ``inf`` scale stays an ``inf`` scale), shapes are the pool's no
larger than the original's, and the original seed and x stay reachable so that generation
finds a failing example quickly. Hypothesis then shrinks it (towards ``1x1``, seed 0, short
literal x). Without a failing example within the budget, the original case is kept.
"""

from __future__ import annotations

import time
from typing import Protocol, Sequence

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from conformance.check._grading import RESOURCE_KINDS, Failure, Outcome, Reference, judge
from conformance.check.sandbox import ChildGone
from conformance.check._pool import CHECK_SHAPES
from conformance.core import EDGE_SCALES, Case, edge_classes, seeds, x_values


class LiveRun(Protocol):
    """What the shrinker needs of a check: its reference and a live child to call."""

    alive: bool
    reference: Reference

    def call(self, cases: Sequence[Case]) -> list[Outcome]: ...

#: Wall-clock bound of one shrink, and the most calls it may make (each call is also bound by
#: the child's timeout and the solution's budget).
BUDGET_S = 10.0
MAX_EXAMPLES = 120


def _labels(case: Case, prefix: str) -> frozenset[str]:
    return frozenset(l for l in edge_classes(case) if l.startswith(prefix))


def neighbourhood(original: Case) -> st.SearchStrategy[Case]:
    """Cases in ``original``'s scale and x edge classes, on shapes no larger than its own."""
    size = original.shape[0] * original.shape[1]
    shapes = sorted({s for s in CHECK_SHAPES if s[0] * s[1] <= size} | {original.shape},
                    key=lambda s: (s[0] * s[1], s))
    scale_class = _labels(original, "scale:")
    x_class = _labels(original, "x:")
    pool = [s for s in EDGE_SCALES if _labels(original.replace(scale=s), "scale:") == scale_class]
    if original.scale not in pool:
        pool.append(original.scale)
    ordinary = st.floats(-8.0, 8.0, width=32, allow_subnormal=False).filter(
        lambda v: _labels(original.replace(scale=v), "scale:") == scale_class)
    scale = st.one_of(st.sampled_from(pool), ordinary)

    @st.composite
    def draw(draw_) -> Case:
        n, features = draw_(st.sampled_from(shapes))
        fresh = x_values(n).filter(
            lambda xs: _labels(original.replace(x=xs, features=features), "x:") == x_class)
        if n == len(original.x):
            x = draw_(st.one_of(fresh, st.just(original.x)))
        else:
            x = draw_(fresh)
        seed = draw_(st.one_of(seeds(), st.just(original.seed)))
        as_float = abs(seed) <= 2**53 and draw_(st.booleans())
        return Case(seed=seed, x=x, features=features, scale=draw_(scale), prng_mode=None,
                    float_args=as_float)

    return draw()


def shrink_failure(run: LiveRun, failure: Failure) -> Failure:
    """The smallest failing case Hypothesis finds near ``failure.case`` (or ``failure``)."""
    deadline = time.perf_counter() + BUDGET_S
    found: dict[str, Failure] = {}

    def fails(case: Case) -> bool:
        if not run.alive or time.perf_counter() > deadline:
            return False
        try:
            outcome = run.call([case])[0]
        except ChildGone:
            run.alive = False  # the child is gone; keep what was found so far
            return False
        problem = judge(outcome, case, run.reference.expected(case)[0])
        if problem is not None and problem.kind in RESOURCE_KINDS:
            run.alive = False  # never run a resource failure again (it costs seconds each)
            return False
        if problem is None or problem.kind != failure.kind:
            return False
        found[case.id] = problem
        return True

    try:
        smallest = find(neighbourhood(failure.case), fails, settings=settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
            phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck)))
    except (NoSuchExample, Unsatisfiable):
        return failure
    return found.get(smallest.id, failure)
