"""The differential run (``nnx-conformance run``): every available implementation and every
metamorphic relation on the shared cases, a table of edge class x implementation, and the
versioned JSON document ``nnx-conformance/run/1``.
"""

from __future__ import annotations

from conformance._lazy import lazy_exports

_EXPORTS = {
    "RunResult": "._runner", "Subject": "._runner", "run": "._runner",
    "RUN_SCHEMA": "._report", "render_text": "._report", "to_json": "._report",
    "write_json": "._report", "register": "._cli",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
