"""You scaled the output instead of the parameters: multiply every state leaf (kernel AND bias) by scale before calling the model; with scale=inf the bias term 0*inf is nan, which scaling the output never produces.

A learner who notices that the update is linear and returns ``scale * model(x)``.
"""
import jax
from flax import nnx


def pure_state_update(seed, x, features, scale):
    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))
    return model(x) * float(scale)
