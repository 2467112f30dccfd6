"""The graded cases: the shared Hypothesis draw, re-targeted onto enough shapes, plus a panel.

:func:`cached_cases` keeps a derandomized draw on disk next to the compilation cache, so that
Hypothesis's cost is paid once per ``(count, profile)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile

from conformance.core import SHAPE_POOL, Case, collect, group_by_shape
from conformance.core import cases as case_strategy

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
_CASE_SOURCES = (os.path.join(os.path.dirname(os.path.abspath(__file__)), "_draw.py"),
                 os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "core", "_cases.py"))


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
    for name in _CASE_SOURCES:
        with open(name, "rb") as source:
            digest.update(source.read())
    return os.path.join(cache.rstrip(os.sep) + "-cases", f"{digest.hexdigest()[:32]}.json")


def cached_cases(count: int, profile: str = "ci", cache: str | None = None
                 ) -> tuple[Case, ...]:
    """:func:`draw_cases`, kept on disk next to the compilation cache ``cache`` across runs.

    Drawing costs Hypothesis seconds of the parent's CPU while the children import JAX on the
    same cores. Values are stored exactly (hex floats); an unreadable or
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
