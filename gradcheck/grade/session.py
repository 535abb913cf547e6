"""Grade one submission: load its functions, run every check, score it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..checking import check as run_check
from ..engine.finite_diff import EPS, step_size
from ..engine.verdict import random_direction
from ..errors import GradcheckError, SpecError
from ..findings import Kind, UserError
from ..report.model import Report
from . import notebooks
from .assignment import GradeSpec
from .proxy import remote_check
from .reproduce import reproduce_command, target_of
from .safetext import path_id
from .sandbox import Sandbox, SandboxError, SandboxTimeout
from .solution import call_trusted
from .speccheck import draw_dims, example_inputs

__all__ = ["grade_submission", "student_id", "unrun_record", "check_status", "STATUSES", "CHECK_STATUSES"]

#: A submission's ``status``.
STATUSES = ("ok", "failed", "timeout", "crashed", "import-error", "memory", "interrupted", "spec-error")
#: A check record's ``status``, one word a gradebook can key on (see the README's JSON schema).
CHECK_STATUSES = ("ok", "wrong", "error", "not-implemented", "timeout", "crashed", "memory", "import-error",
                  "interrupted", "spec-error")


def student_id(path: Path) -> str:
    """The student's name: the folder's, or the file's without ``.py`` (undecodable bytes as ``\\xNN``)."""
    return path_id(path.stem if path.is_file() else path.name)


def grade_submission(path: Path, specs: list[GradeSpec], *, seed: int, examples: int, timeout: float,
                     memory_mb: int) -> dict[str, Any]:
    """The JSON record of one submission; never raises for anything the submission does."""
    started = time.monotonic()
    record: dict[str, Any] = {
        "id": student_id(path), "score": 0.0, "max_score": sum(s.points for s in specs), "status": "ok",
        "seed": seed, "checks": [], "output": "", "time": 0.0,
    }
    sandbox = Sandbox(path, deadline=started + timeout, memory_mb=memory_mb, cpu_seconds=timeout + 1)
    pending = list(specs)
    notes: list[str] = []
    try:
        names = sorted({n for s in specs for n in s.student_names()})
        try:
            loaded = sandbox.call({"op": "load", "names": names})
        except SandboxTimeout:
            raise SandboxTimeout("importing the submission did not finish within its time limit "
                                 "(a training loop or input() at the top level of a module?)") from None
        found, import_errors = loaded.get("found") or {}, loaded.get("errors") or {}
        skipped = loaded.get("skipped") or {}
        notes = loaded.get("notes") or []
        while pending:
            gspec = pending[0]
            record["checks"].append(_grade_one(sandbox, gspec, found, import_errors, skipped, seed, examples,
                                               deadline=started + timeout))
            notebooks.annotate(record["checks"][-1], gspec.student_names(), found)
            pending.pop(0)
    except SandboxError as exc:
        for gspec in pending:
            record["checks"].append(unrun_record(gspec, exc.status, str(exc)))
        record["status"] = exc.status
    finally:
        sandbox.close()  # first: the worker has exited (flushing its prints) and its pipes are drained
        record["output"] = "\n".join(filter(None, [notebooks.notes_output(notes), sandbox.output()]))
        if notes:
            record["notes"] = notebooks.clean_notes(notes)
    record["score"] = round(sum(c["score"] for c in record["checks"]), 6)
    if record["status"] == "ok":
        record["status"] = _status(record["checks"])
    record["time"] = round(time.monotonic() - started, 3)
    return record


def _grade_one(sandbox: Sandbox, gspec: GradeSpec, found: dict[str, Any], import_errors: dict[str, Any], skipped: dict[str, Any], seed: int,
               examples: int, *, deadline: float) -> dict[str, Any]:
    missing = [n for n in gspec.student_names() if n not in found]
    if missing:
        if import_errors:
            message = "; ".join(f"{file}: {e.get('message')}" for file, e in import_errors.items())
            return unrun_record(gspec, "import-error", f"could not import the submission: {message}")
        in_skipped = {n: _file_name(skipped.get(n)) for n in missing if isinstance(skipped.get(n), str)}
        if in_skipped:
            files = sorted(set(in_skipped.values()))
            verb = "is" if len(in_skipped) == 1 else "are"
            return unrun_record(gspec, "import-error", f"{', '.join(in_skipped)} {verb} defined in {', '.join(files)}, "
                                "a file the grader never imports (it configures pytest or packaging): "
                                "move it to another file, e.g. layers.py")
        return unrun_record(gspec, "not-implemented", f"the submission defines no {', '.join(missing)}")
    try:
        check = remote_check(sandbox, gspec, {n: found[n]["params"] for n in gspec.student_names()})
    except GradcheckError as exc:  # the student's signature does not fit the spec (or, without a reference, the spec is wrong)
        return unrun_record(gspec, "error", f"{', '.join(gspec.student_names())} do not fit the assignment's "
                            f"declaration: {exc} (check the argument names the assignment asks for)")
    report = run_check(check, examples=examples, seed=seed, timeout=max(deadline - time.monotonic(), 0.01))
    if any(f.kind is Kind.TIMEOUT for f in report.findings):
        sandbox.kill()  # it may still be inside the call that ran out of time
        raise SandboxTimeout(f"{gspec.name} did not finish before the submission's time limit")
    spec_mistakes = [f.message for f in report.findings if f.kind is Kind.SPEC_ERROR]
    if spec_mistakes:  # the run exits 2: these results are not to be used
        return unrun_record(gspec, "spec-error", spec_mistakes[0])
    where = found.get(target_of(gspec))  # the worker's word: a dict, or anything
    out = _record(gspec, report, _file_name(where.get("module") if isinstance(where, dict) else None))
    if report.ok and (gspec.reference is not None or gspec.solution_forward is not None):
        try:
            mismatch = _compare_with_reference(check, gspec, report)
        except SpecMistake as exc:
            return unrun_record(gspec, "spec-error", str(exc))
        if mismatch:
            out.update(ok=False, score=0.0, errors=[*out["errors"], mismatch])
            out["findings"].append({"kind": Kind.FORWARD_MISMATCH.value, "params": [], "config": report.config,
                                    "message": mismatch})
    out["status"] = check_status(out)
    return out


class SpecMistake(Exception):
    """The instructor's code (the reference forward) failed: a ``spec-error``, never charged to the student."""


def _file_name(value: Any) -> str:
    """A file name the worker reported (it is the student's process: bounded, and a string)."""
    return value[:200] if isinstance(value, str) and value else "layers.py"


def check_status(check: dict[str, Any]) -> str:
    """One of :data:`CHECK_STATUSES` for a check record: why it earned less than full marks, if it did."""
    if check["ok"]:
        return "ok"
    kinds = {f["kind"] for f in check.get("findings", [])}
    for status in ("spec-error", "interrupted", "timeout", "crashed", "memory", "import-error", "not-implemented"):
        if status in kinds:
            return status
    wrong = any(p.get("status") in ("wrong", "shape") for p in check.get("params", {}).values())
    return "error" if "error" in kinds and not wrong else "wrong"


def _gradebook_fields(gspec: GradeSpec) -> dict[str, Any]:
    """What every check record has, run or not: the spec's name, its points, the student function checked."""
    return {"id": gspec.name, "name": gspec.name, "function": target_of(gspec),
            "points": gspec.points, "max_score": gspec.points, "required": gspec.required}


def _record(gspec: GradeSpec, report: Report, file_name: str) -> dict[str, Any]:
    if report.reproduce:  # a command the student can run, not a call that needs our decorators
        report.reproduce = reproduce_command(gspec, str(file_name), report.config, report.seed,
                                             nasty="nasty=True" in report.reproduce)
    out = {**report.to_dict(), **_gradebook_fields(gspec), "reproduce": report.reproduce}
    out["table"] = str(report)
    params = list(report.params.values())
    blocking = any(f.kind.voids_credit for f in report.findings)
    if report.ok:
        out["score"] = gspec.points
    elif blocking or not params:
        out["score"] = 0.0
    else:  # partial credit: the share of parameters whose gradient is right
        out["score"] = round(gspec.points * sum(p.ok for p in params) / len(params), 6)
    return out


def unrun_record(gspec: GradeSpec, kind: str, message: str) -> dict[str, Any]:
    """The record of a check that could not run; ``kind`` is its status (``timeout``, ``import-error``...)."""
    record = {**Report.not_run(gspec.name, kind, message).to_dict(), **_gradebook_fields(gspec), "score": 0.0,
              "table": f"{gspec.name}: {kind}: {message}"}
    record["status"] = check_status(record)
    return record


def _status(checks: list[dict[str, Any]]) -> str:
    kinds = {f["kind"] for c in checks for f in c["findings"]}
    for status in ("spec-error", "import-error", "memory"):
        if status in kinds:
            return status
    return "ok" if all(c["ok"] for c in checks) else "failed"


def _compare_with_reference(check: Any, gspec: GradeSpec, report: Report, tries: int = 3) -> str | None:
    """The student's forward must agree with the trusted one (a gradient check cannot tell).

    The trusted forward is the spec's ``reference=``, or else the solution's forward
    of the same name (``--solution``, see :mod:`.solution`).  Each drawn point is
    followed by points a small step away, where the *change* of the outputs must agree
    too: a forward that answers a nearby call by linearising around its last one, with
    its own (wrong) gradient, agrees with that gradient under finite differences and
    is right at every fresh point, but its changes are not the trusted forward's.
    """
    if not hasattr(check, "forward_outputs"):
        return None
    rng = np.random.default_rng(report.seed or 0)
    for _ in range(tries):
        dims = draw_dims(check, rng)
        values, others = example_inputs(check, dims, rng)
        at = _outputs_at(check, gspec, values, others, dims)
        if isinstance(at, str):
            return at
        for scale in (None, NEARBY):  # the probe-sized step first, right after the call at `values`
            near = _outputs_at(check, gspec, _nearby(values, rng, scale), others, dims)
            if isinstance(near, str):
                return near
            changed = _changed_differently(at, near)
            if changed is not None:
                return (f"output {changed} of {gspec.forward} changes differently from {_trusted_name(gspec)} a small "
                        f"step from {dict(dims)}, though it agrees at fresh inputs: a forward that answers a nearby "
                        f"call differently from a fresh one?")
    return None


#: How far the second point of a comparison is from the first, relative to the values; the
#: third is as far as a probe's first step goes, along a probe's kind of direction, so that a
#: forward cannot tell that comparison from a finite difference.
NEARBY = 1e-3

Outputs = tuple[list[np.ndarray], list[np.ndarray]]  # the student's, the trusted forward's


def _nearby(values: dict[str, Any], rng: np.random.Generator, scale: float | None) -> dict[str, Any]:
    """The same inputs, each float array moved by about ``scale`` of its size (None: a probe's step)."""
    out = dict(values)
    for name, value in values.items():
        if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.size:
            if scale is None:
                out[name] = value + step_size(value, EPS) * random_direction(rng, value.shape).astype(np.float64)
            else:
                out[name] = value + scale * max(float(np.abs(value).max()), 1.0) * rng.standard_normal(value.shape)
    return out


def _outputs_at(check: Any, gspec: GradeSpec, values: dict[str, Any], others: dict[str, Any], dims: Any,
                ) -> Outputs | str:
    """Both forwards' outputs at one point, or why the student's disagrees there."""
    try:
        theirs = check.forward_outputs(check.call_args(values, others))
    except UserError as exc:
        return f"{gspec.forward or gspec.fn} failed when compared with {_trusted_name(gspec)}: {exc.message}"
    expected = _trusted_outputs(gspec, check, values, others, dims, len(theirs))
    for i, (a, b) in enumerate(zip(theirs, expected)):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(b).max(initial=0)))):
            return (f"output {i} of {gspec.forward} differs from {_trusted_name(gspec)} at {dict(dims)}"
                    + (f" (shape {a.shape}, expected {b.shape})" if a.shape != b.shape else ""))
    return list(theirs), expected


def _changed_differently(at: Outputs, near: Outputs) -> int | None:
    """The first output whose change between the two points is not the trusted one's.

    The allowance is 1e-3 of the change plus four times the disagreement already seen
    at the first point (a float32 forward's rounding), so only a change of another
    size or direction counts, never rounding.
    """
    for i, (a0, b0, a1, b1) in enumerate(zip(*at, *near)):
        theirs, trusted = a1 - a0, b1 - b0
        allowed = (1e-3 * float(np.abs(trusted).max(initial=0)) + 4 * float(np.abs(a0 - b0).max(initial=0))
                   + 1e-12 * max(1.0, float(np.abs(b0).max(initial=0))))
        if float(np.abs(theirs - trusted).max(initial=0)) > allowed:
            return i
    return None


def _trusted_name(gspec: GradeSpec) -> str:
    return "the reference" if gspec.reference is not None else f"the solution's {gspec.forward}"


def _trusted_outputs(gspec: GradeSpec, check: Any, values: dict[str, Any], others: dict[str, Any], dims: Any,
                     count: int) -> list[np.ndarray]:
    """The trusted forward's first ``count`` outputs; :class:`SpecMistake` when it raises."""
    if gspec.reference is None:
        assert gspec.solution_forward is not None  # compared only when the check has one or the other
        try:
            return call_trusted(gspec, gspec.solution_forward, check.signature_names, check.call_args(values, others),
                                count, dims)
        except SpecError as exc:
            raise SpecMistake(str(exc)) from exc
    try:
        expected = gspec.reference(*check.call_args(values, others))
    except Exception as exc:  # the instructor's code: never the student's fault
        raise SpecMistake(f"the reference {getattr(gspec.reference, '__name__', 'forward')} raised "
                          f"{type(exc).__name__}: {exc} at {dict(dims)}") from exc
    return [np.asarray(e, dtype=np.float64) for e in expected[:count]]
