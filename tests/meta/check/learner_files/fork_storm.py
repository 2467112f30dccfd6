"""At import, forks sleeping processes until the kernel refuses (or 2000, to stay bounded where
nothing limits it), and prints how many it got and its user."""
import os
import time

count = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    count += 1
print(f"STORM {count} {os.getuid()}", flush=True)


def pure_state_update(seed, x, features, scale):
    return x
