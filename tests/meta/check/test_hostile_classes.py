"""Hostile learners against a class run: notebooks that hide or dress up their function, a
learner's folder that imports its own helper, names made to break the gradebook, the JUnit
file or the terminal, a solution that spins or probes its neighbours while they are graded in
the same pool, a resumed run whose files were swapped, junk shard indices and a huge notebook.

One class run (module fixture) grades most of them at once, as an instructor would; each test
then asserts one defence on its results. Every attack here is one the grader defends; those it
did not defend when this file was written are in the red-team report, not here.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from conformance.check import _batch
from conformance.cli import main

pytestmark = pytest.mark.jax

SALT = ["--seed", "20261203"]
FAST = ["--cases", "30", "--no-diagnose", "--no-shrink", *SALT]

RIGHT = ("import jax\nfrom flax import nnx\n"
         "def pure_state_update(seed, x, features, scale):\n"
         "    model = nnx.Linear(x.shape[-1], int(features), rngs=nnx.Rngs(int(seed)))\n"
         "    graphdef, state = nnx.split(model)\n"
         "    state = jax.tree_util.tree_map(lambda leaf: leaf * scale, state)\n"
         "    return nnx.merge(graphdef, state)(x)\n")
#: Right but for seeds beyond 2**53 (the panel always has one): a wrong solution.
WRONG = RIGHT.replace("int(seed)", "int(float(seed))")
BODY = RIGHT.split("def pure_state_update(seed, x, features, scale):\n", 1)[1]

#: Spins 16 threads for ever while computing the right answers.
HOG = RIGHT + ("import threading\n"
               "def _spin():\n"
               "    while True:\n"
               "        pass\n"
               "for _ in range(16):\n"
               "    threading.Thread(target=_spin, daemon=True).start()\n")
#: Signals (SIGSTOP, then SIGKILL) every process it can see and connects to every abstract
#: UNIX socket listed in /proc/net/unix: the pool zygote, the grader, the neighbours' children.
PROBE = WRONG + r'''
import os, signal, socket
_hits = []
for _p in os.listdir('/proc'):
    if _p.isdigit() and int(_p) != os.getpid():
        for _s in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(int(_p), _s)
                _hits.append(_p)
            except Exception:
                pass
try:
    _unix = open('/proc/net/unix').read().splitlines()[1:]
except Exception:
    _unix = []
for _line in _unix:
    _parts = _line.split()
    if len(_parts) >= 8 and _parts[-1].startswith('@'):
        try:
            _sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            _sock.settimeout(0.2)
            _sock.connect('\0' + _parts[-1][1:])
            _hits.append(_parts[-1])
        except Exception:
            pass
print('HITS', len(_hits))
'''

#: File names made to break a CSV, a spreadsheet, XML, JSON or a terminal (all wrong code).
HOSTILE_NAMES = [
    '=HYPERLINK(""http:evil""),1\n.py',
    "+cmd|' -C calc'!A0.py",
    "-2+3.py",
    "@SUM(A1).py",
    "\u202egnp.exe.py",
    "ctl\x01\x1b[31m.py",
    'q"uo,te.py',
]
RAW_NAME = b"bad\xff\xfe.py"  # undecodable bytes


def _notebook(path: Path, cells: list[str], tags: dict[int, list[str]] | None = None,
              output: str | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for index, cell_tags in (tags or {}).items():
        nb.cells[index].metadata["tags"] = cell_tags
    if output is not None:
        nb.cells[-1].outputs = [nbformat.v4.new_output(
            "display_data", data={"image/png": output})]
    nbformat.write(nb, str(path))


def _build(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "right.py").write_text(RIGHT)
    (folder / "wrong.py").write_text(WRONG)
    (folder / "hog.py").write_text(HOG)
    (folder / "probe.py").write_text(PROBE)
    for name in HOSTILE_NAMES:
        (folder / name).write_text(WRONG)
    with open(os.path.join(os.fsencode(folder), RAW_NAME), "wb") as handle:
        handle.write(WRONG.encode())
    # A learner's folder with their solution and the helper it imports: only the graded file
    # reaches the child, so the import fails (and the helper alone defines nothing).
    dave = folder / "dave"
    dave.mkdir()
    (dave / "helper.py").write_text(RIGHT.replace("pure_state_update", "helper_update"))
    (dave / "sol.py").write_text("from helper import helper_update as pure_state_update\n")
    # Notebooks: the function as a lambda, a functools.partial (right, must pass); a right
    # definition followed by a wrong one (the last wins: fail); a right function in an
    # untagged cell with a wrong one in the cell tagged 'grade' (fail); the wrong function
    # behind a top-level exec that the extractor drops (missing function, not a pass).
    _notebook(folder / "nb_lambda.ipynb",
              [RIGHT.replace("def pure_state_update(", "def _f(")
               + "pure_state_update = lambda *a: _f(*a)\n"])
    _notebook(folder / "nb_partial.ipynb",
              [RIGHT.replace("def pure_state_update(", "def _f(_k, ")
               + "import functools\npure_state_update = functools.partial(_f, 1)\n"])
    _notebook(folder / "nb_redefined.ipynb", [RIGHT, "x = 1", WRONG])
    _notebook(folder / "nb_tag.ipynb", [RIGHT, WRONG], tags={1: ["grade"]})
    _notebook(folder / "nb_exec.ipynb",
              ["import jax\nfrom flax import nnx\n",
               f"exec({WRONG!r})\n"])
    # 20 MB of base64 "plot" output: above the notebook limit, refused before anything runs.
    _notebook(folder / "nb_huge.ipynb", [RIGHT],
              output=base64.b64encode(os.urandom(15 * 2**20)).decode())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile_class")
    folder = base / "class"
    _build(folder)
    out, log, book, xml = (base / "r.json", base / "log.jsonl", base / "g.csv",
                           base / "r.xml")
    code = main(["check", str(folder), *FAST, "--json", str(out), "--log", str(log),
                 "--gradebook", str(book)])
    merged = main(["merge", str(log), "--format", "junit", "--output", str(xml)])
    document = json.loads(out.read_text(encoding="utf-8"))
    return {"code": code, "merged": merged, "document": document,
            "results": {r["submission"]: r for r in document["results"]},
            "book": book, "xml": xml, "log": log, "folder": folder, "out": out}


def _kind(result: dict) -> str | None:
    return (result.get("diagnosis") or {}).get("kind")


def test_the_class_run_ends_with_a_fail_and_one_result_each(graded):
    assert graded["code"] == 1
    assert graded["merged"] == 1
    assert len(graded["results"]) == 4 + len(HOSTILE_NAMES) + 1 + 2 + 6


def test_a_spinning_neighbour_changes_no_other_verdict(graded):
    results = graded["results"]
    assert results["right.py"]["verdict"] == "pass", results["right.py"]
    assert _kind(results["wrong.py"]) == "wrong_values"
    assert results["hog.py"]["verdict"] == "fail"


def test_a_probe_reaches_no_process_and_no_socket_and_fails_on_its_merits(graded):
    probe = graded["results"]["probe.py"]
    assert _kind(probe) == "wrong_values"
    assert "HITS 0" in probe["output"]["stdout"], probe["output"]
    assert graded["results"]["right.py"]["verdict"] == "pass"


def test_notebooks_are_graded_on_the_function_they_end_with(graded):
    results = graded["results"]
    assert results["nb_lambda.ipynb"]["verdict"] == "pass", results["nb_lambda.ipynb"]
    assert results["nb_partial.ipynb"]["verdict"] == "pass", results["nb_partial.ipynb"]
    assert _kind(results["nb_redefined.ipynb"]) == "wrong_values"
    assert _kind(results["nb_tag.ipynb"]) == "wrong_values"
    assert _kind(results["nb_exec.ipynb"]) == "missing_function"


def test_a_huge_notebook_is_refused_unrun(graded):
    result = graded["results"]["nb_huge.ipynb"]
    # docs/check.md says "too large" is bad_notebook; the size check before parsing says
    # not_gradable. Either way: a fail, nothing run, the limit named.
    assert result["verdict"] == "fail", result
    assert _kind(result) in ("bad_notebook", "not_gradable"), result
    assert "16777216" in result["diagnosis"]["message"]
    assert result["output"] in (None, {"stdout": "", "stderr": ""}) or not any(
        (result["output"] or {}).values())


def test_a_helper_in_the_learners_folder_is_not_imported(graded):
    results = graded["results"]
    assert _kind(results["dave/sol.py"]) == "import_error", results["dave/sol.py"]
    assert results["dave/helper.py"]["verdict"] == "fail"


def test_hostile_names_keep_every_output_valid(graded):
    results = graded["results"]
    for name in HOSTILE_NAMES:
        assert _kind(results[name]) == "wrong_values", name
    assert _kind(results["bad\\xff\\xfe.py"]) == "wrong_values"
    # Strict JSON, no lone surrogate.
    json.loads(graded["out"].read_text(encoding="utf-8"))
    # The JUnit file (from ``merge`` of the log) parses, one suite per logged submission. (A
    # submission refused before grading, such as nb_huge.ipynb, has no sha256 and is not in
    # the log: a defect in the red-team report, deliberately not asserted either way here.)
    suites = ET.parse(graded["xml"]).getroot().findall("testsuite")
    names = [suite.get("name") for suite in suites]
    assert len(names) == len(set(names))
    assert len(names) >= len(results) - 1
    assert "right.py" in names and "ctl\\x01\\x1b[31m.py" in names, names
    # The gradebook reads back with one row per submission, no cell a formula.
    with open(graded["book"], encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(results)
    by_name = {row["submission"].lstrip("'"): row for row in rows}
    for name in HOSTILE_NAMES:  # bidirectional controls are shown escaped in the sheet
        shown = name.replace("\u202e", "\\u202e")
        assert by_name[shown]["verdict"] == "fail"
    for row in rows:
        for cell in row.values():
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "|", "%")), row
    assert by_name["right.py"]["verdict"] == "pass"


def test_a_resumed_run_regrades_swapped_files(graded, tmp_path, capsys):
    """Swapping two learners' files (or replacing a passing file with a wrong one) must not
    reuse the logged results: the content key is per id."""
    folder = tmp_path / "swap"
    folder.mkdir()
    (folder / "a.py").write_text(RIGHT)
    (folder / "b.py").write_text(WRONG)
    log = tmp_path / "log.jsonl"
    assert main(["check", str(folder), *FAST, "--log", str(log)]) == 1
    (folder / "a.py").write_text(WRONG)
    (folder / "b.py").write_text(RIGHT)
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["check", str(folder), *FAST, "--log", str(log), "--json", str(out)]) == 1
    assert "resumed" not in capsys.readouterr().err
    results = {r["submission"]: r for r in json.loads(out.read_text())["results"]}
    assert results["a.py"]["verdict"] == "fail"
    assert results["b.py"]["verdict"] == "pass"


@pytest.mark.parametrize("raw", ["", " ", "-1", "1e3", "0x1", "\uff13", "1/2", "4", "nan"])
def test_a_junk_job_completion_index_is_a_usage_error(raw):
    with pytest.raises(_batch.BatchError):
        _batch.parse_shard("4", {"JOB_COMPLETION_INDEX": raw})


def test_a_junk_job_completion_index_stops_the_run_before_grading(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.py").write_text(RIGHT)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1; rm -rf /")
    assert main(["check", str(tmp_path), "--shard", "4", *FAST]) == 2
    assert "JOB_COMPLETION_INDEX" in capsys.readouterr().err


def test_a_manifest_pointing_outside_at_a_non_solution_is_refused(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path\nmallory,/etc/passwd\n")
    assert main(["check", "--manifest", str(manifest), *FAST]) == 2
    assert "/etc/passwd" in capsys.readouterr().err


def test_a_manifest_link_made_by_a_learner_is_not_followed(tmp_path):
    (tmp_path / "real.py").write_text(RIGHT)
    (tmp_path / "mallory.py").symlink_to(tmp_path / "real.py")
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path\nmallory,mallory.py\n")
    [sub] = _batch.discover([], str(manifest))
    assert sub.problem and "symbolic link" in sub.problem


def test_merge_refuses_one_id_with_two_contents(tmp_path):
    settings = {"cases": 30}
    for name, sha in (("a", "1" * 64), ("b", "2" * 64)):
        with _batch.ResultLog(str(tmp_path / f"{name}.jsonl"), settings) as log:
            log.append({"submission": "x", "sha256": sha, "verdict": "pass"})
    with pytest.raises(_batch.BatchError, match="changed between shards"):
        _batch.merge([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])


#: Remembers every case it is called with, then raises with all of them in the message.
RECORDER = RIGHT.replace(
    "def pure_state_update(seed, x, features, scale):\n",
    "_SEEN = []\n"
    "def pure_state_update(seed, x, features, scale):\n"
    "    _SEEN.append(f'S{seed}|{features}|{float(scale)!r}')\n"
    "    if len(_SEEN) >= 25:\n"
    "        raise ValueError('LEAK ' + ' '.join(_SEEN))\n")


def test_hint_mode_shows_no_case_a_solution_recorded(tmp_path):
    """With ``show = "hint"`` the learner sees no case: not even one smuggled out in the
    message of an exception raised after recording every call's arguments."""
    from conformance.check import _platforms

    solution = tmp_path / "recorder.py"
    solution.write_text(RECORDER)
    out = tmp_path / "r.json"
    assert main(["check", str(solution), *FAST, "--workers", "1", "--json", str(out)]) == 1
    [result] = json.loads(out.read_text())["results"]
    assert _kind(result) == "exception"
    assert "LEAK S" in result["diagnosis"]["message"]  # the instructor's JSON has it
    config = tmp_path / "hint.toml"
    config.write_text('[learner]\nshow = "hint"\n')
    hint = _platforms.load_config(str(config))
    for fmt in ("gradescope", "prairielearn", "junit"):
        text = _platforms.render([result], fmt, hint)
        assert "LEAK" not in text and "|" not in text.replace("||", ""), (fmt, text[:2000])
        seed = result["counterexample"]["seed"]
        assert f"seed={seed}" not in text


@pytest.mark.parametrize("body,accepted", [
    ("[points]\nordinary = inf\n", False),
    ("[points]\nordinary = nan\n", False),
    ("[points]\nordinary = -1\n", False),
    ("[points]\nordinary = 1e400\n", False),
    ("[points]\nloads = true\n", False),
    ("[points]\nordinary = '40'\n", False),
    ("[learner]\nshow = 'everything'\n", False),
    ("[points]\nordinary = -0.0\n", True),
    ("[points]\nordinary = 99999999999999999999999\n", True),
])
def test_config_points_outside_their_domain_are_refused(tmp_path, body, accepted):
    from conformance.check import _platforms

    path = tmp_path / "grading.toml"
    path.write_text(body)
    if accepted:
        config = _platforms.load_config(str(path))
        assert config.total > 0 and config.total == config.total
    else:
        with pytest.raises(Exception) as raised:
            _platforms.load_config(str(path))
        assert "grading.toml" in str(raised.value)
