"""You assigned into a JAX array in place (JAX arrays are immutable): build new leaves with tree_map instead.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    for leaf in jax.tree_util.tree_leaves(state):
        leaf[...] = leaf * float(scale)
    return nnx.merge(graphdef, state)(x)
