"""One tox env's results, as one JSON file: what ``nnx-conformance matrix`` tabulates.

Every env of the matrix runs (see ``tox.ini``)::

    python -m conformance.matrix.env_report --env NAME --out reports/matrix/NAME.json

and the file holds: the versions and host facts, JAX's default PRNG mode (the class the env
should produce), the known-answer verdicts (default class, the other class by toggling, and
both classes with x64 flipped, in a fresh interpreter), each registered implementation's
verdict against the default class's vectors, the purity facts (``oracles.purity``) and the
result of ``nnx-conformance run --json`` when that command works in the env.

The command exits 0 once the file is written, whatever the verdicts: the env's pytest run is
the gate, the report is the record (so a failing env still leaves its evidence).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Sequence

from conformance import core

SCHEMA = 1
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _guard(fn, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - a crash is recorded, the report still gets written
        return {"status": "error", "message": f"{type(err).__name__}: {err}"[:500],
                "traceback": traceback.format_exc()[-2000:]}


def known_answer_verdicts() -> dict[str, Any]:
    """The default class (x64 as running), the other class, and both with x64 flipped."""
    from oracles import known_answers as ka

    mode, x64 = ka.current_mode(), ka.current_x64()
    other = next(m for m in ka.MODES if m != mode)
    flipped = _guard(ka.check_in_subprocess, not x64)
    return {
        "default": _guard(ka.check, mode),
        "other_mode": _guard(ka.check, other),
        "x64_flipped": flipped if isinstance(flipped, list) else [flipped],
    }


def implementation_verdicts() -> dict[str, Any]:
    """Each registered implementation against the vectors of the default class."""
    from implementations import IMPLEMENTATIONS
    from oracles import known_answers as ka

    verdicts: dict[str, Any] = {}
    for name, entry in IMPLEMENTATIONS.items():
        missing = entry.missing()
        if missing:
            verdicts[name] = {"status": "unavailable", "message": f"missing {', '.join(missing)}"}
            continue
        try:
            module = importlib.import_module(entry.target)
        except ModuleNotFoundError as err:
            if err.name == entry.target:  # registered before its module was written
                verdicts[name] = {"status": "unavailable", "message": f"no module {err.name}"}
                continue
            verdicts[name] = {"status": "error", "message": f"{type(err).__name__}: {err}"}
            continue
        except Exception as err:  # noqa: BLE001 - an import crash under this env is a verdict
            verdicts[name] = {"status": "error", "message": f"{type(err).__name__}: {err}"[:500]}
            continue
        verdict = _guard(ka.check, None, None, module)
        verdicts[name] = verdict
    return verdicts


def conformance_run(cases: int, timeout: float) -> dict[str, Any]:
    """``nnx-conformance run --json`` in this env, if the command exists here."""
    if importlib.util.find_spec("conformance.cli") is None:
        return {"status": "unavailable", "message": "conformance.cli is not in this checkout"}
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "run.json"
        # The console script is conformance.cli:main; running it as a module needs no install.
        command = [sys.executable, "-m", "conformance", "run", "--quiet", "--cases", str(cases),
                   "--json", str(out)]
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "seconds": timeout, "command": _show(command)}
        seconds = round(time.monotonic() - started, 1)
        result: dict[str, Any] = {"exit_code": done.returncode, "seconds": seconds,
                                  "command": _show(command)}
        if done.returncode == 2 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            result.update(status="unavailable" if done.returncode == 2 else "error",
                          message="\n".join(tail)[-1500:])
            return result
        data = json.loads(out.read_text(encoding="utf-8"))
    result["ok"] = bool(data.get("ok"))
    result["status"] = "pass" if done.returncode == 0 and result["ok"] else "fail"
    result["implementations"] = _implementation_summary(data)
    result["summary"] = {k: v for k, v in data.items()
                         if isinstance(v, (bool, int, float, str)) and k != "ok"}
    return result


def _show(command: Sequence[str]) -> str:
    return " ".join(["python" if c == sys.executable else c for c in command])


def _implementation_summary(data: dict[str, Any]) -> dict[str, Any]:
    """Per-implementation ``ok``/status from the run's JSON, whatever its exact layout."""
    found = data.get("implementations") or data.get("results") or {}
    summary: dict[str, Any] = {}
    items = found.items() if isinstance(found, dict) else (
        (item.get("name", str(i)), item) for i, item in enumerate(found) if isinstance(item, dict))
    for name, item in items:
        if isinstance(item, dict):
            keep = {k: v for k, v in item.items() if isinstance(v, (bool, int, float, str))}
            summary[str(name)] = keep
        else:
            summary[str(name)] = item if isinstance(item, (bool, int, float, str)) else str(item)
    return summary


def _float_variant() -> str:
    """The ports' float variant for this env's jaxlib (the rounding its XLA:CPU computes)."""
    from implementations import host_float_variant

    return host_float_variant()


def build(env_name: str, cases: int, run_timeout: float, run_conformance: bool = True
          ) -> dict[str, Any]:
    """Everything ``nnx-conformance matrix`` tabulates for this env."""
    from oracles import purity

    started = time.monotonic()
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "env": env_name,
        "date": core.utc_now(),
        "versions": core.versions(),
        "jax": _guard(core.jax_defaults),
        "host": _guard(core.host_facts),
        "known_answers": _guard(known_answer_verdicts),
        "implementations": _guard(implementation_verdicts),
        "purity": _guard(purity.facts),
        "float_variant": _guard(_float_variant),
    }
    report["purity_summary"] = purity.summary(report["purity"])
    if run_conformance:
        report["conformance_run"] = _guard(conformance_run, cases, run_timeout)
    else:
        report["conformance_run"] = {"status": "skipped", "message": "--no-run"}
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=os.environ.get("TOX_ENV_NAME", "local"),
                        help="the env's name (default: $TOX_ENV_NAME, else 'local')")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="where to write JSON")
    parser.add_argument("--cases", type=int, default=int(os.environ.get("MATRIX_RUN_CASES", 100)),
                        help="cases for nnx-conformance run (default $MATRIX_RUN_CASES or 100)")
    parser.add_argument("--run-timeout", type=float, default=900)
    parser.add_argument("--no-run", action="store_true", help="skip nnx-conformance run")
    args = parser.parse_args(argv)
    report = build(args.env, args.cases, args.run_timeout, not args.no_run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    ka = report["known_answers"]
    default = ka.get("default", {}) if isinstance(ka, dict) else {}
    print(f"env_report: {args.env}: PRNG {report['jax'].get('prng_mode')}, known answers "
          f"{default.get('status')} ({default.get('compared')} vectors), conformance run "
          f"{report['conformance_run'].get('status')} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
