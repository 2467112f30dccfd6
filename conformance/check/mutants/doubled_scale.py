"""You scaled by 2 * scale: multiply every leaf by scale exactly once.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * (2 * float(scale)), state)
    return nnx.merge(graphdef, new_state)(x)
