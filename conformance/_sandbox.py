"""The parent side of the isolation: one child process per solution, limits, and its channels.

A :class:`Sandbox` starts ``python -I conformance/_child.py`` in a fresh temporary directory
with a stripped environment, in its own session (so the whole process group can be killed),
with ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` and ``RLIMIT_CORE`` set by the child's driver as its
first act, soft and hard, so the solution cannot raise them (no ``preexec_fn``: the grader may
have JAX's threads running, and fork-without-exec with threads is unsafe).
Requests and results travel on two dedicated pipes passed with ``pass_fds``; the child's stdout
and stderr are drained by threads that keep only a bounded head and tail, shown to the learner
and never parsed. Every read from the result pipe has a wall-clock deadline.

This is process isolation, not a security sandbox: the solution runs as the grader's user and
can read and write what that user can. Run untrusted submissions in a container as well.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from conformance import _child
from conformance._child import ProtocolError, read_frame, write_request

CHILD_SCRIPT = Path(_child.__file__).resolve()
#: Environment variables passed through to the child (they select JAX's semantics).
PASS_ENV = ("JAX_ENABLE_X64", "JAX_THREEFRY_PARTITIONABLE", "XLA_FLAGS", "JAX_PLATFORMS",
            "LD_LIBRARY_PATH", "SYSTEMROOT")
_KEEP = 4096  # bytes of the solution's output kept at each end


class ChildGone(Exception):
    """The child stopped answering: it exited, was killed, timed out or broke the protocol.

    Attributes:
        kind: ``timeout``, ``exit``, ``killed``, ``memory``, ``cpu_time``, ``crash`` or
            ``protocol``.
        detail: a sentence for the learner.
    """

    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}")


class _Tail(threading.Thread):
    """Drains one output pipe, keeping the first and last ``_KEEP`` bytes."""

    def __init__(self, stream: BinaryIO):
        super().__init__(daemon=True)
        self.stream, self.head, self.tail, self.total = stream, b"", b"", 0

    def run(self) -> None:
        while True:
            chunk = self.stream.read(65536)
            if not chunk:
                return
            self.total += len(chunk)
            if len(self.head) < _KEEP:
                self.head += chunk[:_KEEP - len(self.head)]
            self.tail = (self.tail + chunk)[-_KEEP:]

    def text(self) -> str:
        if self.total <= _KEEP:
            return self.head.decode("utf-8", "replace")
        if self.total <= 2 * _KEEP:
            body = self.head + self.tail[-(self.total - _KEEP):]
            return body.decode("utf-8", "replace")
        return (self.head.decode("utf-8", "replace")
                + f"\n[... {self.total - 2 * _KEEP} bytes not shown ...]\n"
                + self.tail.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Limits:
    """Resource limits of one child.

    Attributes:
        timeout_s: wall-clock seconds for the import and for each call.
        memory_mb: address-space limit (``RLIMIT_AS``). JAX alone maps about 1.6 GB of
            virtual memory and XLA's JIT aborts below about 2 GB, so 2048 is the floor.
        cpu_s: CPU seconds for the whole child (``RLIMIT_CPU``), a backstop to the timeouts.
    """

    timeout_s: float = 10.0
    memory_mb: int = 4096
    cpu_s: int = 600


def default_workers() -> int:
    """Children per check: one per core, at most two (the parent needs CPU for references)."""
    return max(1, min(2, os.cpu_count() or 1))


def _child_env(scratch: str) -> dict[str, str]:
    env = {"PATH": os.defpath, "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


class Sandbox:
    """One isolated child. Use as a context manager; every method may raise :class:`ChildGone`.

    Attributes:
        hello: the environment the child reported before any solution code ran.
    """

    def __init__(self, limits: Limits, cache_dir: str | None = None):
        self.limits = limits
        self.scratch = tempfile.mkdtemp(prefix="nnx-check-")
        req_r, self._req_w = os.pipe()
        res_r, res_w = os.pipe()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-u", str(CHILD_SCRIPT), str(req_r), str(res_w), cache_dir or "",
             str(limits.memory_mb), str(int(limits.cpu_s))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.scratch, env=_child_env(self.scratch), pass_fds=(req_r, res_w),
            start_new_session=True, close_fds=True)
        os.close(req_r)
        os.close(res_w)
        self._res = os.fdopen(res_r, "rb", buffering=0)
        self._out, self._err = _Tail(self.proc.stdout), _Tail(self.proc.stderr)
        self._out.start()
        self._err.start()
        self.hello: dict[str, Any] | None = None
        self._timed_out = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ends the child and its process group, and removes the scratch directory.

        The child is killed rather than asked to exit: nothing it could still do matters, and
        JAX's interpreter shutdown alone costs about a second.
        """
        self._kill()
        for fd_close in (lambda: os.close(self._req_w), self._res.close):
            try:
                fd_close()
            except OSError:
                pass
        self._out.join(timeout=2)
        self._err.join(timeout=2)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def output(self) -> dict[str, str]:
        """What the child wrote to stdout and stderr, trimmed (never interpreted)."""
        return {"stdout": self._out.text(), "stderr": self._err.text()}

    # ------------------------------------------------------------------ protocol
    def _read(self, timeout_s: float, what: str) -> tuple[str, dict, bytes]:
        ready, _, _ = select.select([self._res], [], [], max(timeout_s, 0.0))
        if not ready:
            self._timed_out = True
            self._kill()
            raise ChildGone("timeout", f"{what} did not finish within {timeout_s:g} s")
        try:
            return read_frame(self._res)
        except EOFError:
            raise self._death(what) from None
        except ProtocolError as exc:
            self._kill()
            raise ChildGone("protocol", f"the result channel was written to by something other "
                                        f"than the grader's driver during {what} ({exc})") from None

    def _death(self, what: str) -> ChildGone:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            return ChildGone("protocol", f"the result channel was closed during {what}")
        err = self._err.text()
        if code >= 0:
            return ChildGone("exit", f"the process exited with status {code} during {what} "
                                     "(sys.exit, os._exit or similar)")
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return ChildGone("cpu_time", f"the CPU time limit ({self.limits.cpu_s} s) ran out "
                                         f"during {what}")
        if ("Cannot allocate memory" in err or "Out of memory" in err or "bad_alloc" in err
                or "Unable to allocate" in err):
            return ChildGone("memory", f"the process ran out of memory ({self.limits.memory_mb}"
                                       f" MB) during {what} and was killed by {name}")
        if sig == signal.SIGKILL:
            return ChildGone("killed", f"the process was killed (SIGKILL) during {what}")
        return ChildGone("crash", f"the process died with signal {name} during {what}")

    def wait_hello(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Waits for the environment report (JAX import time counts against ``timeout_s``)."""
        kind, header, _ = self._read(timeout_s, "start-up (importing jax and flax)")
        if kind != "H":
            raise ChildGone("protocol", f"expected the hello frame, got {kind!r}")
        self.hello = header
        return header

    def load(self, path: str, slot: int = 0) -> dict[str, Any]:
        """Copies ``path`` into the scratch directory and imports it in the child."""
        if self.hello is None:
            self.wait_hello()
        target = os.path.join(self.scratch, f"solution_{slot}.py")
        shutil.copyfile(path, target)
        write_request(self._req_w, {"op": "load", "slot": slot, "path": target})
        kind, header, _ = self._read(self.limits.timeout_s, "the import of the solution")
        if kind != "L" or header.get("slot") != slot:
            raise ChildGone("protocol", f"expected the load result, got {kind!r}")
        return header

    def run(self, cases: list[dict], slot: int = 0, on_result=None
            ) -> tuple[list[tuple[dict, bytes]], dict]:
        """Calls the loaded solution on ``cases``; returns the per-case frames and the end frame.

        Each call has its own deadline of ``limits.timeout_s``. ``on_result(index, header,
        data)`` is called as results arrive. If the child dies part-way, :class:`ChildGone`
        carries the index of the case in progress as ``.index``.
        """
        write_request(self._req_w, {"op": "run", "slot": slot, "cases": cases})
        results: list[tuple[dict, bytes]] = []
        for index, case in enumerate(cases):
            try:
                kind, header, data = self._read(self.limits.timeout_s, f"case {case['i']}")
            except ChildGone as gone:
                gone.index = index
                raise
            if kind != "R" or header.get("i") != case["i"]:
                self._kill()
                gone = ChildGone("protocol", f"expected the result of case {case['i']}, "
                                             f"got a {kind!r} frame")
                gone.index = index
                raise gone
            results.append((header, data))
            if on_result is not None:
                on_result(index, header, data)
        kind, end, _ = self._read(self.limits.timeout_s, "the end of the run")
        if kind != "E":
            raise ChildGone("protocol", f"expected the end-of-run frame, got {kind!r}")
        return results, end
