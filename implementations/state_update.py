"""The selective-update pattern: ``nnx.state(model, nnx.Param)``, ``tree_map``, ``nnx.update``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from implementations._contract import validate
from implementations.nnx_compat import (
    build, initial_params, nnx, prng_mode_context, state, to_output, update)

__all__ = ["initial_params", "pure_state_update"]


def pure_state_update(seed, x, features, scale, *, prng_mode=None) -> np.ndarray:
    """See ``implementations._contract``."""
    inputs = validate(seed, x, features, scale, prng_mode)
    factor = inputs.scale
    with prng_mode_context(inputs.prng_mode):
        model = build(inputs)  # fresh, so updating it in place leaves nobody else's model changed
        params = state(model, nnx.Param)  # nnx.state (Module.extract in Flax 0.8.2)
        update(model, jax.tree_util.tree_map(lambda leaf: leaf * factor, params))  # nnx.update
        return to_output(model(jnp.asarray(inputs.x)))
