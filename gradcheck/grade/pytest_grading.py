"""Grading through pytest: ``pytest --gradcheck-grade assignment.py --gradcheck-submissions subs/``.

One item per submission (``assignment.py::alice``), graded exactly as
``gradcheck grade`` does (sandboxed, scored); it fails when any check does, with
each check's verdict and table as the failure.  Submissions are never collected
by pytest itself: their ``conftest.py`` and test files are not loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .grader import find_submissions, seed_for
from .session import grade_submission, student_id


class GradePlugin:
    def __init__(self, spec: Path, folder: Path, *, seed: int, examples: int, timeout: float, vary_seed: bool = False):
        self.spec, self.folder = spec, folder
        self.settings: dict[str, Any] = dict(seed=seed, examples=examples, timeout=timeout, vary_seed=vary_seed)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if module_path.resolve() == self.spec:
            return AssignmentFile.from_parent(parent, path=module_path, plugin=self)
        return None

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.resolve() == self.spec and not parent.session.isinitpath(file_path):
            return AssignmentFile.from_parent(parent, path=file_path, plugin=self)
        return None


class AssignmentFile(pytest.File):
    def __init__(self, *, plugin: GradePlugin, **kwargs: Any):
        super().__init__(**kwargs)
        self.plugin = plugin

    def collect(self) -> Iterator[pytest.Item]:
        from ..errors import SpecError
        from .assignment import load_assignment
        from .speccheck import spec_problems

        try:
            specs = load_assignment(self.plugin.spec)
            submissions = find_submissions(self.plugin.folder)
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None
        problems = spec_problems(specs)  # a spec mistake is never charged to the students
        if problems:
            raise self.CollectError("\n".join([*problems, "nothing was graded: fix the spec first"]))
        for path in submissions:
            yield SubmissionItem.from_parent(self, name=student_id(path), submission=path, specs=specs)


class SubmissionItem(pytest.Item):
    def __init__(self, *, submission: Path, specs: list[Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.submission, self.specs = submission, specs
        self.record: dict[str, Any] | None = None

    def runtest(self) -> None:
        assert isinstance(self.parent, AssignmentFile)  # the only parent it is created under
        s = self.parent.plugin.settings
        self.record = grade_submission(self.submission, self.specs, seed=seed_for(self.name, s["seed"], s["vary_seed"]),
                                       examples=s["examples"], timeout=s["timeout"], memory_mb=2048)
        if any(not c["ok"] for c in self.record["checks"]):
            raise SubmissionFailed(self.record)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from .writers import cell

        if not isinstance(excinfo.value, SubmissionFailed):
            return super().repr_failure(excinfo, style=style)
        record = excinfo.value.record
        lines = [f"{record['id']}: {record['status']}, score {record['score']:g}/{record['max_score']:g}"]
        for check in record["checks"]:
            lines.append(f"  {check['id']}: {cell(check)}")
            if not check["ok"]:
                lines += ["    " + line for line in check["table"].splitlines()]
        if record.get("output"):
            lines += ["  output of the submission:"] + ["    " + line for line in record["output"].splitlines()[:40]]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"grade {self.name}"


class SubmissionFailed(Exception):
    def __init__(self, record: dict[str, Any]):
        super().__init__(record["id"])
        self.record = record
