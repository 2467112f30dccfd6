"""Writes a well-formed error result whose message nests 900 levels deep (parseable JSON, but
deeper than a recursive walk of the header may go) to every inherited descriptor."""
import os
import struct


def pure_state_update(seed, x, features, scale):
    payload = ('{"i": 0, "status": "error", "message": ' + "[" * 900 + '"x"' + "]" * 900
               + "}").encode()
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2):
        try:
            os.write(fd, b"NNXC" + struct.pack(">cII", b"R", len(payload), 0) + payload)
        except OSError:
            pass
    return x
