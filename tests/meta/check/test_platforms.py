"""Grading platforms' files (``conformance/check/_platforms.py``): each rendered file is valid
against the schema written from its platform's specification, whatever the learner's texts
hold; the partial credit follows the instructor's config; hidden cases never leak; and a bad
config is refused with a message naming its file and key."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.check._platforms import (
    DEFAULT_POINTS,
    FORMATS,
    SCHEMA_PATHS,
    SHOW_MODES,
    SUBTEST_NAMES,
    SUBTESTS,
    ConfigError,
    GradingConfig,
    load_config,
    render,
    score,
)

GRADESCOPE = json.loads(SCHEMA_PATHS["gradescope"].read_text(encoding="utf-8"))
PRAIRIELEARN = json.loads(SCHEMA_PATHS["prairielearn"].read_text(encoding="utf-8"))
JUNIT = xmlschema.XMLSchema(str(SCHEMA_PATHS["junit"]))
SHA = "0123456789abcdef" * 4
CONFIG_TOML = """
[points]
ordinary = 40
seed_edges = 10
special_x = 2.5
[learner]
show = "counterexample"
"""


def _subtests(failed: dict[str, tuple[int, int, str | None]] | None = None,
              not_run: tuple[str, ...] = (), cases: int = 10) -> list[dict]:
    """Every sub-test passed with ``cases`` cases, but ``failed`` (name -> (cases, failed,
    first failing case)) and ``not_run`` (cases 0, passed false)."""
    failed = failed or {}
    subs = []
    for name, description in SUBTESTS:
        if name in failed:
            n, bad, case = failed[name]
            subs.append({"name": name, "description": description, "cases": n, "failed": bad,
                         "passed": False, "case": case})
        elif name in not_run:
            subs.append({"name": name, "description": description, "cases": 0, "failed": 0,
                         "passed": False, "case": None})
        else:
            subs.append({"name": name, "description": description, "cases": cases,
                         "failed": 0, "passed": True, "case": None})
    return subs


def _result(verdict: str, subtests: list[dict], diagnosis: dict | None = None,
            counterexample: dict | None = None, **extra) -> dict:
    return {"solution": "/course/alice/solution.py", "submission": "alice", "sha256": SHA,
            "verdict": verdict, "diagnosis": diagnosis, "counterexample": counterexample,
            "cases": sum(s["cases"] for s in subtests), "shapes": 25, "duration_s": 2.5,
            "environment": {"python": "3.11"}, "warnings": [],
            "purity": {"checked": True, "pure": True, "impure_cases": []},
            "output": {"stdout": "", "stderr": ""}, "confinement": {}, "salt": 42,
            "subtests": subtests, **extra}


def _diagnosis(kind: str, message: str = "it failed", hint: str = "", mutant=None) -> dict:
    return {"kind": kind, "message": message, "hint": hint, "mutant": mutant,
            "also_matches": []}


COUNTEREXAMPLE = {"case": "c17", "seed": -(2 ** 63), "float_args": False,
                  "x": [1.5, "nan", -0.0], "features": 3, "scale": "inf",
                  "expected": [0.25, "nan", 0.0], "actual": [0.5, "nan", 0.0],
                  "message": "element 0 differs", "reproducer": "print(pure_state_update())"}
FAIL_NOT_LOADED = _subtests({"loads": (1, 1, None)}, not_run=SUBTEST_NAMES[1:])
RESULTS = {
    "pass": _result("pass", _subtests()),
    "wrong_values": _result(
        "fail", _subtests({"seed_edges": (20, 3, "c17"), "special_x": (12, 12, "c90")}),
        _diagnosis("wrong_values", "values differ", "seed the key with the seed", "wrong_key"),
        COUNTEREXAMPLE),
    "syntax_error": _result("fail", FAIL_NOT_LOADED,
                            _diagnosis("syntax_error", "line 3: invalid syntax")),
    "missing_function": _result("fail", FAIL_NOT_LOADED, _diagnosis(
        "missing_function", "defines no pure_state_update", "name the function as stated")),
    "timeout": _result(
        "fail", _subtests({"large_shapes": (4, 1, "c33"), "seed_edges": (3, 0, None),
                           "float_arguments": (2, 0, None)}, cases=5),
        _diagnosis("timeout", "a call took more than 10 s"),
        {**COUNTEREXAMPLE, "case": "c33", "expected": [1.0], "actual": "timeout"}),
    "grader_error": _result("error", _subtests(not_run=SUBTEST_NAMES),
                            _diagnosis("grader_error", "the child could not import JAX")),
}


def _strict_json(text: str) -> dict:
    """``text`` parsed as strict JSON: no NaN or Infinity literals, no lone surrogates."""
    def refuse(name: str):
        raise AssertionError(f"non-standard JSON literal {name}")
    assert not re.search("[\ud800-\udfff]", text)
    return json.loads(text, parse_constant=refuse)


def _validated(text: str, fmt: str):
    """The rendered file, parsed and validated against its schema."""
    if fmt == "junit":
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        root = ET.fromstring(text.encode("utf-8"))  # well-formed XML 1.0
        JUNIT.validate(text)
        return root
    document = _strict_json(text)
    jsonschema.validate(document, GRADESCOPE if fmt == "gradescope" else PRAIRIELEARN)
    return document


def _expected_points(result: dict, config: GradingConfig) -> float:
    """Earned points computed from the config and the sub-tests, as the task states them."""
    if result["verdict"] == "error":
        return 0.0
    if result["verdict"] == "pass":
        return sum(config.points.values())
    return sum(config.points[s["name"]] for s in result["subtests"] if s["passed"])


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> GradingConfig:
    path = tmp_path_factory.mktemp("cfg") / "grading.toml"
    path.write_text(CONFIG_TOML, encoding="utf-8")
    return load_config(str(path))


# --- validity ----------------------------------------------------------------------------------

@pytest.mark.parametrize("show", SHOW_MODES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(RESULTS))
def test_every_file_is_valid_against_its_schema(name, fmt, show):
    _validated(render([RESULTS[name]], fmt, GradingConfig(show=show)), fmt)


def test_junit_holds_one_suite_per_submission_and_one_case_per_subtest():
    results = [{**r, "submission": name} for name, r in RESULTS.items()]
    root = _validated(render(results, "junit", GradingConfig()), "junit")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == list(RESULTS)
    for suite, result in zip(suites, results):
        assert [c.get("name") for c in suite.findall("testcase")] == list(SUBTEST_NAMES)
        failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
        errors = [c.get("name") for c in suite.findall("testcase") if c.find("error") is not None]
        if result["verdict"] == "error":
            assert errors == list(SUBTEST_NAMES) and not failed
        else:
            assert failed == [s["name"] for s in result["subtests"] if not s["passed"]]
            assert not errors
        assert (int(suite.get("failures")), int(suite.get("errors"))) == (len(failed), len(errors))
        assert all(c.find("system-out") is not None for c in suite.findall("testcase"))
    assert int(root.get("tests")) == len(SUBTESTS) * len(results)


@pytest.mark.parametrize("fmt", ["gradescope", "prairielearn"])
def test_one_submission_formats_refuse_several(fmt):
    with pytest.raises(ValueError, match="results=2 submissions, but should be exactly 1"):
        render([RESULTS["pass"], RESULTS["pass"]], fmt)
    with pytest.raises(ValueError, match="results=0"):
        render([], fmt)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format='tap', but should be one of"):
        render([RESULTS["pass"]], "tap")


def test_the_schemas_reject_what_they_should():
    good_gs = _strict_json(render([RESULTS["wrong_values"]], "gradescope"))
    good_pl = _strict_json(render([RESULTS["wrong_values"]], "prairielearn"))
    no_score = {k: v for k, v in good_gs.items() if k != "score"}
    broken_gs = [{**no_score, "tests": [{k: v for k, v in t.items() if k != "score"}
                                        for t in good_gs["tests"]]},  # no score anywhere
                 {**good_gs, "output_format": "rtf"},
                 {**good_gs, "visibility": "sometimes"},
                 {**good_gs, "tests": [{**good_gs["tests"][0], "status": "ok"}]},
                 {**good_gs, "tests": [{**good_gs["tests"][0], "number": 1}]},
                 {**good_gs, "scores": 1}]
    broken_pl = [{k: v for k, v in good_pl.items() if k != "score"},
                 {**good_pl, "score": 1.5}, {**good_pl, "score": "1"},
                 {**good_pl, "gradable": "no"},
                 {"gradable": False, "format_errors": [3]},
                 {**good_pl, "tests": [{**good_pl["tests"][0], "points": "3"}]}]
    # Without its top-level score a document is still valid: the spec requires a score there
    # only for want of one on every test.
    jsonschema.validate(no_score, GRADESCOPE)
    for document, schema in [*((d, GRADESCOPE) for d in broken_gs),
                             *((d, PRAIRIELEARN) for d in broken_pl)]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, schema)
    jsonschema.validate({"gradable": False, "format_errors": "bad"}, PRAIRIELEARN)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"output": "x"}, GRADESCOPE)  # neither a score nor tests

    good_xml = render([RESULTS["wrong_values"]], "junit")
    JUNIT.validate(good_xml)
    for old, new in [('<testsuite name="alice"', "<testsuite"),
                     ('failures="2"', 'failures="two"'),
                     ('type="wrong_values"', ""),
                     ("testsuites", "suites"),
                     ('classname="alice"', "")]:
        broken = good_xml.replace(old, new)
        assert broken != good_xml, old
        assert not JUNIT.is_valid(broken), old


# --- points --------------------------------------------------------------------------------

def test_the_grader_descriptions_and_notes_are_shown():
    result = {**RESULTS["wrong_values"], "notes": ["NOTE-MARKER: a %magic line was left out"],
              "subtests": [{**s, "description": f"DESCRIPTION-{s['name']}"}
                           for s in RESULTS["wrong_values"]["subtests"]]}
    for fmt in FORMATS:
        text = render([result], fmt, GradingConfig(show="hint"))
        _validated(text, fmt)
        assert "NOTE-MARKER" in text
        assert all(f"DESCRIPTION-{name}" in text for name in SUBTEST_NAMES)


def test_a_missing_sha256_is_left_out():
    result = {**RESULTS["pass"], "sha256": None}
    assert _strict_json(render([result], "gradescope"))["extra_data"]["sha256"] is None
    _validated(render([result], "junit"), "junit")


def test_defaults_sum_to_100_over_every_subtest():
    assert set(DEFAULT_POINTS) == set(SUBTEST_NAMES)
    assert sum(DEFAULT_POINTS.values()) == 100
    default = GradingConfig()
    assert default.show == "counterexample" and dict(default.points) == dict(DEFAULT_POINTS)
    assert load_config(None) == default


def test_the_config_overrides_only_what_it_names(config):
    assert config.points["ordinary"] == 40 and config.points["seed_edges"] == 10
    assert config.points["special_x"] == 2.5
    unnamed = set(SUBTEST_NAMES) - {"ordinary", "seed_edges", "special_x"}
    assert all(config.points[n] == DEFAULT_POINTS[n] for n in unnamed)
    named = {"ordinary": 40, "seed_edges": 10, "special_x": 2.5}
    assert config.total == pytest.approx(sum(DEFAULT_POINTS[n] for n in unnamed)
                                         + sum(named.values()))


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_partial_credit(name, config):
    result = RESULTS[name]
    earned = _expected_points(result, config)
    total = sum(config.points.values())
    assert score(result, config) == (pytest.approx(earned), pytest.approx(total))

    gs = _strict_json(render([result], "gradescope", config))
    assert gs["score"] == pytest.approx(earned)
    assert sum(t["score"] for t in gs["tests"]) == pytest.approx(earned)
    assert sum(t["max_score"] for t in gs["tests"]) == pytest.approx(total)
    passed = {s["name"]: s["passed"] or result["verdict"] == "pass" for s in result["subtests"]}
    for test in gs["tests"]:
        expected = config.points[test["name"]] if passed[test["name"]] else 0
        assert test["score"] == pytest.approx(expected), test["name"]
        assert test["status"] == ("passed" if passed[test["name"]] else "failed")

    pl = _strict_json(render([result], "prairielearn", config))
    not_loaded = (result["diagnosis"] or {}).get("kind") in {"syntax_error", "missing_function"}
    if result["verdict"] == "error" or not_loaded:
        assert pl["gradable"] is False and pl["format_errors"]
    else:
        assert pl["gradable"] is True
        assert pl["score"] == pytest.approx(earned / total)
        assert sum(t["points"] for t in pl["tests"]) == pytest.approx(earned)
        assert sum(t["max_points"] for t in pl["tests"]) == pytest.approx(total)

    root = ET.fromstring(render([result], "junit", config))
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert float(properties["score"]) == pytest.approx(earned)
    assert float(properties["max_score"]) == pytest.approx(total)


def test_a_pass_scores_the_max_and_a_partial_fail_less(config):
    assert score(RESULTS["pass"], config)[0] == config.total
    earned = score(RESULTS["wrong_values"], config)[0]
    assert 0 < earned < config.total
    assert earned == config.total - config.points["seed_edges"] - config.points["special_x"]


def test_a_file_that_does_not_load_is_not_gradable_and_says_why():
    for name, text in (("syntax_error", "line 3: invalid syntax"),
                       ("missing_function", "defines no pure_state_update")):
        for show in SHOW_MODES:
            pl = _strict_json(render([RESULTS[name]], "prairielearn", GradingConfig(show=show)))
            assert pl["gradable"] is False and "score" not in pl or pl["score"] == 0
            assert any(text in e for e in pl["format_errors"]), show
            gs = _strict_json(render([RESULTS[name]], "gradescope", GradingConfig(show=show)))
            loads = next(t for t in gs["tests"] if t["name"] == "loads")
            assert text in loads["output"] and gs["score"] == 0


def test_a_grader_error_scores_nothing_and_is_flagged():
    result = RESULTS["grader_error"]
    assert score(result, GradingConfig()) == (0.0, 100.0)
    gs = _strict_json(render([result], "gradescope"))
    assert gs["score"] == 0 and gs["extra_data"]["flagged"] == "grader_error"
    assert all("grader_error" in t["tags"] for t in gs["tests"])
    assert "not your doing" in gs["output"]
    pl = _strict_json(render([result], "prairielearn"))
    assert pl["gradable"] is False and "not your doing" in pl["message"]
    root = ET.fromstring(render([result], "junit"))
    assert root.get("errors") == str(len(SUBTESTS)) and root.get("failures") == "0"
    # An error is flagged even when its sub-tests claim to have passed.
    claims = {**result, "subtests": _subtests()}
    assert score(claims, GradingConfig())[0] == 0


# --- visibility ----------------------------------------------------------------------------

SALT = 918273645546372819
LEAKY = _result(
    "fail", _subtests({"seed_edges": (20, 3, "CE-CASE-ID"), "special_x": (9, 9, "HIDDEN-CASE-7"),
                       "float_arguments": (9, 1, "HIDDEN-CASE-8")}),
    _diagnosis("wrong_values", "CE-MESSAGE-MARKER", "HINT-MARKER", "MUTANT-MARKER"),
    {**COUNTEREXAMPLE, "case": "CE-CASE-ID", "x": [123.456789, 2.0], "seed": 31337,
     "reproducer": "REPRODUCER-MARKER", "actual": "ACTUAL-MARKER"},
    output={"stdout": "STDOUT-MARKER", "stderr": "STDERR-MARKER"}, salt=SALT,
    warnings=[{"category": "UserWarning", "message": "WARNING-MARKER", "where": "w.py:1"}],
    purity={"checked": True, "pure": False, "impure_cases": ["HIDDEN-CASE-9"]},
    environment={"python": "ENVIRONMENT-MARKER"}, confinement={"user": "CONFINEMENT-MARKER"})
ALWAYS = ("HINT-MARKER", "MUTANT-MARKER")
COUNTEREXAMPLE_ONLY = ("REPRODUCER-MARKER", "ACTUAL-MARKER", "123.456789", "31337",
                       "CE-MESSAGE-MARKER")
ALL_ONLY = ("STDOUT-MARKER", "STDERR-MARKER", "WARNING-MARKER", str(SALT))
NEVER = ("HIDDEN-CASE-7", "HIDDEN-CASE-8", "HIDDEN-CASE-9", "ENVIRONMENT-MARKER",
         "CONFINEMENT-MARKER", "/course/alice")


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_each_show_mode_reveals(fmt):
    shown = {show: render([LEAKY], fmt, GradingConfig(show=show)) for show in SHOW_MODES}
    for show, text in shown.items():
        _validated(text, fmt)
        for marker in ALWAYS:
            assert marker in text, (show, marker)
        for marker in NEVER:
            assert marker not in text, (show, marker)
        for marker in COUNTEREXAMPLE_ONLY:
            assert (marker in text) == (show != "hint"), (show, marker)
        for marker in ALL_ONLY:
            assert (marker in text) == (show == "all"), (show, marker)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_counterexample_is_shown_once_under_its_subtest(fmt):
    text = render([LEAKY], fmt, GradingConfig(show="counterexample"))
    if fmt == "junit":
        cases = {c.get("name"): ET.tostring(c, encoding="unicode")
                 for c in ET.fromstring(text).iter("testcase")}
    else:
        cases = {t["name"]: json.dumps(t) for t in json.loads(text)["tests"]}
    assert [n for n, t in cases.items() if "REPRODUCER-MARKER" in t] == ["seed_edges"]


# --- hostile learner text --------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40) | \
    st.sampled_from(["]]>", "\x00", "\ud800", "\udfff x \ud83d", "\r\n\x1b[2J", "\ufffe\uffff",
                     "<![CDATA[", "&amp;", "\u2028"])


@st.composite
def hostile_results(draw) -> dict:
    """A result whose every text field holds arbitrary text (surrogates, controls, ``]]>``)."""
    t = lambda: draw(TEXT)
    verdict = draw(st.sampled_from(["pass", "fail", "error"]))
    kind = draw(st.sampled_from(["wrong_values", "syntax_error", "timeout", "grader_error",
                                 "exception"]))
    subtests = [{"name": name, "description": t(), "cases": draw(st.integers(0, 50)),
                 "failed": draw(st.integers(0, 50)), "passed": draw(st.booleans()),
                 "case": t()} for name in SUBTEST_NAMES]
    subtests.append({"name": t(), "description": t(), "cases": 1, "failed": 0, "passed": True,
                     "case": t()})
    return {"solution": t(), "submission": t(), "sha256": t(), "verdict": verdict,
            "diagnosis": {"kind": kind, "message": t(), "hint": t(), "mutant": t(),
                          "also_matches": [t()]},
            "counterexample": draw(st.none() | st.just({
                "case": t(), "seed": draw(st.integers(-(2 ** 63), 2 ** 64)), "float_args": True,
                "x": [draw(st.floats()), t()], "features": 2, "scale": draw(st.floats()),
                "expected": [draw(st.floats())], "accepted": [t()],
                "actual": draw(st.lists(st.floats(), max_size=3) | TEXT),
                "message": t(), "reproducer": t()})),
            "cases": 3, "shapes": 1, "duration_s": draw(st.floats(0, 1e6)),
            "environment": {}, "warnings": [{"category": t(), "message": t(), "where": t()}],
            "purity": {"checked": True, "pure": False, "impure_cases": [t()]},
            "output": {"stdout": t(), "stderr": t()}, "confinement": {},
            "salt": draw(st.none() | st.integers(0, 2 ** 64)), "subtests": subtests}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(result=hostile_results(), show=st.sampled_from(SHOW_MODES))
def test_any_learner_text_comes_out_valid(result, show):
    config = GradingConfig(show=show)
    for fmt in FORMATS:
        text = render([result], fmt, config)
        _validated(text, fmt)
    earned, most = score(result, config)
    assert 0 <= earned <= most == 100


def test_huge_texts_are_capped_with_a_note():
    huge = "\x00]]>\ud800" + "y" * (10 * 1024 * 1024)
    result = {**RESULTS["wrong_values"], "submission": huge,
              "diagnosis": _diagnosis("wrong_values", huge, huge, huge),
              "counterexample": {**COUNTEREXAMPLE, "reproducer": huge, "message": huge},
              "output": {"stdout": huge, "stderr": huge},
              "warnings": [{"category": huge, "message": huge, "where": huge}] * 50}
    for fmt in FORMATS:
        text = render([result], fmt, GradingConfig(show="all"))
        _validated(text, fmt)
        assert len(text.encode("utf-8")) < 1_000_000  # PrairieLearn's limit for results.json
        assert "[... cut:" in text


def test_every_number_in_the_json_is_finite():
    result = {**RESULTS["wrong_values"], "duration_s": math.inf}
    for fmt in ("gradescope", "prairielearn"):
        _strict_json(render([result], fmt, GradingConfig(show="all")))


# --- the config's errors -----------------------------------------------------------------------

@pytest.mark.parametrize("toml, key", [
    ("[grades]\nordinary = 3\n", "grades"),
    ("show = 'all'\n", "show"),
    ("points = 3\n", "points"),
    ("[points]\nordinary = -1\n", "points.ordinary"),
    ("[points]\nordinary = nan\n", "points.ordinary"),
    ("[points]\nordinary = inf\n", "points.ordinary"),
    ("[points]\nordinary = true\n", "points.ordinary"),
    ("[points]\nordinary = '40'\n", "points.ordinary"),
    ("[points]\nordinary = [40]\n", "points.ordinary"),
    ("[points]\nordinry = 40\n", "points.ordinry"),
    ("[points]\n" + "".join(f"{n} = 0\n" for n in SUBTEST_NAMES), "points (total)"),
    ("[learner]\nshow = 'everything'\n", "learner.show"),
    ("[learner]\nshow = 3\n", "learner.show"),
    ("[learner]\nhide = 'all'\n", "learner.hide"),
    ("[learner]\nshow = 'all'\n[learner.extra]\n", "learner.extra"),
    ("[points\n", "config"),
])
def test_config_errors_name_the_file_and_key(tmp_path, toml, key):
    path = tmp_path / "course-grading.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert str(path) in message and f"{key}=" in message and ", but should be " in message, \
        message


def test_a_missing_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml.*, but should be a readable TOML file"):
        load_config(str(path))


def test_a_config_built_in_code_is_validated_too():
    with pytest.raises(ConfigError, match=r"learner\.show=\"loud\""):
        GradingConfig(show="loud")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"points\.ordinary=-2"):
        GradingConfig(points={**DEFAULT_POINTS, "ordinary": -2})
    with pytest.raises(ConfigError, match=r"points=\"missing loads\""):
        GradingConfig(points={k: v for k, v in DEFAULT_POINTS.items() if k != "loads"})


def test_points_whose_sum_overflows_are_refused(tmp_path):
    """Each point value finite, their total inf: every score would be nan (and a platform's
    file could not be written after the whole class was graded)."""
    path = tmp_path / "grading.toml"
    path.write_text("[points]\nordinary = 1e308\nseed_edges = 1e308\n")
    with pytest.raises(ConfigError, match=r"points \(total\)=inf, but should be > 0 and finite"):
        load_config(str(path))
