"""Broken on purpose: outputs off by a relative 1e-4 (far outside float32 rounding)."""

import numpy as np

from tests.meta.differential.broken._base import initial_params, recipe  # noqa: F401


def pure_state_update(seed, x, features, scale, *, prng_mode=None):
    return recipe(seed, x, features, scale, prng_mode,
                  transform=lambda o: (o * np.float32(1.0001)).astype(np.float32))
