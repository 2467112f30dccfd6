"""Grading a whole class: discovery of submissions (class folders, globs, manifests, hostile
names and links), sharding, the resumable result log, merging shards, the gradebook's CSV
injection defence, and the progress line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.check._batch import (
    LOG_SCHEMA, BatchError, Progress, ResultLog, Submission, content_key, discover, merge,
    neutralise_cell, parse_shard, shard, shown, write_gradebook)

POSIX = os.name == "posix"
SETTINGS = {"cases": 20, "timeout": 10.0, "budget": 60.0, "grader": "0.1.0", "config": "ab12"}


def _make(root: Path, *names: str, text: str = "def pure_state_update(): pass\n") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _ids(subs: list[Submission]) -> list[str]:
    return [s.id for s in subs]


def _result(sub: str, sha: str, verdict: str = "pass", **extra) -> dict:
    return {"submission": sub, "sha256": sha, "verdict": verdict, "solution": f"/x/{sub}",
            "diagnosis": None if verdict == "pass" else {"kind": "wrong_values"},
            "duration_s": 1.5, **extra}


# --- discovery -----------------------------------------------------------------------------

def test_a_flat_class_folder_skips_hidden_caches_and_other_files(tmp_path):
    _make(tmp_path, "b.ipynb", "a.py", "notes.txt", ".hidden.py", "__pycache__/c.py",
          ".ipynb_checkpoints/a-checkpoint.ipynb", ".git/x.py")
    subs = discover([str(tmp_path)])
    assert _ids(subs) == ["a.py", "b.ipynb"]
    assert subs[0].path == str(tmp_path / "a.py") and os.path.isabs(subs[0].path)
    assert all(s.problem is None for s in subs)


def test_a_learners_folder_with_one_file_is_named_after_the_learner(tmp_path):
    _make(tmp_path, "alice/solution.py", "bob/work.ipynb", "carol/x.py", "carol/y.py",
          "dave/deep/er/z.py", "erin/readme.md", "erin/sol.py", "flat.py")
    subs = discover([str(tmp_path)])
    assert _ids(subs) == ["alice", "bob", "carol/x.py", "carol/y.py", "dave", "erin",
                          "flat.py"]
    assert {s.id: s.path for s in subs}["dave"] == str(tmp_path / "dave/deep/er/z.py")


def test_a_file_input_keeps_the_path_as_given(tmp_path, monkeypatch):
    _make(tmp_path, "sub/one.py")
    monkeypatch.chdir(tmp_path)
    [sub] = discover(["sub/one.py"])
    assert sub == Submission("sub/one.py", str(tmp_path / "sub/one.py"))


def test_globs_expand_recursively_with_the_matched_path_as_id(tmp_path, monkeypatch):
    _make(tmp_path, "class/a/s.py", "class/b/deep/t.ipynb", "class/c.txt", "class/.h/u.py",
          "top.py")
    monkeypatch.chdir(tmp_path)
    assert _ids(discover(["class/**/*.py*"])) == ["class/a/s.py"]  # .py* matches no notebook
    assert _ids(discover(["class/**/*"])) == ["class/a/s.py", "class/b/deep/t.ipynb"]
    assert _ids(discover(["class/*/s.py", "*.py"])) == ["class/a/s.py", "top.py"]
    absolute = discover([str(tmp_path / "class" / "*" / "*.py")])
    assert _ids(absolute) == [str(tmp_path / "class/a/s.py")]
    with pytest.raises(BatchError, match=r"input='class/\*\*/\*\.R'.*but should be"):
        discover(["class/**/*.R"])


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_globs_do_not_follow_links_to_folders(tmp_path, monkeypatch):
    """``glob.glob`` would: two ``loop -> ..`` links make it exponential."""
    _make(tmp_path, "class/a/s.py")
    os.symlink("..", tmp_path / "class/a/loop1")
    os.symlink("..", tmp_path / "class/a/loop2")
    os.symlink("/", tmp_path / "class/a/root")
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert _ids(discover(["class/**/*.py"])) == ["class/a/s.py"]
    assert time.monotonic() - started < 5


def test_inputs_that_are_not_gradable_are_named_with_the_valid_domain(tmp_path):
    _make(tmp_path, "notes.txt", "empty/readme.md")
    with pytest.raises(BatchError, match=r"input='.*missing\.py' \(missing\), but should be an "
                                         r"existing \.py or \.ipynb file, a directory"):
        discover([str(tmp_path / "missing.py")])
    with pytest.raises(BatchError, match=r"notes\.txt', but should be .*\.py or \.ipynb"):
        discover([str(tmp_path / "notes.txt")])
    with pytest.raises(BatchError, match=r"submissions=0 .*but should be at least one"):
        discover([str(tmp_path / "empty")])
    with pytest.raises(BatchError, match="submissions=0"):
        discover([])


def test_duplicate_ids_name_both_paths(tmp_path):
    _make(tmp_path, "group1/alice.py", "group2/alice.py")
    with pytest.raises(BatchError) as caught:
        discover([str(tmp_path / "group1"), str(tmp_path / "group2")])
    message = str(caught.value)
    assert "id='alice.py'" in message and "but should be unique" in message
    assert str(tmp_path / "group1/alice.py") in message
    assert str(tmp_path / "group2/alice.py") in message


def test_ordering_is_the_command_lines_and_each_folder_sorted(tmp_path):
    """As an instructor lists them (results come back in that order); a folder by id."""
    _make(tmp_path, "z.py", "a.py", "m/y.py", "m/x.py")
    inputs = [str(tmp_path / "z.py"), str(tmp_path / "m"), str(tmp_path / "a.py")]
    assert _ids(discover(inputs)) == [inputs[0], "x.py", "y.py", inputs[2]]
    assert _ids(discover(inputs[::-1])) == [inputs[2], "x.py", "y.py", inputs[0]]


# --- manifests -----------------------------------------------------------------------------

def _manifest(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_manifest_names_submissions_relative_to_its_folder(tmp_path, monkeypatch):
    _make(tmp_path, "subs/a1.py", "subs/b2.ipynb", "elsewhere/c3.py")
    manifest = _manifest(tmp_path / "subs/manifest.csv",
                         "\ufeffSubmission , file,extra\n"
                         "alice,a1.py,x\n\n"
                         f'"bob ""the"" builder",b2.ipynb,y\n'
                         f"carol,{tmp_path / 'elsewhere/c3.py'},z\n")
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative to the manifest, not the cwd
    subs = discover([], manifest=manifest)
    assert [(s.id, s.path) for s in subs] == [
        ("alice", str(tmp_path / "subs/a1.py")),
        ('bob "the" builder', str(tmp_path / "subs/b2.ipynb")),
        ("carol", str(tmp_path / "elsewhere/c3.py"))]


def test_a_manifest_without_an_id_or_path_column_is_refused(tmp_path):
    _make(tmp_path, "a.py")
    for header in ("name,path", "id,location", ""):
        manifest = _manifest(tmp_path / "m.csv", f"{header}\nalice,a.py\n")
        with pytest.raises(BatchError, match=r"m\.csv:1 header=.*but should name an id column "
                                             r"\(id or submission\) and a path column"):
            discover([], manifest=manifest)


def test_a_missing_file_in_a_manifest_names_its_line(tmp_path):
    _make(tmp_path, "a.py", "b.py")
    manifest = _manifest(tmp_path / "m.csv", "id,path\nalice,a.py\nbob,gone.py\ncarol,b.py\n")
    with pytest.raises(BatchError, match=r"m\.csv:3 path='gone\.py' \(missing\), but should"):
        discover([], manifest=manifest)
    quoted = _manifest(tmp_path / "q.csv", 'id,path\n"al\nice",a.py\nbob,gone.py\n')
    with pytest.raises(BatchError, match=r"q\.csv:4 path='gone\.py'"):  # physical line
        discover([], manifest=quoted)
    short = _manifest(tmp_path / "s.csv", "id,path\nalice\n")
    with pytest.raises(BatchError, match=r"s\.csv:2 fields=1, but should be at least 2"):
        discover([], manifest=short)
    with pytest.raises(BatchError, match=r"manifest=.*nope\.csv"):
        discover([], manifest=str(tmp_path / "nope.csv"))


def test_a_manifest_id_colliding_with_an_input_is_a_duplicate(tmp_path):
    _make(tmp_path, "a.py")
    manifest = _manifest(tmp_path / "m.csv", f"id,path\n{tmp_path / 'a.py'},a.py\n")
    with pytest.raises(BatchError, match="but should be unique"):
        discover([str(tmp_path / "a.py")], manifest=manifest)


# --- hostile names and links ---------------------------------------------------------------

def test_hostile_names_are_ids_kept_verbatim(tmp_path):
    names = ['=HYPERLINK("evil.example","x").py', "+cmd|' -C calc'!A0.py", "-2+3.py", "@SUM.py"]
    if POSIX:
        names.append("new\nline.py")
    _make(tmp_path, *names)
    subs = discover([str(tmp_path)])
    assert _ids(subs) == sorted(names)
    for sub in subs:
        assert Path(sub.path).read_text() and sub.problem is None


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_links_in_a_class_folder_are_reported_not_followed(tmp_path):
    _make(tmp_path / "class", "alice/sol.py")
    os.symlink("/etc/passwd", tmp_path / "class/evil.py")
    (tmp_path / "class/mallory").mkdir()
    os.symlink("/etc/passwd", tmp_path / "class/mallory/sol.py")
    os.symlink("/etc", tmp_path / "class/trudy")  # a learner's folder that is a link
    os.symlink("/nowhere", tmp_path / "class/broken.ipynb")
    subs = {s.id: s for s in discover([str(tmp_path / "class")])}
    assert sorted(subs) == ["alice", "broken.ipynb", "evil.py", "mallory", "trudy"]
    assert subs["alice"].problem is None
    for ident in ("broken.ipynb", "evil.py", "mallory", "trudy"):
        assert "symbolic link" in subs[ident].problem and "not followed" in subs[ident].problem
        assert os.path.islink(subs[ident].path), "the link itself, not its target"
        assert not subs[ident].path.startswith("/etc")
    with pytest.raises(BatchError, match="symbolic link"):
        content_key(subs["evil.py"].path)
    manifest = _manifest(tmp_path / "m.csv", "id,path\nm,class/mallory/sol.py\n")
    [listed] = discover([], manifest=manifest)
    assert listed.problem and "symbolic link" in listed.problem


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_a_link_the_instructor_names_is_refused(tmp_path):
    """Even a link named on the command line: the grader reads with its own privileges."""
    _make(tmp_path, "real/sol.py")
    os.symlink(tmp_path / "real/sol.py", tmp_path / "link.py")
    with pytest.raises(BatchError, match="not a symbolic link"):
        discover([str(tmp_path / "link.py")])


def test_an_unreadable_learner_folder_is_reported_not_dropped(tmp_path, monkeypatch):
    _make(tmp_path, "alice/sol.py", "bob/sol.py")
    real = os.scandir

    def scandir(path):  # as for a folder of mode 000 (which root could read anyway)
        if os.path.basename(path) == "bob":
            raise PermissionError(13, "Permission denied", path)
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)
    subs = {s.id: s for s in discover([str(tmp_path)])}
    assert subs["alice"].problem is None and "unreadable" in subs["bob"].problem
    assert subs["bob"].path == str(tmp_path / "bob")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_special_file_in_a_class_folder_is_reported(tmp_path):
    _make(tmp_path, "alice.py")
    os.mkfifo(tmp_path / "pipe.py")
    subs = {s.id: s for s in discover([str(tmp_path)])}
    assert subs["alice.py"].problem is None and "special" in subs["pipe.py"].problem


@pytest.mark.skipif(sys.platform != "linux", reason="undecodable names need a bytes filesystem")
def test_an_undecodable_file_name_gets_a_printable_unique_id(tmp_path):
    folder = os.fsencode(tmp_path)
    for raw in (b"caf\xe9.py", b"caf\xe8.py"):
        with open(os.path.join(folder, raw), "wb") as handle:
            handle.write(b"x = 1\n")
    subs = discover([str(tmp_path)])
    assert _ids(subs) == ["caf\\xe8.py", "caf\\xe9.py"]
    for sub in subs:
        sub.id.encode("utf-8")  # no lone surrogate left in an id
        assert content_key(sub.path) == hashlib.sha256(b"x = 1\n").hexdigest()


# --- sharding ------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(ids=st.sets(st.text(max_size=8), max_size=40), count=st.integers(1, 9),
       seed=st.randoms(use_true_random=False))
def test_shards_partition_every_submission_evenly_whatever_the_order(ids, count, seed):
    subs = [Submission(i, f"/c/{i}") for i in ids]
    shuffled = list(subs)
    seed.shuffle(shuffled)
    parts = [shard(subs, i, count) for i in range(count)]
    assert parts == [shard(shuffled, i, count) for i in range(count)]
    together = [s for part in parts for s in part]
    assert sorted(together, key=lambda s: s.id) == sorted(subs, key=lambda s: s.id)
    assert len(together) == len(set(together))  # disjoint
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_shard_refuses_an_index_out_of_range():
    with pytest.raises(BatchError, match="shard=3/3"):
        shard([Submission("a", "/a")], 3, 3)


def test_parse_shard_reads_i_of_n_or_the_kubernetes_index():
    assert parse_shard(None) is None
    assert parse_shard("0/4", {}) == (0, 4)
    assert parse_shard(" 3/4 ", {}) == (3, 4)
    assert parse_shard("4", {"JOB_COMPLETION_INDEX": "2"}) == (2, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "0"}) == (0, 4)
    for bad in ("3/3", "-1/2", "a/b", "0/0", "1/", "/2", "1/2/3", "", "٣/4"):
        with pytest.raises(BatchError, match=r"--shard=.*but should be I/N with 0 <= I < N"):
            parse_shard(bad, {})
    with pytest.raises(BatchError, match=r"JOB_COMPLETION_INDEX=unset .*but should be"):
        parse_shard("4", {})
    with pytest.raises(BatchError, match=r"--shard='4' \(index 7 of 4\)"):
        parse_shard("4", {"JOB_COMPLETION_INDEX": "7"})
    with pytest.raises(BatchError, match=r"JOB_COMPLETION_INDEX='x'"):
        parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "x"})


# --- content -------------------------------------------------------------------------------

def test_content_key_is_the_sha256_of_the_bytes(tmp_path):
    (tmp_path / "a.py").write_bytes(b"abc")
    assert content_key(str(tmp_path / "a.py")) == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "big.py").write_bytes(b"x" * 2000)
    with pytest.raises(BatchError, match=r"file size=.*but should be at most 1000"):
        content_key(str(tmp_path / "big.py"), limit=1000)
    with pytest.raises(BatchError, match="but should be a regular file"):
        content_key(str(tmp_path))
    with pytest.raises(BatchError, match=r"No such file"):
        content_key(str(tmp_path / "gone.py"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_content_key_does_not_hang_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    with pytest.raises(BatchError, match="not a regular file"):
        content_key(str(tmp_path / "pipe.py"))


# --- the result log ------------------------------------------------------------------------

def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def test_a_new_log_starts_with_its_header_and_resumes_after_reopening(tmp_path):
    log_path = tmp_path / "run.jsonl"
    with ResultLog(str(log_path), SETTINGS) as log:
        for name in "abc":
            log.append(_result(name, name * 64))
    assert _lines(log_path)[0] == {"schema": LOG_SCHEMA, "settings": SETTINGS}
    with ResultLog(str(log_path), dict(SETTINGS)) as log:
        assert log.notes == []
        assert sorted(log.done()) == ["a", "b", "c"]
        assert sorted(log.done({"a": "a" * 64, "b": "b" * 64, "c": "c" * 64})) == ["a", "b", "c"]
        assert log.done()["b"]["sha256"] == "b" * 64
    assert len(_lines(log_path)) == 4


def test_a_changed_file_or_a_grader_error_is_graded_again(tmp_path):
    files = {n: tmp_path / f"{n}.py" for n in "abc"}
    for name, path in files.items():
        path.write_text(f"# {name}\n")
    current = lambda: {n: content_key(str(p)) for n, p in files.items()}  # noqa: E731
    with ResultLog(str(tmp_path / "run.jsonl"), SETTINGS) as log:
        for name, sha in current().items():
            log.append(_result(name, sha, "error" if name == "c" else "pass"))
    files["a"].write_text("# a, edited\n")
    with ResultLog(str(tmp_path / "run.jsonl"), SETTINGS) as log:
        assert sorted(log.done(current())) == ["b"]
        log.append(_result("a", current()["a"], "fail"))
        log.append(_result("c", current()["c"], "pass"))
        done = log.done(current())
        assert sorted(done) == ["a", "b", "c"] and done["a"]["verdict"] == "fail"
        assert log.done({"b": "0" * 64}) == {}  # not the graded content
        assert "z" not in log.done({"z": "z" * 64})


def test_a_torn_last_line_is_ignored_and_the_log_continues_cleanly(tmp_path):
    log_path = tmp_path / "run.jsonl"
    with ResultLog(str(log_path), SETTINGS) as log:
        log.append(_result("a", "a" * 64))
        log.append(_result("b", "b" * 64))
    whole = log_path.read_bytes()
    log_path.write_bytes(whole[:-25])  # killed while writing b's line
    with ResultLog(str(log_path), SETTINGS) as log:
        assert len(log.notes) == 1 and "run.jsonl:3" in log.notes[0]
        assert sorted(log.done()) == ["a"]
        log.append(_result("c", "c" * 64))
    assert [e.get("submission") for e in _lines(log_path)] == [None, "a", "c"]
    log_path.write_bytes(log_path.read_bytes() + b"\x00" * 4096)  # a zero-filled tail
    with ResultLog(str(log_path), SETTINGS) as log:
        assert sorted(log.done()) == ["a", "c"] and log.notes
    assert len(_lines(log_path)) == 3


def test_a_last_line_without_its_newline_is_kept_and_terminated(tmp_path):
    log_path = tmp_path / "run.jsonl"
    with ResultLog(str(log_path), SETTINGS) as log:
        log.append(_result("a", "a" * 64))
    log_path.write_bytes(log_path.read_bytes().rstrip(b"\n"))
    with ResultLog(str(log_path), SETTINGS) as log:
        assert sorted(log.done()) == ["a"] and not log.notes
        log.append(_result("b", "b" * 64))
    assert [e.get("submission") for e in _lines(log_path)] == [None, "a", "b"]


def test_a_torn_header_starts_the_log_afresh(tmp_path):
    log_path = tmp_path / "run.jsonl"
    log_path.write_bytes(b'{"schema": "nnx-conf')
    with ResultLog(str(log_path), SETTINGS) as log:
        assert log.notes and log.done() == {}
    assert _lines(log_path) == [{"schema": LOG_SCHEMA, "settings": SETTINGS}]


def test_corruption_in_the_middle_names_the_line(tmp_path):
    log_path = tmp_path / "run.jsonl"
    with ResultLog(str(log_path), SETTINGS) as log:
        for name in "abc":
            log.append(_result(name, name * 64))
    lines = log_path.read_bytes().split(b"\n")
    lines[2] = lines[2][:30]
    log_path.write_bytes(b"\n".join(lines))
    with pytest.raises(BatchError, match=r"run\.jsonl:3 line=.*but should be one JSON result"):
        ResultLog(str(log_path), SETTINGS)
    with pytest.raises(BatchError, match=r"run\.jsonl:3"):
        merge([str(log_path)])
    (tmp_path / "other.jsonl").write_text('{"schema": "something/else", "settings": {}}\n')
    with pytest.raises(BatchError, match=r"other\.jsonl:1 header=.*not a check log"):
        ResultLog(str(tmp_path / "other.jsonl"), SETTINGS)


def test_other_settings_name_the_setting_and_ask_for_a_new_log(tmp_path):
    log_path = str(tmp_path / "run.jsonl")
    ResultLog(log_path, SETTINGS).close()
    with pytest.raises(BatchError, match=r"settings\.timeout=20\.0 \(this run\), but should be "
                                         r"10\.0 as in the log .*new log path"):
        ResultLog(log_path, {**SETTINGS, "timeout": 20.0})
    with pytest.raises(BatchError, match=r"settings\.extra=1 \(this run\), but should be "
                                         r"'<unset>'"):
        ResultLog(log_path, {**SETTINGS, "extra": 1})
    with ResultLog(log_path, {**SETTINGS, "timeout": 10}) as log:  # 10 == 10.0: comparable
        assert log.done() == {}


@pytest.mark.skipif(not POSIX, reason="flock")
def test_one_run_at_a_time_writes_a_log(tmp_path):
    log_path = str(tmp_path / "run.jsonl")
    with ResultLog(log_path, SETTINGS):
        with pytest.raises(BatchError, match="in use by another run"):
            ResultLog(log_path, SETTINGS)
    ResultLog(log_path, SETTINGS).close()


def test_append_refuses_a_result_it_could_not_key(tmp_path):
    with ResultLog(str(tmp_path / "run.jsonl"), SETTINGS) as log:
        with pytest.raises(BatchError, match=r"'submission' \(a string\), 'sha256'"):
            log.append({"solution": "a.py", "verdict": "pass"})
        with pytest.raises(ValueError):
            log.append(_result("a", "a" * 64, duration_s=float("nan")))
        log.append(_result("new\nline\udce9", "d" * 64))  # one ASCII line whatever the id
    assert len((tmp_path / "run.jsonl").read_bytes().splitlines()) == 2


def test_each_line_is_on_disk_before_append_returns(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    path = tmp_path / "run.jsonl"
    with ResultLog(str(path), SETTINGS) as log:
        before = len(synced)
        log.append(_result("a", "a" * 64))
        assert len(synced) == before + 1
        assert path.read_bytes().endswith(b"\n") and len(_lines(path)) == 2


@pytest.mark.skipif(not POSIX, reason="SIGKILL")
def test_a_log_killed_mid_run_reopens_with_every_finished_line(tmp_path):
    log_path = tmp_path / "run.jsonl"
    code = ("import sys\n"
            "from conformance.check._batch import ResultLog\n"
            f"log = ResultLog({str(log_path)!r}, {SETTINGS!r})\n"
            "i = 0\n"
            "while True:\n"
            "    log.append({'submission': f's{i}', 'sha256': 'x' * 64, 'verdict': 'pass',\n"
            "                'output': 'y' * 5000})\n"
            "    i += 1\n"
            "    if i == 20: print('ready', flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[3])
    assert child.stdout.readline() == b"ready\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with ResultLog(str(log_path), SETTINGS) as log:
        done = log.done()
        assert len(done) >= 20
        log.append(_result("after", "a" * 64))
    entries = _lines(log_path)[1:]
    assert [e["submission"] for e in entries[:-1]] == [f"s{i}" for i in range(len(done))]


# --- merging -------------------------------------------------------------------------------

def test_merged_shards_equal_one_log(tmp_path):
    results = [_result(f"s{i:02d}", f"{i:064x}", "pass" if i % 3 else "fail")
               for i in range(10)]
    subs = [Submission(r["submission"], r["solution"]) for r in results]
    by_id = {r["submission"]: r for r in results}
    paths = []
    for index in range(3):
        paths.append(str(tmp_path / f"shard{index}.jsonl"))
        with ResultLog(paths[-1], SETTINGS) as log:
            for sub in shard(subs, index, 3)[::-1]:
                log.append(by_id[sub.id])
    with ResultLog(str(tmp_path / "one.jsonl"), SETTINGS) as log:
        for result in random.Random(1).sample(results, len(results)):
            log.append(result)
    merged = merge(paths)
    assert merged == (SETTINGS, results)
    assert merge([str(tmp_path / "one.jsonl")]) == merged
    assert merge(paths[::-1]) == merged


def test_merge_refuses_conflicts_and_keeps_one_result_per_id(tmp_path):
    def log(name: str, *results: dict, settings: dict = SETTINGS) -> str:
        with ResultLog(str(tmp_path / name), settings) as writer:
            for result in results:
                writer.append(result)
        return str(tmp_path / name)

    one = log("one.jsonl", _result("a", "1" * 64), _result("b", "b" * 64, "error"))
    other = log("two.jsonl", _result("a", "2" * 64))
    with pytest.raises(BatchError, match=r"sha256=2+ for id='a' in .*two\.jsonl', but should be "
                                         r"1+ as in .*one\.jsonl'"):
        merge([one, other])
    again = log("three.jsonl", _result("b", "b" * 64, "pass"), _result("a", "1" * 64, "fail"))
    _, results = merge([again, one])
    assert [(r["submission"], r["verdict"]) for r in results] == [("a", "pass"), ("b", "pass")]
    _, results = merge([one, again])
    assert [(r["submission"], r["verdict"]) for r in results] == [("a", "fail"), ("b", "pass")]
    _, results = merge([one])
    assert [(r["submission"], r["verdict"]) for r in results] == [("a", "pass"), ("b", "error")]
    regraded = log("four.jsonl", _result("a", "1" * 64), _result("a", "2" * 64, "error"),
                   _result("a", "1" * 64, "pass"), _result("a", "2" * 64, "fail"))
    [latest] = merge([regraded])[1]
    assert (latest["sha256"], latest["verdict"]) == ("2" * 64, "fail")
    elsewhere = log("five.jsonl", settings={**SETTINGS, "cases": 50})
    with pytest.raises(BatchError, match=r"settings\.cases=50 in .*five\.jsonl', but should be "
                                         r"20 as in .*one\.jsonl'"):
        merge([one, elsewhere])
    with pytest.raises(BatchError, match=r"logs=\[\]"):
        merge([])


def test_merge_ignores_a_torn_last_line_with_a_note(tmp_path):
    path = tmp_path / "s.jsonl"
    with ResultLog(str(path), SETTINGS) as log:
        log.append(_result("a", "a" * 64))
        log.append(_result("b", "b" * 64))
    path.write_bytes(path.read_bytes()[:-10])
    notes: list[str] = []
    _, results = merge([str(path)], notes=notes)
    assert [r["submission"] for r in results] == ["a"] and len(notes) == 1


# --- the gradebook -------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://evil","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
           "  =1+1", "|calc", "%0A", "new\nline", "caf\udce9", "alice", 'quo"te,comma']


def test_the_gradebook_neutralises_formulas_and_reads_back(tmp_path):
    rows = [{"submission": ident, "score": i, "max_score": 10.0, "verdict": "fail",
             "mistake": ident, "sha256": "f" * 64, "salt": None}
            for i, ident in enumerate(HOSTILE)]
    path = tmp_path / "grades.csv"
    write_gradebook(rows, str(path))
    assert path.read_bytes().startswith("\ufeff".encode())  # Excel reads UTF-8 right
    with open(path, encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["submission", "score", "max_score", "verdict", "mistake", "sha256",
                        "salt"]
    assert len(table) == len(HOSTILE) + 1
    for ident, row in zip(HOSTILE, table[1:]):
        cleaned = ident.replace("\udce9", "\ufffd")
        risky = cleaned.lstrip(" ")[:1] in tuple("=+-@\t\r\n|%")
        expected = "'" + cleaned if risky else cleaned
        assert row[0] == expected and row[4] == expected, (ident, row)
        assert float(row[1]) == HOSTILE.index(ident) and float(row[2]) == 10.0
        assert row[6] == ""
    for row in table[1:]:
        for cell in row:
            assert not cell[:1] in ("=", "+", "-", "@", "\t", "\r"), row
    assert not [p for p in os.listdir(tmp_path) if p != "grades.csv"]  # no temporary left


def test_neutralise_cell_leaves_numbers_and_plain_text():
    assert neutralise_cell(-3) == -3 and neutralise_cell(2.5) == 2.5
    assert neutralise_cell(None) is None
    assert neutralise_cell("alice") == "alice"
    assert neutralise_cell("=1") == "'=1"


# --- progress ------------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_one_escaped_line_with_an_eta_from_graded_submissions():
    clock, stream = _Clock(), io.StringIO()
    progress = Progress(5, stream, clock=clock)
    progress.done(_result("old", "a" * 64), resumed=True)
    clock.now += 10
    progress.done(_result("a\n[5/5] forged: PASS\x1b[2K", "b" * 64, "fail"))
    clock.now += 20
    progress.done(_result("\u202eevil", "c" * 64))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[1/5] old: PASS (resumed) ... ETA ?:??",
        "[2/5] a\\x0a[5/5] forged: PASS\\x1b[2K: FAIL wrong_values (1.5 s) ... ETA 0:30",
        "[3/5] \\u202eevil: PASS (1.5 s) ... ETA 0:30",
    ]
    clock.now += 1000
    progress.done(_result("d", "d" * 64, "error"))
    progress.done(_result("e", "e" * 64))
    assert stream.getvalue().splitlines()[-2:] == [
        "[4/5] d: ERROR wrong_values (1.5 s) ... ETA 5:43",
        "[5/5] e: PASS (1.5 s) ... ETA 0:00"]


def test_progress_writes_to_a_stream_that_cannot_encode_the_id():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    Progress(1, stream).done(_result("café", "a" * 64))
    stream.seek(0)
    assert stream.read().startswith("[1/1] caf\\xe9: PASS")


def test_shown_escapes_controls_bidi_and_surrogates():
    assert shown("a\tb\nc\x7f\x9b\u2028\u2066\udce9") == \
        "a\\x09b\\x0ac\\x7f\\x9b\\u2028\\u2066\\udce9"
    assert shown("plain ünïcode") == "plain ünïcode"


@pytest.mark.skipif(not POSIX, reason="undecodable file names")
def test_escaped_ids_cannot_collide(tmp_path):
    """A learner's file literally named ``a\\xff.py`` beside ``a<byte 0xff>.py``: two ids, not a
    duplicate that would stop the whole class (the escaping is one to one)."""
    root = os.fsencode(tmp_path / "class")
    os.makedirs(root)
    for name in (b"a\xff.py", b"a\\xff.py", b"b.py"):
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(b"x = 1\n")
    ids = _ids(discover([os.fsdecode(root)]))
    assert len(set(ids)) == 3, ids


@pytest.mark.parametrize("text,env", [("9" * 5000 + "/2", {}),
                                      ("auto/2", {"JOB_COMPLETION_INDEX": "9" * 5000})])
def test_a_shard_index_of_thousands_of_digits_is_a_usage_error(text, env):
    with pytest.raises(BatchError, match="but should be"):
        parse_shard(text, env)


def test_gradebook_cells_escape_bidirectional_controls():
    assert neutralise_cell("alice\u202egnp.py") == "alice\\u202egnp.py"
