"""Conforming, but at import it tries to harm the grader, and prints what it could do.

It finds the grader and the check's other processes the way an attacker would, by their
command lines in /proc, then tries to signal them and to write their stdout, the check's
shared cache, a directory outside its own and its own directory. Every attempt is harmless if
it succeeds (signal 0 only probes; the writes are empty), so a host without the confinement
does not hurt the test run: the test then fails on this output.
"""
import json
import os

import jax
from flax import nnx


def _targets():
    """Pids (as /proc shows them) of the grader and of the check's other processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"_child.py" in cmdline or b"pytest" in cmdline or b"nnx-conformance" in cmdline:
            found.append(int(entry))
    return found


def _try(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return type(exc).__name__


targets = _targets()
found = {"targets": len(targets)}
found["signal_others"] = sorted({_try(lambda p=p: os.kill(p, 0)) for p in targets})
found["write_others_stdout"] = sorted({_try(lambda p=p: open(f"/proc/{p}/fd/1", "a").close())
                                       for p in targets})
outside = os.path.join(os.path.dirname(os.getcwd()), "nnx-harm-grader-probe")
# The configured cache is the child's own directory of links: the check's shared cache is
# where they lead, and the run's cache beside it.
cache = jax.config.jax_compilation_cache_dir or os.getcwd()
links = sorted(e.path for e in os.scandir(cache) if e.is_symlink()) if os.path.isdir(cache) \
    else []
shared = os.path.dirname(os.path.realpath(links[0])) if links else cache
found["shared_cache"] = shared
run_cache = os.path.join(os.path.dirname(shared), "nnx-harm-grader-probe")
for name, path in (("write_outside", outside), ("write_run_cache", run_cache),
                   ("write_shared_cache", os.path.join(shared, "nnx-harm-grader-probe")),
                   ("write_cwd", "probe.txt")):
    found[name] = _try(lambda path=path: open(path, "a", encoding="utf-8").close())
print("HARM " + json.dumps(found))


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda p: p * float(scale), state))(x)
