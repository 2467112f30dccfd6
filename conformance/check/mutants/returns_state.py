"""You returned the scaled state: a state pytree is not callable; merge it (nnx.merge(graphdef, new_state)) and return merged(x).

The statement's pitfall "forgetting to merge".
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
