"""The registry: capabilities on entries, lazy imports, unavailable packages reported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import implementations
from implementations import IMPLEMENTATIONS, ImplementationUnavailable
from implementations import Entry


def test_names_and_capabilities():
    assert list(IMPLEMENTATIONS) == ["split_merge", "state_update", "numpy", "torch"]
    for name, entry in IMPLEMENTATIONS.items():
        assert entry.name == name
        assert entry.prng_modes <= {"partitionable", "legacy"} and entry.prng_modes
        assert entry.install.startswith("pip install ")
    assert IMPLEMENTATIONS["torch"].install == "pip install torch==2.13.0"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="should be one of"):
        implementations.get("tensorflow")


def test_missing_package_is_reported_with_install_command():
    entry = Entry(name="ghost", target="implementations.split_merge", summary="",
                  requires=("no_such_package_xyz",), install="pip install no-such-package-xyz")
    assert not entry.available()
    with pytest.raises(ImplementationUnavailable, match="pip install no-such-package-xyz"):
        entry.load()


def test_importing_the_suite_imports_no_heavy_package():
    code = ("import sys, json, implementations, conformance, conformance.cli, "
            "conformance.core, conformance.check.sandbox\n"
            "from conformance.core import Case, compare_output\n"
            "print(json.dumps([m for m in ('jax', 'flax', 'torch') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_suite_imports_and_reports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import implementations\n"
            "e = implementations.IMPLEMENTATIONS['torch']\n"
            "try:\n    e.load()\nexcept implementations.ImplementationUnavailable as exc:\n"
            "    print(exc.install)\n")
    # find_spec of a None module raises ValueError; the entry must treat that as missing
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "pip install torch==2.13.0"
