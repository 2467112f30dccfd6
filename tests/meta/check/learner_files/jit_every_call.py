"""Conforming, in a common style that builds its ``jax.jit`` inside the function (a new
function object at every call), and prints, for each call, how many programs JAX compiled
during it (compile requests the compilation cache did not answer): ``COMPILED L,F N M`` for
the N-th call of shape ``(len(x), features) = (L, F)`` in this process."""
import collections

import jax
import jax.numpy as jnp
from flax import nnx

counts = collections.Counter()
calls = collections.Counter()


def listener(event, **kwargs):
    counts[event] += 1


jax.monitoring.register_event_listener(listener)


def misses():
    return (counts["/jax/compilation_cache/compile_requests_use_cache"]
            - counts["/jax/compilation_cache/cache_hits"])


def pure_state_update(seed, x, features, scale):
    before = misses()
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, x, s):
        return nnx.merge(graphdef, jax.tree_util.tree_map(lambda leaf: leaf * s, state))(x)

    y = forward(state, x, jnp.float32(scale))
    shape = f"{x.shape[-1]},{int(features)}"
    calls[shape] += 1
    print(f"COMPILED {shape} {calls[shape]} {misses() - before}", flush=True)
    return y
