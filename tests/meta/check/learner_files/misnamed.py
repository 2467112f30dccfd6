def pure_state_updates(seed, x, features, scale):
    return x
