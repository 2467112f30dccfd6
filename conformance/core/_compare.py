"""Comparison: structure first, then values; kernels bit for bit, outputs against a proven bound.

The output of the exercise is ``y_j = sum_i x_i p_ij + b_j`` with ``p = f32(scale * kernel)`` and
``b = f32(scale * bias)``. Implementations may sum in any order, block, or fuse multiply-adds, so
outputs are compared with the classical bound for a recursive dot product of ``n + 1`` terms
(Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1), which holds for every summation
order and with or without fused multiply-adds::

    |y_j - exact_j| <= gamma_{n+1} * S_j + (2n + 2) * eta,   S_j = sum_i |x_i p_ij| + |b_j|

with ``u = 2**-24``, ``gamma_k = k u / (1 - k u)``, and ``eta`` the absolute error an underflowing
operation can make: ``2**-126`` where XLA flushes subnormal results to zero (the host probe
says so), ``2**-150`` with gradual underflow. Flush-to-zero is also modelled in the reference
itself: subnormal ``x`` and ``scale`` are read as zero and subnormal ``p`` flushed, exactly as
XLA:CPU does, instead of widening the tolerance. The float64 reference sum adds its own
``gamma_{n+1}`` for ``u = 2**-53``.

Non-finite results are decided exactly: NaN where any term is NaN or where +inf and -inf terms
meet; the infinity's sign otherwise. Only where finite terms could overflow float32 in some
summation order (their positive or negative part exceeds ``FLOAT32_MAX`` within the bound) is an
infinity, or NaN when both parts could, also accepted. Signs of zero are not compared: IEEE sums
of zeros depend on the accumulator's initial value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np

from conformance.core._float32 import FLOAT32_MAX, FLOAT32_TINY, U32, U64


class Semantics(NamedTuple):
    """How the reference platform rounds (measured by :func:`conformance.core.host_semantics`)."""

    ftz: bool = True
    daz: bool = True


@dataclass(frozen=True)
class Mismatch:
    """One disagreement, printed as ``<what>=<actual>, but should be <expected> [<impl> <case>]``."""

    what: str
    actual: str
    expected: str
    impl: str
    case_id: str

    def __str__(self) -> str:
        return (f"{self.what}={self.actual}, but should be {self.expected} "
                f"[{self.impl} {self.case_id}]")

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "actual": self.actual, "expected": self.expected,
                "impl": self.impl, "case": self.case_id, "message": str(self)}


def gamma(k: int, unit: float) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)``."""
    return k * unit / (1.0 - k * unit)


def _flush(a: np.ndarray) -> np.ndarray:
    """Subnormals to signed zero (what FTZ/DAZ do), float32 in and out."""
    a = np.asarray(a, dtype=np.float32)
    tiny = (a != 0) & (np.abs(a) < np.float32(FLOAT32_TINY))
    return np.where(tiny, np.copysign(np.float32(0), a), a) if tiny.any() else a


def scaled_params(kernel: np.ndarray, bias: np.ndarray, scale: float, sem: Semantics
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(f32(scale * kernel), f32(scale * bias))`` as XLA:CPU computes them."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.float32(scale)
        if sem.daz:
            s = _flush(np.asarray(s))[()]
        p = np.asarray(kernel, np.float32) * s
        b = np.asarray(bias, np.float32) * s
    return (_flush(p), _flush(b)) if sem.ftz else (p, b)


@dataclass(frozen=True)
class Expected:
    """The accepted results of each output element.

    Attributes:
        value: the float64 reference value (meaningful where finite results are accepted).
        tol: the absolute error bound around ``value``.
        finite_ok, pinf_ok, ninf_ok, nan_ok: which kinds of result are accepted.
    """

    value: np.ndarray
    tol: np.ndarray
    finite_ok: np.ndarray
    pinf_ok: np.ndarray
    ninf_ok: np.ndarray
    nan_ok: np.ndarray

    def describe(self, j: int) -> str:
        kinds = []
        if self.finite_ok[j]:
            kinds.append(f"{self.value[j]:.9g} ± {self.tol[j]:.3g}")
        if self.pinf_ok[j]:
            kinds.append("inf")
        if self.ninf_ok[j]:
            kinds.append("-inf")
        if self.nan_ok[j]:
            kinds.append("nan")
        return " or ".join(kinds)

    def accepts(self, actual: np.ndarray) -> np.ndarray:
        a = np.asarray(actual, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(a) & self.finite_ok & (np.abs(a - self.value) <= self.tol)
        return (finite | (np.isnan(a) & self.nan_ok) | ((a == np.inf) & self.pinf_ok)
                | ((a == -np.inf) & self.ninf_ok))


def expected_output(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, scale: float,
                    sem: Semantics = Semantics()) -> Expected:
    """What ``x @ (scale * kernel) + scale * bias`` may be, element by element (module doc)."""
    x32 = np.asarray(x, dtype=np.float32)
    if sem.daz:
        x32 = _flush(x32)
    p, b = scaled_params(kernel, bias, scale, sem)
    n = x32.shape[0]
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.concatenate(
            [x32.astype(np.float64)[:, None] * p.astype(np.float64), b.astype(np.float64)[None]])
        finite = np.isfinite(terms)
        fin = np.where(finite, terms, 0.0)
        value = terms.sum(axis=0)
    s = np.abs(fin).sum(axis=0)
    eta = FLOAT32_TINY if sem.ftz else 2.0**-150
    tol = (gamma(n + 1, U32) + gamma(n + 1, U64)) * s + (2 * n + 2) * eta
    pos = np.where(fin > 0, fin, 0.0).sum(axis=0) * (1 + gamma(n + 1, U32)) + tol
    neg = np.where(fin < 0, -fin, 0.0).sum(axis=0) * (1 + gamma(n + 1, U32)) + tol
    could_p, could_n = pos >= FLOAT32_MAX, neg >= FLOAT32_MAX
    any_nan = np.isnan(terms).any(axis=0)
    pinf = (terms == np.inf).any(axis=0)
    ninf = (terms == -np.inf).any(axis=0)
    certain_nan = any_nan | (pinf & ninf)
    no_inf_terms = ~pinf & ~ninf & ~any_nan
    return Expected(
        value=np.where(no_inf_terms, value, np.nan),
        tol=tol,
        finite_ok=no_inf_terms,
        pinf_ok=~certain_nan & ~ninf & (pinf | could_p),
        ninf_ok=~certain_nan & ~pinf & (ninf | could_n),
        nan_ok=certain_nan | (pinf & could_n) | (ninf & could_p) | (could_p & could_n),
    )


def _fmt(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else str(float(v))


def check_structure(what: str, actual: Any, shape: tuple[int, ...], impl: str, case_id: str
                    ) -> list[Mismatch]:
    """Type, shape and dtype of an array result; an empty list when they are right."""
    if not isinstance(actual, np.ndarray):
        return [Mismatch(f"type({what})", type(actual).__name__, "numpy.ndarray", impl, case_id)]
    if actual.shape != shape:
        return [Mismatch(f"{what}.shape", str(actual.shape), str(shape), impl, case_id)]
    if actual.dtype != np.float32:
        return [Mismatch(f"{what}.dtype", str(actual.dtype), "float32", impl, case_id)]
    return []


def compare_output(actual: Any, expected: Expected, impl: str, case_id: str,
                   what: str = "output") -> list[Mismatch]:
    """Structure, then every element against ``expected``; reports the worst element."""
    problems = check_structure(what, actual, expected.value.shape, impl, case_id)
    if problems:
        return problems
    ok = expected.accepts(actual)
    if ok.all():
        return []
    bad = np.flatnonzero(~ok)
    a = actual.astype(np.float64)
    with np.errstate(invalid="ignore"):
        excess = np.where(np.isfinite(a[bad]) & expected.finite_ok[bad],
                          np.abs(a[bad] - expected.value[bad]) / np.maximum(expected.tol[bad],
                                                                              1e-300), np.inf)
    j = int(bad[int(np.argmax(excess))])
    label = f"{what}[{j}]" if len(bad) == 1 else f"{what}[{j}] ({len(bad)} of {a.size} wrong)"
    return [Mismatch(label, _fmt(a[j]), expected.describe(j), impl, case_id)]


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (monotone integer mapping of the bits)."""
    def ordered(v: np.ndarray) -> np.ndarray:
        i = np.asarray(v, np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(2**31) - i, i)

    return np.abs(ordered(a) - ordered(b))


def compare_bits(what: str, actual: Any, expected: np.ndarray, impl: str, case_id: str
                 ) -> list[Mismatch]:
    """Structure, then bit-for-bit equality of two float32 arrays (NaN payloads included)."""
    problems = check_structure(what, actual, expected.shape, impl, case_id)
    if problems:
        return problems
    a_bits = actual.view(np.uint32)
    e_bits = np.asarray(expected, np.float32).view(np.uint32)
    diff = a_bits != e_bits
    if not diff.any():
        return []
    idx = np.argwhere(diff)
    first = tuple(int(i) for i in idx[0])
    ulps = int(ulp_distance(actual[diff], expected[diff]).max())
    label = (f"{what}[{','.join(map(str, first))}] ({len(idx)} of {actual.size} differ, "
             f"max {ulps} ULP)")
    a, e = actual[first], expected[first]
    return [Mismatch(label, f"0x{int(a.view(np.uint32)):08x} ({_fmt(a)})",
                     f"0x{int(np.float32(e).view(np.uint32)):08x} ({_fmt(e)})", impl, case_id)]


def compare_params(actual: Any, reference: Mapping[str, np.ndarray], exact: bool, impl: str,
                   case_id: str) -> list[Mismatch]:
    """The initial state: keys, then structure, then (if ``exact``) bits of kernel and bias."""
    if not isinstance(actual, Mapping) or set(actual) != set(reference):
        keys = sorted(actual) if isinstance(actual, Mapping) else type(actual).__name__
        return [Mismatch("params.keys", str(keys), str(sorted(reference)), impl, case_id)]
    problems: list[Mismatch] = []
    for name in sorted(reference):
        if exact:
            problems += compare_bits(name, actual[name], reference[name], impl, case_id)
        else:
            problems += check_structure(name, actual[name], reference[name].shape, impl, case_id)
    return problems


def bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and identical bits (so NaN equals NaN, and -0.0 differs from +0.0)."""
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and a.dtype == b.dtype and a.tobytes() == b.tobytes())
