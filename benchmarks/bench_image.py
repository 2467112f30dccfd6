"""Benchmark of the grader image recipe: the first check in a fresh container against a warm one.

Run: ``python benchmarks/bench_image.py [--rounds 5] [--no-cold] [--keep DIR]``.

Simulates what ``nnx-conformance image`` builds, without Docker: it writes the recipe, runs the
Gradescope bundle's own ``setup.sh`` with ``NNX_GRADER_HOME`` pointed at a fresh directory (a
virtual environment made by the first Python >= the pins' minimum, ``python3.11`` here, the
pinned requirements and the copied source installed with pip, never torch; then the build's
``nnx-conformance warm``), and then, in rounds:

* the build's warm step alone, timed, on a fresh empty cache (``NNX_CONFORMANCE_CACHE``, the
  variable the recipe sets at build and at run time): the state a fresh container starts from;
* the first check in that fresh container (fresh ``HOME``, ``TMPDIR`` and working directory;
  the byte-code the previous round wrote removed, so the venv is as the build left it);
* a second check in the same container: warm;
* (unless ``--no-cold``) a check on an empty cache, as a container built without the warm
  step would start: what the build's warm-up saves.

It reports each check's wall time, its grading time (``duration_s`` of its JSON: the
solution's import and calls in the children) and the rest (start-up, the warm marker, JAX's
import in the zygote as far as it does not overlap, the report), the median first/warm ratio
(target <= 1.3) and the interpreter's import of the grader and of JAX/Flax (``-X importtime``)
in the built venv. A real fresh container may also start with a cold page cache (the image's
layers read from disk); dropping the machine's page cache is not done here (it needs root and
slows every other process), so that part is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOLUTION = ROOT / "tests" / "meta" / "check" / "conforming" / "statement_recipe.py"


def _run(cmd: list[str], env: dict[str, str], cwd: str | Path, check: bool = True
         ) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if check and done.returncode not in (0, 1):
        raise SystemExit(f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done


def _env(home: Path, cache: Path, scratch: Path) -> dict[str, str]:
    """The container's environment: what the recipe sets, a fresh home, nothing inherited of
    JAX's settings."""
    env = {"PATH": f"{home / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
           "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8",
           "NNX_CONFORMANCE_CACHE": str(cache)}
    return env


def _pycs(venv: Path) -> set[Path]:
    return set(venv.rglob("*.pyc"))


def _check(home: Path, cache: Path, work: Path, tag: str) -> dict[str, float]:
    """One ``nnx-conformance check`` of the conforming solution; wall, grading, CPU seconds."""
    scratch = work / f"scratch-{tag}"
    scratch.mkdir()
    out = scratch / "result.json"
    before = os.times()
    wall, done = _run([str(home / "venv" / "bin" / "nnx-conformance"), "check", str(SOLUTION),
                       "--json", str(out)], _env(home, cache, scratch), scratch)
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"check {tag} did not conform (exit {done.returncode}):\n"
                         f"{done.stdout}\n{done.stderr}")
    document = json.loads(out.read_text())
    results = document.get("results") or [document]
    grading = sum(float(r.get("duration_s", 0.0)) for r in results)
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    warmed = "preparing the compilation cache" in done.stderr
    shutil.rmtree(scratch, ignore_errors=True)
    return {"wall": wall, "grading": grading, "rest": wall - grading, "cpu": cpu,
            "warmed_itself": float(warmed)}


def _importtime(home: Path, cache: Path, work: Path, module: str) -> float:
    """Cumulative import seconds of ``module`` in the built venv (``-X importtime``)."""
    scratch = work / "scratch-import"
    scratch.mkdir(exist_ok=True)
    _, done = _run([str(home / "venv" / "bin" / "python"), "-X", "importtime", "-c",
                    f"import {module}"], _env(home, cache, scratch), scratch)
    top = module.split(".")[0]
    cumulative = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|\s?(\S+)$", line)
        if match and match.group(2) in (module, top):
            cumulative = max(cumulative, int(match.group(1)))
    return cumulative / 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-cold", action="store_true",
                   help="leave out the check on an empty cache (a build without warm-up)")
    p.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (default: a "
                                                 "temporary directory, removed)")
    p.add_argument("--reuse", action="store_true",
                   help="with --keep: use the venv an earlier run built there (no setup.sh)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()

    from conformance.check._image import write_recipe

    work = Path(args.keep or tempfile.mkdtemp(prefix="nnx-bench-image-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {}
    try:
        recipe = work / "recipe"
        home = work / "home"
        if args.reuse and (home / "venv" / "bin" / "nnx-conformance").exists():
            print(f"build: reusing {home} (built by an earlier run)", flush=True)
            return _rounds(args, work, home, figures)
        write_recipe(str(recipe))
        build_env = {"PATH": os.environ["PATH"], "HOME": str(work / "build-home"),
                     "LANG": "C.UTF-8", "NNX_GRADER_HOME": str(home)}
        (work / "build-home").mkdir(exist_ok=True)
        if os.environ.get("PYENV_ROOT"):
            build_env["PYENV_ROOT"] = os.environ["PYENV_ROOT"]
        print(f"build: bash {recipe / 'gradescope' / 'setup.sh'} (NNX_GRADER_HOME={home})",
              flush=True)
        seconds, done = _run(["bash", str(recipe / "gradescope" / "setup.sh")], build_env, work)
        if done.returncode != 0:
            raise SystemExit(f"setup.sh failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        python = next((line for line in done.stdout.splitlines()
                       if line.startswith("setup.sh: Python")), "?")
        print(f"  setup.sh (venv, pip install of the pins and the source, warm): {seconds:.1f} s"
              f"; {python}", flush=True)
        figures["setup_s"] = seconds
        probe = subprocess.run([str(home / "venv" / "bin" / "python"), "-c",
                                "import importlib.util as u, jax, flax; "
                                "print(jax.__version__, flax.__version__, "
                                "u.find_spec('torch') is None)"],
                               capture_output=True, text=True, check=True)
        print(f"  built venv: jax, flax, no torch = {probe.stdout.strip()}", flush=True)
        return _rounds(args, work, home, figures)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _rounds(args: argparse.Namespace, work: Path, home: Path, figures: dict) -> int:
    """The rounds of warm step, first check and warm check (see the module's docstring)."""
    image_pycs = _pycs(home / "venv")
    for old in [*work.glob("cache-*"), *work.glob("scratch-*")]:
        shutil.rmtree(old, ignore_errors=True)

    rows: list[dict[str, dict[str, float]]] = []
    for k in range(args.rounds):
        cache = work / f"cache-{k}"
        cache.mkdir()
        scratch = work / f"scratch-warm-{k}"
        scratch.mkdir()
        warm_s, done = _run([str(home / "venv" / "bin" / "nnx-conformance"), "warm"],
                            _env(home, cache, scratch), scratch)
        if done.returncode != 0:
            raise SystemExit(f"warm failed:\n{done.stderr}")
        for stale in _pycs(home / "venv") - image_pycs:
            stale.unlink()  # the venv as the build left it
        first = _check(home, cache, work, f"first-{k}")
        second = _check(home, cache, work, f"second-{k}")
        row = {"warm_step": {"wall": warm_s}, "first": first, "second": second}
        if not args.no_cold:
            empty = work / f"cache-cold-{k}"
            empty.mkdir()
            row["cold"] = _check(home, empty, work, f"cold-{k}")
            shutil.rmtree(empty, ignore_errors=True)
        rows.append(row)
        shutil.rmtree(cache, ignore_errors=True)
        text = (f"round {k + 1}: build warm step {warm_s:5.2f} s | first check "
                f"{first['wall']:.2f} s (grading {first['grading']:.2f}, rest "
                f"{first['rest']:.2f}) | warm check {second['wall']:.2f} s (grading "
                f"{second['grading']:.2f}, rest {second['rest']:.2f}) | first/warm "
                f"{first['wall'] / second['wall']:.3f}")
        if "cold" in row:
            text += f" | no warm-up: {row['cold']['wall']:.2f} s"
        if first["warmed_itself"]:
            text += " | FIRST CHECK WARMED THE CACHE ITSELF"
        print(text, flush=True)

    ratios = [r["first"]["wall"] / r["second"]["wall"] for r in rows]
    median = statistics.median(ratios)
    figures.update(rounds=rows, ratio_median=median, ratio_min=min(ratios),
                   ratio_max=max(ratios))
    print(f"\nfirst check in a fresh container / warm check: median {median:.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}, {len(rows)} rounds; target <= 1.3)")
    for side in ("warm_step", "first", "second", "cold"):
        walls = [r[side]["wall"] for r in rows if side in r]
        if walls:
            print(f"  {side:10s} median {statistics.median(walls):6.2f} s "
                  f"(range {min(walls):.2f}-{max(walls):.2f})")
    for side in ("first", "second"):
        for part in ("grading", "rest", "cpu"):
            values = [r[side][part] for r in rows]
            print(f"  {side:6s} {part:8s} median {statistics.median(values):6.2f} s")
    if any(r["first"]["warmed_itself"] for r in rows):
        print("  WARNING: a first check found the cache cold and warmed it itself")
    cache = work / "cache-import"
    cache.mkdir(exist_ok=True)
    imports = {module: _importtime(home, cache, work, module)
               for module in ("conformance.check._grader", "jax", "flax.nnx")}
    figures["imports_s"] = imports
    print("  imports in the built venv (-X importtime, cumulative, warm page cache): " +
          ", ".join(f"{m} {s:.2f} s" for m, s in imports.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if median <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
