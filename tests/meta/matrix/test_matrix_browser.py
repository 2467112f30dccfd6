"""The HTML matrix report as a person sees it: rendered by a real headless Chromium.

A script appended to a copy of the page measures the layout after rendering and writes the
measurements into the DOM, which ``chromium --dump-dom`` prints. Without Chromium the tests
skip, unless ``NNX_REQUIRE_TOOLS=1`` (set by ``.ci/run``, which installs Debian's
``chromium``), where they fail instead.
"""

from __future__ import annotations

import copy
import html
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conformance import matrix as _matrix
from tests.paths import MATRIX_REPORTS

WIDTH, HEIGHT = 1400, 1000
_PROBE = """<script>
window.addEventListener('load', () => {
  const screen = window.innerHeight, doc = document.documentElement;
  const top = (el) => el ? el.getBoundingClientRect().top + window.scrollY : null;
  const rows = [...document.querySelectorAll('#verdict-table tbody tr')];
  const out = {
    inner_width: window.innerWidth, inner_height: screen,
    scroll_width: doc.scrollWidth,
    widest: Math.max(...[...document.querySelectorAll('table, ul, h1, p')].map(
        (el) => el.getBoundingClientRect().right)),
    verdict_table_top: top(document.getElementById('verdict-table')),
    first_row_bottom: rows.length ? rows[0].getBoundingClientRect().bottom : null,
    not_green_bottom: (() => { const el = document.getElementById('not-green');
                               return el ? el.getBoundingClientRect().bottom : null; })(),
    verdict_rows: rows.length,
    purity_after_verdicts: top(document.getElementById('purity-table')) >
                           top(document.getElementById('verdict-table')),
    causes: [...document.querySelectorAll('#change-list li.change')].map(
        (li) => li.querySelectorAll('.cause').length),
    details_closed: [...document.querySelectorAll('details')].every((d) => !d.open),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("NNX_REQUIRE_TOOLS") == "1":
        pytest.fail("chromium=None, but should be on PATH (NNX_REQUIRE_TOOLS=1; .ci/run "
                    "installs Debian's chromium)")
    pytest.skip("no Chromium on PATH (apt-get install chromium)")


def _measure(page: str, tmp_path: pathlib.Path) -> dict:
    """Renders ``page`` in a 1400x1000 headless window and returns the probe's measurements."""
    browser = _chromium()
    target = tmp_path / "report.html"
    target.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
               "--virtual-time-budget=5000", "--dump-dom", target.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", done.stdout, re.S)
    assert found, (f"chromium exit={done.returncode}, but should print the probed page; "
                   f"stderr: {done.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def reports():
    return _matrix.load_results(MATRIX_REPORTS)


def _assert_readable(measured: dict, rows: int) -> None:
    assert measured["inner_width"] == WIDTH, measured
    assert measured["scroll_width"] <= WIDTH, (
        f"scroll_width={measured['scroll_width']}, but should be <= {WIDTH} (no horizontal "
        "scrolling)")
    assert measured["widest"] <= WIDTH, measured
    assert measured["verdict_rows"] == rows
    assert measured["verdict_table_top"] < measured["inner_height"] / 2, measured
    assert measured["first_row_bottom"] <= measured["inner_height"], measured
    assert measured["not_green_bottom"] is None or (
        measured["not_green_bottom"] <= measured["inner_height"]), (
        "the list of envs that are not green, with why, should be on the first screen")
    assert measured["purity_after_verdicts"] and measured["details_closed"]


def test_the_recorded_matrix_fits_the_window_and_each_change_has_one_cause(reports, tmp_path):
    measured = _measure(_matrix.render_html(reports), tmp_path)
    _assert_readable(measured, len(reports))
    assert measured["causes"] and set(measured["causes"]) == {1}, measured["causes"]
    assert len(measured["causes"]) == len(_matrix.behaviour_changes(reports))


def test_a_failing_matrix_with_long_names_still_fits(reports, tmp_path):
    """Worst case: every env red, long env names and versions, unbroken failure text."""
    worst = []
    for n, report in enumerate(reports * 2):
        report = copy.deepcopy(report)
        report["env"] = f"py311-flax{'9' * 12}.{n}-jax{'8' * 20}-numpy2.2-torch-extra-factor"
        report.setdefault("versions", {})["jax"] = "0.4.26.dev20240101+" + "x" * 40
        report.setdefault("known_answers", {}).setdefault("default", {})["status"] = "fail"
        worst.append(report)
    measured = _measure(_matrix.render_html(worst), tmp_path)
    _assert_readable(measured, len(worst))
    assert measured["not_green_bottom"] is not None
