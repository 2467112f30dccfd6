"""Broken on purpose: transform=lambda o: o.astype(np.float64)."""

import numpy as np  # noqa: F401

from tests.meta.differential.broken._base import initial_params, recipe  # noqa: F401


def pure_state_update(seed, x, features, scale, *, prng_mode=None):
    return recipe(seed, x, features, scale, prng_mode, transform=lambda o: o.astype(np.float64))
