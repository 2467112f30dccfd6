"""Conforming values but IMPURE: it scales the model it built in place (nnx.update on the original); reported by the purity probe, never graded.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    nnx.update(model, jax.tree_util.tree_map(lambda leaf: leaf * float(scale), nnx.state(model)))
    return model(x)
