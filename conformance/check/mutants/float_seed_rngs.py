"""You passed the seed to nnx.Rngs as given: the grader passes seed as a float, and nnx.Rngs rejects floats; use nnx.Rngs(int(seed)).
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(seed))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
