"""The check's isolation: child processes that import and call a learner's solution.

* :class:`Sandbox` (the parent side, ``_parent``): one child, its limits, its channels and
  every deadline; :meth:`Sandbox.start` forks a group of children from one zygote.
* The wire format (``_protocol``): one definition of every frame, status and field, imported
  by both sides.
* The child (``_child``): the zygote and the driver that imports and calls the solution.
* The confinement (``_confine``): resource limits, Landlock, the orphan reaper.

Importing this package imports the standard library only: ``check`` starts its children
before anything heavy loads.
"""

from conformance.check.sandbox._parent import (DEFAULT_BUDGET_S, MAX_SOLUTION_BYTES, ChildGone,
                                               Limits, Sandbox, SandboxPool, default_workers,
                                               read_solution, solution_problem, warm_cache)
from conformance.check.sandbox._protocol import (ARRAY, ERROR, EXIT, LOAD_KINDS, MAX_ELEMENTS,
                                                 MAX_TEXT, MAX_WARNINGS, MEMORY, OTHER_TYPE,
                                                 RESULT_STATUSES, encode_case)

__all__ = [
    "ARRAY",
    "DEFAULT_BUDGET_S",
    "ERROR",
    "EXIT",
    "LOAD_KINDS",
    "MAX_SOLUTION_BYTES",
    "MAX_ELEMENTS",
    "MAX_TEXT",
    "MAX_WARNINGS",
    "MEMORY",
    "OTHER_TYPE",
    "RESULT_STATUSES",
    "ChildGone",
    "Limits",
    "Sandbox",
    "SandboxPool",
    "default_workers",
    "encode_case",
    "read_solution",
    "solution_problem",
    "warm_cache",
]
