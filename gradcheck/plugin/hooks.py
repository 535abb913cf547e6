"""The pytest plugin, loaded through the ``pytest11`` entry point.

- In test modules, every check declared there (``@gc.backward_of`` ...) is one
  item, next to the module's ordinary tests.
- ``--gradcheck PATH...`` (or the ini key ``gradcheck_paths``) imports
  implementation modules (``layers.py``) and collects the checks they declare,
  checks undecorated code whose shapes its docstrings or annotations say (or that a
  spec declares), and lists the rest as not checked, with the declaration to add.
- Options ``--gradcheck-examples/-seed/-timeout/-json/-html/-spec/-ci/-nasty/-mode/-strict``,
  each also an ini key (:mod:`.options`); the marker ``@pytest.mark.gradcheck(examples=...,
  seed=..., timeout=..., nasty=..., mode=..., rtol=..., atol=..., eps=..., strict=...)``.
- Items in :mod:`.items`; the summary, JSON and HTML files in :mod:`.results`.

Nothing heavy is imported until a check is collected, so the plugin costs
nothing in a project that does not use gradcheck.
"""


from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .items import (
    CheckItem,
    ImplementationModule,
    ImportErrorItem,
    UndeclaredItem,
    is_test_file,
)
from .options import OPTIONS, Options, add_options
from .results import Results, error_record, undeclared_record


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(examples=None, seed=None, timeout=None, nasty=False, mode='auto', rtol=None, atol=None, eps=None, "
        "strict=False): tune one declared check",
    )
    options = Options.from_config(config)
    worker = getattr(config, "workerinput", None)
    if worker is not None and "gradcheck_seed" in worker:
        options.seed, options.seed_given = worker["gradcheck_seed"], worker["gradcheck_seed_given"]
    config.stash[OPTIONS] = options
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
    selected = {Path(n.split("::")[0]) for n in options.node_ids}
    args += [str(p) for p in options.paths if p not in present | selected] + options.node_ids
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
    from ..grade.pytest_grading import GradePlugin

    config.pluginmanager.register(GradePlugin(spec_path, folder_path, seed=options.seed if options.seed_given else 0,
                                              examples=options.examples or 30, timeout=options.timeout or 60.0),
                                  "gradcheck-grading")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = []
    config.args.append(str(spec_path))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker checks with the controller's seed."""
    options = node.config.stash[OPTIONS]
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
    from ..declare.check import Check
    from .collect import bound_as, collected_in

    if not isinstance(check, Check) or not collected_in(check, vars(collector.obj)):
        return None
    seen = collector.stash.setdefault(_SEEN, set())
    if id(check) in seen:
        return []  # the same check under a second name
    seen.add(id(check))

    return CheckItem.from_parent(collector, name=name, check=bound_as(check, name), obj=obj)


_SEEN = pytest.StashKey[set[int]]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if parent.session.isinitpath(file_path):
        return None  # pytest's python plugin asks pytest_pycollect_makemodule for it
    return _implementation_module(file_path, parent)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``--gradcheck`` file named on the command line is ours, not a test module."""
    return _implementation_module(module_path, parent)


def _implementation_module(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    options = parent.config.stash.get(OPTIONS, None)
    if options is None or not options.paths or path.suffix != ".py":
        return None
    path = path.resolve()
    if not any(path == p or p in path.parents for p in options.paths):
        return None
    if path.name == "conftest.py" or is_test_file(path, parent.config):
        return None  # pytest collects test modules itself, with their checks
    return ImplementationModule.from_parent(parent, path=path)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach a JSON-safe record to the report, so it reaches the xdist controller."""
    report = yield
    if call.when == "call":
        if isinstance(item, CheckItem) and item.gradcheck_report is not None:
            record = item.gradcheck_report.to_dict()
            record["id"] = item.nodeid
            if getattr(item.check, "inferred", None):
                record["inferred"] = dict(item.check.inferred)
            # Extra attributes of a report travel with it to the xdist controller.
            report.gradcheck = record  # type: ignore[attr-defined]
        elif isinstance(item, ImportErrorItem):
            report.gradcheck = error_record(item)  # type: ignore[attr-defined]
        elif isinstance(item, UndeclaredItem):
            report.gradcheck_undeclared = undeclared_record(item)  # type: ignore[attr-defined]
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    record = getattr(report, "gradcheck", None)
    if record and report.when == "call" and report.passed and record.get("ok"):
        errors = [p["max_rel_error"] for p in record["params"].values() if isinstance(p["max_rel_error"], float)]
        worst = f", max rel err {max(errors):.1e}" if errors else ""
        return "passed", ".", (f"PASSED ({record['examples']} examples{worst})", {"green": True})
    return None
