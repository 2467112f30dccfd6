"""Writes the first bytes of a result frame to every inherited descriptor, then sleeps: a read
that only waits for the first byte would wait for the rest for ever."""
import os
import time


def pure_state_update(seed, x, features, scale):
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2):
        try:
            os.write(fd, b"NNXC")
        except OSError:
            pass
    time.sleep(3600)
