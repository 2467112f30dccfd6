"""The statement's recipe: ``nnx.split``, ``jax.tree_util.tree_map`` over the state, ``nnx.merge``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from implementations._contract import validate
from implementations.nnx_compat import (build, initial_params, merge, prng_mode_context, split,
                                        to_output)

__all__ = ["initial_params", "pure_state_update"]


def pure_state_update(seed, x, features, scale, *, prng_mode=None) -> np.ndarray:
    """See ``implementations._contract``."""
    inputs = validate(seed, x, features, scale, prng_mode)
    factor = inputs.scale
    with prng_mode_context(inputs.prng_mode):
        model = build(inputs)
        graphdef, state = split(model)  # nnx.split (a Module method in Flax 0.8.2)
        new_state = jax.tree_util.tree_map(lambda leaf: leaf * factor, state)
        merged = merge(graphdef, new_state)  # nnx.merge
        return to_output(merged(jnp.asarray(inputs.x)))
