"""Writes a result frame whose JSON header nests 30000 levels deep to every inherited
descriptor: more than any JSON parser's recursion allows."""
import os
import struct


def pure_state_update(seed, x, features, scale):
    payload = b"[" * 30000 + b"]" * 30000
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2):
        try:
            os.write(fd, b"NNXC" + struct.pack(">cII", b"R", len(payload), 0) + payload)
        except OSError:
            pass
    return x
