"""``nnx-conformance matrix``: rendering and behaviour-change detection.

The fixtures in ``tests/meta/matrix/fixtures/`` are env reports written by real tox runs of the
matrix (``python -m conformance.matrix.env_report`` in each env of ``tox.ini``), copied
unchanged.
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import shutil

import pytest

from conformance import matrix as _matrix
from conformance.matrix._cli import _split_envs
from conformance.matrix._render import class_summary
from conformance.matrix._results import version_tuple
from tests.paths import MATRIX_REPORTS as FIXTURES
from tests.paths import ROOT


@pytest.fixture(scope="module")
def reports():
    loaded = _matrix.load_results(FIXTURES)
    assert len(loaded) >= 8, f"expected the recorded matrix in {FIXTURES}"
    return loaded


def _env(reports, flax, jax):
    return next(r for r in reports
                if r["versions"]["flax"] == flax and r["versions"]["jax"] == jax)


def _changes(reports, fact):
    return [c for c in _matrix.behaviour_changes(reports) if c["fact"] == fact]


def test_envs_are_ordered_by_flax_then_jax(reports):
    keys = [(version_tuple(r["versions"]["flax"]), version_tuple(r["versions"]["jax"]))
            for r in reports]
    assert keys == sorted(keys)


def test_every_recorded_env_produced_its_class_bit_for_bit(reports):
    for report in reports:
        row = _matrix.cells(report)
        for column in ("known answers", "other class (toggled)", "x64 flipped", "split_merge",
                       "state_update", "original untouched"):
            assert row[column][1] == "pass", (report["env"], column, row[column])


def test_an_env_fails_exactly_when_its_conformance_run_disagreed(reports):
    failing = {r["env"] for r in reports if not _matrix.env_ok(r)}
    disagreed = {r["env"] for r in reports if r["conformance_run"].get("status") == "fail"}
    assert failing == disagreed


def test_both_prng_classes_are_present_and_bit_exact(reports):
    classes = {r["jax"]["prng_class"] for r in reports}
    assert classes == {"A", "B"}
    lines = class_summary(reports)
    for line in lines[:2]:
        count = line.split(": ")[1].split(" envs")[0]
        done, total = count.split("/")
        assert done == total, line


def test_prng_default_change_is_explained_by_jax_0_5(reports):
    changes = _changes(reports, "PRNG default")
    pair = [c for c in changes if "0.4.38" in c["from_env"] and "0.5.3" in c["to_env"]]
    assert pair, changes
    assert (pair[0]["before"], pair[0]["after"]) == ("A", "B")
    assert any("JAX 0.5.0" in cause for cause in pair[0]["causes"])


@pytest.mark.parametrize("fact, version, words", [
    ("state entry", "0.11", "removed VariableState"),
    ("split-leaf write reaches model", "0.11", "writes to the original model"),
    ("merged shares state Variables", "0.11.2", "copy=False"),
    (".value warns", "0.12.1", "deprecated Variable.value"),
    ("nnx.split exists", "0.8.3", "Module.split()"),
    ("nnx module", "0.8.4", "flax.nnx"),
    ("float variant", "0.7.0", "and 0.7.0 (rounding jaxlib-0.7.0)"),
    ("float variant", "0.8.3", "and 0.8.3 (rounding jaxlib-0.8.2)"),
])
def test_flax_behaviour_changes_are_named_with_their_cause(reports, fact, version, words):
    changes = _changes(reports, fact)
    assert changes, f"no change of {fact!r} detected"
    assert all(len(change["causes"]) == 1 for change in changes), changes  # its own, no other
    assert any(words in cause for change in changes for cause in change["causes"]), changes


def test_every_change_names_exactly_one_cause(reports):
    changes = _matrix.behaviour_changes(reports)
    assert changes and all(len(change["causes"]) == 1 for change in changes)
    prng = [c for c in changes if c["fact"] == "PRNG default"]
    assert prng and all("JAX 0.5.0" in c["causes"][0] for c in prng)
    assert not any("JAX 0.5.0" in c["causes"][0] for c in changes if c["fact"] != "PRNG default")


def test_the_json_report_holds_every_env_with_its_versions_and_verdicts(reports, tmp_path):
    md, page, data = _matrix.write_reports(reports, tmp_path / "report")
    doc = json.loads(data.read_text())
    assert doc["schema"] == "nnx-conformance/matrix/1"
    assert [e["env"] for e in doc["envs"]] == [r["env"] for r in reports]
    for env, report in zip(doc["envs"], reports):
        assert env["versions"] == report["versions"] and env["green"] == _matrix.env_ok(report)
        assert set(env["verdicts"]) >= {"known answers", "conformance run", "numpy", "torch"}
        assert env["green"] == (not env["failures"])
    assert doc["changes"] == _matrix.behaviour_changes(reports)


def test_import_under_warnings_as_errors_names_the_warning(reports):
    changes = _changes(reports, "import under -W error")
    assert changes
    assert any("jax.core.Effect" in cause for c in changes for cause in c["causes"])


def test_an_unknown_change_lists_the_version_deltas(reports):
    broken = copy.deepcopy(_env(reports, "0.12.8", "0.10.2"))
    broken["env"] = "zz-broken"
    broken["versions"]["python"] = "3.99.0"
    broken["known_answers"]["default"]["status"] = "fail"
    broken["known_answers"]["default"]["kernel_mismatches"] = ["worked_example"]
    changes = _matrix.behaviour_changes(reports + [broken])
    mine = [c for c in changes if c["to_env"] == "zz-broken" and c["fact"] == "known answers"]
    assert mine and "no known cause" in mine[0]["causes"][0]
    assert "python" in mine[0]["causes"][0]
    assert not _matrix.env_ok(broken)
    assert _matrix.cells(broken)["known answers"][1] == "fail"


def test_missing_vectors_fail_the_env(reports):
    broken = copy.deepcopy(reports[0])
    broken["known_answers"]["default"] = {"status": "missing", "compared": 0}
    assert _matrix.cells(broken)["known answers"] == ("NO VECTORS", "fail")
    assert not _matrix.env_ok(broken)


def test_markdown_has_a_row_per_env_and_the_changes(reports):
    text = _matrix.render_markdown(reports)
    for report in reports:
        assert text.count(f"| `{report['env']}` |") == 2  # its verdicts and its purity facts
    assert "## Behaviour changes between neighbouring envs" in text
    assert "JAX 0.5.0" in text
    assert "class A (JAX" in text and "class B (JAX" in text


def test_html_is_self_contained_and_coloured(reports):
    page = _matrix.render_html(reports)
    assert page.startswith("<!DOCTYPE html>")
    for external in ("<script", "<link", "src=", "href=", "@import", "url("):
        assert external not in page
    assert "class='pass'" in page and "<style>" in page
    assert page.count("<tr>") == 2 * (len(reports) + 1)  # verdicts, then purity
    assert page.index("id='verdict-table'") < page.index("id='purity-table'")
    assert page.count("<details>") == len(reports)  # each env's details, a click away


def test_collect_writes_both_reports(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES, results)
    code = _matrix.main(["--collect", "--results", str(results)])
    reports = _matrix.load_results(results)
    assert code == (0 if all(_matrix.env_ok(r) for r in reports) else 1)
    assert (results / "report.md").is_file() and (results / "report.html").is_file()
    failing = sum(not _matrix.env_ok(r) for r in _matrix.load_results(results))
    assert f"{failing} failing" in capsys.readouterr().out


def test_collect_with_no_results_fails(tmp_path, capsys):
    assert _matrix.main(["--collect", "--results", str(tmp_path)]) == 1
    assert "no env report" in capsys.readouterr().err


def test_register_adds_the_matrix_subcommand():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    _matrix.register(sub)
    args = parser.parse_args(["matrix", "--collect", "-e", "a,b", "-e", "c"])
    assert args.handler is _matrix.handle
    assert _split_envs(args.env) == ["a", "b", "c"]


def test_env_reports_are_json_round_trips():
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["schema"] == 1 and data["env"] == path.stem


def _tox_ini():
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    envs = [e.strip() for e in parser["tox"]["env_list"].split("\n") if e.strip()]
    labels = {}
    for line in parser["tox"]["labels"].split("\n"):
        if "=" in line:
            name, _, value = line.partition("=")
            labels[name.strip()] = [v.strip() for v in value.split(",")]
    return envs, labels


def test_every_tox_env_pins_flax_and_jax_and_both_classes_are_present():
    from conformance.matrix import tox_pins

    envs, labels = _tox_ini()
    jaxes = []
    for env in envs:
        python = (3, int(env.split("-")[0][len("py3"):].lstrip(".")))
        pins = tox_pins.pins(env, python)
        assert any(p.startswith("flax==") for p in pins) and any(
            p.startswith("jax[cpu]==") for p in pins), env
        jaxes.append(version_tuple(env.split("-jax")[1].split("-")[0]))
    assert any(v <= (0, 4, 38) for v in jaxes) and any(v >= (0, 5) for v in jaxes)
    assert set(labels["ci"]) <= set(envs) and len(labels["ci"]) == 2
    assert labels["ci"] == labels["latest"] + labels["classA"]


def test_torch_is_pinned_only_on_python_3_11():
    from conformance.matrix import tox_pins

    assert "torch==2.13.0" in tox_pins.pins("py311-flax0.12.8-jax0.10.2-torch", (3, 11))
    with pytest.raises(tox_pins.PinError):
        tox_pins.pins("py312-flax0.12.8-jax0.10.2-torch", (3, 12))


def test_the_report_takes_its_env_list_from_tox_ini():
    envs, _ = _tox_ini()
    assert _matrix.tox_env_list() == envs
    assert _matrix.tox_env_list(pathlib.Path("/nonexistent/tox.ini")) == []
