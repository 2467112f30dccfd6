"""Grading one call: what the child returned, what the reference accepts, and the verdict.

The solution's outputs are only ever judged here, in the grader's process: a child's frame is
validated field by field (:func:`read_outcome`; the solution may forge frames), the expected
output comes from the NumPy port's kernels (bit-identical to JAX's initialiser, no compile)
and the bound of :func:`conformance.core.expected_output`, and :func:`judge` names the kind of
failure.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.check.sandbox import (ARRAY, ERROR, EXIT, MAX_ELEMENTS, MEMORY, OTHER_TYPE,
                                       ChildGone, encode_case)
from conformance.core import Case, Expected, Semantics, compare_output, expected_output

#: Failure kinds that belong to one case (they have a counterexample).
CASE_KINDS = ("wrong_values", "wrong_shape", "wrong_dtype", "wrong_type", "exception",
              "exit", "memory")
#: Case kinds Hypothesis shrinks and the mutants are matched against (cheap to call again).
SHRINKABLE = ("wrong_values", "wrong_shape", "wrong_dtype", "wrong_type", "exception")
#: Failures of a resource: judged at their first occurrence, never run again (no later case,
#: no shrinking, no mutants), so that each is judged in seconds.
RESOURCE_KINDS = ("memory", "timeout", "budget", "cpu_time", "killed")


@dataclass
class Outcome:
    """What one call of the solution produced, as read from the child.

    ``status`` is ``array`` (``value`` holds it, or None for an array too large to send),
    ``type`` (not an array: ``type_name``), ``error``/``exit``/``memory`` (``exc_type``,
    ``message``).
    """

    status: str
    value: np.ndarray | None = None
    dtype: str = ""
    shape: tuple[int, ...] = ()
    type_name: str = ""
    exc_type: str = ""
    message: str = ""
    traceback: str = ""

    def summary(self) -> str:
        if self.status == ARRAY:
            return f"array(shape={self.shape}, dtype={self.dtype})"
        if self.status == OTHER_TYPE:
            return f"a {self.type_name} (not an array)"
        return f"{self.exc_type}: {self.message}"[:300]


@dataclass
class Failure:
    """Why one case failed: ``kind`` plus the comparator's message."""

    kind: str
    case: Case | None
    message: str
    outcome: Outcome | None = None
    expected: Expected | None = None


def wire_case(index: int, case: Case) -> dict[str, Any]:
    """``case`` as one case of a ``run`` request (exact: hex floats and float32 bytes)."""
    return encode_case(index, case.seed, case.features, case.float_args, case.scale,
                       case.x_array.astype("<f4").tobytes())


def value_text(value: Any, limit: int = 2000) -> str:
    """A value from a child's frame as text for a message. The solution runs in the child and
    may forge frames, so only strings and numbers are shown as they are; anything else is
    named by its type (``str()`` of a deeply nested list would recurse in the grader)."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)[:limit]
    return f"<{type(value).__name__}>"


def field_text(header: dict[str, Any], key: str, limit: int = 2000) -> str:
    """:func:`value_text` of ``header[key]`` ("" when absent)."""
    return value_text(header.get(key), limit)


def read_outcome(header: dict[str, Any], data: bytes, features: int) -> Outcome:
    """Validates one result frame's header and data into an :class:`Outcome`."""
    status = header.get("status")
    text = functools.partial(field_text, header)
    if status == ARRAY:
        shape = header.get("shape")
        dtype = header.get("dtype")
        elided = header.get("elided") is True
        if (not isinstance(shape, list) or len(shape) > 4 or not isinstance(dtype, str)
                or not all(type(d) is int and 0 <= d <= 1 << 40 for d in shape)):
            raise ChildGone("protocol", "a result frame's shape or dtype is malformed")
        size = math.prod(shape)  # exact: np.prod could wrap
        if elided:  # too large to send: its shape alone says it is wrong
            if size <= MAX_ELEMENTS or data:
                raise ChildGone("protocol", "a result frame elides a small array")
            return Outcome(ARRAY, None, dtype[:40], tuple(shape))
        if 8 * size != len(data):
            raise ChildGone("protocol", "a result frame's shape, dtype and size disagree")
        values = np.frombuffer(data, dtype="<f8").reshape(shape)
        # float64 carries every float32 (and float16/bfloat16) value exactly.
        value = values.astype(np.float32) if dtype == "float32" else values.copy()
        return Outcome(ARRAY, value, dtype[:40], tuple(shape))
    if status == OTHER_TYPE:
        return Outcome(OTHER_TYPE, type_name=text("type"), dtype=text("dtype"))
    if status in (ERROR, EXIT, MEMORY):
        return Outcome(status, exc_type=text("exc_type"), message=text("message"),
                       traceback=text("traceback"))
    raise ChildGone("protocol", f"a result frame has an unknown status {status!r}")


class Reference:
    """Expected outputs from the NumPy port's kernels (bit-identical to JAX's initialiser).

    Args:
        prng_mode: the PRNG mode of the learner's JAX.
        fma: whether XLA fuses multiply-adds (None: as on this host).
        sem: how the reference platform rounds.
        jaxlib: the learner's jaxlib version, which decides the last bits of the kernels
            (the ports' float variant); None: this host's.
    """

    def __init__(self, prng_mode: str, fma: bool | None = None, sem: Semantics = Semantics(),
                 jaxlib: str | None = None):
        from implementations import float_variant_for, host_float_variant, numpy_port

        self._init, self.mode, self.fma, self.sem = numpy_port.initial_params, prng_mode, fma, sem
        self.float_variant = float_variant_for(jaxlib) if jaxlib else host_float_variant()
        self._forward = numpy_port.forward
        self._memo: dict[str, tuple[Expected, np.ndarray]] = {}

    def expected(self, case: Case) -> tuple[Expected, np.ndarray]:
        """``(accepted results, one float32 reference output)`` for ``case``."""
        hit = self._memo.get(case.id)
        if hit is None:
            params = self._init(case.seed, len(case.x), case.features, prng_mode=self.mode,
                                fma=self.fma, float_variant=self.float_variant)
            exp = expected_output(case.x_array, params["kernel"], params["bias"], case.scale,
                                  self.sem)
            one = self._forward(case.x_array, params["kernel"], params["bias"], case.scale)
            hit = self._memo[case.id] = (exp, one)
        return hit


def judge(outcome: Outcome, case: Case, expected: Expected) -> Failure | None:
    """None when ``outcome`` conforms on ``case``, else the :class:`Failure`."""
    if outcome.status == ARRAY and outcome.value is None:
        return Failure("wrong_shape", case, f"output.shape={outcome.shape}, but should be "
                       f"({case.features},) [solution {case.id}]", outcome, expected)
    if outcome.status == ARRAY:
        problems = compare_output(outcome.value, expected, "solution", case.id)
        if not problems:
            return None
        what = problems[0].what
        kind = ("wrong_shape" if what.endswith(".shape") else "wrong_dtype"
                if what.endswith(".dtype") else "wrong_values")
        return Failure(kind, case, str(problems[0]), outcome, expected)
    if outcome.status == OTHER_TYPE:
        return Failure("wrong_type", case, f"returned {outcome.summary()}", outcome, expected)
    kind = {ERROR: "exception"}.get(outcome.status, outcome.status)
    return Failure(kind, case, f"raised {outcome.summary()}", outcome, expected)
