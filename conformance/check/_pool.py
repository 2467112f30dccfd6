"""The check's fixed shape pool (standard library only: the command line reads it first).

Every check grades the same ``(len(x), features)`` pairs, so that the trusted warm-up
(``nnx-conformance warm``) compiles them once into the cache the children read; the values
(seeds, ``x``, ``scale``) are drawn afresh for every check (``_draw``). The pool reaches well
past the sizes learners try by hand: ``len(x)`` and ``features`` each up to 300, beyond 64,
100 and 128, with every size class graded on finite values. It keeps few ``features`` values
(the programs that depend on ``features`` alone are built once per value), squares (where a
transposed kernel still runs) and odd element counts (legacy threefry's padding).
"""

from __future__ import annotations

#: Tiny and small shapes: the shrink targets and the panel's shapes.
SMALL: tuple[tuple[int, int], ...] = (
    (1, 1), (1, 2), (2, 1), (3, 2), (2, 3), (3, 4), (5, 3), (4, 4), (7, 8), (8, 4), (16, 8),
    (17, 33))
#: ``len(x)`` beyond 64, 100 and 128.
LONG: tuple[tuple[int, int], ...] = ((65, 3), (100, 8), (129, 2), (200, 4), (300, 1),
                                      (256, 33))
#: ``features`` beyond 64, 100 and 128, and both at once.
WIDE: tuple[tuple[int, int], ...] = ((3, 65), (8, 300), (2, 300), (33, 65), (129, 65),
                                      (300, 300), (100, 65))
CHECK_SHAPES: tuple[tuple[int, int], ...] = SMALL + LONG + WIDE
