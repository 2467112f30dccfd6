"""``nnx-conformance matrix``: run the tox version matrix and report it as Markdown and HTML.

Each tox env (``tox.ini``) writes ``reports/matrix/<env>.json`` (``oracles.env_report``). This
command runs the envs (``tox p``) or, with ``--collect``, takes the files already there, and
writes ``report.md`` and a self-contained ``report.html`` beside them: one row per env, one
column per implementation and oracle, and every behaviour change between neighbouring envs
(ordered by Flax, JAX, Python, NumPy) with its cause.

    python -m conformance._matrix                 # the whole matrix, two envs at a time
    python -m conformance._matrix -m ci           # a tox label
    python -m conformance._matrix -e py311-flax0.12.9-jax0.10.3   # one (new) env
    python -m conformance._matrix --collect       # re-render from existing JSON

Exit codes: 0 every env ran and conforms, 1 an env failed or disagrees, 2 usage error.
"""

from __future__ import annotations

import argparse
import html
import json
import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "reports" / "matrix"
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


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or "")[:3])


def _get(data: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


# --------------------------------------------------------------------------------------------
# Loading and running


def load_results(directory: pathlib.Path, envs: Iterable[str] | None = None) -> list[dict]:
    """The env reports in ``directory`` (only ``envs`` if given), sorted as neighbours."""
    wanted = set(envs) if envs else None
    reports = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "env" not in data or "versions" not in data:
            continue  # not an env report
        if wanted is None or data["env"] in wanted:
            reports.append(data)
    return sorted(reports, key=sort_key)


def tox_env_list(tox_ini: pathlib.Path = ROOT / "tox.ini") -> list[str]:
    """The envs of ``tox.ini``'s ``env_list`` (empty if there is no tox.ini)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(tox_ini) or "tox" not in parser:
        return []
    return [e.strip() for e in parser["tox"].get("env_list", "").split("\n") if e.strip()]


def sort_key(report: dict) -> tuple:
    """Envs are neighbours in (Flax, JAX, Python, NumPy) order."""
    versions = report.get("versions", {})
    return tuple(_version(versions.get(p)) for p in ("flax", "jax", "python", "numpy")) + (
        report.get("env", ""),)


def run_tox(envs: Sequence[str], label: str | None, parallel: int,
            tox: Sequence[str] | None = None) -> int:
    """Runs the envs (all of ``env_list`` if none given) with tox; returns tox's exit code."""
    command = list(tox or [sys.executable, "-m", "tox"])
    if parallel > 1 and len(envs) != 1:
        command += ["p", "-p", str(parallel)]
    else:
        command += ["run"]
    if label:
        command += ["-m", label]
    elif envs:
        command += ["-e", ",".join(envs)]
    print("matrix:", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.call(command, cwd=ROOT)


# --------------------------------------------------------------------------------------------
# Verdicts per env


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
    mode = _get(report, "jax", "prng_mode")
    row["PRNG default"] = (f"{_get(report, 'jax', 'prng_class', default='?')} ({mode})", "info")
    ka = report.get("known_answers") or {}
    row["known answers"] = _ka_cell(ka.get("default"))
    row["float variant"] = _variant_cell(ka.get("default"))
    row["other class (toggled)"] = _ka_cell(ka.get("other_mode"))
    flipped = ka.get("x64_flipped") or []
    row["x64 flipped"] = _combine([_ka_cell(v) for v in flipped]) if flipped else ("n/a", "na")
    for name in _implementations([report]):
        row[name] = _ka_cell(_get(report, "implementations", name))
    row["conformance run"] = _run_cell(report.get("conformance_run") or {})
    summary = purity_summary(report)
    for label, good in PURITY_COLUMNS.items():
        value = summary.get(label)
        if value is None:
            row[label] = ("n/a", "na")
        elif good is None:
            row[label] = (_show(value), "info")
        else:
            row[label] = (_show(value), "pass" if value == good else "warn")
    return row


def _show(value: Any) -> str:
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
    from oracles.purity import SUMMARY

    facts = report.get("purity") or {}
    out = {}
    for label, path in SUMMARY:
        out[label] = _get(facts, *path)
    return out


def env_ok(report: dict) -> bool:
    """Whether an env conforms: its class's vectors bit-exact, the run agreed, purity held."""
    row = cells(report)
    needed = [row["known answers"], row["conformance run"], row["original untouched"]]
    needed += [row[n] for n in ("split_merge", "state_update") if n in row]
    return all(status in ("pass", "na") for _, status in needed[1:]) and needed[0][1] == "pass"


# --------------------------------------------------------------------------------------------
# Behaviour changes


def comparable_facts(report: dict) -> dict[str, Any]:
    """The facts whose change between neighbours is a behaviour change."""
    facts: dict[str, Any] = {"PRNG default": _get(report, "jax", "prng_class")}
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
    return (f"Flax {_get(report, 'versions', 'flax')} + "
            f"JAX {_get(report, 'versions', 'jax')}")


def version_deltas(before: dict, after: dict) -> list[str]:
    """``"jax 0.4.38 -> 0.5.3"`` for every package whose version differs."""
    deltas = []
    for package in ("python", "flax", "jax", "jaxlib", "numpy"):
        a, b = _get(before, "versions", package), _get(after, "versions", package)
        if a != b:
            deltas.append(f"{package} {a} -> {b}")
    return deltas


def explain(fact: str, before: dict, after: dict) -> list[str]:
    """The known causes that straddle the two envs' versions, else the candidate deltas."""
    found = []
    for cause in CAUSES:
        if fact not in cause.facts:
            continue
        a = _version(_get(before, "versions", cause.package))
        b = _version(_get(after, "versions", cause.package))
        if min(a, b) < cause.boundary <= max(a, b):
            found.append(cause.text)
    if fact == "import under -W error":  # the warning itself is the cause; show it
        for report in (before, after):
            if _get(report, "purity", "import_nnx_W_error", "ok") is False:
                error = _get(report, "purity", "import_nnx_W_error", "error")
                found.append(f"under {_pair(report)}, importing nnx raises {error}")
    if not found:
        deltas = version_deltas(before, after)
        found.append("no known cause; candidates: " + (", ".join(deltas) or "no version changed"))
    return found


# --------------------------------------------------------------------------------------------
# Rendering


def columns(reports: list[dict]) -> list[str]:
    seen: list[str] = []
    for report in reports:
        for column in cells(report):
            if column not in seen:
                seen.append(column)
    return seen


def class_summary(reports: list[dict]) -> list[str]:
    """One line per PRNG class: which envs produced it and whether they agree bit for bit."""
    lines = []
    for cls in ("A", "B"):
        members = [r for r in reports if _get(r, "jax", "prng_class") == cls]
        if not members:
            lines.append(f"class {cls}: no env in this run")
            continue
        exact = [r["env"] for r in members if _get(r, "known_answers", "default", "status") == "pass"]
        other = [r["env"] for r in members if r["env"] not in exact]
        jaxes = sorted({_get(r, "versions", "jax") for r in members}, key=_version)
        text = (f"class {cls} (JAX {', '.join(jaxes)}): {len(exact)}/{len(members)} envs "
                f"bit-identical to the vectors")
        lines.append(text + (f"; differing: {', '.join(other)}" if other else ""))
    hosts = {json.dumps(_get(r, "host", "xla_cpu"), sort_keys=True) for r in reports}
    cpus = {str(_get(r, "host", "cpu")) for r in reports}
    lines.append(f"host: {', '.join(sorted(cpus))}; XLA:CPU float32 semantics "
                 f"{'identical in every env' if len(hosts) == 1 else 'DIFFER between envs'}: "
                 f"{', '.join(sorted(hosts))}")
    return lines


def render_markdown(reports: list[dict]) -> str:
    """The report as GitHub-flavoured Markdown."""
    cols = columns(reports)
    out = ["# nnx-conformance version matrix", "",
           f"{len(reports)} envs; generated by `python -m conformance._matrix`. Rows are "
           "ordered by Flax, JAX, Python, NumPy; neighbours are compared below.", ""]
    out += [f"- {line}" for line in class_summary(reports)] + [""]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "---|" * len(cols))
    for report in reports:
        row = cells(report)
        out.append("| " + " | ".join(_md_cell(row.get(c, ("", "na"))) for c in cols) + " |")
    out += ["", "Cells: **FAIL** fails the env; *italic* is a documented difference "
            "(a port's last bits, or a purity fact that differs from the statement's picture).",
            "", "## Behaviour changes between neighbouring envs", ""]
    changes = behaviour_changes(reports)
    if not changes:
        out.append("None.")
    for change in changes:
        out.append(f"- `{change['from_env']}` -> `{change['to_env']}`: **{change['fact']}** "
                   f"{_show(change['before'])} -> {_show(change['after'])}. "
                   + " ".join(f"Cause: {c}." for c in change["causes"]))
    return "\n".join(out) + "\n"


def _md_cell(cell: tuple[str, str]) -> str:
    text, status = cell
    text = text.replace("|", "\\|")
    return {"fail": f"**{text}**", "warn": f"*{text}*"}.get(status, text)


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #bbb;padding:3px 6px;vertical-align:top}
th{background:#eee;position:sticky;top:0}
td.pass{background:#c8f0c8}td.warn{background:#fbe7a1}td.fail{background:#f5a3a3;font-weight:bold}
td.na{background:#e4e4e4;color:#666}td.info{background:#fff}
li{margin:.3em 0}
"""


def render_html(reports: list[dict]) -> str:
    """The report as one self-contained HTML page (inline CSS, no scripts, no links)."""
    cols = columns(reports)
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>nnx-conformance version matrix</title>", f"<style>{_CSS}</style>",
             "</head><body>", "<h1>nnx-conformance version matrix</h1>",
             f"<p>{len(reports)} envs, ordered by Flax, JAX, Python, NumPy. Green: conforms; "
             "amber: a documented difference; red: fails; grey: not applicable.</p><ul>"]
    parts += [f"<li>{esc(line)}</li>" for line in class_summary(reports)]
    parts += ["</ul><table><thead><tr>"] + [f"<th>{esc(c)}</th>" for c in cols]
    parts.append("</tr></thead><tbody>")
    for report in reports:
        row = cells(report)
        parts.append("<tr>" + "".join(
            f"<td class='{row.get(c, ('', 'na'))[1]}'>{esc(row.get(c, ('', 'na'))[0])}</td>"
            for c in cols) + "</tr>")
    parts.append("</tbody></table><h2>Behaviour changes between neighbouring envs</h2><ul>")
    for change in behaviour_changes(reports) or []:
        causes = "".join(f"<br>Cause: {esc(c)}" for c in change["causes"])
        parts.append(f"<li><code>{esc(str(change['from_env']))}</code> &rarr; "
                     f"<code>{esc(str(change['to_env']))}</code>: <b>{esc(change['fact'])}</b> "
                     f"{esc(_show(change['before']))} &rarr; {esc(_show(change['after']))}"
                     f"{causes}</li>")
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


def write_reports(reports: list[dict], prefix: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes ``<prefix>.md`` and ``<prefix>.html``; returns their paths."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    md, page = prefix.with_suffix(".md"), prefix.with_suffix(".html")
    md.write_text(render_markdown(reports), encoding="utf-8")
    page.write_text(render_html(reports), encoding="utf-8")
    return md, page


# --------------------------------------------------------------------------------------------
# Command line


def _split_envs(values: Sequence[str] | None) -> list[str]:
    return [e for value in values or [] for e in value.split(",") if e]


def handle(args: argparse.Namespace) -> int:
    """Runs (unless ``--collect``) and reports; returns the exit code."""
    envs = _split_envs(args.env)
    tox_code = 0
    if not args.collect:
        tox_code = run_tox(envs, args.label, args.parallel)
    # A new env is reported among its neighbours: the envs of tox.ini plus the ones asked for
    # (reports of envs since removed from tox.ini are left out, unless --collect reads a
    # directory of its own).
    known = tox_env_list() if args.results == DEFAULT_RESULTS else []
    reports = load_results(args.results, (known + envs) if known else None)
    if not reports:
        print(f"matrix: results={args.results} holds no env report, but should hold at least "
              f"one (run without --collect, or pass --results)", file=sys.stderr)
        return 1
    md, page = write_reports(reports, args.out or args.results / "report")
    failing = [r["env"] for r in reports if not env_ok(r)]
    print(f"matrix: {len(reports)} envs, {len(failing)} failing"
          f"{': ' + ', '.join(failing) if failing else ''}; tox exit {tox_code}\n"
          f"matrix: wrote {md} and {page}")
    return 0 if tox_code == 0 and not failing else 1


def register(subparsers: Any) -> None:
    """Adds the ``matrix`` subcommand to an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "matrix", help="run the tox version matrix and write its compatibility report",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-e", "--env", action="append", metavar="ENV",
                        help="tox env(s) to run and report (repeat or comma-separate; "
                             "default: all of tox.ini's env_list)")
    parser.add_argument("-m", "--label", help="run a tox label instead (e.g. ci)")
    parser.add_argument("--collect", action="store_true",
                        help="do not run tox; report the JSON already in --results")
    parser.add_argument("--results", type=pathlib.Path, default=DEFAULT_RESULTS,
                        help=f"where the envs' JSON is (default {DEFAULT_RESULTS})")
    parser.add_argument("--out", type=pathlib.Path,
                        help="report path without suffix (default RESULTS/report)")
    parser.add_argument("-p", "--parallel", type=int, default=2,
                        help="envs at a time (default 2; this machine has 2 cores)")
    parser.set_defaults(handler=handle)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance._matrix``: the subcommand without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m conformance._matrix")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["matrix", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
