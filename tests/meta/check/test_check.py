"""``nnx-conformance check``: verdicts, isolation and tamper resistance, CLI and JSON."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance.check import SCHEMA_PATH, Limits, check_solution
from conformance.check._cli import MIN_MEMORY_MB
from conformance.check._draw import PANEL, draw_cases
from conformance.check._pool import CHECK_SHAPES
from conformance.check._grading import Reference, read_outcome
from conformance.check._schedule import split_cases
from conformance.check.sandbox import ChildGone
from conformance.cli import main
from conformance.core import CHECK_CACHE, Case, cache_path
from implementations import host_float_variant, installed_jaxlib
from tests.paths import CONFORMING, GOOD, MUTANTS
from tests.paths import LEARNER_FILES as FIXTURES
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
    ("forge_deep_header", "protocol"),
    ("forge_load", "protocol"),
])
def test_learner_misbehaviour_is_a_named_fail(name, kind):
    """With shrinking on, as the command line has it (an exit at import has no case)."""
    result = quick(FIXTURES / f"{name}.py", shrink=True)
    assert result.verdict == "fail"
    assert result.diagnosis["kind"] == kind, result.diagnosis


def test_tracebacks_name_the_learners_file():
    path = FIXTURES / "raises_at_import.py"
    result = quick(path, shrink=False)
    assert result.diagnosis["kind"] == "import_error"
    message = result.diagnosis["message"]
    assert f'File "{path}", line 5, in helper' in message, message
    assert "solution_0.py" not in message


def test_a_forged_frame_nested_deeply_is_a_fail_not_a_grader_crash():
    result = quick(FIXTURES / "forge_nested_message.py", shrink=True)
    assert result.verdict == "fail"
    assert result.counterexample is not None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(header=st.fixed_dictionaries(
    {}, optional={"status": st.sampled_from(["array", "type", "error", "exit", "memory"]) | _JSON,
                  "shape": st.lists(st.integers(-2, 3) | st.sampled_from([1 << 4, 1 << 20]),
                                    max_size=5) | _JSON,
                  "dtype": st.sampled_from(["float32", "float64"]) | _JSON,
                  "type": _JSON, "exc_type": _JSON, "message": _JSON, "traceback": _JSON}),
       data=st.binary(max_size=64))
@example(header={"status": "array", "shape": [1 << 20, 1 << 20, 1 << 20, 1 << 4],
                 "dtype": "float32"}, data=b"")  # 2**64 elements: wraps to 0 in int64
def test_any_result_frame_is_an_outcome_or_a_protocol_error(header, data):
    """Whatever a (forged) result frame holds, the grader gets an Outcome or ChildGone."""
    try:
        outcome = read_outcome(header, data, 2)
    except ChildGone as gone:
        assert gone.kind == "protocol"
        return
    assert outcome.status in ("array", "type", "error", "exit", "memory")
    assert isinstance(outcome.summary(), str)


def test_a_forged_text_field_is_never_stringified():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    outcome = read_outcome({"status": "error", "message": nested, "exc_type": {"a": nested},
                            "traceback": 3}, b"", 1)
    assert (outcome.message, outcome.exc_type, outcome.traceback) == ("<list>", "<dict>", "3")


def test_missing_function_lists_the_names_defined():
    result = quick(FIXTURES / "misnamed.py", shrink=False)
    assert "pure_state_updates" in result.diagnosis["message"]


def test_hang_is_a_timeout():
    limits = Limits(timeout_s=3.0, memory_mb=4096, cpu_s=300)
    result = quick(FIXTURES / "hangs.py", shrink=False, limits=limits)
    assert result.diagnosis["kind"] == "timeout"
    assert result.duration_s < 30


def _landlock_abi() -> int:
    """The kernel's Landlock ABI (0: none), asked without confining this process."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return max(0, int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))))
    except (OSError, AttributeError):
        return 0


def test_solution_cannot_signal_or_write_outside_its_child():
    """Where the kernel has Landlock, the solution cannot signal the grader or the check's
    other processes (ABI >= 6, and a PID namespace where the grader is root), nor write
    outside its scratch directory (their stdout via /proc, the cache it reads, included); its
    own directory stays writable, and the verdict is its outputs' alone."""
    abi = _landlock_abi()
    if abi < 1:
        pytest.skip("this kernel has no Landlock: the check runs unconfined (reported)")
    probe = Path(tempfile.gettempdir()) / "nnx-harm-grader-probe"
    probe.unlink(missing_ok=True)
    result = quick(FIXTURES / "harm_grader.py", count=5, shrink=False)
    assert result.verdict == "pass", result.diagnosis
    confinement = result.confinement
    assert (confinement["landlock_abi"], confinement["writes"], confinement["reads"],
            confinement["signals"], confinement["tcp"]) == (abi, True, True, abi >= 6, abi >= 4)
    line = next(s for s in result.output["stdout"].splitlines() if s.startswith("HARM "))
    found = json.loads(line[5:])
    assert found["targets"] >= 2, found  # the grader (pytest) and the zygote at least
    assert found["write_cwd"] == "allowed", found
    assert (found["write_outside"] == found["write_run_cache"] == found["write_shared_cache"]
            == "PermissionError"), found
    assert "allowed" not in found["write_others_stdout"], found
    assert not probe.exists()
    own = Path(cache_path(True, CHECK_CACHE))
    assert os.path.realpath(found["shared_cache"]) == os.path.realpath(own), found
    assert not (own / "nnx-harm-grader-probe").exists()
    assert not (own.parent / "nnx-harm-grader-probe").exists()
    if abi >= 6:
        assert "allowed" not in found["signal_others"], found


def test_processes_a_solution_leaves_behind_end_with_the_check():
    """A daemon that escaped its child's process group is ended with the check (the zygote is
    its subreaper), and its open copy of the child's stdout does not delay the check."""
    if not sys.platform.startswith("linux"):
        pytest.skip("subreapers are Linux's")
    result = check_solution(str(FIXTURES / "leaves_daemon.py"), count=5, limits=FAST,
                            diagnose=False, shrink=False, workers=2)
    assert result.verdict == "pass", result.diagnosis
    pids = [int(line.split()[1]) for line in result.output["stdout"].splitlines()
            if line.startswith("DAEMON ")]
    assert len(pids) == 2, result.output  # one per child: the import runs in each
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert result.duration_s < 15


def test_monkeypatching_and_fake_output_do_not_change_the_verdict():
    result = quick(FIXTURES / "tamper.py", count=5)
    assert result.verdict == "fail" and result.diagnosis["kind"] == "wrong_values"
    assert "PASS" in result.output["stdout"]  # shown to the learner, never parsed
    ce = result.counterexample
    assert ce["features"] >= 1 and "pure_state_update(" in ce["reproducer"]


def test_conforming_solution_passes_with_environment_and_purity():
    result = quick(GOOD, count=5)
    assert result.ok, result.diagnosis
    assert result.cases == len(draw_cases(5, result.salt))
    assert result.environment["prng_mode"] in ("partitionable", "legacy")
    assert result.purity == {"checked": True, "pure": True, "impure_cases": []}


def test_a_jit_built_at_every_call_compiles_once_per_shape():
    """The child's own compilation cache keeps what the solution compiles: a ``jax.jit`` made
    anew at every call compiles on a shape's first call only (it compiled at every call when
    the children could only read the shared cache)."""
    result = quick(FIXTURES / "jit_every_call.py", count=20, shrink=False)
    assert result.ok and result.confinement["private_cache"] is True, result.diagnosis
    rows = [line.split()[1:] for line in result.output["stdout"].splitlines()
            if line.startswith("COMPILED ")]
    first = [int(misses) for _, nth, misses in rows if nth == "1"]
    again = [int(misses) for _, nth, misses in rows if nth != "1"]
    assert len(rows) == result.cases and again and max(first) > 0, rows
    assert again == [0] * len(again), rows


def test_without_the_cache_a_child_has_no_cache_of_its_own():
    result = quick(GOOD, use_cache=False)
    assert result.ok and result.confinement["private_cache"] is False, result.confinement


def test_impure_solution_passes_but_is_reported():
    result = quick(CONFORMING / "impure_inplace.py", count=3)
    assert result.ok and result.purity["pure"] is False


def test_panel_and_draw_cover_the_edge_scales():
    cases = draw_cases(200, 1)
    assert len({c.shape for c in cases}) == len(CHECK_SHAPES) and len(cases) >= 200
    assert any(math.isinf(c.scale) for c in PANEL) and any(math.isnan(c.scale) for c in PANEL)


@pytest.mark.jax
def test_reference_kernels_are_the_split_merge_kernels():
    """The grader's reference (NumPy port) against the JAX implementation, bit for bit."""
    from implementations import split_merge

    ref = Reference("partitionable")
    for case in list(PANEL[:6]) + list(draw_cases(5, 1)[:6]):
        expected, one = ref.expected(case)
        out = split_merge.pure_state_update(*case.args(), prng_mode="partitionable")
        assert expected.accepts(out).all(), case.id
        params = split_merge.initial_params(case.seed, len(case.x), case.features,
                                            prng_mode="partitionable")
        from implementations import numpy_port
        mine = numpy_port.initial_params(case.seed, len(case.x), case.features,
                                         prng_mode="partitionable")
        assert params["kernel"].tobytes() == mine["kernel"].tobytes(), case.id


@pytest.mark.parametrize("jaxlib,variant", [
    ("0.4.38", "jaxlib-0.4.26"), ("0.7.2", "jaxlib-0.7.1"), ("0.8.1", "jaxlib-0.8.0"),
    ("0.8.2", "jaxlib-0.8.2"), ("0.10.2", "jaxlib-0.8.2"), ("99.0.0", "jaxlib-0.8.2")])
def test_reference_follows_the_learners_jaxlib(jaxlib, variant):
    """The kernels the grader expects are the ones the learner's jaxlib computes."""
    from implementations import numpy_port

    ref = Reference("partitionable", jaxlib=jaxlib)
    assert ref.float_variant == variant
    case = Case(seed=3, x=(0.5,) * 300, features=300, scale=1.0)
    expected, _ = ref.expected(case)
    own = numpy_port.initial_params(3, 300, 300, prng_mode="partitionable", float_variant=variant)
    newest = numpy_port.initial_params(3, 300, 300, prng_mode="partitionable")
    assert expected.accepts(numpy_port.forward(case.x_array, own["kernel"], own["bias"], 1.0)).all()
    if variant != "jaxlib-0.8.2":  # the variants differ somewhere in 90,000 kernel elements
        assert own["kernel"].tobytes() != newest["kernel"].tobytes()
    assert Reference("partitionable").float_variant == host_float_variant()


def test_cli_exit_codes_and_strict_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["check", str(GOOD), str(FIXTURES / "tamper.py"), "--cases", "3",
                 "--no-diagnose", "--json", str(out)]) == 1
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"literal {c}"))
    assert doc["schema"] == "nnx-conformance/check/1"
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert [r["verdict"] for r in doc["results"]] == ["pass", "fail"]
    bad = doc["results"][1]
    assert set(bad["counterexample"]) >= {"seed", "x", "features", "scale", "expected",
                                          "actual", "reproducer"}
    assert set(bad["environment"]) == {"python", "jax", "jaxlib", "flax", "numpy", "prng_mode",
                                       "x64"}
    assert bad["environment"]["jaxlib"] == installed_jaxlib()
    assert set(bad["confinement"]) == {"landlock_abi", "writes", "reads", "tcp", "signals",
                                       "user", "nproc", "read_capability", "namespaces",
                                       "fsize_mb", "scratch_mb", "memory_mb", "private_cache"}
    assert isinstance(bad["salt"], int)
    assert "solutions per minute" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--cases", "0"], "--cases='0', but should be"),
    (["--timeout", "nan"], "--timeout='nan', but should be"),
    (["--memory", "100"], f">= {MIN_MEMORY_MB}"),
    (["--workers", "0"], "--workers='0', but should be an integer in [1, "),
    (["--workers", "two"], "--workers='two', but should be an integer in [1, "),
])
def test_bad_flags_exit_2_with_the_domain(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", str(GOOD)] + argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_file_exits_2(capsys):
    assert main(["check", "/nonexistent/solution.py"]) == 2
    err = capsys.readouterr().err
    assert "input='/nonexistent/solution.py'" in err and "should be an existing .py" in err


def test_split_keeps_shapes_whole_and_covers_every_case_once():
    cases = draw_cases(200, 2)
    parts = split_cases(cases, 2)
    assert len(parts) == 2 and sorted(i for p in parts for i in p) == list(range(len(cases)))
    shapes = [{cases[i].shape for i in p} for p in parts]
    assert not shapes[0] & shapes[1]
    assert abs(len(shapes[0]) - len(shapes[1])) <= 2


@pytest.mark.parametrize("count,shapes", [(20, 1.0), (100, 1.0), (200, 0.5), (500, 0.5)])
def test_split_is_near_the_ideal_estimated_load(count, shapes):
    """The ideal: each ``features`` value's programs built in one child only, the work split
    exactly in half. Splitting by shapes alone misses it by about one shape (a features
    value's programs paid in both children). The split only seeds the children's queues (a
    child out of work takes groups from the other), so it must be near, over many draws:
    within half a shape for the default counts, within one for small ones."""
    from conformance.check._schedule import CASE_COST, ELEMENT_COST, FEATURES_COST, SHAPE_COST

    for salt in range(40):
        cases = draw_cases(count, salt)

        def load(part):
            shapes_ = {cases[i].shape for i in part}
            return (SHAPE_COST * len(shapes_) + FEATURES_COST * len({f for _, f in shapes_})
                    + sum(CASE_COST + ELEMENT_COST * len(cases[i].x) * cases[i].features
                          for i in part))

        parts = split_cases(cases, 2)
        assert max(map(load, parts)) <= load(range(len(cases))) / 2 + shapes * SHAPE_COST, salt


def test_two_workers_compare_every_case_once_with_the_same_verdict(monkeypatch):
    """Both children run (each case exactly once); verdict and counterexample as with one."""
    import conformance.check._grader as check

    mutant = MUTANTS / "kernel_only.py"
    calls: list[list[int]] = []
    original = check.Sandbox.run

    def run(self, cases, slot=0, on_result=None):
        if on_result is not None:  # the main runs (shrinking and mutants pass none)
            calls.append([c["i"] for c in cases])
        return original(self, cases, slot, on_result)

    monkeypatch.setattr(check.Sandbox, "run", run)
    two = quick(mutant, count=20, workers=2, diagnose=True, salt=4)
    runs, calls[:] = list(calls), []
    one = quick(mutant, count=20, workers=1, diagnose=True, salt=4)
    cases = draw_cases(20, 4)
    assert len(runs) >= 2  # one run per shape group, the groups spread over both children
    assert sorted(i for r in runs for i in r) == list(range(len(cases)))
    assert two.cases == one.cases == len(cases)
    assert two.verdict == one.verdict == "fail"
    assert two.diagnosis["kind"] == one.diagnosis["kind"]
    assert two.diagnosis["mutant"] == one.diagnosis["mutant"] == "kernel_only"
    for key in ("case", "seed", "x", "features", "scale", "actual", "expected"):
        assert repr(two.counterexample[key]) == repr(one.counterexample[key]), key


def test_conforming_with_two_workers_merges_purity_and_output():
    result = quick(CONFORMING / "impure_inplace.py", count=20, workers=2)
    assert result.ok and result.purity["checked"] and result.purity["pure"] is False
    assert result.cases == len(draw_cases(20, result.salt))
