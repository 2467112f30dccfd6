"""Float32 facts shared by the cases and the comparison: limits, unit roundoff, rounding."""

from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal
FLOAT32_SUBNORMAL_MIN = 2.0**-149
#: Unit roundoff of float32 and float64 (round to nearest).
U32 = 2.0**-24
U64 = 2.0**-53


def to_f32(value: float) -> float:
    """``value`` rounded to float32, as a Python float (exact)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))
