"""The host probe: its one-line FMA question agrees with the full truncated-normal check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.jax

_CODE = ("import json\n"
         "from conformance.core import host_semantics, detect_fma_with_port\n"
         "h = host_semantics()\n"
         "print(json.dumps([h.fma, h.ftz, h.daz, detect_fma_with_port()]))\n")


def _probe(xla_flags: str | None) -> list[bool]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags:
        env["XLA_FLAGS"] = xla_flags
    out = subprocess.run([sys.executable, "-c", _CODE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_probe_agrees_with_the_port_on_this_host():
    fma, ftz, daz, port_fma = _probe(None)
    assert fma == port_fma
    assert ftz and daz  # XLA:CPU flushes subnormals on every x86 host


def test_probe_sees_no_fma_when_xla_is_capped_at_avx():
    fma, _, _, port_fma = _probe("--xla_cpu_max_isa=AVX")
    assert fma is False and port_fma is False
