"""Proves the ports' float variant for the installed jaxlib over all 2**23 mantissas.

Run it inside an env that has the jaxlib to check (and optionally torch)::

    python oracles/prove_float_variants.py

It reads the installed jaxlib's version, picks the float variant the ports map it to
(``implementations._float_variants``), and compares ``truncated_normal(-2, 2)`` for every
23-bit mantissa ``k = bits >> 9``: JAX's (its real ``jax.random.truncated_normal``, fed with
a PRNG whose random bits are the mantissas) against the NumPy port's
``truncnorm_from_mantissa(k, fused, variant)`` and 2**23-entry table and, if torch imports,
the torch port's ``truncated_normal_z``. It does so with XLA:CPU's FMA setting on this host
and, on an FMA host, again in a child process limited to ``--xla_cpu_max_isa=AVX`` (no
fusion). It also counts how the other variants fare, so the mapping is shown to be the only
one that fits.

Whole kernels are checked too: XLA:CPU compiles one fusion per kernel shape, and an element's
arithmetic can depend on its place in the loop (jaxlib 0.7.0 ... 0.8.1 call glibc's ``logf``
only from vectorized iterations; see ``implementations._xla_loops``). For each shape in
``KERNEL_SHAPES`` and both PRNG modes, the real eager program is run for many keys and each
element must be the variant's where ``implementations.vectorized_elements`` says the loop was
vectorized and the newest variant's elsewhere.

It prints a summary and appends it as a section to ``oracles/float_variants.md``; for a jaxlib
whose rounding differs from the newest, it records a sample of the differing mantissas with
JAX's and the newest variant's values in ``oracles/float_variant_samples.json`` (the tests
read it). ``--no-record`` only prints. The exit status is 0 only if every mantissa comparison
of the mapped variant is identical and every kernel element is too.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import pathlib
import platform
import re
import shlex
import subprocess
import sys
from typing import Any, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the checkout importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from implementations import _keys, numpy_port  # noqa: E402
from implementations import (FLOAT_VARIANTS, LIBM_LOG_VARIANTS,  # noqa: E402
                             float_variant_for, host_cores, installed_jaxlib,
                             vectorized_elements)
from implementations._np_threefry import random_bits  # noqa: E402
from implementations.numpy_port import truncnorm_from_mantissa  # noqa: E402
from conformance.core import SHAPE_POOL  # noqa: E402

NEWEST = FLOAT_VARIANTS[-1]
MANTISSAS = 1 << 23
RESULTS = ROOT / "oracles" / "float_variants.md"
SAMPLES = ROOT / "oracles" / "float_variant_samples.json"
NO_FMA_FLAG = "--xla_cpu_max_isa=AVX"
_CHUNK = 1 << 16
_SAMPLE_FIRST, _SAMPLE_SPREAD = 8, 24
_HEADER = """# Float variants: the ports against each jaxlib, all 2**23 mantissas

Measured outputs of `python oracles/prove_float_variants.py`, one section per run (appended by
the script; see its docstring). Each run compares `truncated_normal(-2, 2)` for every 23-bit
mantissa between the installed jaxlib's JAX and the ports' float variant for that jaxlib.
`python oracles/prove_glibc_logf.py` appends its check of the glibc `logf` the `jaxlib-0.7.0`
variant evaluates.
"""


@functools.lru_cache(maxsize=1)
def mantissa_prng():
    """A JAX PRNG implementation whose random bits are ``((iota * k0 + k1) mod 2**23) << 9``.

    ``jax.random.truncated_normal`` keyed with it evaluates JAX's real float path on the
    mantissas we choose. Uses JAX's private ``PRNGImpl`` (present from JAX 0.4.26 to 0.10).
    """
    import jax.numpy as jnp
    from jax import lax
    try:
        from jax._src.random import prng as jprng
    except ImportError:  # older JAX layout
        from jax._src import prng as jprng

    def seed(s):
        return jnp.stack([jnp.uint32(1), lax.convert_element_type(s, jnp.uint32)])

    def bits(key, bit_width, shape):
        n = math.prod(shape)
        m = (lax.iota(jnp.uint32, n) * key[0] + key[1]) & jnp.uint32(0x7FFFFF)
        return lax.shift_left(m, jnp.uint32(9)).reshape(shape)

    def unsupported(*_):
        raise NotImplementedError

    impl = jprng.PRNGImpl(key_shape=(2,), seed=seed, split=unsupported, random_bits=bits,
                          fold_in=unsupported, name="nnx-conformance-mantissa", tag="mnt")
    jprng.register_prng(impl)
    return impl


def jax_z(stride: int, offset: int, n: int) -> np.ndarray:
    """JAX's truncated_normal(-2, 2) float32 for mantissas ``(offset + i * stride) mod 2**23``."""
    import jax
    import jax.numpy as jnp
    key = jax.random.wrap_key_data(jnp.array([stride, offset], jnp.uint32),
                                   impl=mantissa_prng())
    return np.asarray(jax.random.truncated_normal(key, -2.0, 2.0, (n,), jnp.float32))


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def numpy_z(fused: bool, variant: str) -> np.ndarray:
    """The NumPy port's float path for every mantissa."""
    k = np.arange(MANTISSAS, dtype=np.uint32)
    return np.concatenate([truncnorm_from_mantissa(k[i:i + _CHUNK], fused, variant)
                           for i in range(0, MANTISSAS, _CHUNK)])


def torch_z(fused: bool, variant: str) -> np.ndarray:
    """The torch port's float path for every mantissa."""
    import torch

    from implementations._torch_float32 import CHUNK, truncated_normal_z
    out = torch.empty(MANTISSAS, dtype=torch.float32)
    for start in range(0, MANTISSAS, CHUNK):
        stop = min(MANTISSAS, start + CHUNK)
        out[start:stop] = truncated_normal_z(torch.arange(start, stop, dtype=torch.int32),
                                             fused, variant)
    return out.numpy()


def _identical(a: np.ndarray, b: np.ndarray) -> int:
    return int((_bits(a) == _bits(b)).sum())


# Kernel shapes: the conformance suite's pool plus shapes whose loops XLA:CPU vectorizes
# differently (inner widths 5 ... 9, 31, 33, rows 17 and 100) or splits into parallel tasks
# (from about 1162 elements, evenly or not).
KERNEL_SHAPES = tuple(sorted(set(SHAPE_POOL) | {
    (2, 31), (17, 33), (64, 10), (100, 7), (64, 64), (7, 5), (33, 9), (100, 2), (1, 40),
    (1, 5), (4, 1), (3, 20), (291, 4), (290, 4), (17, 90), (1, 1163), (3, 388)}))
KERNEL_KEYS = 384  # keys per shape and mode: each element position is tested ~80% of the time


def _packed(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask).tobytes()).decode("ascii")


def compare_kernels(fused: bool, variant: str, keys: int = KERNEL_KEYS) -> dict[str, Any]:
    """Whole kernels from the real program: for each shape in :data:`KERNEL_SHAPES` and both
    PRNG modes, the eager ``jax.random.truncated_normal(key, -2, 2, shape)`` (the program
    ``nnx.Linear``'s initialiser compiles) for ``keys`` keys, element by element against the
    NumPy port: the variant's rounding where ``implementations.vectorized_elements`` says
    XLA:CPU vectorized the loop, the newest variant's elsewhere. Only about 0.4% of mantissas
    round differently in the two, so the summary counts those elements ("telling") and the
    element positions they reached; every element is compared."""
    import jax
    import jax.numpy as jnp
    out: dict[str, Any] = {"fused": fused, "keys": keys, "shapes": 0, "identical_shapes": 0,
                           "elements": 0, "identical_elements": 0, "telling": 0,
                           "positions": 0, "positions_told": 0, "differing": []}
    old_mode = jax.config.jax_threefry_partitionable
    try:
        for mode in ("partitionable", "legacy"):
            jax.config.update("jax_threefry_partitionable", mode == "partitionable")
            for shape in KERNEL_SHAPES:
                n = math.prod(shape)
                vectorized = vectorized_elements(shape[0], shape[1], mode, variant)
                told = np.zeros(n, dtype=bool)
                libm = np.zeros(n, dtype=bool)  # told positions where JAX took libm's logf
                same = 0
                for i in range(keys):
                    raw = ((i * 2654435761 + n) % (1 << 32), (i * 40503 + 7) % (1 << 32))
                    key = jax.random.wrap_key_data(np.array(raw, dtype=np.uint32))
                    z = np.asarray(jax.random.truncated_normal(key, -2, 2, shape, jnp.float32))
                    k = random_bits(raw, n, mode) >> np.uint32(9)
                    mine = truncnorm_from_mantissa(k, fused, variant)
                    newest = truncnorm_from_mantissa(k, fused, NEWEST)
                    differ = _bits(mine) != _bits(newest)
                    libm |= differ & (_bits(z.reshape(-1)) == _bits(mine))
                    if vectorized is not None:
                        mine = np.where(vectorized, mine, newest)
                    same += _identical(z.reshape(-1), mine)
                    told |= differ
                    out["telling"] += int(differ.sum())
                out["shapes"] += 1
                out["elements"] += n * keys
                out["identical_elements"] += same
                out["identical_shapes"] += same == n * keys
                out["positions"] += n
                out["positions_told"] += int(told.sum())
                if variant in LIBM_LOG_VARIANTS:
                    out.setdefault("patterns", {})[f"{mode} {shape[0]}x{shape[1]}"] = {
                        "told": _packed(told), "libm": _packed(libm)}
                if same != n * keys:
                    out["differing"].append(f"{shape[0]}x{shape[1]} {mode}: {n * keys - same}"
                                            f"/{n * keys}")
    finally:
        jax.config.update("jax_threefry_partitionable", old_mode)
    return out


def compare(fused: bool, variant: str, with_torch: bool, others: bool) -> dict[str, Any]:
    """JAX in this process against the ports, for all mantissas, with FMA setting ``fused``."""
    expected = jax_z(1, 0, MANTISSAS)
    out: dict[str, Any] = {"fused": fused}
    ours = numpy_z(fused, variant)
    out["numpy"] = _identical(ours, expected)
    out["numpy_table"] = _identical(numpy_port.truncnorm_table(fused, variant), expected)
    numpy_port._TABLES.clear()  # 16-32 MiB each
    if with_torch:
        out["torch"] = _identical(torch_z(fused, variant), expected)
    if not others:
        return out
    # The variants that differ only in their loops share one float path: evaluate it once.
    path = {name: "libm log" if name in LIBM_LOG_VARIANTS else name for name in FLOAT_VARIANTS}
    by_path = {path[variant]: ours}
    for name in FLOAT_VARIANTS:
        if path[name] not in by_path:
            by_path[path[name]] = numpy_z(fused, name)
    ports = {name: by_path[path[name]] for name in FLOAT_VARIANTS}
    out["others"] = {name: _identical(z, expected) for name, z in ports.items()
                     if name != variant}
    out["kernels"] = compare_kernels(fused, variant)
    newest = ports[NEWEST]
    differ = np.flatnonzero(_bits(newest) != _bits(expected))
    out["differing_from_newest"] = int(differ.size)
    if differ.size:
        spread = differ[np.linspace(0, differ.size - 1, _SAMPLE_SPREAD).astype(int)]
        picked = sorted(set(differ[:_SAMPLE_FIRST].tolist()) | set(spread.tolist()))
        out["sample"] = {"mantissas": picked,
                         "jax_f32_hex": [f"{int(_bits(expected)[k]):08x}" for k in picked],
                         "newest_f32_hex": [f"{int(_bits(newest)[k]):08x}" for k in picked]}
    return out


def _cpu_model() -> str:
    """The CPU's model name and the vector ISA extensions XLA:CPU may use (Linux)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx", "avx2", "fma", "avx512f") if f in flags]
    return f"{model} ({' '.join(isa)})" if isa else model


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _child_unfused(variant: str, with_torch: bool) -> dict[str, Any]:
    """:func:`compare` in a fresh interpreter whose XLA:CPU may not fuse (``NO_FMA_FLAG``)."""
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + NO_FMA_FLAG).strip())
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child-unfused",
               variant] + ([] if with_torch else ["--no-torch"])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800,
                          check=False)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def prove(with_torch: bool) -> dict[str, Any]:
    """Every comparison for the installed jaxlib; the facts that go into the summary."""
    import jax

    from conformance.core import host_semantics
    jaxlib = installed_jaxlib()
    variant = float_variant_for(jaxlib)
    fused = host_semantics().fma
    run: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join(shlex.quote(a) for a in
                                        [os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
        "python": sys.executable,
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib, "numpy": np.__version__, "torch": _version("torch")},
        "host": {"machine": platform.machine(), "cpu": _cpu_model(),
                 "cpu_fma": _keys._cpu_has_fma(), "xla_fuses": fused, "cores": host_cores(),
                 "libc": " ".join(platform.libc_ver()).strip() or "unknown",
                 "xla_flags": os.environ.get("XLA_FLAGS", "")},
        "variant": variant, "mantissas": MANTISSAS,
    }
    run["runs"] = [compare(fused, variant, with_torch, others=True)]
    if fused:
        child = _child_unfused(variant, with_torch)
        child.setdefault("fused", False)
        run["runs"].append(child)
    else:
        run["unfused_note"] = ("XLA:CPU does not fuse on this host: the fused path is not "
                               "measurable")
    keys = ("numpy", "numpy_table", "torch")
    run["passed"] = all(r.get(k, MANTISSAS) == MANTISSAS for r in run["runs"] for k in keys
                        if "error" not in r) and all("error" not in r for r in run["runs"])
    kernels = run["runs"][0]["kernels"]
    run["kernels_passed"] = kernels["identical_shapes"] == kernels["shapes"]
    return run


def summary(run: dict[str, Any]) -> str:
    """The run as a Markdown section (also what is printed)."""
    v, h = run["versions"], run["host"]
    kernels = run["runs"][0]["kernels"]
    lines = [f"## jaxlib {v['jaxlib']}: variant `{run['variant']}`, mantissas "
             f"{'identical' if run['passed'] else 'NOT identical'}, kernels "
             f"{kernels['identical_shapes']}/{kernels['shapes']} identical ({run['date']})", "",
             f"- command: `{run['command']}` ({run['python']})",
             f"- versions: Python {v['python']}, jax {v['jax']}, jaxlib {v['jaxlib']}, "
             f"numpy {v['numpy']}, torch {v['torch'] or 'not installed'}",
             f"- host: {h['machine']}, {h['cpu']}, CPU FMA {h['cpu_fma']}, XLA:CPU fuses "
             f"{h['xla_fuses']} (probe), {h['libc']}, XLA_FLAGS={h['xla_flags']!r}",
             f"- JAX: `jax.random.truncated_normal(key, -2, 2, ({run['mantissas']},))` with a "
             f"PRNG whose bits are the mantissas 0 ... 2**23 - 1", "",
             "| XLA fuses | NumPy float path | NumPy table | torch float path |",
             "|---|---|---|---|"]
    for r in run["runs"]:
        if "error" in r:
            lines.append(f"| {r['fused']} | not measured: {r['error']} | | |")
            continue
        cells = [f"{r[k]} / {run['mantissas']}" if k in r else "not run"
                 for k in ("numpy", "numpy_table", "torch")]
        label = f"{r['fused']}" + ("" if r["fused"] else f" (`XLA_FLAGS={NO_FMA_FLAG}`)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "unfused_note" in run:
        lines.append(f"\n{run['unfused_note']}.")
    first = run["runs"][0]
    others = ", ".join(f"`{name}` {count}" for name, count in first["others"].items())
    lines += ["", f"Other variants (NumPy, XLA fuses {first['fused']}), identical mantissas: "
              f"{others}. JAX differs from the newest variant (`{NEWEST}`) at "
              f"{first['differing_from_newest']} mantissas.", ""]
    lines += [f"Kernels (NumPy float path per element, XLA fuses {first['fused']}): "
              f"{kernels['shapes'] // 2} shapes x 2 PRNG modes x {kernels['keys']} keys, the "
              f"eager `jax.random.truncated_normal` nnx runs, every element against the variant"
              f" where `vectorized_elements` says the loop was vectorized and the newest "
              f"elsewhere: {kernels['identical_shapes']}/{kernels['shapes']} kernels identical,"
              f" {kernels['identical_elements']}/{kernels['elements']} elements; "
              f"{kernels['telling']} elements where the two roundings differ, reaching "
              f"{kernels['positions_told']}/{kernels['positions']} element positions."]
    if kernels["differing"]:
        lines.append("Differing (elements): " + ", ".join(kernels["differing"]) + ".")
    lines.append("")
    return "\n".join(lines)


def append_section(text: str, results: pathlib.Path = RESULTS) -> None:
    """Appends a Markdown section to the results file (created with its header if missing)."""
    new = not results.exists()
    with open(results, "a", encoding="utf-8") as handle:
        handle.write((_HEADER if new else "") + "\n" + text)


def record(run: dict[str, Any], results: pathlib.Path, samples: pathlib.Path) -> None:
    """Appends the summary to ``results`` and files the run's sample in ``samples``."""
    append_section(summary(run), results)
    first = run["runs"][0]
    if "sample" not in first or not run["passed"]:
        return
    data = json.loads(samples.read_text(encoding="utf-8")) if samples.exists() else {
        "format": 1,
        "about": ("Mantissas k = bits >> 9 where a jaxlib's truncated_normal(-2, 2) differs "
                  "from the newest float variant, as measured by oracles/prove_float_variants.py"
                  " (float32 bit patterns)."),
        "runs": {}}
    data["runs"][run["versions"]["jaxlib"]] = {
        "variant": run["variant"], "versions": run["versions"], "date": run["date"],
        "host": {k: run["host"][k] for k in ("machine", "cpu", "libc")},
        "fused": first["fused"], "differing_from_newest": first["differing_from_newest"],
        **first["sample"]}
    if "patterns" in first["kernels"]:  # which loop iterations XLA:CPU vectorized
        data["runs"][run["versions"]["jaxlib"]]["kernel_patterns"] = {
            "cores": run["host"]["cores"], "keys": first["kernels"]["keys"],
            "about": ("per 'mode RxC' kernel, base64 of numpy.packbits over the row-major "
                      "elements: 'told', positions where some key's mantissa rounds differently"
                      " in the variant and the newest; 'libm', those where JAX took the "
                      "variant's (libm logf) value"),
            **first["kernels"]["patterns"]}
    data["runs"] = dict(sorted(data["runs"].items(),
                               key=lambda item: tuple(int(p) for p in item[0].split(".")[:3])))
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",  # each flat list on one line
                  lambda m: "[" + " ".join(m.group(1).split()) + "]", json.dumps(data, indent=1))
    samples.write_text(text + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true",
                        help="only print; write neither the results nor the samples file")
    parser.add_argument("--no-torch", action="store_true", help="leave the torch port out")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--samples", type=pathlib.Path, default=SAMPLES)
    parser.add_argument("--child-unfused", metavar="VARIANT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if args.child_unfused:
        from conformance.core import host_semantics
        if host_semantics().fma:
            raise SystemExit(f"XLA_FLAGS={os.environ.get('XLA_FLAGS')!r} still fuses")
        print(json.dumps(compare(False, args.child_unfused, with_torch, others=False)))
        return 0
    run = prove(with_torch)
    print(summary(run))
    if not args.no_record:
        record(run, args.results, args.samples)
    return 0 if run["passed"] and run["kernels_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
