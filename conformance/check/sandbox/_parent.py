"""The parent side of the isolation: one child process per solution, limits, and its channels.

A :class:`Sandbox` is one child process, forked by a zygote (``python -I _child.py``, see
:class:`_Zygote`) that sets ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``
and ``RLIMIT_CORE`` as its first act, soft and hard, so the solution cannot raise them (no
``preexec_fn``: the grader may have JAX's threads running, and fork-without-exec with threads is
unsafe), imports JAX and Flax once and forks the children of a group. Each child has a fresh
temporary directory as its working directory, ``HOME`` and ``TMPDIR``, a stripped environment,
and its own session (so its whole process group can be killed). Requests and results travel on
two dedicated pipes passed with ``pass_fds``; the child's stdout and stderr are drained by
threads that keep only a bounded head and tail, shown to the learner and never parsed. Every
read from the result pipe, to its last byte, has a wall-clock deadline: the call's timeout, or
the solution's whole budget if that ends first. What the kernel confines is in ``_confine``
and ``docs/check.md``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from conformance.check.sandbox._protocol import (CHANNEL_LOST, END, HELLO, LOAD, OP_LOAD, OP_RUN,
                                                 RESULT, ProtocolError, encode_source,
                                                 read_frame, request_frame, solution_name)
from conformance.core import compilation_cache_config

#: The grader's own packages: no child may read them (the answer key is not importable).
GRADER_PACKAGES = ("conformance", "implementations", "oracles")

CHILD_SCRIPT = Path(__file__).resolve().with_name("_child.py")
#: Environment variables passed through to the child (they select JAX's semantics).
PASS_ENV = ("JAX_ENABLE_X64", "JAX_THREEFRY_PARTITIONABLE", "XLA_FLAGS", "JAX_PLATFORMS",
            "LD_LIBRARY_PATH", "SYSTEMROOT")
_KEEP = 4096  # bytes of the solution's output kept at each end
#: Processes and threads a child's user may have (JAX's thread pools count; see _confine).
NPROC = 512 + 8 * (os.cpu_count() or 1)


class _Deadline:
    """A reader of the result pipe whose every read waits at most until ``limit``: a child
    that sends the start of a frame and then stalls cannot hold the grader."""

    def __init__(self, fd: int, limit: float):
        self.fd, self.limit = fd, limit

    def read(self, n: int) -> bytes:
        remaining = self.limit - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self.fd, n)


class ChildGone(Exception):
    """The child stopped answering: it exited, was killed, timed out or broke the protocol.

    Attributes:
        kind: ``timeout``, ``budget``, ``exit``, ``killed``, ``memory``, ``cpu_time``,
            ``crash`` or ``protocol``.
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
            try:
                chunk = self.stream.read(65536)
            except (OSError, ValueError):  # closed under it by Sandbox.close
                return
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


#: Seconds a solution may take in all, its import and every call of every child (a check's
#: ``--budget``): enough for a cold solution's own compiles, short enough for any platform.
DEFAULT_BUDGET_S = 30.0


def default_workers() -> int:
    """Children per check: one per core, at most two (the parent needs CPU for references)."""
    return max(1, min(2, os.cpu_count() or 1))


#: The largest solution file a check takes.
MAX_SOLUTION_BYTES = 1 << 20


def solution_problem(path: str, limit: int = MAX_SOLUTION_BYTES) -> str | None:
    """Why ``path`` cannot be graded as a solution file (None: it can): it must be a regular
    file of at most ``limit`` bytes (default :data:`MAX_SOLUTION_BYTES`; a notebook, whose
    outputs are not graded, may be larger), not a symbolic link (the grader reads it with its
    own privileges; a link could bring in any file it may read)."""
    try:
        info = os.lstat(path)
    except OSError:
        return "an existing file"
    import stat

    if stat.S_ISLNK(info.st_mode):
        return "a regular file, not a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "a regular file"
    if info.st_size > limit:
        return f"a file of at most {limit} bytes"
    return None


def read_solution(path: str, limit: int = MAX_SOLUTION_BYTES) -> bytes:
    """The bytes of the solution file ``path``, read without following a symbolic link.

    Raises:
        ValueError: it is not a gradable solution file (:func:`solution_problem`).
    """
    import stat

    problem = solution_problem(path, limit)
    if problem is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            problem = "a regular file, not a symbolic link"
        else:
            with os.fdopen(fd, "rb") as handle:  # checked again: the path may have changed
                info = os.fstat(handle.fileno())
                if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
                    return handle.read(limit + 1)[:limit]
                problem = "a regular file"
    raise ValueError(f"SOLUTION.py={path!r}, but should be {problem}")


def grader_paths() -> list[str]:
    """The directories of :data:`GRADER_PACKAGES`, found without importing them."""
    import importlib.util

    paths = []
    for name in GRADER_PACKAGES:
        spec = importlib.util.find_spec(name)
        paths += list(spec.submodule_search_locations or []) if spec else []
    return [os.path.realpath(p) for p in paths]


def warm_cache(cache_dir: str, shapes: Sequence[tuple[int, int]], timeout_s: float = 900.0,
               announce: Any = None) -> dict[str, Any]:
    """Fills the children's compilation cache, unless this environment already did.

    The cache is written only here, by a trusted process that runs the statement's recipe over
    ``shapes`` in the children's environment (``_child.py --warm``); the children only read it,
    so no solution can plant a program another check would load. A marker in ``cache_dir``,
    keyed on everything that decides the programs (versions, JAX's environment variables, the
    shapes, the recipe), says the work is done.

    Args:
        cache_dir: the children's cache.
        shapes: the ``(len(x), features)`` pairs to compile.
        timeout_s: the most the warm-up may take.
        announce: called (without arguments) before a warm-up that has to run.

    Returns:
        ``{"warmed": bool (ran now), "ok": bool, "seconds": float}``.
    """
    marker = Path(cache_dir) / f"warm-{_warm_key(shapes)}.json"
    try:
        return dict(json.loads(marker.read_text()), warmed=False)
    except (OSError, ValueError, TypeError):
        pass
    if announce is not None:
        announce()
    scratch = tempfile.mkdtemp(prefix="nnx-warm-")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-u", str(CHILD_SCRIPT), "--warm",
             json.dumps(compilation_cache_config(cache_dir)), json.dumps(list(shapes))],
            cwd=scratch, env=_child_env(scratch), stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout_s, check=False)
        ok = done.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {"ok": ok, "seconds": round(time.monotonic() - started, 3)}
    try:  # atomic: a concurrent check reads no marker or a whole one
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(result, stream)
        os.replace(tmp, marker)
    except OSError:
        pass  # an unwritable cache: the next check warms again
    return dict(result, warmed=True)


def _warm_key(shapes: Sequence[tuple[int, int]]) -> str:
    """What decides the programs the warm-up compiles and their keys: the packages (their
    files' identity, found without importing them or reading their metadata, which is slow),
    JAX's environment variables, the shapes, the cache's settings and the recipe."""
    import hashlib
    import importlib.util

    packages = []
    for name in ("jax", "jaxlib", "flax", "numpy", "ml_dtypes"):
        spec = importlib.util.find_spec(name)
        try:
            info = os.stat(spec.origin) if spec and spec.origin else None
        except OSError:
            info = None
        packages.append([spec.origin, info.st_mtime_ns, info.st_size] if info else None)
    env = _child_env("")
    digest = hashlib.sha256(json.dumps(
        [sys.version, packages, {k: env.get(k) for k in PASS_ENV}, list(shapes),
         compilation_cache_config("")]).encode())
    digest.update(CHILD_SCRIPT.read_bytes())
    return digest.hexdigest()[:24]


def _child_env(scratch: str) -> dict[str, str]:
    env = {"PATH": os.defpath, "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


class _Zygote:
    """The process that imports JAX and Flax once for a group of children, then forks them.

    It runs ``_child.py`` with a status pipe and, per child, four pipe ends (requests,
    results, stdout, stderr) and a scratch directory. It sets the limits, imports, and forks
    one worker per child before anything has started a thread of its own (no JAX backend yet),
    then only reaps: each worker's pid and wait status come back on the status pipe, which no
    worker holds. Two children thus cost one import instead of two at once on two cores; the
    parent's own start-up has the other core to itself meanwhile.
    """

    def __init__(self, limits: Limits, cache_dir: str | None, count: int,
                 hidden: Sequence[str] = (), persistent: bool = False):
        # The children may read the cache's real path only (Landlock follows no link): a
        # cache reached through a symbolic link would be unreadable to them, every program
        # compiled afresh.
        cache_dir = os.path.realpath(cache_dir) if cache_dir else None
        self.scratches: list[str] = []
        self.channels: list[tuple[int, int, int, int]] = []  # parent ends: req, res, out, err
        child_ends, specs = [], []
        for _ in range(count):
            ends, spec = self._new_channels()
            child_ends += ends
            specs.append(",".join(map(str, ends)) + "," + self.scratches[-1])
        config = {"jax": compilation_cache_config(cache_dir, write=False) if cache_dir else {},
                  "cache": cache_dir or "", "nproc": NPROC,
                  "hidden": [*grader_paths(), *(os.path.realpath(h) for h in hidden)]}
        control = None
        self._control: socket.socket | None = None
        if persistent:
            self._control, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            config["control"] = control.fileno()
        self.persistent = persistent
        self._lock = threading.Lock()  # spawn() from several threads
        status_r, status_w = os.pipe()
        home = self.scratches[0] if self.scratches else tempfile.mkdtemp(prefix="nnx-zygote-")
        self._home = None if self.scratches else home
        if self._home:
            config["home"] = self._home  # removed by the zygote too, if the grader dies
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-u", str(CHILD_SCRIPT), str(status_w),
                 "-", str(limits.memory_mb), str(int(limits.cpu_s)), *specs],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                cwd=home, env=_child_env(home),
                pass_fds=(status_w, *child_ends, *([control.fileno()] if control else [])),
                start_new_session=True, close_fds=True)
        finally:
            for fd in (status_w, *child_ends):
                os.close(fd)
            if control is not None:
                control.close()
        try:  # the config, on stdin (a pipe holds 64 KiB: a larger one waits for the reader)
            self.proc.stdin.write(json.dumps(config).encode())
            self.proc.stdin.close()
        except OSError:
            pass  # the zygote died at once: its exit is reported as for any other death
        self.stderr = _Tail(self.proc.stderr)
        self.stderr.start()
        self._status = os.fdopen(status_r, "rb", buffering=0)
        self._cond = threading.Condition()
        self._pids: dict[int, int] = {}
        self._codes: dict[int, int] = {}
        #: Children whose memory cgroup killed a process for its limit.
        self.oom: set[int] = set()
        self._ended = False
        self._ended_here = False
        self._open = set(range(count))
        threading.Thread(target=self._read_status, daemon=True).start()

    def _new_channels(self) -> tuple[list[int], str]:
        """A new child's four pipes and scratch directory: the child's ends (to pass on) and
        the scratch path; the parent's ends are kept in ``channels``."""
        scratch = tempfile.mkdtemp(prefix="nnx-check-")
        (req_r, req_w), (res_r, res_w) = os.pipe(), os.pipe()
        (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
        self.scratches.append(scratch)
        self.channels.append((req_w, res_r, out_r, err_r))
        return [req_r, res_w, out_w, err_w], scratch

    def spawn(self) -> int:
        """Asks a persistent zygote to fork one more child; its index.

        The child's pipe ends travel over the control socket (``SCM_RIGHTS``); the zygote
        forks it exactly as it forked the first ones.

        Raises:
            ChildGone: the zygote is gone (it died importing JAX, or was ended).
        """
        if self._control is None:
            raise ValueError("spawn() needs a persistent zygote (persistent=True)")
        with self._lock:
            ends, scratch = self._new_channels()
            k = len(self.channels) - 1
            self._open.add(k)
            try:
                socket.send_fds(self._control, [json.dumps({"worker": k, "scratch": scratch})
                                                .encode()], ends)
            except OSError:
                raise ChildGone("protocol", "the zygote is gone") from None
            finally:
                for fd in ends:
                    os.close(fd)
        return k

    def shutdown(self) -> None:
        """Ends a persistent zygote once its open children are released (or now)."""
        if self._control is not None:
            try:
                self._control.close()  # the zygote stops forking and exits after its children
            except OSError:
                pass
        self.persistent = False
        if not self._open:
            self._end()

    def _read_status(self) -> None:
        for line in iter(self._status.readline, b""):
            try:
                message = json.loads(line)
                k = int(message["worker"])
                pid = int(message["pid"]) if "pid" in message else None
                code = (os.waitstatus_to_exitcode(int(message["status"]))
                        if "status" in message else None)
            except (ValueError, KeyError, TypeError):
                continue
            with self._cond:
                if pid is not None:
                    self._pids.setdefault(k, pid)
                if code is not None:
                    self._codes.setdefault(k, code)
                if message.get("oom") is True:
                    self.oom.add(k)
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def wait(self, k: int, timeout_s: float) -> int | None:
        """Child ``k``'s exit code (negative: killed by that signal), or None if unknown."""
        with self._cond:
            self._cond.wait_for(lambda: k in self._codes or self._ended, timeout_s)
            return self._codes.get(k)

    def forked(self, k: int) -> bool:
        with self._cond:
            return k in self._pids

    def exit_code(self) -> int | None:
        """The zygote's own exit code, for a group that died before forking."""
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, k: int) -> None:
        """Kills child ``k`` and whatever it started; before the fork, the zygote itself."""
        with self._cond:
            if self.persistent:  # a child of a pool is forked at once: wait for its pid
                self._cond.wait_for(lambda: k in self._pids or self._ended, 5)
            pid, reaped = self._pids.get(k), k in self._codes
        if reaped:
            return  # its pid may already belong to another process
        if pid is None:
            self._kill_zygote()
            return
        for kill in (os.killpg, os.kill):  # killpg fails only before the child's setsid
            try:
                kill(pid, signal.SIGKILL)
                return
            except (ProcessLookupError, PermissionError):
                continue

    def _kill_zygote(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def release(self, k: int) -> None:
        """Child ``k`` is done with; after the last one, the zygote goes too (unless it is
        persistent: then at :meth:`shutdown`)."""
        self._open.discard(k)
        if not self._open and not self.persistent:
            self._end()

    def _end(self) -> None:
        if not self._ended_here:
            self._ended_here = True
            try:
                # It exits by itself once its last child is reaped and what the children
                # left behind is ended; killed early, it would leave those orphans to init.
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            self._kill_zygote()
            self.stderr.join(timeout=2)
            for stream in (self._status, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            if self._home:
                shutil.rmtree(self._home, ignore_errors=True)


class SandboxPool:
    """Children for a whole batch, forked on demand from one zygote that imports JAX and Flax
    once: a batch pays that import once, not once per solution. Each child is confined
    exactly as :meth:`Sandbox.start`'s are (the fork is the same code in the zygote).

    Use as a context manager; :meth:`start` may be called from several threads.
    """

    def __init__(self, limits: Limits, cache_dir: str | None, hidden: Sequence[str] = ()):
        self.limits, self.cache_dir = limits, cache_dir
        self._group = _Zygote(limits, cache_dir, 0, hidden, persistent=True)

    def start(self, count: int) -> list["Sandbox"]:
        """``count`` new children (their JAX is already imported: they start in milliseconds).

        Raises:
            ChildGone: the zygote is gone.
        """
        return [Sandbox(self.limits, self.cache_dir, self._group, self._group.spawn())
                for _ in range(count)]

    def close(self) -> None:
        """Ends the zygote once the children it forked are closed."""
        self._group.shutdown()

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Sandbox:
    """One isolated child. Use as a context manager; every method may raise :class:`ChildGone`.

    ``Sandbox(limits, cache_dir)`` starts one child; :meth:`start` starts several that share
    one import of JAX (the check's children).

    Attributes:
        hello: the environment the child reported before any solution code ran.
    """

    def __init__(self, limits: Limits, cache_dir: str | None = None,
                 _group: _Zygote | None = None, _index: int = 0, hidden: Sequence[str] = ()):
        self.limits = limits
        self._group = _group if _group is not None else _Zygote(limits, cache_dir, 1, hidden)
        self._index = _index
        self.scratch = self._group.scratches[_index]
        self._req_w, res_r, out_r, err_r = self._group.channels[_index]
        os.set_blocking(self._req_w, False)  # every write has a deadline too (see _send)
        self._res = os.fdopen(res_r, "rb", buffering=0)
        self._out = _Tail(os.fdopen(out_r, "rb", buffering=0))
        self._err = _Tail(os.fdopen(err_r, "rb", buffering=0))
        self._out.start()
        self._err.start()
        self.hello: dict[str, Any] | None = None
        #: ``time.monotonic()`` by which the solution's whole budget ends (None: no budget).
        self.deadline: float | None = None
        self._timed_out = False
        self._closed = False
        self._copies: dict[str, str] = {}  # scratch copy -> the file it was copied from

    @classmethod
    def start(cls, limits: Limits, cache_dir: str | None, count: int,
              hidden: Sequence[str] = ()) -> list["Sandbox"]:
        """``count`` children forked from one process that imports JAX and Flax once.

        Args:
            limits: each child's limits.
            cache_dir: the compilation cache the children read (never write), or None.
            count: how many children.
            hidden: paths the children may not read besides the grader's packages (the
                folders of the solutions being graded).
        """
        group = _Zygote(limits, cache_dir, count, hidden)
        return [cls(limits, cache_dir, group, k) for k in range(count)]

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ends the child and its process group, and removes the scratch directory.

        The child is killed rather than asked to exit: nothing it could still do matters, and
        JAX's interpreter shutdown alone costs about a second. Closing twice does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._kill()
        for fd_close in (lambda: os.close(self._req_w), self._res.close):
            try:
                fd_close()
            except OSError:
                pass
        self._out.join(timeout=2)
        self._err.join(timeout=2)
        for tail in (self._out, self._err):
            tail.stream.close()  # now, not at the next garbage collection
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._group.release(self._index)

    def kill(self) -> None:
        """Kills the child and whatever it started, from any thread; its channels stay open
        until :meth:`close` (a reader blocked on them sees the end of the child)."""
        self._group.kill(self._index)

    def _kill(self) -> None:
        self._group.kill(self._index)
        self._group.wait(self._index, timeout_s=5)

    def output(self) -> dict[str, str]:
        """What the child wrote to stdout and stderr, trimmed (never interpreted)."""
        return self._own_names({"stdout": self._out.text(), "stderr": self._err.text()})

    # ------------------------------------------------------------------ protocol
    def _limit(self, timeout_s: float) -> tuple[float, str]:
        """The deadline of the next read or write: the call's, or the budget's if sooner."""
        limit, kind = time.monotonic() + timeout_s, "timeout"
        if self.deadline is not None and self.deadline < limit:
            limit, kind = self.deadline, "budget"
        return limit, kind

    def _late(self, kind: str, timeout_s: float, what: str) -> ChildGone:
        self._timed_out = True
        self._kill()
        if kind == "budget":
            return ChildGone("budget", f"the solution's time budget ran out during {what}")
        return ChildGone("timeout", f"{what} did not finish within {timeout_s:g} s")

    def _send(self, message: dict, what: str) -> None:
        """Writes one request under the call's deadline: a child that stops reading (a pipe
        it shrank, a driver it replaced) cannot block the grader either."""
        data = memoryview(request_frame(message))
        timeout_s = self.limits.timeout_s
        limit, kind = self._limit(timeout_s)
        while data:
            remaining = limit - time.monotonic()
            if remaining <= 0 or not select.select([], [self._req_w], [], remaining)[1]:
                raise self._late(kind, timeout_s, what)
            try:
                data = data[os.write(self._req_w, data):]
            except BlockingIOError:
                continue
            except OSError:  # the child closed its end of the request pipe, or is gone
                if self._group.forked(self._index) and self._group.wait(self._index, 1) is None:
                    self._kill()
                    raise ChildGone("protocol", f"the request channel was closed by the "
                                                f"solution during {what}") from None
                raise self._death(what) from None

    def _read(self, timeout_s: float, what: str) -> tuple[str, dict, bytes]:
        """One frame, read to its last byte by the call's deadline or the budget's."""
        limit, kind = self._limit(timeout_s)
        try:
            return read_frame(_Deadline(self._res.fileno(), limit))
        except TimeoutError:
            raise self._late(kind, timeout_s, what) from None
        except EOFError:
            raise self._death(what) from None
        except ProtocolError as exc:
            self._kill()
            raise ChildGone("protocol", f"the result channel was written to by something other "
                                        f"than the grader's driver during {what} ({exc})") from None

    def _death(self, what: str) -> ChildGone:
        if self._group.forked(self._index):
            code, err = self._group.wait(self._index, timeout_s=5), self._err.text()
        else:  # the zygote died before forking (during the import of JAX and Flax)
            code, err = self._group.exit_code(), self._group.stderr.text()
        if code is None:
            self._kill()
            return ChildGone("protocol", f"the result channel was closed during {what}")
        if code == CHANNEL_LOST:
            return ChildGone("protocol", f"the solution closed or broke the grader's channel "
                                         f"(a file descriptor it does not own) during {what}")
        if code >= 0:
            return ChildGone("exit", f"the process exited with status {code} during {what} "
                                     "(sys.exit, os._exit or similar)")
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if self._index in self._group.oom:
            return ChildGone("memory", f"the solution's processes ran out of memory "
                                       f"({self.limits.memory_mb} MB in all) during {what}")
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
        if kind != HELLO:
            raise ChildGone("protocol", f"expected the hello frame, got {kind!r}")
        self.hello = header
        return header

    def load(self, path: str, slot: int = 0, source: bytes | None = None) -> dict[str, Any]:
        """Sends the solution file ``path`` to the child, which imports it from its scratch
        directory (:func:`read_solution`: a regular file, never through a link); ``source``,
        if given, is sent instead of the file's bytes (the code taken from a notebook)."""
        if self.hello is None:
            self.wait_hello()
        if source is None:
            source = read_solution(path)
        elif len(source) > MAX_SOLUTION_BYTES:
            raise ValueError(f"len(source)={len(source)}, but should be at most "
                             f"{MAX_SOLUTION_BYTES} bytes")
        self._copies[os.path.join(self.scratch, solution_name(slot))] = os.path.abspath(path)
        self._send({"op": OP_LOAD, "slot": slot, "source": encode_source(source)},
                   "the import of the solution")
        kind, header, _ = self._read(self.limits.timeout_s, "the import of the solution")
        if kind != LOAD or header.get("slot") != slot:
            raise ChildGone("protocol", f"expected the load result, got {kind!r}")
        return self._own_names(header)

    def _own_names(self, value: Any, depth: int = 0) -> Any:
        """``value`` with the scratch copies' paths replaced by the files they copy, so that
        a learner's traceback names their own file. Only the driver's own nesting (a header's
        fields, its list of warnings) is visited: a forged frame may nest deeper."""
        if isinstance(value, str):
            for copy, original in self._copies.items():
                # The full path in tracebacks; the file name alone in a warning's "where".
                value = value.replace(copy, original).replace(
                    os.path.basename(copy), os.path.basename(original))
            return value
        if depth >= 3:
            return value
        if isinstance(value, dict):
            return {k: self._own_names(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._own_names(v, depth + 1) for v in value]
        return value

    def run(self, cases: list[dict], slot: int = 0, on_result=None
            ) -> tuple[list[tuple[dict, bytes]], dict]:
        """Calls the loaded solution on ``cases``; returns the per-case frames and the end frame.

        Each call has its own deadline of ``limits.timeout_s``. ``on_result(index, header,
        data)`` is called as results arrive (the frames are then not kept: the list returned is
        empty). If the child dies part-way, :class:`ChildGone` carries the index of the case in
        progress as ``.index``.
        """
        try:
            self._send({"op": OP_RUN, "slot": slot, "cases": cases}, "the request of a run")
        except ChildGone as gone:
            gone.index = 0
            raise
        results: list[tuple[dict, bytes]] = []
        for index, case in enumerate(cases):
            try:
                kind, header, data = self._read(self.limits.timeout_s, f"case {case['i']}")
            except ChildGone as gone:
                gone.index = index
                raise
            if kind != RESULT or header.get("i") != case["i"]:
                self._kill()
                gone = ChildGone("protocol", f"expected the result of case {case['i']}, "
                                             f"got a {kind!r} frame")
                gone.index = index
                raise gone
            header = self._own_names(header)
            if on_result is None:
                results.append((header, data))
            else:
                on_result(index, header, data)
        kind, end, _ = self._read(self.limits.timeout_s, "the end of the run")
        if kind != END:
            raise ChildGone("protocol", f"expected the end-of-run frame, got {kind!r}")
        return results, self._own_names(end)
