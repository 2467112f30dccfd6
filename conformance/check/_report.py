"""Reports of ``nnx-conformance check``: short text for the learner, versioned JSON for machines.

The JSON document (``nnx-conformance/check/1``) is specified once, as a JSON Schema, in
``result.schema.json`` beside this module (:data:`SCHEMA_PATH`); ``docs/check.md`` explains its
fields. Non-finite floats are never written as JSON literals (which would be invalid JSON):
every NaN, +inf and -inf anywhere in the document is the string ``"nan"``, ``"inf"`` or
``"-inf"``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import IO, Any, Sequence

from conformance.check._grader import CheckResult

SCHEMA = "nnx-conformance/check/1"
SCHEMA_PATH = Path(__file__).resolve().with_name("result.schema.json")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string name (see module doc)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def result_dict(result: CheckResult) -> dict[str, Any]:
    """One solution's result as the schema's object."""
    return _finite({
        "solution": result.solution, "verdict": result.verdict, "diagnosis": result.diagnosis,
        "counterexample": result.counterexample, "cases": result.cases, "shapes": result.shapes,
        "duration_s": round(result.duration_s, 3), "environment": result.environment,
        "warnings": result.warnings, "purity": result.purity, "output": result.output,
        "confinement": result.confinement})


def document(results: Sequence[CheckResult]) -> dict[str, Any]:
    """The whole JSON document for a (batch) check."""
    return {"schema": SCHEMA, "ok": all(r.ok for r in results),
            "results": [result_dict(r) for r in results]}


def write_json(results: Sequence[CheckResult], target: str) -> None:
    """Writes :func:`document` to ``target`` (``-`` is stdout); strict JSON, no NaN literals."""
    text = json.dumps(document(results), indent=2, allow_nan=False)
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


def _fmt(values: Any) -> str:
    if not isinstance(values, list):
        return str(values)
    shown = ", ".join(f"{v:.7g}" if isinstance(v, float) else str(v) for v in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"


def render_text(result: CheckResult, stream: IO[str] | None = None) -> None:
    """The learner-facing summary: verdict, counterexample, expected vs actual, hint, repro."""
    out = stream or sys.stdout
    name = result.solution
    if result.ok:
        print(f"PASS  {name}: conforms on {result.cases} cases over {result.shapes} shapes "
              f"({result.duration_s:.1f} s)", file=out)
    else:
        d = result.diagnosis or {}
        print(f"FAIL  {name}: {d.get('kind', 'failure')}", file=out)
        print(f"  {d.get('message', '')}".replace("\n", "\n  "), file=out)
        ce = result.counterexample
        if ce:
            print(f"  smallest failing input: seed={ce['seed']}, x={_fmt(ce['x'])}, "
                  f"features={ce['features']}, scale={ce['scale']!r}", file=out)
            if "expected" in ce:
                print(f"  expected: {_fmt(ce['expected'])}", file=out)
            if "actual" in ce:
                print(f"  actual:   {_fmt(ce['actual'])}", file=out)
        if d.get("mutant"):
            print(f"  this looks like the known mistake '{d['mutant']}'", file=out)
        if d.get("hint"):
            print(f"  hint: {d['hint']}", file=out)
        if ce:
            print("  reproduce (paste below your function):", file=out)
            print("    " + ce["reproducer"].replace("\n", "\n    "), file=out)
        shown = [s for s in ("stdout", "stderr") if result.output.get(s, "").strip()]
        for stream_name in shown:
            text = result.output[stream_name].strip().splitlines()[-6:]
            print(f"  your {stream_name} (last lines):", file=out)
            for line in text:
                print(f"    | {line[:200]}", file=out)
    if result.purity.get("checked") and result.purity.get("pure") is False:
        print("  note: the function modified the model it built (not graded: the statement "
              "asks for a pure update)", file=out)
    if result.warnings:
        print(f"  note: {len(result.warnings)} warning(s), e.g. {result.warnings[0]['category']}"
              f": {result.warnings[0]['message'].strip().splitlines()[0][:120]} (informational)", file=out)
