"""Pure-NumPy implementation of the contract (no JAX anywhere in its import tree).

``initial_params`` reproduces ``nnx.Linear(in, out, rngs=nnx.Rngs(seed))`` bit for bit:
the key ``fold_in(key(seed), 0)`` (``_keys``), 32-bit threefry random bits in either PRNG mode
(``_np_threefry``), and XLA:CPU's float32 truncated normal scaled by lecun_normal's stddev
(``_np_float32``). ``pure_state_update`` then computes ``x @ (scale * kernel) + scale * bias``
in float32 with XLA:CPU's flush-to-zero; the dot product itself is NumPy's, so it agrees with
JAX's (YNNPACK-blocked) dot to within a rounding bound rather than bit for bit.

Each kernel element is ``RN32(z(bits >> 9) * stddev)``, so for large kernels the float path is
replaced by a gather from a lazily built table of ``z`` over all 2**23 mantissas (32 MiB; with
FMA, z is odd about mantissa 2**22 and half of it, 16 MiB, suffices). The table is built for a
kernel of 2**22 elements or more, or once mid-size kernels have cost the direct path as much as
the build (small ones never use it: their cost is per-call overhead). Either path gives the
same bits; the tests compare all 2**23 table entries with JAX. Each float variant
(``_float_variants``: which jaxlib's rounding to reproduce) has its own table. In the variants
of jaxlib 0.7.0 ... 0.8.1 the elements XLA:CPU computes in loop iterations it did not vectorize
take the newest variant's rounding (``_xla_loops.vectorized_elements``).
"""

from __future__ import annotations

import threading
from typing import Mapping

import numpy as np

from implementations import _keys
from implementations._contract import (params_dict, resolve_float_variant, resolve_fma,
                                       resolve_x64, validate, validate_init)
from implementations._float_variants import NEWEST
from implementations._np_float32 import lecun_stddev, truncnorm_from_mantissa
from implementations._np_threefry import random_bits
from implementations._xla_loops import vectorized_elements

__all__ = ["initial_params", "pure_state_update", "kernel", "truncnorm_table", "forward"]

# A kernel this large builds the z table (once per FMA setting) right away; smaller ones do
# once the direct path has processed as many elements as the build evaluates.
TABLE_MIN_ELEMENTS = 1 << 22
# Below this size the direct path's per-call cost is as low as a gather's: no table.
TABLE_USE_ELEMENTS = 1 << 12
_CHUNK = 1 << 15  # float-path elements per pass: its temporaries then stay in L2
_MANTISSAS = 1 << 23
_HALF = 1 << 22
_GATHER_CHUNK = 1 << 16
_TINY = np.finfo(np.float32).tiny

_TABLES: dict[tuple[bool, str], np.ndarray] = {}  # by (FMA setting, float variant)
_DIRECT_WORK: dict[tuple[bool, str], int] = {}  # elements the direct path has evaluated
_TABLE_LOCK = threading.Lock()


def _z_direct(mantissa: np.ndarray, fused: bool, variant: str) -> np.ndarray:
    if mantissa.size <= _CHUNK:
        return truncnorm_from_mantissa(mantissa, fused, variant)
    out = np.empty(mantissa.shape, dtype=np.float32)
    for start in range(0, mantissa.size, _CHUNK):
        out[start:start + _CHUNK] = truncnorm_from_mantissa(mantissa[start:start + _CHUNK],
                                                            fused, variant)
    return out


def _build_table(fused: bool, variant: str) -> np.ndarray:
    if not fused:
        return _z_direct(np.arange(_MANTISSAS, dtype=np.uint32), fused, variant)
    # Fused, u = RN(f * span + a) = RN(|a| * (k - 2**22) / 2**22) exactly (span == 2|a|), so
    # mantissas 2**22 +- j give u of opposite sign and equal magnitude; erf_inv is computed as
    # an odd function (p(u * -u) * u) and the clip is symmetric, so z(2**22 - j) is
    # -z(2**22 + j). Half the table then serves all of it (and gathers faster, from 16 MiB).
    # Unfused, RN(f * span) + a breaks the symmetry, and the whole range is needed. (Every
    # float variant differs in log1p only, whose argument u * -u is even in u.)
    half = np.empty(_HALF + 1, dtype=np.float32)
    half[:_HALF] = _z_direct(np.arange(_HALF, _MANTISSAS, dtype=np.uint32), fused, variant)
    # for k = 0, j = -2**22
    half[_HALF] = -_z_direct(np.zeros(1, dtype=np.uint32), fused, variant)[0]
    return half


def _table(fused: bool, variant: str) -> np.ndarray:
    table = _TABLES.get((fused, variant))
    if table is None:
        with _TABLE_LOCK:
            table = _TABLES.get((fused, variant))
            if table is None:
                table = _build_table(fused, variant)
                table.flags.writeable = False
                _TABLES[(fused, variant)] = table
    return table


def truncnorm_table(fused: bool, variant: str | None = None) -> np.ndarray:
    """``z`` for every 23-bit mantissa ``k = bits >> 9`` (built on first use, then cached).

    Args:
        fused: whether to reproduce XLA's FMA contraction.
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.

    Returns:
        A float32 array of length 2**23 (for ``fused``, expanded from the cached half).

    Raises:
        InputDomainError: ``variant`` is not a float variant.
    """
    table = _table(fused, resolve_float_variant(variant))
    if not fused:
        return table
    return np.concatenate([-table[_HALF:0:-1], table[:_HALF]])


def _lookup(mantissa: np.ndarray, fused: bool, variant: str, stddev: np.float32
            ) -> np.ndarray:
    """``RN32(z(k) * stddev)`` by table, in chunks so the temporaries stay in cache."""
    table = _table(fused, variant)
    out = np.empty(mantissa.shape, dtype=np.float32)
    for start in range(0, mantissa.size, _GATHER_CHUNK):
        k = mantissa[start:start + _GATHER_CHUNK]
        z = out[start:start + _GATHER_CHUNK]
        if fused:
            j = k.view(np.int32) - _HALF  # z(k) = sign(j) * half[|j|]
            sign = j.view(np.uint32) & np.uint32(0x80000000)
            np.abs(j, out=j)
            np.take(table, j, out=z)
            zb = z.view(np.uint32)
            np.bitwise_xor(zb, sign, out=zb)
        else:
            np.take(table, k, out=z)
        np.multiply(z, stddev, out=z)
    return out


def _choose_table(n: int, fused: bool, variant: str) -> bool:
    """Ski rental: build the table once the direct path has cost as much as building it."""
    if n < TABLE_USE_ELEMENTS:
        return False  # per-call overhead dominates; the float path is as fast
    if (fused, variant) in _TABLES:
        return True
    build_cost = _HALF if fused else _MANTISSAS  # elements of float path either way
    work = _DIRECT_WORK[(fused, variant)] = _DIRECT_WORK.get((fused, variant), 0) + n
    return n >= TABLE_MIN_ELEMENTS or work > build_cost


def _scaled_z(mantissa: np.ndarray, fused: bool, variant: str, stddev: np.float32,
              table: bool | None) -> np.ndarray:
    if table is None:
        table = _choose_table(mantissa.size, fused, variant)
    if table:
        return _lookup(mantissa, fused, variant, stddev)
    z = _z_direct(mantissa, fused, variant)
    np.multiply(z, stddev, out=z)  # one float32 rounding, like JAX's eager multiply
    return z


def kernel(key: tuple[int, int], in_features: int, features: int, mode: str, fused: bool,
           *, variant: str | None = None, table: bool | None = None) -> np.ndarray:
    """lecun_normal's ``(in_features, features)`` float32 kernel for a raw threefry key.

    Args:
        key: the raw key the initialiser receives (``_keys.nnx_param_key``).
        in_features: rows (the fan-in).
        features: columns.
        mode: ``"partitionable"`` or ``"legacy"``.
        fused: whether to reproduce XLA's FMA contraction.
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.
        table: gather ``z`` from the table (True), run the float path (False), or choose by
            size (None). Both give the same bits.

    Raises:
        InputDomainError: ``variant`` is not a float variant.
    """
    variant = resolve_float_variant(variant)
    n = in_features * features
    mantissa = random_bits(key, n, mode)
    np.right_shift(mantissa, np.uint32(9), out=mantissa)
    stddev = lecun_stddev(in_features)
    z = _scaled_z(mantissa, fused, variant, stddev, table)
    vectorized = vectorized_elements(in_features, features, mode, variant)
    if vectorized is not None and not vectorized.all():  # iterations left scalar: the newest
        scalar = ~vectorized
        z[scalar] = _scaled_z(mantissa[scalar], fused, NEWEST, stddev, table)
    return z.reshape(in_features, features)


def initial_params(seed, in_features, features, *, prng_mode=None, fma=None,
                   float_variant=None) -> Mapping[str, np.ndarray]:
    """The Linear's state before any update (see ``implementations._contract``).

    Args:
        seed: the ``nnx.Rngs`` seed; x64 follows ``_contract.resolve_x64``.
        in_features: ``len(x)``.
        features: output features.
        prng_mode: ``"partitionable"``, ``"legacy"`` or None (resolved like JAX).
        fma: None (this host's XLA default), True or False.
        float_variant: None (the installed jaxlib's) or a name from
            ``_float_variants.FLOAT_VARIANTS``: which jaxlib's float32 rounding to reproduce.

    Raises:
        InputDomainError: an argument is out of the contract's domain.
    """
    seed, n_in, n_out, mode = validate_init(seed, in_features, features, prng_mode)
    fused = resolve_fma(fma)
    variant = resolve_float_variant(float_variant)
    key = _keys.nnx_param_key(seed, resolve_x64())
    return params_dict(kernel(key, n_in, n_out, mode, fused, variant=variant),
                       np.zeros(n_out, np.float32))


def _flush(a: np.ndarray) -> np.ndarray:
    """XLA:CPU's FTZ/DAZ: float32 subnormals become zeros of the same sign (in place)."""
    tiny = np.abs(a) < _TINY
    if tiny.any():
        a[tiny] = np.copysign(np.float32(0), a[tiny])
    return a


def forward(x: np.ndarray, kernel_: np.ndarray, bias: np.ndarray, scale: float) -> np.ndarray:
    """``x @ (scale * kernel) + scale * bias`` in float32 with flush-to-zero.

    ``scale`` is rounded to float32 like JAX's weakly typed Python float (``1e39`` -> inf);
    subnormal ``x`` and ``scale`` read as zero, subnormal products and outputs are flushed.
    ``kernel_`` and ``bias`` hold no subnormals (true of nnx's initial state).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.float32(scale)
        if abs(s) < _TINY:
            s = np.copysign(np.float32(0), s)
        xs = _flush(np.array(x, dtype=np.float32))
        w = np.multiply(kernel_, s, dtype=np.float32)
        b = np.multiply(bias, s, dtype=np.float32)
        if 0 < abs(s) < 1:  # otherwise |s * v| >= |v| >= FLT_MIN or 0, inf, nan
            _flush(w)
            _flush(b)
        # A one-term dot is a plain product in XLA, so -0.0 survives; BLAS would start its
        # accumulator at +0.0.
        y = xs[0] * w[0] if xs.shape[0] == 1 else np.matmul(xs, w)
        np.add(y, b, out=y)
    return _flush(y)


def pure_state_update(seed, x, features, scale, *, prng_mode=None, fma=None,
                      float_variant=None) -> np.ndarray:
    """The contract (see ``implementations._contract``): 1-D float32 of length ``features``.

    Args:
        seed: the ``nnx.Rngs`` seed.
        x: 1-D input.
        features: output features.
        scale: multiplier of every state leaf.
        prng_mode: ``"partitionable"``, ``"legacy"`` or None.
        fma: None (this host's XLA default), True or False.
        float_variant: None (the installed jaxlib's) or a name from
            ``_float_variants.FLOAT_VARIANTS``.

    Raises:
        InputDomainError: an argument is out of the contract's domain.
    """
    inputs = validate(seed, x, features, scale, prng_mode)
    fused = resolve_fma(fma)
    variant = resolve_float_variant(float_variant)
    n_in = int(inputs.x.shape[0])
    key = _keys.nnx_param_key(inputs.seed, resolve_x64())
    w = kernel(key, n_in, inputs.features, inputs.prng_mode, fused, variant=variant)
    return forward(inputs.x, w, np.zeros(inputs.features, np.float32), inputs.scale)
