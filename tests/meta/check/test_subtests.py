"""The check's sub-tests (partial credit): which sub-test a mistake costs."""

from __future__ import annotations

import math

import pytest

from conformance.check._draw import draw_cases
from conformance.check._subtests import NAMES, features_of, subtests
from conformance.core import Case

CASES = draw_cases(200, 7)


def failing(predicate) -> dict[int, bool]:
    return {i: not predicate(c) for i, c in enumerate(CASES)}


def failed_names(graded, cases=CASES, loaded=True, passed=False) -> set[str]:
    return {t["name"] for t in subtests(cases, graded, loaded, passed) if not t["passed"]}


@pytest.mark.parametrize("mistake,name", [
    (lambda c: c.seed >= 2**53, "seed_edges"),                  # int(float(seed))
    (lambda c: 2**31 <= c.seed < 2**32, "seed_edges"),          # a bug in one seed band
    (lambda c: not math.isfinite(c.scale), "non_finite_scales"),
    (lambda c: any(math.isnan(v) for v in c.x), "special_x"),
    (lambda c: c.features > 64, "large_shapes"),
    (lambda c: c.float_args, "float_arguments"),
    (lambda c: c.scale == 0, "scale_edges"),
])
def test_a_mistake_confined_to_one_edge_costs_that_subtest_alone(mistake, name):
    assert any(mistake(c) for c in CASES)
    assert failed_names(failing(mistake)) == {name}


def test_a_mistake_everywhere_costs_every_subtest_but_loads():
    assert failed_names({i: False for i in range(len(CASES))}) == set(NAMES) - {"loads"}


def test_a_mistake_only_in_a_combination_costs_combined():
    """Large shapes and big seeds are each right alone: only the combination is wrong."""
    mistake = lambda c: (c.features > 64 or len(c.x) > 64) and c.seed >= 2**32
    assert any(mistake(c) for c in CASES)
    assert failed_names(failing(mistake)) == {"combined"}


def test_an_edge_with_no_case_of_its_own_is_blamed_for_its_combinations():
    """Without a case whose only edge is a nan x, the failures a nan causes (all with other
    edges too) are still put on special_x, not on the combination."""
    cases = [c for c in CASES if not (features_of(c) == ["special_x"])]
    mistake = lambda c: any(math.isnan(v) for v in c.x)
    graded = {i: not mistake(c) for i, c in enumerate(cases)}
    assert not all(graded.values())
    assert failed_names(graded, cases) == {"special_x"}


def test_cases_that_never_ran_are_not_passed():
    """A check stopped at a resource failure: the sub-tests with ungraded cases fail."""
    graded = {i: True for i in range(len(CASES) // 2)}
    stopped = failed_names(graded)
    assert stopped and "loads" not in stopped
    ran = {n for i in graded for n in (features_of(CASES[i]) or ["ordinary"])}
    missed = {n for c in CASES[len(CASES) // 2:] for n in (features_of(c) or ["ordinary"])}
    assert stopped >= missed - set()  # every sub-test with an unrun case failed
    assert ran  # and the others are judged on what ran


def test_a_pass_passes_all_and_a_load_failure_fails_all():
    everything = {i: True for i in range(len(CASES))}
    assert failed_names(everything, passed=True) == set()
    assert failed_names({}, cases=(), loaded=False) == set(NAMES)


def test_every_subtest_has_a_case_of_its_own_in_a_default_draw():
    """The evidence an edge's sub-test is judged on: the strata put each edge alone in a case."""
    for salt in range(20):
        alone = {f[0] for f in map(features_of, draw_cases(200, salt)) if len(f) == 1}
        assert alone == set(NAMES) - {"loads", "ordinary", "combined"}, salt


def test_rows_count_cases_and_name_the_evidence():
    mistake = lambda c: c.seed >= 2**53
    rows = {t["name"]: t for t in subtests(CASES, failing(mistake), True, False)}
    seed = rows["seed_edges"]
    assert seed["failed"] == sum(mistake(c) for c in CASES)
    assert seed["cases"] == sum("seed_edges" in features_of(c) for c in CASES)
    evidence = next(c for c in CASES if c.id == seed["case"])
    assert features_of(evidence) == ["seed_edges"] and mistake(evidence)
    assert isinstance(Case, type)
