"""pytest plugin: ``pytest --nnx-solution PATH`` grades a learner's file like ``check`` does.

Registered under ``[project.entry-points.pytest11]`` as ``nnx_conformance``. Each
``--nnx-solution`` (repeatable) becomes one test item whose failure message is the text report
(verdict, shrunk counterexample, expected vs actual, hint, reproducer), so pytest's own
``--junitxml`` carries it. Without the option the plugin adds nothing and imports nothing
heavy: the normal test run is unaffected.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nnx-conformance")
    group.addoption("--nnx-solution", action="append", default=[], metavar="PATH",
                    help="grade this pure_state_update file (repeatable)")
    group.addoption("--nnx-cases", type=int, default=200, metavar="N",
                    help="cases per solution for --nnx-solution (default 200)")
    group.addoption("--nnx-timeout", type=float, default=10.0, metavar="S",
                    help="per-call timeout in seconds for --nnx-solution (default 10)")


class SolutionItem(pytest.Item):
    """One learner file, checked in its own child process."""

    def __init__(self, *, path_text: str, **kwargs):
        super().__init__(**kwargs)
        self.path_text = path_text
        self.result = None

    def runtest(self) -> None:
        from conformance.check import Limits, check_solution

        config = self.config
        if not Path(self.path_text).is_file():
            raise pytest.UsageError(
                f"--nnx-solution={self.path_text!r}, but should be an existing file")
        cases = config.getoption("nnx_cases")
        limits = Limits(timeout_s=config.getoption("nnx_timeout"),
                        cpu_s=int(60 + 4 * config.getoption("nnx_timeout") + cases))
        self.result = check_solution(self.path_text, count=cases, limits=limits)
        if not self.result.ok:
            raise SolutionFailed(self.result)
        self.user_properties.append(("cases", self.result.cases))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SolutionFailed):
            from conformance.check import render_text

            text = io.StringIO()
            render_text(excinfo.value.result, text)
            return text.getvalue()
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path_text, None, f"nnx-solution {self.path_text}"


class SolutionFailed(Exception):
    """The solution does not conform (carries the :class:`CheckResult`)."""

    def __init__(self, result):
        super().__init__(result.diagnosis and result.diagnosis.get("kind"))
        self.result = result


class _Collector(pytest.Collector):
    def collect(self):
        for path in self.config.getoption("nnx_solution"):
            yield SolutionItem.from_parent(self, name=f"nnx_solution[{Path(path).name}]",
                                           path_text=path)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list) -> None:
    if not config.getoption("nnx_solution"):
        return
    collector = _Collector.from_parent(session, name="nnx-solutions")
    items[:] = list(collector.collect())  # grading a solution runs only the solution items
