"""The shared strategies: every labelled edge class is really drawn; cases are typed values."""

from __future__ import annotations

import math
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given

from conformance.core import (
    EDGE_CLASSES,
    PROFILES,
    SHAPE_POOL,
    Case,
    cases,
    collect,
    edge_classes,
    group_by_shape,
)


@pytest.fixture(scope="module")
def drawn():
    return collect(500, "ci")


def test_every_edge_class_is_drawn(drawn):
    counts = Counter(label for case in drawn for label in edge_classes(case))
    missing = [label for label in EDGE_CLASSES if counts[label] == 0]
    assert missing == [], counts


def test_ci_profile_is_deterministic(drawn):
    assert [c.id for c in collect(500, "ci")] == [c.id for c in drawn]


def test_ci_draw_does_not_depend_on_what_was_imported(tmp_path, monkeypatch):
    """Hypothesis mines literals from imported local modules; the ci draw must not see them."""
    before = [c.id for c in collect(200, "ci")]
    (tmp_path / "nnxc_literals.py").write_text(
        "VALUES = [" + ", ".join(str(v) for v in (3.5, 1e-3, 12345, 777, 0.125, 9.75, 4242))
        + ", 'x']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("nnxc_literals")
    try:
        assert [c.id for c in collect(200, "ci")] == before
    finally:
        sys.modules.pop("nnxc_literals", None)


def test_shapes_come_from_the_pool(drawn):
    shapes = {c.shape for c in drawn}
    assert shapes <= set(SHAPE_POOL)
    assert len(shapes) >= 20  # enough distinct shapes, few enough compiles


def test_ids_are_unique_and_readable(drawn):
    assert len({c.id for c in drawn}) == len(drawn)
    case = Case(5, (1.0, -0.0), 3, math.nan, "legacy")
    assert case.id.startswith("2x3:seed=5:scale=nan:L:x#")


def test_case_is_frozen_and_hashable():
    case = Case(1, (1.0,), 1, 2.0)
    with pytest.raises(Exception):
        case.seed = 2  # type: ignore[misc]
    assert {case: 1}[Case(1, (1.0,), 1, 2.0)] == 1
    assert case.replace(scale=3.0).scale == 3.0 and case.scale == 2.0


def test_reproducer_is_pasteable():
    case = Case(2**32 + 1, (math.nan, -math.inf, -0.0, 1.5), 2, -math.inf, "legacy",
                float_args=False)
    namespace: dict = {}
    code = case.reproducer("numpy").replace("print(", "result = (")
    exec(compile(code, "<reproducer>", "exec"), namespace)  # noqa: S102
    np.testing.assert_array_equal(np.isnan(namespace["result"]), [True, True])
    x = namespace["x"]
    assert math.isnan(x[0]) and x[1] == -np.inf and math.copysign(1, x[2]) < 0


def test_float_args_pass_floats():
    case = Case(3, (1.0,), 2, 1.0, float_args=True)
    seed, _, features, _ = case.args()
    assert isinstance(seed, float) and isinstance(features, float)


def test_grouping_puts_equal_shapes_together(drawn):
    ordered = group_by_shape(drawn)
    keys = [(c.shape, c.prng_mode) for c in ordered]
    changes = sum(1 for a, b in zip(keys, keys[1:]) if a != b)
    assert changes == len(set(keys)) - 1


@given(cases())
def test_strategy_produces_valid_cases(case):
    assert 1 <= len(case.x) and 1 <= case.features
    assert -(2**63) <= case.seed < 2**63
    assert all(np.float32(v) == v or math.isnan(v) for v in case.x)
    assert edge_classes(case)


def test_profiles_exist():
    assert PROFILES == ("dev", "ci", "thorough")
    with pytest.raises(ValueError, match="profile="):
        collect(1, "nightly")
