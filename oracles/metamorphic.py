"""Metamorphic relations: properties every implementation must have, needing no reference.

Each :class:`Relation` says on which cases it applies and checks one implementation on one case,
given that implementation's output for the case. The runner applies every relation to every
implementation and fails a run in which some relation never applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

import numpy as np

from conformance.core import (FLOAT32_TINY, Case, Expected, Mismatch, Semantics, bitwise_equal,
                              check_structure, compare_output, expected_output)
from implementations import SEED_MAX, resolve_x64

__all__ = ["RELATIONS", "Relation", "Subject"]


class Subject(Protocol):
    """An implementation as the relations see it (the run's ``Subject``)."""

    name: str

    def call(self, case: Case) -> np.ndarray: ...

    def params(self, case: Case) -> Mapping[str, np.ndarray]: ...


Check = Callable[[Subject, Case, np.ndarray, Semantics], "list[Mismatch]"]


@dataclass(frozen=True)
class Relation:
    """A named metamorphic relation.

    Attributes:
        name: short identifier used in reports.
        statement: the property, in one sentence.
        applies: whether the relation says anything about a case.
        check: returns the mismatches of one implementation on one case.
    """

    name: str
    statement: str
    applies: Callable[[Case], bool]
    check: Check


def _own_expected(subject: Subject, case: Case, scale: float, sem: Semantics) -> Expected:
    params = subject.params(case)
    return expected_output(case.x_array, params["kernel"], params["bias"], scale, sem)


def _output_length(subject: Subject, case: Case, out: np.ndarray, sem: Semantics
                   ) -> list[Mismatch]:
    return check_structure("output", out, (case.features,), subject.name, case.id)


def _scale_one(subject: Subject, case: Case, out: np.ndarray, sem: Semantics) -> list[Mismatch]:
    one = case.replace(scale=1.0)
    return compare_output(subject.call(one), _own_expected(subject, case, 1.0, sem),
                          subject.name, one.id, what="output(scale=1)")


def _linear_ok(case: Case) -> bool:
    s = case.scale32
    return math.isfinite(s) and FLOAT32_TINY * 4 <= abs(s) <= 1e30


def _linearity(subject: Subject, case: Case, out: np.ndarray, sem: Semantics) -> list[Mismatch]:
    # -2 * scale is exact in float32 here, so f32(-2 s w) == -2 f32(s w): only the summation
    # may round differently, which the two bounds cover.
    doubled = case.replace(scale=-2.0 * case.scale32)
    out2 = subject.call(doubled)
    problems = check_structure("output(-2*scale)", out2, (case.features,), subject.name,
                               doubled.id)
    if problems or check_structure("output", out, (case.features,), subject.name, case.id):
        return problems
    e1 = _own_expected(subject, case, case.scale32, sem)
    e2 = _own_expected(subject, case, doubled.scale, sem)
    a1, a2 = out.astype(np.float64), out2.astype(np.float64)
    both_finite = np.isfinite(a1) & np.isfinite(a2) & e1.finite_ok & e2.finite_ok
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.abs(a2 + 2.0 * a1)
        same_kind = (np.isnan(a2) == np.isnan(a1)) & np.where(
            np.isinf(a1), a2 == -np.sign(a1) * np.inf, True)
    limit = e2.tol + 2.0 * e1.tol
    bad = np.flatnonzero(both_finite & (gap > limit))
    bad_kind = np.flatnonzero(~np.isnan(a1) & ~(np.isfinite(a1) & np.isfinite(a2)) & ~same_kind
                              & e1.finite_ok & ~(e1.pinf_ok | e1.ninf_ok))
    if bad.size:
        j = int(bad[0])
        return [Mismatch(f"output(-2*scale)[{j}]", repr(float(a2[j])),
                         f"-2 * output[{j}] = {-2 * a1[j]!r} ± {limit[j]:.3g}",
                         subject.name, case.id)]
    if bad_kind.size:
        j = int(bad_kind[0])
        return [Mismatch(f"output(-2*scale)[{j}]", repr(float(a2[j])),
                         f"-2 * output[{j}] = {-2 * a1[j]!r}", subject.name, case.id)]
    return []


def _determinism(subject: Subject, case: Case, out: np.ndarray, sem: Semantics
                 ) -> list[Mismatch]:
    again = subject.call(case)
    if bitwise_equal(again, out):
        return []
    return [Mismatch("output(second call)", np.array2string(np.asarray(again), threshold=8),
                     "the first call's bits " + np.array2string(np.asarray(out), threshold=8),
                     subject.name, case.id)]


def _nonfinite_bias(subject: Subject, case: Case, out: np.ndarray, sem: Semantics
                    ) -> list[Mismatch]:
    if not isinstance(out, np.ndarray) or out.shape != (case.features,):
        return []  # output_length reports it
    bad = np.flatnonzero(~np.isnan(out))
    if not bad.size:
        return []
    j = int(bad[0])
    return [Mismatch(f"output[{j}]", repr(float(out[j])),
                     f"nan (bias * scale = 0 * {case.scale32} = nan)", subject.name, case.id)]


def _alias_seed(seed: int) -> int:
    return seed + 2**32 if seed + 2**32 <= SEED_MAX else seed - 2**32


def _seed_alias(subject: Subject, case: Case, out: np.ndarray, sem: Semantics
                ) -> list[Mismatch]:
    other = case.replace(seed=_alias_seed(case.seed), float_args=False)
    mine, theirs = subject.params(case)["kernel"], subject.params(other)["kernel"]
    same = bitwise_equal(mine, theirs)
    if resolve_x64() != same:
        return []
    expected = ("a different kernel (x64 on: key(seed) is [seed >> 32, seed & 0xFFFFFFFF])"
                if resolve_x64() else
                "the same kernel bits (x64 off: key(seed) is [0, seed mod 2**32])")
    actual = "the same kernel bits" if same else "a different kernel"
    return [Mismatch(f"kernel(seed={other.seed})", actual, expected, subject.name, case.id)]


RELATIONS: tuple[Relation, ...] = (
    Relation("output_length", "the output is a float32 vector of length features",
             lambda case: True, _output_length),
    Relation("scale_one", "scale=1 gives the unscaled model x @ kernel + bias (within the bound)",
             lambda case: case.scale != 1.0, _scale_one),
    Relation("linearity", "f(-2s) = -2 f(s) within the two bounds, for finite normal scales",
             _linear_ok, _linearity),
    Relation("determinism", "the same case twice gives the same bits", lambda case: True,
             _determinism),
    Relation("nonfinite_bias",
             "a non-finite float32 scale makes every output nan (bias 0 * inf = nan)",
             lambda case: not math.isfinite(case.scale32), _nonfinite_bias),
    Relation("seed_alias",
             "seeds 2**32 apart give the same kernel bits with x64 off, different ones with x64 on",
             lambda case: True, _seed_alias),
)
