"""You folded seeds between 2**31 and 2**32 into the int32 range: pass int(seed) to nnx.Rngs unchanged, every integer in [-2**63, 2**63) is a valid seed.
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    seed = int(seed)
    if 2**31 <= seed < 2**32:  # "seeds must fit in an int32"
        seed -= 2**31
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(seed))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return nnx.merge(graphdef, new_state)(x)
