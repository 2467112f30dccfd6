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


#: The verdict columns, first on the page: what makes an env green or not.
VERDICTS = ("known answers", "conformance run", *IMPLEMENTATION_ORDER)
#: Facts that describe an env without judging it.
FACTS = ("PRNG default", "float variant")
#: Shown a click away: the other class by toggling, x64 flipped.
DETAILS = ("other class (toggled)", "x64 flipped")


def versions_text(report: dict) -> str:
    """The versions actually installed in the env, on one line."""
    versions = report.get("versions", {})
    return " ".join(f"{name} {versions.get(key) or '?'}" for name, key in (
        ("Python", "python"), ("Flax", "flax"), ("JAX", "jax"), ("jaxlib", "jaxlib"),
        ("NumPy", "numpy")))


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
    row["float variant"] = _variant_cell(report)
    row["other class (toggled)"] = _ka_cell(ka.get("other_mode"))
    flipped = ka.get("x64_flipped") or []
    row["x64 flipped"] = _combine([_ka_cell(v) for v in flipped]) if flipped else ("n/a", "na")
    run = report.get("conformance_run") or {}
    row["conformance run"] = _run_cell(run)
    for name in IMPLEMENTATION_ORDER:
        row[name] = _implementation_cell(get(report, "implementations", name),
                                         get(run, "implementations", name))
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
        kernels = verdict.get("kernel_mismatches", [])
        outputs = verdict.get("output_mismatches", [])
        if not kernels:
            return (f"kernels exact; {len(outputs)}/{verdict.get('compared')} outputs differ",
                    "warn")
        return (f"{len(kernels)}/{verdict.get('compared')} kernels differ", "fail")
    return (f"error: {verdict.get('message', '?')[:80]}", "fail")


def _variant_cell(report: dict) -> tuple[str, str]:
    """How the env's jaxlib rounds the truncated normal: the ports' float variant there (as
    the env recorded it; the report reader imports neither NumPy nor JAX)."""
    variant = report.get("float_variant")
    return (variant, "info") if isinstance(variant, str) else ("n/a", "na")


def _implementation_cell(vectors: Any, run: Any) -> tuple[str, str]:
    """An implementation against its class's vectors and in the run; "unavailable" where its
    packages are not installed in the env (never a silence)."""
    if isinstance(run, dict) and run.get("status") == "unavailable" or (
            isinstance(vectors, dict) and vectors.get("status") == "unavailable"):
        return ("unavailable", "na")
    if isinstance(run, dict) and run.get("status") == "disagreed":
        return ("DISAGREES in the run", "fail")
    return _ka_cell(vectors)


def _combine(parts: list[tuple[str, str]]) -> tuple[str, str]:
    rank = {"fail": 3, "warn": 2, "na": 1, "pass": 0, "info": 0}
    worst = max((p[1] for p in parts), key=lambda s: rank[s])
    return (" / ".join(p[0] for p in parts), worst)


def _run_cell(run: dict) -> tuple[str, str]:
    status = run.get("status")
    if status == "pass":
        return ("agreed", "pass")
    if status == "fail":
        failing = [n for n, r in (run.get("implementations") or {}).items()
                   if isinstance(r, dict) and r.get("status") == "disagreed"]
        return (f"DISAGREE ({', '.join(failing)})" if failing else "DISAGREE", "fail")
    if status in ("unavailable", "skipped"):
        return (status, "na")
    return (f"{status}: {str(run.get('message', ''))[:80]}", "fail")


def purity_summary(report: dict) -> dict[str, Any]:
    """The purity facts of an env report by label (``oracles.purity.summary``, recorded by the
    env itself); absent labels are None."""
    found = report.get("purity_summary")
    found = found if isinstance(found, dict) else {}
    return {label: found.get(label) for label in PURITY_COLUMNS}


def failures(report: dict) -> list[str]:
    """Why an env is not green (empty: it is): its class's vectors not bit-exact, the run not
    agreed, an implementation that differs, the statement's promise broken."""
    row = cells(report)
    found = [f"{column}: {row[column][0]}" for column in VERDICTS
             if row[column][1] == "fail" or (column == "known answers"
                                             and row[column][1] != "pass")]
    if row["original untouched"][1] not in ("pass", "na"):
        found.append("the original model was modified")
    return found


def env_ok(report: dict) -> bool:
    """Whether an env conforms: its class's vectors bit-exact, the run agreed, every
    available implementation exact, purity held."""
    return not failures(report)
