"""What the statement's "pure" promise means in the installed Flax, measured.

The statement says: ``nnx.split``, ``tree_map`` and ``nnx.merge`` leave the original model
untouched and return a new model. Whether that holds, and how far "pure" reaches, changed
between Flax releases: state entries are ``Variable`` copies (0.8.2), ``VariableState`` (0.8.3
to 0.10) or the model's own ``Variable`` objects (0.11 on, so writing to a leaf of the split
state writes to the model); ``nnx.merge`` copies its input up to 0.11.1 and reuses it from
0.11.2. :func:`facts` probes each of these on fresh ``nnx.Linear(3, 2)`` models and returns a
JSON-able dict. The code runs unchanged on every Flax from 0.8.2 to 0.12.x (the split/merge
spellings come from ``implementations.nnx_compat``, values are read as pytree leaves so no probe
trips the ``.value`` deprecation of 0.12.1 except the one that asks about it).

``python -m oracles.purity`` prints the facts as JSON.
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import subprocess
import sys
import warnings
from typing import Any, Callable

import jax
import numpy as np

from implementations.nnx_compat import merge, nnx, split

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The import a learner writes, with the fallback for Flax 0.8.2/0.8.3 (flax.experimental.nnx).
IMPORT_NNX = ("try:\n    from flax import nnx\n"
              "except ImportError:\n    from flax.experimental import nnx\n")


def _model():
    return nnx.Linear(3, 2, rngs=nnx.Rngs(0))


def _entry(state, name: str):
    """The state entry (``VariableState`` or ``Variable``) stored under ``name``."""
    return state[name]


def _variable(model, name: str):
    """The model's own ``Variable`` object for attribute ``name``."""
    return vars(model)[name]


def _array(entry):
    """The array held by a ``Variable``/``VariableState``, read without ``.value`` if possible."""
    leaves = jax.tree_util.tree_leaves(entry)
    if len(leaves) == 1 and leaves[0] is not entry:
        return leaves[0]
    # Flax 0.8.4 to 0.10: a Variable is no pytree; raw_value skips the accessor logic.
    if hasattr(entry, "raw_value"):
        return entry.raw_value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return entry.value


def _bits(entry) -> np.ndarray:
    return np.asarray(_array(entry), dtype=np.float32).view(np.uint32).copy()


def _set_value(entry, value) -> None:
    with warnings.catch_warnings():  # the setter is the probe here, not its deprecation
        warnings.simplefilter("ignore")
        entry.value = value


def _scaled(state, factor: float = 2.0):
    return jax.tree_util.tree_map(lambda leaf: leaf * factor, state)


def _probe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - a probe that raises is a fact about the version
        return {"error": f"{type(err).__name__}: {err}"[:300]}


def recipe_is_pure() -> dict[str, Any]:
    """The statement's recipe on a fresh model: is the original untouched, the result new?"""
    model = _model()
    before = {n: _bits(_variable(model, n)) for n in ("kernel", "bias")}
    graphdef, state = split(model)
    merged = merge(graphdef, _scaled(state))
    after = {n: _bits(_variable(model, n)) for n in ("kernel", "bias")}
    doubled = np.asarray(_array(_variable(model, "kernel"))) * np.float32(2)
    return {
        "original_untouched": all(np.array_equal(before[n], after[n]) for n in before),
        "merged_is_new_object": merged is not model,
        "merged_shares_variables_with_original": any(
            _variable(merged, n) is _variable(model, n) for n in ("kernel", "bias")),
        "merged_is_scaled": bool(np.array_equal(
            np.asarray(_array(_variable(merged, "kernel"))), doubled)),
    }


def split_state_entries() -> dict[str, Any]:
    """What ``nnx.split`` hands out: entry type, and whether it is the model's own object."""
    model = _model()
    _, state = split(model)
    entry = _entry(state, "kernel")
    new_entry = _entry(_scaled(state), "kernel")
    return {
        "state_type": type(state).__name__,
        "entry_type": type(entry).__name__,
        "entry_kind": "VariableState" if type(entry).__name__ == "VariableState" else "Variable",
        "entry_is_model_variable": entry is _variable(model, "kernel"),
        "entry_shares_array_with_model": _array(entry) is _array(_variable(model, "kernel")),
        "tree_map_entry_type": type(new_entry).__name__,
    }


def split_leaf_mutation() -> dict[str, Any]:
    """Writing to an entry of the split state: does it reach the original model?"""
    model = _model()
    _, state = split(model)
    entry = _entry(state, "kernel")
    before = _bits(_variable(model, "kernel"))
    _set_value(entry, _array(entry) + 1.0)
    return {"reaches_model": not np.array_equal(before, _bits(_variable(model, "kernel")))}


def merge_sharing() -> dict[str, Any]:
    """Does the merged model reuse the state it was merged from (variables, arrays)?"""
    model = _model()
    graphdef, state = split(model)
    new_state = _scaled(state)
    merged = merge(graphdef, new_state)
    entry, variable = _entry(new_state, "kernel"), _variable(merged, "kernel")
    shares_variables = variable is entry
    shares_arrays = _array(variable) is _array(entry)
    before = _bits(variable)
    _set_value(entry, _array(entry) + 1.0)
    try:
        signature = str(inspect.signature(nnx.merge))
    except (TypeError, ValueError):
        signature = "?"
    return {
        "merged_shares_variables_with_state": shares_variables,
        "merged_shares_arrays_with_state": shares_arrays,
        "state_mutation_reaches_merged": not np.array_equal(before, _bits(variable)),
        "merge_signature": signature,
        "merge_has_copy_argument": "copy" in signature,
    }


def value_access() -> dict[str, Any]:
    """Does reading ``Variable.value`` warn?"""
    model = _model()
    variable = _variable(model, "kernel")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        variable.value  # noqa: B018 - the access is the probe
    first = caught[0] if caught else None
    return {
        "warns": bool(caught),
        "category": first.category.__name__ if first else None,
        "message": str(first.message).strip().splitlines()[0] if first else None,
    }


def import_under_warnings_as_errors(timeout: float = 300) -> dict[str, Any]:
    """Does ``from flax import nnx`` succeed under ``python -W error`` (a fresh interpreter)?"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-W", "error", "-c", IMPORT_NNX], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return {"ok": done.returncode == 0, "error": lines[-1][:300] if lines else None}


def api() -> dict[str, Any]:
    """Where nnx lives and which functions of the recipe exist as module functions."""
    with warnings.catch_warnings():  # 0.12 warns when the VariableState alias is looked up
        warnings.simplefilter("ignore")
        has_variable_state = hasattr(nnx, "VariableState")
    return {
        "module": nnx.__name__,
        "has_split": hasattr(nnx, "split"),
        "has_state": hasattr(nnx, "state"),
        "has_update": hasattr(nnx, "update"),
        "has_variable_state": has_variable_state,
    }


def facts(subprocess_checks: bool = True) -> dict[str, Any]:
    """Every purity fact of the installed Flax, as a JSON-able dict.

    Args:
        subprocess_checks: also run the ``-W error`` import check (a fresh interpreter).
    """
    import flax

    result: dict[str, Any] = {
        "flax": getattr(flax, "__version__", None),
        "jax": jax.__version__,
        "api": _probe(api),
        "recipe": _probe(recipe_is_pure),
        "split_state": _probe(split_state_entries),
        "split_leaf_mutation": _probe(split_leaf_mutation),
        "merge": _probe(merge_sharing),
        "value_access": _probe(value_access),
    }
    if subprocess_checks:
        result["import_nnx_W_error"] = _probe(import_under_warnings_as_errors)
    return result


# The facts the matrix report compares between envs, as (label, path into :func:`facts`).
SUMMARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("original untouched", ("recipe", "original_untouched")),
    ("merged is new", ("recipe", "merged_is_new_object")),
    ("state entry", ("split_state", "entry_kind")),
    ("entry is model's Variable", ("split_state", "entry_is_model_variable")),
    ("split-leaf write reaches model", ("split_leaf_mutation", "reaches_model")),
    ("merged shares state Variables", ("merge", "merged_shares_variables_with_state")),
    ("merged shares arrays", ("merge", "merged_shares_arrays_with_state")),
    (".value warns", ("value_access", "warns")),
    ("import under -W error", ("import_nnx_W_error", "ok")),
    ("nnx module", ("api", "module")),
    ("nnx.split exists", ("api", "has_split")),
)


def summary(found: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SUMMARY` facts of a :func:`facts` dict, by label (None where absent)."""
    out = {}
    for label, path in SUMMARY:
        value: Any = found
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[label] = value
    return out


def main() -> int:
    json.dump(facts(), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
