"""Benchmark of the differential run: cases/second per implementation and for the whole run.

Runs ``nnx-conformance run`` twice in fresh processes against one JAX compilation-cache
directory: first with the directory empty (cold), then again (warm). Each run's JSON report
gives the time spent in each implementation (its calls for the case, its initial state and the
metamorphic relations' extra calls).

Usage: python benchmarks/bench_run.py [--cases 500] [--impl NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _run(cases: int, impls: list[str], cache: str, out: str) -> float:
    cmd = [sys.executable, "-m", "conformance", "run", "--cases", str(cases), "--json", out,
           "--quiet"]
    if impls:
        cmd += ["--impl", *impls]
    env = {**os.environ, "NNX_CONFORMANCE_CACHE": cache, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--impl", nargs="*", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        rows = []
        for label in ("cold", "warm"):
            out = os.path.join(tmp, f"{label}.json")
            wall = _run(args.cases, args.impl, cache, out)
            report = json.load(open(out))
            rows.append((label, wall, report))
    print(f"{args.cases} cases, {rows[0][2]['shapes']} shapes, "
          f"python {rows[0][2]['environment']['python']}, jax {rows[0][2]['environment']['jax']}, "
          f"{os.cpu_count()} cores")
    print(f"{'run':6} {'wall s':>8} {'cases/s':>9}   per implementation: cases/s (seconds)")
    for label, wall, report in rows:
        per = "  ".join(
            f"{name} {report['cases'] / max(info['seconds'], 1e-9):.0f}/s ({info['seconds']:.1f})"
            for name, info in report["implementations"].items() if info["status"] != "unavailable")
        print(f"{label:6} {wall:8.1f} {report['cases'] / wall:9.1f}   {per}")


if __name__ == "__main__":
    main()
