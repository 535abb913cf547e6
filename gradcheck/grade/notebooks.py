"""Jupyter notebooks as submissions: their code cells, run as one module, cell by cell.

Runs inside the untrusted worker (a notebook is JSON the student wrote: it is parsed
in the sandbox, never in the grader).  ``nbformat`` reads the file; it is an optional
dependency (``pip install gradcheck[grade]``), imported only when a notebook is met.

What a notebook holds that is not Python is skipped and said so: IPython line
magics (``%matplotlib inline``), shell lines (``!pip install ...``), help queries
(``np.sum?``) and whole cells under a cell magic (``%%time``).  A cell that is not
valid Python is skipped with a note naming it; the other cells still load.  A
statement that raises (``import matplotlib`` where it is not installed, a plot of
data that is not there) is skipped with a note and the cell goes on: a function a
student defined below an experiment that fails in the sandbox is still graded.
Code compiled from a cell carries the file name ``hw.ipynb[cell 3]``, so messages
read ``hw.ipynb[cell 3]:4``; cells are numbered from 1, Markdown cells included,
as they appear in the notebook.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NotebookModule", "NotebookUnreadable", "load_into", "load_notebook", "strip_ipython", "notebook_paths",
           "reader_missing", "check_reader", "annotate", "clean_notes", "notes_output", "INSTALL_HINT"]

INSTALL_HINT = "pip install gradcheck[grade]"

#: ``%magic ...`` and ``!shell ...``, alone or assigned (``files = !ls``); ``obj?`` and ``??obj``.
_LINE_MAGIC = re.compile(r"^(\s*)(?:[%!]|[\w.]+\s*=\s*[%!])")
_HELP = re.compile(r"^(\s*)(?:\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")


class NotebookUnreadable(Exception):
    """The file is not a notebook nbformat can read (or nbformat is not installed)."""


@dataclass
class NotebookModule:
    """A notebook loaded as a module, with where each name came from and what was skipped."""

    module: types.ModuleType
    defined_in: dict[str, str] = field(default_factory=dict)  # name -> "hw.ipynb, cell 3"
    notes: list[str] = field(default_factory=list)  # what was skipped, cell by cell
    cell_errors: dict[str, str] = field(default_factory=dict)  # "hw.ipynb, cell 4" -> the error
    sources: dict[str, str] = field(default_factory=dict)  # "hw.ipynb, cell 4" -> its code


def notebook_paths(folder: Path) -> list[Path]:
    """The notebooks of a submission folder (checkpoint copies are in a sub-folder, never read)."""
    return sorted(folder.glob("*.ipynb"))


def reader_missing() -> str | None:
    """Why notebooks cannot be read here, or None when ``nbformat`` is installed."""
    try:
        import nbformat  # noqa: F401
    except ImportError:
        return f"reading .ipynb notebooks needs the nbformat package, which is not installed: {INSTALL_HINT}"
    return None


def check_reader(submissions: list[Path]) -> None:
    """Raise a clear error before grading when notebooks were submitted and cannot be read here."""
    from ..errors import GradcheckError

    has_notebook = any(p.suffix == ".ipynb" or (p.is_dir() and notebook_paths(p)) for p in submissions)
    problem = reader_missing() if has_notebook else None
    if problem:
        raise GradcheckError(f"some submissions are notebooks, and {problem}")


def load_into(folder: Path, names: list[str], namespace: dict[str, Any], found: dict[str, dict[str, Any]],
              errors: dict[str, dict[str, Any]], params: Any) -> list[str]:
    """The worker's loading of notebooks: define the ``names`` still missing; the notes, cell by cell.

    ``found``/``errors`` are the worker's load reply, completed in place: a name found
    records its cell; a cell that failed and defines a missing name is an import error.
    """
    notes: list[str] = []
    for path in notebook_paths(folder):
        wanted = [n for n in names if n not in found]
        if not wanted:
            break
        try:
            loaded = load_notebook(path, "_notebook_" + re.sub(r"\W", "_", path.stem))
        except NotebookUnreadable as exc:
            errors[path.name] = {"kind": "error", "message": str(exc)}
            continue
        notes += loaded.notes
        for name in wanted:
            obj = loaded.module.__dict__.get(name)
            if callable(obj):
                namespace[name] = obj
                found[name] = {"module": path.name, "cell": loaded.defined_in.get(name), "params": params(obj)}
        for label, message in loaded.cell_errors.items():
            if any(n not in found and _defines(loaded.sources[label], n) for n in wanted):
                errors[label] = {"kind": "error", "message": message}
    return notes


def load_notebook(path: Path, module_name: str) -> NotebookModule:
    """Run the code cells of ``path`` as the module ``module_name``; never raises for a cell."""
    cells = _code_cells(path)
    module = types.ModuleType(module_name, f"code cells of {path.name}")
    module.__file__ = str(path)
    module.__dict__.update(get_ipython=_NoIPython, display=_ignore)  # what notebooks call that Jupyter provides
    sys.modules[module_name] = module
    loaded = NotebookModule(module)
    for number, source in cells:
        _run_cell(loaded, path.name, number, source)
    return loaded


def _code_cells(path: Path) -> list[tuple[int, str]]:
    """(cell number from 1, source) of every code cell."""
    problem = reader_missing()
    if problem:
        raise NotebookUnreadable(f"{path.name}: {problem}")
    import nbformat

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        notebook = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call, unused-ignore]
        cells = list(notebook.cells)
    except Exception as exc:  # not JSON, not a notebook, an unknown version...
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise NotebookUnreadable(f"{path.name} is not a notebook Jupyter can open ({detail})") from None
    out = []
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append((number, "".join(source) if isinstance(source, list) else str(source)))
    return out


def _run_cell(loaded: NotebookModule, file_name: str, number: int, source: str) -> None:
    label = f"{file_name}, cell {number}"
    loaded.sources[label] = source
    code, skipped = strip_ipython(source)
    loaded.notes.extend(f"{label}{', ' if note.startswith('line ') else ': '}{note}" for note in skipped)
    if not code.strip():
        return
    filename = f"{file_name}[cell {number}]"
    try:
        tree = ast.parse(code, filename)
    except SyntaxError as exc:
        message = f"SyntaxError: {exc.msg} (line {exc.lineno})"
        loaded.notes.append(f"{label}: skipped, it is not valid Python: {message}")
        loaded.cell_errors[label] = message
        return
    for statement in tree.body:
        before = dict(loaded.module.__dict__)
        try:
            exec(compile(ast.Module([statement], []), filename, "exec"), loaded.module.__dict__)
        except Exception as exc:  # a failing experiment: noted; the definitions around it stay
            message = f"{type(exc).__name__}: {_safe_str(exc)}"
            loaded.notes.append(f"{label}, line {statement.lineno}: skipped the statement, it raised {message}")
            loaded.cell_errors.setdefault(label, message)
        for name, value in loaded.module.__dict__.items():
            if before.get(name, _UNSET) is not value:
                loaded.defined_in[name] = label


def strip_ipython(source: str) -> tuple[str, list[str]]:
    """The cell's Python, with IPython-only lines replaced by ``pass``; and a note per line skipped.

    Line numbers are kept, so messages point at the cell's own lines.  If replacing
    lines breaks code that was valid Python (a ``%`` that continues an expression),
    the cell is kept as it was.
    """
    lines = source.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        return "", [f"skipped the whole cell: it runs under the cell magic {first.split()[0]}"]
    out, notes = [], []
    for number, line in enumerate(lines, start=1):
        match = _LINE_MAGIC.match(line) or _HELP.match(line)
        if match:
            notes.append(f"line {number}: skipped `{line.strip()[:80]}` ({_what(line)})")
            out.append(match.group(1) + "pass")
        else:
            out.append(line)
    code = "\n".join(out)
    if notes and _parses(source) and not _parses(code):
        return source, []
    return code, notes


def _what(line: str) -> str:
    if _HELP.match(line):
        return "an IPython help query"
    magic = line.split("=", 1)[1].lstrip() if _LINE_MAGIC.match(line) and line.lstrip()[0] not in "%!" else line.lstrip()
    return "a shell command" if magic.startswith("!") else "an IPython magic"


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", code, re.M) is not None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


_UNSET = object()


class _NoIPython:
    """What ``get_ipython()`` returns outside Jupyter here: every method does nothing."""

    def __getattr__(self, name: str) -> Any:
        return _ignore


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:300]
    except Exception:
        return f"<{type(exc).__name__}>"


# -- the grader's side: nothing below runs student code or reads a notebook ------------


def annotate(record: dict[str, Any], names: list[str], found: dict[str, Any]) -> None:
    """Name, in a check record, the notebook cell each checked function came from."""
    cells = {n: found[n]["cell"][:200] for n in names
             if isinstance(found.get(n), dict) and isinstance(found[n].get("cell"), str)}
    if not cells:
        return
    record["defined_in"] = cells
    where = "; ".join(f"{name} from {cell}" for name, cell in cells.items())
    record["table"] = f"{record.get('table', '')}\n  {where}"


def clean_notes(notes: Any) -> list[str]:
    """The worker's notes, bounded (the worker is untrusted: a list of short strings, or nothing)."""
    if not isinstance(notes, list):
        return []
    return [n[:300] for n in notes[:200] if isinstance(n, str)]


def notes_output(notes: Any) -> str:
    """The notes on what was skipped in a notebook, as a section of the submission's output."""
    kept = clean_notes(notes)
    return "--- notebook: skipped ---\n" + "\n".join(kept) if kept else ""
