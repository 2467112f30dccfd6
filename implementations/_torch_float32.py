"""XLA:CPU's float32 truncated-normal path and lecun_normal's stddev, bit for bit, in torch.

``jax.random.truncated_normal(key, -2, 2, shape, float32)`` is one XLA fusion. Its float part
uses XLA's own float32 ``erf``, ``erf_inv`` (Giles) and ``log1p`` expansions (coefficients in
``implementations._xla_constants``), and on hosts with FMA the LLVM backend contracts a multiply
into the following add when the product has a single use. Each such site is written here as
:class:`Fma` with the host's switch; everything else is a plain, correctly rounded float32 op
(torch's CPU ``+ - * /`` on float32 are IEEE round-to-nearest-even).

torch 2.13 has no ``torch.fma``. A fused multiply-add of float32 operands is emulated exactly:
the product of two float32 is exact in float64, the float64 sum is rounded once, and the
conversion to float32 rounds a second time. That double rounding can only go wrong when the
float64 sum lands exactly on a float32 midpoint after an inexact add; those elements are found
by their bit pattern and corrected with the exact error of the add (two-sum).

The float path depends on the random bits only through ``bits >> 9`` (23 bits), so
:func:`z_table` evaluates it once for every mantissa and large kernels become a gather.

Older jaxlib releases lower ``log1p`` differently (``implementations._float_variants``); the
``variant`` argument (None: the installed jaxlib's) selects which rounding to reproduce, and
each variant has its own table. ``jaxlib-0.7.0`` calls glibc's ``logf`` (:func:`glibc_logf`).
"""

from __future__ import annotations

import functools
import math
import struct
import threading
from typing import Iterable

import torch

from implementations import _xla_constants as C
from implementations._contract import resolve_float_variant
from implementations._float_variants import JAXLIB_0_4, LIBM_LOG_VARIANTS

__all__ = [
    "Fma",
    "erf32",
    "erf_inv32",
    "f32",
    "fma32",
    "glibc_logf",
    "lecun_stddev",
    "log1p32",
    "sqrt32",
    "truncated_normal_from_bits",
    "truncated_normal_from_chunks",
    "truncated_normal_z",
    "uniform_bounds",
    "z_table",
]

MANTISSAS = 1 << 23
# From this many elements a kernel is gathered from the table. Measured for 256x512 (2**17
# elements, FMA on): direct float path 23-31 ms, gather 0.5-1.0 ms, jitted JAX's whole kernel
# ~0.9 ms; building the table costs 0.7-1.0 s once (0.2 s without FMA).
TABLE_MIN = 1 << 16
# Elements per torch op in the float path (the table gather takes each piece of random words
# whole: index_select runs on one thread at any size). Below ATen's parallel grain size
# (32768) every op runs serially on the calling thread: on this shared, oversubscribed 2-core
# machine OpenMP's spin-waiting barriers made multi-threaded ops 5-40x slower (1M-element
# float path: 0.4 s on one thread, 2-11 s on two), while the extra dispatch per chunk is small.
CHUNK = 24576


def f32(bits: int) -> float:
    """The float32 value of a bit pattern, as an (exact) Python float."""
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def _f64(bits: int) -> float:
    """The float64 value of a bit pattern."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


_ERF_P = tuple(f32(b) for b in C.ERF_P)
_ERF_Q = tuple(f32(b) for b in C.ERF_Q)
_ERFINV_A = tuple(f32(b) for b in C.ERFINV_A)
_ERFINV_B = tuple(f32(b) for b in C.ERFINV_B)
_LOG1P_DEN = tuple(f32(b) for b in C.LOG1P_DEN)
_LOG1P_NUM = tuple(f32(b) for b in C.LOG1P_NUM)
_LOG_P = tuple(f32(b) for b in C.LOG_P)
_LOG_Q1, _LOG_Q2 = f32(C.LOG_Q1), f32(C.LOG_Q2)
_LOG_SQRTHF, _LOG1P_SMALL = f32(C.LOG_SQRTHF), f32(C.LOG1P_SMALL)
_SQRT2, _INV_SQRT2 = f32(C.SQRT2), f32(C.INV_SQRT2)
_ERF_SATURATE = f32(C.ERF_SATURATE)
# jnp.clip(out, nextafter(lower, +inf), nextafter(upper, -inf)) for lower, upper = -2, 2.
_CLIP_LO = f32(0xBFFFFFFF)
_CLIP_HI = f32(0x3FFFFFFF)
_GLIBC_INVC = torch.tensor([_f64(b) for b in C.GLIBC_LOGF_INVC], dtype=torch.float64)
_GLIBC_LOGC = torch.tensor([_f64(b) for b in C.GLIBC_LOGF_LOGC], dtype=torch.float64)
_GLIBC_LN2 = _f64(C.GLIBC_LOGF_LN2)
_GLIBC_A0, _GLIBC_A1, _GLIBC_A2 = (_f64(b) for b in C.GLIBC_LOGF_POLY)

# float64 bit fields: the 29 low mantissa bits are what float32 rounding discards.
_DROPPED = (1 << 29) - 1
_HALF_ULP32 = 1 << 28


class Fma:
    """The multiply-adds XLA:CPU fuses: one rounding (``fused``) or two.

    A fused multiply-add of float32 operands is emulated exactly in float64 (see the module
    docstring); float64 sums that land on a float32 midpoint are re-decided exactly.

    Args:
        fused: one rounding (XLA:CPU on FMA hosts) instead of ``RN(RN(a*b) + c)``.
    """

    def __init__(self, fused: bool):
        self.fused = bool(fused)

    def __call__(self, a: torch.Tensor, b: torch.Tensor | float, c: torch.Tensor | float
                 ) -> torch.Tensor:
        """``a * b + c`` in float32.

        Args:
            a: float32 tensor.
            b: float32 tensor of ``a``'s shape, or a Python float that is a float32 value.
            c: float32 tensor of ``a``'s shape, or a Python float that is a float32 value.

        Returns:
            A float32 tensor. Fused results are exact in float32's normal range, which is all
            this module needs (no intermediate here is subnormal or overflows).
        """
        if not self.fused:
            return a * b + c
        total = a.to(torch.float64)
        total.mul_(b)  # exact: 24 + 24 significant bits fit in 53
        total.add_(c)  # the only float64 rounding
        out = total.to(torch.float32)
        low = total.view(torch.int64).bitwise_and_(_DROPPED)  # total is not needed any more
        mid = low == _HALF_ULP32
        if bool(mid.any()):
            # Midpoints are common where the add is exact (then the tie-to-even rounding
            # above is right) and rare otherwise; _fix_midpoints tells them apart. (index_select
            # and index_copy_: advanced indexing was 100x slower here.)
            idx = mid.view(-1).nonzero().view(-1)
            a64 = _pick(a, idx)
            b64, c64 = _pick(b, idx), _pick(c, idx)
            fixed = _fix_midpoints(a64 * b64 + c64, a64, b64, c64)
            out.view(-1).index_copy_(0, idx, fixed)
        return out


def _pick(v: torch.Tensor | float, idx: torch.Tensor) -> torch.Tensor | float:
    """The flat elements ``idx`` of ``v`` in float64 (a Python float stays as it is)."""
    if not isinstance(v, torch.Tensor):
        return v
    return torch.index_select(v.reshape(-1), 0, idx).to(torch.float64)


def _fix_midpoints(s: torch.Tensor, a: torch.Tensor, b: torch.Tensor | float,
                   c: torch.Tensor | float) -> torch.Tensor:
    """Correct float32 rounding of ``a*b + c`` where its float64 rounding ``s`` is a midpoint.

    If the float64 add was inexact, the true sum lies strictly on the side of its error, so
    step one float64 ulp that way and round again; if it was exact, the tie-to-even rounding
    of ``s`` itself is already right.
    """
    p = a * b  # exact, float64
    q = c if isinstance(c, torch.Tensor) else torch.full_like(s, c)
    bv = s - p  # two-sum (Knuth): err = (p - (s - bv)) + (q - bv) is exactly (p + q) - s
    err = (p - (s - bv)) + (q - bv)
    toward = torch.where(err > 0, math.inf, -math.inf).to(torch.float64)
    return torch.where(err != 0, torch.nextafter(s, toward), s).to(torch.float32)


def _as_fma(fma: bool | Fma) -> Fma:
    return fma if isinstance(fma, Fma) else Fma(fma)


def fma32(a: torch.Tensor, b: torch.Tensor | float, c: torch.Tensor | float, fused: bool
          ) -> torch.Tensor:
    """``a * b + c`` in float32, rounded once if ``fused`` and twice otherwise (checked now)."""
    return Fma(fused)(a, b, c)


def _horner(x: torch.Tensor, coeffs: tuple[float, ...], fma: Fma) -> torch.Tensor:
    """``p = c0; p = fma(p, x, ck)`` for the remaining coefficients (XLA's polynomial order)."""
    p = fma(x, coeffs[0], coeffs[1])  # c0 * x + c1: the same products, one op fewer
    for coeff in coeffs[2:]:
        p = fma(p, x, coeff)
    return p


def erf32(x: torch.Tensor) -> torch.Tensor:
    """XLA:CPU's float32 erf (its ``xla.erf`` intrinsic, as compiled by jax 0.10.2).

    The intrinsic calls ``llvm.fma`` explicitly, so its Horner steps are fused on every host
    (a libm ``fmaf`` call without FMA hardware). It does not clamp its argument: it evaluates
    the odd rational ``x * P(x^2) / Q(x^2)`` and returns ``copysign(1, x)`` from
    ``|x| >= 3.8325067`` on (``ERF_SATURATE``; clamping at ``ERF_CLAMP`` first, as the port
    recipe describes, disagrees with jax 0.10.2 beyond 3.74, as the tests show).
    """
    x2 = x * x
    fma = Fma(True)
    num = x * _horner(x2, _ERF_P, fma)
    ratio = num / _horner(x2, _ERF_Q, fma)
    return torch.where(torch.abs(x) >= _ERF_SATURATE, torch.copysign(torch.ones_like(x), x),
                       ratio)


@functools.lru_cache(maxsize=1)
def uniform_bounds() -> tuple[float, float, float]:
    """``(a, b, b - a)``: erf of the truncation bounds as truncated_normal computes them.

    XLA rewrites ``bound / sqrt(2)`` into ``bound * (1/sqrt(2))`` (a float32 constant), so
    the argument is ``RN(-2 * 0x3F3504F3)``, not ``-2 / 0x3FB504F3``. The same on FMA and
    non-FMA hosts, because erf's own multiply-adds are explicit FMAs.
    """
    bounds = torch.tensor([-2.0, 2.0], dtype=torch.float32) * _INV_SQRT2
    a, b = (float(v) for v in erf32(bounds))
    span = float(torch.tensor(b, dtype=torch.float32) - torch.tensor(a, dtype=torch.float32))
    return a, b, span


def _log_eigen(v: torch.Tensor, fma: Fma) -> torch.Tensor:
    """XLA:CPU's float32 ``log`` (Cephes polynomial, Eigen's evaluation order) for normal ``v > 0``.

    Called with ``v = 1 + x`` for ``|x| >= 0.414`` (truncated_normal: ``x`` in
    ``[-0.911, -0.414]``); the special cases (``v <= 0``, ``inf``, subnormals) are not modelled.
    """
    m, exponent = torch.frexp(v)  # v = m * 2**exponent, m in [0.5, 1)
    e = exponent.to(torch.float32)  # XLA: f32(biased - 127) + 1, the same integer
    small = m < _LOG_SQRTHF
    r = torch.where(small, (m - 1.0) + m, m - 1.0)
    e = torch.where(small, e - 1.0, e)
    p = _LOG_P
    r2 = r * r
    r3 = r2 * r
    ya = fma(r, p[0], p[1])
    yb = fma(r, p[3], p[4])
    yc = fma(r, p[6], p[7])
    ya = fma(ya, r, p[2])
    yb = fma(yb, r, p[5])
    yc = fma(yc, r, p[8])
    z = fma(ya, r3, yb)
    z = fma(z, r3, yc)
    z = fma(z, r3, e * _LOG_Q1)
    s = fma(-r2, 0.5, r)
    return fma(e, _LOG_Q2, s + z)


def glibc_logf(v: torch.Tensor) -> torch.Tensor:
    """glibc's float32 ``logf`` (2.28 and later) for positive normal ``v``, in float64.

    jaxlib 0.7.0 ... 0.8.1 call the host libm's ``logf`` for log1p's ``log(1 + x)`` branch.
    glibc's x86-64 FMA build fuses its multiply-adds; this plain float64 evaluation rounds to
    the same float32 for every positive normal input (checked against libm.so.6 for all of
    them). Called with ``v = 1 + x`` for ``|x| >= 0.414``; the special cases (``v <= 0``,
    ``inf``, subnormals) are not modelled.
    """
    ix = v.view(torch.int32)
    tmp = ix - C.GLIBC_LOGF_OFF
    index = ((tmp >> 19) & 15).to(torch.int64)
    k = (tmp >> 23).to(torch.float64)  # arithmetic shift, as glibc's (int32_t) tmp >> 23
    z = (ix - (tmp & -(1 << 23))).view(torch.float32).to(torch.float64)
    r = z * torch.take(_GLIBC_INVC, index) - 1.0
    y0 = torch.take(_GLIBC_LOGC, index) + k * _GLIBC_LN2
    r2 = r * r
    p = r * _GLIBC_A1 + _GLIBC_A2
    p = r2 * _GLIBC_A0 + p
    return (p * r2 + (y0 + r)).to(torch.float32)


def _log1p_rational(x: torch.Tensor, fma: Fma, variant: str) -> torch.Tensor:
    """The Cephes rational for small ``|x|``, ending as ``variant``'s LLVM fused it."""
    den = _horner(x, _LOG1P_DEN, fma)
    num = _horner(x, _LOG1P_NUM, fma)
    x2 = x * x
    x3, ratio = x * x2, num / den
    if variant == JAXLIB_0_4:
        # jaxlib 0.4.26 ... 0.6.2: fsub(fmul(x3, ratio), fmul(x2, 0.5)), the left product fused.
        return x + fma(x3, ratio, -(x2 * 0.5))
    return x + fma(x2, -0.5, x3 * ratio)


def log1p32(x: torch.Tensor, fma: bool | Fma, variant: str | None = None) -> torch.Tensor:
    """XLA's float32 log1p: a Cephes rational for ``|x| < 0.41421357``, ``log(1 + x)`` otherwise.

    XLA evaluates both branches and selects; a branch no element selects is skipped here (the
    table is built in contiguous mantissa ranges, where most chunks need one branch only).
    ``variant`` (``_float_variants``; None: the installed jaxlib's) picks how each branch is
    rounded: ``jaxlib-0.4.26`` fuses the rational's last multiply-add differently,
    ``jaxlib-0.7.0`` takes glibc's ``logf`` for the other branch.
    """
    fma = _as_fma(fma)
    variant = resolve_float_variant(variant)
    log = glibc_logf if variant in LIBM_LOG_VARIANTS else functools.partial(_log_eigen, fma=fma)
    small = torch.abs(x) < _LOG1P_SMALL
    if not bool(small.any()):
        return log(x + 1.0)
    rational = _log1p_rational(x, fma, variant)
    if bool(small.all()):
        return rational
    return torch.where(small, rational, log(x + 1.0))


def erf_inv32(u: torch.Tensor, fma: bool | Fma, variant: str | None = None) -> torch.Tensor:
    """XLA's float32 erf_inv (Giles 2010) for ``u`` in ``[-1, 1]``.

    ``w = -log1p(-u*u)``; coefficient set A on ``t = w - 2.5`` where ``w < 5``, set B on
    ``t = sqrt(w) - 3`` elsewhere (selected as XLA does; set B is only evaluated when some
    element needs it); ``|u| == 1`` gives ``u * inf``. truncated_normal(-2, 2) only reaches set
    A (``w <= 2.43``). ``variant``: see :func:`log1p32`, the only part that differs.
    """
    fma = _as_fma(fma)
    w = -log1p32(u * (-u), fma, variant)
    central = w < C.ERFINV_W_SPLIT
    p = _horner(w - 2.5, _ERFINV_A, fma)
    if not bool(central.all()):
        tail = _horner(sqrt32(torch.clamp_min(w, 0.0)) - 3.0, _ERFINV_B, fma)
        p = torch.where(central, p, tail)
    return torch.where(torch.abs(u) == 1.0, u * math.inf, p * u)


def truncated_normal_z(mantissa: torch.Tensor, fused: bool, variant: str | None = None
                       ) -> torch.Tensor:
    """``truncated_normal(-2, 2)`` in float32 as a function of ``bits >> 9``.

    Args:
        mantissa: integer tensor with values in ``[0, 2**23)``.
        fused: XLA:CPU fuses multiply-adds on this host (see ``_keys.host_fma_default``).
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.

    Returns:
        float32 tensor of the same shape.
    """
    fma = Fma(fused)
    a, _, span = uniform_bounds()
    # uniform(): bitcast(m | 0x3F800000) - 1 is exact, in [0, 1).
    one_bits = mantissa.to(torch.int32) | 0x3F800000
    f = one_bits.view(torch.float32) - 1.0
    u = torch.clamp_min(fma(f, span, a), a)  # lax.max(minval, f * (b - a) + a)
    z = erf_inv32(u, fma, variant) * _SQRT2
    return torch.clamp(z, _CLIP_LO, _CLIP_HI)


_TABLES: dict[tuple[bool, str], torch.Tensor] = {}  # by (FMA setting, float variant)
_TABLE_LOCK = threading.Lock()


def z_table(fused: bool, variant: str | None = None) -> torch.Tensor:
    """:func:`truncated_normal_z` for all ``2**23`` mantissas (32 MiB, built on first use).

    Bit-identical to the direct path by construction: it is the direct path, evaluated once
    (one table per FMA setting and float variant; ``variant`` None: the installed jaxlib's).
    """
    variant = resolve_float_variant(variant)
    table = _TABLES.get((fused, variant))
    if table is not None:
        return table
    with _TABLE_LOCK:
        table = _TABLES.get((fused, variant))
        if table is None:
            table = torch.empty(MANTISSAS, dtype=torch.float32)
            for start in range(0, MANTISSAS, CHUNK):
                stop = min(MANTISSAS, start + CHUNK)
                table[start:stop] = truncated_normal_z(
                    torch.arange(start, stop, dtype=torch.int32), fused, variant)
            _TABLES[(fused, variant)] = table
    return table


def truncated_normal_from_bits(bits: torch.Tensor, fused: bool, *, scale: float | None = None,
                               use_table: bool | None = None, variant: str | None = None
                               ) -> torch.Tensor:
    """``truncated_normal(-2, 2)`` samples from int32 random words (uint32 bits), optionally
    times ``scale``.

    Args:
        bits: int32 tensor of random words.
        fused: FMA switch (see :class:`Fma`).
        scale: a float32 value to multiply by (one rounding, JAX's eager ``* stddev``).
        use_table: gather from :func:`z_table`. None: when the table exists already or from
            ``TABLE_MIN`` elements on (the one-off build, a few seconds, then pays for itself).
        variant: the jaxlib float variant (``_float_variants``); None: the installed jaxlib's.

    Returns:
        float32 tensor of ``bits``' shape.
    """
    flat = bits.reshape(-1)
    pieces = ((start, flat[start:start + CHUNK]) for start in range(0, flat.numel(), CHUNK))
    return truncated_normal_from_chunks(pieces, flat.numel(), fused, scale=scale,
                                        use_table=use_table, variant=variant).view(bits.shape)


def truncated_normal_from_chunks(pieces: Iterable[tuple[int, torch.Tensor]], n: int,
                                 fused: bool, *, scale: float | None = None,
                                 use_table: bool | None = None, variant: str | None = None
                                 ) -> torch.Tensor:
    """:func:`truncated_normal_from_bits` for words that arrive in pieces.

    Args:
        pieces: ``(start, words)`` pairs covering positions ``0 .. n - 1`` once (as
            ``_torch_threefry.bits_chunks`` yields them; each piece is used before the next
            is asked for).
        n: the number of words.
        fused, scale, use_table, variant: as in :func:`truncated_normal_from_bits`.

    Returns:
        float32 tensor of length ``n``.
    """
    variant = resolve_float_variant(variant)
    if use_table is None:
        use_table = (fused, variant) in _TABLES or n >= TABLE_MIN
    table = z_table(fused, variant) if use_table else None
    out = torch.empty(n, dtype=torch.float32)
    factor = None if scale is None else torch.tensor(scale, dtype=torch.float32)
    for start, words in pieces:
        step = words.numel() if table is not None else CHUNK
        for offset in range(0, words.numel(), step):
            piece = words[offset:offset + step]
            chunk = out[start + offset:start + offset + piece.numel()]
            # Logical shift of the uint32 bits: the arithmetic shift's sign copies are masked.
            mantissa = (piece >> 9).bitwise_and_(MANTISSAS - 1)
            if table is not None:
                torch.index_select(table, 0, mantissa, out=chunk)
            else:
                chunk.copy_(truncated_normal_z(mantissa, fused, variant))
            if factor is not None:
                chunk.mul_(factor)
    return out


def sqrt32(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded float32 square root of a float32 tensor (``x >= 0``).

    ``torch.sqrt`` on CPU is not correctly rounded for float32 in torch 2.13 (about 1 in 5
    inputs is 1 ulp off). The float64 root rounded to float32 is (53 >= 2 * 24 + 2 makes the
    double rounding innocuous for sqrt); rather than lean on that theorem, the one case double
    rounding could break, a float64 root exactly halfway between two float32 values, is decided
    exactly: that midpoint has 25 significant bits, so its square is exact in float64 and
    compares directly with ``x``. Subnormal inputs are not flushed (XLA's DAZ would return 0);
    the only square roots taken here are of variances ``>= 2**-28`` and of ``w >= 5``.
    """
    x64 = x.to(torch.float64)
    root = torch.sqrt(x64)  # correctly rounded in float64 (IEEE sqrt)
    out = root.to(torch.float32)
    mid = (root.view(torch.int64) & _DROPPED) == _HALF_ULP32
    if bool(mid.any()):
        idx = mid.nonzero(as_tuple=True)
        m, target = root[idx], x64[idx]
        square = m * m  # exact
        toward = torch.where(square < target, math.inf, -math.inf).to(torch.float64)
        # square == target cannot happen (a float32 is never the square of a 25-bit midpoint).
        out[idx] = torch.nextafter(m, toward).to(torch.float32)
    return out


@functools.lru_cache(maxsize=1024)  # a pure function of fan_in; a dozen tiny ops per call
def lecun_stddev(fan_in: int) -> float:
    """``variance_scaling(1.0, "fan_in", "truncated_normal")``'s stddev, as JAX rounds it.

    ``variance = jnp.array(1.0 / fan_in, float32)`` (a float64 division, then rounded);
    ``stddev = jnp.sqrt(variance) / jnp.array(0.87962566103423978, float32)``: two correctly
    rounded 0-d float32 ops (0-d / 0-d stays a division in XLA).
    """
    variance = torch.tensor(1.0 / fan_in, dtype=torch.float32)  # rounds the float64 quotient
    root = sqrt32(variance)
    return float(root / torch.tensor(f32(C.TRUNCNORM_STDDEV_DIVISOR), dtype=torch.float32))
