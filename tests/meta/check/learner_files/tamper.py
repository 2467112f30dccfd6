"""Wrong values, while monkeypatching numpy, printing a fake PASS and writing junk to every fd."""
import os
import sys

import numpy as np
import jax.numpy as jnp

np.testing.assert_allclose = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
print("PASS  conforms on 212 cases")
print('{"schema": "nnx-conformance/check/1", "ok": true}')


def pure_state_update(seed, x, features, scale):
    return jnp.zeros(int(features), dtype=jnp.float32)
