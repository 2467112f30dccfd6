"""JAX's threefry2x32 random bits, vectorised in torch (both ``jax_threefry_partitionable`` modes).

torch 2.13 on CPU has ``torch.uint32`` as a storage type only: no add, shifts or arange. The
words are therefore held in ``torch.int32`` and rely on two's complement wrap-around (ATen's
integer kernels wrap, they do not trap), which makes add, xor and left shift bit-identical to
uint32. The only operation that differs is the right shift, which is arithmetic on int32: a
logical shift by ``n`` is ``(x >> n) & (2**(32 - n) - 1)``.

The counters are hashed in small chunks with in-place ops on preallocated buffers: a
threefry call is ~140 elementwise passes, and streaming each pass through main memory for
16M-element kernels costs more than the arithmetic itself.

Sources: ``jax/_src/random/threefry2x32.py`` (``threefry_2x32``,
``_threefry_random_bits_partitionable``, ``_threefry_random_bits_original``) and
``jax/_src/random/prng.py`` (``iota_2x32_shape``).
"""

from __future__ import annotations

import torch

from implementations._xla_constants import THREEFRY_PARITY, THREEFRY_ROTATIONS

__all__ = ["random_bits", "threefry2x32", "to_uint32"]

_MASK32 = 0xFFFFFFFF
# Counters per chunk. Below ATen's parallel grain size (32768) each op runs serially on the
# calling thread. On this shared 2-core machine, multi-threaded ops under oversubscription spent
# their time in OpenMP barriers: 2**24 words took 15-20 s in 2**17-word chunks on two threads,
# 0.29 s on one thread, and 0.40 s in 24576-word chunks (which needs no global thread setting).
CHUNK = 24576


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


def _bits_partitionable(key: tuple[int, int], n: int, out: torch.Tensor, chunk: int) -> None:
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
        torch.bitwise_xor(hi, lo, out=out[start:stop])


def _bits_legacy(key: tuple[int, int], n: int, out: torch.Tensor, chunk: int) -> None:
    """``threefry_2x32(key, iota(n))``: the count (padded with one 0 when ``n`` is odd) is split
    into halves ``x0 = count[:h]``, ``x1 = count[h:]`` and the output is ``concat(y0, y1)[:n]``."""
    if n >= _MASK32:
        # JAX splits such counts into blocks of 2**32 - 1 words with split keys; the contract caps
        # kernels at 2**28 elements, so that path is neither needed nor ported.
        raise NotImplementedError("legacy threefry bits for 2**32 - 1 or more words")
    steps = _schedule(key)
    half = (n + 1) // 2
    for start in range(0, half, chunk):
        stop = min(half, start + chunk)
        # The first half's outputs go straight to their place in ``out``; the second half's
        # need a buffer, since the padding word's output is dropped.
        x0 = out[start:stop]
        torch.arange(start, stop, dtype=torch.int32, out=x0)
        x1 = _iota32(half + start, half + stop)
        if half + stop > n:  # the odd-length padding word is the last one of the second half
            x1[-1] = 0
        threefry2x32_(steps, x0, x1)
        tail = min(stop, n - half)  # second-half outputs beyond n are the padding's, dropped
        if tail > start:
            out[half + start:half + tail] = x1[:tail - start]


def random_bits(key: tuple[int, int], n: int, mode: str, *, chunk: int = CHUNK) -> torch.Tensor:
    """``jax.random.bits(key, (n,), uint32)`` for a raw threefry key.

    Args:
        key: the two uint32 key words (e.g. from ``implementations._keys.nnx_param_key``).
        n: number of 32-bit words (row-major order of the requested shape).
        mode: ``"partitionable"`` or ``"legacy"`` (``jax_threefry_partitionable``).
        chunk: counters hashed per pass; only speed depends on it.

    Returns:
        An int32 tensor of length ``n`` holding the uint32 bits.
    """
    out = torch.empty(n, dtype=torch.int32)
    if n == 0:
        return out
    if mode == "partitionable":
        _bits_partitionable(key, n, out, chunk)
    elif mode == "legacy":
        _bits_legacy(key, n, out, chunk)
    else:
        raise ValueError(f"mode={mode!r}, but should be 'partitionable' or 'legacy'")
    return out
