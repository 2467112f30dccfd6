"""Names and paths the command line needs before anything heavy is imported.

``nnx-conformance check`` starts its children (each imports JAX) before the parent imports
NumPy, Hypothesis or the harness, so that both run at once. Everything the command line needs
up to that point lives here, importable with the standard library alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Hypothesis profiles registered by :mod:`conformance.core._cases` (dev: random; ci:
#: derandomized; thorough: more examples).
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


#: A compile-time threshold no program reaches: JAX then reads the cache but never writes it.
_NEVER = 1e9


def compilation_cache_config(path: str, write: bool = True) -> dict[str, Any]:
    """The ``jax.config`` settings that use the compilation cache at ``path``: with ``write``,
    every compiled program is kept, however quick it was to compile (JAX's defaults skip most
    of this suite's programs); without, the cache is only read.

    Plain data, so that a process that cannot import this package (the check's children) can
    apply it: ``jax.config.update(name, value)`` for each item, skipping a name the installed
    JAX does not know (``AttributeError``); the cache is on when its directory was applied.

    ``jax_persistent_cache_enable_xla_caches`` is off: JAX otherwise puts a GPU autotuning
    cache under the directory into the compile options that each program's key hashes, so a
    program's key depended on where the cache lies, and a check's child, whose cache is a
    directory of its own that links the shared entries, found none of them.
    """
    return {"jax_compilation_cache_dir": path,
            "jax_persistent_cache_min_compile_time_secs": 0.0 if write else _NEVER,
            "jax_persistent_cache_min_entry_size_bytes": 0,
            "jax_persistent_cache_enable_xla_caches": "none"}


def enable_compilation_cache(scope: str = "") -> Path | None:
    """Turns on JAX's persistent compilation cache in this process (imports JAX).

    Returns:
        The directory, or None where the installed JAX has no such cache.
    """
    import jax

    path = cache_path(True, scope)
    applied = []
    for name, value in compilation_cache_config(path).items():
        try:
            jax.config.update(name, value)
            applied.append(name)
        except (AttributeError, KeyError):  # an option this JAX does not have
            pass
    return Path(path) if "jax_compilation_cache_dir" in applied else None
