"""You ignored the seed: build the model with nnx.Rngs(int(seed)), not a constant seed.
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
