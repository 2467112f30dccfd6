"""The child side of ``nnx-conformance check``: imports a solution and calls it, nothing more.

Run by :mod:`conformance.check.sandbox._parent` as ``python -I _child.py STATUS_FD JAX_CONFIG
MEMORY_MB CPU_S SPEC...`` (see :func:`main`): a zygote that sets the limits, imports JAX and
Flax once, and forks one child per ``SPEC``, each with its own session, pipes and scratch
directory. It runs without the grader's packages on ``sys.path`` and imports only the standard
library and its two sibling modules (the wire format, the confinement) at module level; JAX and
Flax are imported before the solution (the solution would import them anyway, and the hello
frame must describe them before any untrusted code runs). Frames are those of ``_protocol``.

Nothing the solution prints is read: stdout and stderr are only shown to the learner, trimmed.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import sys
import time
import traceback
from typing import Any

if __package__:  # imported as a module of the grader (tests, documentation)
    from conformance.check.sandbox import _confine
    from conformance.check.sandbox import _protocol as wire
else:  # run as the zygote's script: the siblings are imported by file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _confine  # type: ignore[no-redef]
    import _protocol as wire  # type: ignore[no-redef]

    del sys.path[0]


def _text(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - a learner's __str__ may raise anything
        text = "<unprintable>"
    return text if len(text) <= wire.MAX_TEXT else text[:wire.MAX_TEXT] + "..."


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
            if key not in self.warnings and len(self.warnings) < wire.MAX_WARNINGS:
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
        wire.send_frame(self.res_fd, wire.LOAD, header)

    def run(self, slot: int, cases: list[dict]) -> None:
        import warnings

        import numpy as np

        fn = self.functions[slot]
        for case in cases:
            index, seed, features, scale, x_f32 = wire.decode_case(case)
            x = np.frombuffer(x_f32, dtype="<f4").astype(np.float32)
            header: dict[str, Any] = {"i": index}
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
                self._check_purity(index)
            except SystemExit as exc:
                header.update(status=wire.EXIT, exc_type="SystemExit", message=_text(exc.code))
            except MemoryError as exc:
                header.update(status=wire.MEMORY, exc_type="MemoryError", message=_text(exc))
            except BaseException as exc:  # noqa: BLE001 - the learner's exception is a finding
                header.update(status=wire.ERROR, exc_type=type(exc).__name__, message=_text(exc),
                              traceback=_learner_frames(exc, self.paths[slot]))
            finally:
                self.built = None
            header["seconds"] = time.perf_counter() - started
            wire.send_frame(self.res_fd, wire.RESULT, header, data)
        wire.send_frame(self.res_fd, wire.END, {
            "slot": slot, "warnings": list(self.warnings.values()),
            "purity": {"checked": self.purity_checked, "impure_cases": self.impure}})

    @staticmethod
    def _encode(result: Any, header: dict) -> tuple[str, bytes]:
        import numpy as np

        if not hasattr(result, "shape") or not hasattr(result, "dtype"):
            return wire.OTHER_TYPE, b""  # lists, floats, States, Modules: not the array asked for
        try:
            arr = np.asarray(result)
            header["dtype"], header["shape"] = str(arr.dtype), [int(d) for d in arr.shape]
            if arr.ndim > 4:
                return wire.OTHER_TYPE, b""
            if arr.size > wire.MAX_ELEMENTS:
                header["elided"] = True  # its shape alone is wrong: no need to send it
                return wire.ARRAY, b""
            if arr.dtype.kind in "fiub" or arr.dtype.name in ("bfloat16", "float16"):
                return wire.ARRAY, np.ascontiguousarray(arr.astype("<f8")).tobytes()
        except Exception as exc:  # noqa: BLE001
            header["message"] = _text(exc)
        return wire.OTHER_TYPE, b""


def _hello(jax_config: dict[str, Any]) -> dict:
    """The environment, measured before any solution code runs; applies ``jax_config`` (the
    compilation cache's settings, from the grader's config) first."""
    import numpy as np

    info: dict[str, Any] = {"python": sys.version.split()[0], "numpy": np.__version__,
                            "pid": os.getpid()}
    try:
        import jax
        import flax
        from flax import nnx  # noqa: F401 - imported ahead of the solution, on purpose

        try:  # the jaxlib decides the last bits of the kernels (the grader's reference follows)
            from jaxlib import version as jaxlib_version

            info["jaxlib"] = jaxlib_version.__version__
        except Exception:  # noqa: BLE001
            info["jaxlib"] = None
        info.update(jax=jax.__version__, flax=flax.__version__,
                    prng_mode="partitionable" if jax.config.jax_threefry_partitionable
                    else "legacy", x64=bool(jax.config.jax_enable_x64))
        info["shared_ir_context"] = _share_ir_context()
        if jax_config:
            info["cache"] = "jax_compilation_cache_dir" in _apply(jax, jax_config)
    except Exception as exc:  # noqa: BLE001
        info.update(jax=None, flax=None, error=_text(exc))
    return info


def _apply(jax: Any, settings: dict[str, Any]) -> list[str]:
    """Applies ``jax.config`` ``settings`` (``compilation_cache_config``'s), skipping those the
    installed JAX does not have (an old JAX without the cache still works); the names
    applied."""
    applied = []
    for name, value in settings.items():
        try:
            jax.config.update(name, value)
            applied.append(name)
        except Exception:  # noqa: BLE001 - AttributeError for an unknown option
            pass
    return applied


def _share_ir_context() -> bool:
    """Makes JAX lower every program of this process in one MLIR context; whether it did.

    JAX makes a fresh context, loading its dialects, for every program it lowers (about 3 ms
    each): a check's child lowers each eager operation of the solution once per shape, and
    with the compilation cache warm this was a third of its first calls' time (a profile of
    the 217 calls; figures in ``benchmarks/README.md``). One context per process holds the
    same dialects, and
    the programs, their cache keys and their compiled code are the same. A child lives for one
    solution, so what the shared context accumulates is bounded. Done in the zygote, which
    lowers nothing, so every child starts with an empty cache. Only where
    ``make_ir_context`` is the module-level factory every lowering calls; left alone
    elsewhere.
    """
    try:
        import functools

        from jax._src.interpreters import mlir

        factory = mlir.make_ir_context
        if not callable(factory) or hasattr(factory, "cache_info"):
            return False
        mlir.make_ir_context = functools.lru_cache(maxsize=1)(factory)
        return True
    except Exception:  # noqa: BLE001 - an internal that moved: lower as JAX does by default
        return False


def _serve(req_fd: int, res_fd: int, hello: dict) -> int:
    """One child's session: the hello frame, then requests until ``bye`` or end of input."""
    requests = os.fdopen(req_fd, "rb", buffering=0)
    driver = _Driver(res_fd)
    wire.send_frame(res_fd, wire.HELLO, hello)
    driver.bind_jax()
    driver.install_purity_probe()
    while True:
        try:
            message = wire.read_request(requests)
            if message["op"] == wire.OP_LOAD:
                slot = int(message["slot"])
                path = os.path.join(os.getcwd(), wire.solution_name(slot))
                with open(path, "wb") as copy:
                    copy.write(wire.decode_source(message["source"]))
                driver.load(slot, path)
            elif message["op"] == wire.OP_RUN:
                driver.run(int(message["slot"]), message["cases"])
            else:
                return 0
        except EOFError:
            return 0
        except OSError:  # the solution closed or broke a channel it does not own
            return wire.CHANNEL_LOST


def _needed_reads(config: dict[str, Any]) -> list[str]:
    """What a solution's process must read besides its scratch directory: the interpreter and
    its packages (but never a directory of ``sys.path`` that holds the grader's own packages,
    such as a source checkout, unless it is a ``site-packages`` whose grader packages stay
    denied), the compilation cache and the system's files."""
    hidden = config.get("hidden", [])
    needed = [sys.base_prefix, sys.prefix, sys.exec_prefix, *_confine.SYSTEM_READS]
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        holds_grader = any(_confine.beneath(os.path.realpath(h), os.path.realpath(entry))
                           for h in hidden)
        if not holds_grader or os.path.basename(entry) in ("site-packages", "dist-packages"):
            needed.append(entry)
    if config.get("cache"):
        needed.append(config["cache"])
    return needed


def _in_namespace(channels: tuple[int, ...]) -> bool:
    """Moves the rest of this child into PID, network, IPC and mount namespaces of its own
    (when root may); whether it did.

    This process (the keeper) stays outside and forks the namespace's init, which forks the
    process that serves the grader and returns here as it; init reaps every orphan and, when
    the server ends, reports its wait status to the keeper and exits, and the kernel kills
    whatever is left in the namespace. The keeper ends the way the server did, so the zygote
    and the grader see the server's end. Neither holds the grader's channels.
    """
    if not _confine.new_namespaces():
        return False
    status_r, status_w = os.pipe()
    init = os.fork()
    if init:
        _drop_channels(channels, status_r, status_w, keep=status_r)
        data = os.read(status_r, 64)
        _, status = os.waitpid(init, 0)
        _confine.mirror_exit(int(data) if data.strip().isdigit() else status)
    _confine.die_with_parent()  # (its process group dies with the keeper's in any case)
    server = os.fork()
    if server:
        _drop_channels(channels, status_r, status_w, keep=status_w)
        status = _confine.reap_as_init(server)
        wire.write_all(status_w, str(status).encode("ascii"))
        os._exit(0)
    os.close(status_r)
    os.close(status_w)
    return True


def _drop_channels(channels: tuple[int, ...], *fds: int, keep: int) -> None:
    """Closes the grader's channels and stdout/stderr here (so that the server's end is the
    end of its pipes) and every descriptor of ``fds`` but ``keep``."""
    for fd in (*channels, *fds):
        if fd != keep:
            os.close(fd)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _worker(k: int, specs: dict[int, tuple[int, int, int, int, str]], status_fd: int,
            hello: dict, config: dict[str, Any], zygote_fds: tuple[int, ...] = ()) -> int:
    """Child ``k`` right after the fork: its own session, pipes, directory, environment,
    cgroups, namespaces, scratch file system and user, then Landlock, then the session with
    the grader (see ``docs/check.md``, Isolation). ``zygote_fds`` (a pool's control socket
    and wake-up pipe) are closed first: no solution may ask the zygote for anything."""
    os.setsid()  # the parent kills the child's whole process group
    _confine.die_with_parent()  # with the zygote, which goes with the grader
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    for fd in (status_fd, *zygote_fds):
        os.close(fd)  # only the zygote reports exits and takes requests
    for j, spec in specs.items():
        if j != k:
            for fd in spec[:4]:
                if fd >= 0:
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
    pid = os.getpid()  # as the zygote and the grader know it (the server's own may be 2)
    memory_mb = _confine.join_cgroups(pid, int(config.get("memory_mb", 4096)))
    namespace = _in_namespace((req_fd, res_fd))
    scratch_mb = _confine.private_scratch(scratch, _confine.child_user(pid)) if namespace \
        else None
    os.chdir(scratch)  # into the scratch file system mounted over the directory, if any
    needed, readable = config["reads"]
    user = _confine.drop_privileges(scratch, [*needed, scratch], int(config.get("nproc", 512)),
                                    pid)
    private_cache = _private_cache(scratch, config)
    confinement = _confine.landlock([scratch], [*readable, scratch])
    confinement.update(user, namespaces=namespace, fsize_mb=_confine.FSIZE_MB,
                       scratch_mb=scratch_mb, memory_mb=memory_mb, private_cache=private_cache)
    return _serve(req_fd, res_fd, dict(hello, pid=pid, confinement=confinement))


#: The child's own compilation cache, in its scratch directory (see :func:`_private_cache`).
PRIVATE_CACHE = ".nnx-jax-cache"


def _private_cache(scratch: str, config: dict[str, Any]) -> bool:
    """Gives this child a compilation cache of its own that also holds the shared one's
    programs; whether it did (run as the child's user, before Landlock).

    The shared cache stays read-only: only the trusted warm-up writes what children load. But
    a solution that builds its ``jax.jit`` inside ``pure_state_update`` (a common style: a new
    function object at every call) made JAX compile the same program again at every call, a
    compilation cache being the only place JAX finds a program compiled for another function
    object. Here the cache is a directory of the scratch file system holding a symbolic link
    to each of the shared cache's entries, with every compiled program kept: the shared
    programs are read through the links (writing through one reaches the shared file, which
    Landlock forbids), and what the solution compiles is compiled once per shape and then
    loaded, by this child alone; it goes with the scratch directory.
    """
    shared = config.get("cache")
    jax = sys.modules.get("jax")  # the zygote's import (``_hello``), if it succeeded
    if not shared or jax is None or "jax_compilation_cache_dir" not in config.get("jax", {}):
        return False
    private = os.path.join(scratch, PRIVATE_CACHE)
    try:
        os.mkdir(private, 0o700)
        with os.scandir(shared) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    os.symlink(entry.path, os.path.join(private, entry.name))
    except OSError:
        return False  # JAX still reads the shared cache, read-only, as before
    settings = {"jax_compilation_cache_dir": private,
                "jax_persistent_cache_min_compile_time_secs": 0.0}
    return len(_apply(jax, settings)) == len(settings)  # else it keeps no program


def main(argv: list[str]) -> int:
    """The zygote: ``_child.py STATUS_FD CONFIG MEMORY_MB CPU_S SPEC...``.

    ``CONFIG`` is a JSON object, or ``-`` to read it from stdin: ``jax``, the ``jax.config``
    settings to apply (the compilation cache's, read-only for the children, or ``{}``);
    ``cache``, the cache's directory; ``hidden``, paths no child may read (the grader's
    packages, the solutions' folders); ``nproc``, each child's process limit; for a pool
    (``SandboxPool``), ``control``, the socket on which it is asked for more children (see
    :func:`_serve_pool`), and ``home``, its working directory. ``MEMORY_MB`` bounds each process and,
    where the grader is root, each child's processes together (a cgroup). Each ``SPEC`` is
    ``REQ_FD,RES_FD,OUT_FD,ERR_FD,SCRATCH`` for one child. The zygote sets the limits
    (inherited by every child), imports JAX and Flax (:func:`_hello`), forks the children and
    reports, as JSON lines on ``STATUS_FD``, each child's ``pid`` and then its wait
    ``status``. It runs no solution code itself. If the grader dies, the zygote ends its
    children, removes their scratch directories and exits (the children die with it).
    """
    import warnings

    _confine.die_with_parent(signal.SIGTERM)
    # The config comes on stdin when it is "-" (a class's hidden folders can outgrow the
    # 128 KiB the kernel allows one argument); stdin is then the null device again.
    text = sys.stdin.read() if argv[2] == "-" else argv[2]
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    status_fd, config = int(argv[1]), json.loads(text)
    config["memory_mb"] = int(argv[3])
    _confine.set_limits(int(argv[3]), int(argv[4]))
    specs: dict[int, tuple[int, int, int, int, str]] = {}
    for k, spec in enumerate(argv[5:]):
        req, res, out, err, scratch = spec.split(",", 4)
        specs[k] = (int(req), int(res), int(out), int(err), scratch)
    children: dict[int, int] = {}

    def grader_died(*_: Any) -> None:
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        _confine.end_orphans(keep=set(), seconds=2.0)
        for pid in children:
            _confine.remove_cgroups(pid)
        for spec in specs.values():
            shutil.rmtree(spec[4], ignore_errors=True)
        if config.get("home"):
            shutil.rmtree(config["home"], ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, grader_died)
    _confine.become_subreaper()
    hello = _hello(config.get("jax", {}))
    # What the children may read, walked once here (each adds its own scratch directory).
    needed = _needed_reads(config)
    config["reads"] = (needed, _confine.readable_roots(
        needed, [*config.get("hidden", []), *_confine.SECRETS]))
    # Objects from before the fork go to a permanent generation: the children's collections
    # would otherwise write to every one of them and copy most of the shared pages.
    gc.freeze()
    control = config.get("control")
    wake_r, wake_w = os.pipe() if control is not None else (-1, -1)
    zygote_fds = (control, wake_r, wake_w) if control is not None else ()

    def fork(k: int) -> None:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a process with threads: the only other thread
            # here is NumPy's idle BLAS pool, which forks safely (pthread_atfork); JAX has not
            # started its backend, and with it its threads, yet.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 70  # EX_SOFTWARE: the child's own set-up failed (shown on its stderr)
            try:
                code = _worker(k, specs, status_fd, hello, config, zygote_fds)
            except BaseException:  # noqa: BLE001 - never return into the zygote's loop
                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = k
        _status(status_fd, {"worker": k, "pid": pid})
        for fd in specs[k][:4]:
            os.close(fd)  # the parent sees a child's exit as the end of its pipes
        specs[k] = (-1, -1, -1, -1, specs[k][4])  # their numbers may be reused

    for k in list(specs):
        fork(k)
    if control is not None:
        _serve_pool(control, wake_r, wake_w, specs, fork, lambda: _reap(children, status_fd))
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        _reaped(children, status_fd, pid, status)
    _confine.end_orphans(keep=set())
    return 0


def _serve_pool(control: int, wake_r: int, wake_w: int, specs: dict, fork: Any,
                reap: Any) -> None:
    """A pool's zygote: forks a child for each request on the ``control`` socket (a JSON
    ``{"worker": k, "scratch": path}`` with the child's four pipe ends attached), reaping
    children as they end, until the grader closes the socket."""
    import select
    import socket

    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    sock = socket.socket(fileno=control)
    while True:
        reap()
        ready = select.select([sock, wake_r], [], [])[0]
        if wake_r in ready:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        if sock in ready:
            try:
                message, fds, _, _ = socket.recv_fds(sock, 65536, 8)
            except OSError:
                message, fds = b"", []
            if not message:
                for fd in fds:
                    os.close(fd)
                break  # the grader closed the pool
            try:
                request = json.loads(message)
                k, scratch = int(request["worker"]), str(request["scratch"])
                if len(fds) != 4 or k in specs:
                    raise ValueError(request)
            except (ValueError, KeyError, TypeError):
                for fd in fds:
                    os.close(fd)
                continue
            specs[k] = (*fds, scratch)
            fork(k)
    signal.set_wakeup_fd(-1)
    sock.close()
    for fd in (wake_r, wake_w):
        os.close(fd)


def _reap(children: dict[int, int], status_fd: int) -> None:
    """Reaps every child that has ended, without blocking."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _reaped(children, status_fd, pid, status)


def _reaped(children: dict[int, int], status_fd: int, pid: int, status: int) -> None:
    worker = children.pop(pid, None)
    # What a child left behind goes with it, before its exit is reported: the parent then
    # finds the child's output pipes closed (an orphan could otherwise hold them open).
    _confine.end_orphans(keep=set(children))
    if worker is not None:
        oom = _confine.out_of_memory(pid)
        _confine.remove_cgroups(pid)
        _status(status_fd, {"worker": worker, "status": status, "oom": oom})


def _status(fd: int, message: dict) -> None:
    wire.write_all(fd, (json.dumps(message) + "\n").encode("ascii"))


def warm(argv: list[str]) -> int:
    """``_child.py --warm CONFIG SHAPES``: the trusted warm-up of the compilation cache.

    Runs the statement's recipe once on every ``(len(x), features)`` of ``SHAPES`` (a JSON
    list) in the children's own environment, with the cache of ``CONFIG`` (a JSON object of
    ``jax.config`` settings) writable: the only process that writes what the children read.
    No solution code runs here. Exits 0 if every shape ran.
    """
    import numpy as np

    import jax
    from flax import nnx

    _apply(jax, json.loads(argv[2]))

    def recipe(seed: Any, x: Any, features: Any, scale: Any) -> Any:
        model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
        graphdef, state = nnx.split(model)
        new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
        return nnx.merge(graphdef, new_state)(x)

    failed = 0
    for n, features in json.loads(argv[3]):
        try:
            x = jax.device_put(np.linspace(-1.0, 1.0, n, dtype=np.float32))
            np.asarray(recipe(7, x, features, 0.5))
        except Exception:  # noqa: BLE001 - a Flax without this API: that shape stays cold
            traceback.print_exc()
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    code = warm(sys.argv) if sys.argv[1:2] == ["--warm"] else main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the zygote holds JAX and Flax: a full interpreter shutdown only costs time
