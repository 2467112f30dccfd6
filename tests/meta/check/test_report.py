"""The check's reports: any learner text in any field is shown safely, the JSON stays valid
against its schema, and the text report is written even where it cannot be encoded."""

from __future__ import annotations

import io
import json
import re

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.check import SCHEMA_PATH, CheckResult, document, render_text
from conformance.check._grader import _confinement

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@st.composite
def results(draw) -> CheckResult:
    """A failing result whose every text field holds arbitrary text (surrogates included)."""
    t = lambda: draw(TEXT)  # noqa: E731
    return CheckResult(
        solution=t(), verdict=draw(st.sampled_from(["pass", "fail", "error"])),
        diagnosis={"kind": "exception", "message": t(), "hint": t(), "mutant": t(),
                   "also_matches": [t()]},
        counterexample={"case": t(), "seed": 3, "float_args": False, "x": [1.0, float("nan")],
                        "features": 2, "scale": float("inf"), "message": t(),
                        "expected": [0.5, 1.0], "accepted": [t()], "actual": t(),
                        "reproducer": t()},
        cases=3, shapes=1, duration_s=1.0,
        environment={"python": t(), "jax": t(), "flax": None, "numpy": t(),
                     "prng_mode": "legacy", "x64": False},
        warnings=draw(st.lists(st.fixed_dictionaries(
            {"category": TEXT, "message": TEXT, "where": TEXT}), max_size=3)),
        purity={"checked": True, "pure": False, "impure_cases": [t()]},
        output={"stdout": t(), "stderr": t()}, confinement=_confinement([]), salt=5)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(result=results())
def test_any_learner_text_is_shown_safely(result):
    shown = io.StringIO()
    render_text(result, shown)
    text = shown.getvalue()
    assert not RAW.search(text.replace("\t", " ")), repr(text)
    report_lines = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert len(report_lines) == 1, text  # the verdict line; every learner line is indented
    ascii_stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    render_text(result, ascii_stream)  # a terminal that cannot encode it: escaped, not raised
    doc = json.loads(json.dumps(document([result]), allow_nan=False))
    jsonschema.validate(doc, SCHEMA)
    assert not re.search("[\ud800-\udfff]", json.dumps(doc, ensure_ascii=False))


def test_the_schema_rejects_what_it_should():
    good = document([CheckResult(solution="a.py", verdict="pass", diagnosis=None,
                                 counterexample=None, cases=1, shapes=1, duration_s=0.5,
                                 environment={}, confinement=_confinement([]), salt=1)])
    jsonschema.validate(good, SCHEMA)
    for broken in ({**good, "ok": "yes"}, {**good, "results": [{**good["results"][0],
                                                                 "verdict": "maybe"}]},
                   {**good, "results": [{**good["results"][0], "salt": -1}]}):
        try:
            jsonschema.validate(broken, SCHEMA)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"the schema accepted {broken}")
