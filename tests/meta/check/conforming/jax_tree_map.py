"""jax.tree.map (the newer spelling of jax.tree_util.tree_map).
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    graphdef, state = nnx.split(nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed))))
    return nnx.merge(graphdef, jax.tree.map(lambda leaf: leaf * float(scale), state))(x)
