"""Hostile learner files against the grader's wholeness: every read has a deadline, a solution
has a total budget, resource failures are judged once, nothing a check starts outlives it, no
learner can change another's result or read the answer key, the kernel confines what it
should, and learner text never breaks a report.

Each test runs a file from ``learner_files/`` that attacks one class; the checks that could
hang if a defence regressed run the command line in a subprocess with a timeout of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.check import Limits, check_solution
from conformance.check.sandbox import DEFAULT_BUDGET_S
from conformance.core import CHECK_CACHE, cache_path
from tests.paths import GOOD, LEARNER_FILES, ROOT

LIMITS = Limits(timeout_s=20.0, memory_mb=4096, cpu_s=300)
LINUX = sys.platform.startswith("linux")
ROOTED = LINUX and os.geteuid() == 0


def _check(name: str, **kwargs):
    kwargs.setdefault("count", 5)
    kwargs.setdefault("limits", LIMITS)
    kwargs.setdefault("diagnose", False)
    kwargs.setdefault("shrink", False)
    return check_solution(str(LEARNER_FILES / f"{name}.py"), **kwargs)


def _cli(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "conformance", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - started


def _tagged(result, tag: str) -> list[str]:
    return [line[len(tag) + 1:] for line in result.output["stdout"].splitlines()
            if line.startswith(tag + " ")]


# --------------------------------------------------------------------------- deadlines


def test_a_frame_started_and_never_finished_is_a_timeout():
    """The first bytes of a frame, then silence: the read of the rest obeys the deadline."""
    done, seconds = _cli(str(LEARNER_FILES / "stalls_mid_frame.py"), "--cases", "3",
                         "--timeout", "3", "--no-diagnose", "--json", "-", timeout=120)
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and doc["results"][0]["diagnosis"]["kind"] == "timeout", doc
    assert seconds < 40


def test_a_request_pipe_that_stops_draining_is_a_timeout():
    """A solution that shrinks its request pipe and never returns: writes have deadlines too."""
    done, seconds = _cli(str(LEARNER_FILES / "shrinks_request_pipe.py"), "--cases", "20",
                         "--timeout", "3", "--no-diagnose", "--json", "-", timeout=120)
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and doc["results"][0]["diagnosis"]["kind"] == "timeout", doc
    assert seconds < 40


@pytest.mark.parametrize("name", ["forges_bool_shape", "closes_request_pipe"])
def test_a_forged_or_broken_channel_is_the_learners_fail_not_a_grader_error(name):
    result = _check(name)
    assert result.verdict == "fail" and result.diagnosis["kind"] == "protocol", result.diagnosis


def test_a_huge_output_is_judged_by_its_shape_alone(tmp_path):
    out = tmp_path / "r.json"
    done, _ = _cli(str(LEARNER_FILES / "huge_output.py"), "--cases", "20", "--json", str(out),
                   timeout=300)
    result = json.loads(out.read_text())["results"][0]
    assert result["diagnosis"]["kind"] == "wrong_shape", result["diagnosis"]
    assert result["counterexample"]["actual_shape"] == [1 << 20]
    assert out.stat().st_size < 200_000


def test_a_solution_that_is_not_a_regular_file_is_refused_before_grading(tmp_path):
    link = tmp_path / "link.py"
    link.symlink_to(GOOD)
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    for path, needle in ((link, "not a symbolic link"), (fifo, "a regular file")):
        done, seconds = _cli(str(path), timeout=120)
        assert done.returncode == 2 and needle in done.stderr, done.stderr
        assert seconds < 20
    with pytest.raises(ValueError, match="symbolic link"):
        check_solution(str(link), count=3, limits=LIMITS, diagnose=False)


def test_a_child_that_cannot_start_is_a_grader_error():
    """Before any solution code runs, a failure is the grader's, never the learner's."""
    from conformance.check._grader import GraderError

    with pytest.raises(GraderError, match="did not start"):
        check_solution(str(GOOD), count=3, limits=Limits(timeout_s=20.0, memory_mb=300,
                                                         cpu_s=60), diagnose=False)


def test_a_slow_solution_runs_out_of_its_budget():
    """One second per call passes every call's timeout; the budget bounds the whole check."""
    started = time.monotonic()
    result = _check("sleeps_each_call", count=60, budget_s=6.0)
    assert result.verdict == "fail" and result.diagnosis["kind"] == "budget", result.diagnosis
    assert time.monotonic() - started < 30
    assert DEFAULT_BUDGET_S <= 60  # fits the grading platforms' own limits


def test_a_memory_bomb_is_judged_once_in_seconds():
    """Each call allocates up to the limit: judged at its first case, never run again."""
    started = time.monotonic()
    result = _check("memory_bomb", count=200, limits=Limits(timeout_s=15.0, memory_mb=4096,
                                                             cpu_s=300), shrink=True,
                    diagnose=True)
    assert result.verdict == "fail"
    assert result.diagnosis["kind"] in ("memory", "timeout"), result.diagnosis
    assert result.diagnosis["mutant"] is None  # the mutants were not run on it
    assert time.monotonic() - started < 45


# --------------------------------------------------------------------------- processes


def _processes_of(users: set[int]) -> list[int]:
    """The pids of every process running as one of ``users``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid in users:
                found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not LINUX, reason="processes are read from Linux's /proc")
def test_a_deep_chain_of_sessions_ends_with_the_check():
    """150 processes, each the child of the last in a session of its own, all gone after."""
    result = _check("deep_chain", limits=Limits(timeout_s=90.0, memory_mb=4096, cpu_s=600))
    pids = [int(p) for line in _tagged(result, "CHAIN") for p in line.split()]
    assert len(pids) >= 150, result.output
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    assert not alive, f"{len(alive)} of {len(pids)} links outlived the check"
    if ROOTED:
        assert result.confinement["namespaces"] is True


@pytest.mark.skipif(not ROOTED, reason="the process limit holds for the child's own user")
def test_a_fork_storm_is_bounded_and_ends_with_the_check():
    result = _check("fork_storm")
    storms = [line.split() for line in _tagged(result, "STORM")]
    counts, users = [int(n) for n, _ in storms], {int(u) for _, u in storms}
    assert counts and max(counts) < result.confinement["nproc"], (counts, result.confinement)
    assert users and min(users) > 0 and not _processes_of(users)


@pytest.mark.skipif(not ROOTED, reason="a memory cgroup of a child's own needs root")
def test_a_childs_processes_share_one_memory_limit():
    result = _check("forks_memory", limits=Limits(timeout_s=60.0, memory_mb=2048, cpu_s=300))
    if result.confinement["memory_mb"] is None:
        pytest.skip("this kernel offers the grader no memory cgroup (reported)")
    assert result.confinement["memory_mb"] == 2048
    held = [int(n) for n in _tagged(result, "HELD")]
    assert all(n < 3 for n in held), result.output  # 4.5 GiB could not all be held at once


@pytest.mark.skipif(not ROOTED, reason="the scratch file system of a child's own needs root")
def test_what_a_solution_may_write_is_bounded():
    result = _check("fills_scratch")
    written = [int(n) for n in _tagged(result, "WROTE")]
    assert written and max(written) <= result.confinement["scratch_mb"], result.output


@pytest.mark.skipif(not LINUX, reason="processes are read from Linux's /proc")
def test_nothing_outlives_a_grader_that_is_killed(tmp_path):
    """The zygote dies with the grader, ends its children and removes their directories."""
    import signal

    grader = subprocess.Popen([sys.executable, "-m", "conformance", "check",
                               str(LEARNER_FILES / "hangs.py"), "--timeout", "120"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        scratches: list[str] = []
        while time.monotonic() < deadline and len(scratches) < 3:  # the zygote's, 2 children's
            time.sleep(0.5)
            children = _children_of(grader.pid)
            scratches = _scratches(children)
        assert children, "the check started no child"
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    time.sleep(3)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}")]
    assert not alive, alive
    assert scratches and not any(os.path.exists(s) for s in scratches), scratches


def _children_of(parent: int) -> list[int]:
    """The processes descending from ``parent`` (by /proc's parent links)."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [parent]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        found += kids
        frontier += kids
    return found


def _scratches(pids: list[int]) -> list[str]:
    """The check's scratch directories (and the pool zygote's own): its processes' working
    directories."""
    found = set()
    for pid in pids:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if os.path.basename(cwd).startswith(("nnx-check-", "nnx-zygote-")):
            found.add(cwd)
    return sorted(found)


# --------------------------------------------------------------------------- other learners


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def test_a_solution_cannot_change_the_cache_the_next_check_reads():
    cache = Path(cache_path(True, CHECK_CACHE))
    first = _check("poisons_cache")  # warms the cache if need be, then attacks it
    before = _digests(cache)
    found = json.loads(_tagged(first, "POISON")[0])
    assert found["cache"] and found["entries"] > 0, found
    assert found["results"] == ["PermissionError"], found
    second = _check("poisons_cache")
    assert _digests(cache) == before
    assert first.verdict == second.verdict == "fail"
    good = check_solution(str(GOOD), count=20, limits=LIMITS, diagnose=False)
    assert good.ok, good.diagnosis


def test_a_lookup_table_recalls_nothing_from_an_earlier_check():
    """Fresh cases every check, and nowhere to keep answers: a table of a check is useless."""
    first = _check("records_inputs", count=20)
    second = _check("records_inputs", count=20)
    assert first.salt != second.salt
    assert _tagged(second, "RECALLED") and set(_tagged(second, "RECALLED")) == {"0"}
    assert first.verdict == second.verdict == "fail"


# --------------------------------------------------------------------------- confinement


@pytest.mark.skipif(not LINUX, reason="Landlock, users and namespaces are Linux's")
def test_the_kernel_closes_every_way_out():
    result = _check("escape_confinement")
    assert result.verdict == "pass", result.diagnosis
    found = json.loads(_tagged(result, "ESCAPE")[0])
    confinement = result.confinement
    assert found["write_own_dir"] == "allowed" and found["found_package"], found
    if confinement["reads"]:
        for probe in ("import_answer_key", "read_answer_key", "read_repo_tests", "read_shadow"):
            assert found[probe] == "PermissionError", (probe, found)
    if confinement["tcp"]:
        assert found["tcp_connect"] == found["tcp_bind"] == "PermissionError", found
    assert found["file_over_limit"] == "OSError" and confinement["fsize_mb"] == 64, found
    assert found["root_only_opened"] == 0, found
    if ROOTED:
        assert isinstance(confinement["user"], int) and confinement["user"] > 0
        for probe in ("chmod_outside", "utime_outside", "raise_priority"):
            assert found[probe] == "PermissionError", (probe, found)
        assert found["found_grader"] and found["grader_environ"] != "allowed", found
        assert confinement["namespaces"] is True and confinement["scratch_mb"] == 128
        assert found["udp_send"] != "allowed", found
        with open("/proc/sysvipc/shm", encoding="ascii") as shm:  # the host's IPC namespace
            keys = {int(line.split()[0]) for line in shm.readlines()[1:]}
        assert 0x4E4E5843 not in keys


# --------------------------------------------------------------------------- smaller


def test_closing_the_channels_is_a_protocol_fail_with_its_own_hint():
    result = _check("closes_channels")
    assert result.diagnosis["kind"] == "protocol", result.diagnosis
    assert "file descriptor" in result.diagnosis["hint"] and "sys.exit" not in result.diagnosis[
        "hint"]


def test_an_enomem_oserror_is_an_exception_not_the_memory_limit():
    result = _check("raises_enomem")
    assert result.diagnosis["kind"] == "exception", result.diagnosis


def test_odd_learner_text_is_shown_safely_everywhere(tmp_path):
    """A lone surrogate, escape sequences, a fake PASS line, an empty and 30 distinct warnings,
    invalid UTF-8 and an unprintable exception: the report and the JSON are still written."""
    out = tmp_path / "r.json"
    done, _ = _cli(str(LEARNER_FILES / "odd_text.py"), str(GOOD), "--cases", "5",
                   "--no-diagnose", "--json", str(out), timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    odd, good = doc["results"]
    assert odd["verdict"] == "fail" and good["verdict"] == "pass"
    assert 0 < len(odd["warnings"]) <= 20
    assert all(w["where"].startswith("odd_text.py:") for w in odd["warnings"]), odd["warnings"]
    text = done.stdout
    assert "\x1b" not in text and "\r" not in text and "\x00" not in text
    assert not any(line.startswith("PASS  fake") for line in text.splitlines())
    assert "\ud800" not in out.read_text(encoding="utf-8", errors="surrogateescape")


def test_usage_errors_come_before_any_grading(tmp_path):
    for target, needle in ((tmp_path, "not a directory"),
                           (tmp_path / "missing" / "r.json", "existing directory")):
        done, seconds = _cli(str(GOOD), "--json", str(target), timeout=120)
        assert done.returncode == 2 and needle in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and seconds < 20
    locked = tmp_path / "locked.json"
    locked.write_text("")
    locked.chmod(0o444)
    # Root writes through permissions; no one writes a kernel's read-only file.
    target = "/proc/version" if ROOTED else str(locked)
    done, _ = _cli(str(GOOD), "--json", target, timeout=120)
    assert done.returncode == 2 and "writable" in done.stderr, done.stderr
