"""You truncated scale with int(): scale is a float (2.5 stays 2.5; inf and nan are valid scales); use float(scale).
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * int(scale), state)
    return nnx.merge(graphdef, new_state)(x)
