"""The differential run: agrees on the real implementations, fails broken ones and vacuous runs."""

from __future__ import annotations

import math

import pytest

from conformance.core import Case, cases, collect
from conformance.differential import run
from implementations import IMPLEMENTATIONS, Entry

pytestmark = pytest.mark.jax

SMALL = ((1, 1), (3, 2), (2, 3), (5, 4))


@pytest.fixture(scope="module")
def small_cases():
    drawn = collect(40, "ci", strategy=cases(shapes=SMALL))
    # make sure the cases that every relation needs are present
    extra = [Case(1, (1.0, 2.0, 3.0), 2, math.inf, "partitionable"),
             Case(2**32 + 5, (0.5, -0.25, 4.0), 2, -3.5, "legacy"),
             Case(-7, (1.0,), 1, 1.0, "legacy", float_args=True)]
    return drawn + extra


def _entry(module: str) -> Entry:
    return Entry(name=module.rsplit(".", 1)[1], target=module, summary="broken on purpose",
                 requires=("jax", "flax"), uses_jax=True)


def test_real_implementations_agree(small_cases):
    names = [n for n, e in IMPLEMENTATIONS.items() if e.available()]
    result = run(small_cases, names, progress=False)
    assert result.errors == []
    assert result.failed == 0, result.failures[:2]
    assert result.ok and result.comparisons > len(small_cases)
    assert set(result.implementations) == set(names)
    for cells in result.relations.values():
        assert cells["all"].agreed > 0


BROKEN = {
    "output_scaled": "nonfinite_bias",  # finite scales agree: only the bias semantics differ
    "kernel_only": "nonfinite_bias",
    "shifted_seed": "output",
    "relative_error": "output",
    "float64": "output.dtype",
    "bad_kernel": "kernel",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_implementations_fail(small_cases, name):
    result = run(small_cases, ["split_merge", _entry(f"tests.meta.differential.broken.{name}")],
                 progress=False)
    assert not result.ok
    assert result.table[name]["all"].disagreed > 0
    assert result.table["split_merge"]["all"].disagreed == 0
    messages = [m for f in result.failures if f["impl"] == name for m in f["messages"]]
    assert any(BROKEN[name] in m for m in messages), messages[:3]
    assert all(m.endswith("]") and ", but should be " in m for m in messages)
    failure = next(f for f in result.failures if f["impl"] == name)
    assert f"implementations.get({name!r})" in failure["reproducer"]


def test_single_implementation_is_an_error(small_cases):
    result = run(small_cases[:3], ["split_merge"], progress=False)
    assert not result.ok
    assert any("at least two" in e for e in result.errors)


def test_zero_cases_is_an_error():
    result = run([], ["split_merge", "state_update"], progress=False)
    assert not result.ok
    assert any(e.startswith("comparisons=0") for e in result.errors)


def test_relation_that_never_applies_is_an_error():
    finite_only = [Case(0, (1.0, 2.0), 3, 0.5, "partitionable")]
    result = run(finite_only, ["split_merge", "state_update"], progress=False)
    assert not result.ok
    assert any("nonfinite_bias" in e for e in result.errors)


def test_x64_mode_runs_and_seeds_stop_aliasing():
    """Under JAX_ENABLE_X64=1 seeds 2**32 apart give different kernels, and the run knows it."""
    import os
    import subprocess
    import sys

    code = (
        "import math\n"
        "from conformance.core import Case\n"
        "from conformance.differential import run\n"
        "cases = [Case(2**32 + 3, (1.0, 2.0), 3, 0.5, 'legacy'),\n"
        "         Case(-9, (1.0,), 2, math.inf, 'partitionable'),\n"
        "         Case(5, (0.25, -1.0, 3.0), 1, 2.0, 'partitionable')]\n"
        "r = run(cases, ['split_merge', 'state_update'], progress=False)\n"
        "assert r.ok, (r.errors, r.failures)\n"
        "assert r.relations['seed_alias']['all'].agreed == 6\n"
        "import jax; assert jax.config.jax_enable_x64\n")
    env = {**os.environ, "JAX_ENABLE_X64": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
