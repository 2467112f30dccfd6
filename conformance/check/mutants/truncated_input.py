"""You used only the first 64 entries of x: build nnx.Linear(len(x), ...) and apply the merged model to all of x, however long it is.
"""
import jax
from flax import nnx

BUFFER = 64


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    merged = nnx.merge(graphdef, new_state)
    return x[:BUFFER] @ merged.kernel[...][:BUFFER] + merged.bias[...]
