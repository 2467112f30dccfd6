"""The contract every implementation of the exercise honours, and its input domain.

This module is the single written statement of the contract; everything else refers to it. It
imports neither JAX nor torch, so that the NumPy port (and a grader without JAX) can use it.

The function (``../shared/problem.md``)::

    pure_state_update(seed, x, features, scale, *, prng_mode=None) -> np.ndarray

builds ``nnx.Linear(len(x), features, rngs=nnx.Rngs(seed))``, scales every state leaf by
``scale`` and returns ``merged(x) == x @ (scale * kernel) + scale * bias`` as a 1-D float32 NumPy
array of length ``features``.

Input domain (what nnx itself accepts, and what this suite chose where nnx is silent):

* ``seed``: an integer-valued ``int``/``float``/NumPy scalar in ``[-2**63, 2**63)``. Larger seeds
  make ``jax.random.key`` raise ``OverflowError``. With x64 off the key is ``[0, seed mod 2**32]``,
  so seeds that differ by a multiple of ``2**32`` alias silently; with x64 on the key is
  ``[seed >> 32, seed & 0xFFFFFFFF]`` and they do not.
* ``x``: a 1-D real array-like (NumPy, JAX, list) with ``1 <= len(x)``; it is rounded to float32
  first, as JAX does with x64 off (so the output is float32 under x64 too). ``len(x) == 0`` makes
  ``nnx.Linear`` raise ``ZeroDivisionError`` in the fan-in computation.
* ``features``: integer-valued, ``>= 1`` (``features == 0`` raises ``ZeroDivisionError`` inside
  JAX's ``_compute_fans``). The suite caps ``len(x) * features`` at ``MAX_KERNEL_ELEMENTS``
  (a 1 GiB float32 kernel) to keep every implementation within this machine's memory.
* ``scale``: any real scalar, including nan, +-inf, -0.0 and subnormals. JAX's weak typing rounds
  it to float32 before the multiply, so ``1e39`` acts as ``+inf`` and XLA on CPU treats float32
  subnormals as zero (flush-to-zero and denormals-are-zero).
* ``prng_mode``: ``"partitionable"``, ``"legacy"`` or ``None``. ``None`` means the installed
  JAX's current ``jax_threefry_partitionable`` setting; an implementation running without JAX
  assumes ``"partitionable"`` unless ``JAX_THREEFRY_PARTITIONABLE`` says otherwise.

Every implementation module exposes two functions with these signatures:

* ``pure_state_update(seed, x, features, scale, *, prng_mode=None, **options)``: the contract.
* ``initial_params(seed, in_features, features, *, prng_mode=None, **options)``: the model's
  state before scaling, ``{"bias": float32 (features,), "kernel": float32 (in_features, features)}``.

``options`` are the keywords the registry entry declares (for example ``fma`` and
``float_variant`` for the ports);
out-of-domain input raises :class:`InputDomainError` before any work is done.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from typing import Any, Literal, Mapping, NamedTuple, Protocol

import numpy as np

from implementations._float_variants import (FLOAT_VARIANT_DOMAIN, FLOAT_VARIANTS,
                                             host_float_variant)

PrngMode = Literal["partitionable", "legacy"]
PRNG_MODES: tuple[str, ...] = ("partitionable", "legacy")
SEED_MIN = -(2**63)
SEED_MAX = 2**63 - 1
MAX_KERNEL_ELEMENTS = 2**28

SEED_DOMAIN = "an integer in [-2**63, 2**63) (int, or integer-valued float)"
FEATURES_DOMAIN = "an integer >= 1 (int, or integer-valued float)"
X_DOMAIN = "a 1-D real array-like with len(x) >= 1"
SCALE_DOMAIN = "a real scalar (int or float; nan, +-inf, -0.0 and subnormals allowed)"
MODE_DOMAIN = "one of None, 'partitionable', 'legacy'"
FMA_DOMAIN = "one of None, True, False"


class InputDomainError(ValueError):
    """An argument lies outside the contract's input domain.

    The message follows the suite's grammar: ``<argument>=<actual>, but should be <domain>``.

    Attributes:
        argument: the name of the offending argument.
        value: a short representation of the value that was given.
        domain: the valid domain, in words.
    """

    def __init__(self, argument: str, value: str, domain: str):
        self.argument, self.value, self.domain = argument, value, domain
        super().__init__(f"{argument}={value}, but should be {domain}")


class Inputs(NamedTuple):
    """Validated, normalised inputs: what every implementation actually computes with."""

    seed: int
    x: np.ndarray  # float32, 1-D, len >= 1
    features: int
    scale: float  # the Python float the statement multiplies by (JAX rounds it to float32)
    prng_mode: str


class PureStateUpdate(Protocol):
    """The callable every registry entry resolves to (see the module docstring)."""

    def __call__(
        self, seed: Any, x: Any, features: Any, scale: Any, *, prng_mode: PrngMode | None = None
    ) -> np.ndarray: ...


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(name: str, value: Any, domain: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.generic)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"):
            raise InputDomainError(name, _short(value), domain)
        value = value.item()
    if isinstance(value, np.generic):
        if value.dtype.kind not in "iuf":
            raise InputDomainError(name, _short(value), domain)
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value) or not value.is_integer():
        raise InputDomainError(name, _short(value), domain)
    return int(value)


def check_seed(seed: Any) -> int:
    """Returns ``seed`` as an int, or raises :class:`InputDomainError`."""
    value = _integer("seed", seed, SEED_DOMAIN)
    if not SEED_MIN <= value <= SEED_MAX:
        raise InputDomainError("seed", _short(seed), SEED_DOMAIN)
    return value


def check_features(features: Any, in_features: int = 1) -> int:
    """Returns ``features`` as an int >= 1, or raises :class:`InputDomainError`."""
    value = _integer("features", features, FEATURES_DOMAIN)
    if value < 1:
        raise InputDomainError("features", _short(features), FEATURES_DOMAIN)
    if value * in_features > MAX_KERNEL_ELEMENTS:
        raise InputDomainError(
            "features", _short(features),
            f"an integer with len(x) * features <= 2**28 (len(x)={in_features})")
    return value


def check_in_features(in_features: Any) -> int:
    """Returns ``in_features`` (``len(x)``) as an int >= 1, or raises :class:`InputDomainError`."""
    value = _integer("in_features", in_features, FEATURES_DOMAIN)
    if value < 1:
        raise InputDomainError("in_features", _short(in_features), FEATURES_DOMAIN)
    return value


def check_x(x: Any) -> np.ndarray:
    """Returns ``x`` as a contiguous 1-D float32 array, or raises :class:`InputDomainError`."""
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 - any failure to convert is a domain error
        raise InputDomainError("x", _short(x), X_DOMAIN) from None
    if arr.dtype.kind not in "iuf":
        raise InputDomainError("x", f"<array of dtype {arr.dtype}>", X_DOMAIN)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise InputDomainError("x", f"<array of shape {arr.shape}>", X_DOMAIN)
    with np.errstate(over="ignore"):  # float64 beyond float32 range rounds to inf, as in JAX
        return np.ascontiguousarray(arr, dtype=np.float32)


def check_scale(scale: Any) -> float:
    """Returns ``scale`` as a Python float, or raises :class:`InputDomainError`."""
    if isinstance(scale, (bool, np.bool_)):
        raise InputDomainError("scale", _short(scale), SCALE_DOMAIN)
    if isinstance(scale, numbers.Real) and not isinstance(scale, np.generic):
        return float(scale)
    try:
        arr = np.asarray(scale)
    except Exception:  # noqa: BLE001
        raise InputDomainError("scale", _short(scale), SCALE_DOMAIN) from None
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise InputDomainError("scale", _short(scale), SCALE_DOMAIN)
    return float(arr.item())


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return raw.strip().lower() in ("1", "true", "yes", "on", "t", "y")


def resolve_prng_mode(prng_mode: Any) -> str:
    """Resolves ``prng_mode`` (None = the loaded JAX's setting, else the environment, else
    ``"partitionable"``) without importing JAX."""
    if prng_mode is not None:
        if prng_mode not in PRNG_MODES:
            raise InputDomainError("prng_mode", _short(prng_mode), MODE_DOMAIN)
        return prng_mode
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        return "partitionable" if jax.config.jax_threefry_partitionable else "legacy"
    flag = _env_flag("JAX_THREEFRY_PARTITIONABLE")
    return "legacy" if flag is False else "partitionable"


def resolve_x64() -> bool:
    """Whether JAX's x64 mode is in force (the loaded JAX's setting, else ``JAX_ENABLE_X64``)."""
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        return bool(jax.config.jax_enable_x64)
    return bool(_env_flag("JAX_ENABLE_X64"))


def resolve_fma(fma: Any) -> bool:
    """The ports' ``fma`` option: None -> whether XLA:CPU fuses multiply-adds on this host
    (``_keys.host_fma_default``, no JAX needed); a bool forces it.

    Raises:
        InputDomainError: ``fma`` is not None or a bool.
    """
    if fma is None:
        from implementations._keys import host_fma_default

        return host_fma_default()
    if isinstance(fma, (bool, np.bool_)):
        return bool(fma)
    raise InputDomainError("fma", _short(fma), FMA_DOMAIN)


def resolve_float_variant(float_variant: Any) -> str:
    """The ports' ``float_variant`` option: which jaxlib's float32 rounding of the truncated
    normal to reproduce (``implementations._float_variants``). None -> the installed jaxlib's
    (read from its metadata, no JAX needed; the newest without one); a name forces it.

    Raises:
        InputDomainError: ``float_variant`` is not None or one of the variant names.
    """
    if float_variant is None:
        return host_float_variant()
    if isinstance(float_variant, str) and float_variant in FLOAT_VARIANTS:
        return float_variant
    raise InputDomainError("float_variant", _short(float_variant), FLOAT_VARIANT_DOMAIN)


def validate(seed: Any, x: Any, features: Any, scale: Any, prng_mode: Any = None) -> Inputs:
    """Checks every argument of the contract and returns them normalised.

    Raises:
        InputDomainError: naming the first argument outside its domain.
    """
    mode = resolve_prng_mode(prng_mode)
    seed_i = check_seed(seed)
    x_arr = check_x(x)
    features_i = check_features(features, x_arr.shape[0])
    return Inputs(seed_i, x_arr, features_i, check_scale(scale), mode)


def validate_init(seed: Any, in_features: Any, features: Any, prng_mode: Any = None
                  ) -> tuple[int, int, int, str]:
    """Validates the arguments of ``initial_params``: ``(seed, in_features, features, mode)``."""
    mode = resolve_prng_mode(prng_mode)
    n_in = check_in_features(in_features)
    return check_seed(seed), n_in, check_features(features, n_in), mode


def params_dict(kernel: Any, bias: Any) -> Mapping[str, np.ndarray]:
    """The canonical form of ``initial_params``'s result."""
    return {"bias": np.asarray(bias), "kernel": np.asarray(kernel)}
