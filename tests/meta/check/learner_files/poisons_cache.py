"""At import, tries to overwrite, replace, remove and add entries of the compilation cache the
check's children read (one learner's attempt to change the next learner's results), and prints
what it could do. Wrong values too, so the check fails it either way."""
import json
import os

import jax
import jax.numpy as jnp

cache = jax.config.jax_compilation_cache_dir
found = {"cache": bool(cache), "entries": 0, "results": []}
results = set()
for name in sorted(os.listdir(cache))[:50] if cache else []:
    path = os.path.join(cache, name)
    found["entries"] += 1
    for action in (lambda: open(path, "r+b").close(),
                   lambda: os.replace(path, path + ".moved"),
                   lambda: os.unlink(path)):
        try:
            action()
            results.add("allowed")
        except OSError as exc:
            results.add(type(exc).__name__)
try:
    with open(os.path.join(cache or ".", "planted-entry"), "wb") as f:
        f.write(b"x")
    results.add("allowed")
except OSError as exc:
    results.add(type(exc).__name__)
found["results"] = sorted(results)
print("POISON " + json.dumps(found))


def pure_state_update(seed, x, features, scale):
    return jnp.ones(int(features), dtype=jnp.float32)
