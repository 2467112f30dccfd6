"""The registry of implementations: capabilities declared on the entry, code imported lazily.

An entry names its module by dotted path and is only imported by :meth:`Entry.load`, so a missing
optional package (torch) never breaks ``import implementations``; :meth:`Entry.available` answers
without importing the heavy packages. The runner reads capabilities only, never names.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, Mapping

from implementations._contract import PRNG_MODES


class ImplementationUnavailable(ImportError):
    """The packages an implementation needs are not installed; ``install`` says how to get them."""

    def __init__(self, name: str, missing: tuple[str, ...], install: str):
        self.name_, self.missing, self.install = name, missing, install
        super().__init__(
            f"implementation={name!r} is unavailable (missing {', '.join(missing)}), "
            f"but should be installed with: {install}")


def _findable(package: str) -> bool:
    if package in sys.modules:
        return sys.modules[package] is not None  # None: import deliberately blocked
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Entry:
    """One implementation and what it can do.

    Attributes:
        name: registry key, used in reports and on the command line.
        target: dotted module path; the module follows the contract in ``_contract``.
        summary: one line on how it computes the function.
        prng_modes: the PRNG modes it reproduces.
        exact_kernel: whether its initial kernel is bit-identical to JAX's (compared bit for bit).
        requires: top-level packages it imports.
        install: the exact command that makes it available.
        options: extra keywords it accepts, filled in by the runner from the host probe
            (``fma``: whether to fuse multiply-adds the way XLA:CPU does on this host;
            ``float_variant``: which jaxlib's float32 rounding of the truncated normal to
            reproduce, see ``implementations._float_variants``; left out, each follows the
            host and the installed jaxlib).
        uses_jax: whether it runs JAX (then XLA's compilation cache matters for it).
    """

    name: str
    target: str
    summary: str
    prng_modes: frozenset[str] = frozenset(PRNG_MODES)
    exact_kernel: bool = True
    requires: tuple[str, ...] = ()
    install: str = ""
    options: frozenset[str] = field(default_factory=frozenset)
    uses_jax: bool = False

    def missing(self) -> tuple[str, ...]:
        """The required packages that cannot be found (without importing them)."""
        return tuple(p for p in self.requires if not _findable(p))

    def available(self) -> bool:
        return not self.missing()

    def load(self) -> ModuleType:
        """Imports and returns the implementation's module.

        Raises:
            ImplementationUnavailable: a required package is missing.
        """
        missing = self.missing()
        if missing:
            raise ImplementationUnavailable(self.name, missing, self.install)
        return importlib.import_module(self.target)

    def function(self) -> Callable:
        return self.load().pure_state_update

    def initial_params(self) -> Callable:
        return self.load().initial_params


IMPLEMENTATIONS: Mapping[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry(
            name="split_merge",
            target="implementations.split_merge",
            summary="the statement's recipe: nnx.split, jax.tree_util.tree_map, nnx.merge",
            requires=("jax", "flax"),
            install="pip install jax flax",
            uses_jax=True,
        ),
        Entry(
            name="state_update",
            target="implementations.state_update",
            summary="nnx.state(model, nnx.Param), tree_map, nnx.update on a fresh model",
            requires=("jax", "flax"),
            install="pip install jax flax",
            uses_jax=True,
        ),
        Entry(
            name="numpy",
            target="implementations.numpy_port",
            summary="pure-NumPy port of threefry, truncated_normal and XLA:CPU's float32 path",
            requires=("numpy",),
            install="pip install numpy",
            options=frozenset({"fma", "float_variant"}),
        ),
        Entry(
            name="torch",
            target="implementations.torch_port",
            summary="PyTorch port; pure update through torch.func.functional_call",
            requires=("torch", "numpy"),
            install="pip install torch==2.13.0",
            options=frozenset({"fma", "float_variant"}),
        ),
    )
}


def get(name: str) -> Callable:
    """Returns the ``pure_state_update`` callable of implementation ``name``.

    Raises:
        KeyError: no such implementation (the message lists the valid names).
        ImplementationUnavailable: its packages are missing (the message has the install command).
    """
    try:
        entry = IMPLEMENTATIONS[name]
    except KeyError:
        raise KeyError(
            f"implementation={name!r}, but should be one of {sorted(IMPLEMENTATIONS)}") from None
    return entry.function()
