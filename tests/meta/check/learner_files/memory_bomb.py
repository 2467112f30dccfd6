"""Allocates memory a hundred MiB at a time until the address-space limit stops it, in every
call: each attempt takes seconds, so the check must not run it more than once."""


def pure_state_update(seed, x, features, scale):
    hoard = []
    while True:
        hoard.append(bytearray(100 << 20))
