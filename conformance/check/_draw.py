"""The graded cases: drawn afresh for every check from a random salt, on the fixed shape pool.

A learner cannot know the cases in advance, nor replay answers recorded by an earlier
submission: the values (seeds, ``x``, ``scale``) come from a new salt in every check (recorded
in the result; ``--seed SALT`` repeats a check exactly with the same code), and nothing about
them is kept on disk. The shapes are the fixed pool of ``_pool``, which keeps checks warm.

The draw is stratified, so that every class the contract names is graded on finite values in
every check of at least :func:`strata_size` cases: every shape of the pool, every seed edge
and a seed from each band between them, every scale edge, every special ``x`` value. The
rest is a random mixture of all of them. :data:`PANEL`, a fixed set that tells the mutants
apart, is added to every check.
"""

from __future__ import annotations

import math
import random
import secrets

import numpy as np

from conformance.check._pool import CHECK_SHAPES, SMALL
from conformance.core import (EDGE_SCALES, EDGE_SEEDS, FLOAT32_TINY, X_SPECIALS, Case,
                              group_by_shape, to_f32)

#: Fixed cases added to every check: edge scales, aliasing and negative seeds, float and int
#: arguments, a square shape (where a transposed kernel still runs), zero and flushed scales
#: with an infinite or nan x. Shapes are from the pool.
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
    # A zero (or flushed) scale still gives nan where x is infinite or nan (0 * inf).
    Case(6, (1.0, math.inf, 2.0), 4, 0.0, None, False),
    Case(8, (math.nan, 1.0), 3, -0.0, None, True),
    Case(10, (-math.inf, 0.5), 1, 1e-45, None, False),
    # Beyond 64 on each axis, a seed between the int32 and uint32 edges, one beyond 2**53.
    Case(2**31 + 9, tuple((k % 7 - 3) / 4 for k in range(65)), 3, 1.5, None, False),
    Case(2**53 + 1, (0.5, -1.0, 2.0), 65, -0.5, None, False),
)

#: Seeds the contract names beyond the suite's edge seeds: around 2**53, where a float no
#: longer holds every integer (``int(float(seed))`` goes wrong above it).
SEED_EDGES: tuple[int, ...] = EDGE_SEEDS + (2**53 - 1, 2**53 + 1, -(2**53), 2**53 + 2**32 + 3)
#: The bands between the edges: one seed is drawn from each in every check.
SEED_BANDS: tuple[tuple[int, int], ...] = (
    (2, 2**31 - 2),                    # ordinary int32
    (2**31 + 1, 2**32 - 2),            # between the int32 and the uint32 edges
    (2**32 + 2, 2**53 - 2),            # beyond uint32, exact as a float
    (2**53 + 2, 2**62 - 1),            # beyond 2**53
    (2**62 + 1, 2**63 - 2),            # the top of int64
    (-(2**31) + 1, -2),                # negative int32
    (-(2**53), -(2**31) - 1),          # negative beyond int32
    (-(2**63) + 1, -(2**53) - 1),      # the bottom of int64
)
#: The edge scales that act as zero (float32 zeros, and subnormals XLA:CPU flushes).
ZERO_SCALES: tuple[float, ...] = tuple(s for s in EDGE_SCALES if abs(to_f32(s)) < FLOAT32_TINY)
#: The share of the random mixture drawn from the small shapes alone.
SMALL_SHARE = 0.6
#: Magnitudes of finite ``x`` (each element uniform in ``[-m, m]``).
X_MAGNITUDES: tuple[float, ...] = (1.0, 1.0, 1000.0, 1e-3)


def new_salt() -> int:
    """A fresh salt for a check: 63 random bits from the operating system."""
    return secrets.randbits(63)


def _x(rng: random.Random, n: int, specials: int = 0) -> tuple[float, ...]:
    magnitude = rng.choice(X_MAGNITUDES)
    uniform = rng.uniform
    values = np.array([uniform(-magnitude, magnitude) for _ in range(n)],
                      dtype=np.float32).tolist()  # exact float32 values, rounded at once
    for _ in range(specials):
        values[rng.randrange(n)] = rng.choice(X_SPECIALS)
    return tuple(values)


def _ordinary_scale(rng: random.Random) -> float:
    kind = rng.randrange(4)
    if kind == 0:
        return float(rng.choice((-3, -2, 2, 3, 4)))
    if kind == 1:
        return rng.choice((-1, 1)) * 10.0 ** rng.uniform(-20, 20)
    scale = 0.0
    while abs(scale) < 1e-3:
        scale = rng.uniform(-8.0, 8.0)
    return scale


def _seed(rng: random.Random) -> int:
    kind = rng.randrange(10)
    if kind < 5:
        return rng.randrange(0, 2**31 - 1)
    if kind < 8:
        return rng.randrange(*rng.choice(SEED_BANDS))
    return rng.choice(SEED_EDGES)


def _case(rng: random.Random, shape: tuple[int, int], seed: int | None = None,
          scale: float | None = None, specials: int = 0,
          as_float: bool | None = None) -> Case:
    seed = _seed(rng) if seed is None else seed
    scale = _ordinary_scale(rng) if scale is None else scale
    coin = rng.random() < 0.5
    as_float = abs(seed) <= 2**53 and (coin if as_float is None else as_float)
    return Case(seed=seed, x=_x(rng, shape[0], specials), features=shape[1], scale=scale,
                prng_mode=None, float_args=as_float)


def _strata(rng: random.Random) -> list[Case]:
    """One finite case per shape, seed edge, seed band and scale edge; one per x special."""
    shape = lambda: rng.choice(CHECK_SHAPES)  # noqa: E731
    cases = [_case(rng, s, seed=rng.randrange(0, 2**31 - 1)) for s in CHECK_SHAPES]
    cases += [_case(rng, shape(), seed=seed) for seed in SEED_EDGES]
    cases += [_case(rng, shape(), seed=rng.randrange(lo, hi + 1)) for lo, hi in SEED_BANDS]
    # The scale and x edges on an ordinary seed, integer arguments and a small shape: each
    # alone in its case, the evidence its sub-test is judged on (``_subtests``).
    ordinary = lambda: rng.randrange(1, 2**31 - 1)  # noqa: E731
    small = lambda: rng.choice(SMALL)  # noqa: E731
    cases += [_case(rng, small(), seed=ordinary(), scale=scale, as_float=False)
              for scale in EDGE_SCALES]
    for special in X_SPECIALS:
        cases.append(_with(rng, _case(rng, small(), seed=ordinary(), as_float=False), special))
    for scale in ZERO_SCALES:  # 0 * inf is nan: no shortcut for a zero scale holds
        cases += [_with(rng, _case(rng, shape(), scale=scale), s) for s in (math.inf, math.nan)]
    return cases


def _with(rng: random.Random, case: Case, special: float) -> Case:
    """``case`` with one element of ``x`` replaced by ``special``."""
    x = list(case.x)
    x[rng.randrange(len(x))] = special
    return case.replace(x=tuple(x))


def strata_size() -> int:
    """How many cases the strata hold: a check of at least this many covers every class."""
    return (len(CHECK_SHAPES) + len(SEED_EDGES) + len(SEED_BANDS) + len(EDGE_SCALES)
            + len(X_SPECIALS) + 2 * len(ZERO_SCALES))


def draw_cases(count: int, salt: int) -> tuple[Case, ...]:
    """The graded cases of one check: ``count`` drawn from ``salt``, plus :data:`PANEL`.

    The strata come first (all of them when ``count >= strata_size()``, a random selection
    otherwise); the rest mixes random shapes (mostly small ones, which cost a child least),
    seeds from every band and edge, ordinary, wide and edge scales, and ``x`` with special
    values in one case in six. Ordered by shape.
    """
    rng = random.Random(salt)
    strata = _strata(rng)
    if count < len(strata):
        strata = rng.sample(strata, count)
    drawn = {c.id: c for c in strata}
    while len(drawn) < count:
        scale = rng.choice(EDGE_SCALES) if rng.random() < 0.15 else None
        specials = rng.randint(1, 3) if rng.random() < 1 / 6 else 0
        # The strata grade every large shape; the mixture favours the cheap small ones.
        shape = rng.choice(SMALL if rng.random() < SMALL_SHARE else CHECK_SHAPES)
        case = _case(rng, shape, scale=scale, specials=specials)
        drawn.setdefault(case.id, case)
    cases = list(drawn.values())
    seen = set(drawn)
    return tuple(group_by_shape(cases + [c for c in PANEL if c.id not in seen]))
