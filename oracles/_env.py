"""Facts about the running environment that decide the bits: versions, JAX defaults, the host.

Shared by the known-answer recorder, the known-answer check and the per-env report. Versions
are read from package metadata (importing torch just to ask its version would cost seconds).
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import os
import platform
import sys
from typing import Any

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
    import jax

    partitionable = bool(jax.config.jax_threefry_partitionable)
    return {
        "prng_mode": "partitionable" if partitionable else "legacy",
        "prng_class": prng_class("partitionable" if partitionable else "legacy"),
        "x64": bool(jax.config.jax_enable_x64),
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


@functools.lru_cache(maxsize=None)
def xla_cpu_semantics() -> dict[str, bool]:
    """How XLA:CPU rounds float32 here, measured with three tiny jitted programs.

    ``fma``: ``a * b + c`` is fused (the last bits of the truncated normal depend on it);
    ``ftz``: subnormal results flush to zero; ``daz``: subnormal inputs read as zero.
    """
    import jax
    import numpy as np

    a = np.float32(1 + 2.0**-12)
    # a*a = 1 + 2**-11 + 2**-24 exactly; a separate multiply rounds the 2**-24 away.
    c = -np.float32(np.float64(a) * np.float64(a))
    fused = jax.jit(lambda p, q, r: p * q + r)(np.full(4, a), np.full(4, a), np.full(4, c))
    halved = jax.jit(lambda v: v * np.float32(0.5))(np.full(4, np.float32(2.0**-126)))
    doubled = jax.jit(lambda v: v * np.float32(2))(np.full(4, np.float32(2.0**-140)))
    return {
        "fma": bool(np.all(np.asarray(fused) == np.float32(2.0**-24))),
        "ftz": bool(np.all(np.asarray(halved) == 0)),
        "daz": bool(np.all(np.asarray(doubled) == 0)),
    }


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
        facts["xla_cpu"] = xla_cpu_semantics()
    return facts


def interpreter() -> str:
    """A short description of the running interpreter, for provenance."""
    return f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
