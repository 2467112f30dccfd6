"""Names and paths the command line needs before anything heavy is imported.

``nnx-conformance check`` starts its children (each imports JAX, about 0.7 s) before the parent
imports NumPy, Hypothesis or the harness, so that both run at once. Everything the command line
needs up to that point lives here, importable with the standard library alone.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Hypothesis profiles registered by :mod:`conformance._cases` (dev: random; ci: derandomized;
#: thorough: more examples).
PROFILES: tuple[str, ...] = ("dev", "ci", "thorough")


def cache_dir() -> Path:
    """The user cache directory for JAX's compiled programs (``NNX_CONFORMANCE_CACHE`` wins)."""
    base = os.environ.get("NNX_CONFORMANCE_CACHE")
    if base:
        return Path(base)
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "nnx-conformance" / "jax"


#: The subdirectory of :func:`cache_dir` that ``check`` gives its children. A learner's
#: solution can write entries there (JAX writes what it compiles), so the grader's own
#: ``run``, which executes cached programs in its own process, never reads from it.
CHECK_CACHE = "check"


def cache_path(use_cache: bool, scope: str = "") -> str | None:
    """:func:`cache_dir` (or its subdirectory ``scope``), created, as a string; None when
    ``use_cache`` is false."""
    if not use_cache:
        return None
    path = cache_dir() / scope if scope else cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
