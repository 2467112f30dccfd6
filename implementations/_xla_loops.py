"""Which elements of a truncated-normal kernel XLA:CPU computes in vectorized loop iterations.

In the float variants whose ``log(1 + x)`` is ``llvm.log`` (jaxlib 0.7.0 ... 0.8.1,
``_float_variants.LIBM_LOG_VARIANTS``) the rounding of an element depends on the loop
iteration that computes it: LLVM's loop vectorizer turns ``llvm.log`` into ``llvm.log.v8f32``
(``v4f32``, ``v2f32``) where it vectorizes, which the backend scalarises into calls of the host
libm's ``logf`` (glibc), and XLA replaces the scalar ``llvm.log.f32`` of iterations left over
with its inline Cephes polynomial (the newest variant's). Which iterations are vectorized
follows from the loops XLA emits for the eager ``truncated_normal(key, -2, 2, (rows, cols))``
program, read off its optimized LLVM IR (``*ir-with-opt.ll`` of ``XLA_FLAGS=--xla_dump_to=DIR``)
and confirmed element by element on the compiled programs (``oracles/prove_float_variants.py``
for whole kernels through a probe of the fusion; the real ``nnx.Linear`` kernels in the matrix):

* XLA:CPU splits a large fusion into parallel tasks, ``min(cores, cost // 100000)`` with a
  cost of about 131 (legacy) or 172 (partitionable) per element (``parallel_task_assignment``,
  ``shape_partition``); each task has loops of its own. ``cores`` is the CPUs the compiling
  process may run on.
* A loop of constant trip count ``t`` is vectorized over its first :func:`_vector_prefix`
  iterations (width 8, or 4 for some short loops; none below 16 but for 4 and 8).
* The loop runs over a row's columns; a kernel of at most 4 columns has that loop unrolled and
  vectorizes over rows, per task's block of rows.
* From jaxlib 0.7.1 on, blocks of an uneven split are bounds-checked (nothing vectorized), a
  ``(4, 1)`` kernel stays scalar, and a legacy-mode kernel of even size keeps threefry's two
  output halves as two loops (the second one vectorized only when its index arithmetic
  simplifies: an even number of rows, or one row); before, blocks are floor-sized with the
  last taking the remainder. Jaxlib 0.7.x compute a legacy ``(1, 5)`` kernel's last two
  elements as one ``v2f32`` pair.

Measured for 1 and 2 cores (AVX2 code, vector width 8) under jaxlib 0.7.0, 0.7.1, 0.7.2,
0.8.0 and 0.8.1, x64 on and off (no effect); more cores follow XLA's partitioning code
unmeasured, and another host's vector width changes the loops as it changes everything else
XLA:CPU computes in float.
"""

from __future__ import annotations

import math
import os

import numpy as np

from implementations._float_variants import JAXLIB_0_7, JAXLIB_0_8, LIBM_LOG_VARIANTS

# XLA:CPU's cost per element of the kernel's root fusion, fitted to the measured 2-task
# thresholds (legacy: 1526 elements, partitionable: 1162), plus a constant.
_COST = {"legacy": (131, 200), "partitionable": (172, 200)}
_COST_PER_TASK = 100_000


def _vector_prefix(trip_count: int) -> int:
    """Iterations LLVM vectorizes at the start of a loop of ``trip_count`` iterations."""
    if trip_count in (4, 8):
        return trip_count
    if trip_count < 16:
        return 0
    if trip_count < 32 and trip_count % 8 >= 4:
        return 4 * (trip_count // 4)
    return 8 * (trip_count // 8)


def _partitions(rows: int, cols: int, mode: str, cores: int) -> tuple[int, int]:
    """How many tasks XLA:CPU gives the rows and the columns (``ShapePartitionAssigner``)."""
    per_element, constant = _COST[mode]
    target = max(1, min(cores, (per_element * rows * cols + constant) // _COST_PER_TASK))
    if target <= 1:
        return 1, 1
    dims = [rows] if rows >= target else [rows, cols]
    target = min(math.prod(dims), target)
    per = int(target ** (1.0 / len(dims)))
    counts = [min(d, per) for d in dims]
    if math.prod(counts) < target:
        for i, d in enumerate(dims):
            other = math.prod(counts) // counts[i]
            add = min(d - counts[i], target // other - counts[i])
            if add > 0:
                counts[i] += add
    return counts[0], (counts[1] if len(counts) > 1 else 1)


def _blocks(size: int, parts: int, guarded: bool) -> list[int] | None:
    """The tasks' block sizes along a split dimension; None when bounds-checked (scalar)."""
    if parts == 1:
        return [size]
    if guarded:
        return None if size % parts else [size // parts] * parts
    block = size // parts
    return [block] * (parts - 1) + [size - block * (parts - 1)]


def _prefix_mask(blocks: list[int], scalar_four: bool = False) -> np.ndarray:
    return np.concatenate([np.arange(t) < (0 if scalar_four and t == 4 else _vector_prefix(t))
                           for t in blocks])


def host_cores() -> int:
    """CPUs this process may run on: what XLA:CPU's thread pool is sized by."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def vectorized_elements(rows: int, cols: int, mode: str, variant: str,
                        cores: int | None = None) -> np.ndarray | None:
    """The row-major mask of a ``(rows, cols)`` kernel's vectorized elements, or None.

    Args:
        rows: the kernel's rows (``in_features``).
        cols: its columns (``features``).
        mode: ``"partitionable"`` or ``"legacy"``.
        variant: the float variant; only those whose ``log`` is libm's in vectorized
            iterations (``_float_variants.LIBM_LOG_VARIANTS``) have a mask.
        cores: CPUs of the process XLA compiles in (None: this process's).

    Returns:
        A flat bool array of ``rows * cols`` (True: vectorized, the libm ``logf``), or None
        when every element of ``variant`` is rounded the same way.
    """
    if variant not in LIBM_LOG_VARIANTS:
        return None
    size = rows * cols
    new_emitter = variant != JAXLIB_0_7
    if mode == "legacy" and (rows, cols) == (1, 5) and variant != JAXLIB_0_8:
        return np.array([False, False, False, True, True])
    row_parts, col_parts = _partitions(rows, cols, mode, host_cores() if cores is None else cores)
    if mode == "legacy" and new_emitter and size % 2 == 0:
        half, parts = size // 2, row_parts * col_parts
        if half % parts:
            first = np.zeros(half, bool)
        else:
            block = half // parts
            first = np.tile(np.arange(block) < (_vector_prefix(block) if block >= 16 else 0),
                            parts)
        second = first if rows % 2 == 0 or rows == 1 else np.zeros(half, bool)
        return np.concatenate([first, second])
    if cols <= 4:
        blocks = _blocks(rows, row_parts, new_emitter)
        if blocks is None:
            return np.zeros(size, bool)
        return np.repeat(_prefix_mask(blocks, scalar_four=new_emitter and cols == 1), cols)
    if col_parts > 1:
        blocks = _blocks(cols, col_parts, new_emitter)
        if blocks is None:
            return np.zeros(size, bool)
        return np.tile(_prefix_mask(blocks), rows)
    return np.tile(np.arange(cols) < _vector_prefix(cols), rows)
