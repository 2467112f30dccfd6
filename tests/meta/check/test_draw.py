"""The check's draw: fresh values from a salt on the fixed pool, every class the contract names
graded on finite values in every check."""

from __future__ import annotations

import math

import pytest

from conformance.check._draw import PANEL, SEED_BANDS, SEED_EDGES, draw_cases, strata_size
from conformance.check._pool import CHECK_SHAPES
from conformance.core import EDGE_SCALES, X_SPECIALS

SALTS = (0, 1, 2**62 + 12345, 987654321)


def _finite(case) -> bool:
    return all(math.isfinite(v) for v in case.x) and math.isfinite(case.scale32)


@pytest.fixture(scope="module", params=SALTS)
def drawn(request):
    return draw_cases(200, request.param)


def test_every_shape_and_size_class_is_graded_on_finite_values(drawn):
    finite = [c for c in drawn if _finite(c)]
    assert {c.shape for c in finite} == set(CHECK_SHAPES)
    for threshold in (64, 100, 128, 256):
        assert any(len(c.x) > threshold for c in finite), threshold
    for threshold in (64, 100, 128, 256):
        assert any(c.features > threshold for c in finite), threshold
    assert any(len(c.x) > 100 and c.features > 100 for c in finite)


def test_every_seed_edge_and_band_is_graded_on_finite_values(drawn):
    finite = [c for c in drawn if _finite(c)]
    seeds = {c.seed for c in finite}
    assert set(SEED_EDGES) <= seeds
    for lo, hi in SEED_BANDS:
        assert any(lo <= s <= hi for s in seeds), (lo, hi)
    assert {2**53 + 1, 2**63 - 1, -(2**63), 2**62} <= seeds
    assert any(2**31 < s < 2**32 for s in seeds)


def test_every_scale_edge_and_x_special_is_drawn(drawn):
    scales = {repr(c.scale) for c in drawn}
    assert {repr(s) for s in EDGE_SCALES} <= scales
    for special in X_SPECIALS:
        assert any(repr(special) in map(repr, c.x) for c in drawn), special


def test_the_panel_is_in_every_check_on_the_pool(drawn):
    assert {c.id for c in PANEL} <= {c.id for c in drawn}
    assert {c.shape for c in PANEL} <= set(CHECK_SHAPES)  # the warm-up compiled them


def test_a_salt_repeats_its_check_and_another_salt_does_not():
    assert [c.id for c in draw_cases(200, 7)] == [c.id for c in draw_cases(200, 7)]
    first, second = draw_cases(200, 7), draw_cases(200, 8)
    assert {c.shape for c in first} == {c.shape for c in second} == set(CHECK_SHAPES)
    assert not {c.id for c in first} - {c.id for c in PANEL} & {c.id for c in second}


def test_counts_below_the_strata_draw_that_many():
    assert strata_size() < 200
    for count in (1, 3, 20):
        cases = draw_cases(count, 5)
        panel = {c.id for c in PANEL}
        assert len([c for c in cases if c.id not in panel]) == count
        assert panel <= {c.id for c in cases}
