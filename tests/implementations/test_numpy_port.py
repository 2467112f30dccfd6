"""The pure-NumPy port (``implementations.numpy_port``) side by side with JAX.

Every expected value comes from running JAX (in this process, or in a subprocess with other
``XLA_FLAGS``/x64 settings) or from the Random123 published known answers; none is typed in.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from implementations import _keys, _np_float32, _np_threefry
from implementations import _xla_constants as C
from implementations import numpy_port
from implementations._contract import InputDomainError
from implementations._float_variants import (FLOAT_VARIANTS, NEWEST, float_variant_for,
                                             host_float_variant, installed_jaxlib)

# Random123 known-answer vectors for threefry2x32-20 (kat_vectors), as cited by JAX's
# tests/random_test.py::testThreefry2x32.
RANDOM123_KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]
MODES = ("partitionable", "legacy")
EDGE_SEEDS = (0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1, 2**32, 2**32 + 7,
              2**40 + 3, 2**62, 2**63 - 1, -(2**63))
# Each new shape costs JAX a compile of a few hundred ms per mode: draw from a small pool.
SHAPES = ((1, 1), (3, 2), (17, 33), (64, 10), (2, 129), (300, 1))
PY = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bits_of(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def run_script(code: str, **env_extra: str) -> dict:
    """Runs ``code`` in a fresh interpreter at the repo root; its last stdout line is JSON."""
    env = dict(os.environ, **env_extra)
    proc = subprocess.run([PY, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- no JAX needed


@pytest.mark.parametrize("key,counter,expected", RANDOM123_KAT)
def test_threefry_random123_known_answers(key, counter, expected):
    assert _keys.threefry2x32(key, *counter) == expected
    y0, y1 = _np_threefry.threefry2x32(key, np.array([counter[0]] * 3, np.uint32),
                                       np.array([counter[1]] * 3, np.uint32))
    assert (y0 == expected[0]).all() and (y1 == expected[1]).all()


@pytest.mark.parametrize("n", [1, 3, 255, 256, 257, 40000])
def test_threefry_vectorised_matches_scalar(n):
    rng = np.random.default_rng(n)
    x0 = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x1 = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    y0, y1 = _np_threefry.threefry2x32((0x13198A2E, 0x03707344), x0, x1)
    for i in rng.integers(0, n, 20):
        assert (int(y0[i]), int(y1[i])) == _keys.threefry2x32(
            (0x13198A2E, 0x03707344), int(x0[i]), int(x1[i]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [257, 2 * 32768 + 1, 3 * 32768 + 7])
def test_random_bits_split_over_threads(mode, n):
    np.testing.assert_array_equal(_np_threefry.random_bits((9, 10), n, mode),
                                  _np_threefry.random_bits((9, 10), n, mode, workers=3))


def test_exact_fma_repairs_double_rounding_midpoints():
    from fractions import Fraction
    # a * b = 2**-24 - 2**-54, c = 1 + 2**-23: the exact sum lies just below the float32
    # midpoint 1 + 3 * 2**-24, so it rounds down to c; the float64 sum rounds onto the
    # midpoint, and its tie then goes to the even neighbour 1 + 2**-22.
    a = np.float32(2.0**-12 * (1 + 2.0**-15))
    b = np.float32(2.0**-12 * (1 - 2.0**-15))
    c = np.float32(1 + 2.0**-23)
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    assert Fraction(float(c)) < exact < Fraction(1) + 3 * Fraction(2) ** -24
    naive = np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    assert naive == np.float32(1 + 2.0**-22)
    got = _np_float32.fma(np.array([a, -a]), np.array([b, b]), np.array([c, -c]))
    np.testing.assert_array_equal(got, np.array([c, -c]))
    deferred = _np_float32._run(lambda fma, u: fma(u, b, c), True, 1, np.array([a, a]))
    np.testing.assert_array_equal(deferred, np.array([c, c]))


def test_host_fma_default_follows_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX")
    assert _keys.host_fma_default() is False
    monkeypatch.setenv("XLA_FLAGS",
                       "--xla_cpu_max_isa=SSE4_2 --xla_force_host_platform_device_count=2")
    assert _keys.host_fma_default() is False
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    assert _keys.host_fma_default() is _keys._cpu_has_fma()


def test_no_jax_in_the_import_tree():
    result = run_script("""
        import json, sys
        for name in ("jax", "jaxlib", "flax", "torch"):
            sys.modules[name] = None  # any import of them now raises ImportError
        import numpy as np
        from implementations import numpy_port
        y = numpy_port.pure_state_update(3, np.arange(5, dtype=np.float32), 4, 2.0,
                                         prng_mode="legacy", fma=True)
        # mode, x64 and FMA from the environment, as JAX would take them
        k = numpy_port.initial_params(-5, 5, 4)
        loaded = sorted(m for m, mod in sys.modules.items()
                        if mod is not None and m.split(".")[0] in ("jax", "jaxlib", "flax"))
        print(json.dumps({"y": y.view(np.uint32).tolist(), "dtype": str(y.dtype),
                          "k": k["kernel"].view(np.uint32).tolist(), "loaded": loaded}))
    """, JAX_ENABLE_X64="1", JAX_THREEFRY_PARTITIONABLE="0")
    assert result["dtype"] == "float32" and len(result["y"]) == 4
    assert result["loaded"] == []
    local = numpy_port.pure_state_update(3, np.arange(5, dtype=np.float32), 4, 2.0,
                                         prng_mode="legacy", fma=True)
    assert bits_of(local).tolist() == result["y"]
    jax = pytest.importorskip("jax")
    from implementations import nnx_compat
    with jax.enable_x64(True):
        expected = nnx_compat.initial_params(-5, 5, 4, prng_mode="legacy")["kernel"]
    assert bits_of(expected).reshape(-1).tolist() == np.reshape(result["k"], -1).tolist()


@pytest.mark.parametrize("fma", [None, True, False, 1, "yes"])
def test_fma_option_domain(fma):
    if fma is None or isinstance(fma, bool):
        numpy_port.initial_params(0, 2, 2, fma=fma)
    else:
        with pytest.raises(InputDomainError, match=r"^fma="):
            numpy_port.initial_params(0, 2, 2, fma=fma)


# The last measured release of each rounding and the first of the next (docs/matrix.md,
# oracles/float_variants.md), plus versions no measurement covers.
VARIANT_OF_JAXLIB = [
    ("0.4.26", "jaxlib-0.4.26"), ("0.4.38", "jaxlib-0.4.26"), ("0.6.2", "jaxlib-0.4.26"),
    ("0.7.0", "jaxlib-0.7.0"), ("0.7.1", "jaxlib-0.7.1"), ("0.7.2", "jaxlib-0.7.1"),
    ("0.8.0", "jaxlib-0.8.0"), ("0.8.1", "jaxlib-0.8.0"),
    ("0.8.2", "jaxlib-0.8.2"), ("0.8.3", "jaxlib-0.8.2"), ("0.10.2", "jaxlib-0.8.2"),
    # unknown newer releases, local and pre-release suffixes, no jaxlib, nonsense
    ("0.11.0", "jaxlib-0.8.2"), ("1.0", "jaxlib-0.8.2"), ("12.3.4", "jaxlib-0.8.2"),
    ("0.8.2.dev20251120", "jaxlib-0.8.2"), ("0.7.0+cuda12.cudnn91", "jaxlib-0.7.0"),
    ("0.8.1rc1", "jaxlib-0.8.0"), (None, "jaxlib-0.8.2"), ("unknown", "jaxlib-0.8.2"),
    # older than the suite supports (jax>=0.4.26): the oldest variant
    ("0.4.25", "jaxlib-0.4.26"), ("0.3.0", "jaxlib-0.4.26"),
]


@pytest.mark.parametrize("version,expected", VARIANT_OF_JAXLIB)
def test_float_variant_for_jaxlib_versions(version, expected):
    assert float_variant_for(version) == expected


def test_float_variant_names_and_installed_jaxlib():
    assert FLOAT_VARIANTS == ("jaxlib-0.4.26", "jaxlib-0.7.0", "jaxlib-0.7.1", "jaxlib-0.8.0",
                              "jaxlib-0.8.2")
    assert NEWEST == FLOAT_VARIANTS[-1]
    assert host_float_variant() == float_variant_for(installed_jaxlib())
    version = pytest.importorskip("jaxlib.version")
    # the metadata the ports read names the jaxlib this interpreter imports
    assert installed_jaxlib() == version.__version__


BAD_VARIANTS = ["jaxlib-0.7", "newest", "JAXLIB-0.8.2", "", 7, b"jaxlib-0.7.0",
                ("jaxlib-0.7.0",)]


@pytest.mark.parametrize("value", [None, *FLOAT_VARIANTS, *BAD_VARIANTS])
def test_float_variant_option_domain(value):
    if value is None or (isinstance(value, str) and value in FLOAT_VARIANTS):
        a = numpy_port.initial_params(0, 2, 2, float_variant=value)
        b = numpy_port.pure_state_update(0, [1.0, 2.0], 2, 1.0, float_variant=value)
        assert a["kernel"].shape == (2, 2) and b.shape == (2,)
        return
    domain = ("one of None, 'jaxlib-0.4.26', 'jaxlib-0.7.0', 'jaxlib-0.7.1', "
              "'jaxlib-0.8.0', 'jaxlib-0.8.2'")
    for call in (lambda: numpy_port.initial_params(0, 2, 2, float_variant=value),
                 lambda: numpy_port.pure_state_update(0, [1.0], 1, 1.0, float_variant=value),
                 lambda: numpy_port.kernel((0, 0), 2, 2, "partitionable", True,
                                           variant=value),
                 lambda: _np_float32.truncnorm_from_mantissa(np.zeros(1, np.uint32), True,
                                                             value)):
        with pytest.raises(InputDomainError) as info:
            call()
        assert str(info.value) == f"float_variant={value!r}, but should be {domain}"


def _glibc_version() -> tuple[int, ...]:
    name, version = platform.libc_ver()
    return tuple(int(p) for p in version.split(".")[:2]) if name == "glibc" else ()


@pytest.mark.skipif(platform.system() != "Linux" or _glibc_version() < (2, 28),
                    reason="compares with the host's libm: glibc 2.28 or later (its logf)")
def test_glibc_logf_matches_the_hosts_libm():
    """:func:`glibc_logf` against libm's own ``logf`` (what jaxlib 0.7.0 ... 0.8.1 call):
    random positive floats of every exponent, and the range truncated_normal reaches."""
    import ctypes
    import ctypes.util
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.logf.restype, libm.logf.argtypes = ctypes.c_float, [ctypes.c_float]
    rng = np.random.default_rng(20261129)
    every = rng.integers(0x00800000, 0x7F800000, 100_000, dtype=np.uint32).view(np.float32)
    reached = rng.uniform(0.0885, 0.5858, 100_000).astype(np.float32)  # 1 + x, |x| >= 0.414
    edges = np.float32([1.0, 2.0, 0.5, np.finfo(np.float32).tiny, np.finfo(np.float32).max])
    y = np.concatenate([every, reached, edges])
    expected = np.array([libm.logf(float(v)) for v in y], dtype=np.float32)
    np.testing.assert_array_equal(bits_of(_np_float32.glibc_logf(y)), bits_of(expected))
    special = np.float32([0.0, -0.0, -1.0, np.inf, np.nan, 1e-45, 2.0**-140])
    want = np.array([libm.logf(float(v)) for v in special], dtype=np.float32)
    got = _np_float32.glibc_logf(special)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    same = ~np.isnan(want)
    np.testing.assert_array_equal(bits_of(got[same]), bits_of(want[same]))


# Written by oracles/prove_float_variants.py from runs under each jaxlib (see its docstring).
VARIANT_SAMPLES = json.loads(
    (pathlib.Path(REPO) / "oracles" / "float_variant_samples.json").read_text(encoding="utf-8"))


def test_every_older_variant_has_measured_samples():
    measured = {run["variant"] for run in VARIANT_SAMPLES["runs"].values()}
    assert measured == set(FLOAT_VARIANTS[:-1])  # the newest differs from itself nowhere


@pytest.mark.parametrize("jaxlib", sorted(VARIANT_SAMPLES["runs"]))
def test_variant_reproduces_its_jaxlib_where_the_newest_does_not(jaxlib):
    """Mantissas where the recorded jaxlib's JAX differed from the newest variant: the variant
    the mapping picks for that jaxlib gives JAX's bits, the newest gives other bits, on the
    float path and in the table."""
    run = VARIANT_SAMPLES["runs"][jaxlib]
    assert run["variant"] == float_variant_for(jaxlib) != NEWEST
    k = np.array(run["mantissas"], dtype=np.uint32)
    jax_bits = [int(h, 16) for h in run["jax_f32_hex"]]
    newest_bits = [int(h, 16) for h in run["newest_f32_hex"]]
    assert all(a != b for a, b in zip(jax_bits, newest_bits)) and len(k) >= 8
    got = _np_float32.truncnorm_from_mantissa(k, run["fused"], run["variant"])
    assert bits_of(got).tolist() == jax_bits
    table = numpy_port.truncnorm_table(run["fused"], run["variant"])
    assert bits_of(table[k]).tolist() == jax_bits
    newest = _np_float32.truncnorm_from_mantissa(k, run["fused"], NEWEST)
    assert bits_of(newest).tolist() == newest_bits


# --------------------------------------------------------------------------- against JAX

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
from flax import nnx  # noqa: E402

from implementations import nnx_compat, split_merge  # noqa: E402  (needs JAX)


def jax_param_key_data(seed: int):
    return tuple(int(v) for v in jax.random.key_data(nnx.Rngs(seed).params()))


@pytest.mark.jax
@pytest.mark.parametrize("x64", [False, True])
def test_keys_match_jax(x64):
    with jax.enable_x64(x64):
        for seed in EDGE_SEEDS:
            key = jax.random.key(seed)
            assert tuple(int(v) for v in jax.random.key_data(key)) == _keys.seed_key(seed, x64)
            assert jax_param_key_data(seed) == _keys.nnx_param_key(seed, x64)
            for data in (0, 1, 2**32 - 1):
                folded = jax.random.key_data(jax.random.fold_in(key, data))
                assert tuple(int(v) for v in folded) == _keys.fold_in(_keys.seed_key(seed, x64),
                                                                     data)


@pytest.mark.jax
def test_constants_match_jax():
    f32 = _np_float32.f32
    assert f32(C.TRUNCNORM_STDDEV_DIVISOR) == np.asarray(jnp.array(.87962566103423978,
                                                                   jnp.float32))
    assert f32(C.SQRT2) == np.float32(np.sqrt(2))
    assert f32(C.INV_SQRT2) == np.asarray(jax.jit(lambda: 1 / jnp.float32(np.sqrt(2)))())
    # the erf of the truncation bounds: XLA folds them; the port's erf reproduces the fold
    lower = np.float32(-2) * f32(C.INV_SQRT2)
    assert bits_of(_np_float32.erf(lower))[0] == C.ERF_LOWER
    assert bits_of(_np_float32.erf(-lower))[0] == C.ERF_UPPER
    assert bits_of(f32(C.ERF_UPPER) - f32(C.ERF_LOWER)) == C.ERF_SPAN
    hlo = jax.jit(lambda k: jax.random.truncated_normal(k, -2, 2, (3,), jnp.float32)).lower(
        jax.random.key(0)).compile().as_text()
    for value in (f32(C.ERF_LOWER), f32(C.ERF_SPAN), _np_float32.CLIP_LO, _np_float32.CLIP_HI,
                  f32(C.SQRT2)):
        assert f"constant({value:.9g})" in hlo, value
    # erf_inv's Giles coefficients appear as HLO constants of a lowered erf_inv
    inv = jax.jit(jax.lax.erf_inv).lower(jnp.zeros(3, jnp.float32)).compile().as_text()
    for coef in C.ERFINV_A + C.ERFINV_B:
        assert f"constant({f32(coef):.9g})" in inv, hex(coef)


@pytest.mark.jax
@pytest.mark.parametrize("fused", [True, False])
def test_elementary_functions_match_jax(fused):
    if fused != _keys.host_fma_default():
        pytest.skip("JAX in this process uses the other FMA setting (see the subprocess test)")
    rng = np.random.default_rng(7)
    u = rng.uniform(-1, 1, 200_000).astype(np.float32)
    u = np.concatenate([u, np.float32([0, -0.0, 1, -1, 0.5, 1 - 2**-24, -(1 - 2**-24)])])
    x = rng.uniform(-0.999, 3, 200_000).astype(np.float32)
    e = rng.uniform(-5, 5, 200_000).astype(np.float32)
    np.testing.assert_array_equal(bits_of(_np_float32.erf_inv(u, fused)),
                                  bits_of(jax.jit(jax.lax.erf_inv)(u)))
    np.testing.assert_array_equal(bits_of(_np_float32.log1p(x, fused)),
                                  bits_of(jax.jit(jax.lax.log1p)(x)))
    np.testing.assert_array_equal(bits_of(_np_float32.erf(e)), bits_of(jax.jit(jax.lax.erf)(e)))


@pytest.mark.jax
def test_lecun_stddev_matches_jax():
    # JAX computes it with two 0-d eager ops; the division stays a division because the
    # divisor is an argument here, not a constant XLA could fold into a reciprocal.
    fans = np.arange(1, 20001)
    variance = np.array([np.float32(1.0 / f) for f in fans])
    divisor = np.full(fans.shape, np.asarray(jnp.array(.87962566103423978, jnp.float32)))
    expected = jax.jit(lambda v, d: jnp.sqrt(v) / d)(variance, divisor)
    got = np.array([_np_float32.lecun_stddev(int(f)) for f in fans])
    np.testing.assert_array_equal(bits_of(got), bits_of(expected))
    for fan in (1, 3, 17, 64, 4096):  # and the eager 0-d path nnx really takes, for a few
        eager = jnp.sqrt(jnp.array(1.0 / fan, jnp.float32)) / jnp.array(.87962566103423978,
                                                                       jnp.float32)
        assert bits_of(eager) == bits_of(_np_float32.lecun_stddev(fan))


def assert_kernel_identical(seed, shape, mode, x64):
    with jax.enable_x64(x64):
        expected = nnx_compat.initial_params(seed, *shape, prng_mode=mode)
        got = numpy_port.initial_params(seed, *shape, prng_mode=mode)
        key = jax.random.key_data(nnx.Rngs(seed).params())
        with nnx_compat.prng_mode_context(mode):
            jbits = jax.random.bits(jax.random.wrap_key_data(key), shape, jnp.uint32)
    nbits = _np_threefry.random_bits(_keys.nnx_param_key(seed, x64), shape[0] * shape[1], mode)
    np.testing.assert_array_equal(nbits, np.asarray(jbits).reshape(-1))
    assert got["kernel"].dtype == np.float32 and got["kernel"].shape == shape
    assert got["bias"].dtype == np.float32 and got["bias"].shape == shape[1:]
    np.testing.assert_array_equal(bits_of(got["kernel"]), bits_of(expected["kernel"]))
    np.testing.assert_array_equal(bits_of(got["bias"]), bits_of(expected["bias"]))


@pytest.mark.jax
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", EDGE_SEEDS)
def test_kernel_identical_edge_seeds(seed, mode):
    assert_kernel_identical(seed, (17, 33), mode, x64=seed % 2 == 0)


@pytest.mark.jax
@settings(max_examples=30)
@given(seed=st.integers(-(2**63), 2**63 - 1), shape=st.sampled_from(SHAPES),
       mode=st.sampled_from(MODES), x64=st.booleans())
def test_kernel_identical_hypothesis(seed, shape, mode, x64):
    assert_kernel_identical(seed, shape, mode, x64)


@pytest.mark.jax
def test_kernels_without_fma_match_jax_under_avx():
    """JAX with ``--xla_cpu_max_isa=AVX`` does not fuse: the ``fma=False`` port must match it."""
    result = run_script("""
        import json, numpy as np
        from implementations import nnx_compat, numpy_port, _keys
        counts = {"fma_none": 0, "fma_false": 0, "fma_true": 0, "total": 0, "default": None}
        counts["default"] = _keys.host_fma_default()
        from conformance.core import detect_fma_with_port
        counts["probe"] = detect_fma_with_port()
        for mode in ("partitionable", "legacy"):
            for seed in list(range(6)) + [-1, 2**63 - 1]:
                for shape in ((3, 2), (17, 33), (64, 10)):
                    ref = nnx_compat.initial_params(seed, *shape, prng_mode=mode)["kernel"]
                    counts["total"] += 1
                    for key, fma in (("fma_none", None), ("fma_false", False), ("fma_true", True)):
                        got = numpy_port.initial_params(seed, *shape, prng_mode=mode, fma=fma)
                        counts[key] += got["kernel"].tobytes() == ref.tobytes()
        import jax
        from implementations import _np_float32 as F
        rng = np.random.default_rng(7)
        u = rng.uniform(-1, 1, 100_000).astype(np.float32)
        x = rng.uniform(-0.999, 3, 100_000).astype(np.float32)
        e = rng.uniform(-5, 5, 100_000).astype(np.float32)
        counts["elementary"] = [
            F.erf_inv(u, False).tobytes() == np.asarray(jax.jit(jax.lax.erf_inv)(u)).tobytes(),
            F.log1p(x, False).tobytes() == np.asarray(jax.jit(jax.lax.log1p)(x)).tobytes(),
            F.erf(e).tobytes() == np.asarray(jax.jit(jax.lax.erf)(e)).tobytes()]
        print(json.dumps(counts))
    """, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=AVX").strip())
    assert result["default"] is False and result["probe"] is False
    assert result["fma_false"] == result["total"] == result["fma_none"]
    assert result["elementary"] == [True, True, True]  # erf_inv, log1p, erf (always fused)
    if _keys._cpu_has_fma():
        assert result["fma_true"] < result["total"]  # the switch matters on this host


@pytest.mark.jax
def test_probe_detects_this_hosts_fma():
    from conformance.core import detect_fma_with_port
    assert detect_fma_with_port() is _keys.host_fma_default()


def expected_forward_bound(x, kernel, scale):
    """The float64 value and a Higham bound for ``x @ f32(scale * kernel)`` with FTZ."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = numpy_port._flush(np.array([scale], np.float32))[0]
        w = numpy_port._flush((kernel * s).astype(np.float32)).astype(np.float64)
        xs = numpy_port._flush(np.array(x, np.float32)).astype(np.float64)
        terms = xs[:, None] * w
    n = len(x)
    gamma = (n + 1) * 2.0**-24 / (1 - (n + 1) * 2.0**-24)
    return terms.sum(0), gamma * np.abs(terms).sum(0) * 1.01 + (2 * n + 2) * 2.0**-126


FORWARD_SCALES = (1.0, 2.0, -0.5, 0.0, -0.0, 1e-45, -1e-45, 3e-39, -3e-39, 1e-30, 1e30, 1e38,
                  1e39, -1e39, math.inf, -math.inf, math.nan, 123.456, 2**-126)


@pytest.mark.jax
@pytest.mark.parametrize("scale", FORWARD_SCALES)
@pytest.mark.parametrize("n_in,n_out", [(1, 3), (3, 2), (17, 33), (64, 10)])
def test_forward_matches_split_merge(scale, n_in, n_out):
    rng = np.random.default_rng(n_in * 100 + n_out)
    x = rng.normal(size=n_in).astype(np.float32)
    x[0] = np.float32(1e-40) if n_in > 2 else x[0]  # a subnormal input (DAZ)
    for seed in (0, 5):
        got = numpy_port.pure_state_update(seed, x, n_out, scale)
        ref = split_merge.pure_state_update(seed, x, n_out, scale)
        assert got.dtype == np.float32 and got.shape == (n_out,)
        nan = np.isnan(ref)
        np.testing.assert_array_equal(np.isnan(got), nan)
        np.testing.assert_array_equal(got[np.isinf(ref)], ref[np.isinf(ref)])
        finite = np.isfinite(ref)
        kernel = numpy_port.initial_params(seed, n_in, n_out)["kernel"]
        value, tol = expected_forward_bound(x, kernel, scale)
        assert (np.abs(got[finite] - value[finite]) <= tol[finite]).all()
        assert (np.abs(ref[finite] - value[finite]) <= tol[finite]).all()
        if scale in (0.0, 1e-45, 3e-39):  # flushed to exact zeros, as in JAX
            assert (got == 0).all() and (ref == 0).all()
        if n_in == 1:  # a single product per output: no summation order, same zero signs
            np.testing.assert_array_equal(bits_of(got), bits_of(ref))


BAD_INPUTS = [
    (2**63, [1.0], 2, 1.0, None), (-(2**63) - 1, [1.0], 2, 1.0, None), (1.5, [1.0], 2, 1.0, None),
    (math.nan, [1.0], 2, 1.0, None), ("3", [1.0], 2, 1.0, None), (True, [1.0], 2, 1.0, None),
    (0, [], 2, 1.0, None), (0, [[1.0, 2.0]], 2, 1.0, None), (0, 3.0, 2, 1.0, None),
    (0, ["a"], 2, 1.0, None), (0, [1 + 2j], 2, 1.0, None), (0, [1.0], 0, 1.0, None),
    (0, [1.0], -3, 1.0, None), (0, [1.0], 2.5, 1.0, None), (0, [1.0] * 4, 2**27, 1.0, None),
    (0, [1.0], 2, "2", None), (0, [1.0], 2, 1j, None), (0, [1.0], 2, [1.0, 2.0], None),
    (0, [1.0], 2, None, None), (0, [1.0], 2, 1.0, "threefry"),
]


@pytest.mark.jax
@pytest.mark.parametrize("seed,x,features,scale,mode", BAD_INPUTS)
def test_out_of_domain_same_error_as_split_merge(seed, x, features, scale, mode):
    with pytest.raises(InputDomainError) as ours:
        numpy_port.pure_state_update(seed, x, features, scale, prng_mode=mode)
    with pytest.raises(InputDomainError) as theirs:
        split_merge.pure_state_update(seed, x, features, scale, prng_mode=mode)
    assert str(ours.value) == str(theirs.value)


# --------------------------------------------------------------------------- slow


SLOW_SEEDS = tuple(range(0, 2001)) + tuple(range(-50, 0)) + tuple(
    s for s in EDGE_SEEDS if not 0 <= s <= 2000 and not -50 <= s < 0) + (2**31 + 1, -(2**31) + 1)


def _batched_jax_kernels(key_data: np.ndarray, shape, mode):
    init = nnx.initializers.lecun_normal()
    with nnx_compat.prng_mode_context(mode):
        fn = jax.jit(jax.vmap(lambda k: init(jax.random.wrap_key_data(k), shape, jnp.float32)))
        return np.asarray(fn(key_data))


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(256, 512), (3, 2), (17, 33)])
def test_kernels_identical_thousands_of_seeds(shape, mode):
    x64 = False
    keys = np.array([_keys.nnx_param_key(s, x64) for s in SLOW_SEEDS], dtype=np.uint32)
    # the batched JAX program must agree with nnx itself before it can stand in for it
    for i in (0, 1, len(SLOW_SEEDS) - 1):
        assert tuple(keys[i]) == jax_param_key_data(SLOW_SEEDS[i])
    batch = 64 if shape[0] * shape[1] > 10_000 else len(SLOW_SEEDS)
    identical, worst = 0, 0
    for start in range(0, len(SLOW_SEEDS), batch):
        expected = _batched_jax_kernels(keys[start:start + batch], shape, mode)
        if start == 0:
            direct = nnx_compat.initial_params(SLOW_SEEDS[0], *shape, prng_mode=mode)["kernel"]
            np.testing.assert_array_equal(bits_of(expected[0]), bits_of(direct))
        for j, key in enumerate(keys[start:start + batch]):
            # the direct float path for the first seeds, the z table for the rest
            got = numpy_port.kernel(tuple(int(v) for v in key), *shape, mode,
                                    _keys.host_fma_default(), table=start + j >= 200)
            same = got.tobytes() == expected[j].tobytes()
            identical += same
            if not same:
                diff = np.abs(bits_of(got).astype(np.int64) - bits_of(expected[j]))
                worst = max(worst, int(diff.max()))
    assert (identical, worst) == (len(SLOW_SEEDS), 0)


@pytest.mark.slow
@pytest.mark.parametrize("variant", FLOAT_VARIANTS)
@pytest.mark.parametrize("fused", [True, False])
def test_table_equals_direct_path(fused, variant):
    """The 2**23-entry table is the float path at every mantissa (the fused half mirrored),
    for each float variant (each has its own table)."""
    table = numpy_port.truncnorm_table(fused, variant)
    k = np.arange(2**23, dtype=np.uint32)
    np.testing.assert_array_equal(bits_of(table),
                                  bits_of(numpy_port._z_direct(k, fused, variant)))


EXHAUSTIVE_SCRIPT = """
import json, numpy as np, jax, jax.numpy as jnp
from jax import lax
from implementations import _keys, numpy_port

def mirror(bits):
    # jax.random.truncated_normal(key, -2, 2) after its random bits (jax/_src/random/core.py:
    # _uniform and _truncated_normal), fed with chosen bits instead of a key's
    dtype = jnp.float32
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower, upper = lax.convert_element_type(-2, dtype), lax.convert_element_type(2, dtype)
    a, b = lax.erf(lower / sqrt2), lax.erf(upper / sqrt2)
    float_bits = lax.shift_right_logical(bits, jnp.array(9, jnp.uint32)) | jnp.asarray(
        np.array(1.0, dtype).view(np.uint32))
    floats = lax.bitcast_convert_type(float_bits, dtype) - jnp.array(1.0, dtype)
    u = lax.max(a, floats * (b - a) + a)
    out = sqrt2 * lax.erf_inv(u)
    return jnp.clip(out, lax.nextafter(lower, np.array(np.inf, dtype)),
                    lax.nextafter(upper, np.array(-np.inf, dtype)))

fn = jax.jit(mirror)
key = jax.random.key(11)
bits = jax.random.bits(key, (1 << 16,), jnp.uint32)
faithful = bool((np.asarray(fn(bits)) == np.asarray(
    jax.random.truncated_normal(key, -2, 2, (1 << 16,), jnp.float32))).all())
every = np.arange(1 << 23, dtype=np.uint32) << np.uint32(9)
expected = np.asarray(fn(every))
fused = _keys.host_fma_default()
import jaxlib.version
from implementations._float_variants import float_variant_for, host_float_variant
variant = host_float_variant()  # what the ports pick by default, from the jaxlib's metadata
table = numpy_port.truncnorm_table(fused, variant)
print(json.dumps({"faithful": faithful, "fused": fused, "variant": variant,
                  "imported_variant": float_variant_for(jaxlib.version.__version__),
                  "differ": int((table.view(np.uint32) != expected.view(np.uint32)).sum())}))
"""


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.parametrize("xla_flags", ["", "--xla_cpu_max_isa=AVX"])
def test_every_mantissa_matches_jax(xla_flags):
    """All 2**23 values of ``z(bits >> 9)`` against JAX, with and without FMA."""
    flags = (os.environ.get("XLA_FLAGS", "") + " " + xla_flags).strip()
    result = run_script(EXHAUSTIVE_SCRIPT, XLA_FLAGS=flags)
    assert result["faithful"]  # the mirror is JAX's own truncated normal, given its bits
    assert result["variant"] == result["imported_variant"]  # the jaxlib JAX really runs
    assert result["differ"] == 0
    assert result["fused"] is (not xla_flags and _keys._cpu_has_fma())
