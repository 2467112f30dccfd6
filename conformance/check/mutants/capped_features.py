"""You capped the width at 64 outputs and padded the rest: build nnx.Linear with exactly int(features) outputs, however many.
"""
import jax
import jax.numpy as jnp
from flax import nnx

MAX_WIDTH = 64


def pure_state_update(seed, x, features, scale):
    width = min(int(features), MAX_WIDTH)
    model = nnx.Linear(x.shape[-1], width, rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    y = nnx.merge(graphdef, new_state)(x)
    return jnp.pad(y, (0, int(features) - width))
