"""Broken on purpose: seed_shift=1."""

import numpy as np  # noqa: F401

from tests.meta.differential.broken._base import initial_params, recipe  # noqa: F401


def pure_state_update(seed, x, features, scale, *, prng_mode=None):
    return recipe(seed, x, features, scale, prng_mode, seed_shift=1)
