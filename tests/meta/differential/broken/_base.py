"""Builds broken variants of the statement's recipe from one correct core."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from implementations import validate
from implementations.nnx_compat import prng_mode_context
from implementations.split_merge import initial_params  # noqa: F401 - re-exported


def recipe(seed, x, features, scale, prng_mode=None, *, seed_shift=0, scale_params=True,
           scale_output=False, bias_too=True, transform=None):
    inputs = validate(seed, x, features, scale, prng_mode)
    s = inputs.scale
    with prng_mode_context(inputs.prng_mode):
        model = nnx.Linear(len(inputs.x), inputs.features, rngs=nnx.Rngs(inputs.seed + seed_shift))
        graphdef, state = nnx.split(model)
        if scale_params:
            def scaled(path, leaf):
                is_bias = any("bias" in str(k) for k in path)
                return leaf if (is_bias and not bias_too) else leaf * s
            state = jax.tree_util.tree_map_with_path(scaled, state)
        out = nnx.merge(graphdef, state)(jnp.asarray(inputs.x))
        if scale_output:
            out = out * s
    out = np.asarray(out)
    return transform(out) if transform else out
