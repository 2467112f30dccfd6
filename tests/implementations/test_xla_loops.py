"""``vectorized_elements`` against the loop patterns measured under each jaxlib.

``oracles/prove_float_variants.py``, run under a jaxlib whose ``log`` is libm's in vectorized
iterations, records for every kernel shape and PRNG mode which element positions it could tell
apart (a key's mantissa rounds differently in the two ways) and which of them JAX computed the
libm way. The model must give exactly that at every told position, for the host's core count
of that run, and the patterns must be rich enough to say something.
"""

from __future__ import annotations

import base64
import json
import pathlib

import numpy as np
import pytest

from implementations import LIBM_LOG_VARIANTS, float_variant_for, vectorized_elements

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "oracles" / "float_variant_samples.json"
RUNS = {jaxlib: run for jaxlib, run in json.loads(SAMPLES.read_text("utf-8"))["runs"].items()
        if "kernel_patterns" in run}


def _unpacked(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8))[:n].astype(bool)


def test_every_loop_dependent_variant_has_measured_patterns():
    assert {run["variant"] for run in RUNS.values()} == set(LIBM_LOG_VARIANTS)


@pytest.mark.parametrize("jaxlib", sorted(RUNS))
def test_model_matches_every_told_position(jaxlib):
    run = RUNS[jaxlib]
    assert run["variant"] == float_variant_for(jaxlib)
    patterns = dict(run["kernel_patterns"])
    cores = patterns.pop("cores")
    for name in ("keys", "about"):
        patterns.pop(name)
    told_total = libm_total = 0
    wrong = []
    for key, pattern in patterns.items():
        mode, shape = key.split()
        rows, cols = map(int, shape.split("x"))
        told = _unpacked(pattern["told"], rows * cols)
        libm = _unpacked(pattern["libm"], rows * cols)
        model = vectorized_elements(rows, cols, mode, run["variant"], cores=cores)
        if (model[told] != libm[told]).any():
            wrong.append(f"{key}: {int((model[told] != libm[told]).sum())}/{int(told.sum())}")
        told_total += int(told.sum())
        libm_total += int(libm.sum())
    assert not wrong, f"vectorized_elements={wrong}, but should match the measured loops [{jaxlib}]"
    # not vacuous: many positions told, both roundings present
    assert told_total > 100_000 and 0 < libm_total < told_total


@pytest.mark.parametrize("variant", sorted(LIBM_LOG_VARIANTS))
def test_model_is_sensitive_to_what_the_ir_shows(variant):
    """Facts read off the LLVM IR: the row loop of a 3-column kernel is vectorized, a long row
    vectorized by 8 up to its remainder, tasks split for big kernels."""
    np.testing.assert_array_equal(vectorized_elements(1, 36, "partitionable", variant, cores=1),
                                  np.arange(36) < 32)
    assert vectorized_elements(8, 3, "partitionable", variant, cores=1).all()
    assert not vectorized_elements(3, 10, "partitionable", variant, cores=1).any()
    one = vectorized_elements(1, 1163, "partitionable", variant, cores=1)
    two = vectorized_elements(1, 1163, "partitionable", variant, cores=2)
    assert one.sum() == 1160 and not np.array_equal(one, two)


def test_only_loop_dependent_variants_have_a_mask():
    from implementations import FLOAT_VARIANTS
    for variant in FLOAT_VARIANTS:
        mask = vectorized_elements(3, 5, "legacy", variant)
        assert (mask is not None) == (variant in LIBM_LOG_VARIANTS)
