"""What the port benchmarks share: timing, their common flags, and the JAX baselines."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

import numpy as np


def best(fn: Callable[[], object], number: int, repeat: int) -> tuple[float, float]:
    """Minimum wall and process-CPU seconds per call over ``repeat`` rounds of ``number`` calls
    (CPU counts every thread of the process; on a shared machine it is the steadier figure)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        walls.append((time.perf_counter() - wall) / number)
        cpus.append((time.process_time() - cpu) / number)
    return min(walls), min(cpus)


def parser(doc: str) -> argparse.ArgumentParser:
    """The flags every port benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--mode", default="partitionable", choices=("partitionable", "legacy"))
    p.add_argument("--fma", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--skip-large", action="store_true", help="leave out 4096x4096")
    p.add_argument("--json", help="also write the results here")
    return p


def fma_setting(args: argparse.Namespace) -> bool:
    from implementations import _keys

    return {"auto": _keys.host_fma_default(), "on": True, "off": False}[args.fma]


class Results(dict):
    """Milliseconds by name, printed as they are recorded."""

    def record(self, name: str, seconds: float | tuple[float, float]) -> None:
        wall, cpu = seconds if isinstance(seconds, tuple) else (seconds, None)
        self[name] = wall * 1e3
        text = f"{name:52s} wall {wall * 1e3:10.3f} ms"
        if cpu is not None:
            self[name + " (cpu)"] = cpu * 1e3
            text += f"   cpu {cpu * 1e3:10.3f} ms"
        print(text, flush=True)

    def dump(self, path: str | None) -> None:
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self, handle, indent=2)


def jax_kernel_baseline(results: Results, tag: str, shape: tuple[int, int], key_data,
                        number: int, repeat: int) -> tuple[bytes, Callable[[], object]]:
    """Times nnx's kernel initialiser jitted and eager.

    Returns:
        The jitted kernel's bytes, and a call of the jitted initialiser (for
        :func:`interleaved_ratio`).
    """
    import jax
    import jax.numpy as jnp
    from flax import nnx

    init = nnx.initializers.lecun_normal()
    jkey = jax.random.wrap_key_data(np.array(key_data, np.uint32))
    jitted = jax.jit(lambda k: init(k, shape, jnp.float32))
    jitted(jkey).block_until_ready()
    results.record(f"kernel {tag} jax jit",
                   best(lambda: jitted(jkey).block_until_ready(), number, repeat))
    init(jkey, shape, jnp.float32).block_until_ready()
    results.record(f"kernel {tag} jax eager", best(
        lambda: init(jkey, shape, jnp.float32).block_until_ready(), number, repeat))
    return np.asarray(jitted(jkey)).tobytes(), lambda: jitted(jkey).block_until_ready()


def interleaved_ratio(results: Results, name: str, port: Callable[[], object],
                      baseline: Callable[[], object], number: int, rounds: int = 5) -> float:
    """``port`` time over ``baseline`` time, measured in alternating rounds (best of 3 each) so
    that both see the same machine; records and returns the median round's ratio.

    On this shared 2-core machine a single measurement of either side moves by 2-3x for
    seconds at a time (another tenant, OpenMP or XLA threads still spinning); a ratio taken in
    one round, both sides back to back, is much steadier than a ratio of two separate minima.
    """
    ratios = []
    for _ in range(rounds):
        base = best(baseline, number, 3)[0]
        ratios.append(best(port, number, 3)[0] / base)
    ratio = statistics.median(ratios)
    results[name] = ratio
    results[name + " (min)"], results[name + " (max)"] = min(ratios), max(ratios)
    print(f"  {name}: median {ratio:.2f}x over {rounds} interleaved rounds "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    return ratio


def split_merge_baseline(results: Results, tag: str, x: np.ndarray, n_out: int, mode: str,
                         number: int) -> None:
    """Times the statement's eager nnx recipe on one small shape."""
    from implementations import split_merge

    split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=mode)
    results.record(f"call {tag} jax split_merge (eager nnx)", best(
        lambda: split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=mode), number, 5))
