"""nnx-conformance: differential conformance suite for the NNX pure-state-update exercise.

The suite is built in layers, each importing only the ones below it (the contracts are in
``pyproject.toml``, checked by the tests)::

    conformance.cli                         the nnx-conformance command line
    conformance.differential | .check | .matrix   the three programs: run, check, matrix
    oracles                                 metamorphic relations, known answers, purity
    conformance.core                        cases, comparison, host probe, environment, config
    implementations                         the contract, the registry, the implementations

This package offers the shared :class:`Case` and its strategy :func:`cases`, :func:`collect` to
draw them, :func:`run` for the differential run, and the comparison (:func:`expected_output`,
:func:`compare_output`, :class:`Mismatch`). Importing it imports nothing beyond the standard
library: each name loads its module on first use (PEP 562), so that ``nnx-conformance check``
can start its children before NumPy and Hypothesis load.
"""

from __future__ import annotations

from conformance._lazy import lazy_exports

_EXPORTS = {
    "Case": ".core", "cases": ".core", "collect": ".core", "edge_classes": ".core",
    "Mismatch": ".core", "Semantics": ".core", "compare_output": ".core",
    "expected_output": ".core", "RunResult": ".differential", "run": ".differential",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
