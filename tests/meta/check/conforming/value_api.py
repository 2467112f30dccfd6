"""The .value API: read kernel and bias through .value, write a new model through .value.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    merged = nnx.clone(model)
    merged.kernel.value = model.kernel.value * float(scale)
    merged.bias.value = model.bias.value * float(scale)
    return merged(x)
