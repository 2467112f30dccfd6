"""Returns a float64 array of 2**20 elements from every call: wrong in shape, and far larger than
any output asked for. The grader must neither carry it nor keep it per case."""
import numpy as np


def pure_state_update(seed, x, features, scale):
    return np.zeros(1 << 20)
