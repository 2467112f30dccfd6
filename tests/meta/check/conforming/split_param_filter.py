"""nnx.split(model, nnx.Param, ...): scale the Param slice, merge both parts back.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), params)
    return nnx.merge(graphdef, params, rest)(x)
