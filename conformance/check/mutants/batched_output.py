"""You returned a batch of one (shape (1, features)): call merged(x) on the 1-D x and return a 1-D array.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x[None, :])
