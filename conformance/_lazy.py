"""Lazy exports (PEP 562): a package names what it offers and loads each name on first use.

``nnx-conformance check`` starts its children before the parent imports NumPy or Hypothesis,
so the packages on that path (:mod:`conformance`, :mod:`conformance.core`,
:mod:`conformance.check`) must not import their modules when they are imported themselves.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose names live in the modules of ``exports``.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module (relative to ``package``, e.g. ``"._cases"``) that
            defines it.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
