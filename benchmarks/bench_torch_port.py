"""Benchmark of the PyTorch port against jitted JAX and the NumPy port.

Kernel generation (nnx.Linear's lecun_normal kernel) for 256x512 and 4096x4096: the port's
random bits alone, its direct float path, its z-table path (cold: including the one-time
2**23-entry table build; warm), the NumPy port's table path, and JAX jitted and eager. Every
port kernel is checked bit for bit against jitted JAX. Then the per-call overhead of
``initial_params`` and ``pure_state_update`` for small shapes. Times are the minimum over
repeats (the machine is shared), in milliseconds.

Usage: python benchmarks/bench_torch_port.py [--mode partitionable|legacy] [--fma auto|on|off]
           [--skip-large] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import timeit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def best(fn, number: int, repeat: int) -> float:
    """Minimum seconds per call over ``repeat`` rounds of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="partitionable", choices=("partitionable", "legacy"))
    parser.add_argument("--fma", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--skip-large", action="store_true", help="leave out 4096x4096")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    import torch
    from flax import nnx

    from implementations import _keys, _nnx, split_merge, torch_port
    from implementations import _torch_float32 as F
    from implementations._torch_threefry import random_bits

    numpy_port = None
    if importlib.util.find_spec("implementations.numpy_port") is not None:
        from implementations import numpy_port
    if args.threads:
        torch.set_num_threads(args.threads)
    fused = {"auto": _keys.host_fma_default(), "on": True, "off": False}[args.fma]
    results: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        results[name] = seconds * 1e3
        print(f"{name:52s} {seconds * 1e3:10.3f} ms", flush=True)

    print(f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"mode={args.mode}, fma={fused}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    init = nnx.initializers.lecun_normal()
    seed = 0
    key_data = _keys.nnx_param_key(seed, False)
    shapes = [(256, 512)] + ([] if args.skip_large else [(4096, 4096)])
    with _nnx.prng_mode_context(args.mode):
        for shape in shapes:
            tag = f"{shape[0]}x{shape[1]}"
            n = shape[0] * shape[1]
            big = n > 10**6
            rep, num = (3, 1) if big else (7, 5)
            jkey = jax.random.wrap_key_data(np.array(key_data, np.uint32))
            jitted = jax.jit(lambda k, s=shape: init(k, s, jnp.float32))
            jitted(jkey).block_until_ready()
            record(f"kernel {tag} jax jit",
                   best(lambda: jitted(jkey).block_until_ready(), num, rep))
            init(jkey, shape, jnp.float32).block_until_ready()
            record(f"kernel {tag} jax eager", best(
                lambda: init(jkey, shape, jnp.float32).block_until_ready(), num, rep))
            expected = np.asarray(jitted(jkey)).tobytes()

            def port_kernel(table: bool, s=shape) -> np.ndarray:
                return torch_port.kernel_tensor(seed, *s, args.mode, fused,
                                                use_table=table).numpy()

            record(f"kernel {tag} torch random bits only", best(
                lambda: random_bits(key_data, n, args.mode), num, rep))
            if not big:
                record(f"kernel {tag} torch direct (no table)",
                       best(lambda: port_kernel(False), 1, 3))
                same = port_kernel(False).tobytes() == expected
                print(f"  {tag}: torch direct bit-identical to jitted JAX: {same}")
                results[f"kernel {tag} torch direct identical"] = float(same)
            cold = fused not in F._TABLES
            start = time.perf_counter()
            got = port_kernel(True)
            label = "cold (builds the table)" if cold else "first call"
            record(f"kernel {tag} torch table, {label}", time.perf_counter() - start)
            record(f"kernel {tag} torch initial_params (warm)", best(
                lambda: torch_port.initial_params(seed, *shape, prng_mode=args.mode, fma=fused),
                num, rep))
            same = got.tobytes() == expected
            print(f"  {tag}: torch table bit-identical to jitted JAX: {same}")
            results[f"kernel {tag} torch table identical"] = float(same)
            if numpy_port is not None:
                numpy_port.kernel(key_data, *shape, args.mode, fused, table=True)  # warm
                record(f"kernel {tag} numpy table, warm", best(
                    lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=True),
                    num, rep))
            ratio = results[f"kernel {tag} torch initial_params (warm)"] / results[
                f"kernel {tag} jax jit"]
            print(f"  {tag}: torch initial_params / jax jit = {ratio:.2f}x")
            results[f"kernel {tag} torch/jax ratio"] = ratio

        # Small shapes (below TABLE_MIN elements) take the direct float path in a fresh process
        # and gather from the table once it exists, as here.
        for n_in, n_out in ((1, 1), (3, 2), (17, 33)):
            tag = f"{n_in}x{n_out}"
            x = np.linspace(-1, 1, n_in, dtype=np.float32)
            record(f"call {tag} torch initial_params", best(
                lambda: torch_port.initial_params(7, n_in, n_out, prng_mode=args.mode,
                                                  fma=fused), 50, 5))
            record(f"call {tag} torch kernel, direct float path", best(
                lambda: torch_port.kernel_tensor(7, n_in, n_out, args.mode, fused,
                                                 use_table=False), 50, 5))
            record(f"call {tag} torch pure_state_update", best(
                lambda: torch_port.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode,
                                                     fma=fused), 50, 5))
            if numpy_port is not None:
                record(f"call {tag} numpy pure_state_update", best(
                    lambda: numpy_port.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode,
                                                         fma=fused), 50, 5))
            jkey = jax.random.wrap_key_data(np.array(_keys.nnx_param_key(7, False), np.uint32))
            jitted = jax.jit(lambda k, s=(n_in, n_out): init(k, s, jnp.float32))
            jitted(jkey).block_until_ready()
            record(f"call {tag} jax jit kernel", best(
                lambda: jitted(jkey).block_until_ready(), 50, 5))
            split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode)
            record(f"call {tag} jax split_merge (eager nnx)", best(
                lambda: split_merge.pure_state_update(7, x, n_out, 2.0, prng_mode=args.mode),
                10, 5))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
