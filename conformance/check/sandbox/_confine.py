"""Confinement of a check's processes: resource limits, Landlock, the orphan reaper.

Used by the zygote and its children (``_child``), which import it by file: standard library
only. Each function is a no-op, reported as such, where the kernel lacks the feature.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import Any


def set_limits(memory_mb: int, cpu_s: int) -> None:
    """Address-space, CPU and core limits, hard as well as soft: the solution cannot lift them."""
    import resource

    memory = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# Landlock (Linux >= 5.13, unprivileged): the kernel's own confinement, applied to the child
# before any solution code runs. Syscall numbers are the same on every Linux architecture.
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT, _LL_VERSION = 444, 445, 446, 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER = 38, 36
#: Write-like filesystem rights, by the Landlock ABI that introduced them (1: write, remove,
#: make; 2: refer, i.e. link or rename across directories; 3: truncate).
_LL_WRITES = {1: 0b1_1111_1111_0010, 2: 1 << 13, 3: 1 << 14}
_LL_FILE_RIGHTS = (1 << 1) | (1 << 14)  # the write rights a path rule on a file may grant
_LL_SCOPES = 0b11  # ABI 6: abstract UNIX sockets and signals, both kept inside the domain


def landlock(writable: list[str]) -> dict:
    """Confines this process and every process it starts, for good (it cannot be undone).

    The solution may then write only beneath ``writable`` (its scratch directory, the
    compilation cache) and ``/dev/null``, and (Landlock ABI >= 6) may not signal any process
    outside this child (the grader, the zygote, a sibling) nor reach their abstract sockets;
    Landlock also forbids ptrace of processes outside the domain (so ``/proc/PID/mem`` too).
    Reading is not restricted: Python must read its own files. Where Landlock is missing
    (old kernel, seccomp, non-Linux) nothing is confined and the report says so.

    Returns:
        ``{"landlock_abi": int | None, "writes": bool, "signals": bool}``: what is in force.
    """
    report: dict[str, Any] = {"landlock_abi": None, "writes": False, "signals": False}
    if not sys.platform.startswith("linux"):
        return report  # the syscall numbers below mean something else elsewhere
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        abi = libc.syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_LL_VERSION))
        if abi < 1:
            return report
        rights = 0
        for level, bits in _LL_WRITES.items():
            rights |= bits if abi >= level else 0
        scoped = _LL_SCOPES if abi >= 6 else 0
        # struct landlock_ruleset_attr {u64 handled_access_fs, handled_access_net, scoped}:
        # the size tells the kernel which fields this caller knows.
        attr = struct.pack("=QQQ", rights, 0, scoped) if scoped else struct.pack("=Q", rights)
        ruleset = libc.syscall(_LL_CREATE, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                               ctypes.c_uint32(0))
        if ruleset < 0:
            return report
        try:
            for path in [*writable, os.devnull]:
                if not path or not os.path.exists(path):
                    continue
                allowed = rights if os.path.isdir(path) else rights & _LL_FILE_RIGHTS
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    # struct landlock_path_beneath_attr {u64 allowed_access; s32 parent_fd}
                    # (packed); rule type 1 = LANDLOCK_RULE_PATH_BENEATH.
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                    if libc.syscall(_LL_ADD_RULE, ctypes.c_long(ruleset), ctypes.c_int(1),
                                    rule, ctypes.c_uint32(0)) < 0:
                        return report
                finally:
                    os.close(fd)
            if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                return report
            if libc.syscall(_LL_RESTRICT, ctypes.c_long(ruleset), ctypes.c_uint32(0)) < 0:
                return report
        finally:
            os.close(ruleset)
        report.update(landlock_abi=int(abi), writes=True, signals=bool(scoped))
    except (OSError, AttributeError, ValueError):  # no libc syscall(), no O_PATH: not Linux
        pass
    return report


def become_subreaper() -> bool:
    """Makes the zygote the parent of every process a child leaves behind (Linux >= 3.4).

    A solution can escape its child's process group (``setsid`` after a double fork); the
    kernel then hands the orphan to the nearest subreaper, this zygote, instead of init, so
    :func:`end_orphans` can end it with the check.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def end_orphans(keep: set[int]) -> None:
    """Kills and reaps whatever the children left behind (now the zygote's own children).

    Args:
        keep: the children still at work (the zygote's children too, but not orphans).
    """
    me = os.getpid()
    for _ in range(100):  # an orphan's own orphans come back here: repeat until none
        left = []
        try:
            entries = os.listdir("/proc")
        except OSError:
            return
        for entry in entries:
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    if (int(stat.read().rsplit(b")", 1)[1].split()[1]) == me
                            and int(entry) not in keep):
                        left.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
