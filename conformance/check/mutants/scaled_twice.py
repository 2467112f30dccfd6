"""You applied the update twice (the parameters end up times scale squared): apply tree_map once.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    once = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    twice = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), once)
    return nnx.merge(graphdef, twice)(x)
