"""nnx.Rngs given a typed key jax.random.key(seed): the same key nnx.Rngs(seed) makes.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(jax.random.key(int(seed))))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state))(x)
