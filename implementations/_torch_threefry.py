"""JAX's threefry2x32 random bits, vectorised in torch (both ``jax_threefry_partitionable`` modes).

torch 2.13 on CPU has ``torch.uint32`` as a storage type only: no add, shifts or arange. The
words are therefore held in ``torch.int32`` and rely on two's complement wrap-around (ATen's
integer kernels wrap, they do not trap), which makes add, xor and left shift bit-identical to
uint32. The only operation that differs is the right shift, which is arithmetic on int32: a
logical shift by ``n`` is ``(x >> n) & (2**(32 - n) - 1)``.

The counters are hashed in chunks with in-place ops on preallocated buffers: a threefry call
is ~115 elementwise passes, and streaming each pass through main memory for 16M-element kernels
costs more than the arithmetic itself. A chunk's three buffers (768 KiB) stay in L2, and each op
on it is split over torch's intra-op threads, as any torch op of that size is.

Sources: ``jax/_src/random/threefry2x32.py`` (``threefry_2x32``,
``_threefry_random_bits_partitionable``, ``_threefry_random_bits_original``) and
``jax/_src/random/prng.py`` (``iota_2x32_shape``).
"""

from __future__ import annotations

from typing import Iterator

import torch

from implementations._xla_constants import THREEFRY_PARITY, THREEFRY_ROTATIONS

__all__ = ["bits_chunks", "random_bits", "threefry2x32", "to_uint32"]

_MASK32 = 0xFFFFFFFF
# Counters per chunk: twice ATen's parallel grain size (32768), so each op runs on two threads
# (torch's default here; one thread runs it serially). Measured on this 2-core machine, random
# bits for 256x512 / 2**24 words: 65536-word chunks 1.13-1.18 ms / 159 ms on two threads (1.49
# ms on one), 24576-word chunks (serial, below the grain size) 1.93-2.0 ms / 262 ms. The price:
# with three busy processes competing for the two cores, OpenMP's barriers made 2**24 words take
# 2.0 s instead of 0.53 s serially; torch.set_num_threads(1) is the remedy there.
CHUNK = 65536


def _signed32(value: int) -> int:
    """The int32 with the same bits as the uint32 ``value``: scalar operands of int32 ops must fit
    in int32 for the op to stay in int32 wrap-around arithmetic."""
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def to_uint32(words: torch.Tensor) -> torch.Tensor:
    """Reinterprets int32 words as their uint32 values, widened to int64 (for comparison/export)."""
    return words.to(torch.int64) & _MASK32


def _int32(value: int) -> torch.Tensor:
    """A 0-d int32 tensor: as an operand it skips the per-call wrapping of a Python int, which
    cost about as much as the op itself on these small chunks."""
    return torch.tensor(_signed32(value), dtype=torch.int32)


# Per rotation r: the shift count 32 - r and the mask of the r bits a logical shift keeps.
_ROT_SHIFT = {r: _int32(32 - r) for rots in THREEFRY_ROTATIONS for r in rots}
_ROT_MASK = {r: _int32((1 << r) - 1) for rots in THREEFRY_ROTATIONS for r in rots}


def _round_(x0: torch.Tensor, x1: torch.Tensor, r: int, tmp: torch.Tensor) -> None:
    """One threefry round in place: ``x0 += x1; x1 = rotl(x1, r) ^ x0`` on uint32 bits."""
    x0.add_(x1)
    torch.bitwise_right_shift(x1, _ROT_SHIFT[r], out=tmp)
    tmp.bitwise_and_(_ROT_MASK[r])  # the arithmetic shift smeared the sign bit: keep r bits
    # (x1 << r) | tmp as one op: the two have no bits in common, so | is +, and x1 * 2**r
    # wraps exactly like the shift.
    torch.add(tmp, x1, alpha=1 << r, out=x1)
    x1.bitwise_xor_(x0)


def _schedule(key: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The key injections as 0-d int32 tensors: ``(ks0, ks1)`` first, then after each group of
    four rounds ``(ks[(i+1)%3], ks[(i+2)%3] + i + 1)``."""
    k0, k1 = key[0] & _MASK32, key[1] & _MASK32
    ks = (k0, k1, k0 ^ k1 ^ THREEFRY_PARITY)
    steps = [(ks[0], ks[1])] + [(ks[(i + 1) % 3], ks[(i + 2) % 3] + i + 1) for i in range(5)]
    return [(_int32(a), _int32(b)) for a, b in steps]


def threefry2x32_(key: tuple[int, int] | list, x0: torch.Tensor, x1: torch.Tensor,
                  tmp: torch.Tensor | None = None) -> None:
    """threefry2x32-20 in place on int32 counter words (``x0``, ``x1`` become the output words).

    Args:
        key: the two key words (Python ints, uint32), or their :func:`_schedule`.
        x0: first counter words, int32 holding uint32 bits; overwritten with the first output.
        x1: second counter words, same shape; overwritten with the second output.
        tmp: optional scratch buffer of the same shape and dtype.
    """
    steps = key if isinstance(key, list) else _schedule(key)
    if tmp is None:
        tmp = torch.empty_like(x0)
    x0.add_(steps[0][0])
    x1.add_(steps[0][1])
    for i in range(5):
        for r in THREEFRY_ROTATIONS[i % 2]:
            _round_(x0, x1, r, tmp)
        x0.add_(steps[i + 1][0])
        x1.add_(steps[i + 1][1])


def threefry2x32(key: tuple[int, int], x0: torch.Tensor, x1: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """threefry2x32-20 (Random123) on uint32 counters, without touching the inputs.

    Args:
        key: the two key words.
        x0: first counter words (any integer dtype; the low 32 bits are used).
        x1: second counter words, same shape.

    Returns:
        ``(y0, y1)`` as int32 tensors holding the uint32 bits (see :func:`to_uint32`).
    """
    y0 = (x0.to(torch.int64) & _MASK32).to(torch.int32)  # int64 -> int32 keeps the low 32 bits
    y1 = (x1.to(torch.int64) & _MASK32).to(torch.int32)
    threefry2x32_(key, y0, y1)
    return y0, y1


def _iota32(start: int, stop: int) -> torch.Tensor:
    """The low 32 bits of ``start .. stop - 1`` as int32 words."""
    if stop <= 1 << 31:
        return torch.arange(start, stop, dtype=torch.int32)
    return (torch.arange(start, stop, dtype=torch.int64) & _MASK32).to(torch.int32)


def _buffers(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.empty(size, dtype=torch.int32) for _ in range(3))


def _chunks_partitionable(key: tuple[int, int], n: int, chunk: int
                          ) -> Iterator[tuple[int, torch.Tensor]]:
    """Element ``i`` is ``y0 ^ y1`` of ``threefry(key, i >> 32, i & 0xFFFFFFFF)``
    (``iota_2x32_shape`` counters)."""
    steps = _schedule(key)
    hi_buf, lo_buf, tmp_buf = _buffers(min(n, chunk))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        size = stop - start
        hi, lo, tmp = hi_buf[:size], lo_buf[:size], tmp_buf[:size]
        if stop - 1 < 1 << 31:
            torch.arange(start, stop, dtype=torch.int32, out=lo)
        else:
            lo.copy_(_iota32(start, stop))
        if stop - 1 < 1 << 32:  # the high counter word is 0 for every kernel this suite allows
            hi.zero_()
        else:
            hi.copy_((torch.arange(start, stop, dtype=torch.int64) >> 32).to(torch.int32))
        threefry2x32_(steps, hi, lo, tmp)
        yield start, hi.bitwise_xor_(lo)


def _chunks_legacy(key: tuple[int, int], n: int, chunk: int
                   ) -> Iterator[tuple[int, torch.Tensor]]:
    """``threefry_2x32(key, iota(n))``: the count (padded with one 0 when ``n`` is odd) is split
    into halves ``x0 = count[:h]``, ``x1 = count[h:]`` and the output is ``concat(y0, y1)[:n]``."""
    if n >= _MASK32:
        # JAX splits such counts into blocks of 2**32 - 1 words with split keys; the contract caps
        # kernels at 2**28 elements, so that path is neither needed nor ported.
        raise NotImplementedError("legacy threefry bits for 2**32 - 1 or more words")
    steps = _schedule(key)
    half = (n + 1) // 2
    x0_buf, x1_buf, tmp_buf = _buffers(min(half, chunk))
    for start in range(0, half, chunk):
        stop = min(half, start + chunk)
        size = stop - start
        x0, x1, tmp = x0_buf[:size], x1_buf[:size], tmp_buf[:size]
        torch.arange(start, stop, dtype=torch.int32, out=x0)
        x1.copy_(_iota32(half + start, half + stop))
        if half + stop > n:  # the odd-length padding word is the last one of the second half
            x1[-1] = 0
        threefry2x32_(steps, x0, x1, tmp)
        yield start, x0
        tail = min(stop, n - half)  # second-half outputs beyond n are the padding's, dropped
        if tail > start:
            yield half + start, x1[:tail - start]


def bits_chunks(key: tuple[int, int], n: int, mode: str, *, chunk: int = CHUNK
                ) -> Iterator[tuple[int, torch.Tensor]]:
    """``jax.random.bits(key, (n,), uint32)`` for a raw threefry key, piece by piece.

    Consumers that transform the words (the kernel's table gather) take them while they are
    still in cache, and no ``n``-word intermediate is allocated.

    Args:
        key: the two uint32 key words (e.g. from ``implementations._keys.nnx_param_key``).
        n: number of 32-bit words (row-major order of the requested shape).
        mode: ``"partitionable"`` or ``"legacy"`` (``jax_threefry_partitionable``).
        chunk: counters hashed per pass; only speed depends on it.

    Yields:
        ``(start, words)``: int32 words holding the uint32 bits of positions
        ``start .. start + len(words) - 1``, covering ``0 .. n - 1`` once. ``words`` is a
        scratch buffer, overwritten after the consumer's next step.
    """
    if mode == "partitionable":
        yield from _chunks_partitionable(key, n, chunk) if n else ()
    elif mode == "legacy":
        yield from _chunks_legacy(key, n, chunk) if n else ()
    else:
        raise ValueError(f"mode={mode!r}, but should be 'partitionable' or 'legacy'")


def random_bits(key: tuple[int, int], n: int, mode: str, *, chunk: int = CHUNK) -> torch.Tensor:
    """``jax.random.bits(key, (n,), uint32)`` for a raw threefry key (see :func:`bits_chunks`).

    Returns:
        An int32 tensor of length ``n`` holding the uint32 bits.
    """
    out = torch.empty(n, dtype=torch.int32)
    for start, words in bits_chunks(key, n, mode, chunk=chunk):
        out[start:start + words.numel()] = words
    return out
