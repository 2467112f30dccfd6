"""The exercise in PyTorch: ``nn.Linear`` with nnx's initializer ported, pure update via torch.func.

The PyTorch analogue of ``nnx.split`` / ``tree_map`` / ``nnx.merge`` is to take the module's
parameters as a dict, build a new dict with every entry scaled, and run the module with
``torch.func.functional_call(module, new_params, (x,))``: the module object and its parameters
are never modified.

The initial parameters are bit-identical to ``nnx.Linear(len(x), features,
rngs=nnx.Rngs(seed))``: the kernel key comes from ``implementations._keys`` (shared with the
NumPy port), the random bits from ``_torch_threefry`` and the truncated normal from
``_torch_float32`` (per element the rounding of the loop iteration XLA:CPU computes it in,
``_xla_loops``); the bias is zeros. The forward pass runs in float32 and models XLA:CPU's
handling of subnormals (flush-to-zero, denormals-are-zero); its last bits may differ from JAX's
dot product, whose summation order is YNNPACK's.

See ``implementations._contract`` for the contract and the input domain.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from implementations import _keys
from implementations._contract import (
    params_dict,
    resolve_float_variant,
    resolve_fma,
    resolve_x64,
    validate,
    validate_init,
)
from implementations._float_variants import NEWEST
from implementations._torch_float32 import (lecun_stddev, truncated_normal_from_bits,
                                            truncated_normal_from_chunks)
from implementations._torch_threefry import bits_chunks, random_bits
from implementations._xla_loops import vectorized_elements

__all__ = ["build_linear", "initial_params", "kernel_tensor", "pure_state_update", "pure_update"]

# Smallest normal float32: XLA:CPU runs with FTZ/DAZ, so anything smaller in magnitude is zero.
_TINY32 = 2.0**-126


def kernel_tensor(seed: int, in_features: int, features: int, prng_mode: str, fused: bool,
                  *, use_table: bool | None = None, variant: str | None = None
                  ) -> torch.Tensor:
    """nnx.Linear's initial kernel, shape ``(in_features, features)``, float32 (validated input).

    ``lecun_normal()(key, (in, out))`` = ``truncated_normal(key, -2, 2, (in, out)) * stddev``
    with ``stddev`` from ``fan_in = in_features``; the key is what ``Rngs(seed).params()``
    returns first. ``use_table`` forces the float path (see ``truncated_normal_from_bits``);
    ``variant`` is the jaxlib float variant (``_float_variants``; None: the installed jaxlib's).
    """
    key = _keys.nnx_param_key(seed, resolve_x64())
    n = in_features * features
    # The multiply by the 0-d float32 stddev is a separate, eager (so unfused) op in JAX. The
    # words are consumed chunk by chunk, while still in cache.
    variant = resolve_float_variant(variant)
    stddev = lecun_stddev(in_features)
    vectorized = vectorized_elements(in_features, features, prng_mode, variant)
    if vectorized is None or vectorized.all():
        kernel = truncated_normal_from_chunks(bits_chunks(key, n, prng_mode), n, fused,
                                              scale=stddev, use_table=use_table, variant=variant)
    else:  # the iterations LLVM left scalar round the newest way: the words are needed twice
        bits = random_bits(key, n, prng_mode)
        kernel = truncated_normal_from_bits(bits, fused, scale=stddev, use_table=use_table,
                                            variant=variant)
        scalar = torch.from_numpy(~vectorized)
        kernel[scalar] = truncated_normal_from_bits(bits[scalar], fused, scale=stddev,
                                                    use_table=use_table, variant=NEWEST)
    return kernel.view(in_features, features)


def build_linear(seed: Any, in_features: Any, features: Any, *, prng_mode: Any = None,
                 fma: Any = None, float_variant: Any = None) -> nn.Linear:
    """``torch.nn.Linear(in_features, features)`` holding nnx.Linear's initial parameters.

    Raises:
        InputDomainError: an argument is outside the contract's domain.
    """
    seed_i, n_in, n_out, mode = validate_init(seed, in_features, features, prng_mode)
    return _build_linear(seed_i, n_in, n_out, mode, resolve_fma(fma),
                         resolve_float_variant(float_variant))


def _build_linear(seed: int, n_in: int, n_out: int, mode: str, fused: bool, variant: str
                  ) -> nn.Linear:
    # On the meta device torch allocates and initialises nothing (its kaiming init would be
    # overwritten, and would consume the global torch RNG); assign=True adopts our tensors.
    module = nn.Linear(n_in, n_out, device="meta")
    kernel = kernel_tensor(seed, n_in, n_out, mode, fused, variant=variant)
    # torch stores the weight as (out, in): the transpose of nnx's kernel. A transposed view
    # avoids copying large kernels; F.linear handles the strides.
    module.load_state_dict(
        {"weight": kernel.t(), "bias": torch.zeros(n_out, dtype=torch.float32)}, assign=True)
    return module


def _flush(t: torch.Tensor) -> torch.Tensor:
    """XLA:CPU's flush-to-zero / denormals-are-zero: subnormals become zero of the same sign."""
    return torch.where(torch.abs(t) < _TINY32, t * 0.0, t)


def _weak_float32(scale: float) -> torch.Tensor:
    """``scale`` as JAX's weak typing uses it against a float32 leaf: rounded to float32
    (``1e39`` -> inf) and, being an XLA:CPU operand, flushed if subnormal (``1e-45`` -> 0)."""
    return _flush(torch.tensor(scale, dtype=torch.float32))


def pure_update(module: nn.Module, scale: float, x: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The pure update: scale every parameter into a new dict and apply the module with it.

    Args:
        module: the model; neither it nor its parameters are modified.
        scale: the multiplier, a Python float (rounded to float32 as JAX does).
        x: float32 input of shape ``(in_features,)``.

    Returns:
        ``(y, new_params)``: the output (float32, flushed) and the scaled parameter dict.
    """
    factor = _weak_float32(scale)
    params = dict(module.named_parameters())
    # The analogue of tree_map(lambda leaf: leaf * scale, state); each product is an XLA op
    # of its own in nnx, so its subnormal results are flushed.
    new_params = {name: _flush(param.detach() * factor) for name, param in params.items()}
    with torch.no_grad():
        y = functional_call(module, new_params, (_flush(x),))
    return _flush(y), new_params


def pure_state_update(seed: Any, x: Any, features: Any, scale: Any, *, prng_mode: Any = None,
                      fma: Any = None, float_variant: Any = None) -> np.ndarray:
    """See ``implementations._contract``.

    Args:
        seed, x, features, scale, prng_mode: as in the contract.
        fma: model XLA:CPU's fused multiply-adds in the initializer (None: this host's default,
            ``implementations._keys.host_fma_default()``).
        float_variant: which jaxlib's float32 rounding of the truncated normal to reproduce
            (None: the installed jaxlib's; else a name from ``_float_variants.FLOAT_VARIANTS``).

    Returns:
        float32 NumPy array of length ``features``.
    """
    inputs = validate(seed, x, features, scale, prng_mode)
    fused = resolve_fma(fma)
    variant = resolve_float_variant(float_variant)
    x_t = torch.tensor(inputs.x)  # a copy: from_numpy would alias (and warn on) read-only input
    module = _build_linear(inputs.seed, x_t.shape[0], inputs.features, inputs.prng_mode, fused,
                           variant)
    y, _ = pure_update(module, inputs.scale, x_t)
    return y.numpy()


def initial_params(seed: Any, in_features: Any, features: Any, *, prng_mode: Any = None,
                   fma: Any = None, float_variant: Any = None) -> Mapping[str, np.ndarray]:
    """The Linear's state before any update (see ``implementations._contract``).

    Returns:
        ``{"bias": float32 (features,), "kernel": float32 (in_features, features)}``.
    """
    seed_i, n_in, n_out, mode = validate_init(seed, in_features, features, prng_mode)
    fused, variant = resolve_fma(fma), resolve_float_variant(float_variant)
    kernel = kernel_tensor(seed_i, n_in, n_out, mode, fused, variant=variant)
    return params_dict(kernel.numpy(), np.zeros(n_out, dtype=np.float32))
