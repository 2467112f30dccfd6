"""The graded Python source of a Jupyter notebook (``.ipynb``): text only, nothing runs.

A learner's notebook is untrusted input read in the trusted grader process, so this module
never executes, evaluates or imports anything from it: it parses JSON and Python (``json``,
``nbformat``, ``ast``, ``symtable``) and returns source text, which the grader's isolated
child then imports like a ``.py`` solution. Every failure to read the notebook is a
:class:`NotebookError`; the time spent is bounded by the file size (all passes are linear or
``n log n``, the dependency trace has a work budget).

Rules (PrairieLearn's and Otter-Grader's notebook handling are the references):

1. **Reading.** At most :data:`MAX_NOTEBOOK_BYTES` (16 x ``MAX_SOLUTION_BYTES``: notebooks
   carry outputs such as plots), a regular file opened without following links, UTF-8 JSON,
   nbformat 4 (any minor) or 3 (converted to 4 by ``nbformat``), valid under nbformat's
   schema (so a cell's tags must be a list of strings), at most :data:`MAX_CELLS` cells, and
   at most ``MAX_SOLUTION_BYTES`` of code in the graded cells together (Python's parser
   needs seconds and hundreds of MB per MB of code). Anything else, including JSON too deep
   to parse, is a :class:`NotebookError`.
2. **Cells.** Only code cells count. If any code cell is tagged ``grade``
   (``metadata.tags``) or its first non-blank line is a ``#grade`` / ``# grade`` comment
   (case-insensitive; PrairieLearn's ``#grade`` marker), only those cells are graded;
   otherwise all code cells are. Lone surrogates in sources become U+FFFD (noted).
3. **IPython syntax.** A cell whose first non-blank line is a cell magic (``%%time``) is
   dropped whole. In other cells that do not parse as Python, lines that start a statement
   (outside strings and brackets) with ``%`` (line magic), ``!`` (shell), ``?``/``name?``
   (help), or ``x = !cmd`` / ``x = %magic`` are removed, keeping the line count: a blank line,
   or ``pass`` at the same indentation where a block would otherwise be empty (IPython would
   call ``get_ipython()`` there, which only exists inside IPython; Otter and PrairieLearn run
   the notebook under IPython, the grader's child does not).
4. **Syntax errors.** A cell that still does not parse is dropped with a note, unless it
   contains ``def pure_state_update``: then the notebook's graded function has a syntax
   error, and the output is that cell alone (IPython lines blanked, line count kept), so the
   child's import raises the learner's ``SyntaxError`` at the right line of that cell.
5. **Top-level work does not run.** Of each cell's top-level statements only imports (not
   of ``google.colab`` or ``IPython``), function and class definitions and assignments are
   candidates; every other statement (calls, loops, ``with``/``if``/``try`` blocks,
   ``del``, ``assert``, ...) is dropped with a note. ``from __future__`` imports are hoisted
   to the top of the output. Bare string constants (docstrings) are dropped silently.
6. **Dependencies.** Of the candidates only what ``pure_state_update`` needs is kept. The
   target is the last binding of ``pure_state_update`` in notebook order (a notebook run
   top to bottom ends with it). A kept statement at position ``p`` needs, for each global
   name it reads, the last binding of that name *before the point where the name is
   looked up*: its own position for names read while it runs (values, decorators, default
   arguments, annotations, class bodies), and, for names read inside function bodies,
   the points where the function may be called: the end of the module (after the import,
   where the grader calls ``pure_state_update``) and, for a function used while the module
   runs (``w = init()``, a decorator), the using statement's position too. A binding to an attribute, a subscript or an
   augmented assignment (``cfg["lr"] = 1``, ``n += 1``) also reads the name, so the
   earlier bindings it updates are kept too; an import binding a needed name keeps every
   earlier import of that name (``import a.b`` loads ``a.b``); ``from m import *`` between
   the binding and the use is kept. Kept statements keep notebook order, so each name
   resolves in the output to the binding it resolved to in the notebook. Without any
   ``pure_state_update``, only imports, functions and classes are kept, so that the
   child reports the names that exist.
7. **Output.** UTF-8 bytes of one module: each cell with something kept, preceded by
   ``# --- notebook cell N ---`` (N counts every cell of the notebook, from 1), with the
   cell's lines in place (dropped lines blank) so that a line of a traceback maps back to a
   line of the cell. At most ``MAX_SOLUTION_BYTES``, else a :class:`NotebookError`.

Notes quote learner text only clipped to at most 60 printable characters.
"""

from __future__ import annotations

import ast
import bisect
import os
import re
import symtable
from dataclasses import dataclass, field

__all__ = ["MAX_CELLS", "MAX_NOTEBOOK_BYTES", "NOTEBOOK_FACTOR", "TARGET", "NotebookError",
           "notebook_source"]

TARGET = "pure_state_update"
NOTEBOOK_FACTOR = 16
"""A notebook may be this many times ``MAX_SOLUTION_BYTES``: it carries outputs too."""
MAX_NOTEBOOK_BYTES = NOTEBOOK_FACTOR << 20
"""The largest notebook read (16 MiB; kept equal to ``NOTEBOOK_FACTOR * MAX_SOLUTION_BYTES``)."""
MAX_NOTES = 100
MAX_CELLS = 50_000
"""The most cells a notebook may have (each costs schema validation and a parse)."""
_WORK_BUDGET = 2_000_000  # symbol look-ups of the dependency trace before keeping everything
_VALID = ('a Jupyter notebook (.ipynb): one UTF-8 JSON object with "nbformat": 4 and a list '
          'of "cells", valid under the nbformat schema')
_COLAB = ("google.colab", "IPython")
_COMPREHENSIONS = {"listcomp", "setcomp", "dictcomp", "genexpr"}


class NotebookError(ValueError):
    """The file is not a notebook that can be graded.

    The message reads ``"<what>=<actual>, but should be <expected>"``.
    """


def _clip(text: object, limit: int = 60) -> str:
    """``text`` safe to show in a note: printable, one line, at most ``limit`` characters."""
    text = str(text)[: limit * 4]
    text = "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?"
                   for c in " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(path: str, what: str, actual: str, expected: str) -> NotebookError:
    return NotebookError(f"{what} of notebook {_clip(repr(path), 200)}={actual}, "
                         f"but should be {expected}")


# ----------------------------------------------------------------------------- reading


def _max_solution_bytes() -> int:
    from conformance.check.sandbox import MAX_SOLUTION_BYTES

    return MAX_SOLUTION_BYTES


def _read(path: str, limit: int) -> bytes:
    """The bytes of ``path``: a regular file of at most ``limit`` bytes, no symbolic link."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        actual = "a symbolic link" if os.path.islink(path) else _clip(exc.strerror or exc)
        raise _fail(path, "file", actual, "an existing regular file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, "file", "not a regular file", "an existing regular file")
        if info.st_size > limit:
            raise _fail(path, "size", f"{info.st_size} bytes", f"at most {limit} bytes")
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = handle.read(limit + 1)
    except OSError as exc:
        raise _fail(path, "file", f"unreadable ({_clip(exc.strerror or exc)})",
                    "a readable regular file") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise _fail(path, "size", f"more than {limit} bytes", f"at most {limit} bytes")
    return data


def _parse(path: str, data: bytes) -> dict:
    """The notebook in ``data`` as nbformat 4, validated, or a :class:`NotebookError`."""
    import json
    import warnings

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, "encoding", f"not UTF-8 (byte {exc.start})", _VALID) from None
    try:
        raw = json.loads(text)
    except RecursionError:
        raise _fail(path, "JSON", "nested too deeply", _VALID) from None
    except MemoryError:
        raise _fail(path, "JSON", "too large to parse", _VALID) from None
    except ValueError as exc:
        raise _fail(path, "JSON", f"invalid ({_clip(exc, 80)})", _VALID) from None
    del text
    if not isinstance(raw, dict):
        raise _fail(path, "JSON", f"a {type(raw).__name__}, not an object", _VALID)
    major, minor = raw.get("nbformat"), raw.get("nbformat_minor", 0)
    if type(major) is not int or major not in (3, 4):
        raise _fail(path, "nbformat", _clip(repr(major), 40), "4 (or 3, converted to 4)")
    if type(minor) is not int or minor < 0:
        raise _fail(path, "nbformat_minor", _clip(repr(minor), 40), "an integer >= 0")
    _check_cells(path, raw.get("cells"))
    try:
        import nbformat
    except ImportError:
        raise _fail(path, "reader", "missing (nbformat is not installed)",
                    "installed: pip install 'nbformat>=5.9'") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.from_dict(raw)
            if major == 3:
                nbformat.validate(nb, version=3)
                nb = nbformat.convert(nb, 4)
            nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise _fail(path, "structure", f"invalid ({_validation_detail(exc)})", _VALID) from None
    except RecursionError:
        raise _fail(path, "JSON", "nested too deeply", _VALID) from None
    except MemoryError:
        raise _fail(path, "JSON", "too large to parse", _VALID) from None
    except Exception as exc:  # noqa: BLE001 - any failure of the reader means "not a notebook"
        raise _fail(path, "structure", f"unreadable ({type(exc).__name__}: {_clip(exc)})",
                    _VALID) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise _fail(path, "cells", "missing", _VALID)
    _check_cells(path, nb["cells"])
    return nb


def _check_cells(path: str, cells: object) -> None:
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        raise _fail(path, "cells", f"{len(cells)} cells", f"at most {MAX_CELLS} cells")


def _validation_detail(exc: Exception) -> str:
    """Where and why the schema failed, without formatting the (learner-sized) instance."""
    try:
        where = "/".join(str(p) for p in list(getattr(exc, "absolute_path", ()))[:12])
        message = getattr(exc, "message", "") or type(exc).__name__
        return f"{_clip(where, 60) or 'top level'}: {_clip(message, 80)}"
    except Exception:  # noqa: BLE001 - a message, not a finding
        return "schema violation"


# ----------------------------------------------------------------------------- cells

_SURROGATES = re.compile("[\ud800-\udfff]")
_GRADE_MARK = re.compile(r"#\s?grade(?![\w-])", re.IGNORECASE)
_TARGET_DEF = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{TARGET}\b", re.MULTILINE)


@dataclass
class _Cell:
    number: int  # 1-based among all cells of the notebook
    text: str
    graded: bool


def _cells(nb: dict, notes: list[str]) -> list[_Cell]:
    """The code cells of ``nb`` with their text (defensive: validation is not trusted)."""
    cells = []
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            notes.append(f"cell {number}: skipped, its source is not text")
            continue
        source, count = _SURROGATES.subn("\ufffd", source)
        if count:
            notes.append(f"cell {number}: replaced {count} lone surrogate character(s) "
                         "with U+FFFD")
        source = source.replace("\r\n", "\n").replace("\r", "\n")
        metadata = cell.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        tagged = isinstance(tags, list) and any(
            isinstance(t, str) and t.strip().lower() == "grade" for t in tags)
        first = next((line for line in source.split("\n", 50)[:50] if line.strip()), "")
        marked = bool(_GRADE_MARK.match(first.lstrip()))
        cells.append(_Cell(number, source, tagged or marked))
    return cells


# ------------------------------------------------------------------- IPython syntax

_TOKEN = re.compile(r"""
    (?P<s3>'\'\'[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'\'\'|\Z)
         | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:\"\"\"|\Z))
  | (?P<s1>'[^'\\\n]*(?:\\.[^'\\\n]*)*(?:'|(?=\n)|\Z)
         | "[^"\\\n]*(?:\\.[^"\\\n]*)*(?:"|(?=\n)|\Z))
  | (?P<comment>\#[^\n]*)
  | (?P<brackets>[(\[{)\]}]+)
  | (?P<cont>\\\n)
  | (?P<nl>\n)
  | (?P<other>[^'"\#()\[\]{}\\\n]+|\\)
""", re.VERBOSE | re.DOTALL)
_IPYTHON_LINE = [
    ("shell/magic assignment", re.compile(r"[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[!%]")),
    ("line magic", re.compile(r"%")),
    ("shell line", re.compile(r"!")),
    ("help line", re.compile(r"\?|[\w.*%]+\s*\?{1,2}\s*$")),
]


def _ipython_lines(text: str) -> tuple[list[str], dict[int, str], list[str]]:
    """The lines of ``text``, the IPython lines among them (index: kind), and per line its
    last significant character (outside strings and comments; '' if none).

    Only lines that start a statement count (not inside a string or brackets, nor after a
    backslash), as IPython's own input transformers decide; a backslash at the end of an
    IPython line continues it.
    """
    lines = text.split("\n")
    kinds: dict[int, str] = {}
    last = [""] * len(lines)
    line, pos, depth, start = 0, 0, 0, True
    length = len(text)
    while pos < length:
        if start:
            start = False
            body = lines[line].lstrip()
            kind = next((k for k, rx in _IPYTHON_LINE if body and rx.match(body)), None)
            if kind is not None:
                while True:
                    kinds[line] = kind
                    pos += len(lines[line]) + 1
                    line += 1
                    if not lines[line - 1].endswith("\\") or line >= len(lines):
                        break
                start = True
                continue
        match = _TOKEN.match(text, pos)
        group, value = match.lastgroup, match.group()
        pos = match.end()
        if group == "nl":
            line += 1
            start = depth <= 0
        elif group == "cont":
            line += 1
        elif group == "comment":
            pass
        else:
            if group == "brackets":
                depth += len(value) - 2 * sum(map(value.count, ")]}"))
            newlines = value.count("\n") if group in ("s3", "s1") else 0
            line += newlines
            stripped = value.rstrip()
            if stripped:
                last[line] = stripped[-1] if group in ("brackets", "other") else "'"
    return lines, kinds, last


def _strip_ipython(cell: _Cell, notes: list[str]) -> tuple[str, ast.Module | None] | None:
    """The cell's text without IPython syntax (line count kept) and its parse (None: not
    valid Python), or None if the cell is dropped whole."""
    text = cell.text
    first = next((line.lstrip() for line in text.split("\n", 50)[:50] if line.strip()), "")
    if first.startswith("%%"):
        notes.append(f"cell {cell.number}: dropped the whole cell, it is a cell magic "
                     f"({_clip(first)})")
        return None
    module = _parsed(text)
    if module is not None or not any(c in text for c in "%!?"):
        return text, module
    lines, kinds, last = _ipython_lines(text)
    if not kinds:
        return text, None
    counts: dict[str, list[int]] = {}
    for index, kind in kinds.items():
        counts.setdefault(kind, []).append(index)
    for kind, indexes in counts.items():
        notes.append(f"cell {cell.number}: dropped {len(indexes)} {kind}"
                     f"{'s' if len(indexes) > 1 else ''} ({_clip(lines[indexes[0]].strip())})")
    blank = [("" if i in kinds else line) for i, line in enumerate(lines)]
    candidates = ["\n".join(blank)]
    # ``pass`` where a removed line would leave a block empty: after a line ending with ':'
    # (the last significant line), more indented, and before the block's next statement.
    significant = [i not in kinds and bool(last[i]) for i in range(len(lines))]
    following: list[int | None] = [None] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        following[i] = i if significant[i] else following[i + 1]
    with_pass = list(blank)
    previous = None
    for i, line in enumerate(lines):
        if i in kinds and previous is not None and last[previous] == ":":
            header = _indent(lines[previous])
            after = following[i + 1]
            if _indent(line) > header and (after is None or _indent(lines[after]) <= header):
                with_pass[i] = line[: len(line) - len(line.lstrip())] + "pass"
                previous = None
                continue
        if significant[i]:
            previous = i
    candidates.append("\n".join(with_pass))
    candidates.append("\n".join((line[: len(line) - len(line.lstrip())] + "pass"
                                 if i in kinds else line) for i, line in enumerate(lines)))
    for candidate in candidates:
        module = _parsed(candidate)
        if module is not None:
            return candidate, module
    return candidates[1], None  # still invalid: report the learner's own error, not ours


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def _parsed(text: str) -> ast.Module | None:
    """``text`` parsed, or None if it is not valid Python (or too deep to parse)."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _syntax_error(text: str) -> str:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {_clip(exc.msg, 60)}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return _clip(f"{type(exc).__name__}: {exc}", 60)
    return "none"

# --------------------------------------------------------------- top-level statements

_Span = tuple[int, int, int, "int | None"]  # first line, first byte column, last line, end


@dataclass
class _Stmt:
    """A top-level statement that may be kept: where it is, what it binds and reads."""

    position: int  # in notebook order, over all candidates
    cell: int  # index into the parsed cells
    span: _Span
    kind: str
    binds: set[str] = field(default_factory=set)
    updates: set[str] = field(default_factory=set)  # names it reads to update them
    star: bool = False
    reads_now: set[str] | None = None  # read while the statement runs (set lazily)
    reads_later: set[str] | None = None  # read when its functions are called


def _span(node: ast.stmt) -> _Span:
    """The lines and byte columns of ``node``, with its decorators (they start at column 0:
    a decorated definition at top level starts its line)."""
    decorators = getattr(node, "decorator_list", None)
    if decorators:
        return min(d.lineno for d in decorators), 0, node.end_lineno or node.lineno, \
            node.end_col_offset
    return node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset


def _segment(line: str, start: int | None, end: int | None) -> str:
    """``line[start:end]`` with ``start``/``end`` in UTF-8 bytes, as ``ast`` counts them."""
    raw = line.encode("utf-8")
    return raw[start or 0: len(raw) if end is None else end].decode("utf-8", "replace")


def _source(lines: list[str], span: _Span) -> str:
    first, col, last, end = span
    if first == last:
        return _segment(lines[first - 1], col, end)
    return "\n".join([_segment(lines[first - 1], col, None), *lines[first: last - 1],
                      _segment(lines[last - 1], 0, end)])


def _work(node: ast.stmt) -> str:
    """A short name of the top-level work a statement does, for notes."""
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Call):
            func, parts = node.value.func, []
            while isinstance(func, (ast.Attribute, ast.Call)):
                if isinstance(func, ast.Call):
                    parts.append("()")
                    func = func.func
                else:
                    parts.append("." + func.attr)
                    func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
                return f"call of {_clip(''.join(reversed(parts)), 40)}"
            return "call"
        return "expression"
    names = {"For": "for loop", "AsyncFor": "for loop", "While": "while loop",
             "With": "with block", "AsyncWith": "with block", "If": "if block",
             "Try": "try block", "TryStar": "try block", "Delete": "del", "Assert": "assert",
             "Raise": "raise", "Return": "return", "Global": "global", "Match": "match block",
             "Nonlocal": "nonlocal", "AnnAssign": "annotation without a value"}
    return names.get(type(node).__name__, type(node).__name__.lower())


def _target_names(target: ast.expr, stmt: _Stmt) -> None:
    if isinstance(target, ast.Name):
        stmt.binds.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _target_names(element, stmt)
    elif isinstance(target, ast.Starred):
        _target_names(target.value, stmt)
    else:  # an attribute or a subscript updates the object bound to its base name
        base = target
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if isinstance(base, ast.Name):
            stmt.binds.add(base.id)
            stmt.updates.add(base.id)


def _colab(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _COLAB)


def _classify(node: ast.stmt, stmt: _Stmt) -> str | None:
    """Fill in what ``stmt`` binds; None if it is a candidate, else why it is dropped."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                   else ["." * node.level + (node.module or "")])
        if any(_colab(m) for m in modules):
            return f"import of {_clip(', '.join(modules), 40)}, which only Colab and IPython provide"
        for alias in node.names:
            if alias.name == "*":
                stmt.star = True
            else:
                stmt.binds.add(alias.asname or alias.name.split(".")[0])
        return None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        stmt.binds.add(node.name)
        return None
    if isinstance(node, (ast.Assign, ast.AugAssign)) or (
            isinstance(node, ast.AnnAssign) and node.value is not None):
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
            _target_names(target, stmt)
        if isinstance(node, ast.AugAssign):
            stmt.updates |= stmt.binds
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                stmt.binds.add(sub.target.id)
        return None
    return _work(node)


def _reads(source: str) -> tuple[set[str], set[str]]:
    """The global names the statement ``source`` reads while it runs, and when functions it
    defines are called (from ``symtable``: names local to a function do not count)."""
    now: set[str] = set()
    later: set[str] = set()
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        module = _parsed(source)
        names = ({n.id for n in ast.walk(module) if isinstance(n, ast.Name)}
                 if module is not None else set())
        return names, set(names)
    stack: list[tuple[symtable.SymbolTable, str]] = [(table, "now")]
    while stack:
        scope, when = stack.pop()
        top = str(getattr(scope.get_type(), "value", scope.get_type())) == "module"
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and (top or symbol.is_global()):
                if when in ("now", "both"):
                    now.add(symbol.get_name())
                if when in ("later", "both"):
                    later.add(symbol.get_name())
        for child in scope.get_children():
            kind = str(getattr(child.get_type(), "value", child.get_type()))
            if kind == "class":
                stack.append((child, when))
            elif kind == "function" and child.get_name() == "genexpr":
                stack.append((child, "both" if when == "now" else when))
            elif kind == "function" and child.get_name() in _COMPREHENSIONS:
                stack.append((child, when))
            elif kind == "function":
                stack.append((child, "later" if when == "now" else when))
            else:  # annotation and type-parameter scopes (3.12+): either, to be safe
                stack.append((child, "both"))
    return now, later


# --------------------------------------------------------------------- the trace


class _Trace:
    """The candidates ``pure_state_update`` needs, by rule 6 of the module docstring."""

    def __init__(self, stmts: list[_Stmt], cells: list[list[str]]) -> None:
        self.stmts, self.cells = stmts, cells
        self.binders: dict[str, list[int]] = {}
        self.stars = [s.position for s in stmts if s.star]
        for s in stmts:
            for name in s.binds:
                self.binders.setdefault(name, []).append(s.position)
        self.kept: set[int] = set()
        self.unresolved: set[str] = set()
        self.budget = _WORK_BUDGET

    def run(self, target: int) -> bool:
        """Keep ``target`` and what it needs; False if the work budget ran out."""
        end = len(self.stmts)
        done: set[tuple[int, int]] = set()
        work = [(target, end)]
        while work:
            position, at = work.pop()
            self.kept.add(position)
            stmt = self.stmts[position]
            if stmt.reads_now is None:
                now, later = _reads(_source(self.cells[stmt.cell], stmt.span))
                stmt.reads_now, stmt.reads_later = now | stmt.updates, later
            uses = []
            for key, names, where in ((-1, stmt.reads_now, position),
                                      (at, stmt.reads_later, at), (end, stmt.reads_later, end)):
                if (position, key) not in done:
                    done.add((position, key))
                    uses += [(name, where) for name in sorted(names)]
            for name, where in uses:
                self.budget -= 1
                for binder in self._binders(name, where):
                    work.append((binder, where))
                if self.budget < 0:
                    return False
        return True

    def _binders(self, name: str, where: int) -> list[int]:
        """The bindings of ``name`` a look-up at ``where`` may see: the last one before it
        (with every earlier import of the name if it is an import), and the star imports
        between it and ``where``."""
        positions = self.binders.get(name, [])
        index = bisect.bisect_left(positions, where)
        found, low = [], -1
        if index:
            low = positions[index - 1]
            found.append(low)
            if self.stmts[low].kind == "import":
                found += [p for p in positions[: index - 1] if self.stmts[p].kind == "import"]
        else:
            self.unresolved.add(name)
        found += self.stars[bisect.bisect_right(self.stars, low):
                            bisect.bisect_left(self.stars, where)]
        self.budget -= len(found)
        return found


# --------------------------------------------------------------------- assembly


def _render(lines: list[str], spans: list[tuple[_Span, bool]]) -> list[str]:
    """``lines`` with the statements marked False blanked and the others in place (a line
    shared through ``;`` keeps the kept statements' parts)."""
    out = list(lines)
    sharing: dict[int, list[tuple[_Span, bool]]] = {}
    for span, keep in spans:
        for number in {span[0], span[2]}:
            sharing.setdefault(number, []).append((span, keep))
    touched: set[int] = set()  # each line rebuilt once: a line of 10**5 `;` stays linear
    for span, keep in spans:
        if keep:
            continue
        first, _, last, _ = span
        for number in range(first + 1, last):
            out[number - 1] = ""
        touched.update((first, last))
    for number in touched:
        parts = sorted(sharing[number], key=lambda item: (item[0][0], item[0][1]))
        pieces = [_segment(lines[number - 1], s[1] if s[0] == number else 0,
                           s[3] if s[2] == number else None) for s, k in parts if k]
        out[number - 1] = "; ".join(pieces)
    return out


def notebook_source(path: str, data: bytes | None = None) -> tuple[bytes, list[str]]:
    """The graded Python source of a notebook, and notes on what was left out.

    Args:
        path: the ``.ipynb`` file; untrusted, never executed.
        data: the file's bytes, if the caller read them already (a batch hashes and grades
            the same bytes); read from ``path`` otherwise.

    Returns:
        The UTF-8 source of one module built by the rules of the module docstring, and
        notes (short and printable) on the cells, lines and statements left out and why.

    Raises:
        NotebookError: the file is not a gradable notebook, or its code is too large.
    """
    limit = _max_solution_bytes()
    notes: list[str] = []
    if data is None:
        data = _read(path, NOTEBOOK_FACTOR * limit)
    elif len(data) > NOTEBOOK_FACTOR * limit:
        raise _fail(path, "size", f"{len(data)} bytes",
                    f"at most {NOTEBOOK_FACTOR * limit} bytes")
    nb = _parse(path, data)
    cells = _cells(nb, notes)
    del nb
    graded = [c for c in cells if c.graded]
    if graded:
        notes.append(f"notebook: grading only the {len(graded)} cell(s) marked for grading "
                     "(tag 'grade' or first line '#grade'); other code cells ignored")
        cells = graded
    if not cells:
        notes.append("notebook: no code cells")
    size = sum(len(c.text.encode("utf-8")) for c in cells)
    if size > limit:  # Python's parser takes seconds and ~600 bytes of memory per byte
        raise _fail(path, "code", f"{size} bytes", f"at most {limit} bytes, as a .py solution")

    parsed: list[tuple[_Cell, list[str], list[ast.stmt]]] = []
    for cell in cells:
        stripped = _strip_ipython(cell, notes)
        if stripped is None:
            continue
        text, module = stripped
        if module is None:
            if _TARGET_DEF.search(text):
                notes.append(f"cell {cell.number}: {TARGET} has a syntax error "
                             f"({_syntax_error(text)}); grading that cell alone")
                source = f"# --- notebook cell {cell.number} ---\n{text}\n"
                return _encoded(path, source, limit), _capped(notes)
            notes.append(f"cell {cell.number}: dropped, it is not valid Python "
                         f"({_syntax_error(text)})")
            continue
        parsed.append((cell, text.split("\n"), module.body))

    stmts: list[_Stmt] = []
    futures: list[str] = []
    dropped: dict[int, list[tuple[_Span, str, ast.stmt]]] = {}
    for index, (cell, _lines, body) in enumerate(parsed):
        for node in body:
            span = _span(node)
            why = ""  # dropped silently
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                futures += [a.name for a in node.names if a.name not in futures]
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                kind = "import" if isinstance(node, (ast.Import, ast.ImportFrom)) else (
                    "def" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.ClassDef)) else "assignment")
                stmt = _Stmt(len(stmts), index, span, kind)
                why = _classify(node, stmt)
                if why is None:
                    stmts.append(stmt)
                    continue
                notes.append(f"cell {cell.number}: dropped an {why} (line {node.lineno})"
                             if why.startswith("import of ") else
                             f"cell {cell.number}: dropped top-level work "
                             f"({why}, line {node.lineno})")
            dropped.setdefault(index, []).append((span, why, node))
        parsed[index] = (cell, _lines, [])  # the syntax tree is no longer needed

    targets = [s.position for s in stmts if TARGET in s.binds]
    if targets:
        trace = _Trace(stmts, [lines for _, lines, _ in parsed])
        if trace.run(targets[-1]):
            kept = trace.kept
            _note_unbound(trace.unresolved, parsed, dropped, notes)
        else:
            kept = set(range(len(stmts)))
            notes.append("notebook: too many definitions to trace; kept every import, "
                         "definition and assignment")
        left = len(stmts) - len(kept)
        if left:
            notes.append(f"notebook: left out {left} top-level statement(s) "
                         f"{TARGET} does not need")
    else:
        kept = {s.position for s in stmts if s.kind in ("import", "def")}
        notes.append(f"notebook: no top-level definition of {TARGET}; kept only imports, "
                     "functions and classes")
        _note_unbound({TARGET}, parsed, dropped, notes)

    out = [f"from __future__ import {', '.join(futures)}"] if futures else []
    spans: dict[int, list[tuple[_Span, bool]]] = {}
    for stmt in stmts:
        spans.setdefault(stmt.cell, []).append((stmt.span, stmt.position in kept))
    for index, (cell, lines, _) in enumerate(parsed):
        marks = spans.get(index, [])
        if not any(keep for _, keep in marks):
            continue
        marks += [(span, False) for span, _, _ in dropped.get(index, [])]
        lines = _render(lines, marks)
        while lines and not lines[-1].strip():
            lines.pop()
        out.append(f"# --- notebook cell {cell.number} ---")
        out.extend(lines)
    source = "\n".join(out) + "\n" if out else ""
    return _encoded(path, source, limit), _capped(notes)


def _note_unbound(names: set[str], parsed: list, dropped: dict, notes: list[str]) -> None:
    """Note each needed name that only dropped top-level work binds (a loop, a block...)."""
    if not names:
        return
    for index, items in sorted(dropped.items()):
        for _span_, why, node in items:
            if not why:
                continue
            bound = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
                elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    bound.add(sub.name)
            for name in sorted(bound & names):
                notes.append(f"cell {parsed[index][0].number}: {_clip(name, 40)!r} is bound "
                             f"only by dropped top-level work ({why}, line {node.lineno})")


def _encoded(path: str, source: str, limit: int) -> bytes:
    data = source.encode("utf-8", "replace")
    if len(data) > limit:
        raise _fail(path, "graded source", f"{len(data)} bytes", f"at most {limit} bytes")
    return data


def _capped(notes: list[str]) -> list[str]:
    """The notes by cell (the notebook's last), at most :data:`MAX_NOTES` of them."""
    def cell(note: str) -> float:
        match = re.match(r"cell (\d+):", note)
        return int(match.group(1)) if match else float("inf")

    notes = sorted(notes, key=cell)
    if len(notes) <= MAX_NOTES:
        return notes
    return notes[: MAX_NOTES - 1] + [f"... and {len(notes) - MAX_NOTES + 1} more notes"]
