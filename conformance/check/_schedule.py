"""Splitting a check's cases between its children: whole shape groups, balanced by cost."""

from __future__ import annotations

import itertools
from typing import Sequence

from conformance.core import Case

#: Estimated cost of one shape group in a child, in units of one repeated call of a warm check:
#: a new shape costs JAX a trace, a lowering and a cache load of the programs that depend on it
#: (initialiser, the kernel's two products, the dot); elements matter little. A ``features``
#: value new to a child adds the programs that depend on it alone (the bias's zeros and
#: product, the output's add). The ratios were measured (benchmarks/README.md).
SHAPE_COST, CASE_COST, ELEMENT_COST, FEATURES_COST = 30.0, 1.0, 6e-6, 8.0


def split_cases(cases: Sequence[Case], workers: int) -> list[list[int]]:
    """Indices of ``cases`` for each child: whole shape groups, balanced by estimated cost.

    A shape is never split: its trace and compilation would then be paid in both children.
    Shapes that share ``features`` go to one child where the balance allows, so that the
    programs depending on ``features`` alone are built once: whole ``features`` blocks are
    placed largest first on the least loaded child (LPT), then one or two shape groups move
    from the most to the least loaded child, each for none or one of its groups, while that
    lowers the larger of the two loads. Each child's indices stay in ascending order, so every child
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
        # Move one or two groups from high to low, each for none or one of low's.
        outs = [(a,) for a in sorted(parts[high])] + list(itertools.combinations(
            sorted(parts[high]), 2))
        for out in outs:
            for back in [(), *((b,) for b in sorted(parts[low]))]:
                new_high = [s for s in parts[high] if s not in out] + list(back)
                new_low = [s for s in parts[low] if s not in back] + list(out)
                after = max(load(new_high), load(new_low))
                if after < best - 1e-9:
                    best, move = after, (new_high, new_low)
        if move is None:
            break
        parts[high], parts[low] = move
    return [sorted(i for shape in p for i in groups[shape]) for p in parts if p]
