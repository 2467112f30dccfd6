"""JAX's threefry key derivation for ``nnx.Rngs(seed).params()``, on Python scalars.

Shared by the NumPy and torch ports; imports neither JAX, NumPy nor torch. Sources:
``jax/_src/prng.py`` (``threefry_seed``, ``_threefry_fold_in``, ``threefry_2x32``) and
``flax/nnx/rnglib.py`` (``RngStream.__call__`` returns ``fold_in(key, count)``, then
``count += 1``; the stream starts at count 0, and ``Linear`` draws the kernel key first).

Also :func:`host_fma_default`: whether XLA:CPU on this host fuses multiply-adds into FMA
instructions, which decides the last bits of JAX's truncated normal.
"""

from __future__ import annotations

import functools
import os
import platform
import re

from implementations._xla_constants import THREEFRY_PARITY as _PARITY
from implementations._xla_constants import THREEFRY_ROTATIONS as _ROTATIONS

_MASK32 = 0xFFFFFFFF


def _rotl(v: int, r: int) -> int:
    return ((v << r) | (v >> (32 - r))) & _MASK32


def threefry2x32(key: tuple[int, int], x0: int, x1: int) -> tuple[int, int]:
    """Threefry-2x32 with 20 rounds (Random123) on one counter pair.

    Args:
        key: the two 32-bit key words.
        x0: first counter word (uint32).
        x1: second counter word (uint32).

    Returns:
        The two 32-bit output words.
    """
    k0, k1 = key[0] & _MASK32, key[1] & _MASK32
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = (x0 + ks[0]) & _MASK32
    x1 = (x1 + ks[1]) & _MASK32
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = (x0 + x1) & _MASK32
            x1 = _rotl(x1, r) ^ x0
        x0 = (x0 + ks[(i + 1) % 3]) & _MASK32
        x1 = (x1 + ks[(i + 2) % 3] + i + 1) & _MASK32
    return x0, x1


def seed_key(seed: int, x64: bool) -> tuple[int, int]:
    """The raw threefry key of ``jax.random.key(seed)``.

    Args:
        seed: an integer in ``[-2**63, 2**63)`` (validated by the caller).
        x64: whether JAX's x64 mode is on. Off, JAX converts the seed to a 32-bit integer
            first, so the high word is 0; on, the int64's two's complement words are used.

    Returns:
        ``(k0, k1)``.
    """
    seed = int(seed)
    if x64:
        bits = seed & 0xFFFFFFFFFFFFFFFF
        return (bits >> 32) & _MASK32, bits & _MASK32
    return 0, seed & _MASK32


def fold_in(key: tuple[int, int], data: int) -> tuple[int, int]:
    """``jax.random.fold_in`` for a uint32 ``data``: threefry of the counter ``(0, data)``."""
    return threefry2x32(key, 0, int(data) & _MASK32)


def nnx_param_key(seed: int, x64: bool) -> tuple[int, int]:
    """The key ``nnx.Rngs(seed).params()`` hands to ``Linear``'s kernel initialiser (count 0)."""
    return fold_in(seed_key(seed, x64), 0)


# ISAs XLA:CPU accepts for --xla_cpu_max_isa that exclude FMA (FMA arrives with AVX2).
_NO_FMA_ISAS = frozenset({"SSE4_2", "AVX"})


def _xla_max_isa() -> str | None:
    found = re.findall(r"--xla_cpu_max_isa=(\S+)", os.environ.get("XLA_FLAGS", ""))
    return found[-1].strip("'\"").upper() if found else None  # the last flag wins


@functools.lru_cache(maxsize=1)  # the hardware does not change; XLA_FLAGS is re-read
def _cpu_has_fma() -> bool:
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return True  # fused multiply-add is mandatory in ARMv8 floating point
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "fma" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return False


def host_fma_default() -> bool:
    """Whether XLA:CPU on this host emits FMA instructions (without asking JAX).

    True iff the CPU advertises FMA and ``XLA_FLAGS`` does not cap ``--xla_cpu_max_isa``
    below AVX2. The suite's probe can confirm this against JAX itself.
    """
    isa = _xla_max_isa()
    if isa is not None and isa in _NO_FMA_ISAS:
        return False
    return _cpu_has_fma()
