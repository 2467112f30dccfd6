"""What the two nnx implementations share: the PRNG-mode context and portable state access.

Written against every Flax release from 0.8.2 to 0.12.x (the version matrix, ``tox.ini``):

* Flax 0.8.2 and 0.8.3 ship nnx as ``flax.experimental.nnx``; ``flax.nnx`` exists from 0.8.4.
* Flax 0.8.2 has no ``nnx.split``/``nnx.state``/``nnx.update``: the same operations are the
  methods ``Module.split()`` (which returns ``(state, graphdef)``, the other order),
  ``Module.extract(filter)`` and ``Module.update(state)``, and ``GraphDef.merge(state)``.
  :func:`split`, :func:`merge`, :func:`state` and :func:`update` pick whichever exists.
* State entries are ``Variable`` copies in 0.8.2, ``VariableState`` from 0.8.3 to 0.10, and the
  model's own ``Variable`` objects from 0.11; ``.value`` warns from 0.12.1. So values are read as
  pytree leaves by path, never through ``.value``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

import jax
import numpy as np

try:
    from flax import nnx
except ImportError:  # Flax 0.8.2 and 0.8.3
    from flax.experimental import nnx

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


def split(model):
    """``nnx.split(model)`` as ``(graphdef, state)``, on every Flax in the matrix."""
    if hasattr(nnx, "split"):
        return nnx.split(model)
    state_, graphdef = model.split()  # Flax 0.8.2: a method, returning the state first
    return graphdef, state_


def merge(graphdef, state_):
    """``nnx.merge(graphdef, state)``, on every Flax in the matrix."""
    if hasattr(nnx, "split"):  # nnx.merge exists in 0.8.2 too, but takes (state, graphdef)
        return nnx.merge(graphdef, state_)
    return graphdef.merge(state_)


def state(model, *filters):
    """``nnx.state(model, *filters)``, on every Flax in the matrix."""
    if hasattr(nnx, "state"):
        return nnx.state(model, *filters)
    return model.extract(*filters) if filters else model.get_state()


def update(model, new_state) -> None:
    """``nnx.update(model, new_state)``, on every Flax in the matrix."""
    if hasattr(nnx, "update"):
        nnx.update(model, new_state)
    else:
        model.update(new_state)


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
        leaves = named_leaves(state(model))
    return params_dict(leaves["kernel"], leaves["bias"])
