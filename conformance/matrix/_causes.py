"""Behaviour changes between neighbouring envs, and the known cause of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.matrix._results import get, version_tuple
from conformance.matrix._verdicts import cells, purity_summary

@dataclass(frozen=True)
class Cause:
    """A known cause of a behaviour change: ``package`` crossing ``boundary`` changes ``facts``."""

    facts: tuple[str, ...]
    package: str
    boundary: tuple[int, ...]
    text: str


CAUSES: tuple[Cause, ...] = (
    Cause(("PRNG default", "float variant", "numpy", "torch"), "jax", (0, 5, 0),
          "JAX 0.5.0 turned jax_threefry_partitionable on by default: the same seed gives other "
          "keys, so kernels and outputs move from class A (legacy.json) to class B "
          "(partitionable.json); toggling the flag reproduces either class exactly"),
    Cause(("nnx module",), "flax", (0, 8, 4),
          "Flax 0.8.4 moved nnx from flax.experimental.nnx to flax.nnx"),
    Cause(("nnx.split exists", "state entry"), "flax", (0, 8, 3),
          "Flax 0.8.3 added nnx.split/nnx.state/nnx.update and VariableState entries; 0.8.2 has "
          "only Module.split() (returning (state, graphdef)) and hands out Variable copies"),
    Cause(("state entry", "entry is model's Variable", "split-leaf write reaches model"),
          "flax", (0, 11, 0),
          "Flax 0.11 removed VariableState: nnx.split's State holds the model's own Variable "
          "objects, so writing to a leaf of the split state writes to the original model"),
    Cause(("merged shares state Variables",), "flax", (0, 11, 2),
          "Flax 0.11.2 made nnx.merge reuse its input by default (copy=False): the merged model "
          "holds the very Variables of the state it was merged from"),
    Cause(("float variant", "numpy", "torch"), "jaxlib", (0, 7, 0),
          "XLA:CPU's float32 code for the truncated normal (erf_inv, log1p) changed in jaxlib "
          "0.7.0: the same keys give kernels whose last bits differ in a few elements (up to 3 "
          "ULP), and so do the outputs that use them; recorded as a variant of the vectors"),
    Cause(("float variant", "numpy", "torch", "conformance run"), "jaxlib", (0, 8, 2),
          "XLA:CPU's float32 code for the truncated normal changed again between jaxlib 0.8.1 "
          "and 0.8.3 (0.8.2 not measured): from then on kernels equal the main vectors "
          "(recorded under jaxlib 0.10.2), which is the rounding the NumPy and torch ports "
          "reproduce; under older jaxlib they differ from JAX in those last bits"),
    Cause((".value warns",), "flax", (0, 12, 1),
          "Flax 0.12.1 deprecated Variable.value (DeprecationWarning; use variable[...])"),
)


def comparable_facts(report: dict) -> dict[str, Any]:
    """The facts whose change between neighbours is a behaviour change."""
    facts: dict[str, Any] = {"PRNG default": get(report, "jax", "prng_class")}
    for column, (text, _) in cells(report).items():
        if column in ("env", "Python", "Flax", "JAX", "NumPy", "PRNG default"):
            continue
        facts[column] = text
    for label, value in purity_summary(report).items():
        facts[label] = value
    return facts


def behaviour_changes(reports: list[dict]) -> list[dict[str, Any]]:
    """Every fact that differs between neighbouring envs, with its known or candidate causes."""
    changes = []
    for before, after in zip(reports, reports[1:]):
        old, new = comparable_facts(before), comparable_facts(after)
        for fact in new:
            if fact not in old or old[fact] == new[fact]:
                continue
            changes.append({
                "from_env": before.get("env"), "to_env": after.get("env"), "fact": fact,
                "before": old[fact], "after": new[fact],
                "causes": explain(fact, before, after),
            })
    return changes


def _pair(report: dict) -> str:
    return (f"Flax {get(report, 'versions', 'flax')} + "
            f"JAX {get(report, 'versions', 'jax')}")


def version_deltas(before: dict, after: dict) -> list[str]:
    """``"jax 0.4.38 -> 0.5.3"`` for every package whose version differs."""
    deltas = []
    for package in ("python", "flax", "jax", "jaxlib", "numpy"):
        a, b = get(before, "versions", package), get(after, "versions", package)
        if a != b:
            deltas.append(f"{package} {a} -> {b}")
    return deltas


def explain(fact: str, before: dict, after: dict) -> list[str]:
    """The known causes that straddle the two envs' versions, else the candidate deltas."""
    found = []
    for cause in CAUSES:
        if fact not in cause.facts:
            continue
        a = version_tuple(get(before, "versions", cause.package))
        b = version_tuple(get(after, "versions", cause.package))
        if min(a, b) < cause.boundary <= max(a, b):
            found.append(cause.text)
    if fact == "import under -W error":  # the warning itself is the cause; show it
        for report in (before, after):
            if get(report, "purity", "import_nnx_W_error", "ok") is False:
                error = get(report, "purity", "import_nnx_W_error", "error")
                found.append(f"under {_pair(report)}, importing nnx raises {error}")
    if not found:
        deltas = version_deltas(before, after)
        found.append("no known cause; candidates: " + (", ".join(deltas) or "no version changed"))
    return found
