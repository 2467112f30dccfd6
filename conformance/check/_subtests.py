"""The check as named sub-tests, for partial credit: each graded case belongs to exactly one.

A check's verdict is all or nothing; a course may still want to give points for the parts a
solution gets right. The cases a check already draws fall into the classes the contract names
(``conformance.core.edge_classes``): a case counts in the sub-test of each edge it has, and an
edge's sub-test fails on the evidence of a case whose only edge it is (see :func:`subtests`).
So a solution wrong only on, say, seeds beyond ``2**53`` fails ``seed_edges`` and nothing
else, wherever else such seeds meet other edges. ``loads`` is the file itself: it imports and
defines a callable ``pure_state_update``. A sub-test passes only if every one of its cases was
graded and conformed: cases a check never ran (it stopped at a resource failure: a hang, a
memory bomb, the budget) count as failed, never as passed. A pass of the whole check is a pass
of every sub-test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names alone are imported by the reports (no NumPy at start-up)
    from conformance.core import Case

#: The sub-tests, in report order: name and what a learner reads about it.
SUBTESTS: tuple[tuple[str, str], ...] = (
    ("loads", "the file imports and defines a callable pure_state_update"),
    ("ordinary", "finite inputs, ordinary seeds and scales"),
    ("large_shapes", "len(x) or features beyond 64"),
    ("seed_edges", "seeds at the contract's edges: zero, negative, the int32 and uint32 "
                   "edges, beyond 2**53, the int64 edges"),
    ("scale_edges", "scales that are zero, -0.0, subnormal, underflow or overflow in float32, "
                    "or one"),
    ("non_finite_scales", "scale nan, inf or -inf"),
    ("special_x", "x holding nan, inf, -0.0 or a subnormal"),
    ("float_arguments", "seed and features given as floats"),
    ("combined", "several of these edges in one case (fails only on a mistake that no single "
                 "edge shows)"),
)
NAMES: tuple[str, ...] = tuple(name for name, _ in SUBTESTS)


def features_of(case: Case) -> list[str]:
    """The sub-tests whose feature ``case`` has (none: an ordinary case), from its edge
    classes (:func:`conformance.core.edge_classes`, the one definition of each)."""
    from conformance.core import edge_classes

    labels = set(edge_classes(case))
    found = []
    if not math.isfinite(case.scale):
        found.append("non_finite_scales")
    elif "scale:finite" not in labels:
        found.append("scale_edges")
    if "x:finite" not in labels:
        found.append("special_x")
    if "seed:ordinary" not in labels:
        found.append("seed_edges")
    if len(case.x) > 64 or case.features > 64:
        found.append("large_shapes")
    if case.float_args:
        found.append("float_arguments")
    return found


def subtests(cases: Sequence[Case], graded: Mapping[int, bool], loaded: bool,
             passed: bool) -> list[dict[str, Any]]:
    """The sub-tests' results of one check.

    A case counts in the sub-test of every edge it has (``ordinary``: none; ``combined``:
    several). An edge's sub-test fails when a case whose only edge it is fails (the evidence,
    named in ``case``); ``ordinary`` when a case without edges fails; ``combined`` when a case
    with several edges fails and none of its edges failed on its own (a mistake only in the
    combination). So a mistake confined to one edge costs that edge's sub-test alone. A
    sub-test passes only on evidence: at least one of its cases conformed, and all of them ran
    (not so when the check stopped at a resource failure); a pass of the whole check passes
    them all.

    Args:
        cases: the graded cases, in case order.
        graded: case index -> whether it conformed, for every case that was judged.
        loaded: the solution imported and defined a callable ``pure_state_update``.
        passed: the check's verdict was a pass (then every sub-test passed).
    """
    rows = {name: {"name": name, "description": text, "cases": 0, "failed": 0,
                   "passed": False, "case": None} for name, text in SUBTESTS}
    rows["loads"].update(passed=loaded, failed=0 if loaded else 1)
    complete = {name: loaded for name in NAMES}
    failed: set[str] = set()
    several: list[tuple[Case, list[str]]] = []
    cleared: set[str] = set()  # edges a case right on them alone shows right
    shown_right: set[str] = set()  # sub-tests with at least one case that conformed
    for index, case in enumerate(cases):
        found = features_of(case)
        if graded.get(index) and len(found) == 1:
            cleared.add(found[0])
        names = found if len(found) < 2 else [*found, "combined"]
        names = names or ["ordinary"]
        ok = graded.get(index)
        for name in names:
            rows[name]["cases"] += 1
            if ok is None:
                complete[name] = False
            elif not ok:
                rows[name]["failed"] += 1
            else:
                shown_right.add(name)
        if ok is False:
            if len(found) < 2:
                name = names[0]
                failed.add(name)
                rows[name]["case"] = rows[name]["case"] or case.id
            else:
                several.append((case, found))
    # Failures no failed edge explains: blame the edge most of them share, if nothing shows
    # that edge right on its own (no case whose only edge it is passed); else the combination.
    unexplained = [(c, f) for c, f in several if not failed.intersection(f)]
    while unexplained:
        counts = {name: sum(name in f for _, f in unexplained) for name in NAMES
                  if name not in cleared and any(name in f for _, f in unexplained)}
        if not counts:
            failed.add("combined")
            rows["combined"]["case"] = unexplained[0][0].id
            break
        blamed = max(counts, key=lambda name: counts[name])  # ties: SUBTESTS order
        failed.add(blamed)
        rows[blamed]["case"] = next(c.id for c, f in unexplained if blamed in f)
        unexplained = [(c, f) for c, f in unexplained if blamed not in f]
    for name in NAMES[1:]:
        row = rows[name]
        row["passed"] = passed or (complete[name] and name in shown_right
                                   and name not in failed)
    return [rows[name] for name in NAMES]
