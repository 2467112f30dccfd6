"""``nnx-conformance matrix``: the tox version matrix and its compatibility report.

* ``tox_pins``: turns an env name into pip pins (tox's install command; standard library only).
* ``env_report``: one env's results as JSON (run in every env: ``python -m
  conformance.matrix.env_report``).
* ``_results``, ``_verdicts``, ``_causes``, ``_render``: reading the envs' JSON, each env's
  verdicts, the behaviour changes between neighbours with their causes, Markdown, HTML and
  JSON; ``_workflow``: the GitHub Actions workflow generated from ``tox.ini``.

Offered here: :func:`register` (adds ``matrix`` to the command line) and :func:`main`
(``python -m conformance.matrix``). Importing this package imports nothing beyond the
standard library.
"""

from __future__ import annotations

from conformance._lazy import lazy_exports

_EXPORTS = {
    "register": "._cli", "main": "._cli", "handle": "._cli",
    "load_results": "._results", "tox_env_list": "._results", "DEFAULT_RESULTS": "._results",
    "cells": "._verdicts", "env_ok": "._verdicts", "behaviour_changes": "._causes",
    "CAUSES": "._causes", "render_markdown": "._render", "render_html": "._render",
    "write_reports": "._render", "document": "._render", "failures": "._verdicts",
    "render_workflow": "._workflow", "write_workflow": "._workflow",
    "WORKFLOW_PATH": "._workflow", "NEWEST_ENV": "._workflow",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
