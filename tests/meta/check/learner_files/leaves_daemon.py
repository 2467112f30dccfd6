"""Conforming, but at import it leaves a daemon behind: a double fork and its own session, so
that killing the child's process group does not reach it. It prints its pid as the host sees
it (/proc is the host's, even in a PID namespace) and sleeps."""
import os
import time

import jax
from flax import nnx

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print(f"DAEMON {os.readlink('/proc/self')}", flush=True)
        time.sleep(120)
    os._exit(0)


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda p: p * float(scale), state))(x)
