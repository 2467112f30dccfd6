"""Conforming, but at import it tries to harm the grader, and prints what it could do.

Every attempt is harmless if it succeeds (signal 0 only probes; the writes are empty), so a
host without the confinement does not hurt the test run: the test then fails on this output.
"""
import json
import os

import jax
from flax import nnx


def _parent(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


zygote = os.getppid()
grader = _parent(zygote)
found = {}
for name, pid in (("signal_zygote", zygote), ("signal_grader", grader)):
    try:
        os.kill(pid, 0)
        found[name] = "allowed"
    except OSError as exc:
        found[name] = type(exc).__name__
outside = os.path.join(os.path.dirname(os.getcwd()), "nnx-harm-grader-probe")
cache = jax.config.jax_compilation_cache_dir or os.getcwd()
run_cache = os.path.join(os.path.dirname(cache), "nnx-harm-grader-probe")  # the run's cache
for name, path in (("write_grader_stdout", f"/proc/{grader}/fd/1"),
                   ("write_outside", outside), ("write_run_cache", run_cache),
                   ("write_own_cache", os.path.join(cache, "nnx-harm-grader-probe")),
                   ("write_cwd", "probe.txt")):
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("")
        found[name] = "allowed"
    except OSError as exc:
        found[name] = type(exc).__name__
print("HARM " + json.dumps(found))


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda p: p * float(scale), state))(x)
