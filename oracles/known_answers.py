"""Known-answer vectors: the cases, the files that hold their answers, and the bit-exact check.

One file per PRNG class and x64 setting lives in ``oracles/known_answers/`` (named by
:func:`vector_path`): ``legacy.json`` (class A, the default up to JAX 0.4.38),
``partitionable.json`` (class B, the default from JAX 0.5), and ``*-x64.json`` for x64 mode,
where negative seeds and seeds >= 2**32 give other keys. The files are written by
``oracles/record_known_answers.py`` from real runs of ``implementations.split_merge``; nothing
here states an expected value.

Every float32 is stored as its bit pattern (8 hex digits), so kernels and outputs compare bit
for bit, including the sign of zero. The x a case was recorded with is stored the same way and
read back from the file, so a check never depends on how this NumPy rounds a literal.

The PRNG class fixes the keys, but not every last bit: XLA:CPU's float32 code for the truncated
normal changed between jaxlib releases, so a few elements of a large kernel (and the outputs
that use them) differ by up to 3 ULP. A file's ``variants`` record those differences, measured
per jaxlib release (``record_known_answers --confirm --record-variant``), as sparse overrides
``{index: hex}`` of the main answers; :func:`check` applies the variant that lists the installed
jaxlib, and a jaxlib that no variant lists is held to the main answers.

``python -m oracles.known_answers [--x64 on|off] [--mode MODE]`` prints the verdicts as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from implementations import PRNG_MODES as MODES
from implementations import installed_jaxlib, resolve_prng_mode, resolve_x64

VECTOR_DIR = pathlib.Path(__file__).resolve().parent / "known_answers"
FORMAT = 1


@dataclass(frozen=True)
class VectorCase:
    """One input of the contract; its answers live in the vector files."""

    id: str
    seed: int
    x: tuple[float, ...]
    features: int
    scale: float
    why: str


def _ramp(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(lo + (hi - lo) * i / (n - 1) for i in range(n))


CASES: tuple[VectorCase, ...] = (
    VectorCase("worked_example", 0, (1.0, 2.0, 3.0), 2, 2.0,
               "the statement's Linear(3, 2), seed 0"),
    VectorCase("seed_42", 42, _ramp(-1.0, 1.0, 5), 4, -0.5, "a negative scale"),
    VectorCase("seed_7", 7, (1.0, -1.0, 2.0), 3, 0.25, "the alias partner of seed 2**32 + 7"),
    VectorCase("seed_2p32_plus_7", 2**32 + 7, (1.0, -1.0, 2.0), 3, 0.25,
               "aliases seed 7 with x64 off (seed mod 2**32), not with x64 on"),
    VectorCase("seed_minus_1", -1, (0.5, -1.5, 2.0, 0.25), 3, 1.5,
               "negative: key [0, 2**32-1] with x64 off, [2**32-1, 2**32-1] with x64 on"),
    VectorCase("seed_min", -(2**63), (3.0, -2.0), 2, 3.0, "the smallest seed in the domain"),
    VectorCase("seed_max", 2**63 - 1, _ramp(-3.0, 3.0, 6), 5, 1.0,
               "the largest seed in the domain"),
    VectorCase("wide_16x8", 123, _ramp(-2.0, 2.0, 16), 8, 0.1,
               "a 16-term dot product, where the summation order shows"),
    VectorCase("one_by_one", 1, (1.0,), 1, 2.5, "the smallest Linear"),
    VectorCase("subnormal_scale", 5, (1.0, 2.0), 2, 1e-40,
               "a float32-subnormal scale: XLA:CPU reads it as zero (denormals-are-zero)"),
    VectorCase("zero_scale", 3, (-1.0, -2.0, 4.0), 2, 0.0, "all-zero parameters: the sign of zero"),
    VectorCase("square_64x64", 12345, _ramp(-1.0, 1.0, 64), 64, 1.0,
               "4096 kernel elements: enough to see the jaxlib releases whose XLA rounds the "
               "truncated normal differently (a few elements, up to 3 ULP)"),
)


def vector_path(mode: str, x64: bool, directory: pathlib.Path | None = None) -> pathlib.Path:
    """The file holding the vectors of PRNG ``mode`` with x64 ``x64``."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}, but should be one of {MODES}")
    return (directory or VECTOR_DIR) / f"{mode}{'-x64' if x64 else ''}.json"


def f32_hex(values: Any) -> list[str]:
    """float32 values (any shape) as a flat list of 8-digit bit patterns."""
    bits = np.ascontiguousarray(np.asarray(values, dtype=np.float32)).reshape(-1).view(np.uint32)
    return [f"{int(b):08x}" for b in bits]


def hex_f32(patterns: Sequence[str]) -> np.ndarray:
    """The inverse of :func:`f32_hex` (flat float32 array)."""
    return np.array([int(p, 16) for p in patterns], dtype=np.uint32).view(np.float32)


def default_implementation() -> ModuleType:
    import implementations.split_merge as split_merge

    return split_merge


def compute(case: VectorCase | dict, mode: str, implementation: ModuleType | None = None
            ) -> dict[str, Any]:
    """Runs one case in this process and returns its answers in the file's format.

    Args:
        case: a :class:`VectorCase`, or a case dict read from a vector file (its stored x is used).
        mode: the PRNG mode to compute in.
        implementation: a module following the contract; ``implementations.split_merge``.
    """
    module = implementation or default_implementation()
    if isinstance(case, VectorCase):
        x = np.asarray(case.x, dtype=np.float32)
        seed, features, scale = case.seed, case.features, case.scale
    else:
        x = hex_f32(case["x_f32_hex"])
        seed, features, scale = case["seed"], case["features"], case["scale"]
    params = module.initial_params(seed, int(x.shape[0]), features, prng_mode=mode)
    out = module.pure_state_update(seed, x, features, scale, prng_mode=mode)
    kernel = np.asarray(params["kernel"], dtype=np.float32)
    return {
        "kernel_shape": list(kernel.shape),
        "kernel_f32_hex": f32_hex(kernel),
        "bias_f32_hex": f32_hex(params["bias"]),
        "output_f32_hex": f32_hex(out),
        "output": [float(v) for v in np.asarray(out, dtype=np.float32)],
    }


def variant_for(data: dict[str, Any], jaxlib: str | None) -> dict[str, Any] | None:
    """The variant of a vector file measured for ``jaxlib``, if any."""
    for variant in data.get("variants", []):
        if jaxlib in variant["jaxlib"]:
            return variant
    return None


def expected_cases(data: dict[str, Any], variant: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The file's cases with ``variant``'s sparse overrides applied."""
    cases = [dict(case) for case in data["cases"]]
    if variant is None:
        return cases
    for case in cases:
        for field, overrides in variant["cases"].get(case["id"], {}).items():
            values = list(case[field])
            for index, pattern in overrides.items():
                values[int(index)] = pattern
            case[field] = values
    return cases


def diff_cases(base: list[dict[str, Any]], got: list[dict[str, Any]]) -> dict[str, Any]:
    """Sparse ``{case_id: {field: {index: hex}}}`` turning ``base`` into ``got``."""
    fields = ("kernel_f32_hex", "bias_f32_hex", "output_f32_hex")
    found: dict[str, Any] = {}
    for old, new in zip(base, got):
        for field in fields:
            changed = {str(i): b for i, (a, b) in enumerate(zip(old[field], new[field])) if a != b}
            if changed:
                found.setdefault(old["id"], {})[field] = changed
    return found


def load(mode: str, x64: bool, directory: pathlib.Path | None = None) -> dict[str, Any] | None:
    """The vector file of ``(mode, x64)`` as a dict, or None if there is none."""
    path = vector_path(mode, x64, directory)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def current_x64() -> bool:
    """JAX's x64 setting in this process (imports JAX)."""
    import jax  # noqa: F401 - the setting is read from the loaded JAX

    return resolve_x64()


def current_mode() -> str:
    """JAX's PRNG mode in this process (imports JAX)."""
    import jax  # noqa: F401 - the setting is read from the loaded JAX

    return resolve_prng_mode(None)


def check(mode: str | None = None, x64: bool | None = None,
          implementation: ModuleType | None = None, directory: pathlib.Path | None = None,
          compare_outputs: bool = True) -> dict[str, Any]:
    """Compares this process's answers with the vector file of ``(mode, x64)``, bit for bit.

    Args:
        mode: the PRNG mode; None means the installed JAX's current (default) mode.
        x64: must equal this process's x64 setting (None: use it); other settings need another
            process, see :func:`check_in_subprocess`.
        implementation: the module to check; ``implementations.split_merge`` by default.
        directory: where the vector files are; ``oracles/known_answers`` by default.
        compare_outputs: also compare outputs (kernels and biases always are).

    Returns:
        A verdict: ``status`` is ``"pass"``, ``"fail"`` or ``"missing"`` (no vector file: a
        failure too), with ``compared`` (number of cases) and the ids of the mismatching cases.
    """
    mode = mode or current_mode()
    running_x64 = current_x64()
    x64 = running_x64 if x64 is None else x64
    if x64 != running_x64:
        raise ValueError(f"x64={x64}, but should be this process's setting ({running_x64})")
    path = vector_path(mode, x64, directory)
    jaxlib = installed_jaxlib()
    verdict: dict[str, Any] = {
        "file": path.name, "prng_mode": mode, "x64": x64, "status": "missing", "compared": 0,
        "kernel_mismatches": [], "output_mismatches": [], "first_difference": None,
        "jaxlib": jaxlib, "variant": None,
    }
    data = load(mode, x64, directory)
    if data is None:
        verdict["message"] = (f"known_answers={path}, but should exist: record it with "
                              f"python -m oracles.record_known_answers")
        return verdict
    variant = variant_for(data, jaxlib)
    verdict["variant"] = variant["id"] if variant else None
    verdict["variant_jaxlib"] = list(variant["jaxlib"]) if variant else None
    for case in expected_cases(data, variant):
        got = compute(case, mode, implementation)
        verdict["compared"] += 1
        fields = ["kernel_f32_hex", "bias_f32_hex"] + (["output_f32_hex"] if compare_outputs else [])
        for field in fields:
            if got[field] != case[field] or (field == "kernel_f32_hex"
                                              and got["kernel_shape"] != case["kernel_shape"]):
                key = "output_mismatches" if field == "output_f32_hex" else "kernel_mismatches"
                if case["id"] not in verdict[key]:
                    verdict[key].append(case["id"])
                if verdict["first_difference"] is None:
                    verdict["first_difference"] = {"case": case["id"], "field": field,
                                                   "expected": case[field][:8],
                                                   "got": got[field][:8]}
    clean = not verdict["kernel_mismatches"] and not verdict["output_mismatches"]
    verdict["status"] = "pass" if clean and verdict["compared"] else "fail"
    return verdict


def check_in_subprocess(x64: bool, modes: Sequence[str] = MODES, timeout: float = 600
                        ) -> list[dict[str, Any]]:
    """Runs :func:`check` for ``modes`` in a fresh interpreter with ``JAX_ENABLE_X64`` set."""
    env = dict(os.environ, JAX_ENABLE_X64="1" if x64 else "0")
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-W", "ignore", "-m", "oracles.known_answers", "--mode",
               *modes]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", nargs="+", choices=MODES, default=None,
                        help="PRNG modes to check (default: the installed JAX's default)")
    args = parser.parse_args(argv)
    verdicts = [check(mode) for mode in (args.mode or [None])]
    json.dump(verdicts, sys.stdout, indent=1)
    print()
    return 0 if all(v["status"] == "pass" for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
