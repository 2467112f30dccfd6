"""You swapped in_features and out_features: nnx.Linear(in_features=len(x), out_features=int(features)).
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(int(features), x.shape[-1], rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
