"""Benchmark of a class graded in one ``nnx-conformance check`` command: solutions per minute.

Run: ``python benchmarks/bench_batch.py --baseline DIR [--solutions 24] [--rounds 3]``, where
``DIR`` is a checkout of another revision (e.g. ``git worktree add /tmp/base <commit>``).
Side by side in one run, alternating so that a slow spell of the machine falls on both: the
same class of conforming solutions (the files of ``tests/meta/check/conforming``, cycled to
``--solutions``), graded by this tree and by the baseline, each on a warm compilation cache of
its own, as ``check FILE ...`` (the one form both understand). Reported per round and as
medians: solutions per minute for each, their ratio, and where this tree's time goes: the one
solutions' own time (``duration_s`` in the JSON: each solution's children's work, graded
``lanes`` at once) and the fixed rest (the process's start-up, the pool zygote's one import of
JAX, the last lane's tail).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_check import CONFORMING, side_by_side, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, metavar="DIR")
    parser.add_argument("--solutions", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    py = sys.executable
    sides, envs, reports = side_by_side(args.baseline)
    klass = Path(tempfile.mkdtemp(prefix="nnx-bench-class-"))
    sources = sorted(CONFORMING.glob("*.py"))
    files = []
    for k, source in zip(range(args.solutions), itertools.cycle(sources)):
        files.append(klass / f"s{k:03d}_{source.name}")
        shutil.copy(source, files[-1])

    def check(name: str, paths: list[Path]) -> tuple[float, float, list[dict]]:
        argv = [py, "-m", "conformance", "check", *map(str, paths), "--json", reports[name]]
        seconds, cpu = timed(argv, envs[name], cwd=sides[name])
        with open(reports[name], encoding="utf-8") as handle:
            results = json.load(handle)["results"]
        wrong = [r["solution"] for r in results if r["verdict"] != "pass"]
        if wrong:
            sys.exit(f"{name}: conforming solutions failed: {wrong}")
        return seconds, cpu, results

    for name in sides:
        check(name, files[:1])  # cold: fills each side's cache
    rounds = []
    for _ in range(max(1, args.rounds)):
        row = {}
        for name in sides:
            seconds, _, results = check(name, files)
            row[name] = {"seconds": seconds, "per_minute": len(files) / seconds * 60,
                         "own": sum(r["duration_s"] for r in results)}
        rounds.append(row)
        print(f"this tree {row['this tree']['per_minute']:.1f}/min, baseline "
              f"{row['baseline']['per_minute']:.1f}/min; ratio "
              f"{row['this tree']['per_minute'] / row['baseline']['per_minute']:.2f}")
    med = statistics.median
    this = {k: med(r["this tree"][k] for r in rounds)
            for k in ("seconds", "per_minute", "own")}
    base = med(r["baseline"]["per_minute"] for r in rounds)
    lanes = min(2, os.cpu_count() or 1)  # solutions graded at once (the check's default)
    fixed = this["seconds"] - this["own"] / lanes
    summary = {
        "solutions": len(files), "rounds": len(rounds),
        "this_per_minute": round(this["per_minute"], 1), "baseline_per_minute": round(base, 1),
        "ratio": round(this["per_minute"] / base, 2),
        "where": {"per_solution_in_its_lane_s": round(this["own"] / len(files), 2),
                  "lanes": lanes, "fixed_s": round(fixed, 2),
                  "total_s": round(this["seconds"], 2)}}
    print(f"median over {len(rounds)} rounds of {len(files)} solutions: this tree "
          f"{summary['this_per_minute']}/min, baseline {summary['baseline_per_minute']}/min "
          f"(x{summary['ratio']}); this tree's {this['seconds']:.1f} s: each solution "
          f"{this['own'] / len(files):.2f} s in its lane ({lanes} at once), the rest "
          f"{fixed:.1f} s fixed (start-up, the pool zygote's JAX import, the last lane's tail)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(klass, ignore_errors=True)


if __name__ == "__main__":
    main()
