"""You converted the seed through a float: int(float(seed)) loses integers above 2**53; use int(seed) (a float seed is always integer-valued).
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(float(seed))))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
