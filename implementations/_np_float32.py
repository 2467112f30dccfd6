"""XLA:CPU's float32 arithmetic for ``jax.random.truncated_normal``, reproduced in NumPy.

The truncated normal's float path is one XLA loop fusion (``u -> erf_inv(u) * sqrt2 -> clip``).
Its LLVM IR has plain ``fmul``/``fadd``, and LLVM's x86 backend contracts a multiply into the
add that consumes it when the product has a single use and the host has FMA. Which pairs are
fused was read off the IR; every ``fma_`` call in the chains below marks one. With
``fused=False`` the same sequence is computed with two roundings, which is what XLA emits under
``--xla_cpu_max_isa=AVX``. (``erf`` is different: XLA's intrinsic calls ``llvm.fma`` itself.)

NumPy has no float32 FMA, so :func:`fma` emulates one exactly: the product of two float32 is
exact in float64, and the float64 sum is rounded to float32. That double rounding is wrong only
when the float64 sum lands exactly on a float32 midpoint after an inexact addition; such
elements are repaired with the exact two-sum error. To keep NumPy calls few, chains run with
:class:`_Deferred`, which checks all steps for midpoints at once and recomputes only the
flagged elements with :func:`fma`.

Older jaxlib releases lower ``log1p`` differently (``implementations._float_variants``); the
``variant`` argument of :func:`log1p`, :func:`erf_inv` and :func:`truncnorm_from_mantissa`
selects which one to reproduce (None: the installed jaxlib's). ``jaxlib-0.7.0`` calls glibc's
``logf``, reproduced by :func:`glibc_logf` in float64.

Values travel as float32 arrays. XLA flushes subnormals, NumPy does not; on this path the only
subnormals are ``x * x**2`` in log1p for |u| < 1e-6, which vanish against ``-x**2 / 2`` either
way (the table test compares all 2**23 inputs with JAX).
"""

from __future__ import annotations

import numpy as np

from implementations import _xla_constants as C
from implementations._contract import resolve_float_variant
from implementations._float_variants import JAXLIB_0_4, LIBM_LOG_VARIANTS

_F32 = np.float32
_F64 = np.float64
_MID_MASK = np.uint64(0x1FFFFFFF)  # the 29 float64 mantissa bits that float32 drops
_MID_HALF = np.uint64(0x10000000)


def f32(bits: int) -> np.float32:
    """The float32 whose IEEE-754 bit pattern is ``bits``."""
    return np.array(bits, dtype=np.uint32).view(np.float32)[()]


def _f32s(patterns: tuple[int, ...]) -> tuple[np.float32, ...]:
    return tuple(f32(b) for b in patterns)


ERF_P, ERF_Q = _f32s(C.ERF_P), _f32s(C.ERF_Q)
ERFINV_A, ERFINV_B = _f32s(C.ERFINV_A), _f32s(C.ERFINV_B)
LOG1P_DEN, LOG1P_NUM = _f32s(C.LOG1P_DEN), _f32s(C.LOG1P_NUM)
LOG_P = _f32s(C.LOG_P)
LOG_Q1, LOG_Q2, LOG_SQRTHF = f32(C.LOG_Q1), f32(C.LOG_Q2), f32(C.LOG_SQRTHF)
LOG1P_SMALL = f32(C.LOG1P_SMALL)
SQRT2, INV_SQRT2 = f32(C.SQRT2), f32(C.INV_SQRT2)
ERF_LOWER, ERF_UPPER, ERF_SPAN = f32(C.ERF_LOWER), f32(C.ERF_UPPER), f32(C.ERF_SPAN)
ERF_SATURATE = f32(C.ERF_SATURATE)
CLIP_LO = np.nextafter(_F32(-2), _F32(np.inf))
CLIP_HI = np.nextafter(_F32(2), _F32(-np.inf))
STDDEV_DIVISOR = f32(C.TRUNCNORM_STDDEV_DIVISOR)
_FLT_MIN = _F32(np.finfo(np.float32).tiny)
_GLIBC_INVC = np.array(C.GLIBC_LOGF_INVC, dtype=np.uint64).view(_F64)
_GLIBC_LOGC = np.array(C.GLIBC_LOGF_LOGC, dtype=np.uint64).view(_F64)
_GLIBC_LN2 = np.array(C.GLIBC_LOGF_LN2, dtype=np.uint64).view(_F64)[()]
_GLIBC_A0, _GLIBC_A1, _GLIBC_A2 = np.array(C.GLIBC_LOGF_POLY, dtype=np.uint64).view(_F64)


def _midpoints(s: np.ndarray) -> np.ndarray:
    """Where a float64 sum lies exactly halfway between two float32 (destroys ``s``)."""
    bits = s.view(np.uint64)
    np.bitwise_and(bits, _MID_MASK, out=bits)
    return bits == _MID_HALF


def fma(a, b, c) -> np.ndarray:
    """Exact float32 fused multiply-add ``RN32(a * b + c)`` of float32 arrays or scalars."""
    s = np.asarray(np.add(np.multiply(a, b, dtype=_F64), c, dtype=_F64))
    out = s.astype(_F32)
    hit = np.flatnonzero(_midpoints(s))  # s is not needed afterwards
    if hit.size:
        take = lambda v: np.broadcast_to(v, s.shape).reshape(-1)[hit].astype(_F64)  # noqa: E731
        p, q = take(a) * take(b), take(c)  # p is exact
        t = p + q
        bb = t - p
        err = (p - (t - bb)) + (q - bb)  # two-sum: the exact rounding error of t
        # One float64 ulp towards the exact sum moves t off the midpoint onto the exact
        # value's side without crossing another float32 rounding boundary.
        t = np.where(err != 0, np.nextafter(t, np.where(err > 0, np.inf, -np.inf)), t)
        out.reshape(-1)[hit] = t.astype(_F32)
    return out


# _exact_product: when XLA fuses ``a * b + c`` but ``a * b`` is exactly a float32, the plain
# float32 ``RN(a * b) + c`` is the same number, so no emulation is needed. (If the float64 sum
# of the two float32 terms is inexact, their exponents are >= 29 apart, so the sum lies within
# 2**-5 ulp32 of the larger term and cannot sit on a float32 midpoint.)


def _unfused(a, b, c) -> np.ndarray:
    return np.add(np.multiply(a, b, dtype=_F32), c, dtype=_F32)


class _Deferred:
    """An ``fma`` that rounds the float64 sum at once and checks for midpoints afterwards.

    One check over all steps replaces one per step; it only flags candidates (most midpoints
    come from exact sums and are already right), which :func:`_run` recomputes exactly.
    """

    def __init__(self, n: int, steps: int):
        self.sums = np.empty((steps, n), dtype=_F64)
        self.used = 0

    def __call__(self, a, b, c) -> np.ndarray:
        s = self.sums[self.used]
        self.used += 1
        np.multiply(a, b, out=s, dtype=_F64)
        np.add(s, c, out=s, dtype=_F64)
        return s.astype(_F32)

    def candidates(self) -> np.ndarray:
        return _midpoints(self.sums[: self.used]).any(axis=0)


def _run(chain, fused: bool, steps: int, *arrays: np.ndarray) -> np.ndarray:
    """Evaluates the elementwise ``chain(fma, *arrays)`` with XLA's fused or unfused muladds."""
    if not fused:
        return chain(_unfused, *arrays)
    n = arrays[0].size
    deferred = _Deferred(n, steps)
    out = chain(deferred, *arrays)
    redo = deferred.candidates()
    if redo.any():
        out[redo] = chain(fma, *(a[redo] for a in arrays))
    return out


def erf(x) -> np.ndarray:
    """XLA:CPU's float32 ``erf`` (its ``xla.erf`` intrinsic).

    The intrinsic calls ``llvm.fma`` explicitly, so it is fused on every host.
    """
    x = np.atleast_1d(np.asarray(x, dtype=_F32))
    out = _run(_erf_chain, True, 10, x)
    return np.where(np.abs(x) >= ERF_SATURATE, np.copysign(_F32(1), x), out).astype(_F32)


def _erf_chain(fma_, x: np.ndarray) -> np.ndarray:
    x2 = x * x
    p = fma_(x2, ERF_P[0], ERF_P[1])
    for coef in ERF_P[2:]:
        p = fma_(x2, p, coef)
    num = x * p
    q = fma_(x2, ERF_Q[0], ERF_Q[1])
    for coef in ERF_Q[2:]:
        q = fma_(x2, q, coef)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / q


def _log1p_small(fma_, x: np.ndarray) -> np.ndarray:
    """Cephes' rational log1p for |x| < sqrt(2) - 1 (11 muladds)."""
    x2 = x * x
    den = x + LOG1P_DEN[1]  # (x * 0 + 1) * x + D1: a multiply by exactly 1, see _exact_product
    for coef in LOG1P_DEN[2:]:
        den = fma_(den, x, coef)
    num = fma_(LOG1P_NUM[0], x, LOG1P_NUM[1])  # likewise x * 0 + N0 == N0
    for coef in LOG1P_NUM[2:]:
        num = fma_(num, x, coef)
    tail = (x * x2) * (num / den)
    # fadd(fmul(x2, -0.5), tail): LLVM fuses the left product, which is exact (_exact_product).
    return x + (x2 * _F32(-0.5) + tail)


def _log1p_small_fsub(fma_, x: np.ndarray) -> np.ndarray:
    """:func:`_log1p_small` as jaxlib 0.4.26 ... 0.6.2 compile it (12 muladds).

    Their IR ends in ``fsub(fmul(x * x2, num / den), fmul(x2, 0.5))``, and LLVM fuses the
    left product: ``x + fma(x * x2, num / den, -(x2 * 0.5))`` (read off the object code).
    """
    x2 = x * x
    den = x + LOG1P_DEN[1]
    for coef in LOG1P_DEN[2:]:
        den = fma_(den, x, coef)
    num = fma_(LOG1P_NUM[0], x, LOG1P_NUM[1])
    for coef in LOG1P_NUM[2:]:
        num = fma_(num, x, coef)
    return x + fma_(x * x2, num / den, -(x2 * _F32(0.5)))


def _log_chain(fma_, r: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Eigen's ``plog`` polynomial on the reduced argument ``r`` and exponent ``e`` (9)."""
    r2 = r * r
    r3 = r2 * r
    ya = fma_(fma_(r, LOG_P[0], LOG_P[1]), r, LOG_P[2])
    yb = fma_(fma_(r, LOG_P[3], LOG_P[4]), r, LOG_P[5])
    yc = fma_(fma_(r, LOG_P[6], LOG_P[7]), r, LOG_P[8])
    z = fma_(ya, r3, yb)
    z = fma_(z, r3, yc)
    z = fma_(z, r3, e * LOG_Q1)
    # Fused too, but both products are exact (_exact_product): r2 * 0.5, and e * LOG_Q2 with
    # |e| <= 128 and LOG_Q2 = 355 / 512.
    s = r - r2 * _F32(0.5)
    return e * LOG_Q2 + (s + z)


def _log(y: np.ndarray, fused: bool) -> np.ndarray:
    """Eigen's float32 ``plog`` (Cephes), for the log1p branch ``log(x + 1)``."""
    yc = np.maximum(y, _FLT_MIN)  # y > FLT_MIN ? y : FLT_MIN (y is never NaN here)
    bits = yc.view(np.uint32)
    e = ((bits >> np.uint32(23)).astype(np.int32) - 127).astype(_F32) + _F32(1)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(_F32)
    below = m < LOG_SQRTHF
    r = (m - _F32(1)) + np.where(below, m, _F32(0))
    e -= below
    res = _run(_log_chain, fused, 9, r, e)
    if not np.all((y > 0) & (y < np.inf)):
        with np.errstate(invalid="ignore"):
            res = np.where(y < 0, _F32(np.nan), res)
            res = np.where(y == 0, _F32(-np.inf), res)
            res = np.where(y == np.inf, _F32(np.inf), res)
            res = np.where(np.isnan(y), y, res).astype(_F32)
    return res


def glibc_logf(y) -> np.ndarray:
    """glibc's float32 ``logf`` (2.28 and later), which jaxlib 0.7.0 ... 0.8.1 call.

    Table-driven and evaluated in float64 (constants in ``_xla_constants``). glibc's x86-64
    FMA build fuses its multiply-adds; the plain float64 evaluation here rounds to the same
    float32 for every positive normal input (checked against libm.so.6 for all of them).
    """
    y = np.atleast_1d(np.asarray(y, dtype=_F32))
    ix = y.view(np.uint32)
    special = (ix - np.uint32(0x00800000)) >= np.uint32(0x7F800000 - 0x00800000)
    if special.any():  # as glibc: subnormals rescaled by 2**23, the rest below
        ix = np.where(ix < np.uint32(0x00800000),
                      (y * _F32(2.0**23)).view(np.uint32) - np.uint32(23 << 23), ix)
    tmp = ix - np.uint32(C.GLIBC_LOGF_OFF)
    i = (tmp >> np.uint32(19)) & np.uint32(15)
    k = (tmp.view(np.int32) >> np.int32(23)).astype(_F64)
    z = (ix - (tmp & np.uint32(0xFF800000))).view(_F32).astype(_F64)
    r = z * _GLIBC_INVC[i] - _F64(1)
    y0 = _GLIBC_LOGC[i] + k * _GLIBC_LN2
    r2 = r * r
    p = _GLIBC_A1 * r + _GLIBC_A2
    p = _GLIBC_A0 * r2 + p
    res = (p * r2 + (y0 + r)).astype(_F32)
    if special.any():
        with np.errstate(invalid="ignore"):
            res = np.where(y < 0, _F32(np.nan), res)
            res = np.where(y == 0, _F32(-np.inf), res)
            res = np.where(y == np.inf, _F32(np.inf), res)
            res = np.where(np.isnan(y), y, res).astype(_F32)
    return res


def _glibc_log(y: np.ndarray, fused: bool) -> np.ndarray:
    return glibc_logf(y)  # the host libm's code: XLA's fusion setting does not reach it


# log1p's two branches per variant: (small-|x| chain, its muladd steps, log(1 + x)).
_LOG1P_BRANCHES = {JAXLIB_0_4: (_log1p_small_fsub, 12, _log),
                   **{name: (_log1p_small, 11, _glibc_log) for name in LIBM_LOG_VARIANTS}}
_LOG1P_NEWEST = (_log1p_small, 11, _log)


def log1p(x, fused: bool, variant: str | None = None) -> np.ndarray:
    """XLA:CPU's float32 ``log-plus-one`` (both branches, selected on |x| < sqrt(2) - 1).

    Args:
        x: float32 values.
        fused: whether XLA:CPU fuses multiply-adds on the host.
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.
    """
    x = np.atleast_1d(np.asarray(x, dtype=_F32))
    chain, steps, log = _LOG1P_BRANCHES.get(resolve_float_variant(variant), _LOG1P_NEWEST)
    small = np.abs(x) < LOG1P_SMALL
    n_small = np.count_nonzero(small)
    if n_small == x.size:
        return _run(chain, fused, steps, x)
    if n_small == 0:
        return log(x + _F32(1), fused)
    out = np.empty_like(x)
    out[small] = _run(chain, fused, steps, x[small])
    large = ~small
    out[large] = log(x[large] + _F32(1), fused)
    return out


def _horner_a(fma_, t: np.ndarray) -> np.ndarray:
    p = fma_(ERFINV_A[0], t, ERFINV_A[1])
    for coef in ERFINV_A[2:]:
        p = fma_(p, t, coef)
    return p


def _horner_b(fma_, t: np.ndarray) -> np.ndarray:
    p = fma_(ERFINV_B[0], t, ERFINV_B[1])
    for coef in ERFINV_B[2:]:
        p = fma_(p, t, coef)
    return p


def erf_inv(u, fused: bool, variant: str | None = None) -> np.ndarray:
    """XLA's float32 ``erf_inv`` (Giles 2010), as XLA:CPU compiles it (``variant``: see
    :func:`log1p`, the only part that differs)."""
    u = np.atleast_1d(np.asarray(u, dtype=_F32))
    w = -log1p(u * -u, fused, variant)
    if w.max() < _F32(5):  # always so for truncated_normal(-2, 2): |u| <= erf(sqrt(2))
        return _run(_horner_a, fused, 8, w - _F32(2.5)) * u
    central = w < _F32(5)
    p = np.empty_like(u)
    p[central] = _run(_horner_a, fused, 8, w[central] - _F32(2.5))
    tail = ~central
    with np.errstate(invalid="ignore"):
        p[tail] = _run(_horner_b, fused, 8, np.sqrt(w[tail]) - _F32(3))
        return np.where(np.abs(u) == 1, u * _F32(np.inf), p * u).astype(_F32)


def uniform_from_mantissa(k: np.ndarray, fused: bool) -> np.ndarray:
    """``jax.random.uniform(minval=a, maxval=b)`` for the 23 random mantissa bits ``k``."""
    f = (k.astype(np.uint32) | np.uint32(0x3F800000)).view(_F32) - _F32(1)
    return np.maximum(_run(_uniform_chain, fused, 1, f), ERF_LOWER)


def _uniform_chain(fma_, f: np.ndarray) -> np.ndarray:
    return fma_(f, ERF_SPAN, ERF_LOWER)


def truncnorm_from_mantissa(k: np.ndarray, fused: bool, variant: str | None = None
                            ) -> np.ndarray:
    """``truncated_normal(-2, 2)`` as a function of ``k = bits >> 9`` (float32, clipped).

    Args:
        k: the 23 mantissa bits, integers in ``[0, 2**23)``.
        fused: whether XLA:CPU fuses multiply-adds on the host.
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.
    """
    u = uniform_from_mantissa(k, fused)
    z = erf_inv(u, fused, variant) * SQRT2
    return np.minimum(np.maximum(z, CLIP_LO), CLIP_HI)


def lecun_stddev(fan_in: int) -> np.float32:
    """``sqrt(f32(1 / fan_in)) / f32(0.87962566103423978)``, each op rounded to float32."""
    variance = _F32(1.0 / float(fan_in))  # float64 division in Python, then one rounding
    # float64 sqrt/division of float32 operands, rounded once, is the correctly rounded
    # float32 result (innocuous double rounding: 53 >= 2 * 24 + 2).
    root = _F32(np.sqrt(_F64(variance)))
    return _F32(_F64(root) / _F64(STDDEV_DIVISOR))
