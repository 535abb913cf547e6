"""What the plugin collects: implementation modules, checks, and the items for what cannot run."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the report module is imported when a check runs, not at collection
    from ..report.model import Report

from .options import OPTIONS

__all__ = ["ImplementationModule", "CheckItem", "UndeclaredItem", "ImportErrorItem", "is_test_file", "MARK_KEYS"]

MARK_KEYS = ("examples", "seed", "timeout", "nasty", "mode", "rtol", "atol", "eps", "strict")


def is_test_file(path: Path, config: pytest.Config) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("python_files"))


class ImplementationModule(pytest.File):
    """A user's ``layers.py``: its declared checks, spec'd pairs, and undeclared ones."""

    def collect(self) -> Iterator[pytest.Item]:
        from ..declare.infer import Inferred
        from ..userfiles import ImportFailed, import_file
        from .collect import bound_as, declared_checks, inferred_checks

        try:
            module = import_file(self.path)
        except ImportFailed as exc:
            yield ImportErrorItem.from_parent(self, name="import", message=str(exc))
            return
        covered = set()
        for name, check in declared_checks(module):
            covered.add(name)
            yield CheckItem.from_parent(self, name=name, check=check, obj=getattr(module, name))
        for name, spec in self._specs().items():
            fn = vars(module).get(name)
            if name in covered or not (inspect.isfunction(fn) or inspect.isclass(fn)) or fn.__module__ != module.__name__:
                continue
            covered.add(name)
            yield self._from_spec(module, name, spec)
        for found in inferred_checks(module, skip=covered):  # undecorated code: inferred, or what is missing
            if isinstance(found, Inferred):
                yield CheckItem.from_parent(self, name=found.name, check=bound_as(found.check, found.name),
                                            obj=getattr(module, found.name))
            else:
                yield UndeclaredItem.from_parent(self, name=found.name, convention=found)

    def _from_spec(self, module: Any, name: str, spec: Any) -> pytest.Item:
        from ..errors import SpecError
        from .collect import bound_as, check_from_spec

        try:
            check = check_from_spec(module, name, spec)
        except SpecError as exc:
            return ImportErrorItem.from_parent(self, name=name, message=f"gradcheck_specs[{name!r}]: {exc}", kind="spec-error")
        return CheckItem.from_parent(self, name=name, check=bound_as(check, name), obj=getattr(module, name))

    def _specs(self) -> dict[str, Any]:
        """``gradcheck_specs`` of the conftest files above this file, then ``--gradcheck-spec``."""
        specs: dict[str, Any] = {}
        for plugin in self.config.pluginmanager.get_plugins():
            file = getattr(plugin, "__file__", None)
            table = getattr(plugin, "gradcheck_specs", None)
            if file and Path(file).name == "conftest.py" and isinstance(table, dict):
                if Path(file).resolve().parent in self.path.parents:
                    specs.update(table)
        specs.update(_spec_file(self.config))
        return specs


_SPEC_FILE = pytest.StashKey[dict[str, Any]]()


def _spec_file(config: pytest.Config) -> dict[str, Any]:
    if _SPEC_FILE not in config.stash:
        config.stash[_SPEC_FILE] = _load_spec_file(config.stash[OPTIONS].spec)
    return config.stash[_SPEC_FILE]


def _load_spec_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from ..userfiles import ImportFailed, import_file

    if not path.is_file():
        raise pytest.UsageError(f"--gradcheck-spec: no such file: {path}")
    try:
        module = import_file(path)
    except ImportFailed as exc:
        raise pytest.UsageError(f"--gradcheck-spec: {exc}") from None
    table = getattr(module, "gradcheck_specs", None)
    if not isinstance(table, dict):
        raise pytest.UsageError(
            f"--gradcheck-spec: {path.name} must define gradcheck_specs = {{'affine_backward': dict(shapes=...), ...}}"
        )
    return table


# -------------------------------------------------------------------- items


class CheckFailed(Exception):
    """A check ran and found something wrong; carries the Report."""

    def __init__(self, report: Any) -> None:
        super().__init__(report.name)
        self.report = report


class CheckItem(pytest.Item):
    """One declared check: runs the engine's search and shows its table on failure."""

    def __init__(self, *, check: Any, obj: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check
        self.obj = obj
        self.gradcheck_report: Report | None = None
        for mark in _marks_of(obj):  # @pytest.mark.* written on the declared function
            self.own_markers.append(mark)
            self.keywords[mark.name] = mark

    def runtest(self) -> None:
        from ..errors import SpecError
        from ..report.model import Report

        try:
            report = self._check()
        except SpecError as exc:  # a declaration that cannot run: still one record in the summary and JSON
            self.gradcheck_report = Report.not_run(self.name, "spec-error", str(exc))
            raise
        inferred = getattr(self.check, "inferred", None)
        if inferred:  # undecorated code: say the check was inferred, and from what
            from ..findings import Finding, Kind

            report.findings.insert(0, Finding(Kind.INFERRED, inferred["source"]))
        self.gradcheck_report = report
        if not report.ok:
            raise CheckFailed(report)

    def _check(self) -> Report:
        from ..checking import check

        options = self.config.stash[OPTIONS]
        tuned = self._marker_kwargs()
        seed = tuned.get("seed", options.seed)
        return check(
            self.check,
            examples=tuned.get("examples", options.examples),
            seed=seed,
            timeout=tuned.get("timeout", options.timeout),
            nasty=bool(tuned.get("nasty", options.nasty)),
            mode=tuned.get("mode", options.mode),
            rtol=tuned.get("rtol"),
            atol=tuned.get("atol"),
            eps=tuned.get("eps"),
            strict=bool(tuned.get("strict", options.strict)),
        )

    def _marker_kwargs(self) -> dict[str, Any]:
        mark = self.get_closest_marker("gradcheck")
        if mark is None:
            return {}
        if mark.args or set(mark.kwargs) - set(MARK_KEYS):
            raise pytest.UsageError(
                f"{self.nodeid}: @pytest.mark.gradcheck takes only keyword arguments "
                f"{', '.join(MARK_KEYS)}; got args={mark.args} kwargs={sorted(mark.kwargs)}"
            )
        return dict(mark.kwargs)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from ..errors import GradcheckError

        if isinstance(excinfo.value, CheckFailed):
            return self._failure_text(excinfo.value.report)
        if isinstance(excinfo.value, (GradcheckError, pytest.UsageError)):
            return f"{self.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def _failure_text(self, report: Any) -> str:
        from ..report.render import render

        lines = render(report)
        inferred = getattr(self.check, "inferred", None)
        if inferred and self.config.get_verbosity() > 0:
            lines += ["  inferred declaration:"] + ["    " + line for line in inferred["declaration"].splitlines()]
        if report.seed is not None:
            implementation = "--gradcheck " if isinstance(self.parent, ImplementationModule) else ""
            lines.append(f"  rerun: pytest {implementation}'{self.nodeid}' --gradcheck-seed {report.seed}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, _first_line(self.obj), f"gradcheck: {self.name}"


class UndeclaredItem(pytest.Item):
    """Something checkable whose declaration could not be inferred: skipped, saying what is missing and the fix."""

    def __init__(self, *, convention: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.convention = convention

    def runtest(self) -> None:
        pytest.skip(self.convention.message)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, max(self.convention.line - 1, 0), f"gradcheck: {self.name} (not declared)"


class ImportErrorItem(pytest.Item):
    """A module that could not be imported, or a spec that is wrong: one failed item."""

    def __init__(self, *, message: str, kind: str = "import-error", **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message
        self.kind = kind

    def runtest(self) -> None:
        raise _ImportProblem(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, _ImportProblem):
            return self.message
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, f"gradcheck: {self.path.name}" if self.kind == "import-error" else f"gradcheck: {self.name}"


class _ImportProblem(Exception):
    pass


def _marks_of(obj: Any) -> list[Any]:
    marks = getattr(obj, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    return [getattr(m, "mark", m) for m in marks if isinstance(getattr(m, "mark", m), pytest.Mark)]


def _first_line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(obj)[1] - 1
    except (OSError, TypeError):
        return 0
