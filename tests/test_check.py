"""``nnx-conformance check``: verdicts, isolation and tamper resistance, CLI and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conformance._check import PANEL, Reference, check_solution, draw_cases
from conformance._check_cli import MIN_MEMORY_MB
from conformance._cli import main
from conformance._sandbox import Limits

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "check_fixtures"
ROOT = HERE.parent
GOOD = ROOT / "oracles" / "conforming" / "statement_recipe.py"
FAST = Limits(timeout_s=20.0, memory_mb=4096, cpu_s=300)


def quick(path: Path, **kwargs):
    kwargs.setdefault("count", 3)
    kwargs.setdefault("limits", FAST)
    kwargs.setdefault("diagnose", False)
    return check_solution(str(path), **kwargs)


@pytest.mark.parametrize("name,kind", [
    ("syntax_error", "syntax_error"),
    ("misnamed", "missing_function"),
    ("exit_at_import", "exit"),
    ("os_exit_in_call", "exit"),
    ("segfault", "crash"),
    ("memory_hog", "memory"),
    ("forge_channel", "protocol"),
])
def test_learner_misbehaviour_is_a_named_fail(name, kind):
    result = quick(FIXTURES / f"{name}.py", shrink=False)
    assert result.verdict == "fail"
    assert result.diagnosis["kind"] == kind, result.diagnosis


def test_missing_function_lists_the_names_defined():
    result = quick(FIXTURES / "misnamed.py", shrink=False)
    assert "pure_state_updates" in result.diagnosis["message"]


def test_hang_is_a_timeout():
    limits = Limits(timeout_s=3.0, memory_mb=4096, cpu_s=300)
    result = quick(FIXTURES / "hangs.py", shrink=False, limits=limits)
    assert result.diagnosis["kind"] == "timeout"
    assert result.duration_s < 30


def test_monkeypatching_and_fake_output_do_not_change_the_verdict():
    result = quick(FIXTURES / "tamper.py", count=5)
    assert result.verdict == "fail" and result.diagnosis["kind"] == "wrong_values"
    assert "PASS" in result.output["stdout"]  # shown to the learner, never parsed
    ce = result.counterexample
    assert ce["features"] >= 1 and "pure_state_update(" in ce["reproducer"]


def test_conforming_solution_passes_with_environment_and_purity():
    result = quick(GOOD, count=5)
    assert result.ok, result.diagnosis
    assert result.cases == len(draw_cases(5))
    assert result.environment["prng_mode"] in ("partitionable", "legacy")
    assert result.purity == {"checked": True, "pure": True, "impure_cases": []}


def test_impure_solution_passes_but_is_reported():
    result = quick(ROOT / "oracles" / "conforming" / "impure_inplace.py", count=3)
    assert result.ok and result.purity["pure"] is False


def test_panel_and_draw_cover_the_edge_scales():
    cases = draw_cases(200)
    assert len({c.shape for c in cases}) >= 25 and len(cases) >= 200
    assert any(math.isinf(c.scale) for c in PANEL) and any(math.isnan(c.scale) for c in PANEL)


@pytest.mark.jax
def test_reference_kernels_are_the_split_merge_kernels():
    """The grader's reference (NumPy port) against the JAX implementation, bit for bit."""
    from implementations import split_merge

    ref = Reference("partitionable")
    for case in list(PANEL[:6]) + list(draw_cases(5)[:6]):
        expected, one = ref.expected(case)
        out = split_merge.pure_state_update(*case.args(), prng_mode="partitionable")
        assert expected.accepts(out).all(), case.id
        params = split_merge.initial_params(case.seed, len(case.x), case.features,
                                            prng_mode="partitionable")
        from implementations import numpy_port
        mine = numpy_port.initial_params(case.seed, len(case.x), case.features,
                                         prng_mode="partitionable")
        assert params["kernel"].tobytes() == mine["kernel"].tobytes(), case.id


def test_cli_exit_codes_and_strict_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["check", str(GOOD), str(FIXTURES / "tamper.py"), "--cases", "3",
                 "--no-diagnose", "--json", str(out)]) == 1
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"literal {c}"))
    assert doc["schema"] == "nnx-conformance/check/1"
    assert [r["verdict"] for r in doc["results"]] == ["pass", "fail"]
    bad = doc["results"][1]
    assert set(bad["counterexample"]) >= {"seed", "x", "features", "scale", "expected",
                                          "actual", "reproducer"}
    assert set(bad["environment"]) == {"python", "jax", "flax", "numpy", "prng_mode", "x64"}
    assert "solutions per minute" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--cases", "0"], "--cases='0', but should be"),
    (["--timeout", "nan"], "--timeout='nan', but should be"),
    (["--memory", "100"], f">= {MIN_MEMORY_MB}"),
])
def test_bad_flags_exit_2_with_the_domain(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", str(GOOD)] + argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_file_exits_2(capsys):
    assert main(["check", "/nonexistent/solution.py"]) == 2
    assert "should be an existing file" in capsys.readouterr().err
