"""Grading a whole class: find the submissions, split them across machines, resume, merge.

``nnx-conformance check`` grades one file per child; a course grades hundreds to thousands,
possibly on several machines (CI matrix jobs, Kubernetes indexed jobs), and must survive an
interruption without losing or regrading anything. This module is that bookkeeping, standard
library only:

* :func:`discover` turns files, class folders, glob patterns and a CSV manifest into ordered
  :class:`Submission` s with unique ids;
* :func:`parse_shard` and :func:`shard` split them deterministically (``--shard I/N``);
* :func:`content_key` is a file's sha256, the identity of what was graded;
* :class:`ResultLog` is the JSON Lines stream of results, written as each one finishes and read
  back to resume; :func:`merge` joins the shards' logs;
* :func:`write_gradebook` writes the CSV an instructor opens in a spreadsheet;
* :class:`Progress` prints one line per finished submission, with an ETA.

Submission files and their names are untrusted: names may hold newlines, formula prefixes
(``=HYPERLINK(...)``), ``..``, undecodable bytes; a class folder may hold symbolic links. Every
error is a :class:`BatchError` whose message reads ``<what>=<actual>, but should be
<expected>``, untrusted text in it shown with :func:`repr`.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, Mapping, Sequence

try:  # POSIX: one writer per log
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GRADABLE_SUFFIXES", "LOG_SCHEMA", "MAX_SUBMISSION_BYTES", "BatchError", "Progress",
    "ResultLog", "Submission", "content_key", "discover", "merge", "neutralise_cell",
    "parse_shard", "shard", "shown", "write_gradebook",
]

GRADABLE_SUFFIXES = (".py", ".ipynb")
LOG_SCHEMA = "nnx-conformance/check-log/1"
MAX_SUBMISSION_BYTES = 32 * 2**20  # a notebook with its outputs; beyond this, not a solution
GRADEBOOK_COLUMNS = ("submission", "score", "max_score", "verdict", "mistake", "sha256", "salt")

_SKIPPED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints"})
_GLOB_MAGIC = re.compile(r"[*?[]")
_DOMAIN = "an existing .py or .ipynb file, a directory, or a glob pattern matching such files"


class BatchError(ValueError):
    """A batch cannot proceed as asked; the message reads ``<what>=<actual>, but should be
    <expected>``."""


@dataclass(frozen=True)
class Submission:
    """One file to grade.

    Attributes:
        id: The name shown in results and the gradebook (unique in a batch; may hold any
            character but lone surrogates, which :func:`discover` escapes as ``\\xNN``).
        path: Absolute path of the file. Found in a class folder, by a pattern or in a
            manifest, it is not resolved (a link stays a link, and is a problem); named on the
            command line, it is the link's target.
        problem: ``None`` for a gradable file; else why it is not graded (e.g. a symbolic link
            in a class folder). Such a submission is reported to the instructor, never run.
    """

    id: str
    path: str
    problem: str | None = None


# --- discovery -----------------------------------------------------------------------------

def _clean_id(text: str) -> str:
    """``text`` with every lone surrogate (an undecodable file-name byte) escaped as ``\\xNN``
    (or ``\\uXXXX``) and every backslash doubled, so that the escaping is one to one (a file
    literally named ``a\\xff.py`` cannot take the id of ``a<byte 0xff>.py``): ids stay
    distinct, printable, and valid UTF-8 everywhere."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        if code == 0x5C:
            return "\\\\"
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    return re.sub("[\\\\\ud800-\udfff]", escape, text)


def _gradable(name: str) -> bool:
    return name.endswith(GRADABLE_SUFFIXES)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED_DIRS


def _link_problem(path: str) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return (f"symbolic link={target!r}, but should be a regular file: links are not followed "
            f"(one could point out of the class folder); copy the file in instead")


def _entries(root: str, max_depth: int | None = None,
             first_level_links: bool = True) -> list[tuple[str, str, str | None]]:
    """``(relative path with '/', absolute path, problem)`` of every gradable entry under
    ``root`` (at most ``max_depth`` components deep), hidden names, ``__pycache__`` and
    ``.ipynb_checkpoints`` skipped. Links are never followed: a link with a gradable name (at
    any depth) or to a first-level folder (a learner's folder) is an entry with a problem."""
    found = []
    unreadable: list[OSError] = []
    for folder, dirs, files in os.walk(root, onerror=unreadable.append, followlinks=False):
        rel_folder = os.path.relpath(folder, root)
        depth = 0 if rel_folder == os.curdir else rel_folder.count(os.sep) + 1
        for name in sorted(dirs):
            full = os.path.join(folder, name)
            if (first_level_links and depth == 0 and not _hidden(name)
                    and os.path.islink(full)):  # os.walk lists a link to a folder, skips it
                found.append((full, _link_problem(full)))
        deeper = max_depth is None or depth + 1 < max_depth
        dirs[:] = sorted(d for d in dirs if deeper and not _hidden(d))
        for name in sorted(files):
            full = os.path.join(folder, name)
            if _hidden(name) or not _gradable(name):
                continue
            if os.path.islink(full):
                found.append((full, _link_problem(full)))
            elif not os.path.isfile(full):
                found.append((full, "file type=special, but should be a regular file"))
            else:
                found.append((full, None))
    for error in unreadable:  # a learner's folder must not vanish silently
        if error.filename is None or os.path.abspath(error.filename) == os.path.abspath(root):
            raise BatchError(f"folder={root!r} ({error.strerror}), but should be readable")
        found.append((error.filename, f"folder=unreadable ({error.strerror}), but should be "
                                      f"readable by the grader"))
    return [(os.path.relpath(full, root).replace(os.sep, "/"), os.path.abspath(full), problem)
            for full, problem in found]


def _class_folder(root: str) -> list[Submission]:
    """A class folder's submissions: id = path relative to ``root``, except that a first-level
    subfolder holding exactly one entry is a learner's folder, id = its name."""
    entries = _entries(root)
    per_first: dict[str, int] = {}
    for rel, _, _ in entries:
        if "/" in rel:
            first = rel.split("/", 1)[0]
            per_first[first] = per_first.get(first, 0) + 1
    out = []
    for rel, full, problem in entries:
        first = rel.split("/", 1)[0]
        ident = first if "/" in rel and per_first[first] == 1 else rel
        out.append(Submission(_clean_id(ident), full, problem))
    return out


def _matches(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether path components ``parts`` match glob components ``pattern`` (``**``: any
    number of components, including none)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) \
        and _matches(pattern[1:], parts[1:])


def _glob(pattern: str) -> list[Submission]:
    """A glob pattern's gradable matches, with glob's syntax (``**`` recursive, hidden names
    not matched) but without following symbolic links to folders: :func:`glob.glob` does, and
    a learner's ``loop -> ..`` would make it exponential, a ``root -> /`` grade system files.
    A matched link to a file is a submission with a problem."""
    parts = [p for p in pattern.replace(os.sep, "/").split("/")]
    literal = 0
    while literal < len(parts) - 1 and not _GLOB_MAGIC.search(parts[literal]):
        literal += 1
    prefix, rest = parts[:literal], parts[literal:]
    root = "/".join(prefix) if prefix else ""
    if prefix == [""]:  # an absolute pattern: "/x*/..."
        root = "/"
    if not os.path.isdir(root or os.curdir):
        return []
    depth = None if "**" in rest else len(rest)
    out = []
    for rel, full, problem in _entries(root or os.curdir, depth, first_level_links=False):
        if _matches(rest, rel.split("/")):
            shown_path = rel if not root else root.rstrip("/") + "/" + rel
            out.append(Submission(_clean_id(shown_path), full, problem))
    return out


def _file(given: str, path: str, what: str) -> str:
    """``path``'s absolute path, if it names a gradable regular file (a link is checked by its
    target); else a :class:`BatchError` naming ``what`` and the valid domain."""
    if not _gradable(path):
        raise BatchError(f"{what}={given!r}, but should be {_DOMAIN} (a name ending in "
                         f"{' or '.join(GRADABLE_SUFFIXES)})")
    if not os.path.isfile(path):
        state = "missing" if not os.path.lexists(path) else "not a regular file"
        raise BatchError(f"{what}={given!r} ({state}), but should be {_DOMAIN}")
    return os.path.abspath(path)


def _manifest(manifest: str) -> list[Submission]:
    """The submissions a CSV manifest lists (header: ``id``/``submission`` and
    ``path``/``file``; relative paths from the manifest's folder)."""
    base = os.path.dirname(os.path.abspath(manifest))
    try:
        with open(manifest, encoding="utf-8-sig", newline="") as handle:
            rows = [(line, row) for line, row in _numbered(csv.reader(handle))]
    except OSError as exc:
        raise BatchError(f"manifest={manifest!r} ({exc.strerror}), but should be a readable "
                         f"CSV file") from None
    except UnicodeDecodeError:
        raise BatchError(f"manifest={manifest!r} encoding=not UTF-8, but should be UTF-8") \
            from None
    except csv.Error as exc:
        raise BatchError(f"manifest={manifest!r} ({exc}), but should be a valid CSV file") \
            from None
    if not rows:
        raise BatchError(f"manifest={manifest!r} (empty), but should have a header line")
    _, header = rows[0]
    names = [h.strip().lower() for h in header]

    def column(choices: tuple[str, str]) -> int:
        for choice in choices:
            if choice in names:
                return names.index(choice)
        raise BatchError(f"{manifest}:1 header={header!r}, but should name an id column "
                         f"(id or submission) and a path column (path or file)")
    id_col, path_col = column(("id", "submission")), column(("path", "file"))
    out = []
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(id_col, path_col):
            raise BatchError(f"{manifest}:{line} fields={len(row)}, but should be at least "
                             f"{max(id_col, path_col) + 1} (an id and a path)")
        ident, given = row[id_col].strip(), row[path_col].strip()
        if not ident or not given:
            raise BatchError(f"{manifest}:{line} id={ident!r} path={given!r}, but should "
                             f"both be non-empty")
        full = os.path.join(base, given)
        if os.path.islink(full) and _gradable(full):  # made by the learner, not the manifest
            out.append(Submission(_clean_id(ident), os.path.abspath(full), _link_problem(full)))
        else:
            out.append(Submission(_clean_id(ident), _file(given, full, f"{manifest}:{line} path")))
    return out


def _numbered(reader: Any) -> Iterable[tuple[int, list[str]]]:
    """``(first physical line, row)`` of each CSV record (a quoted cell may span lines)."""
    line = 1
    for row in reader:
        yield line, row
        line = reader.line_num + 1


def discover(inputs: Sequence[str], manifest: str | None = None) -> list[Submission]:
    """The submissions named by ``inputs`` and ``manifest``, in the order given.

    Args:
        inputs: Each one a file (id = the path as given; never a symbolic link, not even
            one the instructor names), a class folder (every gradable file under it, recursively, hidden names,
            ``__pycache__`` and ``.ipynb_checkpoints`` skipped; id = the path relative to the
            folder with ``/``, except that a first-level subfolder holding exactly one gradable
            file is a learner's folder, id = the subfolder's name), or a glob pattern (recursive
            ``**``; id = the matched path; a pattern is only expanded if no such file exists).
        manifest: A CSV file whose header names an id column (``id`` or ``submission``) and a
            path column (``path`` or ``file``); relative paths are relative to its folder.

    Returns:
        The submissions in the order of ``inputs`` (then the manifest's), each folder's and
        pattern's sorted by id. A symbolic link found in a class folder, by a pattern or
        in a manifest (the learner made it) is not followed: it is a submission with a
        :attr:`Submission.problem` (as are a special file and an unreadable folder), so that
        the instructor sees it in the gradebook instead of it silently vanishing; the caller
        reports it without running it. Links to folders are never descended into; a link named on the
        command line is an error.

    Raises:
        BatchError: an input that does not exist or is not gradable, a pattern matching nothing
            gradable, a bad manifest (naming its line), two submissions with one id (naming both
            paths), or no submission at all.
    """
    found: list[Submission] = []
    for given in inputs:
        if os.path.isdir(given):
            found.extend(sorted(_class_folder(given), key=lambda s: s.id))
        elif os.path.lexists(given) or not _GLOB_MAGIC.search(given):
            # Named by the instructor, and still not followed if a link: the grader reads with
            # its own privileges, and a learner's link could bring in any file it may read.
            if os.path.islink(given):
                raise BatchError(f"input={given!r}, but should be a regular file, not a "
                                 f"symbolic link (give the file it points to)")
            found.append(Submission(_clean_id(given), _file(given, given, "input")))
        else:
            matches = _glob(given)
            if not matches:
                raise BatchError(f"input={given!r} (a pattern matching no .py or .ipynb file), "
                                 f"but should be {_DOMAIN}")
            found.extend(sorted(matches, key=lambda s: s.id))
    if manifest is not None:
        found.extend(_manifest(manifest))
    if not found:
        raise BatchError(f"submissions=0 (under {[*inputs]!r}"
                         f"{f' and manifest {manifest!r}' if manifest else ''}), but should be "
                         f"at least one .py or .ipynb file")
    by_id: dict[str, Submission] = {}
    for sub in found:
        if sub.id in by_id:
            raise BatchError(f"id={sub.id!r} for {by_id[sub.id].path!r} and {sub.path!r}, but "
                             f"should be unique: name the submissions in a manifest")
        by_id[sub.id] = sub
    return found


# --- sharding ------------------------------------------------------------------------------

_SHARD_DOMAIN = ("I/N with 0 <= I < N (e.g. 0/4), or N or auto/N with I read from "
                 "JOB_COMPLETION_INDEX")


def parse_shard(text: str | None,
                environ: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """``--shard``'s value as ``(index, count)``; ``None`` if ``text`` is ``None``.

    ``I/N`` is shard ``I`` (from 0) of ``N``; ``N`` or ``auto/N`` reads ``I`` from
    ``JOB_COMPLETION_INDEX``, which Kubernetes sets in each pod of an indexed job.
    """
    if text is None:
        return None
    # At most 9 digits each: a shard count beyond that is no class, and int() of thousands of
    # digits raises Python's own message.
    match = re.fullmatch(r"\s*(?:(?P<index>[0-9]{1,9}|auto)/)?(?P<count>[0-9]{1,9})\s*", text)
    if not match:
        raise BatchError(f"--shard={text!r}, but should be {_SHARD_DOMAIN}")
    count = int(match["count"])
    if match["index"] in (None, "auto"):
        raw = environ.get("JOB_COMPLETION_INDEX")
        if raw is None:
            raise BatchError(f"JOB_COMPLETION_INDEX=unset (with --shard {text!r}), but should "
                             f"be the shard index, as a Kubernetes indexed job sets it; or give "
                             f"--shard I/N")
        if not re.fullmatch(r"[0-9]{1,9}", raw.strip()):
            raise BatchError(f"JOB_COMPLETION_INDEX={raw!r}, but should be an integer in "
                             f"0..{max(count - 1, 0)}")
        index = int(raw)
    else:
        index = int(match["index"])
    if count < 1 or not 0 <= index < count:
        raise BatchError(f"--shard={text!r} (index {index} of {count}), but should be "
                         f"{_SHARD_DOMAIN}")
    return index, count


def shard(submissions: Sequence[Submission], index: int, count: int) -> list[Submission]:
    """Shard ``index`` of ``count``: every ``count``-th submission in id order.

    Over ``index`` in ``range(count)`` the shards hold every submission exactly once, their
    sizes differ by at most one, and each depends only on the set of submissions (not on their
    order, nor on the machine). Adding a submission may move others to another shard: a
    resumed shard then grades those again, and :func:`merge` keeps one result each.
    """
    if count < 1 or not 0 <= index < count:
        raise BatchError(f"shard={index}/{count}, but should be I/N with 0 <= I < N")
    ordered = sorted(submissions, key=lambda s: (s.id, s.path))
    return ordered[index::count]


# --- content -------------------------------------------------------------------------------

def content_key(path: str, limit: int = MAX_SUBMISSION_BYTES) -> str:
    """The sha256 (hex) of the file's bytes: what identifies a grading (content changed, graded
    again).

    The file is opened without following a final symbolic link, must be a regular file, and is
    read up to ``limit`` bytes, so that a link, a FIFO or a huge file cannot hang or escape.

    Raises:
        BatchError: the file is a link, not a regular file, unreadable or larger than ``limit``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_BINARY", 0)
    if os.path.islink(path):
        raise BatchError(f"file={path!r} (a symbolic link), but should be a regular file")
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BatchError(f"file={path!r} ({exc.strerror}), but should be a readable regular "
                         f"file") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BatchError(f"file={path!r} (not a regular file), but should be a regular file")
        digest, size = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                raise BatchError(f"file size={size}+ bytes ({path!r}), but should be at most "
                                 f"{limit}")
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


# --- the result log ------------------------------------------------------------------------

def _json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing settings."""
    return json.loads(json.dumps(value, allow_nan=False, sort_keys=True))


def _difference(old: Any, new: Any, prefix: str = "settings") -> tuple[str, Any, Any] | None:
    """The first setting (dotted path) where ``old`` and ``new`` differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _difference(old.get(key, "<unset>"), new.get(key, "<unset>"),
                                f"{prefix}.{key}")
            if found:
                return found
        return None
    return None if old == new else (prefix, old, new)


def _entry(value: Any) -> bool:
    """Whether ``value`` is a result the log can key: it names its submission and content
    (``sha256`` null for a submission refused unread: a link, a special or oversized file,
    logged so that a merge keeps it, and never taken as graded by a resume)."""
    return (isinstance(value, dict) and isinstance(value.get("submission"), str)
            and (value.get("sha256") is None or isinstance(value.get("sha256"), str))
            and "verdict" in value)


def _read_log(path: str, notes: list[str]) -> tuple[dict | None, list[dict], int]:
    """A log's header, entries and the byte length of its sound part.

    A last line that is not JSON (the writer was killed mid-line) is left out with a note;
    any other bad line is a :class:`BatchError` naming it.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    header: dict | None = None
    entries: list[dict] = []
    offset = 0
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except ValueError:
            if number == len(lines):
                notes.append(f"{path}:{number}: an incomplete last line (the grader stopped "
                             f"while writing it) is ignored; its submission is graded again")
                return header, entries, start
            raise BatchError(f"{path}:{number} line={raw[:60]!r}, but should be one JSON "
                             f"result: the log is corrupt in the middle; repair or remove "
                             f"it") from None
        if header is None:
            if not (isinstance(value, dict) and value.get("schema") == LOG_SCHEMA
                    and isinstance(value.get("settings"), dict)):
                raise BatchError(f"{path}:{number} header={raw[:60]!r}, but should be "
                                 f'{{"schema": "{LOG_SCHEMA}", "settings": {{...}}}}: not a '
                                 f"check log")
            header = value
        elif not _entry(value):
            raise BatchError(f"{path}:{number} line={raw[:60]!r}, but should be a result "
                             f"with 'submission', 'sha256' and 'verdict'")
        else:
            entries.append(value)
    return header, entries, min(offset, len(data))


class ResultLog:
    """The JSON Lines log of one grading run: a header, then one result per line.

    The first line is ``{"schema": "nnx-conformance/check-log/1", "settings": ...}``;
    ``settings`` is what makes two gradings comparable (cases, timeout, budget, grader version,
    config digest). Each :meth:`append` writes a whole line, flushed and fsynced, so that a run
    killed at any moment (``kill -9``, a pre-empted pod) loses at most the line being written;
    reopening the log ignores that torn line (a note in :attr:`notes`) and continues after the
    last sound one. One process writes a log at a time (an exclusive lock, on POSIX).

    Attributes:
        path: The log file.
        settings: This run's settings (as JSON reads them back).
        notes: What opening the log repaired, for the instructor.
    """

    def __init__(self, path: str, settings: Mapping[str, Any]):
        """Opens ``path`` for appending, creating it with a header if it is new or empty.

        Raises:
            BatchError: the log was written with other settings (naming the first that
                differs), is corrupt in the middle, is not a check log, or is in use.
        """
        self.path = path
        self.settings = _json(dict(settings))
        self.notes: list[str] = []
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            self._lock()
            header, entries, sound = _read_log(path, self.notes)
            if header is not None:
                found = _difference(header["settings"], self.settings)
                if found:
                    name, old, new = found
                    raise BatchError(
                        f"{name}={new!r} (this run), but should be {old!r} as in the log "
                        f"{path!r}: results graded under other settings are not comparable; "
                        f"give a new log path (or remove this one to grade everything again)")
            os.ftruncate(self._fd, sound)
            os.lseek(self._fd, 0, os.SEEK_END)
            if sound and not self._ends_with_newline(sound):
                self._write(b"\n")
            if header is None:
                self._write(self._line({"schema": LOG_SCHEMA, "settings": self.settings}))
                _fsync_folder(path)
        except BaseException:
            self.close()
            raise
        self._entries = entries

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchError(f"log={self.path!r} (in use by another run), but should be "
                             f"written by one run at a time: give each shard its own log") \
                from None

    def _ends_with_newline(self, size: int) -> bool:
        return os.pread(self._fd, 1, size - 1) == b"\n" if hasattr(os, "pread") else True

    @staticmethod
    def _line(value: Any) -> bytes:
        # ensure_ascii: one line of ASCII whatever the learner's text (no raw newline, no
        # encoding error); allow_nan=False: strict JSON (the report names non-finite floats).
        return (json.dumps(value, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def done(self, current: Mapping[str, str] | None = None) -> dict[str, dict]:
        """The results that need no grading again: submission id -> its latest result.

        A result counts only if its verdict is not ``"error"`` (a grader error is retried) and,
        when ``current`` (id -> :func:`content_key` of the file now) is given, only if its
        ``sha256`` is the current one and its id is in ``current`` (content changed: graded
        again). Without ``current``, the latest non-error result of each id.
        """
        latest: dict[tuple[str, str], dict] = {}
        newest_sha: dict[str, str] = {}
        for entry in self._entries:
            newest_sha[entry["submission"]] = entry["sha256"]
            if entry.get("verdict") != "error":
                latest[entry["submission"], entry["sha256"]] = entry
        out = {}
        for ident, sha in newest_sha.items():
            want = sha if current is None else current.get(ident)
            if want is not None and (ident, want) in latest:
                out[ident] = latest[ident, want]
        return out

    def append(self, result: Mapping[str, Any]) -> None:
        """Writes ``result`` as one line, flushed and fsynced before returning.

        Raises:
            ValueError: ``result`` has no ``submission`` string, ``sha256`` string (or null)
                or ``verdict``, or
                is not strict JSON (NaN).
        """
        value = dict(result)
        if not _entry(value):
            raise BatchError(f"result keys={sorted(map(str, value))!r}, but should include "
                             f"'submission' (a string), 'sha256' (a string or null) and "
                             f"'verdict'")
        line = self._line(value)
        self._write(line)
        self._entries.append(json.loads(line))

    def close(self) -> None:
        """Closes the log (and releases its lock)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)


def _fsync_folder(path: str) -> None:
    """Makes a new file's directory entry durable (POSIX; a no-op where folders can't open)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def merge(paths: Sequence[str],
          notes: list[str] | None = None) -> tuple[dict[str, Any], list[dict]]:
    """The shards' logs as one: ``(settings, results sorted by submission id)``.

    Within a log, an id's latest content wins (a resumed run regraded a changed file), and for
    that content the latest non-error result (else the latest error, so that no submission
    vanishes). Across logs, one id with one sha256 is kept once (a non-error result over an
    error, then the later log in ``paths``); one id with two sha256 is a conflict.

    Args:
        paths: The logs, e.g. one per shard.
        notes: If given, receives a note for each torn last line ignored.

    Raises:
        BatchError: no log, an unreadable or corrupt log, logs with different settings (naming
            the setting and both files), or one id with two different contents.
    """
    if not paths:
        raise BatchError("logs=[], but should be at least one result log")
    notes = [] if notes is None else notes
    settings: dict[str, Any] | None = None
    first = ""
    chosen: dict[str, tuple[dict, str]] = {}
    for path in paths:
        try:
            header, entries, _ = _read_log(path, notes)
        except OSError as exc:
            raise BatchError(f"log={path!r} ({exc.strerror}), but should be a readable result "
                             f"log") from None
        if header is None:
            raise BatchError(f"log={path!r} (empty), but should start with a header line")
        if settings is None:
            settings, first = header["settings"], path
        else:
            found = _difference(settings, header["settings"])
            if found:
                name, old, new = found
                raise BatchError(f"{name}={new!r} in {path!r}, but should be {old!r} as in "
                                 f"{first!r}: shards graded under different settings")
        for ident, result in _final(entries).items():
            if ident in chosen:
                kept, where = chosen[ident]
                if kept["sha256"] != result["sha256"]:
                    raise BatchError(
                        f"sha256={result['sha256']} for id={ident!r} in {path!r}, but should be "
                        f"{kept['sha256']} as in {where!r}: the file changed between shards; "
                        f"grade it again in one log")
                if result.get("verdict") == "error" and kept.get("verdict") != "error":
                    continue
            chosen[ident] = (result, path)
    assert settings is not None
    return settings, [chosen[i][0] for i in sorted(chosen)]


def _final(entries: Sequence[dict]) -> dict[str, dict]:
    """One log's result per id: its latest content's latest non-error result, else error."""
    newest: dict[str, str] = {}
    for entry in entries:
        newest[entry["submission"]] = entry["sha256"]
    out: dict[str, dict] = {}
    for entry in entries:
        ident = entry["submission"]
        if entry["sha256"] != newest[ident]:
            continue
        if entry.get("verdict") != "error" or out.get(ident, {}).get("verdict", "error") \
                == "error":
            out[ident] = entry
    return out


# --- the gradebook -------------------------------------------------------------------------

_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def neutralise_cell(value: Any) -> Any:
    """A gradebook cell safe in Excel, Sheets and LibreOffice (OWASP CSV injection).

    Numbers and ``None`` stay as they are; text has its lone surrogates replaced by U+FFFD and,
    if it starts (even after blanks) with ``=``, ``+``, ``-``, ``@``, tab, CR, LF, ``|`` or
    ``%``, a leading ``'`` so that the spreadsheet shows it as text instead of evaluating it;
    bidirectional controls (which could make one learner's id read as another's) are escaped.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = re.sub("[\ud800-\udfff]", "\ufffd", str(value))
    # Bidirectional controls would reorder how an id reads in the sheet: shown escaped.
    text = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if text.startswith(_FORMULA) or text.lstrip(" ").startswith(_FORMULA):
        return "'" + text
    return text


def write_gradebook(rows: Sequence[Mapping[str, Any]], path: str) -> None:
    """Writes the gradebook CSV: one row per submission, columns :data:`GRADEBOOK_COLUMNS`.

    ``rows`` are already scored by the caller (missing keys are empty cells). Every text cell
    goes through :func:`neutralise_cell`; the csv module quotes newlines and quotes. The file
    is UTF-8 with a byte-order mark (so that Excel reads accents right) and is replaced
    atomically: a reader never sees half a gradebook.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".gradebook-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(GRADEBOOK_COLUMNS)
            for row in rows:
                writer.writerow(["" if row.get(c) is None else neutralise_cell(row.get(c))
                                 for c in GRADEBOOK_COLUMNS])
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- progress ------------------------------------------------------------------------------

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


def shown(text: Any) -> str:
    """Learner text for one terminal line: every control character (newline and tab too),
    bidirectional override and lone surrogate escaped as ``\\xNN``/``\\uXXXX``, so that a name
    cannot redraw or reorder the progress lines."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) <= 0xFF
                       else f"\\u{ord(m.group()):04x}", str(text))


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """One line per finished submission: ``[k/N] <id>: PASS|FAIL <kind> (x.x s) ... ETA m:ss``.

    The ETA is the wall time per graded submission so far (which accounts for parallel
    workers) times the submissions left; submissions skipped by a resume count toward ``k``
    but not toward that mean.
    """

    def __init__(self, total: int, stream: IO[str], *,
                 clock: Callable[[], float] = time.monotonic,
                 escape: Callable[[Any], str] = shown):
        """Args: ``total`` submissions; ``stream`` to print to; ``clock`` (seconds) and
        ``escape`` (learner text for a terminal) replaceable, e.g. in tests."""
        self.total, self.stream = total, stream
        self._clock, self._escape = clock, escape
        self._start = clock()
        self.finished = 0
        self.graded = 0

    def done(self, result: Mapping[str, Any], resumed: bool = False) -> str:
        """Counts ``result`` and prints its line (returned too); ``resumed``: taken from the
        log, not graded now."""
        self.finished += 1
        if not resumed:
            self.graded += 1
        ident = result.get("submission", result.get("solution", "?"))
        verdict = str(result.get("verdict", "?")).upper()
        diagnosis = result.get("diagnosis")
        kind = diagnosis.get("kind", "") if isinstance(diagnosis, dict) else ""
        parts = [f"[{self.finished}/{self.total}] {self._escape(ident)}: "
                 + self._escape(verdict)]
        if kind:
            parts.append(f" {self._escape(kind)}")
        if resumed:
            parts.append(" (resumed)")
        elif isinstance(result.get("duration_s"), (int, float)):
            parts.append(f" ({float(result['duration_s']):.1f} s)")
        left = max(self.total - self.finished, 0)
        if self.graded:
            mean = (self._clock() - self._start) / self.graded
            parts.append(f" ... ETA {_clock_text(mean * left)}")
        else:
            parts.append(" ... ETA ?:??" if left else " ... ETA 0:00")
        line = "".join(parts)
        try:
            self.stream.write(line + "\n")
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write((line + "\n").encode(encoding, "backslashreplace")
                              .decode(encoding))
        self.stream.flush()
        return line
