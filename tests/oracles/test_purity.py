"""The purity oracle: the statement's promise holds, and the version-dependent facts are as
measured across the matrix (``tox.ini``, Flax 0.8.2 ... 0.12.8, ``docs/matrix.md``).

Runs in every tox env. The version rules below were read off real runs of
``oracles.purity.facts()`` in those envs; an env that breaks one names a new behaviour change.
"""

from __future__ import annotations

import json
import re

import flax
import jax
import pytest

from oracles import purity


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


FLAX = _version(flax.__version__)
JAX = _version(jax.__version__)


@pytest.fixture(scope="module")
def facts():
    return purity.facts()


def test_facts_are_json_and_no_probe_crashed(facts):
    text = json.dumps(facts)
    assert json.loads(text) == facts
    crashed = {k: v for k, v in facts.items()
               if isinstance(v, dict) and "error" in v and k != "import_nnx_W_error"}
    assert not crashed, crashed


def test_the_statement_promise_holds(facts):
    """Original model untouched, merged model a new object with scaled params: every version."""
    recipe = facts["recipe"]
    assert recipe["original_untouched"] is True
    assert recipe["merged_is_new_object"] is True
    assert recipe["merged_is_scaled"] is True
    assert recipe["merged_shares_variables_with_original"] is False


def test_a_split_leaf_reaches_the_model_exactly_when_it_is_the_model_variable(facts):
    own = facts["split_state"]["entry_is_model_variable"]
    assert facts["split_leaf_mutation"]["reaches_model"] is own


def test_state_entries_by_version(facts):
    state = facts["split_state"]
    if FLAX >= (0, 11):
        assert (state["entry_kind"], state["entry_is_model_variable"]) == ("Variable", True)
    elif FLAX >= (0, 8, 3):
        assert (state["entry_kind"], state["entry_is_model_variable"]) == ("VariableState", False)
    else:  # 0.8.2: a Variable, but a copy of the model's
        assert (state["entry_kind"], state["entry_is_model_variable"]) == ("Variable", False)


def test_merge_sharing_by_version(facts):
    merge = facts["merge"]
    shares = FLAX >= (0, 11, 2)  # nnx.merge(..., copy=False) became the default in 0.11.2
    assert merge["merged_shares_variables_with_state"] is shares
    assert merge["state_mutation_reaches_merged"] is shares
    assert merge["merge_has_copy_argument"] is (FLAX >= (0, 11, 2))


def test_value_access_warns_from_flax_0_12_1(facts):
    access = facts["value_access"]
    assert access["warns"] is (FLAX >= (0, 12, 1))
    if access["warns"]:
        assert access["category"] == "DeprecationWarning"


def test_api_location_by_version(facts):
    api = facts["api"]
    assert api["module"] == ("flax.nnx" if FLAX >= (0, 8, 4) else "flax.experimental.nnx")
    assert api["has_split"] is (FLAX >= (0, 8, 3))
    # From 0.11 the name stays, as a (later deprecated) alias of Variable.
    assert api["has_variable_state"] is (FLAX >= (0, 8, 3))


def test_import_under_warnings_as_errors_is_recorded(facts):
    outcome = facts["import_nnx_W_error"]
    assert set(outcome) == {"ok", "error"}
    assert (outcome["error"] is None) is outcome["ok"]
    # Measured failures: Flax 0.8.2 on JAX 0.4.26 (jax.experimental.maps is deprecated) and
    # Flax 0.12.6 on JAX 0.10.2 (jax.core.Effect is deprecated).
    if FLAX == (0, 12, 6) and JAX >= (0, 10):
        assert not outcome["ok"] and "DeprecationWarning" in outcome["error"]
    if FLAX == (0, 12, 8):
        assert outcome["ok"], outcome


def test_summary_has_every_label(facts):
    summary = purity.summary(facts)
    assert list(summary) == [label for label, _ in purity.SUMMARY]
    assert summary["original untouched"] is True
