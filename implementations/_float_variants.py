"""Which float32 rounding of ``truncated_normal`` the installed jaxlib's XLA:CPU computes.

The optimized HLO of the truncated-normal fusion is the same in every jaxlib from 0.4.26 on;
what changed is how XLA:CPU lowers its ``log-plus-one`` (read off the LLVM IR and the object
code each release dumps with ``XLA_FLAGS=--xla_dump_to=DIR``):

* ``jaxlib-0.4.26`` (jaxlib 0.4.26 ... 0.6.2): the small-|x| rational of log1p ends in
  ``tail - x2 * 0.5``, an ``fsub`` whose left product LLVM fuses:
  ``x + fma(x * x2, num / den, -(x2 * 0.5))``. The ``log(1 + x)`` branch is XLA's inline
  Cephes polynomial, as in the newest releases.
* ``jaxlib-0.7.0`` (jaxlib 0.7.0), ``jaxlib-0.7.1`` (0.7.1 and 0.7.2) and ``jaxlib-0.8.0``
  (0.8.0 and 0.8.1): the small-|x|
  branch is the newest one, but ``log(1 + x)`` is ``llvm.log``, and where LLVM vectorizes the
  loop (``llvm.log.v8f32``, ``v4f32``) the backend scalarises it into calls of the host libm's
  ``logf`` (glibc's table-driven float64 evaluation on Linux); XLA replaces the scalar
  ``llvm.log.f32`` of iterations left unvectorized with its inline Cephes polynomial (the
  newest variant's). So an element's rounding depends on its place in the kernel's loop
  (``_xla_loops``); the three variants differ only in those loops.
* ``jaxlib-0.8.2`` (jaxlib 0.8.2 and later): ``xla.log1p`` inlines both branches with
  ``x + fma(x2, -0.5, tail)`` and the Cephes log; the ports' original path.

Each variant is named after the first release known to compute it. A jaxlib no measurement
covers gets the nearest variant: one older than 0.4.26 (outside the suite's ``jax>=0.4.26``)
the oldest, one newer than the last measured release the newest. This module imports neither
JAX nor NumPy; it reads the version from the installed distribution's metadata.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re

JAXLIB_0_4 = "jaxlib-0.4.26"
JAXLIB_0_7 = "jaxlib-0.7.0"
JAXLIB_0_7_1 = "jaxlib-0.7.1"
JAXLIB_0_8 = "jaxlib-0.8.0"
JAXLIB_0_8_2 = "jaxlib-0.8.2"
# Oldest first; each starts at the release in its name and ends where the next one starts.
FLOAT_VARIANTS: tuple[str, ...] = (JAXLIB_0_4, JAXLIB_0_7, JAXLIB_0_7_1, JAXLIB_0_8,
                                   JAXLIB_0_8_2)
# Variants whose ``log(1 + x)`` is the host libm's ``logf`` in vectorized loop iterations.
LIBM_LOG_VARIANTS: frozenset[str] = frozenset({JAXLIB_0_7, JAXLIB_0_7_1, JAXLIB_0_8})
NEWEST = FLOAT_VARIANTS[-1]
FLOAT_VARIANT_DOMAIN = "one of None, " + ", ".join(repr(v) for v in FLOAT_VARIANTS)

_FIRST_RELEASE = {name: tuple(int(p) for p in name.split("-")[1].split(".")) for name in
                  FLOAT_VARIANTS}
_RELEASE = re.compile(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def float_variant_for(jaxlib_version: str | None) -> str:
    """The float variant a jaxlib release computes.

    Args:
        jaxlib_version: a version string such as ``"0.8.1"`` (local and pre-release suffixes
            are ignored), or None when no jaxlib is installed.

    Returns:
        A name from :data:`FLOAT_VARIANTS`. None, an unparsable version and any release after
        the last measured one give the newest variant.
    """
    if jaxlib_version is None:
        return NEWEST
    found = _RELEASE.match(jaxlib_version)
    if found is None:
        return NEWEST
    release = tuple(int(part or 0) for part in found.groups())
    chosen = FLOAT_VARIANTS[0]
    for name in FLOAT_VARIANTS:
        if release >= _FIRST_RELEASE[name]:
            chosen = name
    return chosen


@functools.lru_cache(maxsize=1)
def installed_jaxlib() -> str | None:
    """The installed jaxlib's version (from its metadata, without importing it), or None."""
    try:
        return importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)  # installed_jaxlib is fixed for the process
def host_float_variant() -> str:
    """The float variant of the installed jaxlib (the newest when there is none)."""
    return float_variant_for(installed_jaxlib())

