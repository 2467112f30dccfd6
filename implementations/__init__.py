"""Independent implementations of the exercise, behind one contract and one registry.

``IMPLEMENTATIONS`` maps a name to an :class:`Entry` declaring its capabilities; ``get(name)``
imports it lazily and returns its ``pure_state_update``. The contract is written once, in
``implementations._contract``.
"""

from implementations._contract import (
    PRNG_MODES,
    InputDomainError,
    PureStateUpdate,
    validate,
)
from implementations._registry import IMPLEMENTATIONS, Entry, ImplementationUnavailable, get

__all__ = [
    "IMPLEMENTATIONS",
    "PRNG_MODES",
    "Entry",
    "ImplementationUnavailable",
    "InputDomainError",
    "PureStateUpdate",
    "get",
    "validate",
]
