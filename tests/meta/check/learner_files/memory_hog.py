import numpy as np

def pure_state_update(seed, x, features, scale):
    return np.ones((1 << 40,), dtype=np.uint8)
