"""The check's process group: one zygote imports JAX once and forks isolated children."""

from __future__ import annotations

import os

import pytest

from conformance.check._draw import PANEL
from conformance.check._grading import wire_case
from conformance.check.sandbox import ChildGone, Limits, Sandbox
from tests.paths import GOOD
LIMITS = Limits(timeout_s=60.0, memory_mb=4096, cpu_s=300)

REPORTER = '''
import os
print("cwd", os.getcwd())
print("home", os.environ["HOME"], "tmpdir", os.environ["TMPDIR"])
# As the host numbers them (/proc is the host's even in a PID namespace of the child's own).
with open("/proc/self/stat") as stat:
    fields = stat.read().rsplit(")", 1)[1].split()
print("pid", os.readlink("/proc/self"), "pgid", fields[2], "sid", fields[3])
print("fds", sorted(int(fd) for fd in os.listdir("/proc/self/fd")))

def pure_state_update(seed, x, features, scale):
    os._exit(3)
'''


@pytest.fixture()
def group():
    boxes = Sandbox.start(LIMITS, None, 2)
    yield boxes
    for box in boxes:
        box.close()


def _report(box: Sandbox) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in box.output()["stdout"].splitlines()}


def test_each_child_has_its_own_process_session_directory_and_pipes(group, tmp_path):
    reporter = tmp_path / "reporter.py"
    reporter.write_text(REPORTER)
    hellos = [box.wait_hello() for box in group]
    assert hellos[0]["pid"] != hellos[1]["pid"] and hellos[0]["jax"]
    for box in group:
        assert box.load(str(reporter))["ok"]
    with pytest.raises(ChildGone):  # the reporter exits on its first call: output is complete
        group[0].run([wire_case(0, PANEL[0])])
    with pytest.raises(ChildGone):
        group[1].run([wire_case(0, PANEL[0])])
    reports = [_report(box) for box in group]
    for box, hello, report in zip(group, hellos, reports):
        assert report["cwd"] == [box.scratch]
        assert report["home"] == [box.scratch, "tmpdir", box.scratch]
        pid = str(hello["pid"])  # the process the zygote forked: the session's leader
        assert report["pid"][1:] == ["pgid", pid, "sid", pid]  # its own session and group
    # A sibling's pipes (or the zygote's status pipe) held open in a child would hide that
    # sibling's exit from the grader; each child holds stdio and its own two channels only.
    for report in reports:
        assert len(report["fds"]) <= 6, report["fds"]


def test_a_child_that_exits_is_seen_at_once_while_its_sibling_keeps_working(group, tmp_path):
    exits = tmp_path / "exits.py"
    exits.write_text(REPORTER)
    assert group[0].load(str(exits))["ok"]
    assert group[1].load(str(GOOD))["ok"]
    with pytest.raises(ChildGone) as gone:
        group[0].run([wire_case(0, PANEL[0])])
    # "exit" with the status, not a timeout: the result pipe ended when the child did.
    assert gone.value.kind == "exit" and "status 3" in gone.value.detail
    frames, _ = group[1].run([wire_case(i, case) for i, case in enumerate(PANEL[:3])])
    assert [header["status"] for header, _ in frames] == ["array"] * 3
    group[1].close()  # closing one child leaves nothing running of the group
    group[0].close()
    zygote = group[0]._group.proc
    assert zygote.poll() is not None


def test_killing_a_child_ends_only_that_child(group):
    for box in group:
        assert box.load(str(GOOD))["ok"]
    pid = group[0].hello["pid"]
    group[0].close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    frames, _ = group[1].run([wire_case(0, PANEL[0])])
    assert frames[0][0]["status"] == "array"
