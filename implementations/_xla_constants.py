"""Float32 constants of the op sequence XLA:CPU runs for nnx.Linear's kernel initialiser.

Bit patterns (IEEE-754 binary32, as unsigned ints), shared by the NumPy and torch ports. Sources:
``jax/_src/random.py`` (threefry rotations, key schedule), ``jax/_src/nn/initializers.py``
(the truncated-normal stddev constant) and XLA's float32 ``erf``/``erf_inv``/``log1p``
expansions, read off the optimized HLO and the LLVM IR of the lowered truncated-normal fusion.
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
