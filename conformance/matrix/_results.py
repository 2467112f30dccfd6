"""The envs' results: where they are, how they are read and ordered, and how tox makes them.

Each tox env (``tox.ini``) writes ``reports/matrix/<env>.json`` (:mod:`.env_report`); neighbours
in (Flax, JAX, Python, NumPy) order are compared by ``_causes``.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from typing import Any, Iterable, Sequence

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = ROOT / "reports" / "matrix"


def version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or "")[:3])


def get(data: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


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
    return tuple(version_tuple(versions.get(p)) for p in ("flax", "jax", "python", "numpy")) + (
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
