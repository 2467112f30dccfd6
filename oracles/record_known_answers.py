"""Records the known-answer vectors, and confirms them from another JAX.

Record every file (both PRNG classes, x64 off and on) under the installed JAX; the class that is
not the default is reached by toggling ``jax_threefry_partitionable``, and each x64 setting runs
in its own interpreter::

    python -m oracles.record_known_answers

Confirm, from an env whose JAX *defaults* to a class, that the toggled recording equals what
that JAX produces without a toggle (for example class A from a real JAX 0.4.38 env); on success
the provenance of each confirmed file gains an entry, on any difference nothing is written and
the command exits 1::

    tox exec -e py310-flax0.10.4-jax0.4.38 -- python -m oracles.record_known_answers --confirm

With ``--record-variant``, last bits that differ under that env's jaxlib (XLA rounds the
truncated normal differently in some releases) are recorded as the jaxlib's variant instead.

Each file records the versions (JAX, jaxlib, Flax, Python, NumPy), the mode, x64, the host's
CPU and its FMA/subnormal behaviour, the command and the date, for the recording and for every
confirmation. Vectors are computed with ``implementations.split_merge``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from typing import Any, Sequence

from conformance import core
from oracles.known_answers import (
    CASES, FORMAT, MODES, VECTOR_DIR, compute, current_mode, current_x64, diff_cases,
    expected_cases, f32_hex, variant_for, vector_path)

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A variant explains last-bit rounding only; a larger kernel difference means other keys.
MAX_VARIANT_ULP = 16


def _facts(toggled_from: str | None) -> dict[str, Any]:
    defaults = core.jax_defaults()
    return {
        "date": core.utc_now(),
        "versions": core.versions(),
        "jax_default_prng_mode": defaults["prng_mode"],
        "x64": defaults["x64"],
        "env_overrides": defaults["env_overrides"],
        "host": core.host_facts(),
        "interpreter": core.interpreter(),
        "toggled": toggled_from,
    }


def worker(modes: Sequence[str] | None) -> dict[str, Any]:
    """Computes every case in ``modes`` (None: the default mode) in this process, with x64 as
    the environment set it."""
    default = current_mode()
    modes = modes or [default]
    result: dict[str, Any] = {"default_mode": default, "x64": current_x64(), "modes": {}}
    for mode in modes:
        cases = []
        for case in CASES:
            entry = {"id": case.id, "why": case.why, "seed": case.seed,
                     "in_features": len(case.x), "features": case.features,
                     "scale": case.scale, "x_f32_hex": f32_hex(case.x)}
            entry.update(compute(case, mode))
            cases.append(entry)
        result["modes"][mode] = {
            "cases": cases, "facts": _facts(None if mode == default else default)}
    return result


def run_worker(x64: bool, modes: Sequence[str] | None) -> dict[str, Any]:
    """:func:`worker` in a fresh interpreter with ``JAX_ENABLE_X64`` set to ``x64``."""
    env = dict(os.environ, JAX_ENABLE_X64="1" if x64 else "0")
    env.pop("JAX_THREEFRY_PARTITIONABLE", None)  # the default mode is the point of a confirmation
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-W", "ignore", "-m", "oracles.record_known_answers", "--worker"]
    command += ["--modes", *modes] if modes else []
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _describe(mode: str, x64: bool) -> str:
    cls = core.prng_class(mode)
    return (f"PRNG class {cls} (jax_threefry_partitionable={mode == 'partitionable'}), "
            f"x64 {'on' if x64 else 'off'}: kernels, biases and outputs of "
            f"implementations.split_merge as float32 bit patterns")


def record(directory: pathlib.Path, command: str) -> list[pathlib.Path]:
    """Records all four vector files under the installed JAX; returns their paths."""
    written = []
    for x64 in (False, True):
        result = run_worker(x64, MODES)
        for mode in MODES:
            computed = result["modes"][mode]
            path = vector_path(mode, x64, directory)
            provenance = dict(computed["facts"], role="recorded", command=command)
            if computed["facts"]["toggled"]:
                provenance["how"] = (f"jax_threefry_partitionable toggled from the default "
                                     f"({computed['facts']['toggled']}) to {mode}")
            else:
                provenance["how"] = f"the installed JAX's default mode ({mode}), no toggle"
            history, variants = [provenance], []
            if path.is_file():  # re-recording the same bits keeps confirmations and variants
                old = json.loads(path.read_text(encoding="utf-8"))
                if _answers(old["cases"]) == _answers(computed["cases"]):
                    history = old["provenance"] + [provenance]
                    variants = old.get("variants", [])
            data = {
                "format": FORMAT, "prng_mode": mode, "prng_class": core.prng_class(mode),
                "x64": x64, "description": _describe(mode, x64), "provenance": history,
                "cases": computed["cases"], "variants": variants,
            }
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            written.append(path)
    return written


def _answers(cases: list[dict]) -> list[tuple]:
    return [(c["id"], c["seed"], c["x_f32_hex"], c["features"], c["scale"], c["kernel_f32_hex"],
             c["bias_f32_hex"], c["output_f32_hex"]) for c in cases]


def confirm(directory: pathlib.Path, command: str, record_variant: bool = False
            ) -> tuple[bool, list[str]]:
    """Compares this JAX's answers (both classes, x64 off and on) with the files.

    The class the installed JAX defaults to is computed without a toggle; a match adds a
    ``confirmed`` provenance entry. With ``record_variant``, answers that differ from the main
    ones are recorded as this jaxlib's variant (see ``oracles.known_answers``) instead of
    failing; a variant with the very same differences is reused.

    Returns:
        ``(ok, lines)``: whether every file matched (or was given a variant), and a report.
    """
    lines, ok, changed = [], True, {}
    for x64 in (False, True):
        result = run_worker(x64, list(MODES))
        for mode in MODES:
            path = vector_path(mode, x64, directory)
            if not path.is_file():
                lines.append(f"{path.name}: missing, nothing to confirm")
                ok = False
                continue
            data = changed.get(path) or json.loads(path.read_text(encoding="utf-8"))
            computed = result["modes"][mode]
            jaxlib = computed["facts"]["versions"]["jaxlib"]
            variant = variant_for(data, jaxlib)
            expected = expected_cases(data, variant)
            untoggled = computed["facts"]["toggled"] is None
            how = (f"the installed JAX's default mode ({mode}), no toggle" if untoggled else
                   f"jax_threefry_partitionable toggled to {mode}")
            entry = dict(computed["facts"], command=command, how=how)
            if _answers(expected) == _answers(computed["cases"]):
                suffix = f" with variant {variant['id']}" if variant else ""
                lines.append(f"{path.name}: identical ({len(expected)} cases){suffix}")
                if untoggled:
                    entry.update(role="confirmed", result=f"identical{suffix}")
                    data["provenance"].append(entry)
                    changed[path] = data
                continue
            differing = [a[0] for a, b in zip(_answers(expected), _answers(computed["cases"]))
                         if a != b]
            ulp = _max_kernel_ulp(expected, computed["cases"])
            if not record_variant or ulp > MAX_VARIANT_ULP:
                why = "" if ulp <= MAX_VARIANT_ULP else (
                    f": kernels differ by up to {ulp} ULP, more than a variant may "
                    f"({MAX_VARIANT_ULP}), so this is another PRNG class or a bug")
                lines.append(f"{path.name}: DIFFERS in {differing} (jaxlib {jaxlib}){why}")
                ok = False
                continue
            variant_id = _add_variant(data, jaxlib, diff_cases(data["cases"], computed["cases"]),
                                      dict(entry, role="variant"), ulp)
            lines.append(f"{path.name}: {differing} differ by up to {ulp} ULP: recorded as "
                         f"variant {variant_id} of jaxlib {jaxlib}")
            if untoggled:
                entry.update(role="confirmed", result=(
                    f"identical in {len(expected) - len(differing)} of {len(expected)} cases; "
                    f"{differing} differ in the last bits only (<= {ulp} ULP), recorded as "
                    f"variant {variant_id}"))
                data["provenance"].append(entry)
            changed[path] = data
    if ok or record_variant:
        for path, data in changed.items():
            path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return ok, lines


def _max_kernel_ulp(expected: list[dict], got: list[dict]) -> int:
    """The largest kernel difference in units in the last place (same-sign floats)."""
    worst = 0
    for old, new in zip(expected, got):
        for a, b in zip(old["kernel_f32_hex"], new["kernel_f32_hex"]):
            ia, ib = int(a, 16), int(b, 16)
            if ia != ib:
                same_sign = (ia >> 31) == (ib >> 31)
                worst = max(worst, abs(ia - ib) if same_sign else 2**32)
    return worst


def _add_variant(data: dict[str, Any], jaxlib: str, diff: dict[str, Any],
                 provenance: dict[str, Any], ulp: int) -> str:
    """Files ``jaxlib`` under the variant with exactly ``diff`` (new if none); returns its id."""
    variants = data.setdefault("variants", [])
    for variant in variants:
        if variant["cases"] == diff:  # the same last bits as another jaxlib: one variant
            if jaxlib not in variant["jaxlib"]:
                variant["jaxlib"].append(jaxlib)
                variant["jaxlib"].sort(key=lambda v: tuple(int(p) for p in v.split(".")[:3]))
            variant["provenance"].append(provenance)
            return variant["id"]
    for variant in variants:  # a jaxlib belongs to one variant only
        if jaxlib in variant["jaxlib"]:
            variant["jaxlib"].remove(jaxlib)
    count = sum(len(v) for fields in diff.values() for v in fields.values())
    variants.append({
        "id": f"v{len(variants) + 1}", "jaxlib": [jaxlib],
        "why": (f"XLA:CPU in these jaxlib releases rounds the truncated normal differently: "
                f"{count} float32 values in {len(diff)} cases differ from the main answers, "
                f"kernels by up to {ulp} ULP"),
        "cases": diff, "provenance": [provenance]})
    return variants[-1]["id"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confirm", action="store_true",
                        help="confirm the files of this JAX's default class instead of recording")
    parser.add_argument("--record-variant", action="store_true",
                        help="with --confirm: record differing last bits as this jaxlib's variant")
    parser.add_argument("--dir", type=pathlib.Path, default=VECTOR_DIR)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        json.dump(worker(args.modes), sys.stdout)
        return 0
    command = "python -m oracles.record_known_answers" + (" --confirm" if args.confirm else "") + (
        " --record-variant" if args.record_variant else "")
    if args.confirm:
        ok, lines = confirm(args.dir, command, args.record_variant)
        print("\n".join(lines))
        return 0 if ok else 1
    for path in record(args.dir, command):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
