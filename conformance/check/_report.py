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
import re
import sys
from pathlib import Path
from typing import IO, Any, Sequence

from conformance.check._grader import CheckResult

SCHEMA = "nnx-conformance/check/1"
SCHEMA_PATH = Path(__file__).resolve().with_name("result.schema.json")


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, a surrogate is always a lone one


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate (an invalid file name, a forged message) replaced by
    U+FFFD: what the JSON holds, valid for every strict parser."""
    return _SURROGATE.sub("\ufffd", text)


def _shown(text: Any) -> str:
    """Learner text for a terminal: clean, and every control character but newline and tab
    escaped (a carriage return or an escape sequence could redraw the report's lines)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xFF
                        else f"\\x{ord(m.group()):02x}", clean_text(str(text)))


def _one_line(text: Any) -> str:
    """:func:`_shown`, its newlines escaped too: for a field shown within a line."""
    return _shown(text).replace("\n", "\\n")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string name and every string
    cleaned (see module doc)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _finite(v) for k, v in value.items()}
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
        "confinement": result.confinement, "salt": result.salt,
        "submission": result.submission if result.submission is not None else result.solution,
        "sha256": result.sha256, "subtests": result.subtests, "notes": result.notes})


def document(results: Sequence[CheckResult | dict[str, Any]]) -> dict[str, Any]:
    """The whole JSON document for a (batch) check, of results or of their objects as
    :func:`result_dict` made them (a log's, a merge's)."""
    records = [r if isinstance(r, dict) else result_dict(r) for r in results]
    return {"schema": SCHEMA, "ok": all(r["verdict"] == "pass" for r in records),
            "results": records}


def write_json(results: Sequence[CheckResult | dict[str, Any]], target: str) -> None:
    """Writes :func:`document` to ``target`` (``-`` is stdout); strict JSON, no NaN literals."""
    write_text(json.dumps(document(results), indent=2, allow_nan=False), target)


def write_text(text: str, target: str) -> None:
    """Writes a result file's ``text``, ending in one newline, to ``target`` (``-``: stdout)."""
    text = text.rstrip("\n") + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)


def _fmt(values: Any) -> str:
    if not isinstance(values, list):
        return str(values)
    shown = ", ".join(f"{v:.7g}" if isinstance(v, float) else str(v) for v in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"


def _indented(text: Any, prefix: str) -> str:
    """Learner text shown safely, every line of it behind ``prefix`` (so that no line of the
    learner's can pass for a line of the report)."""
    lines = _shown(text).split("\n") or [""]
    return "\n".join(prefix + line for line in lines)


def render_text(result: CheckResult, stream: IO[str] | None = None) -> None:
    """The learner-facing summary: verdict, counterexample, expected vs actual, hint, repro.

    Whatever the learner's texts hold, every line of theirs is indented and shown safely, and
    the report is written even to a stream that cannot encode it (escaped instead).
    """
    lines: list[str] = []
    add = lines.append
    name = _one_line(result.solution)
    if result.ok:
        add(f"PASS  {name}: conforms on {result.cases} cases over {result.shapes} shapes "
            f"({result.duration_s:.1f} s)")
    else:
        d = result.diagnosis or {}
        add(f"{'ERROR' if result.verdict == 'error' else 'FAIL '} {name}: "
            f"{_one_line(d.get('kind', 'failure'))}")
        add(_indented(d.get("message", ""), "  "))
        ce = result.counterexample
        if ce:
            add(f"  smallest failing input: seed={ce['seed']}, x={_fmt(ce['x'])}, "
                f"features={ce['features']}, scale={ce['scale']!r}")
            if "expected" in ce:
                add(f"  expected: {_fmt(ce['expected'])}")
            if "actual" in ce:
                add(_indented(_fmt(ce["actual"]), "  actual:   "))
        if d.get("mutant"):
            add(f"  this looks like the known mistake '{_one_line(d['mutant'])}'")
        if d.get("hint"):
            add(f"  hint: {_one_line(d['hint'])}")
        if ce:
            add("  reproduce (paste below your function):")
            add(_indented(ce["reproducer"], "    "))
        for stream_name in ("stdout", "stderr"):
            text = _shown(result.output.get(stream_name, "")).strip()
            if text:
                add(f"  your {stream_name} (last lines):")
                lines.extend(f"    | {line[:200]}" for line in text.split("\n")[-6:])
    failed = [t["name"] for t in result.subtests if not t["passed"]]
    if failed and result.verdict == "fail":
        add(f"  sub-tests: {len(result.subtests) - len(failed)}/{len(result.subtests)} passed; "
            f"failed: {', '.join(failed)}")
    if result.notes:
        add(f"  left out of the notebook: {_one_line('; '.join(result.notes[:5]))[:300]}"
            + (f" (and {len(result.notes) - 5} more)" if len(result.notes) > 5 else ""))
    if result.purity.get("checked") and result.purity.get("pure") is False:
        add("  note: the function modified the model it built (not graded: the statement "
            "asks for a pure update)")
    if result.warnings:
        first = result.warnings[0]
        message = _shown(first.get("message", "")).strip().split("\n")[0][:120]
        add(f"  note: {len(result.warnings)} warning(s), e.g. "
            f"{_one_line(first.get('category', ''))[:80]}: {message} (informational)")
    if result.salt is not None:
        add(f"  cases drawn with --seed {result.salt}")
    _write("\n".join(lines) + "\n", stream or sys.stdout)


def _write(text: str, stream: IO[str]) -> None:
    """Writes ``text``, escaping what ``stream``'s encoding cannot hold."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()
