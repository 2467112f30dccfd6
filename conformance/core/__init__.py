"""The core of the suite: cases, the comparison, the host probe, environment facts, config.

Everything above it (the oracles, and the ``run``, ``check`` and ``matrix`` programs) draws
its cases, compares outputs and reads the environment through the names below; nothing outside
this package imports its modules. Importing it imports nothing beyond the standard library:
each name loads its module on first use, so ``check`` can start its children first.
"""

from __future__ import annotations

from conformance._lazy import lazy_exports

_MODULES = {
    "._cases": ("EDGE_CLASSES", "EDGE_SCALES", "EDGE_SEEDS", "SHAPE_POOL", "X_SPECIALS", "Case",
                "cases", "collect", "edge_classes", "float_literal", "group_by_shape", "scales",
                "seeds", "thorough_shapes", "x_values"),
    "._compare": ("Expected", "Mismatch", "Semantics", "bitwise_equal", "check_structure",
                  "compare_bits", "compare_output", "compare_params", "expected_output", "gamma",
                  "scaled_params", "ulp_distance"),
    "._config": ("CHECK_CACHE", "PROFILES", "cache_dir", "cache_path",
                 "compilation_cache_config", "enable_compilation_cache"),
    "._env": ("host_facts", "interpreter", "jax_defaults", "package_version", "prng_class",
              "utc_now", "versions"),
    "._float32": ("FLOAT32_MAX", "FLOAT32_SUBNORMAL_MIN", "FLOAT32_TINY", "U32", "U64", "to_f32"),
    "._probe": ("FmaProbeError", "HostSemantics", "detect_fma_with_port", "host_semantics"),
}
__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__, __dir__ = lazy_exports(
    __name__, {name: module for module, names in _MODULES.items() for name in names})
