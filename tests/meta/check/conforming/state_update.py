"""nnx.state(model, nnx.Param), tree_map, nnx.update on a fresh model, call it.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    params = nnx.state(model, nnx.Param)
    fresh = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    nnx.update(fresh, jax.tree_util.tree_map(lambda leaf: leaf * float(scale), params))
    return fresh(x)
