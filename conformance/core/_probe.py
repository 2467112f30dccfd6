"""Probes of how the installed JAX computes float32 on this host.

XLA:CPU's results depend on the host: it fuses a multiply into the following add on FMA hosts
(and not under ``XLA_FLAGS=--xla_cpu_max_isa=AVX``), and it flushes subnormal results to zero
and treats subnormal inputs as zero. The ports reproduce both, so the suite asks JAX once, with
inputs whose answer differs by exactly those effects, and passes the answers on.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class HostSemantics(NamedTuple):
    """How XLA:CPU rounds on this host.

    Attributes:
        fma: ``a * b + c`` is fused into one correctly rounded multiply-add.
        ftz: subnormal results are flushed to (signed) zero.
        daz: subnormal inputs are read as (signed) zero.
    """

    fma: bool
    ftz: bool
    daz: bool


@functools.lru_cache(maxsize=None)
def host_semantics() -> HostSemantics:
    """Measures :class:`HostSemantics` with three tiny jitted float32 programs (cached)."""
    import jax

    a = np.float32(1 + 2.0**-12)
    # a*a = 1 + 2**-11 + 2**-24 exactly; rounded, the 2**-24 is lost, so only a fused
    # multiply-add returns it.
    c = -np.float32(np.float64(a) * np.float64(a))
    fused = jax.jit(lambda p, q, r: p * q + r)(np.full(4, a), np.full(4, a), np.full(4, c))
    smallest_normal = np.float32(2.0**-126)
    halved = jax.jit(lambda v: v * np.float32(0.5))(np.full(4, smallest_normal))
    subnormal = np.float32(2.0**-140)
    doubled = jax.jit(lambda v: v * np.float32(2))(np.full(4, subnormal))
    return HostSemantics(
        fma=bool(np.all(np.asarray(fused) == np.float32(2.0**-24))),
        ftz=bool(np.all(np.asarray(halved) == 0)),
        daz=bool(np.all(np.asarray(doubled) == 0)),
    )


class FmaProbeError(RuntimeError):
    """JAX's truncated normal matched the NumPy port neither with nor without FMA."""


@functools.lru_cache(maxsize=None)
def detect_fma_with_port(n: int = 4096) -> bool:
    """Whether JAX's float32 truncated normal on this host is the fused (FMA) variant.

    Draws ``jax.random.truncated_normal(key(0), -2, 2, (n,))`` and recomputes it from JAX's own
    random bits with the NumPy port's float path, once with and once without fused
    multiply-adds (about half the elements differ between the two). Unlike
    :func:`host_semantics`, which asks a one-line ``a * b + c``, this checks the very
    computation the ports reproduce.

    Returns:
        True if the FMA variant matches bit for bit, False if the unfused one does.

    Raises:
        FmaProbeError: neither variant matches (an unported XLA change or platform).
    """
    import jax
    import jax.numpy as jnp

    from implementations.numpy_port import truncnorm_from_mantissa

    key = jax.random.key(0)
    # The float path does not depend on the PRNG mode; bits and z just come from the same one.
    z = np.asarray(jax.random.truncated_normal(key, -2, 2, (n,), jnp.float32))
    bits = np.asarray(jax.random.bits(key, (n,), jnp.uint32))
    matches = [fused for fused in (True, False)
               if truncnorm_from_mantissa(bits >> np.uint32(9), fused).tobytes() == z.tobytes()]
    if len(matches) != 1:
        raise FmaProbeError(
            f"fma-variant={matches}, but should be exactly one of [True, False]: JAX's "
            f"truncated normal on this host matches no float path the ports reproduce")
    return matches[0]
