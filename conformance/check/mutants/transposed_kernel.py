"""You used the kernel transposed: nnx.Linear's kernel has shape (in_features, out_features), so the output is x @ kernel, not x @ kernel.T.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    merged = nnx.merge(graphdef, new_state)
    return x @ merged.kernel[...].T + merged.bias[...]
