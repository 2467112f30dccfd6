"""``nnx-conformance image``: the grader image recipe (Gradescope bundle and Dockerfile).

What is tested here: the recipe is written; bash accepts its scripts (``bash -n``); the zip
holds ``setup.sh`` and ``run_autograder`` at its root, executable (and shellcheck accepts them,
where installed); the pins are the running
versions; the copied project builds a wheel offline with its package data; ``run_autograder``
always leaves a valid ``results.json`` (a fake ``nnx-conformance`` that crashes, hangs, writes
garbage, or is missing); the Dockerfile's lines are known instructions (hadolint is run where
installed). Building the images themselves (Docker, Gradescope) is not tested here;
``benchmarks/bench_image.py`` runs ``setup.sh`` in a fresh venv and times checks after it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conformance.check._image import PINNED, SOURCE_DIR, register, write_recipe
from tests.paths import GOOD, MUTANTS, ROOT

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("recipe") / "out"
    return out, write_recipe(str(out))


@pytest.fixture(scope="module")
def recipe_with_config(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("recipe-config")
    config = base / "grading.toml"
    config.write_text('[learner]\nshow = "hint"\n', encoding="utf-8")
    out = base / "out"
    write_recipe(str(out), config=str(config))
    return out


def _image(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nnx-conformance")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["image", *argv])
    return args.handler(args)


# --------------------------------------------------------------------------- the files

def test_the_recipe_is_written(recipe):
    out, written = recipe
    gradescope = out / "gradescope"
    for path in (gradescope / "setup.sh", gradescope / "run_autograder",
                 gradescope / "autograder.zip", gradescope / "requirements.txt",
                 gradescope / "constraints.txt", gradescope / SOURCE_DIR / "pyproject.toml",
                 out / "Dockerfile", out / ".dockerignore", out / "requirements.txt",
                 out / "constraints.txt", out / SOURCE_DIR / "pyproject.toml"):
        assert path.is_file(), path
        assert str(path) in written, path
    assert all(Path(p).is_file() for p in written)
    for name in ("setup.sh", "run_autograder"):
        assert os.stat(gradescope / name).st_mode & 0o111 == 0o111, name


@pytest.mark.parametrize("name", ["setup.sh", "run_autograder"])
def test_bash_accepts_the_scripts(recipe, name):
    script = recipe[0] / "gradescope" / name
    done = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert ("set -euo pipefail" if name == "setup.sh" else "set -uo pipefail") in text
    shellcheck = shutil.which("shellcheck")
    if shellcheck:  # Debian's shellcheck package; without it, bash -n only
        done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_the_zip_has_the_scripts_at_its_root_executable(recipe):
    gradescope = recipe[0] / "gradescope"
    with zipfile.ZipFile(gradescope / "autograder.zip") as archive:
        infos = {info.filename: info for info in archive.infolist()}
        for name in ("setup.sh", "run_autograder"):
            assert name in infos, sorted(infos)[:10]
            mode = infos[name].external_attr >> 16
            assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, (name, oct(mode))
        assert not any(name.startswith("gradescope/") for name in infos)
        assert "autograder.zip" not in infos
        # Exactly the bundle's files, byte for byte.
        on_disk = {p.relative_to(gradescope).as_posix(): p for p in gradescope.rglob("*")
                   if p.is_file() and p.name != "autograder.zip"}
        assert set(infos) == set(on_disk)
        for name, path in on_disk.items():
            assert archive.read(name) == path.read_bytes(), name
    for name in infos:
        parts = name.split("/")
        assert not {"__pycache__", "tests", ".venv", ".tox", "reports"} & set(parts), name
        assert not name.endswith((".pyc", ".pyo")), name
    mutants = {f"{SOURCE_DIR}/conformance/check/mutants/{p.name}" for p in MUTANTS.glob("*.py")}
    assert mutants and mutants <= set(infos)
    assert f"{SOURCE_DIR}/conformance/check/result.schema.json" in infos
    assert f"{SOURCE_DIR}/README.md" in infos


def test_the_zip_is_reproducible(recipe, tmp_path):
    write_recipe(str(tmp_path / "again"))
    first = (recipe[0] / "gradescope" / "autograder.zip").read_bytes()
    assert (tmp_path / "again" / "gradescope" / "autograder.zip").read_bytes() == first


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) and version, line
            pins[name] = version
    return pins


@pytest.mark.parametrize("where", ["gradescope", "."])
def test_the_requirements_pin_the_running_versions(recipe, where):
    folder = recipe[0] / where
    requirements = _pins(folder / "requirements.txt")
    constraints = _pins(folder / "constraints.txt")
    for name in PINNED:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            assert name not in requirements
            continue
        assert requirements[name] == version, name
        assert constraints[name] == version, name
    assert {"jax", "jaxlib", "flax", "numpy", "hypothesis"} <= set(requirements)
    # The constraints are what the pinned packages need, as installed here; never torch.
    for name, version in constraints.items():
        assert importlib.metadata.version(name) == version, name
    assert "torch" not in constraints and "torch" not in requirements


def test_setup_ends_with_the_warm_up_in_the_cache_run_autograder_reads(recipe, monkeypatch):
    gradescope = recipe[0] / "gradescope"
    setup = gradescope / "setup.sh"
    commands = [line.strip() for line in setup.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    install = next(i for i, c in enumerate(commands) if "pip install -r" in c)
    warm = next(i for i, c in enumerate(commands) if c.endswith("nnx-conformance\" warm"))
    assert install < warm
    # After the warm-up only the permissions its readers need, and a last word.
    assert [c.split()[0] for c in commands[warm + 1:]] == ["chmod", "echo"], commands[warm:]
    assert not any("torch" in c for c in commands if "pip install" in c)
    cache = 'export NNX_CONFORMANCE_CACHE="${NNX_CONFORMANCE_CACHE:-$GRADER_HOME/cache}"'
    assert cache in setup.read_text()
    assert cache in (gradescope / "run_autograder").read_text()
    # ... which is the variable the check's cache follows.
    from conformance.core import cache_dir

    monkeypatch.setenv("NNX_CONFORMANCE_CACHE", "/opt/nnx-conformance/cache")
    assert cache_dir() == Path("/opt/nnx-conformance/cache")


def test_the_copied_project_builds_a_wheel_offline(recipe, tmp_path):
    source = recipe[0] / "gradescope" / SOURCE_DIR
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "wheels"), str(source)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheels").glob("nnx_conformance-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        mutants = {f"conformance/check/mutants/{p.name}" for p in MUTANTS.glob("*.py")}
        assert mutants and mutants <= names
        assert "conformance/check/result.schema.json" in names
        assert any(n.startswith("oracles/known_answers/") and n.endswith(".json")
                   for n in names)
        assert "conformance/check/_image.py" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "nnx-conformance = conformance.cli:main" in archive.read(entry_points).decode()
        assert not any("/tests/" in n or n.startswith("tests/") for n in names)


# --------------------------------------------------------------------------- run_autograder

def _autograder(tmp_path: Path, recipe_dir: Path, fake: str | None,
                files: dict[str, str] | None = None, limit: str | None = None,
                cache: str | None = None
                ) -> tuple[subprocess.CompletedProcess, dict, Path]:
    """Runs the recipe's run_autograder on a submission, with ``fake`` as nnx-conformance
    (a shell script body; None: none installed)."""
    autograder = tmp_path / "autograder"
    (autograder / "submission").mkdir(parents=True)
    for name, text in (files if files is not None else {"solution.py": GOOD.read_text()}
                       ).items():
        (autograder / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (autograder / "submission" / name).write_text(text)
    fakes = tmp_path / "bin"
    fakes.mkdir()
    if fake is not None:
        (fakes / "nnx-conformance").write_text("#!/bin/sh\n" + fake)
        (fakes / "nnx-conformance").chmod(0o755)
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "NNX_AUTOGRADER_DIR": str(autograder), "NNX_GRADER_HOME": str(tmp_path / "none"),
           "ARGS_FILE": str(tmp_path / "args")}
    if limit:
        env["NNX_GRADER_TIME_LIMIT"] = limit
    if cache:
        env["NNX_CONFORMANCE_CACHE"] = cache
    done = subprocess.run([BASH, str(recipe_dir / "gradescope" / "run_autograder")],
                          capture_output=True, text=True, env=env, cwd=autograder, timeout=120)
    results = autograder / "results" / "results.json"
    assert results.is_file(), done.stdout + done.stderr
    return done, json.loads(results.read_text()), autograder


def _is_fallback(document: dict) -> bool:
    return document["score"] == 0 and document["extra_data"]["nnx_conformance"]["fallback"]


def test_a_crashing_grader_still_leaves_a_valid_results_json(recipe, tmp_path):
    done, document, _ = _autograder(tmp_path, recipe[0], 'echo "Traceback ..." >&2\nexit 3\n')
    assert done.returncode == 0
    assert _is_fallback(document)
    assert "exit status 3" in document["output"] and "not a verdict" in document["output"]
    assert "Traceback" in done.stdout  # the instructor's log, not the learner's output
    assert "Traceback" not in document["output"]


def test_the_graders_own_result_is_kept(recipe, tmp_path):
    fake = ('for a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS_FILE"\n'
            'while [ "$1" != "--output" ]; do shift; done\n'
            'echo \'{"score": 10.0, "tests": []}\' > "$2"\nexit 1\n')
    _, document, autograder = _autograder(tmp_path, recipe[0], fake)
    assert document == {"score": 10.0, "tests": []}
    args = (tmp_path / "args").read_text().splitlines()
    assert args == ["check", str(autograder / "submission" / "solution.py"), "--format",
                    "gradescope", "--output", str(autograder / "results" / "results.json")]


def test_the_config_is_passed_to_the_check(recipe_with_config, tmp_path):
    fake = 'for a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS_FILE"\nexit 2\n'
    _, document, autograder = _autograder(tmp_path, recipe_with_config, fake)
    assert _is_fallback(document)
    args = (tmp_path / "args").read_text().splitlines()
    assert args[-2:] == ["--config", str(autograder / "source" / "grading.toml")]
    assert (recipe_with_config / "gradescope" / "grading.toml").read_text() == \
        '[learner]\nshow = "hint"\n'


@pytest.mark.parametrize("written", ["{not json", '["a list"]', '{"score": "ten"}', ""])
def test_an_invalid_result_is_replaced(recipe, tmp_path, written):
    fake = ('while [ "$1" != "--output" ]; do shift; done\n'
            f"printf '%s' '{written}' > \"$2\"\nexit 0\n")
    _, document, _ = _autograder(tmp_path, recipe[0], fake)
    assert _is_fallback(document)


def test_a_hanging_grader_is_stopped_at_the_time_limit(recipe, tmp_path):
    _, document, _ = _autograder(tmp_path, recipe[0], "exec sleep 60\n", limit="1")
    assert _is_fallback(document)
    assert "time limit (1 s)" in document["output"]


def test_a_missing_grader_is_said(recipe, tmp_path):
    _, document, _ = _autograder(tmp_path, recipe[0], None)
    assert _is_fallback(document)
    assert "not installed" in document["output"]


@pytest.mark.parametrize("files,expected", [
    ({}, "no .py or .ipynb file"),
    ({"notes.txt": "x"}, "no .py or .ipynb file"),
    ({'a"b\\c.py': "", "helper.py": ""}, "2 .py or .ipynb files"),
])
def test_a_submission_without_one_file_to_grade_scores_zero(recipe, tmp_path, files, expected):
    _, document, _ = _autograder(tmp_path, recipe[0], "exit 0\n", files=files)
    assert _is_fallback(document)
    assert expected in document["output"]


@pytest.mark.parametrize("files,graded", [
    ({"helper.py": "", "solution.py": ""}, "solution.py"),
    ({"nested/my_answer.ipynb": "{}", ".ipynb_checkpoints/my_answer-checkpoint.ipynb": "{}"},
     "nested/my_answer.ipynb"),
])
def test_the_file_to_grade_is_chosen(recipe, tmp_path, files, graded):
    fake = 'printf "%s\\n" "$2" > "$ARGS_FILE"\nexit 3\n'
    _, _, autograder = _autograder(tmp_path, recipe[0], fake, files=files)
    assert (tmp_path / "args").read_text().strip() == str(autograder / "submission" / graded)


def test_the_real_grader_through_run_autograder(recipe, tmp_path):
    """With this environment's nnx-conformance (``--format gradescope``), on the cache this
    environment's checks use (warmed by the first check that needs it; its real path: through
    a symbolic link the children find no cached program, measured 3x slower)."""
    real = Path(sys.executable).parent / "nnx-conformance"
    if not real.exists():
        pytest.skip("nnx-conformance is not installed beside this Python")
    from conformance.core import cache_path

    cache = os.path.realpath(cache_path(True))
    done, document, _ = _autograder(tmp_path, recipe[0], f'exec "{real}" "$@"\n', cache=cache)
    assert not document.get("extra_data", {}).get("nnx_conformance", {}).get("fallback"), \
        done.stdout
    assert document["score"] > 0 and document["tests"], document
    assert all(test["status"] == "passed" for test in document["tests"]), document


# --------------------------------------------------------------------------- the Dockerfile

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL", "MAINTAINER"}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuations joined, comments and blanks left out)."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            logical.append(current)
            current = ""
    assert not current, "a continuation runs off the end"
    parsed = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        assert keyword in INSTRUCTIONS, line
        parsed.append((keyword, rest.strip()))
    return parsed


@pytest.mark.parametrize("with_config", [False, True])
def test_the_dockerfile(recipe, recipe_with_config, with_config):
    out = recipe_with_config if with_config else recipe[0]
    parsed = _instructions(out / "Dockerfile")
    assert parsed[0] == ("FROM", "python:3.11-slim")
    env = " ".join(rest for keyword, rest in parsed if keyword == "ENV")
    assert "NNX_CONFORMANCE_CACHE=/opt/nnx-conformance/cache" in env
    runs = [rest for keyword, rest in parsed if keyword == "RUN"]
    install = next(i for i, r in enumerate(runs) if "pip install -r" in r)
    warm = next(i for i, r in enumerate(runs) if "nnx-conformance warm" in r)
    assert install < warm
    assert "torch" not in runs[install].split("&&")[1]
    entry = json.loads(next(rest for keyword, rest in parsed if keyword == "ENTRYPOINT"))
    expected = ["nnx-conformance", "check"]
    if with_config:
        expected += ["--config", "/opt/nnx-conformance/grading.toml"]
    assert entry == expected
    for keyword, rest in parsed:  # every COPY source is in the build context
        if keyword == "COPY":
            for source in rest.split()[:-1]:
                assert (out / source).exists(), source
    assert "gradescope" in (out / ".dockerignore").read_text().split()
    hadolint = shutil.which("hadolint")
    if hadolint:
        done = subprocess.run([hadolint, "--failure-threshold", "error",
                               str(out / "Dockerfile")], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


# --------------------------------------------------------------------------- usage errors

def test_a_non_empty_out_dir_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert _image([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"nnx-conformance image: OUT_DIR={str(tmp_path)!r}, but should be a new or empty "
        "directory")
    assert _image([str(tmp_path / "x")]) == 2  # a file
    assert "should be a new or empty directory" in capsys.readouterr().err


def test_an_empty_or_new_out_dir_is_accepted(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _image([str(tmp_path / "empty")]) == 0
    assert _image([str(tmp_path / "new" / "deeper")]) == 0
    assert "autograder.zip" in capsys.readouterr().out


@pytest.mark.parametrize("config,why", [
    (None, "should be an existing grading.toml file"),
    ("[points\nloads = 3\n", "should be a grading config the check accepts"),
    ("[check]\ncases = 300\n", "should be a grading config the check accepts"),  # unknown
    ('[points]\nloads = -1\n', "should be a grading config the check accepts"),
])
def test_a_bad_config_is_a_usage_error_naming_it(tmp_path, capsys, config, why):
    path = tmp_path / "grading.toml"
    if config is not None:
        path.write_text(config)
    assert _image([str(tmp_path / "out"), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnx-conformance image: --config={str(path)!r}, but {why}"), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("python", ["3.9", "three", "3.10.1"])
def test_a_python_older_than_the_pins_allow_is_a_usage_error(tmp_path, capsys, python):
    assert _image([str(tmp_path / "out"), "--python", python]) == 2
    assert f"--python={python!r}, but should be" in capsys.readouterr().err


def test_the_copied_source_is_this_checkout(recipe):
    copied = recipe[0] / SOURCE_DIR
    assert (copied / "pyproject.toml").read_bytes() == (ROOT / "pyproject.toml").read_bytes()
    for package in ("conformance", "implementations", "oracles"):
        ours = {p.relative_to(ROOT) for p in (ROOT / package).rglob("*.py")
                if "__pycache__" not in p.parts}
        theirs = {p.relative_to(copied) for p in (copied / package).rglob("*.py")}
        assert ours == theirs, package
