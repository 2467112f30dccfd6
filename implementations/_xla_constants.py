"""Float32 constants of the op sequence XLA:CPU runs for nnx.Linear's kernel initialiser.

Bit patterns (IEEE-754 binary32, as unsigned ints; the glibc ones binary64), shared by the NumPy
and torch ports. Sources:
``jax/_src/random.py`` (threefry rotations, key schedule), ``jax/_src/nn/initializers.py``
(the truncated-normal stddev constant) and XLA's float32 ``erf``/``erf_inv``/``log1p``
expansions, read off the optimized HLO and the LLVM IR of the lowered truncated-normal fusion,
and glibc's ``logf`` (which jaxlib 0.7.0 ... 0.8.1 call, see ``_float_variants``), read off the
x86-64 FMA build of ``logf`` in glibc 2.36's ``libm.so.6``.
Each value is checked against JAX by the ports' tests, not taken on trust.
"""

from __future__ import annotations

# threefry2x32-20 (Random123): rotation constants of the even and odd 4-round groups.
THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
THREEFRY_PARITY = 0x1BD11BDA

# variance_scaling(1.0, "fan_in", "truncated_normal"): stddev = sqrt(1/fan_in) / this.
TRUNCNORM_STDDEV_DIVISOR = 0x3F612F26  # f32(0.87962566103423978)

# truncated_normal(-2, 2): sqrt(2) and 1/sqrt(2) as XLA uses them.
SQRT2 = 0x3FB504F3
INV_SQRT2 = 0x3F3504F3  # XLA rewrites x / sqrt(2) into x * (1/sqrt(2))
ERF_LOWER = 0xBF745A18  # erf(-2/sqrt2) as computed by XLA's float32 erf
ERF_UPPER = 0x3F745A18
ERF_SPAN = 0x3FF45A18  # ERF_UPPER - ERF_LOWER

# XLA float32 erf: odd polynomial P(x^2) * x over even Q(x^2), every step an llvm.fma.
# The compiled xla.erf intrinsic (jax 0.10.2) does not clamp: it returns copysign(1, x) for
# |x| >= ERF_SATURATE (3.8325067). ERF_CLAMP (3.7439213) is the older clamp-first variant; both
# give ERF_LOWER/ERF_UPPER for the truncation bounds, which XLA constant-folds anyway.
ERF_CLAMP = 0x406F9C68
ERF_SATURATE = 0x407547CB
ERF_P = (0x39702D51, 0x3B5F5DA2, 0x3D50B6EB, 0x3E3DA740, 0x3F906EBA)
ERF_Q = (0xB3FD3906, 0x37C588DF, 0x3A856D28, 0x3C6687D4, 0x3DE34C21, 0x3EFEB44A, 0x3F800000)

# XLA float32 erf_inv (Giles 2010): w = -log1p(-u*u); set A for w < 5, set B otherwise.
ERFINV_W_SPLIT = 5.0
ERFINV_A = (0x32F16588, 0x34B84B36, 0xB66C7357, 0xB6935AC1, 0x396532DB, 0xBAA45408, 0xBB88E4EF,
            0x3E7C8F63, 0x3FC02E2F)
ERFINV_B = (0xB951F09B, 0x38D3B56B, 0x3AB0DC72, 0xBB70BDE7, 0x3BBC127B, 0xBBF9C5D7, 0x3C1AA57E,
            0x3F8036DB, 0x40354F7E)

# XLA float32 log1p: Cephes rational for |x| < LOG1P_SMALL, Eigen's plog(x + 1) otherwise.
LOG1P_SMALL = 0x3ED413CD
LOG1P_DEN = (0x3F800000, 0x417101AD, 0x42A6185B, 0x435DC32D, 0x439A8CA3, 0x43586D8A, 0x42707982)
LOG1P_NUM = (0x383DE04B, 0x3EFF40C5, 0x40D284FA, 0x41EF4B9C, 0x4273CC76, 0x426473AD, 0x41A05101)
LOG_SQRTHF = 0x3F3504F3
LOG_P = (0x3D9021BB, 0xBDEBD1B8, 0x3DEF251A, 0xBDFE5D4F, 0x3E11E9BF, 0xBE2AAE50, 0x3E4CCEAC,
         0xBE7FFFFC, 0x3EAAAAAA)
LOG_Q1 = 0xB95E8083
LOG_Q2 = 0x3F318000

# glibc logf (jaxlib 0.7.0 ... 0.8.1 call it for log1p's log(1 + x) branch), in float64:
# x = 2**k * z with z in [OFF, 2 * OFF) (k from bits(x) - OFF), i = (bits(x) - OFF) >> 19 & 15,
# r = z * INVC[i] - 1, y0 = LOGC[i] + k * LN2, r2 = r * r, y = POLY[1] * r + POLY[2],
# y = POLY[0] * r2 + y, logf = f32(y * r2 + (y0 + r)).
GLIBC_LOGF_OFF = 0x3F330000
GLIBC_LOGF_INVC = (
    0x3FF661EC79F8F3BE, 0x3FF571ED4AAF883D, 0x3FF49539F0F010B0, 0x3FF3C995B0B80385,
    0x3FF30D190C8864A5, 0x3FF25E227B0B8EA0, 0x3FF1BB4A4A1A343F, 0x3FF12358F08AE5BA,
    0x3FF0953F419900A7, 0x3FF0000000000000, 0x3FEE608CFD9A47AC, 0x3FECA4B31F026AA0,
    0x3FEB2036576AFCE6, 0x3FE9C2D163A1AA2D, 0x3FE886E6037841ED, 0x3FE767DCF5534862)
GLIBC_LOGF_LOGC = (
    0xBFD57BF7808CAADE, 0xBFD2BEF0A7C06DDB, 0xBFD01EAE7F513A67, 0xBFCB31D8A68224E9,
    0xBFC6574F0AC07758, 0xBFC1AA2BC79C8100, 0xBFBA4E76CE8C0E5E, 0xBFB1973C5A611CCC,
    0xBFA252F438E10C1E, 0x0000000000000000, 0x3FAAA5AA5DF25984, 0x3FBC5E53AA362EB4,
    0x3FC526E57720DB08, 0x3FCBC2860D224770, 0x3FD1058BC8A07EE1, 0x3FD4043057B6EE09)
GLIBC_LOGF_LN2 = 0x3FE62E42FEFA39EF
GLIBC_LOGF_POLY = (0xBFD00EA348B88334, 0x3FD5575B0BE00B6A, 0xBFDFFFFEF20A4123)
