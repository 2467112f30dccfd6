"""You converted the output to float64: return merged(x) as it is, a float32 array.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    import numpy as np
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    return np.asarray(nnx.merge(graphdef, new_state)(x), dtype=np.float64)
