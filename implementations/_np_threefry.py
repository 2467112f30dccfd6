"""Vectorised threefry2x32-20 and ``jax.random.bits`` (32-bit) in NumPy.

Mirrors ``jax/_src/random/threefry2x32.py``: ``_threefry_random_bits_partitionable`` (a 64-bit
row-major counter split into hi/lo words, output ``y0 ^ y1``) and
``_threefry_random_bits_original`` ("legacy": one threefry over the flattened counter
``iota(n)``, padded with a zero when ``n`` is odd, halves as the two words, outputs
concatenated). Work is done in place on cache-sized chunks: threefry is ~110 elementwise passes,
and keeping both words in L2 is what makes it fast.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from implementations._xla_constants import THREEFRY_PARITY, THREEFRY_ROTATIONS

_U32 = np.uint32
CHUNK = 1 << 15  # elements per word per chunk: 2 words + 1 scratch = 384 KiB
SWAR_MAX = 256  # up to this many counter pairs, big-int SWAR beats NumPy's per-call cost
# JAX only splits the legacy counter into blocks at 2**32 - 1 words; the suite caps kernels at
# 2**28 elements, so that branch is deliberately not ported.
_LEGACY_BLOCK = 0xFFFFFFFF


def _key_schedule(key: tuple[int, int]) -> tuple[np.uint32, np.uint32, np.uint32]:
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    return _U32(k0), _U32(k1), _U32(k0 ^ k1 ^ THREEFRY_PARITY)


def _rounds_inplace(ks, x0: np.ndarray, x1: np.ndarray, tmp: np.ndarray) -> None:
    """Applies the 20 rounds and key injections to ``x0, x1`` (already keyed with ks0, ks1)."""
    for i in range(5):
        for r in THREEFRY_ROTATIONS[i % 2]:
            np.add(x0, x1, out=x0)
            np.right_shift(x1, _U32(32 - r), out=tmp)
            np.left_shift(x1, _U32(r), out=x1)
            np.bitwise_or(x1, tmp, out=x1)
            np.bitwise_xor(x1, x0, out=x1)
        np.add(x0, ks[(i + 1) % 3], out=x0)
        np.add(x1, _U32((int(ks[(i + 2) % 3]) + i + 1) & 0xFFFFFFFF), out=x1)


def _unpack(lanes: int, n: int) -> np.ndarray:
    return np.frombuffer(lanes.to_bytes(8 * n, "little"), np.uint64).astype(_U32)


def _threefry_swar(ks, x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Threefry on up to a few hundred words as SIMD-within-a-register on Python ints.

    Each word sits in the low half of a 64-bit lane of one big int, so a carry or a rotation
    spills only into the lane's spare high half, which the mask clears. About 160 big-int
    operations replace about 110 NumPy calls, whose fixed cost dominates for small arrays.
    """
    n = x0.size
    ones = int.from_bytes(np.ones(n, dtype=np.uint64).tobytes(), "little")
    mask = ones * 0xFFFFFFFF
    k = [int(v) for v in ks]
    a = (int.from_bytes(x0.astype(np.uint64).tobytes(), "little") + ones * k[0]) & mask
    b = (int.from_bytes(x1.astype(np.uint64).tobytes(), "little") + ones * k[1]) & mask
    for i in range(5):
        for r in THREEFRY_ROTATIONS[i % 2]:
            a = (a + b) & mask
            b = (((b << r) | (b >> (32 - r))) & mask) ^ a
        a = (a + ones * k[(i + 1) % 3]) & mask
        b = (b + ones * ((k[(i + 2) % 3] + i + 1) & 0xFFFFFFFF)) & mask
    return _unpack(a, n), _unpack(b, n)


def threefry2x32(key: tuple[int, int], x0: np.ndarray, x1: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32-20 of counter words ``x0, x1`` (equal-shape uint32 arrays).

    Args:
        key: the two 32-bit key words.
        x0: first counter words.
        x1: second counter words.

    Returns:
        ``(y0, y1)``, new uint32 arrays of the same shape.
    """
    ks = _key_schedule(key)
    x0, x1 = np.asarray(x0, dtype=_U32), np.asarray(x1, dtype=_U32)
    if x0.size <= SWAR_MAX:
        y0, y1 = _threefry_swar(ks, x0.reshape(-1), x1.reshape(-1))
        return y0.reshape(x0.shape), y1.reshape(x1.shape)
    y0 = np.add(np.asarray(x0, dtype=_U32), ks[0], dtype=_U32)
    y1 = np.add(np.asarray(x1, dtype=_U32), ks[1], dtype=_U32)
    flat0, flat1 = y0.reshape(-1), y1.reshape(-1)
    tmp = np.empty(min(flat0.size, CHUNK), dtype=_U32)
    for start in range(0, flat0.size, CHUNK):
        stop = min(start + CHUNK, flat0.size)
        _rounds_inplace(ks, flat0[start:stop], flat1[start:stop], tmp[: stop - start])
    return y0, y1


def _partitionable(key: tuple[int, int], n: int, out: np.ndarray, lo: int, hi: int) -> None:
    """Words ``lo:hi`` of the partitionable bits: counter ``i`` as (i >> 32, i & 0xFFFFFFFF)."""
    ks = _key_schedule(key)
    width = min(hi - lo, CHUNK)
    x0, x1, tmp = (np.empty(width, dtype=_U32) for _ in range(3))
    base = np.arange(width, dtype=np.uint64 if n > 2**32 else _U32)
    for start in range(lo, hi, CHUNK):
        m = min(CHUNK, hi - start)
        a, b, t = x0[:m], x1[:m], tmp[:m]
        if n > 2**32:  # beyond the suite's kernels, kept for fidelity
            count = base[:m] + np.uint64(start)
            np.add(np.right_shift(count, np.uint64(32)).astype(_U32), ks[0], out=a)
            np.add(count.astype(_U32), ks[1], out=b)  # astype keeps the low word
        else:
            a.fill(ks[0])  # the high counter word is 0
            np.add(base[:m], _U32((start + int(ks[1])) & 0xFFFFFFFF), out=b)
        _rounds_inplace(ks, a, b, t)
        np.bitwise_xor(a, b, out=out[start:start + m])


def _legacy(key: tuple[int, int], n: int, out: np.ndarray, lo: int, hi: int) -> None:
    """Counter pairs ``lo:hi`` of the legacy bits: pair j is (j, half + j), y0/y1 -> j/half + j."""
    half = (n + 1) // 2  # an odd count is padded with one zero word at the end
    ks = _key_schedule(key)
    width = min(hi - lo, CHUNK)
    x0, x1, tmp = (np.empty(width, dtype=_U32) for _ in range(3))
    base = np.arange(width, dtype=_U32)
    for start in range(lo, hi, CHUNK):
        m = min(CHUNK, hi - start)
        a, b, t = x0[:m], x1[:m], tmp[:m]
        np.add(base[:m], _U32((start + int(ks[0])) & 0xFFFFFFFF), out=a)
        np.add(base[:m], _U32((half + start + int(ks[1])) & 0xFFFFFFFF), out=b)
        if 2 * half != n and start + m == half:
            b[m - 1] = ks[1]  # the padding word is 0, not ``2 * half - 1``
        _rounds_inplace(ks, a, b, t)
        out[start:start + m] = a
        tail = min(m, n - half - start)  # y1 fills the second half, minus the padding
        if tail > 0:
            out[half + start: half + start + tail] = b[:tail]


def _small(key: tuple[int, int], n: int, mode: str, out: np.ndarray) -> None:
    ks = _key_schedule(key)
    if mode == "partitionable":  # n <= SWAR_MAX < 2**32: every high counter word is 0
        y0, y1 = _threefry_swar(ks, np.zeros(n, dtype=_U32), np.arange(n, dtype=_U32))
        np.bitwise_xor(y0, y1, out=out)
        return
    half = (n + 1) // 2
    count = np.zeros(2 * half, dtype=_U32)
    count[:n] = np.arange(n, dtype=_U32)
    y0, y1 = _threefry_swar(ks, count[:half], count[half:])
    out[:half] = y0
    out[half:] = y1[: n - half]


def random_bits(key: tuple[int, int], n: int, mode: str, workers: int = 1) -> np.ndarray:
    """``jax.random.bits(key, (n,), uint32)`` for a raw threefry key.

    Args:
        key: the raw key words (``jax.random.key_data``).
        n: number of 32-bit words; a shape's words are its row-major flattening.
        mode: ``"partitionable"`` or ``"legacy"`` (``jax_threefry_partitionable``).
        workers: threads to split the counters over (NumPy releases the GIL in its loops).

    Returns:
        A uint32 array of length ``n``.
    """
    out = np.empty(n, dtype=_U32)
    if n == 0:
        return out
    if mode not in ("partitionable", "legacy"):
        raise ValueError(f"mode={mode!r}, but should be 'partitionable' or 'legacy'")
    if n <= SWAR_MAX:
        _small(key, n, mode, out)
        return out
    if mode == "legacy" and n >= _LEGACY_BLOCK:
        raise NotImplementedError("legacy random bits for >= 2**32 - 1 words are not ported")
    fill = _partitionable if mode == "partitionable" else _legacy
    counters = n if mode == "partitionable" else (n + 1) // 2
    step = -(-counters // max(1, workers) // CHUNK) * CHUNK  # whole chunks per worker
    ranges = [(lo, min(lo + step, counters)) for lo in range(0, counters, step)]
    if len(ranges) == 1:
        fill(key, n, out, 0, counters)
    else:
        with ThreadPoolExecutor(len(ranges)) as pool:
            list(pool.map(lambda r: fill(key, n, out, *r), ranges))
    return out
