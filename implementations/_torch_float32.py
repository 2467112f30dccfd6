"""XLA:CPU's float32 truncated-normal path and lecun_normal's stddev, bit for bit, in torch.

``jax.random.truncated_normal(key, -2, 2, shape, float32)`` is one XLA fusion. Its float part
uses XLA's own float32 ``erf``, ``erf_inv`` (Giles) and ``log1p`` expansions (coefficients in
``implementations._xla_constants``), and on hosts with FMA the LLVM backend contracts a multiply
into the following add when the product has a single use. Each such site is written here as
:func:`fma32` with the host's switch; everything else is a plain, correctly rounded float32 op
(torch's CPU ``+ - * /`` on float32 are IEEE round-to-nearest-even).

torch 2.13 has no ``torch.fma``. A fused multiply-add of float32 operands is emulated exactly:
the product of two float32 is exact in float64, the float64 sum is rounded once, and the
conversion to float32 rounds a second time. That double rounding can only go wrong when the
float64 sum lands exactly on a float32 midpoint after an inexact add; those elements are found
by their bit pattern and corrected with the exact error of the add (two-sum).

The float path depends on the random bits only through ``bits >> 9`` (23 bits), so
:func:`z_table` evaluates it once for every mantissa and large kernels become a gather.
"""

from __future__ import annotations

import math
import struct
import threading

import torch

from implementations import _xla_constants as C

__all__ = [
    "f32",
    "fma32",
    "lecun_stddev",
    "sqrt32",
    "truncated_normal_from_bits",
    "truncated_normal_z",
    "uniform_bounds",
    "z_table",
]

MANTISSAS = 1 << 23
# From this many elements a kernel is gathered from the table: the direct path costs ~1 us
# per element, a gather ~15 ns, and jitted JAX ~10 ns (256x512 = 2**17 elements in ~1.2 ms).
TABLE_MIN = 1 << 16
_CHUNK = 1 << 16  # float64 temporaries of 512 KiB: the ~300 passes per chunk stay in L2


def f32(bits: int) -> float:
    """The float32 value of a bit pattern, as an (exact) Python float."""
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


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

# float64 bit fields: the 29 low mantissa bits are what float32 rounding discards.
_DROPPED = (1 << 29) - 1
_HALF_ULP32 = 1 << 28


def fma32(a: torch.Tensor, b: torch.Tensor | float, c: torch.Tensor | float, fused: bool
          ) -> torch.Tensor:
    """``a * b + c`` in float32, rounded once if ``fused`` (an FMA) and twice otherwise.

    Args:
        a: float32 tensor.
        b: float32 tensor or a Python float that is exactly a float32 value.
        c: float32 tensor or a Python float that is exactly a float32 value.
        fused: emulate a hardware FMA (XLA:CPU on FMA hosts) instead of ``RN(RN(a*b) + c)``.

    Returns:
        A float32 tensor. The fused result is exact for results in float32's normal range,
        which is all this module needs (no intermediate here is subnormal or overflows).
    """
    if not fused:
        return a * b + c
    a64 = a.to(torch.float64)
    b64 = b.to(torch.float64) if isinstance(b, torch.Tensor) else b
    c64 = c.to(torch.float64) if isinstance(c, torch.Tensor) else c
    prod = a64 * b64  # exact: 24 + 24 significant bits fit in 53
    total = prod + c64  # the only float64 rounding
    out = total.to(torch.float32)
    mid = (total.view(torch.int64) & _DROPPED) == _HALF_ULP32
    if bool(mid.any()):
        # The float64 sum sits exactly between two float32 values. If the add was inexact, the
        # true sum lies strictly on the side of its error, so step one float64 ulp that way and
        # round again; if it was exact, the tie-to-even rounding above was already right.
        idx = mid.nonzero(as_tuple=True)
        p = prod[idx]
        s = total[idx]
        q = c64[idx] if isinstance(c64, torch.Tensor) else torch.full_like(s, c64)
        bv = s - p  # two-sum (Knuth): err = (p - (s - bv)) + (q - bv), exactly s - (p + q)
        err = (p - (s - bv)) + (q - bv)
        toward = torch.where(err > 0, math.inf, -math.inf).to(torch.float64)
        nudged = torch.where(err != 0, torch.nextafter(s, toward), s)
        out[idx] = nudged.to(torch.float32)
    return out


def _horner(x: torch.Tensor, coeffs: tuple[float, ...], fused: bool) -> torch.Tensor:
    """``p = c0; p = fma(p, x, ck)`` for the remaining coefficients (XLA's polynomial order)."""
    p = torch.full_like(x, coeffs[0])
    for coeff in coeffs[1:]:
        p = fma32(p, x, coeff, fused)
    return p


def erf32(x: torch.Tensor) -> torch.Tensor:
    """XLA:CPU's float32 erf (its ``xla.erf`` intrinsic, as compiled by jax 0.10.2).

    The intrinsic calls ``llvm.fma`` explicitly, so its Horner steps are fused on every host
    (a libm ``fmaf`` call without FMA hardware). It does not clamp its argument: it evaluates
    the odd rational ``x * P(x^2) / Q(x^2)`` and returns ``copysign(1, x)`` from
    ``|x| >= 3.8325067`` on (``ERF_SATURATE``; ``ERF_CLAMP`` is an older XLA's variant).
    """
    x2 = x * x
    num = x * _horner(x2, _ERF_P, True)
    ratio = num / _horner(x2, _ERF_Q, True)
    return torch.where(torch.abs(x) >= _ERF_SATURATE, torch.copysign(torch.ones_like(x), x),
                       ratio)


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


def _log_eigen(v: torch.Tensor, fused: bool) -> torch.Tensor:
    """XLA:CPU's float32 ``log`` (Cephes polynomial, Eigen's evaluation order) for normal ``v > 0``.

    Only reached for ``v = 1 + x`` with ``x`` in ``[-0.911, -0.414]`` here, so the special
    cases (``v <= 0``, ``0``, ``inf``, subnormals) are not modelled.
    """
    m, exponent = torch.frexp(v)  # v = m * 2**exponent, m in [0.5, 1)
    e = exponent.to(torch.float32)  # XLA: f32(biased - 127) + 1, the same integer
    small = m < _LOG_SQRTHF
    r = torch.where(small, (m - 1.0) + m, m - 1.0)
    e = torch.where(small, e - 1.0, e)
    p = _LOG_P
    r2 = r * r
    r3 = r2 * r
    ya = fma32(r, p[0], p[1], fused)
    yb = fma32(r, p[3], p[4], fused)
    yc = fma32(r, p[6], p[7], fused)
    ya = fma32(ya, r, p[2], fused)
    yb = fma32(yb, r, p[5], fused)
    yc = fma32(yc, r, p[8], fused)
    z = fma32(ya, r3, yb, fused)
    z = fma32(z, r3, yc, fused)
    z = fma32(z, r3, e * _LOG_Q1, fused)
    s = fma32(-r2, 0.5, r, fused)
    return fma32(e, _LOG_Q2, s + z, fused)


def log1p32(x: torch.Tensor, fused: bool) -> torch.Tensor:
    """XLA's float32 log1p: a Cephes rational for ``|x| < 0.41421357``, ``log(1 + x)`` otherwise.

    XLA evaluates both branches and selects, as done here.
    """
    den = _horner(x, _LOG1P_DEN, fused)
    num = _horner(x, _LOG1P_NUM, fused)
    x2 = x * x
    small = x + fma32(x2, -0.5, (x * x2) * (num / den), fused)
    return torch.where(torch.abs(x) < _LOG1P_SMALL, small, _log_eigen(x + 1.0, fused))


def erf_inv32(u: torch.Tensor, fused: bool) -> torch.Tensor:
    """XLA's float32 erf_inv (Giles 2010) for ``u`` in ``[-1, 1]``.

    ``w = -log1p(-u*u)``; coefficient set A on ``t = w - 2.5`` where ``w < 5``, set B on
    ``t = sqrt(w) - 3`` elsewhere (both evaluated, then selected, as XLA does); ``|u| == 1``
    gives ``u * inf``. From truncated_normal(-2, 2) only set A is reached (``w <= 2.43``).
    """
    w = -log1p32(u * (-u), fused)
    central = _horner(w - 2.5, _ERFINV_A, fused)
    tail = _horner(sqrt32(torch.clamp_min(w, 0.0)) - 3.0, _ERFINV_B, fused)
    p = torch.where(w < C.ERFINV_W_SPLIT, central, tail)
    return torch.where(torch.abs(u) == 1.0, u * math.inf, p * u)


def truncated_normal_z(mantissa: torch.Tensor, fused: bool) -> torch.Tensor:
    """``truncated_normal(-2, 2)`` in float32 as a function of ``bits >> 9``.

    Args:
        mantissa: integer tensor with values in ``[0, 2**23)``.
        fused: XLA:CPU fuses multiply-adds on this host (see ``_keys.host_fma_default``).

    Returns:
        float32 tensor of the same shape.
    """
    a, _, span = uniform_bounds()
    # uniform(): bitcast(m | 0x3F800000) - 1 is exact, in [0, 1).
    one_bits = mantissa.to(torch.int32) | 0x3F800000
    f = one_bits.view(torch.float32) - 1.0
    u = torch.clamp_min(fma32(f, span, a, fused), a)  # lax.max(minval, f * (b - a) + a)
    z = erf_inv32(u, fused) * _SQRT2
    return torch.clamp(z, _CLIP_LO, _CLIP_HI)


_TABLES: dict[bool, torch.Tensor] = {}
_TABLE_LOCK = threading.Lock()


def z_table(fused: bool) -> torch.Tensor:
    """:func:`truncated_normal_z` for all ``2**23`` mantissas (32 MiB, built on first use).

    Bit-identical to the direct path by construction: it is the direct path, evaluated once.
    """
    table = _TABLES.get(fused)
    if table is not None:
        return table
    with _TABLE_LOCK:
        table = _TABLES.get(fused)
        if table is None:
            table = torch.empty(MANTISSAS, dtype=torch.float32)
            for start in range(0, MANTISSAS, _CHUNK):
                stop = start + _CHUNK
                table[start:stop] = truncated_normal_z(
                    torch.arange(start, stop, dtype=torch.int32), fused)
            _TABLES[fused] = table
    return table


def truncated_normal_from_bits(bits: torch.Tensor, fused: bool, *, use_table: bool | None = None
                               ) -> torch.Tensor:
    """``truncated_normal(-2, 2)`` samples from int32 random words (uint32 bits).

    Args:
        bits: int32 tensor of random words.
        fused: FMA switch (see :func:`fma32`).
        use_table: gather from :func:`z_table`. None: when the table exists already or from
            ``TABLE_MIN`` elements on (the one-off build, ~5 s, then pays for itself).

    Returns:
        float32 tensor of ``bits``' shape.
    """
    mantissa = (bits >> 9) & (MANTISSAS - 1)  # logical shift of the uint32 bits
    if use_table is None:
        use_table = fused in _TABLES or bits.numel() >= TABLE_MIN
    if use_table:
        return z_table(fused)[mantissa.to(torch.int64)]
    out = torch.empty(bits.shape, dtype=torch.float32)
    flat_m, flat_out = mantissa.reshape(-1), out.view(-1)
    for start in range(0, flat_m.numel(), _CHUNK):
        flat_out[start:start + _CHUNK] = truncated_normal_z(flat_m[start:start + _CHUNK], fused)
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


def lecun_stddev(fan_in: int) -> float:
    """``variance_scaling(1.0, "fan_in", "truncated_normal")``'s stddev, as JAX rounds it.

    ``variance = jnp.array(1.0 / fan_in, float32)`` (a float64 division, then rounded);
    ``stddev = jnp.sqrt(variance) / jnp.array(0.87962566103423978, float32)``: two correctly
    rounded 0-d float32 ops (0-d / 0-d stays a division in XLA).
    """
    variance = torch.tensor(1.0 / fan_in, dtype=torch.float32)  # rounds the float64 quotient
    root = sqrt32(variance)
    return float(root / torch.tensor(f32(C.TRUNCNORM_STDDEV_DIVISOR), dtype=torch.float32))
