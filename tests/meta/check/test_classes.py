"""``check`` where instructors work: notebooks, platform files, a class graded from one zygote,
shards that merge to one unsharded run, resume, and a gradebook.

These run the command line in this process (``conformance.cli.main``), as an instructor would
from a shell; a batch's children all fork from one pool zygote that imports JAX once.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import nbformat
import pytest

from conformance.check import SCHEMA_PATH
from conformance.cli import main
from tests.paths import CONFORMING, LEARNER_FILES, MUTANTS

pytestmark = pytest.mark.jax

PLATFORM_SCHEMAS = SCHEMA_PATH.parent / "platform_schemas"
SALT = ["--seed", "20261203"]

#: A Colab notebook as learners hand it in: installs, a Drive mount, a training loop that
#: never ends, a plot, a timing cell magic, and the function in the middle of it all.
COLAB_CELLS = [
    "!pip install -q flax\n%matplotlib inline",
    "from google.colab import drive\ndrive.mount('/content/drive')",
    "import jax\nimport jax.numpy as jnp\nfrom flax import nnx\nimport matplotlib.pyplot as plt",
    "%%time\nfor _ in range(10**9):\n    pass",
    "{function}",
    "losses = []\nstep = 0\nwhile True:\n    step += 1\n    losses.append(step)",
    "plt.plot(losses)\nplt.show()",
    "print(pure_state_update(0, jnp.ones(3), 4, 2.0))",
]
RIGHT = ("def pure_state_update(seed, x, features, scale):\n"
         "    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))\n"
         "    graphdef, state = nnx.split(model)\n"
         "    state = jax.tree_util.tree_map(lambda leaf: leaf * scale, state)\n"
         "    return nnx.merge(graphdef, state)(x)\n")
#: The mutant library's ``seed_through_float``: right but for seeds beyond 2**53.
WRONG = RIGHT.replace("int(seed)", "int(float(seed))")


def notebook(path: Path, function: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.replace("{function}", function))
                for c in COLAB_CELLS]
    nb.metadata["colab"] = {"provenance": []}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def run(*args: str) -> int:
    return main(["check", *args])


def results(path: Path) -> dict[str, dict]:
    document = json.loads(path.read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    return {r["submission"]: r for r in document["results"]}


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """A class folder: a Colab notebook that conforms, one with a learner's mistake, a .py
    that conforms, a syntax error in a learner's folder, a notebook that is not one, and a
    symbolic link."""
    root = tmp_path_factory.mktemp("class")
    notebook(root / "alice" / "homework.ipynb", RIGHT)
    notebook(root / "bob" / "homework.ipynb", WRONG)
    shutil.copy(CONFORMING / "jax_tree_map.py", root / "carol.py")
    (root / "dave").mkdir()
    shutil.copy(LEARNER_FILES / "syntax_error.py", root / "dave" / "solution.py")
    (root / "erin.ipynb").write_text('{"cells": [')
    (root / "frank.py").symlink_to(root / "carol.py")  # refused unread, still reported
    return root


@pytest.fixture(scope="module")
def unsharded(klass, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("one") / "all.json"
    assert run(str(klass), *SALT, "--json", str(out)) == 1
    return results(out)


def test_a_colab_notebook_is_graded_on_its_function_alone(unsharded):
    """Magics, shell lines, the Colab import, the endless loops and the plot are left out (the
    check would hang or fail on them), the function is graded and passes."""
    alice = unsharded["alice"]
    assert alice["verdict"] == "pass", alice["diagnosis"]
    assert all(t["passed"] for t in alice["subtests"])
    notes = " ".join(alice["notes"])
    for left_out in ("pip install", "google.colab", "matplotlib inline", "while loop",
                     "cell magic"):
        assert left_out in notes, (left_out, notes)


def test_a_notebooks_mistake_is_named_and_costs_only_its_subtest(unsharded):
    bob = unsharded["bob"]
    assert bob["verdict"] == "fail"
    assert bob["diagnosis"]["mutant"] == "seed_through_float", bob["diagnosis"]
    failed = {t["name"] for t in bob["subtests"] if not t["passed"]}
    assert failed == {"seed_edges"}, bob["subtests"]


def test_the_class_gets_one_result_each_with_its_id(unsharded):
    assert sorted(unsharded) == ["alice", "bob", "carol.py", "dave", "erin.ipynb", "frank.py"]
    assert unsharded["frank.py"]["diagnosis"]["kind"] == "not_gradable"
    assert unsharded["carol.py"]["verdict"] == "pass"
    assert unsharded["dave"]["diagnosis"]["kind"] == "syntax_error"
    assert unsharded["erin.ipynb"]["diagnosis"]["kind"] == "bad_notebook"
    assert {r["salt"] for r in unsharded.values() if r["cases"]} == {20261203}


def comparable(result: dict) -> dict:
    """What must not depend on how a class was split (not timings, paths or outputs)."""
    keep = ("submission", "verdict", "diagnosis", "counterexample", "cases", "shapes",
            "subtests", "sha256", "salt", "notes")
    return {k: result[k] for k in keep}


def test_shards_merge_to_the_unsharded_run(klass, unsharded, tmp_path, monkeypatch):
    logs = []
    for index in range(2):
        logs.append(tmp_path / f"shard{index}.jsonl")
        if index == 1:  # a Kubernetes indexed job: the index comes from the environment
            monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
            shard = "auto/2"
        else:
            shard = "0/2"
        run(str(klass), *SALT, "--shard", shard, "--log", str(logs[-1]))
    shards = [[json.loads(line) for line in log.read_text().splitlines()[1:]] for log in logs]
    assert all(shards) and not ({r["submission"] for r in shards[0]}
                                & {r["submission"] for r in shards[1]})
    merged, book = tmp_path / "merged.json", tmp_path / "grades.csv"
    assert main(["merge", *map(str, logs), "--output", str(merged),
                 "--gradebook", str(book)]) == 1
    merged_results = results(merged)
    assert {k: comparable(v) for k, v in merged_results.items()} == \
        {k: comparable(v) for k, v in unsharded.items()}
    with open(book, encoding="utf-8-sig", newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(unsharded)
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0
    assert 0 < float(rows["bob"]["score"]) < float(rows["bob"]["max_score"])
    assert float(rows["dave"]["score"]) == 0


def test_a_rerun_resumes_and_regrades_only_what_changed(klass, tmp_path, capsys):
    work = tmp_path / "class"
    shutil.copytree(klass, work, symlinks=True)
    log = tmp_path / "run.jsonl"
    args = [str(work), *SALT, "--log", str(log), "--no-diagnose", "--no-shrink"]
    run(*args)
    first = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    capsys.readouterr()
    shutil.copy(CONFORMING / "state_update.py", work / "carol.py")
    run(*args)
    err = capsys.readouterr().err
    assert err.count("(resumed)") == 4 and "carol.py: PASS (" in err, err
    lines = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    # Graded again: carol's changed file, and the link (refused unread, never taken as done).
    again = lines[len(first):]
    assert lines[:len(first)] == first and {r["submission"] for r in again} == \
        {"carol.py", "frank.py"}
    carol = next(r for r in again if r["submission"] == "carol.py")
    assert carol["sha256"] != next(r for r in first if r["submission"] == "carol.py")["sha256"]


@pytest.mark.parametrize("fmt,schema", [("gradescope", "gradescope.schema.json"),
                                        ("prairielearn", "prairielearn.schema.json")])
def test_platform_files_validate(klass, tmp_path, fmt, schema):
    out = tmp_path / "results.json"
    assert run(str(klass / "alice" / "homework.ipynb"), *SALT, "--format", fmt,
               "--output", str(out)) == 0
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads((PLATFORM_SCHEMAS / schema).read_text()))
    if fmt == "gradescope":
        assert document["score"] == sum(t["max_score"] for t in document["tests"]) > 0
    else:
        assert document["gradable"] is True and document["score"] == 1


def test_a_syntax_error_is_not_gradable_on_prairielearn(klass, tmp_path):
    out = tmp_path / "results.json"
    assert run(str(klass / "dave" / "solution.py"), "--format", "prairielearn",
               "--output", str(out)) == 1
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(
        (PLATFORM_SCHEMAS / "prairielearn.schema.json").read_text()))
    assert document["gradable"] is False and document["format_errors"]


@pytest.mark.parametrize("args,flag", [
    (["--format", "gradescope", "--output", "{tmp}/r.json"], "INPUT"),  # two submissions
    (["--json", "{tmp}/a.json", "--output", "{tmp}/b.json"], "--json"),
    (["--output", "{tmp}"], "--output"),
    (["--format", "junit"], "--output"),
    (["--shard", "2/2"], "shard"),
    (["--config", "{tmp}/missing.toml"], "missing.toml"),
])
def test_usage_errors_exit_2_before_grading(tmp_path, capsys, args, flag):
    files = [str(CONFORMING / "jax_tree_map.py"), str(CONFORMING / "state_update.py")]
    code = run(*files, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and flag in err and "Traceback" not in err, err


def test_a_log_written_with_other_settings_is_refused(tmp_path, capsys):
    log = tmp_path / "run.jsonl"
    good = str(CONFORMING / "jax_tree_map.py")
    assert run(good, "--log", str(log), "--cases", "20", "--no-diagnose") == 0
    assert run(good, "--log", str(log), "--cases", "30", "--no-diagnose") == 2
    assert "settings.cases=30" in capsys.readouterr().err


def test_hostile_files_in_a_batch_cannot_touch_the_next_learners_grade(tmp_path):
    """One zygote forks every child of a batch: what a learner leaves behind (a daemon, a
    process storm, an attempt on the shared cache, a memory bomb) must not reach the
    conforming solution graded after it, nor the pool itself."""
    names = ["leaves_daemon", "fork_storm", "poisons_cache", "memory_bomb"]
    for k, name in enumerate(names):
        shutil.copy(LEARNER_FILES / f"{name}.py", tmp_path / f"{k}_{name}.py")
    shutil.copy(CONFORMING / "jax_tree_map.py", tmp_path / "9_conforming.py")
    shutil.copy(MUTANTS / "seed_through_float.py", tmp_path / "8_mutant.py")
    out = tmp_path / "r.json"
    assert run(str(tmp_path), "--json", str(out), "--no-shrink", "--budget", "60") == 1
    graded = results(out)
    assert graded["9_conforming.py"]["verdict"] == "pass", graded["9_conforming.py"]
    assert graded["8_mutant.py"]["diagnosis"]["mutant"] == "seed_through_float"
    # the limit, or the call's deadline when a loaded machine allocates slowly
    assert graded["3_memory_bomb.py"]["diagnosis"]["kind"] in ("memory", "timeout")
    assert graded["2_poisons_cache.py"]["verdict"] == "fail"


def test_a_pool_child_cannot_reach_the_zygote(tmp_path):
    """The pool's control socket is closed in every child before the solution loads: a
    solution that looks for any socket among its descriptors finds none (else it raises)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, stat\n"
        "for fd in range(3, 4096):\n"
        "    try:\n"
        "        mode = os.fstat(fd).st_mode\n"
        "    except OSError:\n"
        "        continue\n"
        "    if stat.S_ISSOCK(mode):\n"
        "        raise RuntimeError(f'socket on fd {fd}')\n"
        + (CONFORMING / "jax_tree_map.py").read_text())
    out = tmp_path / "r.json"
    assert run(str(probe), str(CONFORMING / "state_update.py"), "--json", str(out)) == 0, \
        results(out)


def test_a_grader_failure_in_one_lane_loses_no_result(tmp_path, monkeypatch):
    """The report of one solution fails (the grader's own bug): every submission still has a
    result in the file, that one a grader error, and the exit code says so."""
    import conformance.check._report as report

    real = report.render_text

    def render(result, stream=None):
        if result.submission.endswith("state_update.py"):
            raise RuntimeError("a broken report")
        real(result, stream)

    monkeypatch.setattr(report, "render_text", render)
    out = tmp_path / "r.json"
    files = [str(CONFORMING / "jax_tree_map.py"), str(CONFORMING / "state_update.py"),
             str(CONFORMING / "value_api.py")]
    assert run(*files, "--cases", "20", "--json", str(out)) == 2
    graded = results(out)
    assert set(graded) == set(files)
    assert graded[files[1]]["verdict"] == "error"
    assert "a broken report" in graded[files[1]]["diagnosis"]["message"]
    assert graded[files[0]]["verdict"] == graded[files[2]]["verdict"] == "pass"
