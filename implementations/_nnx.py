"""What the two nnx implementations share: the PRNG-mode context and portable state access.

Written against every Flax release that has ``nnx.split`` (0.8.2 ... 0.12.x): state entries are
``VariableState`` up to 0.10 and ``Variable`` from 0.11, and ``.value`` warns from 0.12.1, so
values are read as pytree leaves by path, never through ``.value``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

import jax
import numpy as np
from flax import nnx

from implementations._contract import Inputs, params_dict, validate_init


@contextlib.contextmanager
def prng_mode_context(mode: str) -> Iterator[None]:
    """Runs the body with ``jax_threefry_partitionable`` set for ``mode``."""
    wanted = mode == "partitionable"
    manager = getattr(jax, "threefry_partitionable", None)
    if manager is not None:
        with manager(wanted):
            yield
        return
    previous = jax.config.jax_threefry_partitionable  # JAX releases without the context manager
    jax.config.update("jax_threefry_partitionable", wanted)
    try:
        yield
    finally:
        jax.config.update("jax_threefry_partitionable", previous)


def build(inputs: Inputs) -> nnx.Linear:
    """The statement's step 1 (call inside :func:`prng_mode_context`)."""
    return nnx.Linear(int(inputs.x.shape[0]), int(inputs.features),
                      rngs=nnx.Rngs(int(inputs.seed)))


def named_leaves(tree) -> Mapping[str, np.ndarray]:
    """``{"kernel": ..., "bias": ...}`` from a Linear's state (or the module), by key path."""
    found = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
        for name in ("kernel", "bias"):
            if name in names:
                found[name] = np.asarray(leaf)
    return found


def to_output(y) -> np.ndarray:
    return np.asarray(y).reshape(-1)


def initial_params(seed, in_features, features, *, prng_mode=None) -> Mapping[str, np.ndarray]:
    """The Linear's state before any update (see ``implementations._contract``)."""
    seed, n_in, n_out, mode = validate_init(seed, in_features, features, prng_mode)
    with prng_mode_context(mode):
        model = nnx.Linear(n_in, n_out, rngs=nnx.Rngs(seed))
        leaves = named_leaves(nnx.state(model))
    return params_dict(leaves["kernel"], leaves["bias"])
