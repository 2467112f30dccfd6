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

import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from _common import (Results, best, fma_setting, interleaved_ratio,  # noqa: E402
                     jax_kernel_baseline, parser, split_merge_baseline)


def main() -> None:
    flags = parser(__doc__)
    flags.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = flags.parse_args()

    import jax
    import jax.numpy as jnp
    import torch
    from flax import nnx

    from implementations import _keys, nnx_compat, torch_port
    from implementations import _torch_float32 as F
    from implementations import host_float_variant
    from implementations._torch_threefry import random_bits

    numpy_port = None
    if importlib.util.find_spec("implementations.numpy_port") is not None:
        from implementations import numpy_port
    if args.threads:
        torch.set_num_threads(args.threads)
    fused = fma_setting(args)
    results = Results()
    record = results.record

    print(f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"mode={args.mode}, fma={fused}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    init = nnx.initializers.lecun_normal()
    seed = 0
    key_data = _keys.nnx_param_key(seed, False)
    shapes = [(256, 512)] + ([] if args.skip_large else [(4096, 4096)])
    with nnx_compat.prng_mode_context(args.mode):
        for shape in shapes:
            tag = f"{shape[0]}x{shape[1]}"
            n = shape[0] * shape[1]
            big = n > 10**6
            rep, num = (3, 1) if big else (7, 5)
            expected, jax_call = jax_kernel_baseline(results, tag, shape, key_data, num, rep)

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
            cold = (fused, host_float_variant()) not in F._TABLES
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
            interleaved_ratio(
                results, f"kernel {tag} torch initial_params / jax jit",
                lambda: torch_port.initial_params(seed, *shape, prng_mode=args.mode, fma=fused),
                jax_call, num, 3 if big else 7)

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
            split_merge_baseline(results, tag, x, n_out, args.mode, 10)
    results.dump(args.json)


if __name__ == "__main__":
    main()
