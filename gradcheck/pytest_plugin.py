"""The pytest plugin, loaded through the ``pytest11`` entry point.

- In test modules, every check declared there (``@gc.backward_of`` ...) is one
  item, next to the module's ordinary tests.
- ``--gradcheck PATH...`` (or the ini key ``gradcheck_paths``) imports
  implementation modules (``layers.py``) and collects the checks they declare,
  checks the undeclared ``X_forward``/``X_backward`` pairs a spec is given for,
  and lists the others as found but not checked, with the line to add.
- Options ``--gradcheck-examples/-seed/-timeout/-json/-spec/-ci``, each also an
  ini key; the marker ``@pytest.mark.gradcheck(examples=..., seed=..., timeout=...)``.

Nothing heavy is imported until a check is collected, so the plugin costs
nothing in a project that does not use gradcheck.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import secrets
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SEED_RANGE = 2**31
_MARK_KEYS = ("examples", "seed", "timeout", "nasty", "mode")


# ----------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks of hand-written backward passes")
    group.addoption(
        "--gradcheck", action="extend", nargs="+", default=None, dest="gradcheck_paths", metavar="PATH",
        help="import these implementation files or folders and check every gradient declared in them",
    )
    group.addoption("--gradcheck-examples", dest="gradcheck_examples", metavar="N",
                    help="examples per check (default 50)")
    group.addoption("--gradcheck-seed", dest="gradcheck_seed", metavar="S",
                    help="seed of every check: the same seed gives the same examples and verdicts")
    group.addoption("--gradcheck-timeout", dest="gradcheck_timeout", metavar="SECONDS",
                    help="end a check that runs longer, as a failure of kind timeout")
    group.addoption("--gradcheck-json", dest="gradcheck_json", metavar="FILE",
                    help="write one JSON record per check to FILE")
    group.addoption("--gradcheck-spec", dest="gradcheck_spec", metavar="FILE",
                    help="a Python file whose gradcheck_specs declares checks for undecorated functions")
    group.addoption("--gradcheck-ci", dest="gradcheck_ci", action="store_const", const="true",
                    help="CI profile: fixed seed 0 unless given, no example database, no deadline")
    group.addoption("--gradcheck-nasty", dest="gradcheck_nasty", action="store_const", const="true",
                    help="put half of the drawn values on exact zeros, ties and round bounds (kinks)")
    group.addoption("--gradcheck-mode", dest="gradcheck_mode", choices=("auto", "probe", "full"), default=None,
                    help="auto: probes, then every entry of small reported examples and bisection on large ones; "
                         "probe: probes and bisection only; full: every entry of the reported example")
    group.addoption("--gradcheck-grade", dest="gradcheck_grade", metavar="SPEC",
                    help="grade the submissions in --gradcheck-submissions against this assignment spec")
    group.addoption("--gradcheck-submissions", dest="gradcheck_submissions", metavar="DIR",
                    help="one sub-folder or .py file per student (with --gradcheck-grade)")
    parser.addini("gradcheck_paths", type="paths", default=[],
                  help="implementation files or folders to check, as with --gradcheck")
    for key, text in [
        ("gradcheck_examples", "examples per check"),
        ("gradcheck_seed", "seed of every check"),
        ("gradcheck_timeout", "time limit of one check, in seconds"),
        ("gradcheck_json", "write one JSON record per check to this file"),
        ("gradcheck_spec", "a Python file whose gradcheck_specs declares checks"),
        ("gradcheck_ci", "true: fixed seed, no example database"),
        ("gradcheck_nasty", "true: draw values on kinks and ties too"),
        ("gradcheck_mode", "auto, probe or full"),
    ]:
        parser.addini(key, text, default=None)


@dataclass
class Options:
    """The plugin's settings, read once from the command line and ini file."""

    paths: list[Path] = field(default_factory=list)
    examples: int | None = None
    seed: int = 0
    seed_given: bool = False
    timeout: float | None = None
    json: Path | None = None
    spec: Path | None = None
    ci: bool = False
    nasty: bool = False
    mode: str = "auto"

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        def value(key: str) -> Any:
            given = config.getoption(key, None)
            return given if given is not None else config.getini(key)

        here = config.invocation_params.dir
        paths = [here / p for p in (config.getoption("gradcheck_paths") or [])] + list(config.getini("gradcheck_paths"))
        for path in paths:
            if not path.exists():
                raise pytest.UsageError(f"--gradcheck: no such file or folder: {path}")
        ci = _parse(value("gradcheck_ci"), "gradcheck_ci", _boolean) or False
        seed = _parse(value("gradcheck_seed"), "--gradcheck-seed", int)
        seed_given = seed is not None
        if seed is None:
            seed = _hypothesis_seed(config)
            seed_given = seed is not None
        if seed is None:
            seed = 0 if ci else secrets.randbelow(SEED_RANGE)
        return cls(
            paths=[p.resolve() for p in paths],
            examples=_parse(value("gradcheck_examples"), "--gradcheck-examples", _positive_int),
            seed=seed,
            seed_given=seed_given,
            timeout=_parse(value("gradcheck_timeout"), "--gradcheck-timeout", _positive_float),
            json=_parse(value("gradcheck_json"), "--gradcheck-json", lambda t: here / t),
            spec=_parse(value("gradcheck_spec"), "--gradcheck-spec", lambda t: here / t),
            ci=ci,
            nasty=_parse(value("gradcheck_nasty"), "gradcheck_nasty", _boolean) or False,
            mode=_parse(value("gradcheck_mode"), "gradcheck_mode", _mode) or "auto",
        )


def _parse(text: Any, name: str, convert) -> Any:
    if text is None or text == "":
        return None
    try:
        return convert(str(text).strip())
    except ValueError as exc:
        raise pytest.UsageError(f"{name}: {exc}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a positive number of seconds, got {text}")
    return value


def _mode(text: str) -> str:
    if text not in ("auto", "probe", "full"):
        raise ValueError(f"expected auto, probe or full, got {text!r}")
    return text


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _hypothesis_seed(config: pytest.Config) -> int | None:
    """Respect ``--hypothesis-seed`` when no gradcheck seed is given."""
    given = config.getoption("hypothesis_seed", None)
    if given is None:
        return None
    text = str(given)
    return int(text) % SEED_RANGE if text.lstrip("-").isdigit() else zlib.crc32(text.encode()) % SEED_RANGE


# ----------------------------------------------------------------- configure

_OPTIONS = pytest.StashKey[Options]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(examples=None, seed=None, timeout=None, nasty=False, mode='auto'): tune one declared check",
    )
    options = Options.from_config(config)
    worker = getattr(config, "workerinput", None)
    if worker is not None and "gradcheck_seed" in worker:
        options.seed, options.seed_given = worker["gradcheck_seed"], worker["gradcheck_seed_given"]
    config.stash[_OPTIONS] = options
    _add_paths_to_collect(config, options)
    _add_grading(config, options)
    config.pluginmanager.register(Results(config, options), "gradcheck-results")


def _add_paths_to_collect(config: pytest.Config, options: Options) -> None:
    """Collect the ``--gradcheck`` paths: alone, or beside paths given explicitly."""
    cli_paths = config.getoption("gradcheck_paths") or []
    if not options.paths:
        return
    here = config.invocation_params.dir
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    args = list(config.args) if explicit or not cli_paths else []
    present = {(here / a.split("::")[0]).resolve() for a in args}
    args += [str(p) for p in options.paths if p not in present]
    config.args[:] = args


def _add_grading(config: pytest.Config, options: Options) -> None:
    """``--gradcheck-grade SPEC --gradcheck-submissions DIR``: one item per submission."""
    spec, folder = config.getoption("gradcheck_grade"), config.getoption("gradcheck_submissions")
    if not spec and not folder:
        return
    if not (spec and folder):
        raise pytest.UsageError("--gradcheck-grade SPEC and --gradcheck-submissions DIR go together")
    here = config.invocation_params.dir
    spec_path, folder_path = (here / spec).resolve(), (here / folder).resolve()
    if not spec_path.is_file():
        raise pytest.UsageError(f"--gradcheck-grade: no such assignment spec: {spec}")
    if not folder_path.is_dir():
        raise pytest.UsageError(f"--gradcheck-submissions: no such folder: {folder}")
    from .grade.pytest_grading import GradePlugin

    config.pluginmanager.register(GradePlugin(spec_path, folder_path, seed=options.seed if options.seed_given else 0,
                                              examples=options.examples or 30, timeout=options.timeout or 60.0),
                                  "gradcheck-grading")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = []
    config.args.append(str(spec_path))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker checks with the controller's seed."""
    options = node.config.stash[_OPTIONS]
    node.workerinput["gradcheck_seed"] = options.seed
    node.workerinput["gradcheck_seed_given"] = options.seed_given


# ------------------------------------------------------------------ collect


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A check declared in a test module is one item (never also a test function)."""
    try:
        check = getattr(obj, "__gradcheck__", None)
    except Exception:  # objects whose attribute access raises are not ours
        return None
    if check is None or not isinstance(collector, pytest.Module):
        return None
    from .adapters import Check

    if not isinstance(check, Check) or check.declared_in is not vars(collector.obj):
        return None
    seen = collector.stash.setdefault(_SEEN, set())
    if id(check) in seen:
        return []  # the same check under a second name
    seen.add(id(check))
    return CheckItem.from_parent(collector, name=check.name, check=check, obj=obj)


_SEEN = pytest.StashKey[set]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if parent.session.isinitpath(file_path):
        return None  # pytest's python plugin asks pytest_pycollect_makemodule for it
    return _implementation_module(file_path, parent)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``--gradcheck`` file named on the command line is ours, not a test module."""
    return _implementation_module(module_path, parent)


def _implementation_module(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    options = parent.config.stash.get(_OPTIONS, None)
    if options is None or not options.paths or path.suffix != ".py":
        return None
    path = path.resolve()
    if not any(path == p or p in path.parents for p in options.paths):
        return None
    if path.name == "conftest.py" or _is_test_file(path, parent.config):
        return None  # pytest collects test modules itself, with their checks
    return ImplementationModule.from_parent(parent, path=path)


def _is_test_file(path: Path, config: pytest.Config) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("python_files"))


class ImplementationModule(pytest.File):
    """A user's ``layers.py``: its declared checks, spec'd pairs, and undeclared ones."""

    def collect(self):
        from .collect import ImportFailed, conventions, declared_checks, import_file

        try:
            module = import_file(self.path)
        except ImportFailed as exc:
            yield ImportErrorItem.from_parent(self, name="import", message=str(exc))
            return
        covered = set()
        for name, check in declared_checks(module):
            covered.add(name)
            yield CheckItem.from_parent(self, name=check.name, check=check, obj=getattr(module, name))
        for name, spec in self._specs().items():
            fn = vars(module).get(name)
            if name in covered or not (inspect.isfunction(fn) or inspect.isclass(fn)) or fn.__module__ != module.__name__:
                continue
            covered.add(name)
            yield self._from_spec(module, name, spec)
        for found in conventions(module, skip=covered):
            yield UndeclaredItem.from_parent(self, name=found.name, convention=found)

    def _from_spec(self, module, name: str, spec: Any) -> pytest.Item:
        from .collect import check_from_spec
        from .errors import SpecError

        try:
            check = check_from_spec(module, name, spec)
        except SpecError as exc:
            return ImportErrorItem.from_parent(self, name=name, message=f"gradcheck_specs[{name!r}]: {exc}", kind="spec-error")
        return CheckItem.from_parent(self, name=check.name, check=check, obj=getattr(module, name))

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


_SPEC_FILE = pytest.StashKey[dict]()


def _spec_file(config: pytest.Config) -> dict[str, Any]:
    if _SPEC_FILE not in config.stash:
        config.stash[_SPEC_FILE] = _load_spec_file(config.stash[_OPTIONS].spec)
    return config.stash[_SPEC_FILE]


def _load_spec_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from .collect import ImportFailed, import_file

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

    def __init__(self, report):
        super().__init__(report.name)
        self.report = report


class CheckItem(pytest.Item):
    """One declared check: runs the engine's search and shows its table on failure."""

    def __init__(self, *, check: Any, obj: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check
        self.obj = obj
        self.gradcheck_report = None
        for mark in _marks_of(obj):  # @pytest.mark.* written on the declared function
            self.own_markers.append(mark)
            self.keywords[mark.name] = mark

    def runtest(self) -> None:
        from .runner import check

        options = self.config.stash[_OPTIONS]
        tuned = self._marker_kwargs()
        seed = tuned.get("seed", options.seed)
        report = check(
            self.check,
            examples=tuned.get("examples", options.examples),
            seed=seed,
            timeout=tuned.get("timeout", options.timeout),
            database=None if (options.ci or options.seed_given or "seed" in tuned) else _profile_database(),
            nasty=bool(tuned.get("nasty", options.nasty)),
            mode=tuned.get("mode", options.mode),
        )
        self.gradcheck_report = report
        if not report.ok:
            raise CheckFailed(report)

    def _marker_kwargs(self) -> dict[str, Any]:
        mark = self.get_closest_marker("gradcheck")
        if mark is None:
            return {}
        if mark.args or set(mark.kwargs) - set(_MARK_KEYS):
            raise pytest.UsageError(
                f"{self.nodeid}: @pytest.mark.gradcheck takes only keyword arguments "
                f"{', '.join(_MARK_KEYS)}; got args={mark.args} kwargs={sorted(mark.kwargs)}"
            )
        return dict(mark.kwargs)

    def repr_failure(self, excinfo, style=None):
        from .errors import GradcheckError

        if isinstance(excinfo.value, CheckFailed):
            return self._failure_text(excinfo.value.report)
        if isinstance(excinfo.value, (GradcheckError, pytest.UsageError)):
            return f"{self.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def _failure_text(self, report) -> str:
        from .report import render

        lines = render(report)
        if report.seed is not None:
            lines.append(f"  rerun: pytest '{self.nodeid}' --gradcheck-seed {report.seed}")
        return "\n".join(lines)

    def reportinfo(self):
        return self.path, _first_line(self.obj), f"gradcheck: {self.name}"


class UndeclaredItem(pytest.Item):
    """A forward/backward pair or class found without a declaration: skipped, with the fix."""

    def __init__(self, *, convention: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.convention = convention

    def runtest(self) -> None:
        pytest.skip(self.convention.message)

    def reportinfo(self):
        return self.path, max(self.convention.line - 1, 0), f"gradcheck: {self.name} (not declared)"


class ImportErrorItem(pytest.Item):
    """A module that could not be imported, or a spec that is wrong: one failed item."""

    def __init__(self, *, message: str, kind: str = "import-error", **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message
        self.kind = kind

    def runtest(self) -> None:
        raise _ImportProblem(self.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, _ImportProblem):
            return self.message
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"gradcheck: {self.path.name}" if self.kind == "import-error" else f"gradcheck: {self.name}"


class _ImportProblem(Exception):
    pass


def _marks_of(obj: Any) -> list:
    marks = getattr(obj, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    return [getattr(m, "mark", m) for m in marks if isinstance(getattr(m, "mark", m), pytest.Mark)]


def _first_line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(obj)[1] - 1
    except (OSError, TypeError):
        return 0


def _profile_database():
    """The example database of the active hypothesis profile (replays past failures)."""
    from hypothesis import settings

    return settings.default.database


# ------------------------------------------------------------------ reports


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach a JSON-safe record to the report, so it reaches the xdist controller."""
    report = yield
    if call.when == "call":
        if isinstance(item, CheckItem) and item.gradcheck_report is not None:
            record = item.gradcheck_report.to_dict()
            record["id"] = item.nodeid
            report.gradcheck = record
        elif isinstance(item, ImportErrorItem):
            report.gradcheck = _error_record(item)
        elif isinstance(item, UndeclaredItem):
            report.gradcheck_undeclared = {"id": item.nodeid, "name": item.name, "message": item.convention.message}
    return report


def _error_record(item: ImportErrorItem) -> dict[str, Any]:
    return {
        "id": item.nodeid, "name": item.name, "ok": False, "config": {}, "examples": 0, "seed": None,
        "errors": [item.message], "params": {},
        "findings": [{"kind": item.kind, "params": [], "config": {}, "message": item.message}],
    }


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    record = getattr(report, "gradcheck", None)
    if record and report.when == "call" and report.passed and record.get("ok"):
        errors = [p["max_rel_error"] for p in record["params"].values() if isinstance(p["max_rel_error"], float)]
        worst = f", max rel err {max(errors):.1e}" if errors else ""
        return "passed", ".", (f"PASSED ({record['examples']} examples{worst})", {"green": True})
    return None


class Results:
    """Gathers the records on the controller; writes the summary and the JSON file."""

    def __init__(self, config: pytest.Config, options: Options):
        self.config = config
        self.options = options
        self.records: dict[str, dict] = {}
        self.undeclared: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "gradcheck", None)
        if record is not None:
            record = dict(record)
            expected = getattr(report, "wasxfail", None)
            if report.failed or expected is not None:
                record["ok"] = False
            if expected is not None:
                record["expected_failure"] = expected or True
            self.records[report.nodeid] = record
        undeclared = getattr(report, "gradcheck_undeclared", None)
        if undeclared is not None:
            self.undeclared[report.nodeid] = undeclared

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            if isinstance(item, UndeclaredItem):
                self.undeclared.setdefault(item.nodeid, {"id": item.nodeid, "name": item.name,
                                                         "message": item.convention.message})

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.records and not self.undeclared:
            return
        tr = terminalreporter
        tr.write_sep("=", "gradcheck summary")
        failed = [r for r in self.records.values() if not r["ok"] and "expected_failure" not in r]
        expected = [r for r in self.records.values() if "expected_failure" in r]
        counts = f"{len(self.records)} checks, {len(failed)} failed" + (f", {len(expected)} failed as expected" if expected else "")
        tr.write_line(f"{counts}; seed {self.options.seed} (rerun with --gradcheck-seed {self.options.seed})")
        for record in failed:
            tr.write_line(f"FAILED {record['id']}: {_what_failed(record)}", red=True)
        for record in expected:
            tr.write_line(f"XFAIL {record['id']}: {_what_failed(record)}", yellow=True)
        for item in self.undeclared.values():
            tr.write_line(f"NOT CHECKED {item['id']}: {item['message']}", yellow=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.options.json is None or hasattr(self.config, "workerinput"):
            return  # only the controller writes, once
        data = {
            "seed": self.options.seed,
            "checks": [self.records[k] for k in sorted(self.records)],
            "not_checked": [self.undeclared[k] for k in sorted(self.undeclared)],
        }
        path = self.options.json
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(partial, path)


def _what_failed(record: dict) -> str:
    wrong = [name for name, p in record["params"].items() if not p["ok"]]
    kinds = sorted({f["kind"] for f in record.get("findings", []) if f["kind"] not in ("mismatch", "kink-excluded")})
    parts = []
    if wrong:
        parts.append("wrong " + ", ".join(wrong))
    parts += kinds
    dims = ", ".join(f"{k}={v}" for k, v in record["config"].items())
    return "; ".join(parts or ["failed"]) + (f" (at {dims})" if dims else "")
