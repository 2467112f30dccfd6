"""You changed the initializer: nnx.Linear's default kernel_init is lecun_normal, not xavier_normal; build the Linear with its defaults.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)),
                       kernel_init=nnx.initializers.xavier_normal())
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
