"""The child side of ``nnx-conformance check``: imports a solution and calls it, nothing more.

Run by :mod:`conformance._sandbox` as ``python -I _child.py STATUS_FD CACHE_DIR MEMORY_MB CPU_S
SPEC...`` (see :func:`main`): a zygote that sets the limits, imports JAX and Flax once, and
forks one child per ``SPEC``, each with its own session, pipes and scratch directory. It imports
only the standard library at module level, so it runs without the grader's packages on
``sys.path``; JAX and Flax are imported before the solution (the solution would import them
anyway, and the hello message must describe them before any untrusted code runs).

Wire format (this module is its only definition; the parent imports the reading half):

* parent -> child, on ``REQ_FD``: frames ``>I length`` + UTF-8 JSON. ``{"op": "load", "slot",
  "path"}`` imports a file; ``{"op": "run", "slot", "cases": [...]}`` calls it on each case
  (``x`` as hex of little-endian float32 bytes, ``scale`` as ``float.hex``, so every value,
  NaN and infinities included, crosses exactly; the solution gets ``x`` as a JAX array);
  ``{"op": "bye"}`` ends the session.
* child -> parent, on ``RES_FD``: frames ``MAGIC`` + ``>cII`` (kind, JSON length, data length)
  + JSON header + raw data. Kinds: ``H`` hello (environment), ``L`` load outcome, ``R`` one
  case's outcome (``data`` is the result as little-endian float64, lossless for every float
  dtype the result may have), ``E`` end of a run (warnings, purity).

Nothing the solution prints is read: stdout and stderr are only shown to the learner, trimmed.
The parent validates every frame (:func:`read_frame`), because the solution runs in this process
and may write to the result descriptor itself.
"""

from __future__ import annotations

import gc
import json
import os
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

MAGIC = b"NNXC"
#: The ``kind`` of a failed load (``L`` frame): what :meth:`_Driver.load` reports.
LOAD_KINDS = ("missing_function", "not_callable", "syntax_error", "exit", "memory",
              "import_error")
_FRAME = struct.Struct(">cII")
MAX_HEADER = 1 << 16
MAX_ELEMENTS = 1 << 20  # larger than any output the cases ask for
MAX_TEXT = 2000


class ProtocolError(Exception):
    """A frame from the child is malformed (its sender did not follow the wire format)."""


# --------------------------------------------------------------------------- parent half


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError("result channel closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> tuple[str, dict, bytes]:
    """Reads and validates one child frame: ``(kind, header, data)``.

    Raises:
        EOFError: the channel closed (the child exited or closed it).
        ProtocolError: anything malformed: magic, kind, sizes, JSON.
    """
    head = _read_exact(stream, len(MAGIC) + _FRAME.size)
    if head[:4] != MAGIC:
        raise ProtocolError(f"bad frame magic {head[:4]!r}")
    kind, n_json, n_data = _FRAME.unpack(head[4:])
    kind = kind.decode("latin-1")
    if kind not in "HLRE" or n_json > MAX_HEADER or n_data > 8 * MAX_ELEMENTS:
        raise ProtocolError(f"bad frame kind={kind!r} header={n_json} data={n_data}")
    try:
        header = json.loads(_read_exact(stream, n_json).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # forged: nested too deep
        raise ProtocolError(f"bad frame header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    return kind, header, _read_exact(stream, n_data)


def write_request(fd: int, message: dict) -> None:
    """Sends one request frame to the child (parent side)."""
    payload = json.dumps(message).encode("utf-8")
    _write_all(fd, struct.pack(">I", len(payload)) + payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --------------------------------------------------------------------------- child half


def _send(fd: int, kind: str, header: dict, data: bytes = b"") -> None:
    payload = json.dumps(header).encode("utf-8")
    _write_all(fd, MAGIC + _FRAME.pack(kind.encode(), len(payload), len(data)) + payload + data)


def _read_request(stream: BinaryIO) -> dict:
    (length,) = struct.unpack(">I", _read_exact(stream, 4))
    return json.loads(_read_exact(stream, length).decode("utf-8"))


def _text(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - a learner's __str__ may raise anything
        text = "<unprintable>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _learner_frames(exc: BaseException, path: str) -> str:
    """The traceback lines that point into the learner's file (the grader's are noise)."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    keep = [line for line in lines if path in line or not line.startswith("  File")]
    return _text("".join(keep[-12:]))


class _Driver:
    """Holds the loaded solutions and the purity probe; one instance per child."""

    def __init__(self, res_fd: int):
        self.res_fd = res_fd
        self.functions: dict[int, Any] = {}
        self.paths: dict[int, str] = {}
        self.warnings: dict[tuple, dict] = {}
        self.built: list | None = None
        self.impure: list[str] = []
        self.purity_checked = False
        self._to_array = None

    def bind_jax(self) -> None:
        """Keeps ``jax.device_put`` from before any solution code runs.

        ``x`` reaches the solution as the statement says, a 1-D JAX array (float32, on the
        default device, uncommitted, as ``jnp.array`` would make it). ``device_put`` copies the
        bytes without compiling anything (``jnp.asarray`` of a NumPy array compiles one program
        per length), so only the solution's own programs cost time. Without JAX, ``x`` stays a
        NumPy array: the solution fails on its own import anyway.
        """
        try:
            import jax

            self._to_array = jax.device_put
        except Exception:  # noqa: BLE001
            self._to_array = None

    # The purity probe: nnx.Linear.__init__ is wrapped to snapshot the first Linear the solution
    # builds in a call; after the call, a snapshot that no longer matches means the solution
    # modified the model it built (reported, not graded). Models from nnx.merge/clone skip
    # __init__ and are not tracked.
    def install_purity_probe(self) -> None:
        try:
            import jax
            from flax import nnx
            import numpy as np

            original = nnx.Linear.__init__
            driver = self

            def leaves(module):
                return [np.array(leaf) for leaf in jax.tree_util.tree_leaves(nnx.state(module))]

            def __init__(module, *args, **kwargs):
                original(module, *args, **kwargs)
                # Only the first Linear of a call is "the model": a solution may build a second
                # one on purpose to update it (nnx.update on a fresh model is pure).
                if driver.built == [] and type(module) is nnx.Linear:
                    try:
                        driver.built.append((module, leaves(module)))
                    except Exception:  # noqa: BLE001 - the probe never breaks a solution
                        pass

            nnx.Linear.__init__ = __init__
            self._leaves = leaves
            self.purity_checked = True
        except Exception:  # noqa: BLE001
            self.purity_checked = False

    def _check_purity(self, case_index: int) -> None:
        import numpy as np

        for module, before in self.built or ():
            try:
                after = self._leaves(module)
                same = len(after) == len(before) and all(
                    a.shape == b.shape and a.tobytes() == b.tobytes()
                    for a, b in zip(after, before))
            except Exception:  # noqa: BLE001
                continue
            if not same and len(self.impure) < 20:
                self.impure.append(str(case_index))
        del np

    def _record_warnings(self, caught) -> None:
        for w in caught:
            key = (w.category.__name__, _text(w.message)[:300])
            if key not in self.warnings and len(self.warnings) < 20:
                self.warnings[key] = {"category": key[0], "message": key[1],
                                      "where": f"{os.path.basename(str(w.filename))}:{w.lineno}"}

    def load(self, slot: int, path: str) -> None:
        import importlib.util
        import warnings

        name = f"solution_{slot}"
        header: dict[str, Any] = {"slot": slot, "ok": False}
        started = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            self._record_warnings(caught)
            fn = getattr(module, "pure_state_update", None)
            if fn is None:
                header.update(kind="missing_function", names=sorted(
                    n for n in vars(module) if not n.startswith("__"))[:50])
            elif not callable(fn):
                header.update(kind="not_callable", type=type(fn).__name__)
            else:
                self.functions[slot], self.paths[slot] = fn, path
                header.update(ok=True)
        except SyntaxError as exc:
            header.update(kind="syntax_error", exc_type=type(exc).__name__,
                          message=_text(exc.msg), line=exc.lineno, text=_text(exc.text or ""))
        except SystemExit as exc:
            header.update(kind="exit", exc_type="SystemExit", message=_text(exc.code))
        except MemoryError as exc:
            header.update(kind="memory", exc_type="MemoryError", message=_text(exc))
        except BaseException as exc:  # noqa: BLE001 - everything the import raises is a finding
            header.update(kind="import_error", exc_type=type(exc).__name__,
                          message=_text(exc), traceback=_learner_frames(exc, path))
        header["seconds"] = time.perf_counter() - started
        _send(self.res_fd, "L", header)

    def run(self, slot: int, cases: list[dict]) -> None:
        import warnings

        import numpy as np

        fn = self.functions[slot]
        for case in cases:
            x = np.frombuffer(bytes.fromhex(case["x"]), dtype="<f4").astype(np.float32)
            seed, features = case["seed"], case["features"]
            if case["float_args"]:
                seed, features = float(seed), float(features)
            scale = float.fromhex(case["scale"])
            header: dict[str, Any] = {"i": case["i"]}
            data = b""
            self.built = []
            started = time.perf_counter()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    arg = x if self._to_array is None else self._to_array(x)
                    result = fn(seed, arg, features, scale)
                    header["type"] = f"{type(result).__module__}.{type(result).__qualname__}"
                    header["status"], data = self._encode(result, header)
                self._record_warnings(caught)
                self._check_purity(case["i"])
            except SystemExit as exc:
                header.update(status="exit", exc_type="SystemExit", message=_text(exc.code))
            except MemoryError as exc:
                header.update(status="memory", exc_type="MemoryError", message=_text(exc))
            except BaseException as exc:  # noqa: BLE001 - the learner's exception is a finding
                header.update(status="error", exc_type=type(exc).__name__, message=_text(exc),
                              traceback=_learner_frames(exc, self.paths[slot]))
            finally:
                self.built = None
            header["seconds"] = time.perf_counter() - started
            _send(self.res_fd, "R", header, data)
        _send(self.res_fd, "E", {
            "slot": slot, "warnings": list(self.warnings.values()),
            "purity": {"checked": self.purity_checked, "impure_cases": self.impure}})

    @staticmethod
    def _encode(result: Any, header: dict) -> tuple[str, bytes]:
        import numpy as np

        if not hasattr(result, "shape") or not hasattr(result, "dtype"):
            return "type", b""  # lists, floats, States, Modules: not the array asked for
        try:
            arr = np.asarray(result)
            header["dtype"], header["shape"] = str(arr.dtype), [int(d) for d in arr.shape]
            if arr.size > MAX_ELEMENTS or arr.ndim > 4:
                return "type", b""
            if arr.dtype.kind in "fiub" or arr.dtype.name in ("bfloat16", "float16"):
                return "array", np.ascontiguousarray(arr.astype("<f8")).tobytes()
        except Exception as exc:  # noqa: BLE001
            header["message"] = _text(exc)
        return "type", b""


def _hello(cache_dir: str) -> dict:
    """The environment, measured before any solution code runs."""
    import numpy as np

    info: dict[str, Any] = {"python": sys.version.split()[0], "numpy": np.__version__,
                            "pid": os.getpid()}
    try:
        import jax
        import flax
        from flax import nnx  # noqa: F401 - imported ahead of the solution, on purpose

        info.update(jax=jax.__version__, flax=flax.__version__,
                    prng_mode="partitionable" if jax.config.jax_threefry_partitionable
                    else "legacy", x64=bool(jax.config.jax_enable_x64))
        if cache_dir:
            try:
                jax.config.update("jax_compilation_cache_dir", cache_dir)
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
                info["cache"] = True
            except Exception:  # noqa: BLE001 - an old JAX without the cache still works
                info["cache"] = False
    except Exception as exc:  # noqa: BLE001
        info.update(jax=None, flax=None, error=_text(exc))
    return info


def _limit(memory_mb: int, cpu_s: int) -> None:
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


def _confine(writable: list[str]) -> dict:
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


def _serve(req_fd: int, res_fd: int, hello: dict) -> int:
    """One child's session: the hello frame, then requests until ``bye`` or end of input."""
    requests = os.fdopen(req_fd, "rb", buffering=0)
    driver = _Driver(res_fd)
    _send(res_fd, "H", hello)
    driver.bind_jax()
    driver.install_purity_probe()
    while True:
        try:
            message = _read_request(requests)
        except EOFError:
            return 0
        if message["op"] == "load":
            driver.load(int(message["slot"]), message["path"])
        elif message["op"] == "run":
            driver.run(int(message["slot"]), message["cases"])
        else:
            return 0


def _worker(k: int, specs: list[tuple[int, int, int, int, str]], status_fd: int,
            hello: dict, cache_dir: str) -> int:
    """Child ``k`` right after the fork: its own session, pipes, directory and environment."""
    os.setsid()  # the parent kills the child's whole process group
    os.close(status_fd)  # only the zygote reports exits
    for j, spec in enumerate(specs):
        if j != k:
            for fd in spec[:4]:
                os.close(fd)  # a sibling's pipes held open here would hide its exit
    req_fd, res_fd, out_fd, err_fd, scratch = specs[k]
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    os.chdir(scratch)
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # recomputed from TMPDIR on next use
    confinement = _confine([scratch, cache_dir])
    return _serve(req_fd, res_fd, dict(hello, pid=os.getpid(), confinement=confinement))


def main(argv: list[str]) -> int:
    """The zygote: ``_child.py STATUS_FD CACHE_DIR MEMORY_MB CPU_S SPEC...``.

    Each ``SPEC`` is ``REQ_FD,RES_FD,OUT_FD,ERR_FD,SCRATCH`` for one child. The zygote sets
    the limits (inherited by every child), imports JAX and Flax (:func:`_hello`), forks the
    children and reports, as JSON lines on ``STATUS_FD``, each child's ``pid`` and then its
    wait ``status``. It runs no solution code itself.
    """
    import warnings

    status_fd, cache_dir = int(argv[1]), argv[2]
    _limit(int(argv[3]), int(argv[4]))
    specs = []
    for spec in argv[5:]:
        req, res, out, err, scratch = spec.split(",", 4)
        specs.append((int(req), int(res), int(out), int(err), scratch))
    _subreaper()
    hello = _hello(cache_dir)
    # Objects from before the fork go to a permanent generation: the children's collections
    # would otherwise write to every one of them and copy most of the shared pages.
    gc.freeze()
    children: dict[int, int] = {}
    for k in range(len(specs)):
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a process with threads: the only other thread
            # here is NumPy's idle BLAS pool, which forks safely (pthread_atfork); JAX has not
            # started its backend, and with it its threads, yet.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 70  # EX_SOFTWARE: the child's own set-up failed (shown on its stderr)
            try:
                code = _worker(k, specs, status_fd, hello, cache_dir)
            except BaseException:  # noqa: BLE001 - never return into the zygote's loop
                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = k
        _status(status_fd, {"worker": k, "pid": pid})
    for spec in specs:
        for fd in spec[:4]:
            os.close(fd)  # the parent sees a child's exit as the end of its pipes
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        worker = children.pop(pid, None)
        # What a child left behind goes with it, before its exit is reported: the parent then
        # finds the child's output pipes closed (an orphan could otherwise hold them open).
        _end_orphans(keep=set(children))
        if worker is not None:
            _status(status_fd, {"worker": worker, "status": status})
    _end_orphans(keep=set())
    return 0


def _subreaper() -> bool:
    """Makes the zygote the parent of every process a child leaves behind (Linux >= 3.4).

    A solution can escape its child's process group (``setsid`` after a double fork); the
    kernel then hands the orphan to the nearest subreaper, this zygote, instead of init, so
    :func:`_end_orphans` can end it with the check.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _end_orphans(keep: set[int]) -> None:
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


def _status(fd: int, message: dict) -> None:
    _write_all(fd, (json.dumps(message) + "\n").encode("ascii"))


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the zygote holds JAX and Flax: a full interpreter shutdown only costs time
