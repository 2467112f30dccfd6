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

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from _common import (Results, best, fma_setting, interleaved_ratio,  # noqa: E402
                     jax_kernel_baseline, parser, split_merge_baseline)


def main() -> None:
    args = parser(__doc__).parse_args()

    import jax

    from implementations import _keys, host_float_variant, nnx_compat, numpy_port

    fused = fma_setting(args)
    results = Results()
    record = results.record

    print(f"jax {jax.__version__}, numpy {np.__version__}, mode={args.mode}, fma={fused}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, load average {os.getloadavg()}")
    key_data = _keys.nnx_param_key(0, False)
    shapes = [(256, 512)] + ([] if args.skip_large else [(4096, 4096)])
    with nnx_compat.prng_mode_context(args.mode):
        for shape in shapes:
            tag = f"{shape[0]}x{shape[1]}"
            big = shape[0] * shape[1] > 10**6
            rep, num = (3, 1) if big else (7, 5)
            expected, jax_call = jax_kernel_baseline(results, tag, shape, key_data, num, rep)
            if not big:
                record(f"kernel {tag} numpy direct", best(
                    lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=False),
                    num, rep))
            numpy_port._TABLES.pop((fused, host_float_variant()), None)
            start = time.perf_counter()
            got = numpy_port.kernel(key_data, *shape, args.mode, fused, table=True)
            record(f"kernel {tag} numpy table, cold (builds table)", time.perf_counter() - start)
            record(f"kernel {tag} numpy table, warm", best(
                lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=True),
                num, rep))
            same = got.tobytes() == expected
            print(f"  {tag}: port kernel bit-identical to jitted JAX: {same}")
            results[f"kernel {tag} identical"] = float(same)
            interleaved_ratio(
                results, f"kernel {tag} numpy table / jax jit",
                lambda: numpy_port.kernel(key_data, *shape, args.mode, fused, table=True),
                jax_call, num, 3 if big else 7)
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
            split_merge_baseline(results, tag, x, n_out, args.mode, 20)
    results.dump(args.json)


if __name__ == "__main__":
    main()
