"""At import, forges the driver's LOAD frame (ok) on the result pipe, shrinks the request pipe
to one page, and never returns: the grader's write of the run request must have a deadline
too, or it would block for ever once the request exceeds the pipe."""
import fcntl
import gc
import json
import os
import struct
import time

F_SETPIPE_SZ = 1031
driver = next(o for o in gc.get_objects() if type(o).__name__ == "_Driver")
res_fd = driver.res_fd
for fd in range(3, 64):
    try:
        if fd != res_fd and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)  # the request pipe's read end: one page
    except OSError:
        pass
payload = json.dumps({"slot": 0, "ok": True}).encode()
os.write(res_fd, b"NNXC" + struct.pack(">cII", b"L", len(payload), 0) + payload)
while True:
    time.sleep(3600)


def pure_state_update(seed, x, features, scale):
    return None
