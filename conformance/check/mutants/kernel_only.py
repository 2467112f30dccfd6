"""You scaled only the kernel: the statement multiplies EVERY state leaf, the bias too (0 * inf is nan, so the bias matters for infinite scales).

A learner who updates ``kernel`` by hand and leaves ``bias`` alone.
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    state["kernel"] = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state["kernel"])
    return nnx.merge(graphdef, state)(x)
