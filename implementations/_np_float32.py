"""XLA:CPU's float32 arithmetic for ``jax.random.truncated_normal``, reproduced in NumPy.

The truncated normal's float path is one XLA loop fusion (``u -> erf_inv(u) * sqrt2 -> clip``).
Its LLVM IR has plain ``fmul``/``fadd``, and LLVM's x86 backend contracts a multiply into the
add that consumes it when the product has a single use and the host has FMA. Which pairs are
fused is read off the IR (see ``_xla_constants``); every ``fma`` below marks such a pair.
With ``fused=False`` the same sequence is computed with two roundings, which is what XLA emits
under ``--xla_cpu_max_isa=AVX``.

NumPy has no float32 FMA, so :func:`fma` emulates one exactly: the product of two float32 is
exact in float64, and the float64 sum is rounded to float32. That double rounding is wrong only
when the float64 sum lands exactly on a float32 midpoint after an inexact addition; those rare
elements are repaired with the exact two-sum error.

Values travel as float32 arrays; subnormals never occur on the truncated normal's path (its
smallest |u| is |a| * 2**-22), so XLA's flush-to-zero does not need modelling here.
"""

from __future__ import annotations

import numpy as np

from implementations import _xla_constants as C

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


def _repair_midpoints(out: np.ndarray, s: np.ndarray, a, b, c) -> None:
    """Fixes elements whose float64 sum ``s`` sat on a float32 midpoint (rare; see module doc)."""
    bits = s.view(np.uint64)
    hit = np.flatnonzero((bits & _MID_MASK) == _MID_HALF)
    if hit.size == 0:
        return
    pick = lambda v: np.broadcast_to(v, s.shape).reshape(-1)[hit].astype(_F64)  # noqa: E731
    p = pick(a) * pick(b)  # exact
    q = pick(c)
    t = s.reshape(-1)[hit]
    bb = t - p  # two-sum: err is the exact rounding error of t = p + q
    err = (p - (t - bb)) + (q - bb)
    # Nudging t one float64 ulp towards the true sum moves it off the midpoint, onto the side
    # the exact value lies on, without crossing any other float32 rounding boundary.
    nudged = np.where(err != 0, np.nextafter(t, np.where(err > 0, np.inf, -np.inf)), t)
    out.reshape(-1)[hit] = nudged.astype(_F32)


def fma(a, b, c) -> np.ndarray:
    """Exact float32 fused multiply-add ``RN32(a * b + c)`` of float32 arrays or scalars."""
    s = np.multiply(a, b, dtype=_F64)
    s = np.add(s, c, out=s if isinstance(s, np.ndarray) else None, dtype=_F64)
    s = np.asarray(s)
    out = s.astype(_F32)
    _repair_midpoints(out, s, a, b, c)
    return out


def muladd(a, b, c, fused: bool) -> np.ndarray:
    """``a * b + c`` as XLA:CPU computes it: one rounding if ``fused``, else two."""
    if fused:
        return fma(a, b, c)
    return np.asarray(np.multiply(a, b, dtype=_F32) + c, dtype=_F32)


def erf(x) -> np.ndarray:
    """XLA:CPU's float32 ``erf`` (its ``xla.erf`` intrinsic).

    The intrinsic calls ``llvm.fma`` explicitly, so it is fused on every host.
    """
    x = np.asarray(x, dtype=_F32)
    x2 = x * x
    p = fma(x2, ERF_P[0], ERF_P[1])
    for coef in ERF_P[2:]:
        p = fma(x2, p, coef)
    num = x * p
    q = fma(x2, ERF_Q[0], ERF_Q[1])
    for coef in ERF_Q[2:]:
        q = fma(x2, q, coef)
    with np.errstate(invalid="ignore"):
        out = num / q
    return np.where(np.abs(x) >= ERF_SATURATE, np.copysign(_F32(1), x), out).astype(_F32)


def _log1p_small(x: np.ndarray, fused: bool) -> np.ndarray:
    """Cephes' rational log1p for |x| < sqrt(2) - 1."""
    x2 = x * x
    den = muladd(_F32(1), x, LOG1P_DEN[1], fused)  # x * 0 + 1 has several uses: not fused
    for coef in LOG1P_DEN[2:]:
        den = muladd(den, x, coef, fused)
    num = muladd(np.full_like(x, LOG1P_NUM[0]), x, LOG1P_NUM[1], fused)
    for coef in LOG1P_NUM[2:]:
        num = muladd(num, x, coef, fused)
    tail = (x * x2) * (num / den)
    # fadd(fmul(x2, -0.5), tail): both products have one use; LLVM fuses the left one.
    return x + muladd(x2, _F32(-0.5), tail, fused)


def _log(y: np.ndarray, fused: bool) -> np.ndarray:
    """Eigen's float32 ``plog`` (Cephes), for the log1p branch ``log(x + 1)``."""
    yc = np.where(y > _FLT_MIN, y, _FLT_MIN).astype(_F32)
    bits = yc.view(np.uint32)
    e = ((bits >> np.uint32(23)).astype(np.int32) - 127).astype(_F32) + _F32(1)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(_F32)
    below = m < LOG_SQRTHF
    r = (m - _F32(1)) + np.where(below, m, _F32(0)).astype(_F32)
    e = e - below.astype(_F32)
    r2 = r * r
    r3 = r2 * r
    ya = muladd(muladd(r, LOG_P[0], LOG_P[1], fused), r, LOG_P[2], fused)
    yb = muladd(muladd(r, LOG_P[3], LOG_P[4], fused), r, LOG_P[5], fused)
    yc_ = muladd(muladd(r, LOG_P[6], LOG_P[7], fused), r, LOG_P[8], fused)
    z = muladd(ya, r3, yb, fused)
    z = muladd(z, r3, yc_, fused)
    z = muladd(z, r3, e * LOG_Q1, fused)
    s = muladd(-r2, _F32(0.5), r, fused)
    res = muladd(e, LOG_Q2, s + z, fused)
    if not np.all((y > 0) & (y < np.inf)):
        with np.errstate(invalid="ignore"):
            res = np.where(y < 0, _F32(np.nan), res)
            res = np.where(y == 0, _F32(-np.inf), res)
            res = np.where(y == np.inf, _F32(np.inf), res)
            res = np.where(np.isnan(y), y, res).astype(_F32)
    return res


def log1p(x, fused: bool) -> np.ndarray:
    """XLA:CPU's float32 ``log-plus-one`` (both branches, selected on |x| < sqrt(2) - 1)."""
    x = np.asarray(x, dtype=_F32)
    small = np.abs(x) < LOG1P_SMALL
    if small.all():
        return _log1p_small(x, fused)
    if not small.any():
        return _log(x + _F32(1), fused)
    out = np.empty_like(x)
    out[small] = _log1p_small(x[small], fused)
    out[~small] = _log(x[~small] + _F32(1), fused)
    return out


def _horner(coefs: tuple[np.float32, ...], t: np.ndarray, fused: bool) -> np.ndarray:
    p = muladd(coefs[0], t, coefs[1], fused)
    for coef in coefs[2:]:
        p = muladd(p, t, coef, fused)
    return p


def erf_inv(u, fused: bool) -> np.ndarray:
    """XLA's float32 ``erf_inv`` (Giles 2010), as XLA:CPU compiles it."""
    u = np.asarray(u, dtype=_F32)
    w = -log1p(u * -u, fused)
    central = w < _F32(5)
    if central.all():
        p = _horner(ERFINV_A, w - _F32(2.5), fused)
    else:
        p = np.empty_like(u)
        p[central] = _horner(ERFINV_A, w[central] - _F32(2.5), fused)
        with np.errstate(invalid="ignore"):
            p[~central] = _horner(ERFINV_B, np.sqrt(w[~central]) - _F32(3), fused)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(u) == 1, u * _F32(np.inf), p * u).astype(_F32)


def uniform_from_mantissa(k: np.ndarray, fused: bool) -> np.ndarray:
    """``jax.random.uniform(minval=a, maxval=b)`` for the 23 random mantissa bits ``k``."""
    f = (k.astype(np.uint32) | np.uint32(0x3F800000)).view(_F32) - _F32(1)
    return np.maximum(muladd(f, ERF_SPAN, ERF_LOWER, fused), ERF_LOWER)


def truncnorm_from_mantissa(k: np.ndarray, fused: bool) -> np.ndarray:
    """``truncated_normal(-2, 2)`` as a function of ``k = bits >> 9`` (float32, clipped)."""
    u = uniform_from_mantissa(k, fused)
    z = erf_inv(u, fused) * SQRT2
    return np.minimum(np.maximum(z, CLIP_LO), CLIP_HI)


def lecun_stddev(fan_in: int) -> np.float32:
    """``sqrt(f32(1 / fan_in)) / f32(0.87962566103423978)``, each op rounded to float32."""
    variance = _F32(1.0 / float(fan_in))  # float64 division in Python, then one rounding
    # float64 sqrt/division of float32 operands, rounded once, is the correctly rounded
    # float32 result (innocuous double rounding: 53 >= 2 * 24 + 2).
    root = _F32(np.sqrt(_F64(variance)))
    return _F32(_F64(root) / _F64(STDDEV_DIVISOR))
