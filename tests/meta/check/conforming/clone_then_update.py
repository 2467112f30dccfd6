"""nnx.clone the model, then nnx.update the clone with the scaled state (the original stays as built).
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    merged = nnx.clone(model)
    nnx.update(merged, jax.tree_util.tree_map(lambda leaf: leaf * float(scale), nnx.state(model)))
    return merged(x)
