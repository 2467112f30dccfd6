"""The comparator: the bound holds on real outputs, and it rejects what it must."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.core import (
    Mismatch,
    Semantics,
    compare_bits,
    compare_output,
    compare_params,
    expected_output,
    gamma,
)

RNG = np.random.default_rng(7)


def _kernel(n, f):
    return RNG.uniform(-2, 2, size=(n, f)).astype(np.float32)


def _naive(x, kernel, scale):
    """A float32 evaluation in one particular order (numpy's matmul)."""
    with np.errstate(all="ignore"):
        p = kernel * np.float32(scale)
        return (x.astype(np.float32) @ p + np.zeros(kernel.shape[1], np.float32) * np.float32(scale)
                ).astype(np.float32)


def test_gamma():
    assert gamma(1, 2.0**-24) == pytest.approx(2.0**-24)
    assert gamma(10, 2.0**-24) > 10 * 2.0**-24


@given(st.integers(1, 40), st.integers(1, 6), st.floats(-4, 4, width=32))
@settings(max_examples=200)
def test_bound_holds_for_float32_orders(n, f, scale):
    """Sequential, reversed, pairwise and float32-matmul orders all land within the bound."""
    x = RNG.uniform(-10, 10, n).astype(np.float32)
    k = _kernel(n, f)
    ieee = Semantics(ftz=False, daz=False)  # NumPy keeps subnormals
    exp = expected_output(x, k, np.zeros(f, np.float32), scale, ieee)
    p = (k * np.float32(scale)).astype(np.float32)
    orders = [_naive(x, k, scale)]
    for idx in (range(n), reversed(range(n))):
        acc = np.zeros(f, np.float32)
        for i in idx:
            acc = (acc + x[i] * p[i]).astype(np.float32)
        orders.append(acc)
    orders.append(np.sum(x[:, None] * p, axis=0, dtype=np.float32))
    for out in orders:
        assert compare_output(out, exp, "t", "c") == []


def test_exact_bound_edge_and_one_ulp_outside():
    x = np.array([1.0, 3.0, -2.0], np.float32)
    k = np.array([[0.3], [0.7], [0.11]], np.float32)
    exp = expected_output(x, k, np.zeros(1, np.float32), 1.0)
    value, tol = exp.value[0], exp.tol[0]
    # the largest float32 inside the bound, and the next one up
    inside = np.float32(value + tol)
    while float(inside) > value + tol:
        inside = np.nextafter(inside, np.float32(-np.inf))
    outside = np.nextafter(inside, np.float32(np.inf))
    assert compare_output(np.array([inside]), exp, "t", "c") == []
    [m] = compare_output(np.array([outside]), exp, "t", "c")
    assert isinstance(m, Mismatch)
    assert str(m).startswith("output[0]=") and str(m).endswith("[t c]")
    assert ", but should be " in str(m)


def test_nan_inf_swaps_and_signs_are_caught():
    x = np.array([1.0, 2.0], np.float32)
    k = np.array([[1.0, 1.0], [1.0, -1.0]], np.float32)
    exp = expected_output(x, k, np.zeros(2, np.float32), math.inf)  # bias * inf = nan
    assert compare_output(np.array([np.nan, np.nan], np.float32), exp, "t", "c") == []
    assert compare_output(np.array([np.inf, np.nan], np.float32), exp, "t", "c")
    x_inf = np.array([np.inf, 1.0], np.float32)
    exp = expected_output(x_inf, k, np.zeros(2, np.float32), 1.0)
    good = np.array([np.inf, np.inf], np.float32)
    assert compare_output(good, exp, "t", "c") == []
    assert compare_output(np.array([np.nan, np.inf], np.float32), exp, "t", "c")
    assert compare_output(np.array([-np.inf, np.inf], np.float32), exp, "t", "c")
    assert compare_output(np.array([3.0, np.inf], np.float32), exp, "t", "c")


def test_zero_times_inf_in_x_is_nan():
    x = np.array([np.inf, 0.0], np.float32)
    k = np.array([[0.0], [1.0]], np.float32)  # inf * 0 = nan in the dot
    exp = expected_output(x, k, np.zeros(1, np.float32), 1.0)
    assert compare_output(np.array([np.nan], np.float32), exp, "t", "c") == []
    assert compare_output(np.array([np.inf], np.float32), exp, "t", "c")


def test_flush_to_zero_is_modelled_not_loosened():
    x = np.array([1000.0, 1000.0], np.float32)
    k = np.array([[0.5], [0.25]], np.float32)
    # a subnormal scale is read as zero by XLA:CPU (DAZ): the output is exactly 0
    exp = expected_output(x, k, np.zeros(1, np.float32), 1e-40, Semantics(ftz=True, daz=True))
    assert compare_output(np.array([0.0], np.float32), exp, "t", "c") == []
    gradual = _naive(x, k, 1e-40)  # what IEEE gradual underflow gives: 7.5e-38
    assert gradual[0] != 0
    assert compare_output(gradual, exp, "t", "c")
    exp_ieee = expected_output(x, k, np.zeros(1, np.float32), 1e-40, Semantics(False, False))
    assert compare_output(gradual, exp_ieee, "t", "c") == []
    assert compare_output(np.array([0.0], np.float32), exp_ieee, "t", "c")


def test_overflow_in_some_order_accepts_inf_or_nan_only_where_possible():
    x = np.array([1000.0, -1000.0], np.float32)
    k = np.array([[1.0], [1.0]], np.float32)
    exp = expected_output(x, k, np.zeros(1, np.float32), 3e38)  # terms +-3e41: overflow
    for ok in (np.inf, -np.inf, np.nan, 0.0):
        assert compare_output(np.array([ok], np.float32), exp, "t", "c") == [], ok
    one_sided = expected_output(np.array([1000.0, 1.0], np.float32), k,
                                np.zeros(1, np.float32), 3e38)
    assert compare_output(np.array([np.inf], np.float32), one_sided, "t", "c") == []
    assert compare_output(np.array([-np.inf], np.float32), one_sided, "t", "c")
    assert compare_output(np.array([np.nan], np.float32), one_sided, "t", "c")


def test_signed_zero_is_not_compared():
    exp = expected_output(np.array([1.0], np.float32), np.array([[0.5]], np.float32),
                          np.zeros(1, np.float32), -0.0)
    assert compare_output(np.array([0.0], np.float32), exp, "t", "c") == []
    assert compare_output(np.array([-0.0], np.float32), exp, "t", "c") == []


def test_structure_is_checked_before_values():
    exp = expected_output(np.ones(2, np.float32), _kernel(2, 3), np.zeros(3, np.float32), 1.0)
    [m] = compare_output([1.0, 2.0, 3.0], exp, "t", "c")
    assert m.what == "type(output)"
    [m] = compare_output(np.zeros(2, np.float32), exp, "t", "c")
    assert (m.what, m.actual, m.expected) == ("output.shape", "(2,)", "(3,)")
    [m] = compare_output(np.zeros(3, np.float64), exp, "t", "c")
    assert m.what == "output.dtype"


def test_bits_catch_one_ulp_and_nan_vs_inf():
    k = _kernel(3, 4)
    assert compare_bits("kernel", k.copy(), k, "t", "c") == []
    off = k.copy()
    off[1, 2] = np.nextafter(off[1, 2], np.float32(np.inf))
    [m] = compare_bits("kernel", off, k, "t", "c")
    assert m.what.startswith("kernel[1,2] (1 of 12 differ, max 1 ULP)")
    a, b = np.array([np.nan], np.float32), np.array([np.inf], np.float32)
    assert compare_bits("kernel", a, b, "t", "c")


def test_params_keys_and_bits():
    ref = {"bias": np.zeros(2, np.float32), "kernel": _kernel(3, 2)}
    assert compare_params(dict(ref), ref, True, "t", "c") == []
    [m] = compare_params({"kernel": ref["kernel"]}, ref, True, "t", "c")
    assert m.what == "params.keys"
    changed = {"bias": ref["bias"], "kernel": ref["kernel"] * np.float32(1.0000001)}
    assert compare_params(changed, ref, True, "t", "c")
    assert compare_params(changed, ref, False, "t", "c") == []


@pytest.mark.jax
def test_bound_holds_for_jax_on_real_kernels():
    """JAX's YNNPACK-blocked dot stays inside the bound around the float64 reference."""
    import implementations

    f = implementations.get("split_merge")
    init = implementations.IMPLEMENTATIONS["split_merge"].initial_params()
    for n, feats in ((1, 3), (17, 33), (256, 64)):
        for seed in (0, 1, -5):
            x = RNG.uniform(-100, 100, n).astype(np.float32)
            params = init(seed, n, feats)
            exp = expected_output(x, params["kernel"], params["bias"], 0.37)
            assert compare_output(f(seed, x, feats, 0.37), exp, "split_merge", "c") == []
