"""Facts about the running environment that decide the bits: versions, JAX defaults, the host.

Shared by the run's report, the known-answer recorder and check, and the per-env report.
Versions are read from package metadata (importing torch just to ask its version would cost
seconds).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from typing import Any

from implementations import resolve_prng_mode, resolve_x64

# The packages whose versions can move the bits or the behaviour this suite checks.
PACKAGES = ("jax", "jaxlib", "flax", "numpy", "ml_dtypes", "scipy", "torch")
# The CPU features that change XLA:CPU's float32 arithmetic (fused multiply-add) or its codegen.
CPU_FLAGS = ("fma", "avx", "avx2", "avx512f")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    """Python and the versions of :data:`PACKAGES` (None for the ones not installed)."""
    found: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        found[name] = package_version(name)
    return found


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def jax_defaults() -> dict[str, Any]:
    """JAX's PRNG mode and x64 setting in this process (imports JAX).

    ``prng_mode`` is what ``jax_threefry_partitionable`` is set to now, which is the release's
    default unless ``JAX_THREEFRY_PARTITIONABLE`` is set; ``prng_class`` names it: ``"A"`` for
    the legacy mode (the default up to JAX 0.4.38), ``"B"`` for partitionable (JAX >= 0.5).
    """
    import jax  # noqa: F401 - the settings below are read from the loaded JAX

    mode = resolve_prng_mode(None)
    return {
        "prng_mode": mode,
        "prng_class": prng_class(mode),
        "x64": resolve_x64(),
        "env_overrides": {k: os.environ[k] for k in ("JAX_THREEFRY_PARTITIONABLE",
                                                     "JAX_ENABLE_X64", "XLA_FLAGS")
                          if k in os.environ},
    }


def prng_class(mode: str) -> str:
    """``"A"`` for ``legacy``, ``"B"`` for ``partitionable``."""
    return {"legacy": "A", "partitionable": "B"}[mode]


def _cpu_info() -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine()):
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux: the model name from platform is all there is
        pass
    return model, flags


def host_facts(measure: bool = True) -> dict[str, Any]:
    """The host facts that matter for bit-exact float32: CPU, its FMA flags, XLA_FLAGS.

    Args:
        measure: also measure XLA:CPU's semantics (imports JAX and compiles three programs).
    """
    model, flags = _cpu_info()
    facts: dict[str, Any] = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu": model,
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    if measure:
        from conformance.core._probe import host_semantics

        facts["xla_cpu"] = host_semantics()._asdict()
    return facts


def interpreter() -> str:
    """A short description of the running interpreter, for provenance."""
    return f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
