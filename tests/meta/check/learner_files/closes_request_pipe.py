"""At import, closes the request pipe's read end and forges the driver's LOAD frame (ok): the
grader's next write finds no reader, which must be a protocol fail, not a grader error."""
import fcntl
import gc
import json
import os
import struct

driver = next(o for o in gc.get_objects() if type(o).__name__ == "_Driver")
for fd in range(3, 64):
    try:
        if fd != driver.res_fd and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                os.close(fd)  # the request pipe (the only pipe this process reads)
    except OSError:
        pass
payload = json.dumps({"slot": 0, "ok": True}).encode()
os.write(driver.res_fd, b"NNXC" + struct.pack(">cII", b"L", len(payload), 0) + payload)


def pure_state_update(seed, x, features, scale):
    return None
