"""nnx-conformance: differential conformance suite for the NNX pure-state-update exercise.

The public surface is small: the shared :class:`Case` and its strategy :func:`cases`,
:func:`collect` to draw them, :func:`run` for the differential run, and the comparison
(:func:`expected_output`, :func:`compare_output`, :class:`Mismatch`). Importing this package
imports nothing beyond the standard library: each name loads its module on first use (PEP 562),
so that ``nnx-conformance check`` can start its children before NumPy and Hypothesis load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance._cases import Case, cases, collect, edge_classes
    from conformance._compare import Mismatch, Semantics, compare_output, expected_output
    from conformance._runner import RunResult, run

_EXPORTS = {
    "Case": "conformance._cases",
    "cases": "conformance._cases",
    "collect": "conformance._cases",
    "edge_classes": "conformance._cases",
    "Mismatch": "conformance._compare",
    "Semantics": "conformance._compare",
    "compare_output": "conformance._compare",
    "expected_output": "conformance._compare",
    "RunResult": "conformance._runner",
    "run": "conformance._runner",
}

__all__ = [
    "Case",
    "Mismatch",
    "RunResult",
    "Semantics",
    "cases",
    "collect",
    "compare_output",
    "edge_classes",
    "expected_output",
    "run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
