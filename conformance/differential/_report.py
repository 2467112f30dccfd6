"""Reports of a differential run: a terminal table and a versioned JSON document."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any, TextIO

from conformance.core import EDGE_CLASSES, package_version, versions
from conformance.differential._runner import Cell, RunResult
from implementations import resolve_prng_mode, resolve_x64

RUN_SCHEMA = "nnx-conformance/run/1"


def environment() -> dict[str, Any]:
    """Versions and modes that decide the reference behaviour."""
    return {**versions(), "hypothesis": package_version("hypothesis"),
            "machine": platform.machine(), "prng_mode": resolve_prng_mode(None),
            "x64": resolve_x64()}


def _cell(cell: Cell | None) -> str:
    if cell is None or cell.agreed + cell.disagreed == 0:
        return "-"
    if cell.disagreed:
        return f"DISAGREED {cell.disagreed}/{cell.agreed + cell.disagreed}"
    return f"agreed {cell.agreed}"


def _rows(table: dict[str, dict[str, Cell]]) -> list[str]:
    seen = {label for cells in table.values() for label in cells}
    ordered = [c for c in EDGE_CLASSES if c in seen]
    return ordered + sorted(seen - set(ordered) - {"all"}) + ["all"]


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def render_text(result: RunResult, stream: TextIO = sys.stdout, show: int = 10) -> None:
    """Prints the edge class x implementation table, relations, failures and the verdict."""
    names = result.implementations + sorted(result.unavailable)
    rows = []
    for label in _rows(result.table):
        rows.append([label] + [
            "unavailable" if n in result.unavailable else _cell(result.table[n].get(label))
            for n in names])
    print(f"nnx-conformance run: {result.cases} cases over {result.shapes} shapes, "
          f"{result.comparisons} comparisons in {result.duration_s:.1f} s "
          f"(reference kernels: {result.reference}; host fma={result.fma}, "
          f"ftz={result.semantics.ftz}, daz={result.semantics.daz})", file=stream)
    print(_grid(["edge class"] + names, rows), file=stream)
    rel_rows = [[name, _cell(cells.get("all"))] for name, cells in result.relations.items()]
    print("\n" + _grid(["oracle (all implementations)", "result"], rel_rows), file=stream)
    for name, install in sorted(result.unavailable.items()):
        print(f"\n{name} is unavailable: install it with `{install}`", file=stream)
    for failure in result.failures[:show]:
        print(f"\nFAIL {failure['impl']} {failure['case']}", file=stream)
        for message in failure["messages"][:5]:
            print(f"  {message}", file=stream)
        print("  reproduce with:\n    " + failure["reproducer"].replace("\n", "\n    "),
              file=stream)
    if result.failed > show:
        print(f"\n... and {result.failed - show} more failing (implementation, case) pairs "
              "(see --json)", file=stream)
    for error in result.errors:
        print(f"\nERROR {error}", file=stream)
    verdict = "PASS: all implementations agree" if result.ok else "FAIL"
    print(f"\n{verdict}", file=stream)


def to_json(result: RunResult) -> dict[str, Any]:
    """The run as a JSON-able dict (schema ``nnx-conformance/run/1``)."""
    def cells(table):
        return {k: {label: {"agreed": c.agreed, "disagreed": c.disagreed}
                    for label, c in v.items()} for k, v in table.items()}

    status = {n: ("disagreed" if result.table[n].get("all", Cell()).disagreed else "agreed")
              for n in result.implementations}
    status.update({n: "unavailable" for n in result.unavailable})
    return {
        "schema": RUN_SCHEMA,
        "ok": result.ok,
        "environment": environment(),
        "host": {"fma": result.fma, "ftz": result.semantics.ftz, "daz": result.semantics.daz},
        "cases": result.cases,
        "shapes": result.shapes,
        "comparisons": result.comparisons,
        "duration_s": round(result.duration_s, 3),
        "reference": result.reference,
        "implementations": {n: {"status": s, "install": result.unavailable.get(n),
                                "seconds": round(result.per_impl_seconds.get(n, 0.0), 3)}
                            for n, s in status.items()},
        "table": cells(result.table),
        "oracles": cells(result.relations),
        "failed": result.failed,
        "failures": result.failures,
        "errors": result.errors,
    }


def write_json(result: RunResult, path: str) -> None:
    text = json.dumps(to_json(result), indent=2, allow_nan=False, default=str)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
