"""Behaviour changes between neighbouring envs, and the one known cause of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.matrix._results import get, version_tuple
from conformance.matrix._verdicts import IMPLEMENTATION_ORDER, cells, purity_summary


@dataclass(frozen=True)
class Cause:
    """A known cause of a behaviour change: ``package`` crossing ``boundary`` changes ``facts``."""

    facts: tuple[str, ...]
    package: str
    boundary: tuple[int, ...]
    text: str


#: Each cause names the facts it changes and no other, so that a change between neighbours is
#: explained by one cause (the latest one it crosses, where a jump crosses several).
CAUSES: tuple[Cause, ...] = (
    Cause(("PRNG default",), "jax", (0, 5, 0),
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
    """The one cause of a change of ``fact`` between the two envs (a list of one)."""
    if fact == "float variant":
        return [_float_cause(before, after)]
    if fact in IMPLEMENTATION_ORDER and "unavailable" in (cells(before)[fact][0],
                                                          cells(after)[fact][0]):
        return [_availability_cause(fact, before, after)]
    if fact == "import under -W error":  # the warning itself is the cause: show it
        for report in (before, after):
            if get(report, "purity", "import_nnx_W_error", "ok") is False:
                error = get(report, "purity", "import_nnx_W_error", "error")
                return [f"under {_pair(report)}, importing nnx raises {error}"]
    crossed = []
    for cause in CAUSES:
        if fact not in cause.facts:
            continue
        a = version_tuple(get(before, "versions", cause.package))
        b = version_tuple(get(after, "versions", cause.package))
        if min(a, b) < cause.boundary <= max(a, b):
            crossed.append(cause)
    if crossed:  # a jump across several: the latest change decides the later state
        return [max(crossed, key=lambda c: c.boundary).text]
    deltas = version_deltas(before, after)
    return ["no known cause; candidates: " + (", ".join(deltas) or "no version changed")]


def _float_cause(before: dict, after: dict) -> str:
    """XLA:CPU's float32 log1p, as the two envs' jaxlib releases compile it."""
    old, new = cells(before)["float variant"][0], cells(after)["float variant"][0]
    return (f"XLA:CPU compiles the truncated normal's float32 log1p differently in jaxlib "
            f"{get(before, 'versions', 'jaxlib')} (rounding {old}) and "
            f"{get(after, 'versions', 'jaxlib')} (rounding {new}): the same keys give kernels "
            f"whose last bits differ in a few elements; the ports follow the installed jaxlib "
            f"(their float_variant), and the vectors record each rounding as a variant")


def _availability_cause(name: str, before: dict, after: dict) -> str:
    """An implementation that runs in one env and not the other: its packages."""
    missing = [get(r, "implementations", name, "message") for r in (before, after)]
    reason = next((m for m in missing if isinstance(m, str)), "its packages are missing")
    return (f"{name} runs only where its packages are installed: here {reason} in one env "
            f"(torch is installed in the envs named with the torch factor, on Python 3.11, "
            f"the one Python its CPU wheel is on this machine for)")
