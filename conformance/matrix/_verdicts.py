"""Verdicts per env: the table's cells, each a text and a status (pass/warn/fail/na/info)."""

from __future__ import annotations

from typing import Any

from conformance.matrix._results import get

IMPLEMENTATION_ORDER = ("split_merge", "state_update", "numpy", "torch")
# Purity facts shown in the table: label -> the value that keeps "pure" simple for a learner.
PURITY_COLUMNS: dict[str, Any] = {
    "original untouched": True,
    "state entry": None,
    "entry is model's Variable": False,
    "split-leaf write reaches model": False,
    "merged shares state Variables": False,
    "merged shares arrays": None,
    ".value warns": False,
    "import under -W error": True,
    "nnx module": None,
    "nnx.split exists": True,
}


def cells(report: dict) -> dict[str, tuple[str, str]]:
    """The env's table cells: column -> (text, status), status in pass/warn/fail/na/info."""
    versions = report.get("versions", {})
    row: dict[str, tuple[str, str]] = {
        "env": (report.get("env", "?"), "info"),
        "Python": (versions.get("python") or "?", "info"),
        "Flax": (versions.get("flax") or "?", "info"),
        "JAX": (versions.get("jax") or "?", "info"),
        "NumPy": (versions.get("numpy") or "?", "info"),
    }
    mode = get(report, "jax", "prng_mode")
    row["PRNG default"] = (f"{get(report, 'jax', 'prng_class', default='?')} ({mode})", "info")
    ka = report.get("known_answers") or {}
    row["known answers"] = _ka_cell(ka.get("default"))
    row["float variant"] = _variant_cell(ka.get("default"))
    row["other class (toggled)"] = _ka_cell(ka.get("other_mode"))
    flipped = ka.get("x64_flipped") or []
    row["x64 flipped"] = _combine([_ka_cell(v) for v in flipped]) if flipped else ("n/a", "na")
    for name in _implementations([report]):
        row[name] = _ka_cell(get(report, "implementations", name))
    row["conformance run"] = _run_cell(report.get("conformance_run") or {})
    summary = purity_summary(report)
    for label, good in PURITY_COLUMNS.items():
        value = summary.get(label)
        if value is None:
            row[label] = ("n/a", "na")
        elif good is None:
            row[label] = (show(value), "info")
        else:
            row[label] = (show(value), "pass" if value == good else "warn")
    return row


def show(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(
        value)


def _ka_cell(verdict: Any) -> tuple[str, str]:
    if not isinstance(verdict, dict):
        return ("n/a", "na")
    status = verdict.get("status")
    if status == "pass":
        return (f"bit-exact ({verdict.get('compared')})", "pass")
    if status == "unavailable":
        return ("unavailable", "na")
    if status == "missing":
        return ("NO VECTORS", "fail")
    if status == "fail":
        kernels, outputs = verdict.get("kernel_mismatches", []), verdict.get("output_mismatches", [])
        if not kernels:
            return (f"kernels exact; {len(outputs)}/{verdict.get('compared')} outputs differ",
                    "warn")
        return (f"{len(kernels)}/{verdict.get('compared')} kernels differ", "fail")
    return (f"error: {verdict.get('message', '?')[:80]}", "fail")


def _variant_cell(verdict: Any) -> tuple[str, str]:
    """Which last-bit variant of the vectors this env's jaxlib matched ("main" if none)."""
    if not isinstance(verdict, dict) or verdict.get("status") in (None, "missing", "error"):
        return ("n/a", "na")
    if not verdict.get("variant"):
        return ("main", "info")
    versions = verdict.get("variant_jaxlib") or []
    span = f"{versions[0]}..{versions[-1]}" if versions else "?"
    return (f"{verdict['variant']} (jaxlib {span})", "info")


def _combine(parts: list[tuple[str, str]]) -> tuple[str, str]:
    rank = {"fail": 3, "warn": 2, "na": 1, "pass": 0, "info": 0}
    worst = max((p[1] for p in parts), key=lambda s: rank[s])
    return (" / ".join(p[0] for p in parts), worst)


def _run_cell(run: dict) -> tuple[str, str]:
    status = run.get("status")
    if status == "pass":
        agreed = [n for n, r in (run.get("implementations") or {}).items()
                  if isinstance(r, dict) and r.get("status") in ("agreed", "pass", "ok")]
        return (f"ok ({', '.join(agreed)})" if agreed else "ok", "pass")
    if status == "fail":
        return ("DISAGREE", "fail")
    if status in ("unavailable", "skipped"):
        return (status, "na")
    return (f"{status}: {str(run.get('message', ''))[:80]}", "fail")


def _implementations(reports: list[dict]) -> list[str]:
    names = {n for r in reports for n in (r.get("implementations") or {}) if n not in (
        "status", "message", "traceback")}
    return sorted(names, key=lambda n: (IMPLEMENTATION_ORDER.index(n)
                                        if n in IMPLEMENTATION_ORDER else 99, n))


def purity_summary(report: dict) -> dict[str, Any]:
    """The purity facts of an env report by label (see ``oracles.purity.SUMMARY``)."""
    from oracles.purity import SUMMARY  # imports JAX: only when a report is tabulated

    facts = report.get("purity") or {}
    out = {}
    for label, path in SUMMARY:
        out[label] = get(facts, *path)
    return out


def env_ok(report: dict) -> bool:
    """Whether an env conforms: its class's vectors bit-exact, the run agreed, purity held."""
    row = cells(report)
    needed = [row["known answers"], row["conformance run"], row["original untouched"]]
    needed += [row[n] for n in ("split_merge", "state_update") if n in row]
    return all(status in ("pass", "na") for _, status in needed[1:]) and needed[0][1] == "pass"
