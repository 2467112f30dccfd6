"""At import, tries to overwrite, replace, remove and add entries of the shared compilation
cache that every check's children read, through the links of its own cache directory and by
the shared files' own paths (one learner's attempt to change the next learner's results), and
prints what it could do. Wrong values too, so the check fails it either way."""
import json
import os

import jax
import jax.numpy as jnp

cache = jax.config.jax_compilation_cache_dir
found = {"cache": bool(cache), "entries": 0, "results": []}
results = set()


def attempt(action):
    try:
        action()
        results.add("allowed")
    except OSError as exc:
        results.add(type(exc).__name__)


# The configured cache may be the child's own directory of links to the shared entries:
# attack the shared files behind them, through the links and by their own paths.
shared = set()
for name in sorted(os.listdir(cache))[:50] if cache else []:
    path = os.path.join(cache, name)
    target = os.path.realpath(path)
    shared.add(os.path.dirname(target))
    found["entries"] += 1
    attempt(lambda: open(path, "r+b").close())  # writes through a link reach the target
    for action in (lambda: open(target, "r+b").close(),
                   lambda: os.replace(target, target + ".moved"),
                   lambda: os.unlink(target)):
        attempt(action)
for directory in sorted(shared) or [cache or "."]:
    def plant(directory=directory):
        with open(os.path.join(directory, "planted-entry"), "wb") as f:
            f.write(b"x")
    attempt(plant)
found["shared"] = sorted(shared)
found["results"] = sorted(results)
print("POISON " + json.dumps(found))


def pure_state_update(seed, x, features, scale):
    return jnp.ones(int(features), dtype=jnp.float32)
