"""You returned zeros for a zero scale without applying the model: 0 * inf is nan, so an infinite or nan x still gives nan; scale every leaf and apply the model for every scale.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    if float(scale) == 0.0:
        return jnp.zeros(int(features), dtype=jnp.float32)
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
