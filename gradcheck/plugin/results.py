"""The session's results: records from every item (under xdist too), the summary, the JSON file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..findings import Kind
from ..userfiles import write_atomically
from .items import ImportErrorItem, UndeclaredItem
from .options import Options

__all__ = ["Results", "error_record", "undeclared_record"]


def error_record(item: ImportErrorItem) -> dict[str, Any]:
    from ..report.model import Report

    return {**Report.not_run(item.name, item.kind, item.message).to_dict(), "id": item.nodeid}


def undeclared_record(item: UndeclaredItem) -> dict[str, Any]:
    """What the JSON says of something not checked: what could not be inferred, and what to add."""
    found = item.convention  # a NotInferred
    return {"id": item.nodeid, "name": item.name, "message": found.message, "missing": list(found.missing),
            "declaration": found.declaration}


class Results:
    """Gathers the records on the controller; writes the summary and the JSON file."""

    def __init__(self, config: pytest.Config, options: Options):
        self.config = config
        self.options = options
        self.records: dict[str, dict[str, Any]] = {}
        self.undeclared: dict[str, dict[str, Any]] = {}

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
                self.undeclared.setdefault(item.nodeid, undeclared_record(item))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
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
        inferred = [r for r in self.records.values() if "inferred" in r]
        if inferred and self.config.get_verbosity() > 0:  # -v: the declarations the checks were inferred as
            for record in inferred:
                tr.write_line(f"INFERRED {record['id']}: {record['inferred']['source']}")
                for line in record["inferred"]["declaration"].splitlines():
                    tr.write_line(f"    {line}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # only the controller writes, once
        data = {
            "seed": self.options.seed,
            "checks": [self.records[k] for k in sorted(self.records)],
            "not_checked": [self.undeclared[k] for k in sorted(self.undeclared)],
        }
        if self.options.json is not None:
            write_atomically(self.options.json, json.dumps(data, indent=2) + "\n")
        if self.options.html is not None:  # the same data, drawn (gradcheck.report.html)
            from ..report.html import render_checks_page

            write_atomically(self.options.html, render_checks_page(data))




def _what_failed(record: dict[str, Any]) -> str:
    # Each failed parameter under its own verdict, as the table says it ("not-implemented W",
    # not "wrong W; not-implemented"); then the kinds of finding that no parameter's verdict names.
    by_status: dict[str, list[str]] = {}
    for name, p in record["params"].items():
        if not p["ok"] and p.get("status") != "unchecked":  # not compared: the finding says why
            by_status.setdefault(p.get("status") or "wrong", []).append(name)
    kinds = sorted({f["kind"] for f in record.get("findings", []) if Kind(f["kind"]).summarized} - set(by_status))
    parts = [f"{status} {', '.join(names)}" for status, names in by_status.items()]
    parts += kinds
    dims = ", ".join(f"{k}={v}" for k, v in record["config"].items())
    return "; ".join(parts or ["failed"]) + (f" (at {dims})" if dims else "")
