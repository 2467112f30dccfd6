"""Grading platforms' files from ``nnx-conformance check`` results, and the instructor's config.

The check's JSON results (``result.schema.json``; each result with ``submission``, ``sha256``
and its ``subtests``) become, for one submission, Gradescope's autograder ``results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) or PrairieLearn's external
grader ``results.json`` (https://prairielearn.readthedocs.io/en/latest/externalGrading/), and
for any number of submissions a JUnit XML report (the Jenkins ``junit-10.xsd`` dialect that
GitLab, Jenkins and GitHub readers accept). Each format's schema, written from its platform's
specification, lies in ``platform_schemas/`` (:data:`SCHEMA_DIR`).

Points are per sub-test (:data:`DEFAULT_POINTS`, or an instructor's TOML file read by
:func:`load_config`). What the learner sees is bounded by ``show``: ``"hint"`` (which sub-tests
failed, the diagnosis' kind, hint and mistake), ``"counterexample"`` (plus the one failing case:
the only case ever revealed) or ``"all"`` (plus the learner's own output, warnings and the
salt). Every learner text (messages, outputs, names, which may hold lone surrogates, control
characters, ``]]>``, NUL bytes or megabytes) is cleaned and capped at :data:`TEXT_CAP` bytes, so
every file is strict JSON or well-formed XML 1.0. Only the standard library is imported here.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from conformance.check._subtests import SUBTESTS

SCHEMA_DIR = Path(__file__).resolve().with_name("platform_schemas")
FORMATS = ("gradescope", "prairielearn", "junit")
SCHEMA_PATHS = MappingProxyType({
    "gradescope": SCHEMA_DIR / "gradescope.schema.json",
    "prairielearn": SCHEMA_DIR / "prairielearn.schema.json",
    "junit": SCHEMA_DIR / "junit.xsd",
})

#: The sub-tests, in their fixed order, with what each grades (defined once, by the grader).
#: A result's own descriptions are shown when it has them. Purity is not among them: the probe
#: runs in the solution's process, can be forged, and is never graded.
SUBTEST_NAMES = tuple(name for name, _ in SUBTESTS)

#: Default points (total 100): the ordinary cases weigh most (the statement's core), the edge
#: classes each a share by how much of the contract they exercise (seeds the most: the
#: widest band of edges), and loading a little (a file that loads but computes nothing
#: earns only ``loads``), and edges met together a little (``combined`` fails only on a
#: mistake no single edge shows).
DEFAULT_POINTS: Mapping[str, float] = MappingProxyType({
    "loads": 10, "ordinary": 25, "large_shapes": 10, "seed_edges": 15, "scale_edges": 10,
    "non_finite_scales": 10, "special_x": 10, "float_arguments": 5, "combined": 5})

Show = Literal["hint", "counterexample", "all"]
SHOW_MODES: tuple[str, ...] = ("hint", "counterexample", "all")

#: Diagnosis kinds for which the file never loaded: only ``loads`` was graded (PrairieLearn:
#: not gradable, a format error).
LOAD_KINDS = frozenset({"syntax_error", "import_error", "missing_function", "not_callable",
                        "bad_notebook"})

TEXT_CAP = 8192  # bytes (UTF-8) of each learner text in a platform's file
MAX_WARNINGS = 20


class ConfigError(ValueError):
    """An instructor's grading config that is not what :func:`load_config` accepts."""


@dataclass(frozen=True)
class GradingConfig:
    """Points per sub-test and what the learner is shown; validated when built.

    Attributes:
        points: sub-test name -> points (finite, >= 0, total > 0); every sub-test has an entry.
        show: ``"hint"``, ``"counterexample"`` or ``"all"`` (see the module doc).
        source: where the config came from, named in error messages.
    """

    points: Mapping[str, float] = field(default_factory=lambda: DEFAULT_POINTS)
    show: Show = "counterexample"
    source: str = "<default config>"

    def __post_init__(self) -> None:
        points = _checked_points(dict(self.points), self.source, complete=True)
        object.__setattr__(self, "points", MappingProxyType(points))
        if not isinstance(self.show, str) or self.show not in SHOW_MODES:
            raise ConfigError(_problem(self.source, "learner.show", self.show,
                                       'one of "hint", "counterexample", "all"'))

    @property
    def total(self) -> float:
        """The most points a submission can earn."""
        return float(sum(self.points.values()))


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(_clean(value[:200]), ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    return _clean(repr(value)[:200])


def _problem(source: str, key: str, value: Any, domain: str) -> str:
    return f"{source}: {key}={_value_text(value)}, but should be {domain}"


def _checked_points(points: dict[str, Any], source: str, complete: bool) -> dict[str, float]:
    """``points`` validated (and, when ``complete``, every sub-test present) as floats."""
    checked: dict[str, float] = {}
    for key, value in points.items():
        if key not in SUBTEST_NAMES:
            raise ConfigError(_problem(source, f"points.{key}", value,
                                       "absent: the sub-tests are " + ", ".join(SUBTEST_NAMES)))
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise ConfigError(_problem(source, f"points.{key}", value, "a finite number >= 0"))
        checked[key] = float(value)
    if complete:
        missing = [name for name in SUBTEST_NAMES if name not in checked]
        if missing:
            raise ConfigError(_problem(source, "points", "missing " + ", ".join(missing),
                                       "a number for every sub-test"))
        total = sum(checked.values())
        if not 0 < total < math.inf:
            raise ConfigError(_problem(source, "points (total)", total,
                                       "> 0 and finite (some sub-test must be worth points; "
                                       "the sum of very large points overflows)"))
    return {name: checked[name] for name in SUBTEST_NAMES if name in checked}


def load_config(path: str | None) -> GradingConfig:
    """The instructor's grading config at ``path`` (TOML), or the defaults for ``None``.

    The file holds at most two tables: ``[points]`` (sub-test = points; sub-tests not named
    keep :data:`DEFAULT_POINTS`) and ``[learner]`` (``show = "hint" | "counterexample" |
    "all"``, default ``"counterexample"``). Anything else is refused rather than ignored, so a
    misspelt key cannot silently change a grade.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or holds an unknown table or key, a
            value of the wrong type, a negative or non-finite number, or points totalling 0;
            the message names the file and the key.
    """
    if path is None:
        return GradingConfig()
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{source}: config={_value_text(source)} "
                          f"({error.strerror or error}), but should be a readable TOML file"
                          ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: config={_value_text(source)} ({_clean(str(error))}), "
                          "but should be valid TOML") from None
    for table, value in data.items():
        if table not in ("points", "learner"):
            raise ConfigError(_problem(source, table, value,
                                       "absent: the tables are [points] and [learner]"))
        if not isinstance(value, dict):
            raise ConfigError(_problem(source, table, value, f"a table [{table}]"))
    points = {**DEFAULT_POINTS, **_checked_points(data.get("points", {}), source, False)}
    learner = data.get("learner", {})
    for key, value in learner.items():
        if key != "show":
            raise ConfigError(_problem(source, f"learner.{key}", value,
                                       "absent: [learner] has only show"))
    return GradingConfig(points=points, show=learner.get("show", "counterexample"),
                         source=source)


# --- learner text ----------------------------------------------------------------------------

# Lone surrogates and the two non-characters XML 1.0 forbids become U+FFFD; every other
# control character but tab and newline (XML 1.0 forbids most C0 ones; CR, DEL, C1 and the
# line separators could redraw or split lines) is shown escaped.
_REPLACED = re.compile("[\ud800-\udfff\ufffe\uffff]")
_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(text: str) -> str:
    text = _REPLACED.sub("\ufffd", text)
    return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xFF
                        else f"\\x{ord(m.group()):02x}", text)


def _learner(value: Any, tail: bool = False, cap: int = TEXT_CAP) -> str:
    """Learner text cleaned (see :func:`_clean`) and capped at ``cap`` UTF-8 bytes, with a note
    where it was cut; ``tail`` keeps its end (an output's last lines) rather than its start."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > cap:  # a first cut before the regexes: a 10 MB text costs no more
        text = text[-cap:] if tail else text[:cap]
        cut = True
    else:
        cut = False
    text = _clean(text)
    data = text.encode("utf-8")
    if len(data) > cap:
        kept = data[-cap:] if tail else data[:cap]
        text = kept.decode("utf-8", "ignore")
        cut = True
    if not cut:
        return text
    if tail:
        return f"[... cut: earlier text]\n{text}"
    return f"{text}\n[... cut: text beyond {cap} bytes]"


def _line(value: Any, cap: int = 300) -> str:
    """Learner text on one line, for an attribute or a heading."""
    return _learner(value, cap=cap).replace("\n", "\\n").replace("\t", " ")


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return f"{value:.9g}"
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, int):
        return str(value)
    return _line(value, cap=64)


def _values(values: Any) -> str:
    if isinstance(values, (list, tuple)):
        return "[" + ", ".join(_number(v) for v in values) + "]"
    return _number(values)


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


# --- the result's parts ------------------------------------------------------------------------

def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _subtests(result: dict) -> dict[str, dict]:
    """Sub-test name -> its object (the first of that name), for the known sub-tests."""
    found: dict[str, dict] = {}
    subtests = result.get("subtests")
    for sub in subtests if isinstance(subtests, list) else []:
        if isinstance(sub, dict) and sub.get("name") in SUBTEST_NAMES:
            found.setdefault(sub["name"], sub)
    return found


def _passed(result: dict, name: str, subs: dict[str, dict]) -> bool:
    if result.get("verdict") == "pass":
        return True
    if result.get("verdict") == "error":
        return False
    return subs.get(name, {}).get("passed") is True


def score(result: dict, config: GradingConfig) -> tuple[float, float]:
    """(points earned, most points) of one result under ``config``.

    A pass earns every point; a fail the points of its passed sub-tests; a grader error
    (verdict ``"error"``: not the learner's doing, flagged in every rendered file) none.
    """
    subs = _subtests(result)
    earned = sum(points for name, points in config.points.items()
                 if _passed(result, name, subs))
    return float(earned), config.total


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _diagnosed(result: dict, subs: dict[str, dict]) -> str | None:
    """The sub-test the diagnosis and counterexample belong to: the one whose first failing
    case is the counterexample's, else ``loads`` when the file did not load, else the first
    failed sub-test."""
    if result.get("verdict") != "fail":
        return None
    failed = [name for name in SUBTEST_NAMES if not _passed(result, name, subs)]
    kind = _dict(result.get("diagnosis")).get("kind")
    if kind in LOAD_KINDS:
        return "loads"
    case = _dict(result.get("counterexample")).get("case")
    for name in failed:
        if case is not None and subs.get(name, {}).get("case") == case:
            return name
    return failed[0] if failed else None


def _diagnosis_lines(result: dict, show: str) -> list[str]:
    """The diagnosis as the learner may see it."""
    d = _dict(result.get("diagnosis"))
    lines = [f"Diagnosis: {_line(d.get('kind', 'failure'))}"]
    if d.get("kind") in LOAD_KINDS or (show != "hint" and d.get("message")):
        lines.append(_learner(d.get("message", "")))
    if d.get("mutant"):
        lines.append(f"This looks like the known mistake '{_line(d['mutant'])}'.")
    if d.get("hint"):
        lines.append(f"Hint: {_learner(d['hint'])}")
    return lines


def _counterexample_lines(result: dict) -> list[str]:
    ce = _dict(result.get("counterexample"))
    if not ce:
        return []
    lines = ["The failing case:",
             f"  seed={_number(ce.get('seed'))}, features={_number(ce.get('features'))}, "
             f"scale={_number(ce.get('scale'))}"
             + (" (seed and features given as floats)" if ce.get("float_args") is True else ""),
             _learner(f"  x={_values(ce.get('x'))}")]
    if "expected" in ce:
        lines.append(_learner(f"  expected={_values(ce['expected'])}"))
    if "actual" in ce:
        actual = ce["actual"]
        lines.append(_learner(f"  actual={_values(actual)}" if isinstance(actual, list)
                              else f"  actual: {actual}"))
    if ce.get("message"):
        lines.append(_learner(ce["message"]))
    if ce.get("reproducer"):
        lines += ["Reproduce it (paste below your function):", _learner(ce["reproducer"])]
    return lines


def _extra_lines(result: dict) -> list[str]:
    """What only ``show = "all"`` reveals: the learner's own output, warnings and the salt."""
    lines: list[str] = []
    output = _dict(result.get("output"))
    for stream in ("stdout", "stderr"):
        text = output.get(stream)
        if isinstance(text, str) and text.strip():
            lines += [f"Your {stream} (last lines):", _learner(text, tail=True)]
    warnings = result.get("warnings")
    warnings = warnings if isinstance(warnings, list) else []
    for warning in warnings[:MAX_WARNINGS]:
        w = _dict(warning)
        lines.append(f"Warning (informational): {_line(w.get('category', ''), 120)}: "
                     f"{_learner(w.get('message', ''), cap=1024)}")
    if result.get("salt") is not None:
        lines.append(f"Cases drawn with --seed {_number(result['salt'])}")
    return lines


@dataclass
class _Test:
    """One sub-test of one result, as every format shows it."""

    name: str
    description: str
    points: float
    max_points: float
    passed: bool
    error: bool  # a grader error: nothing graded
    summary: str  # one line
    details: str  # the diagnosis and what ``show`` reveals, for a failed sub-test
    text: str  # all the learner sees of it: what it grades, the summary, the details


def _tests(result: dict, config: GradingConfig) -> list[_Test]:
    subs = _subtests(result)
    verdict = result.get("verdict")
    diagnosed = _diagnosed(result, subs)
    kind = _line(_dict(result.get("diagnosis")).get("kind", "failure"), 64)
    tests = []
    for name, default in SUBTESTS:
        sub = subs.get(name, {})
        own = sub.get("description")
        description = _line(own, 300) if isinstance(own, str) and own.strip() else default
        cases, failed = _int(sub.get("cases")), _int(sub.get("failed"))
        passed = _passed(result, name, subs)
        details: list[str] = []
        if verdict == "error":
            summary = "not graded: the grader failed on this submission (not your doing)"
        elif passed:
            summary = f"passed ({cases} cases)" if cases else "passed"
        elif failed:
            summary = f"failed: {failed} of {cases} cases"
        elif diagnosed == "loads" and name != "loads":
            summary = "not graded: the file did not load"
        elif name in subs:
            summary = f"not completed: the check stopped at a {kind} failure"
        else:
            summary = "not graded"
        if name == diagnosed:
            details += _diagnosis_lines(result, config.show)
            if config.show != "hint":
                details += _counterexample_lines(result)
        elif verdict == "error" and config.show == "all":
            details.append(_learner(_dict(result.get("diagnosis")).get("message", "")))
        text = "\n".join([f"Grades: {description}.", summary[0].upper() + summary[1:] + "."]
                         + details)
        tests.append(_Test(name=name, description=description,
                           points=config.points[name] if passed else 0.0,
                           max_points=config.points[name], passed=passed,
                           error=verdict == "error", summary=summary,
                           details="\n".join(details) or summary, text=text))
    return tests


def _summary(result: dict, config: GradingConfig, tests: list[_Test]) -> str:
    """The submission's learner-visible overview."""
    earned, most = score(result, config)
    passed = sum(t.passed for t in tests)
    if result.get("verdict") == "error":
        head = ("Not graded: the grader failed on this submission (not your doing); your "
                "instructor will see it flagged.")
    elif result.get("verdict") == "pass":
        head = f"All {len(tests)} sub-tests passed: {_points(earned)}/{_points(most)} points."
    else:
        head = (f"{passed} of {len(tests)} sub-tests passed: "
                f"{_points(earned)}/{_points(most)} points.")
    lines = [head]
    if result.get("verdict") == "fail":
        lines += _diagnosis_lines(result, config.show)[:1]
    notes = result.get("notes")
    for note in (notes if isinstance(notes, list) else [])[:MAX_WARNINGS]:
        lines.append(f"Note: {_learner(note, cap=1024)}")
    if config.show == "all":
        lines += _extra_lines(result)
    return "\n".join(lines)


def _submission(result: dict) -> str:
    return _line(result.get("submission") or result.get("solution") or "submission", 200)


def _one(results: Sequence[dict], platform: str) -> dict:
    if len(results) != 1:
        raise ValueError(f"results={len(results)} submissions, but should be exactly 1 "
                         f"({platform} grades one submission per run)")
    if not isinstance(results[0], dict):
        raise TypeError(f"results[0]={type(results[0]).__name__}, but should be a result dict")
    return results[0]


def _json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _duration(result: dict) -> float:
    value = result.get("duration_s")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return round(max(float(value), 0.0), 3) if ok else 0.0


def _sha(result: dict) -> str | None:
    sha = result.get("sha256")
    return sha if isinstance(sha, str) and re.fullmatch("[0-9a-f]{64}", sha) else None


# --- the formats -----------------------------------------------------------------------------

def _gradescope(results: Sequence[dict], config: GradingConfig) -> str:
    result = _one(results, "Gradescope")
    tests = _tests(result, config)
    earned, _ = score(result, config)
    error = result.get("verdict") == "error"
    return _json({
        "score": earned,
        "execution_time": _duration(result),
        "output": _summary(result, config, tests),
        "output_format": "text",  # never HTML: learner text is shown as written
        "test_output_format": "text",
        "test_name_format": "text",
        "stdout_visibility": "hidden",  # the grader's stdout holds the salt and the learner's
        "extra_data": {"submission": _submission(result), "sha256": _sha(result),
                       "verdict": _line(result.get("verdict", ""), 16),
                       "flagged": "grader_error" if error else None},
        "tests": [{"name": t.name, "name_format": "text", "number": str(i),
                   "score": t.points, "max_score": t.max_points,
                   "status": "passed" if t.passed else "failed",
                   "output": t.text, "output_format": "text", "visibility": "visible",
                   "tags": ["grader_error"] if error else []}
                  for i, t in enumerate(tests, 1)],
    })


def _prairielearn(results: Sequence[dict], config: GradingConfig) -> str:
    result = _one(results, "PrairieLearn")
    tests = _tests(result, config)
    earned, most = score(result, config)
    kind = _dict(result.get("diagnosis")).get("kind")
    summary = _summary(result, config, tests)
    if result.get("verdict") == "error" or kind in LOAD_KINDS:
        # Not gradable: no points awarded or lost, no attempt counted (the spec's meaning): a
        # file that does not load, or the grader's own failure.
        if result.get("verdict") == "error":
            message, errors = summary.split("\n")[0], [summary]
        else:
            message = (f"Not gradable: the file did not load ({_line(kind, 64)}); no points "
                       "are awarded or lost.")
            errors = ["\n".join(_diagnosis_lines(result, config.show))]
        return _json({"gradable": False, "score": 0.0, "message": message,
                      "format_errors": errors, "output": summary})
    return _json({
        "gradable": True,
        "score": min(max(earned / most, 0.0), 1.0),
        "message": summary.split("\n")[0],
        "output": summary,
        "tests": [{"name": t.name, "description": t.description, "points": t.points,
                   "max_points": t.max_points, "message": t.summary, "output": t.text}
                  for t in tests],
    })


def _junit(results: Sequence[dict], config: GradingConfig) -> str:
    root = ET.Element("testsuites", name="nnx-conformance check")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    time = 0.0
    for result in results:
        if not isinstance(result, dict):
            raise TypeError(f"result={type(result).__name__}, but should be a result dict")
        tests = _tests(result, config)
        earned, most = score(result, config)
        name = _submission(result)
        failures = sum(not t.passed and not t.error for t in tests)
        errors = sum(t.error for t in tests)
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(tests)),
                              failures=str(failures), errors=str(errors), skipped="0",
                              time=f"{_duration(result):.3f}")
        properties = ET.SubElement(suite, "properties")
        shown = {"sha256": _sha(result) or "", "verdict": _line(result.get("verdict", ""), 16),
                 "score": _points(earned), "max_score": _points(most)}
        if config.show == "all" and result.get("salt") is not None:
            shown["salt"] = _number(result["salt"])
        for key, value in shown.items():
            ET.SubElement(properties, "property", name=key, value=value)
        for t in tests:
            case = ET.SubElement(suite, "testcase", name=t.name, classname=name)
            if t.error:
                outcome = ET.SubElement(case, "error", message=t.summary, type="grader_error")
                outcome.text = t.details
            elif not t.passed:
                kind = _line(_dict(result.get("diagnosis")).get("kind", "failure"), 64)
                outcome = ET.SubElement(case, "failure", message=t.summary, type=kind)
                outcome.text = t.details
            ET.SubElement(case, "system-out").text = t.text
        ET.SubElement(suite, "system-out").text = _summary(result, config, tests)
        totals["tests"] += len(tests)
        totals["failures"] += failures
        totals["errors"] += errors
        time += _duration(result)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{time:.3f}")
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")


_RENDERERS = {"gradescope": _gradescope, "prairielearn": _prairielearn, "junit": _junit}


def render(results: Sequence[dict], fmt: str, config: GradingConfig | None = None) -> str:
    """The file platform ``fmt`` reads, for ``results`` (the JSON document's result objects).

    Args:
        results: result dicts; Gradescope and PrairieLearn take exactly one (each grades one
            submission per run), JUnit any number (one ``<testsuite>`` each).
        fmt: ``"gradescope"``, ``"prairielearn"`` or ``"junit"``.
        config: points and visibility; the defaults if ``None``.

    Returns:
        The file's text: strict JSON (no NaN, valid Unicode) or well-formed XML 1.0, valid
        against ``SCHEMA_PATHS[fmt]``.

    Raises:
        ValueError: an unknown ``fmt``, or not exactly one result for a one-submission format.
        TypeError: a result that is not a dict.
    """
    if fmt not in _RENDERERS:
        raise ValueError(f"format={fmt!r}, but should be one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](list(results), config or GradingConfig())
