"""Conforming, but slow: one second of sleep in every call (each call within its timeout, all
of them together far beyond any budget)."""
import time

import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    time.sleep(1.0)
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda p: p * float(scale), state))(x)
