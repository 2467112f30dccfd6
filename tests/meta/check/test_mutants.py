"""Mutation self-test of ``check``: every mutant is killed and named, every variant passes.

One batch per library (one process per solution, as ``check a.py b.py`` runs them) with few
drawn cases: the fixed panel of ``conformance.check._draw.PANEL`` is what kills and separates the
mutants, and Hypothesis shrinks each counterexample against the live child.
"""

from __future__ import annotations

import pytest

from conformance.check import Limits, check_solution
from conformance.check._diagnose import library
from tests import paths

MUTANTS = sorted(paths.MUTANTS.glob("[!_]*.py"))
CONFORMING = sorted(paths.CONFORMING.glob("[!_]*.py"))
LIMITS = Limits(timeout_s=30.0, memory_mb=4096, cpu_s=600)
CASES = 6

pytestmark = pytest.mark.slow


def test_every_mutant_has_a_one_line_hint():
    hints = {name: hint for name, _, hint in library()}
    assert set(hints) == {p.stem for p in MUTANTS} and len(hints) >= 20
    assert all(len(h) > 20 for h in hints.values()), hints


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
def test_mutant_is_killed_and_named(path):
    result = check_solution(str(path), count=CASES, limits=LIMITS)
    assert result.verdict == "fail"
    diagnosis = result.diagnosis
    assert diagnosis["mutant"] == path.stem, diagnosis
    assert diagnosis["hint"] == dict((n, h) for n, _, h in library())[path.stem]
    assert result.counterexample is not None


@pytest.mark.parametrize("path", CONFORMING, ids=lambda p: p.stem)
def test_conforming_variant_passes(path):
    result = check_solution(str(path), count=CASES, limits=LIMITS)
    assert result.ok, (result.diagnosis, result.counterexample)
    if path.stem == "impure_inplace":
        assert result.purity["pure"] is False
    else:
        assert result.purity["pure"] is True, path.stem
