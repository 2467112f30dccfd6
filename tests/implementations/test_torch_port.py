"""Tests of the PyTorch port (``implementations.torch_port``) against JAX, Random123 and NumPy.

Every expected value comes from a run of JAX (or flax.nnx) in this process or a subprocess, or
from the published Random123 known-answer vectors. Kernels and random bits are compared bit for
bit; outputs against the suite's dot-product rounding bound (``conformance.core``).

The float path is checked against JAX's own ``truncated_normal`` over chosen mantissas by
registering a PRNG implementation whose "random bits" are ``mantissa << 9``: JAX then runs its
real truncated-normal computation on exactly the inputs we pick
(``oracles.prove_float_variants.jax_z``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.core import EDGE_SEEDS, cases, seeds
from implementations import _keys
from oracles.prove_float_variants import jax_z  # noqa: F401  (NO_FMA_SCRIPT uses it too)

ROOT = Path(__file__).resolve().parents[2]
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_JAX = all(importlib.util.find_spec(name) is not None for name in ("jax", "flax"))
HAVE_NUMPY_PORT = (ROOT / "implementations" / "numpy_port.py").exists()

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed "
                                 "(pip install torch==2.13.0)")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax/flax are not installed")

if HAVE_TORCH:
    import torch

    from implementations import _torch_float32 as F
    from implementations import _torch_threefry as T
    from implementations import torch_port

MODES = ("partitionable", "legacy")
# Kernel shapes for the default run: each new (shape, mode, x64) costs JAX a compile, and all
# stay below the table threshold (the 32 MiB table is built in the slow tests only).
SHAPES = ((1, 1), (3, 2), (17, 33), (2, 31), (64, 32))
SLOW_SEEDS = tuple(sorted(set(
    list(range(0, 2001)) + list(range(-50, 0))
    + [v + d for v in (2**31, -(2**31)) for d in (-2, -1, 0, 1, 2)]
    + [2**32, 2**32 + 7, 2**40 + 3, 2**62, 2**63 - 1, -(2**63)] + list(EDGE_SEEDS))))

# Random123 known-answer vectors for threefry2x32-20 (Random123's kat_vectors; JAX's
# tests/random_test.py::testThreefry2x32 cites them): key, counter, output.
RANDOM123_KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _ulp_max(a: np.ndarray, b: np.ndarray) -> int:
    def ordered(v):
        i = _bits(v).astype(np.int64)
        return np.where(i >= 1 << 31, (1 << 31) - i, i)
    return int(np.abs(ordered(a) - ordered(b)).max(initial=0))


def _run_python(code: str, env: dict | None = None, timeout: int = 600) -> str:
    """Runs ``code`` in a fresh interpreter at the repository root; returns its stdout."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(Path(__file__).resolve().parent)])
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


# --------------------------------------------------------------------------- JAX-side helpers
# (also called from the subprocess that runs JAX without FMA)

def port_z(stride: int, offset: int, n: int, fused: bool, variant: str | None = None
           ) -> np.ndarray:
    m = (torch.arange(n, dtype=torch.int64) * stride + offset) & 0x7FFFFF
    return F.truncated_normal_from_bits((m << 9).to(torch.int32), fused, use_table=False,
                                        variant=variant).numpy()


# float32 inputs for the elementwise functions: random, plus the edges of each branch.
def _float_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261125)
    return {
        "erf": np.concatenate([rng.uniform(-5, 5, 1 << 14), [0.0, -0.0, 3.8325066, 3.8325067,
                               -3.8325067, np.inf, -np.inf, 1e-30]]).astype(np.float32),
        "log1p": np.concatenate([-rng.uniform(0, 0.92, 1 << 14), rng.uniform(-0.45, 0.45, 1 << 12),
                                 [0.41421357, -0.41421357, 0.4142135, -0.4142135]]
                                ).astype(np.float32),
        "erf_inv": np.concatenate([rng.uniform(-1, 1, 1 << 14), 1 - rng.uniform(0, 1e-3, 1 << 12),
                                   [1.0, -1.0, 0.0, 0.99999994, -0.99999994, 0.9931]]
                                  ).astype(np.float32),
        "sqrt": rng.uniform(2.0**-28, 1e4, 1 << 14).astype(np.float32),
    }


def float_function_mismatches(fused: bool) -> dict[str, int]:
    """Elements where the port's erf/log1p/erf_inv/sqrt differ from jitted JAX's."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    ports = {"erf": F.erf32, "log1p": lambda t: F.log1p32(t, fused),
             "erf_inv": lambda t: F.erf_inv32(t, fused), "sqrt": F.sqrt32}
    refs = {"erf": lax.erf, "log1p": jnp.log1p, "erf_inv": lax.erf_inv, "sqrt": jnp.sqrt}
    out = {}
    for name, xs in _float_inputs().items():
        expected = np.asarray(jax.jit(refs[name])(xs))
        actual = ports[name](torch.from_numpy(xs)).numpy()
        out[name] = int((_bits(expected) != _bits(actual)).sum())
    return out


def jax_kernel(seed: int, shape: tuple[int, int], mode: str) -> np.ndarray:
    from implementations import nnx_compat
    return nnx_compat.initial_params(seed, *shape, prng_mode=mode)["kernel"]


def kernel_mismatch_counts(fmas, seeds_, shapes, modes) -> dict:
    """For each ``fma`` setting: ``(differing arrays, arrays)`` between nnx's kernels and the
    port's (each JAX kernel computed once)."""
    counts = {fma: [0, 0] for fma in fmas}
    for mode in modes:
        for shape in shapes:
            for seed in seeds_:
                expected = _bits(jax_kernel(seed, shape, mode))
                for fma in fmas:
                    actual = torch_port.initial_params(seed, *shape, prng_mode=mode, fma=fma)
                    counts[fma][0] += int(not np.array_equal(expected, _bits(actual["kernel"])))
                    counts[fma][1] += 1
    return counts


# --------------------------------------------------------------------------- threefry

@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("key,counter,expected", RANDOM123_KAT)
def test_threefry_random123_known_answers(key, counter, expected):
    y0, y1 = T.threefry2x32(key, torch.tensor([counter[0]]), torch.tensor([counter[1]]))
    assert (int(T.to_uint32(y0)), int(T.to_uint32(y1))) == expected


@pytest.mark.torch
@needs_torch
def test_threefry_vectorised_matches_scalar_keys_module():
    """The int32 wrap-around kernel agrees with ``_keys.threefry2x32`` (pure Python ints)."""
    rng = np.random.default_rng(7)
    x0, x1 = rng.integers(0, 2**32, (2, 4096), dtype=np.uint64)
    key = (0x9E3779B9, 0xFFFFFFFF)
    y0, y1 = T.threefry2x32(key, torch.from_numpy(x0.astype(np.int64)),
                            torch.from_numpy(x1.astype(np.int64)))
    got = list(zip(T.to_uint32(y0).tolist(), T.to_uint32(y1).tolist()))
    assert got == [_keys.threefry2x32(key, int(a), int(b)) for a, b in zip(x0, x1)]


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@settings(max_examples=25)
@given(key=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
       counts=st.lists(st.integers(0, 2**32 - 1), min_size=16, max_size=16))
def test_threefry_matches_jax_primitive(key, counts):
    import jax.numpy as jnp
    from jax.extend.random import threefry2x32_p
    x0, x1 = np.array(counts[:8], np.uint32), np.array(counts[8:], np.uint32)
    e0, e1 = threefry2x32_p.bind(jnp.uint32(key[0]), jnp.uint32(key[1]), jnp.asarray(x0),
                                 jnp.asarray(x1))
    y0, y1 = T.threefry2x32(key, torch.from_numpy(x0.astype(np.int64)),
                            torch.from_numpy(x1.astype(np.int64)))
    assert np.array_equal(np.asarray(e0), T.to_uint32(y0).numpy())
    assert np.array_equal(np.asarray(e1), T.to_uint32(y1).numpy())


@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("mode", MODES)
def test_random_bits_chunking_does_not_matter(mode):
    """Chunk boundaries (and legacy's odd-length padding) do not change the bits."""
    key = (123, 456)
    for n in (1, 2, 5, 1000, 1001):
        whole = T.random_bits(key, n, mode, chunk=1 << 20)
        assert torch.equal(whole, T.random_bits(key, n, mode, chunk=3))


@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("mode", MODES)
def test_bits_chunks_cover_every_position_once_and_feed_the_float_path(mode):
    """The pieces tile 0..n-1 exactly; consuming them piecewise (legacy yields its two halves
    out of order) gives the same samples as the whole word vector."""
    key = (7, 8)
    for n in (1, 4, 7, 1001):
        covered = torch.zeros(n, dtype=torch.int64)
        for start, words in T.bits_chunks(key, n, mode, chunk=4):
            covered[start:start + words.numel()] += 1
        assert torch.equal(covered, torch.ones(n, dtype=torch.int64))
        whole = F.truncated_normal_from_bits(T.random_bits(key, n, mode), True, scale=0.5,
                                             use_table=False)
        pieces = F.truncated_normal_from_chunks(T.bits_chunks(key, n, mode, chunk=4), n, True,
                                                scale=0.5, use_table=False)
        assert torch.equal(whole, pieces)


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@settings(max_examples=30)
@given(seed=seeds(), n=st.sampled_from((1, 3, 561, 2048)),
       mode=st.sampled_from(MODES), x64=st.booleans())
def test_random_bits_match_jax(seed, n, mode, x64):
    """Bits of the key ``nnx.Rngs(seed).params()`` hands out: key derivation + both modes."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from implementations.nnx_compat import prng_mode_context
    with jax.enable_x64(x64), prng_mode_context(mode):
        expected = np.asarray(jax.random.bits(nnx.Rngs(seed).params(), (n,), jnp.uint32))
        key = _keys.nnx_param_key(seed, x64)
    actual = T.to_uint32(T.random_bits(key, n, mode)).numpy()
    assert np.array_equal(expected.astype(np.int64), actual)


# --------------------------------------------------------------------------- float path

@pytest.mark.torch
@needs_torch
def test_fma32_is_exact():
    """The emulated FMA equals the exact ``a*b + c`` rounded once (checked in rationals),
    including inputs built to land the float64 sum on a float32 midpoint."""
    from fractions import Fraction
    rng = np.random.default_rng(3)
    a = rng.uniform(-2, 2, 3000).astype(np.float32)
    b = rng.uniform(-2, 2, 3000).astype(np.float32)
    c = rng.uniform(-2, 2, 3000).astype(np.float32)
    # (1 + 2**-12)**2 = 1 + 2**-11 + 2**-24 is a float32 midpoint; adding +-2**-60 is lost in
    # float64, so rounding the float64 sum to float32 ties to even (down) while the exact sum
    # must round up for +2**-60. The last row is an exact tie.
    a[:3] = b[:3] = np.float32(1 + 2.0**-12)
    c[:3] = np.array([2.0**-60, -(2.0**-60), 0.0], np.float32)
    got = F.fma32(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c), True).numpy()
    for ai, bi, ci, gi in zip(a, b, c, got):
        exact = Fraction(float(ai)) * Fraction(float(bi)) + Fraction(float(ci))
        lo = np.float32(float(exact))  # candidate; correct it exactly below
        cands = [np.nextafter(lo, np.float32(-np.inf)), lo, np.nextafter(lo, np.float32(np.inf))]
        best = min(cands, key=lambda v: (abs(Fraction(float(v)) - exact),
                                         int(np.float32(v).view(np.uint32)) & 1))
        assert _bits(np.float32(gi)) == _bits(np.float32(best)), (ai, bi, ci)


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_constants_match_jax():
    """``_xla_constants`` entries that JAX can state directly (the rest: via the functions)."""
    import inspect
    import re

    import jax
    import jax.numpy as jnp
    from jax import lax
    from implementations import _xla_constants as C
    assert _bits(np.float32(np.sqrt(2))) == C.SQRT2
    assert _bits(np.float32(1 / np.sqrt(2))) == C.INV_SQRT2
    source = inspect.getsource(jax.nn.initializers.variance_scaling)
    literal = re.search(r"jnp\.array\(\s*(\.?[0-9.]+)\s*,\s*dtype", source).group(1)
    assert _bits(np.float32(float(literal))) == C.TRUNCNORM_STDDEV_DIVISOR
    a, b, span = F.uniform_bounds()
    expected = np.asarray(jax.jit(lambda v: lax.erf(v * np.float32(1 / np.sqrt(2))))(
        jnp.array([-2.0, 2.0], jnp.float32)))
    assert list(_bits(np.float32([a, b]))) == list(_bits(expected))
    assert [_bits(np.float32(v)) for v in (a, b, span)] == [C.ERF_LOWER, C.ERF_UPPER, C.ERF_SPAN]


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_float_functions_match_jax_on_this_host():
    """erf, log1p, erf_inv (both Giles branches) and sqrt, bit for bit against jitted JAX."""
    from conformance.core import host_semantics
    assert float_function_mismatches(host_semantics().fma) == {
        "erf": 0, "log1p": 0, "erf_inv": 0, "sqrt": 0}


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_truncated_normal_float_path_matches_jax_sample():
    """z(mantissa) for 2**16 mantissas spread over all 2**23, plus both ends."""
    from conformance.core import host_semantics
    fused = host_semantics().fma
    for stride, offset, n in ((127, 5, 1 << 16), (1, 0, 512), (1, (1 << 23) - 512, 512)):
        assert np.array_equal(_bits(jax_z(stride, offset, n)),
                              _bits(port_z(stride, offset, n, fused)))


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_stddev_many_fan_ins():
    """sqrt(f32(1/fan_in)) / f32(0.8796...) as JAX rounds it (0-d float32 ops, eagerly)."""
    import jax.numpy as jnp
    divisor = jnp.array(0.87962566103423978, dtype=jnp.float32)
    fan_ins = list(range(1, 2049)) + [4095, 4096, 4097, 65535, 65537, 2**20 + 1, 2**28]
    for fan_in in fan_ins:
        expected = jnp.sqrt(jnp.array(1.0 / fan_in, dtype=jnp.float32)) / divisor
        assert _bits(np.float32(expected)) == _bits(np.float32(F.lecun_stddev(fan_in))), fan_in


# --------------------------------------------------------------------------- kernels

@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@settings(max_examples=40)
@given(seed=seeds(), shape=st.sampled_from(SHAPES), mode=st.sampled_from(MODES),
       x64=st.booleans())
def test_kernels_match_nnx(seed, shape, mode, x64):
    """``initial_params`` (host's FMA default) equals nnx.Linear's state bit for bit."""
    import jax

    from implementations import nnx_compat
    with jax.enable_x64(x64):
        expected = nnx_compat.initial_params(seed, *shape, prng_mode=mode)
        actual = torch_port.initial_params(seed, *shape, prng_mode=mode)
    for name in ("kernel", "bias"):
        assert actual[name].dtype == np.float32 and actual[name].shape == expected[name].shape
        assert np.array_equal(_bits(actual[name]), _bits(expected[name])), (name, _ulp_max(
            actual[name], expected[name]))


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_fma_switch_matters_on_this_host():
    """The default follows the host; forcing the other setting breaks bit-identity somewhere."""
    from conformance.core import host_semantics
    host = host_semantics().fma
    assert _keys.host_fma_default() == host
    counts = kernel_mismatch_counts((host, not host), (0, 1, 2, 3), [(17, 33)], MODES)
    assert counts[host][0] == 0
    assert counts[not host][0] > 0


NO_FMA_SCRIPT = """
import json
import test_torch_port as t
from conformance.core import host_semantics
from implementations import _keys
out = {"probe_fma": host_semantics().fma, "default_fma": _keys.host_fma_default(),
       "functions": t.float_function_mismatches(False)}
seeds_ = (0, 1, -1, 2**32 + 7, 2**63 - 1)
shapes = [(1, 1), (3, 2), (17, 33)]
counts = t.kernel_mismatch_counts((None, False, True), seeds_, shapes, t.MODES)
out["default"], out["forced_off"], out["forced_on"] = counts[None], counts[False], counts[True]
stride, offset, n = (1, 0, 1 << 23) if EXHAUSTIVE else (127, 5, 1 << 16)
if EXHAUSTIVE:
    out["many_seeds"] = {mode: t.many_seed_mismatches(mode) for mode in t.MODES}
expected_z = t._bits(t.jax_z(stride, offset, n))
out["z"] = int((expected_z != t._bits(t.port_z(stride, offset, n, False))).sum())
print(json.dumps(out))
"""


def _no_fma_check(exhaustive: bool) -> dict:
    code = NO_FMA_SCRIPT.replace("EXHAUSTIVE", str(exhaustive))
    out = _run_python(code, env={"XLA_FLAGS": "--xla_cpu_max_isa=AVX"})
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_without_fma_matches_jax_limited_to_avx():
    """In a JAX limited to AVX (no FMA): the default turns FMA off and matches JAX exactly."""
    result = _no_fma_check(exhaustive=False)
    assert result["probe_fma"] is False and result["default_fma"] is False
    assert result["functions"] == {"erf": 0, "log1p": 0, "erf_inv": 0, "sqrt": 0}
    assert result["default"][0] == 0 and result["forced_off"][0] == 0
    assert result["forced_on"][0] > 0
    assert result["z"] == 0


# --------------------------------------------------------------------------- forward pass

@pytest.mark.torch
@needs_torch
def test_original_module_untouched():
    """The pure update returns new parameters and leaves the module's own as they were."""
    module = torch_port.build_linear(0, 3, 2)
    weight_before = module.weight.detach().clone()
    bias_before = module.bias.detach().clone()
    ids_before = {name: id(p) for name, p in module.named_parameters()}
    x = torch.tensor([1.0, 2.0, 3.0])
    y, new_params = torch_port.pure_update(module, 2.0, x)
    assert {name: id(p) for name, p in module.named_parameters()} == ids_before
    assert torch.equal(module.weight, weight_before) and torch.equal(module.bias, bias_before)
    assert torch.equal(new_params["weight"], weight_before * 2)
    assert new_params["weight"].data_ptr() != module.weight.data_ptr()
    # The original module still computes with the unscaled parameters.
    assert torch.equal(module(x), x @ weight_before.T + bias_before)
    assert torch.equal(y, x @ (weight_before * 2).T + bias_before * 2)
    expected = torch_port.initial_params(0, 3, 2)["kernel"]
    assert np.array_equal(module.weight.detach().numpy().T, expected)


FORWARD_SHAPES = ((1, 1), (1, 2), (3, 2), (2, 3), (4, 4), (17, 33), (31, 2))


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@settings(max_examples=40)
@given(case=cases(shapes=FORWARD_SHAPES))
def test_forward_within_bound_of_jax(case):
    """Output accepted by the rounding bound around the JAX kernel (NaN and inf decided exactly
    where the summation order cannot change them, see ``conformance.core``)."""
    from conformance.core import expected_output
    from conformance.core import host_semantics
    from implementations import nnx_compat, split_merge
    sem = host_semantics()
    params = nnx_compat.initial_params(case.seed, *case.shape, prng_mode=case.prng_mode)
    expected = expected_output(case.x_array, params["kernel"], params["bias"], case.scale,
                               sem)
    actual = torch_port.pure_state_update(*case.args(), **case.kwargs())
    reference = split_merge.pure_state_update(*case.args(), **case.kwargs())
    assert actual.dtype == np.float32 and actual.shape == (case.features,)
    assert expected.accepts(reference).all()  # the bound holds for JAX itself
    assert expected.accepts(actual).all(), case.reproducer("torch")


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@pytest.mark.parametrize("scale", [1e-45, -1e-45, 1e-40, 1e39, -1e39, math.nan, math.inf, 0.0,
                                   -0.0, 2.0**-126])
def test_forward_special_scales_bitwise(scale):
    """Flush-to-zero and weak float32 rounding of scale: bit-identical to JAX here."""
    from implementations import split_merge
    for seed, x in ((0, [1.0, 2.0, 3.0]), (5, [1e-40, -2.5, 0.0]), (7, [-1.0])):
        expected = split_merge.pure_state_update(seed, np.float32(x), 4, scale)
        actual = torch_port.pure_state_update(seed, np.float32(x), 4, scale)
        same = (_bits(actual) == _bits(expected)) | (np.isnan(actual) & np.isnan(expected))
        assert same.all(), (seed, x, actual, expected)
        if scale == 1e-45:
            assert _bits(actual).tolist() == [0] * 4  # +0.0, as JAX


# --------------------------------------------------------------------------- input domain

BAD_INPUTS = [
    dict(seed=2**63), dict(seed=-(2**63) - 1), dict(seed=1.5), dict(seed="1"), dict(seed=None),
    dict(seed=True), dict(seed=math.nan), dict(x=[]), dict(x=[[1.0, 2.0]]), dict(x="abc"),
    dict(x=[1 + 2j]), dict(x=None), dict(features=0), dict(features=-3), dict(features=2.5),
    dict(features=2**28 + 1), dict(scale="2"), dict(scale=[1.0, 2.0]), dict(scale=None),
    dict(scale=1j), dict(prng_mode="threefry"),
]


def _call_args(overrides: dict) -> tuple[tuple, dict]:
    args = dict(seed=0, x=[1.0, 2.0], features=3, scale=2.0, prng_mode=None)
    args.update(overrides)
    mode = args.pop("prng_mode")
    return tuple(args.values()), {"prng_mode": mode}


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@pytest.mark.parametrize("overrides", BAD_INPUTS, ids=lambda d: repr(d)[:40])
def test_out_of_domain_same_message_as_split_merge(overrides):
    from implementations import InputDomainError, split_merge
    args, kwargs = _call_args(overrides)
    with pytest.raises(InputDomainError) as reference:
        split_merge.pure_state_update(*args, **kwargs)
    with pytest.raises(InputDomainError) as ours:
        torch_port.pure_state_update(*args, **kwargs)
    assert str(ours.value) == str(reference.value)


@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@pytest.mark.parametrize("args", [(0, 0, 3), (0, 3, 0), (2**63, 1, 1), (0, 1.5, 2),
                                  (0, 2, 2**27 + 1)])
def test_initial_params_out_of_domain_same_message(args):
    from implementations import InputDomainError, nnx_compat
    with pytest.raises(InputDomainError) as reference:
        nnx_compat.initial_params(*args)
    with pytest.raises(InputDomainError) as ours:
        torch_port.initial_params(*args)
    assert str(ours.value) == str(reference.value)


@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("fma", ["yes", 1, 0.0])
def test_fma_option_domain(fma):
    from implementations import InputDomainError
    with pytest.raises(InputDomainError, match=r"^fma=.*, but should be one of None, True, Fa"):
        torch_port.pure_state_update(0, [1.0], 1, 1.0, fma=fma)
    if HAVE_NUMPY_PORT:
        from implementations import numpy_port
        with pytest.raises(InputDomainError) as theirs:
            numpy_port.pure_state_update(0, [1.0], 1, 1.0, fma=fma)
        with pytest.raises(InputDomainError) as ours:
            torch_port.pure_state_update(0, [1.0], 1, 1.0, fma=fma)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("value", ["jaxlib-0.7", "newest", 7, b"jaxlib-0.8.2", ["jaxlib-0.7.0"]])
def test_float_variant_option_domain(value):
    """A bad ``float_variant`` raises before any work, as in the NumPy port."""
    from implementations import InputDomainError
    from implementations._float_variants import FLOAT_VARIANT_DOMAIN
    calls = (lambda: torch_port.pure_state_update(0, [1.0], 1, 1.0, float_variant=value),
             lambda: torch_port.initial_params(0, 2, 3, float_variant=value),
             lambda: torch_port.build_linear(0, 2, 3, float_variant=value),
             lambda: F.z_table(True, value),
             lambda: F.truncated_normal_z(torch.zeros(1, dtype=torch.int32), True, value))
    for call in calls:
        with pytest.raises(InputDomainError) as ours:
            call()
        assert str(ours.value) == f"float_variant={value!r}, but should be {FLOAT_VARIANT_DOMAIN}"
    if HAVE_NUMPY_PORT:
        from implementations import numpy_port
        with pytest.raises(InputDomainError) as theirs:
            numpy_port.pure_state_update(0, [1.0], 1, 1.0, float_variant=value)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.torch
@needs_torch
def test_float_variants_agree_with_the_numpy_port():
    """Each variant's z and glibc's logf, torch against NumPy, on 2**17 mantissas spread over
    all 2**23 (both ports implement every variant independently) and the logf range used."""
    if not HAVE_NUMPY_PORT:
        pytest.skip("implementations/numpy_port.py does not exist")
    from implementations import _np_float32
    from implementations._float_variants import FLOAT_VARIANTS
    k = (np.arange(1 << 17, dtype=np.int64) * 61 + 3) % (1 << 23)
    for variant in FLOAT_VARIANTS:
        for fused in (True, False):
            ours = F.truncated_normal_z(torch.from_numpy(k).to(torch.int32), fused, variant)
            theirs = _np_float32.truncnorm_from_mantissa(k.astype(np.uint32), fused, variant)
            assert np.array_equal(_bits(ours.numpy()), _bits(theirs)), (variant, fused)
    y = np.random.default_rng(5).uniform(0.0885, 0.5858, 1 << 16).astype(np.float32)
    assert np.array_equal(_bits(F.glibc_logf(torch.from_numpy(y)).numpy()),
                          _bits(_np_float32.glibc_logf(y)))


# Shapes whose loops XLA:CPU vectorizes differently (implementations._xla_loops): rows of 5
# and 20, columns of 4 and fewer, split into parallel tasks evenly or not, a legacy (1, 5).
LOOP_SHAPES = [(3, 20), (7, 5), (4, 1), (1, 5), (291, 4), (290, 4), (1, 1163), (17, 90),
               (64, 64)]


@pytest.mark.torch
@needs_torch
@pytest.mark.parametrize("mode", ["partitionable", "legacy"])
def test_loop_dependent_kernels_agree_with_the_numpy_port(mode):
    """Whole kernels of the variants whose rounding depends on the loop iteration: both ports
    take it from ``vectorized_elements``, and the kernels are bit-identical (the NumPy port's
    are proven against the real programs in ``oracles/float_variants.md``)."""
    if not HAVE_NUMPY_PORT:
        pytest.skip("implementations/numpy_port.py does not exist")
    from implementations import LIBM_LOG_VARIANTS, numpy_port, torch_port
    mixed = 0
    for variant in sorted(LIBM_LOG_VARIANTS):
        for rows, cols in LOOP_SHAPES:
            for seed in (0, -1, 2**40 + 3):
                theirs = numpy_port.initial_params(seed, rows, cols, prng_mode=mode,
                                                   float_variant=variant)["kernel"]
                ours = torch_port.initial_params(seed, rows, cols, prng_mode=mode,
                                                 float_variant=variant)["kernel"]
                assert _bits(np.asarray(ours)).tobytes() == _bits(theirs).tobytes(), (
                    variant, rows, cols, seed)
                newest = numpy_port.initial_params(seed, rows, cols, prng_mode=mode,
                                                   float_variant="jaxlib-0.8.2")["kernel"]
                glibc = np.asarray(theirs) != newest
                mixed += bool(glibc.any())
    assert mixed  # the comparison reached kernels where the roundings differ


@pytest.mark.torch
@needs_torch
def test_variants_reproduce_their_jaxlib_where_the_newest_does_not():
    """The torch port on the mantissas recorded by ``oracles/prove_float_variants.py`` where a
    jaxlib's JAX differed from the newest variant: its mapped variant gives JAX's bits there,
    the newest the other recorded bits."""
    from implementations._float_variants import FLOAT_VARIANTS, NEWEST, float_variant_for
    samples = json.loads((ROOT / "oracles" / "float_variant_samples.json").read_text())
    assert {run["variant"] for run in samples["runs"].values()} == set(FLOAT_VARIANTS[:-1])
    for jaxlib, run in samples["runs"].items():
        assert run["variant"] == float_variant_for(jaxlib) != NEWEST
        k = torch.tensor(run["mantissas"], dtype=torch.int32)
        for variant, key in ((run["variant"], "jax_f32_hex"), (NEWEST, "newest_f32_hex")):
            got = _bits(F.truncated_normal_z(k, run["fused"], variant).numpy())
            assert [f"{int(b):08x}" for b in got] == run[key], (jaxlib, variant)


# --------------------------------------------------------------------------- without JAX / torch

NUMPY_AGREEMENT_SCRIPT = """
import json, sys
sys.modules["jax"] = None   # make JAX (and flax) unimportable
sys.modules["flax"] = None
import numpy as np
from implementations import numpy_port, torch_port
seeds_ = list(range(0, 12)) + [-1, -2**31, 2**31, 2**32 + 7, 2**40 + 3, 2**62, 2**63 - 1, -2**63]
shapes = [(1, 1), (3, 2), (17, 33), (64, 32), (100, 7)]
kernels = arrays = 0
outputs = identical = 0
rng = np.random.default_rng(11)
for mode in ("partitionable", "legacy"):
    for fma in (True, False):
        for shape in shapes:
            for seed in seeds_:
                a = numpy_port.initial_params(seed, *shape, prng_mode=mode, fma=fma)
                b = torch_port.initial_params(seed, *shape, prng_mode=mode, fma=fma)
                arrays += 1
                kernels += all(np.array_equal(a[k].view(np.uint32), b[k].view(np.uint32))
                               for k in ("kernel", "bias"))
            x = rng.uniform(-3, 3, shape[0]).astype(np.float32)
            seed = int(rng.integers(-2**63, 2**63 - 1))
            for scale in (2.0, -0.5, 1e-45, 1e39, float("nan"), 3e-39):
                ya = numpy_port.pure_state_update(seed, x, shape[1], scale, prng_mode=mode, fma=fma)
                yb = torch_port.pure_state_update(seed, x, shape[1], scale, prng_mode=mode, fma=fma)
                outputs += ya.size
                identical += int(((ya.view(np.uint32) == yb.view(np.uint32))
                                  | (np.isnan(ya) & np.isnan(yb))).sum())
print(json.dumps({"arrays": arrays, "kernels_identical": kernels, "outputs": outputs,
                  "outputs_identical": identical,
                  "jax_loaded": any(v is not None for m, v in sys.modules.items()
                                    if m.split(".")[0] in ("jax", "jaxlib", "flax"))}))
"""


@pytest.mark.torch
@needs_torch
@pytest.mark.skipif(not HAVE_NUMPY_PORT,
                    reason="implementations/numpy_port.py does not exist yet (another issue)")
def test_torch_and_numpy_ports_agree_without_jax():
    result = json.loads(_run_python(NUMPY_AGREEMENT_SCRIPT).strip().splitlines()[-1])
    assert result["jax_loaded"] is False
    assert result["kernels_identical"] == result["arrays"]
    # Outputs: both sum in float32 but in their own BLAS orders; the shapes here are chosen
    # small, where the orders coincide (in = 1 always; see port-recipe.md): most, not all.
    assert result["outputs_identical"] >= 0.5 * result["outputs"]


UNAVAILABLE_SCRIPT = """
import sys
sys.modules["torch"] = None  # as if torch were not installed
import implementations
from implementations import ImplementationUnavailable, IMPLEMENTATIONS
assert not IMPLEMENTATIONS["torch"].available()
try:
    IMPLEMENTATIONS["torch"].load()
except ImplementationUnavailable as exc:
    print(str(exc))
else:
    raise SystemExit("load() succeeded without torch")
import conformance  # the suite still imports
"""


def test_unavailable_without_torch():
    out = _run_python(UNAVAILABLE_SCRIPT).strip()
    assert "implementation='torch' is unavailable (missing torch)" in out
    assert out.endswith("but should be installed with: pip install torch==2.13.0")


# --------------------------------------------------------------------------- slow

SLOW_SHAPES = ((1, 1), (3, 2), (17, 33), (256, 512))
SLOW_X64_SEEDS = tuple(sorted(set(EDGE_SEEDS) | set(range(50))))


@functools.lru_cache(maxsize=None)
def _batched_init(shape, mode: str, x64: bool):
    """lecun_normal vmapped over raw keys, jitted once per shape, mode and x64 setting."""
    import jax
    from implementations.nnx_compat import prng_mode_context
    init = jax.nn.initializers.lecun_normal()
    fn = jax.jit(jax.vmap(lambda kd: init(jax.random.wrap_key_data(kd), shape,
                                          jax.numpy.float32)))

    def run(keys):
        with jax.enable_x64(x64), prng_mode_context(mode):
            return np.asarray(fn(keys))
    return run


def jax_kernels_batched(seed_list, shape, mode: str, x64: bool) -> np.ndarray:
    """nnx kernels for many seeds: keys from ``nnx.Rngs(seed).params()``, the initializer
    vmapped over them (batches padded to one size, so one compile per shape and mode)."""
    import jax
    from flax import nnx
    from implementations.nnx_compat import prng_mode_context
    with jax.enable_x64(x64), prng_mode_context(mode):
        keys = np.stack([np.asarray(jax.random.key_data(nnx.Rngs(s).params()))
                         for s in seed_list])
    padded = np.concatenate([keys, np.repeat(keys[-1:], 100 - len(keys) % 100, axis=0)])
    return np.concatenate([_batched_init(shape, mode, x64)(padded[i:i + 100])
                           for i in range(0, len(padded), 100)])[:len(seed_list)]


def many_seed_mismatches(mode: str, fma=None) -> dict:
    """Port vs nnx for SLOW_SEEDS (x64 off) and SLOW_X64_SEEDS (x64 on) over SLOW_SHAPES.

    Returns ``{"<shape> x64=<b>": [kernels, differing, max ulp]}``.
    """
    import jax
    out = {}
    for x64, seed_list in ((False, SLOW_SEEDS), (True, SLOW_X64_SEEDS)):
        for shape in SLOW_SHAPES:
            # The batched JAX side must equal nnx.Linear itself: spot-check it eagerly.
            with jax.enable_x64(x64):
                eager = jax_kernel(seed_list[-1], shape, mode)
            expected = jax_kernels_batched(seed_list, shape, mode, x64)
            assert np.array_equal(_bits(eager), _bits(expected[-1]))
            differ = max_ulp = 0
            with jax.enable_x64(x64):
                for seed, exp in zip(seed_list, expected):
                    got = torch_port.initial_params(seed, *shape, prng_mode=mode, fma=fma)
                    if not np.array_equal(_bits(got["kernel"]), _bits(exp)):
                        differ += 1
                        max_ulp = max(max_ulp, _ulp_max(got["kernel"], exp))
            out[f"{shape[0]}x{shape[1]} x64={x64}"] = [len(seed_list), differ, max_ulp]
    return out


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
@pytest.mark.parametrize("mode", MODES)
def test_slow_many_seeds(mode):
    """2000+ seeds x (1,1), (3,2), (17,33), 256x512 with x64 off; 66 edge seeds with x64 on."""
    result = many_seed_mismatches(mode)
    print(f"\n{mode} (host FMA default): {result}")
    assert all(differ == 0 for _, differ, _ in result.values()), result


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_slow_float_path_exhaustive_and_table():
    """z for all 2**23 mantissas against JAX (this host's FMA setting), the table equal to the
    direct path, and every fan_in up to 20000."""
    import jax.numpy as jnp

    import jaxlib.version

    from conformance.core import host_semantics
    from implementations import float_variant_for, host_float_variant
    fused = host_semantics().fma
    variant = host_float_variant()  # the ports' default, read from the jaxlib's metadata
    assert variant == float_variant_for(jaxlib.version.__version__)  # the jaxlib JAX runs
    expected = _bits(jax_z(1, 0, 1 << 23))
    assert np.array_equal(expected, _bits(F.z_table(fused, variant).numpy()))
    assert np.array_equal(expected, _bits(port_z(1, 0, 1 << 23, fused, variant)))
    divisor = jnp.array(0.87962566103423978, dtype=jnp.float32)
    for fan_in in range(1, 20001):
        exp = jnp.sqrt(jnp.array(1.0 / fan_in, dtype=jnp.float32)) / divisor
        assert _bits(np.float32(exp)) == _bits(np.float32(F.lecun_stddev(fan_in))), fan_in


@pytest.mark.slow
@pytest.mark.torch
@needs_torch
def test_slow_every_variants_table_equals_the_numpy_ports():
    """All 2**23 entries of each float variant's table, torch against NumPy, fused and not."""
    if not HAVE_NUMPY_PORT:
        pytest.skip("implementations/numpy_port.py does not exist")
    from implementations import numpy_port
    from implementations._float_variants import FLOAT_VARIANTS
    for variant in FLOAT_VARIANTS:
        for fused in (True, False):
            assert np.array_equal(_bits(F.z_table(fused, variant).numpy()),
                                  _bits(numpy_port.truncnorm_table(fused, variant))), variant
            F._TABLES.pop((fused, variant))  # 32 MiB each


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_slow_without_fma_exhaustive():
    """In a JAX limited to AVX: all 2**23 mantissas, and the many-seed kernels of both modes."""
    result = _no_fma_check(exhaustive=True)
    print(f"\nwithout FMA: {result}")
    assert result["default"][0] == 0 and result["forced_off"][0] == 0 and result["z"] == 0
    for mode, counts in result["many_seeds"].items():
        assert all(differ == 0 for _, differ, _ in counts.values()), (mode, counts)


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.torch
@needs_jax
@needs_torch
def test_slow_forward_bitwise_share():
    """Share of outputs bit-identical to JAX over many cases (all within the bound)."""
    from conformance.core import collect
    from conformance.core import expected_output
    from conformance.core import host_semantics
    from implementations import nnx_compat, split_merge
    sem = host_semantics()
    total = same = 0
    for case in collect(400, strategy=cases(shapes=FORWARD_SHAPES + ((64, 32), (100, 10)))):
        params = nnx_compat.initial_params(case.seed, *case.shape, prng_mode=case.prng_mode)
        exp = expected_output(case.x_array, params["kernel"], params["bias"], case.scale, sem)
        ours = torch_port.pure_state_update(*case.args(), **case.kwargs())
        ref = split_merge.pure_state_update(*case.args(), **case.kwargs())
        assert exp.accepts(ours).all(), case.reproducer("torch")
        total += ours.size
        same += int(((_bits(ours) == _bits(ref)) | (np.isnan(ours) & np.isnan(ref))).sum())
    print(f"\nforward: {same}/{total} output elements bit-identical to JAX")
    assert same > 0
