"""Benchmark of the pure-NumPy port against JAX: kernel generation and per-call overhead.

Kernel generation (lecun_normal of nnx.Linear) for 256x512 and 4096x4096: the port's direct
float path, its z-table path (cold: including the one-time 2**23-entry table build; warm),
and JAX jitted and eager. Per-call overhead of ``initial_params`` and ``pure_state_update``
for small shapes, with JAX's ``split_merge`` for reference. Times are the minimum over repeats
(the machine is shared), in milliseconds.

Usage: python benchmarks/bench_numpy_port.py [--mode partitionable|legacy] [--fma auto|on|off]
           [--skip-large] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def best(fn, number: int, repeat: int) -> tuple[float, float]:
    """Minimum wall and process-CPU seconds per call (CPU counts every thread of the process;
    on a shared machine it is the steadier figure for the single-threaded port)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        walls.append((time.perf_counter() - wall) / number)
        cpus.append((time.process_time() - cpu) / number)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="partitionable", choices=("partitionable", "legacy"))
    parser.add_argument("--fma", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--skip-large", action="store_true", help="leave out 4096x4096")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from implementations import _keys, _nnx, numpy_port, split_merge

    fused = {"auto": _keys.host_fma_default(), "on": True, "off": False}[args.fma]
    results: dict[str, float] = {}

    def record(name: str, seconds) -> None:
        wall, cpu = seconds if isinstance(seconds, tuple) else (seconds, None)
        results[name] = wall * 1e3
        text = f"{name:50s} wall {wall * 1e3:10.3f} ms"
        if cpu is not None:
            results[name + " (cpu)"] = cpu * 1e3
            text += f"   cpu {cpu * 1e3:10.3f} ms"
        print(text, flush=True)

    print(f"jax {jax.__version__}, numpy {np.__version__}, mode={args.mode}, fma={fused}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, load average {os.getloadavg()}")
    init = nnx.initializers.lecun_normal()
    key_data = _keys.nnx_param_key(0, False)
    shapes = [(256, 512)] + ([] if args.skip_large else [(4096, 4096)])
    with _nnx.prng_mode_context(args.mode):
        for shape in shapes:
            tag = f"{shape[0]}x{shape[1]}"
            big = shape[0] * shape[1] > 10**6
            rep, num = (3, 1) if big else (7, 5)
            jkey = jax.random.wrap_key_data(np.array(key_data, np.uint32))
            jitted = jax.jit(lambda k, s=shape: init(k, s, jnp.float32))
            jitted(jkey).block_until_ready()
            record(f"kernel {tag} jax jit",
                   best(lambda: jitted(jkey).block_until_ready(), num, rep))
            init(jkey, shape, jnp.float32).block_until_ready()
            record(f"kernel {tag} jax eager", best(
                lambda: init(jkey, shape, jnp.float32).block_until_ready(), num, rep))
            expected = np.asarray(jitted(jkey))
            if not big:
                record(f"kernel {tag} numpy direct", best(
                    lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=False),
                    num, rep))
            numpy_port._TABLES.pop(fused, None)
            start = time.perf_counter()
            got = numpy_port.kernel(key_data, *shape, args.mode, fused, table=True)
            record(f"kernel {tag} numpy table, cold (builds table)", time.perf_counter() - start)
            record(f"kernel {tag} numpy table, warm", best(
                lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=True),
                num, rep))
            same = got.tobytes() == expected.tobytes()
            print(f"  {tag}: port kernel bit-identical to jitted JAX: {same}")
            results[f"kernel {tag} identical"] = float(same)
        numpy_port._TABLES.clear()  # small calls below run the direct path, as a fresh process
        numpy_port._DIRECT_WORK.clear()

        x_small = {n: np.linspace(-1, 1, n, dtype=np.float32) for n in (1, 3, 17, 64)}
        for n_in, n_out in ((1, 1), (3, 2), (17, 33), (64, 10)):
            tag = f"{n_in}x{n_out}"
            x = x_small[n_in]
            record(f"call {tag} numpy initial_params", best(
                lambda: numpy_port.initial_params(7, n_in, n_out, prng_mode=args.mode,
                                                  fma=fused), 200, 7))
            record(f"call {tag} numpy pure_state_update", best(
                lambda: numpy_port.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode,
                                                     fma=fused), 200, 7))
            split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode)
            record(f"call {tag} jax split_merge (eager nnx)", best(
                lambda: split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode),
                20, 5))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
