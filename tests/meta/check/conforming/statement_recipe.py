"""The statement's recipe: split, tree_map over the whole state, merge, call."""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(in_features=x.shape[-1], out_features=int(features), rngs=nnx.Rngs(int(seed)))
    graphdef, state = nnx.split(model)
    new_state = jax.tree_util.tree_map(lambda leaf: leaf * float(scale), state)
    merged = nnx.merge(graphdef, new_state)
    return merged(x)
