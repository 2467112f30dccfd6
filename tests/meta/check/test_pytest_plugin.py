"""The pytest plugin: ``--nnx-solution`` grades files; without it the plugin does nothing."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.paths import GOOD, MUTANTS


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_plugin_is_registered_and_idle_without_the_option(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert True\n")
    done = _pytest(tmp_path, "--help")
    assert "--nnx-solution" in done.stdout
    done = _pytest(tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout


def test_solutions_become_items_with_junit(tmp_path):
    good, bad = GOOD, MUTANTS / "output_scaled.py"
    junit = tmp_path / "junit.xml"
    done = _pytest(tmp_path, "--nnx-solution", str(good), "--nnx-solution", str(bad),
                   "--nnx-cases", "3", f"--junitxml={junit}")
    assert done.returncode == 1, done.stdout + done.stderr
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["nnx_solution[statement_recipe.py]"].find("failure") is None
    failure = cases["nnx_solution[output_scaled.py]"].find("failure")
    assert failure is not None and "output_scaled" in (failure.text or "")
