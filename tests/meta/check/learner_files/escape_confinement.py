"""Conforming, but at import it probes every way out of its child the kernel should close, and
prints what it could do. Each probe is harmless if it succeeds (a mode set to what it already
is, a connection refused, a file in its own directory), so an unconfined host does not hurt the
test run: the test then fails on this output."""
import importlib.util
import json
import os
import socket

import jax
from flax import nnx


SYSV_KEY = 0x4E4E5843  # "NNXC": the test looks for it in the host's IPC namespace


def _try(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return type(exc).__name__
    except ImportError as exc:
        return type(exc).__name__


def _grader():
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
                if entry.isdigit() and b"_child.py" not in cmdline and (
                        b"pytest" in cmdline or b"nnx-conformance" in cmdline):
                    return int(entry)
        except OSError:
            continue
    return None


def _udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"x", ("127.0.0.1", 9))


def _sysv_segment():
    """A System V shared memory segment with a fixed key, left behind on purpose."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.shmget(SYSV_KEY, 4096, 0o1666) < 0:  # IPC_CREAT | 0666
        raise OSError(ctypes.get_errno(), "shmget")


def _root_only_files():
    """How many root-only files of /etc and block devices of /dev it could open."""
    opened = 0
    for folder in ("/etc", "/dev"):
        for entry in os.scandir(folder):
            try:
                info = entry.stat(follow_symlinks=False)
                private = info.st_mode & 0o077 == 0 and entry.is_file(follow_symlinks=False)
                if private or (folder == "/dev" and os.path.stat.S_ISBLK(info.st_mode)):
                    open(entry.path, "rb").close()
                    opened += 1
            except OSError:
                continue
    return opened


def _big_file():
    with open("big.bin", "wb") as f:
        for _ in range(100):  # 100 MiB, beyond the 64 MiB per-file limit
            f.write(b"\0" * (1 << 20))


interpreter = os.path.realpath(os.__file__)
mode = os.stat(interpreter).st_mode & 0o7777
spec = importlib.util.find_spec("implementations")
package = spec.submodule_search_locations[0] if spec else ""
repo = os.path.dirname(package)
grader = _grader()
found = {
    "chmod_outside": _try(lambda: os.chmod(interpreter, mode)),
    "utime_outside": _try(lambda: os.utime(interpreter)),
    "grader_environ": _try(lambda: open(f"/proc/{grader}/environ", "rb").read(1)),
    "tcp_connect": _try(lambda: socket.create_connection(("127.0.0.1", 9), timeout=2)),
    "tcp_bind": _try(lambda: socket.socket().bind(("127.0.0.1", 0))),
    "udp_send": _try(_udp),
    "sysv_segment": _try(_sysv_segment),
    "root_only_opened": _root_only_files(),
    "raise_priority": _try(lambda: os.nice(-1)),
    "file_over_limit": _try(_big_file),
    "import_answer_key": _try(lambda: __import__("implementations.numpy_port")),
    "read_answer_key": _try(lambda: open(os.path.join(package, "numpy_port.py")).read(1)),
    "read_repo_tests": _try(lambda: open(os.path.join(
        repo, "tests", "meta", "check", "conforming", "statement_recipe.py")).read(1)),
    "read_shadow": _try(lambda: open("/etc/shadow").read(1)),
    "write_own_dir": _try(lambda: open("probe.txt", "w").close()),
    "found_grader": grader is not None,
    "found_package": bool(package),
}
print("ESCAPE " + json.dumps(found))


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda p: p * float(scale), state))(x)
