"""The layout: import contracts (``[tool.importlinter]`` in ``pyproject.toml``) and small
public surfaces.

The contracts say which way imports run: the programs over the oracles over the core over the
implementations, the layers inside ``check``, its sandbox and ``matrix``, private modules
imported only inside their own package, and no import cycle between siblings at any depth.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGES = ("conformance", "implementations", "oracles")

LINT = ("import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))\n")


def _lint(root: Path) -> subprocess.CompletedProcess:
    # Run where ``root``'s packages are the importable ones (lint_imports puts the cwd first);
    # a wide console keeps each contract's verdict on its name's line.
    env = {**os.environ, "COLUMNS": "500"}
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def _verdicts(output: str) -> dict[str, str]:
    """Contract name -> ``KEPT`` or ``BROKEN``, from lint-imports' summary."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(.+?) (KEPT|BROKEN)(?: \(.*\))?$", line.rstrip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_the_import_contracts_hold():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    verdicts = _verdicts(done.stdout)
    assert len(verdicts) == 6 and set(verdicts.values()) == {"KEPT"}, done.stdout[-2000:]


def _copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.json", "mutants"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module,line,contract", [
    ("implementations/_contract.py", "import conformance.core", "Layers: the programs"),
    ("conformance/core/_compare.py", "import oracles.metamorphic", "Layers: the programs"),
    ("conformance/check/_draw.py", "from conformance.check import _grader", "inside check"),
    ("oracles/purity.py", "from implementations import _keys", "Private modules"),
    ("conformance/core/_float32.py", "import conformance.core._cases", "No import cycle"),
])
def test_each_contract_catches_its_violation(tmp_path, module, line, contract):
    """A planted import that breaks the layout fails the lint (so the first test can fail)."""
    root = _copy(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # planted\n")
    done = _lint(root)
    assert done.returncode != 0, done.stdout[-2000:]
    broken = [name for name, verdict in _verdicts(done.stdout).items() if verdict == "BROKEN"]
    assert any(contract in name for name in broken), done.stdout[-3000:]


PUBLIC = ("conformance", "conformance.core", "conformance.differential", "conformance.check",
          "conformance.check.sandbox", "conformance.matrix", "implementations", "oracles",
          "oracles.metamorphic")


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name):
    module = importlib.import_module(name)

    def resolves(attr: str) -> bool:
        if hasattr(module, attr):
            return True
        try:  # a submodule named in __all__ is imported by ``from package import *``
            importlib.import_module(f"{name}.{attr}")
        except ModuleNotFoundError:
            return False
        return True

    missing = [n for n in module.__all__ if not resolves(n)]
    assert not missing, missing


def test_the_command_line_and_the_sandbox_import_only_the_standard_library():
    """``check`` starts its children before the harness imports NumPy or Hypothesis."""
    code = ("import sys, json\n"
            "import conformance.cli, conformance.check.sandbox, conformance.core\n"
            "conformance.cli.build_parser()\n"
            "print(json.dumps(sorted(m for m in ('numpy', 'hypothesis', 'jax', 'torch')\n"
            "                        if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == []
