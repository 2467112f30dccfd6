"""Known-answer vectors: this env's PRNG class is checked bit for bit and is never skipped.

Runs in every tox env of the matrix (``tox.ini``) and in the main venv. JAX and Flax are
imported unconditionally: in this suite a missing JAX is a failure, not a skip, and so is a
missing vector file for the class the installed JAX defaults to.
"""

from __future__ import annotations

import json
import math
import os
import re

import jax  # noqa: F401  (imported so that a missing JAX fails here, loudly)
import pytest

from oracles import known_answers as ka

MODE = ka.current_mode()
X64 = ka.current_x64()
OTHER_MODE = next(m for m in ka.MODES if m != MODE)


def _explain(verdict: dict) -> str:
    return json.dumps(verdict, indent=1)


def test_the_default_class_follows_the_jax_release():
    """Measured over the matrix: class A (legacy) up to JAX 0.4.38, class B from JAX 0.5."""
    if "JAX_THREEFRY_PARTITIONABLE" in os.environ:
        pytest.skip("JAX_THREEFRY_PARTITIONABLE overrides the release's default here")
    release = tuple(int(p) for p in re.findall(r"\d+", jax.__version__)[:3])
    assert MODE == ("legacy" if release < (0, 5) else "partitionable"), jax.__version__


def test_vector_file_for_this_jax_exists():
    path = ka.vector_path(MODE, X64)
    assert path.is_file(), (
        f"known_answers={path} (PRNG mode {MODE}, x64={X64}, the installed JAX's default), but "
        f"should exist: record it with `python -m oracles.record_known_answers`")


def test_default_class_matches_bit_for_bit():
    verdict = ka.check()
    assert verdict["prng_mode"] == MODE
    assert verdict["compared"] >= 1, "no known-answer vector was compared: " + _explain(verdict)
    assert verdict["status"] == "pass", _explain(verdict)


def test_other_class_matches_by_toggling_the_flag():
    verdict = ka.check(OTHER_MODE)
    assert verdict["compared"] >= 1, _explain(verdict)
    assert verdict["status"] == "pass", _explain(verdict)


def test_other_x64_setting_matches_in_a_fresh_interpreter():
    verdicts = ka.check_in_subprocess(not X64)
    assert {v["prng_mode"] for v in verdicts} == set(ka.MODES)
    for verdict in verdicts:
        assert verdict["x64"] is (not X64)
        assert verdict["compared"] >= 1, _explain(verdict)
        assert verdict["status"] == "pass", _explain(verdict)


def test_state_update_agrees_with_the_vectors():
    import implementations.state_update as state_update

    verdict = ka.check(implementation=state_update)
    assert verdict["compared"] >= 1 and verdict["status"] == "pass", _explain(verdict)


def test_a_missing_class_file_is_a_failure(tmp_path):
    verdict = ka.check(directory=tmp_path)
    assert verdict["status"] == "missing"
    assert verdict["compared"] == 0
    assert "record_known_answers" in verdict["message"]


def test_a_changed_bit_is_caught(tmp_path):
    data = ka.load(MODE, X64)
    case = data["cases"][0]
    flipped = int(case["kernel_f32_hex"][0], 16) ^ 1  # the last mantissa bit
    case["kernel_f32_hex"][0] = f"{flipped:08x}"
    ka.vector_path(MODE, X64, tmp_path).write_text(json.dumps(data), encoding="utf-8")
    verdict = ka.check(directory=tmp_path)
    assert verdict["status"] == "fail"
    assert verdict["kernel_mismatches"] == [case["id"]]


@pytest.mark.parametrize("mode", ka.MODES)
@pytest.mark.parametrize("x64", [False, True])
def test_vector_files_are_complete_and_carry_provenance(mode, x64):
    data = ka.load(mode, x64)
    assert data is not None, f"{ka.vector_path(mode, x64)} is missing"
    assert (data["prng_mode"], data["x64"], data["format"]) == (mode, x64, ka.FORMAT)
    assert [c["id"] for c in data["cases"]] == [c.id for c in ka.CASES]
    recorded = [p for p in data["provenance"] if p["role"] == "recorded"]
    assert recorded, "the file does not say how it was recorded"
    for entry in data["provenance"]:
        assert entry["date"] and entry["x64"] is x64
        assert {"jax", "jaxlib", "flax", "numpy", "python"} <= set(entry["versions"])
        assert "fma" in entry["host"]["cpu_flags"] and "fma" in entry["host"]["xla_cpu"]
    for case in data["cases"]:
        assert len(case["kernel_f32_hex"]) == math.prod(case["kernel_shape"])
        assert case["kernel_shape"] == [case["in_features"], case["features"]]
        assert len(case["output_f32_hex"]) == len(case["bias_f32_hex"]) == case["features"]


@pytest.mark.parametrize("mode", ka.MODES)
def test_each_class_was_confirmed_by_a_jax_that_defaults_to_it(mode):
    """Class A is recorded by toggling the flag; a real JAX <= 0.4.38 must have agreed."""
    for x64 in (False, True):
        entries = ka.load(mode, x64)["provenance"]
        untoggled = [p for p in entries
                     if p["toggled"] is None and p["jax_default_prng_mode"] == mode]
        assert untoggled, f"{mode} x64={x64} was never produced by a JAX defaulting to {mode}"


@pytest.mark.parametrize("mode", ka.MODES)
@pytest.mark.parametrize("x64", [False, True])
def test_variants_only_change_last_bits(mode, x64):
    """A variant is one jaxlib's rounding of the same keys: a few elements, a few ULP."""
    data = ka.load(mode, x64)
    main = {c["id"]: c for c in data["cases"]}
    claimed = [v for variant in data.get("variants", []) for v in variant["jaxlib"]]
    assert len(claimed) == len(set(claimed)), "a jaxlib is listed by two variants"
    for variant in data.get("variants", []):
        assert variant["jaxlib"] and variant["provenance"]
        assert {p["versions"]["jaxlib"] for p in variant["provenance"]} <= set(variant["jaxlib"])
        for case_id, fields in variant["cases"].items():
            kernel = main[case_id]["kernel_f32_hex"]
            for index, pattern in fields.get("kernel_f32_hex", {}).items():
                assert abs(int(pattern, 16) - int(kernel[int(index)], 16)) <= 16
            assert len(fields.get("kernel_f32_hex", {})) <= len(kernel) // 100 + 1


def test_the_installed_jaxlib_picks_its_variant():
    verdict = ka.check()
    variant = ka.variant_for(ka.load(MODE, X64), ka.installed_jaxlib())
    assert verdict["variant"] == (variant["id"] if variant else None)


@pytest.mark.parametrize("mode", ka.MODES)
def test_seed_aliasing_is_recorded_as_measured(mode):
    """Seeds that differ by 2**32 alias with x64 off and not with x64 on; -1 depends on x64."""
    def kernels(x64):
        return {c["id"]: c["kernel_f32_hex"] for c in ka.load(mode, x64)["cases"]}

    off, on = kernels(False), kernels(True)
    assert off["seed_7"] == off["seed_2p32_plus_7"]
    assert on["seed_7"] != on["seed_2p32_plus_7"]
    assert off["seed_minus_1"] != on["seed_minus_1"]
    assert off["worked_example"] == on["worked_example"]
