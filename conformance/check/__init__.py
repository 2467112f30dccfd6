"""``nnx-conformance check``: grade learners' ``pure_state_update`` files in isolated children.

Offered here: :func:`check_solution` and its :class:`CheckResult`, the reports
(:func:`render_text`, :func:`write_json`, the JSON Schema at :data:`SCHEMA_PATH`), the
:class:`Limits` of a child, and :func:`register`, which adds ``check`` to the command line.
The isolation itself is the subpackage :mod:`conformance.check.sandbox`; the learner mistakes
the diagnosis can name are the files in ``mutants/``; ``pytest_plugin`` is the pytest entry
point. Importing this package imports nothing beyond the standard library: each name loads
its module on first use, so the command line starts its children first.
"""

from __future__ import annotations

from conformance._lazy import lazy_exports

_EXPORTS = {
    "CheckResult": "._grader", "check_solution": "._grader",
    "SCHEMA": "._report", "SCHEMA_PATH": "._report", "document": "._report",
    "render_text": "._report", "write_json": "._report",
    "Limits": ".sandbox", "register": "._cli",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
