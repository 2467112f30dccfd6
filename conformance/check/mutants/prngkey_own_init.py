"""You initialised the kernel yourself from jax.random.PRNGKey(seed): nnx.Linear derives its parameter key from nnx.Rngs(seed) (it folds in a stream counter), so let nnx.Linear initialise itself.
"""
import jax
import jax.numpy as jnp
from flax import nnx


def pure_state_update(seed, x, features, scale):
    key = jax.random.PRNGKey(int(seed))
    kernel = nnx.initializers.lecun_normal()(key, (x.shape[-1], int(features)))
    return x @ (kernel * float(scale)) + jnp.zeros(int(features)) * float(scale)
