"""At import, writes a forged load result (an unknown kind, deeply nested names) to every
inherited descriptor, ahead of the driver's own."""
import json
import os
import struct

nested = "x"
for _ in range(500):
    nested = [nested]
payload = json.dumps({"slot": 0, "ok": False, "kind": "pass", "names": [nested],
                      "message": nested}).encode()
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2):
    try:
        os.write(fd, b"NNXC" + struct.pack(">cII", b"L", len(payload), 0) + payload)
    except OSError:
        pass


def pure_state_update(seed, x, features, scale):
    return x
