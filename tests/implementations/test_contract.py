"""The input domain: every implementation rejects the same inputs with the same typed error."""

from __future__ import annotations

import math

import numpy as np
import pytest

import implementations
from implementations import InputDomainError
from implementations._contract import validate

BAD_INPUTS = [
    # (seed, x, features, scale, prng_mode, argument named in the error)
    (2**63, [1.0], 2, 1.0, None, "seed"),
    (-(2**63) - 1, [1.0], 2, 1.0, None, "seed"),
    (1.5, [1.0], 2, 1.0, None, "seed"),
    (math.nan, [1.0], 2, 1.0, None, "seed"),
    (math.inf, [1.0], 2, 1.0, None, "seed"),
    ("3", [1.0], 2, 1.0, None, "seed"),
    (True, [1.0], 2, 1.0, None, "seed"),
    (0, [], 2, 1.0, None, "x"),
    (0, [[1.0, 2.0]], 2, 1.0, None, "x"),
    (0, 3.0, 2, 1.0, None, "x"),
    (0, ["a"], 2, 1.0, None, "x"),
    (0, [1 + 2j], 2, 1.0, None, "x"),
    (0, [1.0], 0, 1.0, None, "features"),
    (0, [1.0], -3, 1.0, None, "features"),
    (0, [1.0], 2.5, 1.0, None, "features"),
    (0, [1.0], math.nan, 1.0, None, "features"),
    (0, [1.0] * 4, 2**27, 1.0, None, "features"),
    (0, [1.0], 2, "2", None, "scale"),
    (0, [1.0], 2, 1j, None, "scale"),
    (0, [1.0], 2, [1.0, 2.0], None, "scale"),
    (0, [1.0], 2, None, None, "scale"),
    (0, [1.0], 2, 1.0, "threefry", "prng_mode"),
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda b: f"{b[-1]}={b[:4]!r}"[:60])
def test_validate_names_the_argument_and_domain(bad):
    *args, mode, argument = bad
    with pytest.raises(InputDomainError) as info:
        validate(*args, prng_mode=mode)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}=")
    assert ", but should be " in str(info.value)


def _available():
    return [name for name, e in implementations.IMPLEMENTATIONS.items() if e.available()]


@pytest.mark.parametrize("name", _available())
@pytest.mark.parametrize("bad", BAD_INPUTS[::3] + [BAD_INPUTS[7], BAD_INPUTS[12]],
                         ids=lambda b: f"{b[-1]}")
def test_every_implementation_raises_the_same_error(name, bad):
    *args, mode, argument = bad
    with pytest.raises(InputDomainError) as info:
        implementations.get(name)(*args, prng_mode=mode)
    with pytest.raises(InputDomainError) as reference:
        validate(*args, prng_mode=mode)
    assert str(info.value) == str(reference.value)


def test_valid_inputs_are_normalised():
    inputs = validate(3.0, np.arange(3, dtype=np.int64), 2.0, np.float64(0.5), "legacy")
    assert inputs.seed == 3 and isinstance(inputs.seed, int)
    assert inputs.features == 2 and isinstance(inputs.features, int)
    assert inputs.x.dtype == np.float32 and inputs.x.shape == (3,)
    assert inputs.scale == 0.5 and inputs.prng_mode == "legacy"


def test_domain_edges_are_accepted():
    assert validate(2**63 - 1, [1.0], 1, math.nan).seed == 2**63 - 1
    assert validate(-(2**63), [1.0], 1, -math.inf).seed == -(2**63)
    assert validate(0, [1e300], 1, 1e-320).x[0] == np.inf  # rounds to float32 as JAX does
    assert math.copysign(1, validate(0, [1.0], 1, -0.0).scale) == -1


@pytest.mark.jax
def test_domain_matches_what_nnx_raises():
    """The documented domain edges are where nnx itself fails (raw, unfriendly errors)."""
    import jax.numpy as jnp
    from flax import nnx

    with pytest.raises(ZeroDivisionError):
        nnx.Linear(0, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ZeroDivisionError):
        nnx.Linear(2, 0, rngs=nnx.Rngs(0))
    with pytest.raises(OverflowError):
        nnx.Linear(2, 2, rngs=nnx.Rngs(2**63))
    nnx.Linear(2, 2, rngs=nnx.Rngs(-(2**63)))(jnp.ones(2))
