"""Independent implementations of the exercise, behind one contract and one registry.

``IMPLEMENTATIONS`` maps a name to an :class:`Entry` declaring its capabilities; ``get(name)``
imports it lazily and returns its ``pure_state_update``. The contract is written once, in
``implementations._contract``. This package imports nothing of the rest of the suite.

Public modules besides this one: each implementation (``split_merge``, ``state_update``,
``numpy_port``, ``torch_port``) and ``nnx_compat``, the Flax API across releases (imports JAX).
"""

from implementations._contract import (
    PRNG_MODES,
    SEED_MAX,
    SEED_MIN,
    InputDomainError,
    PureStateUpdate,
    resolve_prng_mode,
    resolve_x64,
    validate,
)
from implementations._float_variants import (FLOAT_VARIANTS, LIBM_LOG_VARIANTS,
                                             float_variant_for, host_float_variant,
                                             installed_jaxlib)
from implementations._registry import IMPLEMENTATIONS, Entry, ImplementationUnavailable, get
from implementations._xla_loops import host_cores, vectorized_elements

__all__ = [
    "FLOAT_VARIANTS",
    "IMPLEMENTATIONS",
    "LIBM_LOG_VARIANTS",
    "PRNG_MODES",
    "SEED_MAX",
    "SEED_MIN",
    "Entry",
    "ImplementationUnavailable",
    "InputDomainError",
    "PureStateUpdate",
    "float_variant_for",
    "get",
    "host_cores",
    "host_float_variant",
    "installed_jaxlib",
    "resolve_prng_mode",
    "resolve_x64",
    "validate",
    "vectorized_elements",
]
