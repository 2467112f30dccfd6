"""Broken on purpose: outputs right, but ``initial_params`` reports a kernel 1 ULP off."""

import numpy as np

from implementations._contract import params_dict
from implementations.split_merge import initial_params as _right
from implementations.split_merge import pure_state_update  # noqa: F401


def initial_params(seed, in_features, features, *, prng_mode=None):
    p = _right(seed, in_features, features, prng_mode=prng_mode)
    k = p["kernel"].copy()
    k.flat[-1] = np.nextafter(k.flat[-1], np.float32(np.inf))
    return params_dict(k, p["bias"])
