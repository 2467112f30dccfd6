"""At import, starts a chain of 150 processes, each the child of the last, each in a session
of its own, each sleeping: killing one level at a time would leave most of them. The first
prints the host pid of every link (/proc is the host's, even in a PID namespace)."""
import os
import time

LINKS = 150
read, write = os.pipe()
if os.fork() == 0:
    os.close(read)
    for depth in range(LINKS):
        os.setsid()
        os.write(write, (os.readlink("/proc/self") + "\n").encode())
        if depth == LINKS - 1 or os.fork() != 0:
            os.close(write)
            time.sleep(600)
            os._exit(0)
else:
    os.close(write)
    pids = []
    with os.fdopen(read) as stream:
        for line in stream:
            pids.append(line.strip())
            if len(pids) == LINKS:
                break
    print("CHAIN " + " ".join(pids), flush=True)


def pure_state_update(seed, x, features, scale):
    return x
