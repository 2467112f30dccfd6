"""nnx-conformance: differential conformance suite for the NNX pure-state-update exercise.

The public surface is small: the shared :class:`Case` and its strategy :func:`cases`,
:func:`collect` to draw them, :func:`run` for the differential run, and the comparison
(:func:`expected_output`, :func:`compare_output`, :class:`Mismatch`). Importing this package
imports neither JAX nor torch.
"""

from conformance._cases import Case, cases, collect, edge_classes
from conformance._compare import Mismatch, Semantics, compare_output, expected_output
from conformance._runner import RunResult, run

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
