"""The ``image`` subcommand: ``nnx-conformance image OUT_DIR [--config grading.toml]``.

Writes the recipe of a grader image that grades with exactly the versions the instructor
validated (those of the environment the command runs in), prewarmed at build time so that every
submission is checked warm:

``OUT_DIR/gradescope/``
    A Gradescope autograder: ``setup.sh``, ``run_autograder``, the suite's installable source
    (``nnx-conformance/``), ``requirements.txt`` and ``constraints.txt`` (the pins), the
    instructor's ``grading.toml`` if one was given, and ``autograder.zip`` of all of them.
    Gradescope's specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
    the zip must hold ``setup.sh`` and ``run_autograder`` *at its root* (not in a folder); it is
    unpacked in ``/autograder/source``; ``setup.sh`` runs once, as root, while Gradescope builds
    the image (Ubuntu; its current base images are Ubuntu 22.04, whose ``python3`` is 3.10);
    ``run_autograder`` (copied to ``/autograder/run_autograder``, working directory
    ``/autograder``) runs for each submission, which Gradescope puts in
    ``/autograder/submission``, and must produce ``/autograder/results/results.json``
    (``score``, ``output``, ``tests``...; what ``run_autograder`` prints goes to
    ``/autograder/results/stdout``, shown to the instructor only). Technical details:
    https://gradescope-autograders.readthedocs.io/en/latest/tech/ (Docker, one fresh container
    from the built image per submission).
``OUT_DIR/Dockerfile``
    With the same source and pins beside it as its build context: ``python:3.11-slim``, a
    virtual environment with the pins, ``nnx-conformance warm`` at build time, and
    ``ENTRYPOINT ["nnx-conformance", "check"]``.

Both put the check's cache at ``/opt/nnx-conformance/cache`` through ``NNX_CONFORMANCE_CACHE``
(``conformance.core.cache_dir``; the check's children read its ``check`` subdirectory), set in
the build's warm step and at run time alike, so the warm marker the build writes is the one
every check finds. Both grade as root: the check itself moves each solution's children to an
unprivileged user of their own (and into namespaces and cgroups where the container allows),
which it can only do as root (``docs/check.md``, Isolation); so no user is created.

The pinned packages are jax, jaxlib, flax, numpy, nbformat and hypothesis (``requirements.txt``,
``==``) and everything they need, as installed here (``constraints.txt``); never torch, which
the grader does not use. Their ``Requires-Python`` decides the least Python the image may have
(3.11 for jax 0.10): ``setup.sh`` installs ``python3.11`` (Ubuntu's package, else the deadsnakes
PPA) where the base image has no usable Python that recent.

Exit codes: 0 written; 2 usage errors (``OUT_DIR`` not new or empty, a ``--config`` the check
would refuse, a bad ``--python``, no source checkout to copy), with a message naming the
argument.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path

#: The packages whose versions decide a verdict (and what JAX compiles), pinned with ``==``.
PINNED = ("jax", "jaxlib", "flax", "numpy", "nbformat", "hypothesis")
#: Never installed in the image.
EXCLUDED = ("torch",)
#: Where the image keeps the grader: its virtual environment, its cache, the config.
GRADER_HOME = "/opt/nnx-conformance"
#: The name of the copied source in the bundle and in the build context.
SOURCE_DIR = "nnx-conformance"
#: What of the project is copied: the files pip needs to build it, and its packages.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_PACKAGES = ("conformance", "implementations", "oracles")
#: Never copied, at any depth.
IGNORED = ("__pycache__", "*.pyc", "*.pyo", "tests", ".venv", ".tox", "reports", "*.egg-info",
           ".pytest_cache", ".hypothesis", "build", "dist", ".git")
#: Seconds ``run_autograder`` lets one check take before it writes the fallback result.
TIME_LIMIT_S = 600
#: A fixed timestamp for the zip's entries: the same recipe gives the same bytes.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class RecipeError(ValueError):
    """A usage error: the message names the argument and what it should be."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``image`` to the ``nnx-conformance`` command line."""
    p = subparsers.add_parser(
        "image", help="write a prewarmed grader image recipe (Gradescope bundle and Dockerfile)",
        description="Write OUT_DIR/gradescope/ (setup.sh, run_autograder, autograder.zip) and "
                    "OUT_DIR/Dockerfile with its build context: the suite's source and the "
                    "versions of jax, jaxlib, flax, numpy, nbformat and hypothesis installed "
                    "here, the check's cache warmed at build time. Exit 0 written, 2 on usage "
                    "errors.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="a new or empty directory")
    p.add_argument("--config", metavar="grading.toml",
                   help="the instructor's grading configuration, copied into the image and "
                        "passed to every check")
    p.add_argument("--python", default="3.11", metavar="X.Y",
                   help="the image's Python (default 3.11; at least what the pinned packages "
                        "require)")
    p.set_defaults(handler=run_image)


def run_image(args: argparse.Namespace) -> int:
    """Handler of ``image``; returns the exit code."""
    try:
        written = write_recipe(args.out_dir, config=args.config, python=args.python)
    except RecipeError as exc:
        print(f"nnx-conformance image: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out_dir).resolve()
    print(f"nnx-conformance image: wrote {len(written)} files in {out}")
    print(f"  Gradescope: upload {out / 'gradescope' / 'autograder.zip'}")
    print(f"  Docker:     docker build -t nnx-grader {out}")
    print("              docker run --rm -v \"$PWD:/work\" nnx-grader SOLUTION.py")
    return 0


# --------------------------------------------------------------------------- the recipe

def write_recipe(out_dir: str, config: str | None = None, python: str = "3.11") -> list[str]:
    """Writes the Gradescope bundle and the Dockerfile with its build context in ``out_dir``.

    Args:
        out_dir: a new or empty directory (created with its parents).
        config: the instructor's ``grading.toml``, or None.
        python: the image's Python, ``X.Y``.

    Returns:
        The paths of the files written.

    Raises:
        RecipeError: ``out_dir`` is not new or empty, the check would refuse ``config``,
            ``python`` is older than the pinned packages allow, or there is no source checkout
            to copy.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RecipeError(f"OUT_DIR={out_dir!r}, but should be a new or empty directory")
    config_text = _read_config(config) if config is not None else None
    root = project_root()
    requirements, constraints, least = pins()
    if not re.fullmatch(r"3\.\d{1,2}", python) or _minor(python) < _minor(least):
        raise RecipeError(f"--python={python!r}, but should be a version X.Y of at least "
                          f"{least} (what the pinned packages require)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    header = _pins_header()
    for base in (out, out / "gradescope"):
        written += _copy_project(root, base / SOURCE_DIR)
        written.append(_write(base / "requirements.txt", header + "".join(
            f"{line}\n" for line in requirements)))
        written.append(_write(base / "constraints.txt", header + "".join(
            f"{line}\n" for line in constraints)))
        if config_text is not None:
            written.append(_write(base / "grading.toml", config_text))
    gradescope = out / "gradescope"
    fill = {"@PYTHON@": python, "@PYTHON_MIN@": least, "@GRADER_HOME@": GRADER_HOME,
            "@SOURCE_DIR@": SOURCE_DIR, "@TIME_LIMIT@": str(TIME_LIMIT_S),
            "@CONFIG@": '"$AUTOGRADER/source/grading.toml"' if config_text is not None else '""'}
    written.append(_write(gradescope / "setup.sh", _fill(SETUP_SH, fill), executable=True))
    written.append(_write(gradescope / "run_autograder", _fill(RUN_AUTOGRADER, fill),
                          executable=True))
    written.append(_zip(gradescope, gradescope / "autograder.zip"))
    config_lines = (f"COPY grading.toml {GRADER_HOME}/grading.toml\n"
                    if config_text is not None else "")
    entry = ('["nnx-conformance", "check", "--config", "' + GRADER_HOME + '/grading.toml"]'
             if config_text is not None else '["nnx-conformance", "check"]')
    written.append(_write(out / "Dockerfile", _fill(DOCKERFILE, dict(
        fill, **{"@CONFIG_COPY@": config_lines, "@ENTRYPOINT@": entry}))))
    written.append(_write(out / ".dockerignore", "gradescope\nREADME.md\n"))
    written.append(_write(out / "README.md", _fill(README, fill)))
    return written


def project_root() -> Path:
    """The checkout this suite runs from (``pyproject.toml`` beside the ``conformance``
    package), whose source the recipe copies."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    try:
        named = re.search(r'^name\s*=\s*"nnx-conformance"', pyproject.read_text("utf-8"), re.M)
    except OSError:
        named = None
    if not named or not all((root / name).is_dir() for name in PROJECT_PACKAGES):
        raise RecipeError(f"the suite's source={str(root)!r}, but should be a checkout of "
                          "nnx-conformance (pyproject.toml beside the conformance package): "
                          "run `nnx-conformance image` from an editable install")
    return root


def pins() -> tuple[list[str], list[str], str]:
    """The pins of the running environment.

    Returns:
        ``requirements`` (``name==version`` of each installed package of :data:`PINNED`),
        ``constraints`` (``name==version`` of those and of everything they need, as installed
        here, without :data:`EXCLUDED`), and the least Python ``X.Y`` all of them accept.
    """
    try:
        from packaging.requirements import Requirement
        from packaging.specifiers import SpecifierSet
    except ModuleNotFoundError:  # pip's own copy, where packaging is not installed
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.specifiers import SpecifierSet

    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [(name, ("",)) for name in PINNED]
    while todo:
        name, extras = todo.pop()
        if _canon(name) in found or _canon(name) in EXCLUDED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[_canon(name)] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras):
                todo.append((req.name, tuple(req.extras) or ("",)))
    requirements = [f"{_canon(n)}=={found[_canon(n)].version}" for n in PINNED
                    if _canon(n) in found]
    constraints = [f"{name}=={found[name].version}" for name in sorted(found)]
    least = "3.8"
    for minor in range(8, 40):
        version = f"3.{minor}"
        if all(SpecifierSet(d.metadata.get("Requires-Python") or "").contains(
                f"{version}.0", prereleases=True) for d in found.values()):
            least = version
            break
    return requirements, constraints, least


def _pins_header() -> str:
    return (f"# Written by `nnx-conformance image` from the environment it ran in (Python "
            f"{sys.version.split()[0]}, {sys.prefix}):\n"
            "# the versions the grader was validated with. Never add torch.\n")


def _read_config(config: str) -> str:
    """The text of the instructor's ``grading.toml``, checked as the check will check it
    (``_platforms.load_config``): a config every check would refuse must not reach an image,
    where each submission would only get the fallback result."""
    path = Path(config)
    if not path.is_file():
        raise RecipeError(f"--config={config!r}, but should be an existing grading.toml file")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"--config={config!r}, but should be a readable UTF-8 TOML file "
                          f"({exc})") from None
    from conformance.check import _platforms

    try:
        _platforms.load_config(config)
    except (ValueError, OSError) as exc:
        raise RecipeError(f"--config={config!r}, but should be a grading config the check "
                          f"accepts: {exc}") from None
    return text


def _copy_project(root: Path, dest: Path) -> list[str]:
    """Copies what ``pip install DEST[jax]`` needs; the paths written."""
    dest.mkdir(parents=True)
    names = list(PROJECT_FILES) + sorted(p.name for p in root.glob("LICENSE*") if p.is_file())
    for name in names:
        shutil.copy2(root / name, dest / name)
    for package in PROJECT_PACKAGES:
        shutil.copytree(root / package, dest / package, ignore=shutil.ignore_patterns(*IGNORED))
    return sorted(str(p) for p in dest.rglob("*") if p.is_file())


def _write(path: Path, text: str, executable: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    if executable:
        path.chmod(0o755)
    return str(path)


def _zip(folder: Path, target: Path) -> str:
    """Zips ``folder``'s files, at the archive's root, with their permissions (Gradescope runs
    ``run_autograder`` as it finds it)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != target)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _ZIP_DATE)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return str(target)


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _minor(version: str) -> int:
    return int(version.split(".")[1])


# --------------------------------------------------------------------------- templates

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope autograder setup for nnx-conformance, written by `nnx-conformance image`.
# Gradescope runs it once, as root, while it builds the autograder's image, with the zip
# unpacked in /autograder/source (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
# It installs Python @PYTHON@ if the base image has no usable Python >= @PYTHON_MIN@ (the pinned
# packages need it; Ubuntu 22.04's python3 is 3.10), a virtual environment in @GRADER_HOME@
# with exactly the versions the grader was validated with (never torch), the suite, and then
# warms the check's compilation cache, so that every submission is checked warm.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GRADER_HOME="${NNX_GRADER_HOME:-@GRADER_HOME@}"
VENV="$GRADER_HOME/venv"
PYTHON_WANTED="@PYTHON@"
PYTHON_MIN="@PYTHON_MIN@"
# The cache the check's children read; run_autograder sets the same.
export NNX_CONFORMANCE_CACHE="${NNX_CONFORMANCE_CACHE:-$GRADER_HOME/cache}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

# A virtual environment with pip from the first Python >= PYTHON_MIN that can make one
# (Debian's Pythons need their -venv package for that).
make_venv() {
  local candidate
  for candidate in "python$PYTHON_WANTED" python3 python3.14 python3.13 python3.12 python3.11; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    "$candidate" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$PYTHON_MIN'.split('.'))))" \
      2>/dev/null || continue
    rm -rf "$VENV"
    if "$candidate" -m venv "$VENV" >/dev/null 2>&1 && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
      echo "setup.sh: $("$VENV/bin/python" --version) from $(command -v "$candidate")"
      return 0
    fi
  done
  rm -rf "$VENV"
  return 1
}

mkdir -p "$GRADER_HOME"
if ! make_venv; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  if ! apt-get install -y --no-install-recommends "python$PYTHON_WANTED" "python$PYTHON_WANTED-venv"; then
    apt-get install -y --no-install-recommends software-properties-common gpg-agent
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends "python$PYTHON_WANTED" "python$PYTHON_WANTED-venv"
  fi
  make_venv || { echo "setup.sh: no Python >= $PYTHON_MIN can make a virtual environment" >&2; exit 1; }
fi

"$VENV/bin/python" -m pip install --upgrade "pip>=23.1"
"$VENV/bin/python" -m pip install -r "$SOURCE/requirements.txt" -c "$SOURCE/constraints.txt" \
  "$SOURCE/@SOURCE_DIR@[jax]"
if "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
  echo "setup.sh: torch is installed in $VENV, but the grader must not have it" >&2
  exit 1
fi
"$VENV/bin/python" -m pip check || echo "setup.sh: warning: pip check found conflicts (above)"

# The trusted warm-up: the only step that writes the cache the checks' children read.
mkdir -p "$NNX_CONFORMANCE_CACHE"
"$VENV/bin/nnx-conformance" warm
# Each solution's children run as unprivileged users of their own: they must read all of it.
chmod -R a+rX "$GRADER_HOME"
echo "setup.sh: nnx-conformance installed in $VENV, cache warm in $NNX_CONFORMANCE_CACHE"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope's run_autograder for nnx-conformance, written by `nnx-conformance image`.
# Gradescope runs it for each submission, in /autograder, with the learner's files in
# /autograder/submission; it must leave /autograder/results/results.json
# (https://gradescope-autograders.readthedocs.io/en/latest/specs/). It always does: if the
# grader crashes, runs out of time or writes no valid result, a result with score 0 says so
# (the grader's own output goes to Gradescope's log, /autograder/results/stdout, which only
# instructors see).
set -uo pipefail  # not -e: every failure must still end in a results.json

AUTOGRADER="${NNX_AUTOGRADER_DIR:-/autograder}"
GRADER_HOME="${NNX_GRADER_HOME:-@GRADER_HOME@}"
SUBMISSION="$AUTOGRADER/submission"
RESULTS="$AUTOGRADER/results/results.json"
CONFIG=@CONFIG@
TIME_LIMIT="${NNX_GRADER_TIME_LIMIT:-@TIME_LIMIT@}"
export NNX_CONFORMANCE_CACHE="${NNX_CONFORMANCE_CACHE:-$GRADER_HOME/cache}"  # what setup.sh warmed
export PATH="$GRADER_HOME/venv/bin:$PATH"

STARTED=$(date +%s)
LOG="$(mktemp)"
mkdir -p "$(dirname "$RESULTS")"
rm -f "$RESULTS"

json_text() {  # $1 as the inside of a JSON string
  printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

fallback() {  # $1: what the learner reads
  local seconds=$(( $(date +%s) - STARTED ))
  printf '{"score": 0, "execution_time": %d, "output": "%s", "visibility": "visible", "extra_data": {"nnx_conformance": {"fallback": true}}}\n' \
    "$seconds" "$(json_text "$1")" > "$RESULTS"
}

valid_results() {  # results.json is a JSON object with a numeric score or a list of tests
  local py
  for py in "$GRADER_HOME/venv/bin/python" python3; do
    if command -v "$py" >/dev/null 2>&1; then
      "$py" -I -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
ok = isinstance(d, dict) and (type(d.get("score")) in (int, float) or isinstance(d.get("tests"), list))
sys.exit(0 if ok else 1)' "$RESULTS" 2>/dev/null
      return
    fi
  done
  [ -s "$RESULTS" ]
}

finish() {  # $1: the grader's exit status
  local status=$1
  cat "$LOG"
  rm -f "$LOG"
  echo "run_autograder: nnx-conformance exited with status $status"
  if [ -f "$RESULTS" ] && valid_results; then
    exit 0
  fi
  case "$status" in
    124|137|143) fallback "The grader did not finish within its time limit ($TIME_LIMIT s). This is a problem of the autograder, not a verdict on your code: please resubmit, and tell the course staff if it happens again." ;;
    127) fallback "The grader is not installed in this autograder (nnx-conformance not found). This is a problem of the autograder, not a verdict on your code: please tell the course staff." ;;
    *) fallback "The grader stopped (exit status $status) without writing a result. This is a problem of the autograder, not a verdict on your code: please tell the course staff (the autograder log has the details)." ;;
  esac
  echo "run_autograder: wrote the fallback result (score 0) to $RESULTS"
  exit 0
}

# The file to grade: the only .py or .ipynb of the submission, else the one named solution.
mapfile -t FOUND < <(find "$SUBMISSION" -mindepth 1 -maxdepth 3 \( -name '.*' -o -name __MACOSX \) -prune \
  -o -type f \( -name '*.py' -o -name '*.ipynb' \) -print 2>/dev/null | LC_ALL=C sort)
SOLUTION=""
if [ "${#FOUND[@]}" -eq 1 ]; then
  SOLUTION="${FOUND[0]}"
else
  for path in "${FOUND[@]}"; do
    case "$(basename "$path")" in solution.py|solution.ipynb) SOLUTION="$path"; break ;; esac
  done
fi
if [ -z "$SOLUTION" ]; then
  if [ "${#FOUND[@]}" -eq 0 ]; then
    fallback "Your submission has no .py or .ipynb file: submit the file that defines pure_state_update."
  else
    names="$(for path in "${FOUND[@]}"; do printf '%s ' "${path#"$SUBMISSION"/}"; done)"
    fallback "Your submission has ${#FOUND[@]} .py or .ipynb files (${names% }): submit only the one that defines pure_state_update, or name it solution.py."
  fi
  echo "run_autograder: no file to grade in $SUBMISSION (${#FOUND[@]} candidates)"
  exit 0
fi

ARGS=(check "$SOLUTION" --format gradescope --output "$RESULTS")
if [ -n "$CONFIG" ]; then
  ARGS+=(--config "$CONFIG")
fi
echo "run_autograder: nnx-conformance ${ARGS[*]}"
timeout --kill-after=30 "$TIME_LIMIT" nnx-conformance "${ARGS[@]}" >"$LOG" 2>&1 &
GRADER=$!
trap 'kill -TERM "$GRADER" 2>/dev/null; finish 143' TERM INT HUP
wait "$GRADER"
finish $?
"""

DOCKERFILE = r"""# The nnx-conformance grader image, written by `nnx-conformance image`.
#   docker build -t nnx-grader .
#   docker run --rm -v "$PWD:/work" nnx-grader SOLUTION.py [--format json ...]
# The versions are the ones the grader was validated with (requirements.txt, constraints.txt).
FROM python:@PYTHON@-slim

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    NNX_CONFORMANCE_CACHE=@GRADER_HOME@/cache \
    PATH=@GRADER_HOME@/venv/bin:$PATH

COPY requirements.txt constraints.txt @GRADER_HOME@/
COPY @SOURCE_DIR@ @GRADER_HOME@/src/
RUN python3 -m venv @GRADER_HOME@/venv \
    && @GRADER_HOME@/venv/bin/python -m pip install -r @GRADER_HOME@/requirements.txt \
        -c @GRADER_HOME@/constraints.txt "@GRADER_HOME@/src[jax]" \
    && if @GRADER_HOME@/venv/bin/python -c "import importlib.util as u, sys; \
        sys.exit(u.find_spec('torch') is None)"; then echo "torch must not be installed" >&2; exit 1; fi \
    && rm -rf @GRADER_HOME@/src
@CONFIG_COPY@
# The trusted warm-up, at build time: the only step that writes the cache the checks' children
# read (NNX_CONFORMANCE_CACHE above, the same at run time), so every check runs warm.
RUN nnx-conformance warm && chmod -R a+rX @GRADER_HOME@

# No USER: the check moves each solution's children to an unprivileged user of their own,
# which it can only do as root (docs/check.md, Isolation).
WORKDIR /work
ENTRYPOINT @ENTRYPOINT@
CMD ["--help"]
"""

README = r"""# A grader image for nnx-conformance (written by `nnx-conformance image`)

The versions in `requirements.txt` and `constraints.txt` are those of the environment that
wrote this recipe, the ones the grader was validated with. Both images warm the check's
compilation cache when they are built, in `@GRADER_HOME@/cache` (`NNX_CONFORMANCE_CACHE`).

* Gradescope: upload `gradescope/autograder.zip` (setup.sh and run_autograder at its root).
  Each submission's single `.py` or `.ipynb` file (or the one named `solution.py`) is checked
  with `--format gradescope`; if the grader fails, `results.json` still says so, score 0.
* Docker: `docker build -t nnx-grader .`, then
  `docker run --rm -v "$PWD:/work" nnx-grader SOLUTION.py`.
"""
