"""Shared cases: a typed, frozen :class:`Case`, its edge classes, and the Hypothesis strategies.

Every implementation, oracle and learner check draws from :func:`cases`. Shapes come from a fixed
pool because every new ``(len(x), features)`` pair costs JAX a compilation of hundreds of ms; the
pool's order is also the shrink order, so Hypothesis shrinks towards ``1x1``.

Edge classes are a pure function of a case's values (:func:`edge_classes`), not of the strategy
branch that drew it, so the run table counts what was really tested.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance.core._config import PROFILES
from conformance.core._float32 import FLOAT32_MAX, FLOAT32_TINY, to_f32
from implementations import PRNG_MODES

#: (len(x), features) pairs the default profiles draw from: tiny, small, then larger.
#: Every new shape costs JAX:CPU about eight compiled programs; four of them (the bias's zeros
#: and product, the output add, an input transfer) depend on ``features`` alone. So the pool
#: varies ``len(x)`` widely (1..256, primes, powers of two) over few ``features`` values (1, 2,
#: 3, 4, 8, 33, and 64, 512 for the largest), keeping squares (1, 4, 8), odd element counts
#: (legacy threefry's padding) and a 2**17-element kernel (compile times: benchmarks/README.md).
TINY_SHAPES: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (2, 1), (3, 2), (2, 3), (1, 3), (4, 1))
SMALL_SHAPES: tuple[tuple[int, int], ...] = (
    (3, 4), (5, 3), (4, 4), (7, 8), (8, 4), (16, 8), (17, 33), (31, 2), (2, 33), (13, 3),
    (9, 8), (6, 4), (20, 3), (3, 33), (8, 8), (12, 2), (5, 4), (11, 1))
LARGER_SHAPES: tuple[tuple[int, int], ...] = ((64, 33), (100, 8), (33, 2), (128, 64), (256, 512))
SHAPE_POOL: tuple[tuple[int, int], ...] = TINY_SHAPES + SMALL_SHAPES + LARGER_SHAPES

#: Seeds at the boundaries that matter: int32/uint32 edges, aliasing modulo 2**32, int64 edges.
EDGE_SEEDS: tuple[int, ...] = (
    0, 1, -1, 2**31 - 1, 2**31, -(2**31), 2**32 - 1, 2**32, 2**32 + 1, 2**32 + 7, -(2**32),
    2**40 + 3, 2**53, 2**62, 2**63 - 1, -(2**63))

#: Scales named by the issue, plus their neighbours.
EDGE_SCALES: tuple[float, ...] = (
    0.0, -0.0, 1.0, -1.0, 2.0, 0.5, math.nan, math.inf, -math.inf, 1e-45, -1e-45, 1e-40, 1e-46,
    2.0**-126, 1e38, -2e38, FLOAT32_MAX, 1e39, -1e39)

settings.register_profile(
    "dev", max_examples=200, deadline=None, database=None,
    suppress_health_check=list(HealthCheck))
settings.register_profile(
    "ci", max_examples=500, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, database=None,
    suppress_health_check=list(HealthCheck))


def float_literal(value: float) -> str:
    """Python source for ``value`` (``float('nan')``, ``-float('inf')``, or its repr)."""
    if math.isnan(value):
        return "float('nan')"
    if math.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(value)


@dataclass(frozen=True)
class Case:
    """One input of the exercise.

    Attributes:
        seed: the integer seed.
        x: the input vector's float32 values (Python floats, exact).
        features: the output width.
        scale: the multiplier, as given (JAX rounds it to float32).
        prng_mode: the PRNG mode to run in; None means the installed JAX's default.
        float_args: pass ``seed`` and ``features`` as floats, as the statement's grader does.
    """

    seed: int
    x: tuple[float, ...]
    features: int
    scale: float
    prng_mode: str | None = None
    float_args: bool = False
    _id: str = field(default="", init=False, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(len(x), features)``: the kernel's shape and the unit of JAX compilation."""
        return (len(self.x), self.features)

    @property
    def x_array(self) -> np.ndarray:
        return np.asarray(self.x, dtype=np.float32)

    @property
    def scale32(self) -> float:
        return to_f32(self.scale)

    @property
    def id(self) -> str:
        """Readable and unique: shape, seed, scale, mode and a digest of x."""
        if not self._id:
            digest = hashlib.blake2s(
                b"".join(struct.pack("<f", v) for v in self.x), digest_size=3).hexdigest()
            mode = {"partitionable": "P", "legacy": "L", None: "D"}[self.prng_mode]
            float_tag = "f" if self.float_args else ""
            object.__setattr__(
                self, "_id",
                f"{self.shape[0]}x{self.features}:seed={self.seed}{float_tag}:"
                f"scale={self.scale!r}:{mode}:x#{digest}")
        return self._id

    def args(self) -> tuple:
        """Positional arguments of the contract for this case."""
        if self.float_args:
            return (float(self.seed), self.x_array, float(self.features), self.scale)
        return (self.seed, self.x_array, self.features, self.scale)

    def kwargs(self) -> dict:
        return {"prng_mode": self.prng_mode}

    def replace(self, **changes) -> "Case":
        values = {k: getattr(self, k) for k in
                  ("seed", "x", "features", "scale", "prng_mode", "float_args")}
        values.update(changes)
        return Case(**values)

    def reproducer(self, impl: str = "split_merge") -> str:
        """A paste-able Python snippet that recomputes this case with implementation ``impl``."""
        seed = f"float({self.seed})" if self.float_args else str(self.seed)
        feats = f"float({self.features})" if self.float_args else str(self.features)
        xs = ", ".join(float_literal(v) for v in self.x)
        return (
            "import numpy as np, implementations\n"
            f"x = np.array([{xs}], dtype=np.float32)\n"
            f"print(implementations.get({impl!r})({seed}, x, {feats}, {float_literal(self.scale)}, "
            f"prng_mode={self.prng_mode!r}))")


def edge_classes(case: Case) -> tuple[str, ...]:
    """The labelled edge classes a case belongs to (a case has several)."""
    labels: list[str] = []
    s, s32 = case.scale, case.scale32
    if math.isnan(s):
        labels.append("scale:nan")
    elif math.isinf(s32):
        labels.append("scale:inf" if s32 > 0 else "scale:-inf")
        if not math.isinf(s):
            labels.append("scale:overflow")
    elif s32 == 0 and s != 0:
        labels.append("scale:underflow")
    elif s == 0:
        labels.append("scale:-0.0" if math.copysign(1, s) < 0 else "scale:zero")
    elif abs(s32) < FLOAT32_TINY:
        labels.append("scale:subnormal")
    elif s == 1:
        labels.append("scale:one")
    elif abs(s32) * 2 > FLOAT32_MAX / 2:
        labels.append("scale:overflow")  # |kernel| reaches 2 * stddev >= 2 for fan_in 1
    else:
        labels.append("scale:finite")
    xs = case.x
    special = False
    if any(math.isnan(v) for v in xs):
        labels.append("x:nan"); special = True
    if any(math.isinf(v) for v in xs):
        labels.append("x:inf"); special = True
    if any(v == 0 and math.copysign(1, v) < 0 for v in xs):
        labels.append("x:-0.0"); special = True
    if any(v != 0 and abs(v) < FLOAT32_TINY for v in xs):
        labels.append("x:subnormal"); special = True
    if not special:
        labels.append("x:finite")
    seed = case.seed
    if seed == 0:
        labels.append("seed:zero")
    elif seed < 0:
        labels.append("seed:negative")
    if seed in (2**31 - 1, 2**31, -(2**31)):
        labels.append("seed:int32-edge")
    if seed >= 2**32 or seed < -(2**31):
        labels.append("seed:alias")  # differs from seed mod 2**32 only with x64 on
    if 0 < seed < 2**31 - 1:
        labels.append("seed:ordinary")
    if case.float_args:
        labels.append("args:float")
    n_elements = case.shape[0] * case.shape[1]
    labels.append("shape:tiny" if n_elements <= 5 else "shape:small" if n_elements <= 400
                  else "shape:larger")
    labels.append(f"mode:{case.prng_mode or 'default'}")
    return tuple(labels)


#: Every edge class the strategies are built to reach (tests check each is drawn).
EDGE_CLASSES: tuple[str, ...] = (
    "scale:nan", "scale:inf", "scale:-inf", "scale:overflow", "scale:underflow", "scale:zero",
    "scale:-0.0", "scale:subnormal", "scale:one", "scale:finite", "x:nan", "x:inf", "x:-0.0",
    "x:subnormal", "x:finite", "seed:zero", "seed:negative", "seed:int32-edge", "seed:alias",
    "seed:ordinary", "args:float", "shape:tiny", "shape:small", "shape:larger")


def seeds() -> st.SearchStrategy[int]:
    """Seeds: small ones, the edge seeds, aliasing ones and the whole int64 range."""
    return st.one_of(
        st.integers(0, 1000),
        st.sampled_from(EDGE_SEEDS),
        st.integers(-1000, -1),
        st.integers(0, 2**20).map(lambda k: 2**32 + k),
        st.integers(-(2**63), 2**63 - 1),
    )


def scales() -> st.SearchStrategy[float]:
    """Scales: the named edge values (half the draws) and ordinary nonzero float32 values."""
    ordinary = st.floats(-8.0, 8.0, width=32, allow_subnormal=False).filter(lambda v: v != 0)
    wide = st.floats(width=32, allow_nan=False, allow_infinity=False).filter(lambda v: v != 0)
    edge = st.sampled_from(EDGE_SCALES)
    return st.one_of(edge, ordinary, edge, wide.map(float))


#: Values injected into x to reach the x edge classes.
X_SPECIALS: tuple[float, ...] = (math.nan, math.inf, -math.inf, -0.0, 1e-40, -3e-42)
_DIRECT_X = 8  # up to this length Hypothesis draws (and shrinks) every element itself


@st.composite
def x_values(draw, n: int) -> tuple[float, ...]:
    """``n`` float32 values; a third of vectors get one to three special values injected.

    Short vectors are drawn element by element; longer ones from a drawn NumPy seed and
    magnitude, because drawing hundreds of floats through Hypothesis costs more than the JAX call
    they feed (and shrinking moves to the short shapes first anyway).
    """
    if n <= _DIRECT_X:
        values = draw(st.lists(st.floats(-1000.0, 1000.0, width=32, allow_subnormal=False),
                               min_size=n, max_size=n))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        magnitude = draw(st.sampled_from((1.0, 1000.0, 1e-3)))
        values = list(rng.uniform(-magnitude, magnitude, n).astype(np.float32))
    if draw(st.integers(0, 2)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            values[draw(st.integers(0, n - 1))] = draw(st.sampled_from(X_SPECIALS))
    return tuple(to_f32(v) for v in values)


@st.composite
def cases(draw, shapes: Sequence[tuple[int, int]] = SHAPE_POOL,
          modes: Sequence[str | None] = PRNG_MODES, float_args: bool = True) -> Case:
    """Draws a :class:`Case`.

    Args:
        shapes: the ``(len(x), features)`` pool to draw from; its first entry is the shrink target.
        modes: PRNG modes to draw (``None`` = the installed JAX's default).
        float_args: whether to sometimes pass seed and features as floats.
    """
    n, features = draw(st.sampled_from(tuple(shapes)))
    seed = draw(seeds())
    as_float = float_args and abs(seed) <= 2**53 and draw(st.booleans())
    return Case(seed=seed, x=draw(x_values(n)), features=features, scale=draw(scales()),
                prng_mode=draw(st.sampled_from(tuple(modes))), float_args=as_float)


def thorough_shapes() -> tuple[tuple[int, int], ...]:
    """The pool plus a deterministic spread of other shapes (each costs a compile)."""
    rng = np.random.default_rng(20261125)
    extra = {(int(a), int(b)) for a, b in rng.integers(1, 300, size=(40, 2))}
    return SHAPE_POOL + tuple(sorted(extra - set(SHAPE_POOL)))


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis (6.131 on) mixes literals found in every imported *local* module into its
    draws, so a derandomized draw would depend on what the process happened to import (pytest's
    test modules, the CLI's, an editable install or not): importing one module full of
    literals changed most of the 500 ``ci`` cases. Draw with none; on older
    Hypothesis, which has no such pool, this does nothing.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    empty = Constants()
    cache.clear()  # it may hold permitted constants computed with the local ones
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def collect(count: int, profile: str = "ci", strategy: st.SearchStrategy[Case] | None = None
            ) -> list[Case]:
    """Draws ``count`` distinct cases with Hypothesis under ``profile``.

    The cases are drawn first and evaluated later, grouped by shape, so that compiled work is
    reused; Hypothesis is asked for them through ``@given`` so that its profiles (derandomized in
    ``ci``) and its edge-biased generation apply.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}, but should be one of {PROFILES}")
    if strategy is None:
        strategy = cases(shapes=thorough_shapes() if profile == "thorough" else SHAPE_POOL)
    drawn: dict[str, Case] = {}
    base = settings.get_profile(profile)

    # Hypothesis does not repeat an example, so a small margin covers the rare duplicate id.
    @settings(base, max_examples=count + count // 10 + 5, phases=[Phase.generate],
              database=None)
    @given(strategy)
    def draw(case: Case) -> None:
        if len(drawn) < count:
            drawn.setdefault(case.id, case)

    with _without_local_constants():
        draw()
    return list(drawn.values())


def group_by_shape(items: Iterable[Case]) -> list[Case]:
    """Cases ordered so that equal shapes (and modes) are adjacent: one compile per group."""
    return sorted(items, key=lambda c: (c.shape, c.prng_mode or "", c.id))
