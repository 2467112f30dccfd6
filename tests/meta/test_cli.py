"""The command line: exit codes, the table, JSON output and usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conformance.cli import build_parser, main


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.mark.parametrize("argv, flag", [
    (["run", "--cases", "0"], "--cases"),
    (["run", "--cases", "many"], "--cases"),
    (["run", "--impl", "tensorflow"], "--impl"),
    (["run", "--profile", "nightly"], "--profile"),
    ([], "COMMAND"),
])
def test_usage_errors_exit_2_and_name_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


def test_help_lists_the_run_options():
    text = build_parser().format_help()
    assert "run" in text


@pytest.mark.jax
def test_run_writes_table_and_json(tmp_path):
    path = tmp_path / "run.json"
    proc = _cli("run", "--cases", "30", "--impl", "split_merge", "state_update", "--json",
                str(path), "--quiet")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(path.read_text())
    assert report["schema"] == "nnx-conformance/run/1"
    assert report["cases"] == 30 and report["comparisons"] > 0
    assert set(report["implementations"]) == {"split_merge", "state_update"}
    assert "edge class" in proc.stdout and "split_merge" in proc.stdout
    assert report["environment"]["jax"]
    # 30 derandomized cases need not reach every oracle; the verdict must say so, not pass
    assert (proc.returncode == 0) == report["ok"]
    if not report["ok"]:
        assert report["failed"] == 0 and report["errors"]


@pytest.mark.jax
def test_run_with_one_implementation_fails():
    proc = _cli("run", "--cases", "5", "--impl", "split_merge", "--quiet")
    assert proc.returncode == 1
    assert "at least two" in proc.stdout
