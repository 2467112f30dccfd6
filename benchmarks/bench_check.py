"""Benchmark of ``nnx-conformance check`` against the loop a course author writes by hand.

Run: ``python benchmarks/bench_check.py [--cases 200] [--batch N]``. Measures, each in a fresh
process so that in-memory JAX caches do not carry over:

* hand loop: what a course author writes without this suite: Hypothesis ``@given`` over
  their own strategies (``len(x)`` and ``features`` each in 1..64), 200 examples, eager
  reference (the statement's recipe) vs the solution, ``assert_allclose``;
* the same loop drawing from this suite's shape pool (``conformance.core.cases``), to show
  how much of the gap is the pool and how much the check's batching and reference;
* cold check: ``check`` of a conforming solution with an empty compilation cache
  (``NNX_CONFORMANCE_CACHE`` pointed at a fresh directory, so no cached draw either);
* warm check: the same again, caches populated by the cold run (``--workers`` as given);
  ``--pairs`` cold/warm pairs, each on its own fresh cache, and their median (a shared
  machine moves single runs);
* each pair's CPU time (the command and every process it started): a check cannot take less
  wall time than its CPU time over the cores it may use (``os.sched_getaffinity``, so
  ``taskset`` narrows it), which gives the least cold/warm that much work allows;
* the speed-up: ``--rounds`` rounds of one author's loop then ``--warm-per-round`` warm
  checks, the ratio per round and its median (alternating keeps a slow spell of the machine
  on both sides of a ratio); the repository's modules are byte-compiled first, as an
  installed package's are;
* batch: ``check`` of N conforming and mutant files in one command (solutions per minute);
* with ``--baseline DIR`` (a checkout of another revision), rounds of the author's loop, a
  warm check of this tree and one of the baseline's, alternating, each side on a warm cache of
  its own: the two warm checks' ratio and both speed-ups, measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFORMING = ROOT / "tests" / "meta" / "check" / "conforming"
SOLUTION = CONFORMING / "statement_recipe.py"


def _hand_loop(imports: str, test: str) -> str:
    """A hand-written loop's script: ``imports``, then what both loops share (the statement's
    eager recipe as the reference, the solution imported from ``{path}``, ``{n}`` examples
    without deadline or database), then the ``@given`` test and its call."""
    return imports + r'''
import numpy as np, importlib.util
from hypothesis import given, settings, HealthCheck
import implementations
ref = implementations.get("split_merge")
spec = importlib.util.spec_from_file_location("solution", {path!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)

@settings(max_examples={n}, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
''' + test + "\ntest()\n"


AUTHOR_LOOP = _hand_loop("import jax, jax.numpy as jnp\nfrom hypothesis import strategies as st", r'''
@given(seed=st.integers(0, 2**31 - 1), n_in=st.integers(1, 64), features=st.integers(1, 64),
       scale=st.floats(-10, 10), data=st.data())
def test(seed, n_in, features, scale, data):
    x = jnp.asarray(data.draw(st.lists(st.floats(-100, 100, width=32), min_size=n_in,
                                       max_size=n_in)), jnp.float32)
    expected = ref(float(seed), x, float(features), scale)
    actual = np.asarray(mod.pure_state_update(float(seed), x, float(features), scale))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
'''.lstrip("\n"))

HAND_LOOP = _hand_loop("import jax\nfrom conformance.core import cases", r'''
@given(cases(modes=(None,)))
def test(case):
    expected = ref(*case.args())
    actual = np.asarray(mod.pure_state_update(*case.args()))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
'''.lstrip("\n"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one command and every process it started and reaped."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{argv} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, _children_cpu() - cpu


def precompile() -> None:
    """Byte-compiles this repository's packages, as ``pip install`` does for an installed one.

    With ``PYTHONDONTWRITEBYTECODE`` set (common in containers) an editable checkout would
    otherwise recompile its modules in every measured process; both sides get the same files.
    """
    import compileall

    for package in ("conformance", "implementations", "oracles"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--batch", type=int, default=6, help="files in the batch measurement")
    parser.add_argument("--pairs", type=int, default=3, help="cold/warm pairs to measure")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (author's loop, warm checks) for the speed-up")
    parser.add_argument("--warm-per-round", type=int, default=3,
                        help="warm checks per round (their median is the round's)")
    parser.add_argument("--workers", type=int, default=None,
                        help="children per check (default: check's own default)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="a checkout of another revision to measure side by side")
    args = parser.parse_args()
    py = sys.executable
    env = dict(os.environ)
    flags = ["--cases", str(args.cases)]
    if args.workers is not None:
        flags += ["--workers", str(args.workers)]
    report = os.path.join(tempfile.mkdtemp(prefix="nnx-bench-report-"), "check.json")
    check = [py, "-m", "conformance", "check", str(SOLUTION), *flags, "--json", report]

    def checked(run_env: dict[str, str]) -> tuple[float, float]:
        """One timed check (wall, CPU), refused unless it passed on >= 200 cases, 25 shapes."""
        seconds = timed(check, run_env)
        with open(report, encoding="utf-8") as handle:
            result = json.load(handle)["results"][0]
        if result["verdict"] != "pass" or result["cases"] < min(200, args.cases) or (
                args.cases >= 200 and result["shapes"] < 25):
            sys.exit(f"the benchmarked check is not the one asked for: {result}")
        return seconds

    precompile()
    if args.baseline is not None:
        compare(args, py, flags)
        return
    cores = len(os.sched_getaffinity(0))
    pairs = []
    for _ in range(max(1, args.pairs)):
        env["NNX_CONFORMANCE_CACHE"] = tempfile.mkdtemp(prefix="nnx-bench-cache-")
        cold = checked(env)
        pairs.append((cold, checked(env)))
    # The speed-up: the author's loop and warm checks alternate, so that a slow spell of this
    # shared machine weighs on both sides of a round's ratio.
    rounds = []
    for _ in range(max(1, args.rounds)):
        author, _ = timed([py, "-c", AUTHOR_LOOP.format(path=str(SOLUTION), n=args.cases)], env)
        warms = [checked(env)[0] for _ in range(max(1, args.warm_per_round))]
        rounds.append((author, statistics.median(warms), warms))
    hand, _ = timed([py, "-c", HAND_LOOP.format(path=str(SOLUTION), n=args.cases)], env)
    files = sorted(CONFORMING.glob("[!_]*.py"))[: args.batch // 2]
    mutants = ROOT / "conformance" / "check" / "mutants"
    files += sorted(mutants.glob("[!_]*.py"))[: args.batch - len(files)]
    batch, _ = timed([py, "-m", "conformance", "check", *map(str, files), *flags], env)
    ratios = [c / w for (c, _), (w, _) in pairs]
    cold = statistics.median(c for (c, _), _ in pairs)
    warm = statistics.median(w for _, w, _ in rounds)
    speedups = [a / w for a, w, _ in rounds]
    print(f"load average at the end: {os.getloadavg()[0]:.2f} ({cores} cores to run on)")
    for k, ((c, c_cpu), (w, w_cpu)) in enumerate(pairs, 1):
        print(f"pair {k}: cold {c:6.2f} s (CPU {c_cpu:5.2f} s, {c_cpu / c:.2f} cores busy), "
              f"warm {w:6.2f} s (CPU {w_cpu:5.2f} s), cold/warm {c / w:.2f}")
    print(f"cold check ({args.cases} cases, median of pairs): {cold:7.2f} s; cold/warm median "
          f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
    # A check can use at most `cores` cores, so its CPU time / cores bounds its wall time
    # from below: how far the cold checks are from that bound, and what it implies.
    floors = [c_cpu / cores / w for (_, c_cpu), (w, _) in pairs]
    extra = statistics.median(c_cpu - w_cpu for (_, c_cpu), (_, w_cpu) in pairs)
    print(f"cold check's CPU / {cores} cores, over its warm check: median "
          f"{statistics.median(floors):.2f} (range {min(floors):.2f}-{max(floors):.2f}), the "
          f"least cold/warm on {cores} cores for this much work; a cold check's CPU exceeds a "
          f"warm one's by {extra:.1f} s (median: XLA compiling the solution's programs, "
          f"writing them to the cache, drawing the cases)")
    for k, (a, w, warms) in enumerate(rounds, 1):
        print(f"round {k}: author's loop {a:6.2f} s, warm checks "
              f"{', '.join(f'{x:.2f}' for x in warms)} s -> {a / w:.1f}x")
    print(f"warm check ({args.cases} cases, median): {warm:7.2f} s -> median speed-up "
          f"{statistics.median(speedups):.1f}x (range {min(speedups):.1f}-{max(speedups):.1f}x)"
          f" over the author's loop ({args.cases} examples, own strategies)")
    print(f"hand loop on the suite's shape pool ({args.cases} examples): {hand:7.2f} s "
          f"({hand / warm:.1f}x the warm check)")
    print(f"batch of {len(files)} files:        {batch:7.2f} s  -> "
          f"{len(files) / (batch / 60):.1f} solutions per minute")


def side_by_side(baseline: Path) -> tuple[dict[str, Path], dict[str, dict[str, str]],
                                          dict[str, str]]:
    """This tree and ``baseline`` as two sides measured alternately: each byte-compiled, with
    an environment of its own (its packages first, a fresh cache of its own) and a report path.
    Returns ``(trees, environments, report paths)``, each keyed "this tree" and "baseline"."""
    import compileall

    sides = {"this tree": ROOT, "baseline": baseline.resolve()}
    envs, reports = {}, {}
    for name, tree in sides.items():
        for package in ("conformance", "implementations", "oracles"):
            compileall.compile_dir(str(tree / package), quiet=1)
        envs[name] = dict(os.environ, PYTHONPATH=str(tree),
                          NNX_CONFORMANCE_CACHE=tempfile.mkdtemp(prefix="nnx-bench-cache-"))
        reports[name] = os.path.join(tempfile.mkdtemp(prefix="nnx-bench-report-"), "r.json")
    return sides, envs, reports


def compare(args: argparse.Namespace, py: str, flags: list[str]) -> None:
    """Warm checks of this tree and of ``args.baseline``, alternating with the author's loop."""
    sides, envs, reports = side_by_side(args.baseline)

    def warm(name: str) -> float:
        argv = [py, "-m", "conformance", "check", str(SOLUTION), *flags, "--json",
                reports[name]]
        seconds, _ = timed(argv, envs[name], cwd=sides[name])
        with open(reports[name], encoding="utf-8") as handle:
            result = json.load(handle)["results"][0]
        if result["verdict"] != "pass":
            sys.exit(f"{name}: the benchmarked check did not pass: {result['diagnosis']}")
        return seconds

    for name in sides:
        warm(name)  # cold: fills each side's cache
    rounds = []
    for _ in range(max(1, args.rounds)):
        author, _ = timed([py, "-c", AUTHOR_LOOP.format(path=str(SOLUTION), n=args.cases)],
                          envs["this tree"])
        times = {name: [] for name in sides}
        for _ in range(max(1, args.warm_per_round)):
            for name in sides:
                times[name].append(warm(name))
        rounds.append((author, {n: statistics.median(t) for n, t in times.items()}))
    for k, (author, med) in enumerate(rounds, 1):
        print(f"round {k}: author's loop {author:6.2f} s; warm check this tree "
              f"{med['this tree']:.2f} s ({author / med['this tree']:.1f}x), baseline "
              f"{med['baseline']:.2f} s ({author / med['baseline']:.1f}x); this/baseline "
              f"{med['this tree'] / med['baseline']:.3f}")
    ratio = [m["this tree"] / m["baseline"] for _, m in rounds]
    for name in sides:
        ups = [a / m[name] for a, m in rounds]
        print(f"{name}: median warm check {statistics.median(m[name] for _, m in rounds):.2f} s, "
              f"median speed-up {statistics.median(ups):.1f}x (range {min(ups):.1f}-"
              f"{max(ups):.1f}x)")
    print(f"warm check, this tree / baseline: median {statistics.median(ratio):.3f} (range "
          f"{min(ratio):.3f}-{max(ratio):.3f}) over {len(rounds)} rounds")


if __name__ == "__main__":
    main()
