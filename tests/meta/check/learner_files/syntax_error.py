def pure_state_update(seed, x, features, scale)
    return x
