"""Users' files: importing them the way their own code would, and writing results files.

:func:`import_file` imports ``layers.py`` so that its sibling imports (``from layers
import ...``) and a package's relative imports work, and so that two files of the
same name in different folders (two students' ``layers.py``) stay two modules.
The plugin, the command line and the grader's spec loading all use it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from .declare.calls import describe_exception

__all__ = ["ImportFailed", "import_file", "write_atomically"]


class ImportFailed(Exception):
    """A user's module could not be imported; the message says why and where."""


def import_file(path: Path) -> ModuleType:
    """Import ``path`` as its siblings would see it; raise :class:`ImportFailed`."""
    path = path.resolve()
    root, name = _import_root_and_name(path)
    with _imports_from(root):
        try:
            return importlib.import_module(name)
        except BaseException as exc:  # SystemExit in a script, KeyboardInterrupt excluded below
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ImportFailed(f"could not import {path.name}: {describe_exception(exc)}") from None


def _import_root_and_name(path: Path) -> tuple[Path, str]:
    """``(folder to put on sys.path, dotted module name)`` for a file.

    A file in a package (folders with ``__init__.py``) is imported as
    ``package.module`` from the folder above the package, so relative imports work.
    A folder without ``__init__.py`` inside a package is part of it, as Python sees it
    (a namespace package: CS231n's ``cs231n/classifiers/``).
    """
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while _in_package(folder) and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _in_package(folder: Path) -> bool:
    """A package, or a folder of one that has no ``__init__.py`` of its own."""
    if (folder / "__init__.py").is_file():
        return True
    return folder.name.isidentifier() and (folder.parent / "__init__.py").is_file()


@contextmanager
def _imports_from(root: Path) -> Iterator[None]:
    """Resolve imports in ``root`` first, without leaking its names to later imports.

    Modules that ``root``'s files would shadow (another folder's ``layers``) are
    set aside during the import and put back afterwards; the modules imported
    from ``root`` keep working, because their functions hold their own globals.
    """
    local = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    aside = {
        name: module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in local and not _lives_in(module, root)
    }
    for name in aside:
        del sys.modules[name]
    cached = _FOLDERS.get(root, {})
    sys.modules.update(cached)
    already = set(sys.modules) - set(cached)  # imported before, by other means: leave them
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        # Keep this folder's modules for its next file, out of the next folder's way.
        mine = {
            n: m for n, m in sys.modules.items()
            if n not in already and n.split(".")[0] in local and _lives_in(m, root)
        }
        for name in mine:
            del sys.modules[name]
        _FOLDERS[root] = mine
        sys.modules.update(aside)


#: Modules imported from each folder, so sibling files share one ``layers``.
_FOLDERS: dict[Path, dict[str, ModuleType]] = {}


def _lives_in(module: ModuleType | None, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(root)
    except ValueError:
        return False
    return True


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that a reader never sees half a file under its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
