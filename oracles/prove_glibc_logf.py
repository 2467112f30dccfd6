"""Proves the ports' glibc ``logf`` against the host's libm for every positive normal float32.

jaxlib 0.7.0 ... 0.8.1 compute log1p's ``log(1 + x)`` branch by calling the host libm's
``logf`` (float variant ``jaxlib-0.7.0``). The ports evaluate glibc's algorithm (2.28 and
later) in plain float64 with the constants in ``implementations._xla_constants``, while
glibc's x86-64 FMA build fuses its multiply-adds. This script writes that evaluation in C
(both plainly and with ``fma()`` where glibc's FMA build fuses), compiles it with the system
C compiler and compares both with libm's ``logf`` for all 2**31 - 2**24 positive normal inputs,
about half a minute. (The ports' NumPy and torch code is the plain evaluation in IEEE float64
with the same operation order; the tests compare them with libm on samples.)

Usage: ``python oracles/prove_glibc_logf.py [--no-record]``; appends its result to
``oracles/float_variants.md``. Needs Linux with glibc and a C compiler (``cc``).
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the checkout importable
    sys.path.insert(0, str(ROOT))

from implementations import _xla_constants as C  # noqa: E402
from oracles.prove_float_variants import append_section  # noqa: E402

_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
static const uint64_t INVC[16] = {%(invc)s};
static const uint64_t LOGC[16] = {%(logc)s};
static double d(uint64_t b) { double v; memcpy(&v, &b, 8); return v; }
static float f(uint32_t b) { float v; memcpy(&v, &b, 4); return v; }
static uint32_t u(float v) { uint32_t b; memcpy(&b, &v, 4); return b; }
int main(void) {
  const double ln2 = d(%(ln2)sull), a0 = d(%(a0)sull), a1 = d(%(a1)sull), a2 = d(%(a2)sull);
  float (*volatile libm_logf)(float) = logf;  /* the libm symbol, not a builtin */
  unsigned long n = 0, plain_differ = 0, fused_differ = 0;
  for (uint32_t ix = 0x00800000u; ix < 0x7f800000u; ix++) {
    uint32_t tmp = ix - %(off)su;
    int i = (tmp >> 19) & 15, k = (int32_t)tmp >> 23;
    double z = (double)f(ix - (tmp & 0xff800000u)), invc = d(INVC[i]), logc = d(LOGC[i]);
    double r = z * invc - 1.0, y0 = logc + (double)k * ln2, r2 = r * r;
    double y = a1 * r + a2;
    y = a0 * r2 + y;
    float plain = (float)(y * r2 + (y0 + r));
    double rf = fma(z, invc, -1.0), y0f = fma((double)k, ln2, logc), r2f = rf * rf;
    double yf = fma(a1, rf, a2);
    yf = fma(r2f, a0, yf);
    float fused = (float)fma(r2f, yf, rf + y0f);
    float expected = libm_logf(f(ix));
    n++;
    plain_differ += u(plain) != u(expected);
    fused_differ += u(fused) != u(expected);
  }
  printf("%%lu %%lu %%lu\n", n, plain_differ, fused_differ);
  return 0;
}
"""


def source() -> str:
    """The C program, with the constants the ports use."""
    hexes = lambda values: ", ".join(f"0x{v:016x}ull" for v in values)  # noqa: E731
    a0, a1, a2 = (f"0x{v:016x}" for v in C.GLIBC_LOGF_POLY)
    return _SOURCE % {"invc": hexes(C.GLIBC_LOGF_INVC), "logc": hexes(C.GLIBC_LOGF_LOGC),
                      "ln2": f"0x{C.GLIBC_LOGF_LN2:016x}", "a0": a0, "a1": a1, "a2": a2,
                      "off": f"0x{C.GLIBC_LOGF_OFF:08x}"}


def run() -> dict[str, object]:
    """Compiles and runs the comparison; the counts and the facts of this host."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("cc=None, but should be a C compiler on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp)
        (path / "check.c").write_text(source(), encoding="ascii")
        # -ffp-contract=off: the plain evaluation must not be fused by the compiler either
        flags = ["-O2", "-ffp-contract=off"]
        subprocess.run([compiler, *flags, "-o", str(path / "check"), str(path / "check.c"),
                        "-lm"], check=True)
        done = subprocess.run([str(path / "check")], capture_output=True, text=True, check=True)
    n, plain, fused = (int(v) for v in done.stdout.split())
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[:1]
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "libc": " ".join(platform.libc_ver()).strip() or "unknown",
            "machine": platform.machine(), "compiler": " ".join(version + flags),
            "inputs": n, "plain_differ": plain, "fused_differ": fused}


def summary(result: dict[str, object]) -> str:
    ok = result["plain_differ"] == 0
    return "\n".join([
        f"## glibc logf: the ports' float64 evaluation "
        f"{'equals' if ok else 'DIFFERS FROM'} libm ({result['date']})", "",
        f"- command: `python oracles/prove_glibc_logf.py` ({result['machine']}, "
        f"{result['libc']}, {result['compiler']})",
        f"- inputs: every positive normal float32 ({result['inputs']})",
        f"- plain float64 evaluation (the ports): {result['plain_differ']} differ from libm's "
        f"`logf`; with glibc's fused multiply-adds: {result['fused_differ']} differ", ""])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="only print")
    args = parser.parse_args(argv)
    result = run()
    text = summary(result)
    print(text)
    if not args.no_record:
        append_section(text)
    return 0 if result["plain_differ"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
