"""Writes a fake frame to every inherited descriptor, then returns nothing useful."""
import os


def pure_state_update(seed, x, features, scale):
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2):
        try:
            os.write(fd, b"NNXCR\x00\x00\x00\x02\x00\x00\x00\x00{}")
        except OSError:
            pass
    return None
