"""The ``gradcheck`` command (also ``python -m gradcheck``).

- ``gradcheck demo``: check the bundled reference models (correct ones and the
  buggy ones from real forum threads) and print their reports.
- ``gradcheck check FILE.py::NAME ...``: check declared functions from a file;
  ``gradcheck check layers.py``: every check in the file, declared or inferred.
- ``gradcheck suggest layers.py [--write]``: print the declarations inferred from
  docstrings and annotations (``--write`` inserts them into the file).
- ``gradcheck grade --spec SPEC SUBMISSIONS/``: grade a folder of student submissions.
- ``gradcheck autograder SPEC --solution SOLUTION -o autograder.zip``: a Gradescope autograder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import __version__
from .checking import check, check_at
from .declare.calls import describe_exception
from .declare.check import get_check
from .errors import GradcheckError
from .userfiles import ImportFailed, import_file, write_atomically

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = Any

DESCRIPTION = """\
Gradient checks for hand-written NumPy backpropagation: searches shapes and values
for a configuration where backward disagrees with forward, names the wrong
parameter and entries, and grades folders of student submissions.

examples:
  gradcheck demo                                 the bundled models, correct and buggy
  gradcheck check layers.py::affine_backward     a declared check in your file
  gradcheck check layers.py                      every check of a file, declared or inferred
  gradcheck suggest layers.py --write            the decorators inferred from docstrings, written in
  gradcheck grade --spec spec.py submissions/    a class, each submission sandboxed
  gradcheck autograder spec.py --solution sol/   a Gradescope autograder.zip
  pytest --gradcheck layers.py                   the same checks as pytest items
"""

#: (module, target, expected to pass, what it shows) for ``gradcheck demo``.
DEMO = [
    ("gradcheck.reference_models.affine", "affine_backward", True, "affine layer"),
    ("gradcheck.reference_models.affine", "affine_backward_mean_bias", False, "db = dout.mean(0): wrong once N >= 2"),
    ("gradcheck.reference_models.relu", "relu_backward", True, "ReLU, mask x > 0"),
    ("gradcheck.reference_models.relu", "relu_backward_ge", True, "ReLU, mask x >= 0 (another valid sub-gradient)"),
    ("gradcheck.reference_models.softmax_loss", "softmax_loss", True, "softmax cross-entropy returning (loss, dx)"),
    ("gradcheck.reference_models.mlp", "nn_cost", True, "two-layer network on an unrolled theta"),
    ("gradcheck.reference_models.mlp", "nn_cost_flipped_sigmoid", False, "seed 003: sigmoid written 1/(1+exp(z))"),
    ("gradcheck.reference_models.mlp", "nn_cost_output_derivative", False, "seed 001: output delta times f'(z) with cross-entropy"),
    ("gradcheck.reference_models.char_rnn", "make_char_rnn", True, "char RNN with BPTT"),
    ("gradcheck.reference_models.char_rnn", "make_char_rnn_buggy", False, "seed 002: BPTT adds dHin[t], not dHin[t+1]"),
    ("gradcheck.reference_models.rnn", "make_fixed_recurrent_layer", True, "per-step recurrent layer, fixed calc_delta_k"),
    ("gradcheck.reference_models.rnn", "make_recurrent_layer", False, "seed 000: calc_delta_k reads state_list[k+1], in place"),
    ("gradcheck.reference_models.rnn_cell", "rnn_cell_backward", True, "seed 004: RNN cell with a dict of parameters"),
    ("gradcheck.reference_models.rnn_cell", "rnn_cell_backward_flat_bias", False, "dba without keepdims: right values, wrong shape"),
    ("gradcheck.reference_models.min_char_rnn", "lossFun", True, "min-char-rnn: global parameters, clipped gradients"),
    ("gradcheck.reference_models.class_layers", "make_full_connected_layer", True, "class layer storing -dL/dW (sign=-1)"),
    ("gradcheck.reference_models.class_layers", "make_conv_layer", True, "filters[i].weights / weights_grad, scalar biases"),
    ("gradcheck.reference_models.two_layer_net", "make_two_layer_net", True, "model.params and model.loss(X, y)"),
    ("gradcheck.reference_models.two_layer_net", "make_two_layer_net_no_reg_grad", False, "dW1 without its regularisation"),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="check the bundled reference models and print their reports")
    _add_run_options(demo)
    demo.add_argument("--html", type=Path, help="also write the reports as one HTML page, the bugs as pictures")
    run = sub.add_parser("check", help="check FILE.py (all its checks, declared or inferred), FILE.py::NAME "
                                       "or package.module:NAME")
    run.add_argument("targets", nargs="+", metavar="TARGET")
    _add_run_options(run)
    run.add_argument("--spec", type=Path, help="an assignment spec declaring the targets (no decorator needed)")
    run.add_argument("--at", metavar="DIMS", help="check one configuration, like --at N=1,D=2 (no search)")
    run.add_argument("--nasty", action="store_true", help="with --at: the nasty values of that example")
    suggest = sub.add_parser("suggest", help="print the declarations inferred from docstrings and annotations")
    suggest.add_argument("file", type=Path, help="a .py file of undecorated layers")
    suggest.add_argument("--write", action="store_true", help="insert the inferred decorators into the file")
    _add_grade_parser(sub)
    _add_autograder_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "grade":
            return _grade(args)
        if args.command == "suggest":
            return _suggest(args)
        if args.command == "spec":
            return _spec_check(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "autograder":
            return _autograder(args)
        return _check(args)
    except GradcheckError as err:
        print(f"gradcheck: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gradcheck check layers.py | head -1`: the reader has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise for SIGPIPE
        return 1


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=_positive_int, default=None, help="examples per check (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _add_grade_parser(sub: Subparsers) -> None:
    grade = sub.add_parser("grade", help="grade a folder of student submissions against an assignment spec")
    grade.add_argument("submissions", type=Path, help="one sub-folder or .py file per student")
    grade.add_argument("--spec", type=Path, required=True, help="the assignment: a file with CHECKS = [gc.spec(...)]")
    grade.add_argument("--jobs", type=_positive_int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    grade.add_argument("--memory", type=_positive_int, default=2048, help="MB of memory per submission (default 2048)")
    grade.add_argument("--examples", type=_positive_int, default=50, help="examples per check (default 50)")
    grade.add_argument("--seed", type=int, default=0, help="seed of every check (default 0: the same for everyone)")
    grade.add_argument("--vary-seed", action="store_true", help="a different seed per student, derived from --seed")
    grade.add_argument("--isolation", choices=("auto", "namespaces", "userns", "uid", "none"), default="auto",
                       help="how submissions are kept from the grader and each other (default auto: the strongest "
                            "this machine permits, refusing if none is; 'none' grades without isolation and every "
                            "output says so). See README, 'Threat model'")
    _add_output_options(grade)
    grade.add_argument("-v", "--verbose", action="store_true", help="print each failed check's per-parameter table")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument("--shard", metavar="K/N", help="grade the K-th of N shares of the class (merge the "
                       "shards' --json with gradcheck merge)")
    grade.add_argument("--solution", type=Path, help="the instructor's solution: graded first, nobody is graded "
                       "unless it gets full marks; each student's forward is compared with its forward of the same "
                       "name where the spec has no reference= (.py solutions)")
    merge = sub.add_parser("merge", help="merge the --json of shards (gradcheck grade --shard K/N) into one run's")
    merge.add_argument("shards", nargs="+", type=Path, help="the JSON of every shard")
    _add_output_options(merge)
    merge.add_argument("-v", "--verbose", action="store_true", help="print each failed check's per-parameter table")
    spec = sub.add_parser("spec", help="check an assignment spec: gradcheck spec check spec.py --solution DIR")
    spec.add_argument("action", choices=["check"])
    spec.add_argument("spec", type=Path, help="the assignment: a file with CHECKS = [gc.spec(...)]")
    spec.add_argument("--solution", type=Path, help="the instructor's solution, which must get full marks (and "
                      "whose forwards are tried as references)")
    spec.add_argument("--timeout", type=float, default=60.0, help="seconds for the solution (default 60)")
    spec.add_argument("--memory", type=_positive_int, default=2048, help="MB of memory (default 2048)")
    spec.add_argument("--examples", type=_positive_int, default=50, help="examples per check (default 50)")
    spec.add_argument("--seed", type=int, default=0, help="seed of every check (default 0)")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="write the full results as JSON")
    parser.add_argument("--junitxml", type=Path, help="write JUnit XML, one test suite per student")
    parser.add_argument("--summary", type=Path, help="write a Markdown summary ($GITHUB_STEP_SUMMARY)")
    parser.add_argument("--gradescope", type=Path, help="write Gradescope's results.json (one submission)")
    parser.add_argument("--html", type=Path, help="write a class dashboard: score histogram, pass rates, "
                                                  "common mistakes, every student's reports")


def _add_autograder_parser(sub: Subparsers) -> None:
    build = sub.add_parser("autograder", help="build a Gradescope autograder zip for an assignment spec")
    build.add_argument("spec", type=Path, help="the assignment: a file with CHECKS = [gc.spec(...)]")
    build.add_argument("--solution", type=Path, required=True,
                       help="your solution (folder, .py or .ipynb): graded first, it must earn full marks")
    build.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"),
                       help="the zip to write (default autograder.zip)")
    build.add_argument("--include", type=Path, nargs="*", default=[], metavar="FILE",
                       help="more files the spec imports (the .py files beside it are included already)")
    build.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    build.add_argument("--memory", type=_positive_int, default=2048, help="MB of memory per submission (default 2048)")
    build.add_argument("--examples", type=_positive_int, default=50, help="examples per check (default 50)")
    build.add_argument("--seed", type=int, default=0, help="seed of every check (default 0)")


def _autograder(args: argparse.Namespace) -> int:
    from .grade.assignment import load_assignment
    from .grade.autograder import AutograderSettings, build_autograder
    from .grade.solution import unreferenced_checks

    if args.timeout <= 0:
        raise GradcheckError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    settings = AutograderSettings(timeout=args.timeout, memory_mb=args.memory, examples=args.examples, seed=args.seed)
    build_autograder(args.spec, args.solution, args.output, settings, include=args.include)
    print(f"{args.solution} gets full marks against {args.spec.name}; wrote {args.output} "
          "(upload it as the assignment's autograder on Gradescope)")
    unchecked = unreferenced_checks(load_assignment(args.spec))
    if unchecked:  # the zip never holds the solution: its forwards cannot be the reference there
        print(f"note: on Gradescope, the forwards of {', '.join(unchecked)} are compared with nothing trusted (the "
              "zip never holds your solution): a wrong forward whose backward is its exact derivative gets full "
              "marks; to compare them, give reference= in the spec (a .py file beside it is bundled)")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .grade import grader, merge

    if args.timeout <= 0:
        raise GradcheckError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    everyone = grader.find_submissions(args.submissions)
    if args.gradescope and len(everyone) != 1:
        raise GradcheckError(f"--gradescope writes the results of exactly one submission, and {args.submissions} "
                             f"holds {len(everyone)}: grade each one on its own")
    shard = merge.parse_shard(args.shard) if args.shard else None
    _isolate(args.isolation)
    if _spec_gate(args):
        return 2
    progress = None if args.quiet else _progress_bar
    result = grader.grade_folder(args.spec, args.submissions, jobs=args.jobs, seed=args.seed,
                                 vary_seed=args.vary_seed, examples=args.examples, timeout=args.timeout,
                                 memory_mb=args.memory, progress=progress,
                                 select=(lambda subs: merge.shard_of(subs, shard)) if shard else None,
                                 isolation=args.isolation, solution=args.solution)
    if shard:
        from .grade.session import student_id

        result["shard"] = merge.shard_info([student_id(p) for p in everyone], shard)
    if progress and sys.stderr.isatty():
        print(file=sys.stderr)
    return _finish(result, args)


def _merge(args: argparse.Namespace) -> int:
    """``gradcheck merge SHARD.json... --json ...``: the shards' results as one run's."""
    from .grade import merge

    return _finish(merge.merge_results(merge.load_results(args.shards)), args)


def _finish(result: dict[str, Any], args: argparse.Namespace) -> int:
    """Print and write the results; the exit code of the run."""
    from .grade import gate, grader, writers
    from .grade.solution import forward_lines

    def table(result: dict[str, Any]) -> str:
        # The isolation first: the table's last line is the totals and the time.
        isolation = f"isolation: {result['isolation']} ({result['isolation_detail']})\n" if "isolation" in result else ""
        forwards = "".join(f"{line}\n" for line in forward_lines(result))
        return isolation + forwards + writers.console_table(result, verbose=args.verbose)

    outputs = [(table, None, "the console table"), (writers.write_json, args.json, "--json"),
               (writers.write_junit, args.junitxml, "--junitxml"), (writers.write_markdown, args.summary, "--summary"),
               (writers.write_gradescope, args.gradescope, "--gradescope"),
               (_write_dashboard, args.html, "--html")]
    with _deferred_interrupts() as interrupts:
        failed = _write_outputs(result, outputs)
        failed += _stamp_isolation(args, result)
    failures = grader.required_failures(result)
    for student, check_name in failures:
        print(f"required check failed: {student}: {check_name}", file=sys.stderr)
    spec_errors = gate.spec_errors(result)
    for line in spec_errors:
        print(f"spec error: {line}", file=sys.stderr)
    if spec_errors:
        print("gradcheck: these are mistakes of the spec, not of the students: fix the spec and grade again "
              "(`gradcheck spec check SPEC --solution DIR` finds most before grading)", file=sys.stderr)
    if result["interrupted"] or interrupts:
        return 130
    return 2 if failed or spec_errors else (1 if failures else 0)


def _spec_gate(args: argparse.Namespace) -> list[str]:
    """Spec mistakes and what the solution fails, printed; nobody is graded when there are any."""
    from .grade import gate
    from .grade.assignment import load_assignment

    problems = gate.gate_problems(load_assignment(args.spec), args.solution, seed=args.seed,
                                  examples=args.examples, timeout=args.timeout, memory_mb=args.memory)
    for line in problems:
        print(f"gradcheck: {line}", file=sys.stderr)
    if problems:
        print(f"gradcheck: {args.spec} cannot grade anyone until this is fixed; nothing was graded", file=sys.stderr)
    return problems


def _spec_check(args: argparse.Namespace) -> int:
    """``gradcheck spec check SPEC [--solution DIR]``: the gate alone."""
    if args.timeout <= 0:
        raise GradcheckError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if _spec_gate(args):
        return 2
    from .grade.assignment import load_assignment
    from .grade.solution import forward_lines, run_fields, solution_forwards

    plan = solution_forwards(load_assignment(args.spec), args.solution, seed=args.seed)  # raising: a mistake too
    what = f" and {args.solution} gets full marks" if args.solution else " (give --solution DIR to grade it too)"
    print(f"{args.spec}: no mistake found{what}")
    for line in forward_lines(run_fields(plan)):
        print(line)
    return 0


def _write_outputs(result: dict[str, Any], outputs: list[Any]) -> int:
    """Write every requested output; one that fails is reported and never stops the others."""
    failed = 0
    for write, path, what in outputs:
        try:
            if path is None and what == "the console table":
                print(write(result), flush=True)
            elif path is not None:
                write(result, path)
        except Exception as exc:  # a full disk, a missing permission, a bug: say which and go on
            failed += 1
            target = f"{what} {path}" if path is not None else what
            print(f"gradcheck: could not write {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return failed


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[list[int]]:
    """Ctrl-C or SIGTERM while the results are written is acted on once they all are."""
    seen: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: seen.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield seen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _isolate(level: str) -> None:
    """Every submission this run starts, the solution's too, is isolated at ``level`` (refused if impossible)."""
    from .grade import isolation, sandbox

    sandbox.configure(isolation.probe(level))


def _stamp_isolation(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Every output file names the isolation the run had (JSON carries it as the field ``isolation``); failures."""
    from .grade.isolation import stamp_outputs

    if "isolation" not in result:
        return 0
    try:
        stamp_outputs(result, junit=args.junitxml, markdown=args.summary, gradescope=args.gradescope)
    except Exception as exc:  # like any output: said, never stopping the run's exit code from being given
        print(f"gradcheck: could not add the isolation to the outputs: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _progress_bar(done: int, total: int, record: dict[str, Any]) -> None:
    """A bar redrawn in place on a terminal; one plain line per submission in a CI log."""
    from .grade.safetext import printable

    student = printable(record["id"])
    if not sys.stderr.isatty():
        score = f"{round(record['score'], 2):g}/{round(record['max_score'], 2):g}"
        print(f"[{done}/{total}] {student}: {record['status']}, {score}", file=sys.stderr, flush=True)
        return
    width = 30
    filled = width * done // total
    print(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} {student[:20]:20} {record['status']:12}",
          end="", file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int:
    surprises = 0
    started = time.perf_counter()
    records = []
    for module_name, name, expected, what in DEMO:
        target = getattr(importlib.import_module(module_name), name)
        t0 = time.perf_counter()
        report = check(target, examples=args.examples, seed=args.seed)
        verdict = "as expected" if report.ok == expected else "UNEXPECTED"
        surprises += report.ok != expected
        print(f"== {module_name}.{name}: {what}  [{verdict}, {time.perf_counter() - t0:.2f} s]")
        print(report)
        print()
        records.append({**report.to_dict(), "id": f"{module_name}.{name}", "description": f"{what} [{verdict}]"})
        if args.html and not report.ok:
            records += _larger_picture(target, f"{module_name}.{name}", args.seed)
    total = time.perf_counter() - started
    print(f"{len(DEMO)} checks in {total:.1f} s; {len(DEMO) - surprises} verdicts as expected")
    if args.html:
        _write_demo_page(args.html, {"seed": args.seed, "checks": records})
    return 1 if surprises else 0


def _larger_picture(target: Any, name: str, seed: int) -> list[dict[str, Any]]:
    """The same bug at the top of every dimension's range: the smallest failing example is
    the clearest to debug, a larger one shows the pattern of wrong entries."""
    space = get_check(target).space
    combos = space.combinations()
    dims = {**{n: hi for n, (_, hi) in space.ranged.items()}, **(combos[-1] if combos else {})}
    try:
        report = check_at(target, dims, seed=seed)
    except GradcheckError:
        return []  # the largest dims break a constraint between dimensions: no second picture
    if report.ok:
        return []
    return [{**report.to_dict(), "id": f"{name} (larger)", "ok": False,
             "description": "the same bug at the largest dims of its ranges, to show its pattern"}]


def _write_dashboard(result: dict[str, Any], path: Path) -> None:
    """The class dashboard, as one of the grader's outputs (its errors are said once, by _write_outputs)."""
    from .report.html import render_class_page

    write_atomically(path, render_class_page(result))
    print(f"wrote {path}", file=sys.stderr)


def _write_demo_page(path: Path, data: dict[str, Any]) -> None:
    """The demo's reports as one page, the bugs as pictures (gradcheck.report.html)."""
    from .report.html import render_checks_page

    try:
        write_atomically(path, render_checks_page(data, title="gradcheck demo"))
    except OSError as exc:
        raise GradcheckError(f"could not write --html {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    specs = None
    if args.spec:
        from .grade.assignment import load_assignment

        specs = load_assignment(args.spec)
    failed = 0
    for spec in args.targets:
        if "::" not in spec and spec.endswith(".py"):
            if args.at is not None or args.spec:
                raise GradcheckError(f"--at and --spec check one function: name it, as in {spec}::affine_backward")
            failed += _check_file(Path(spec), args)
            continue
        target = _load(spec, specs)
        if args.at is not None:
            from .grade.reproduce import parse_dims

            report = check_at(target, parse_dims(args.at), seed=args.seed, nasty=args.nasty)
        else:
            report = check(target, examples=args.examples, seed=args.seed)
        if specs is not None and "::" in spec and report.reproduce:
            report.reproduce = _spec_reproduce(specs, spec, report)
        _say_inferred(report, target)
        print(report)
        failed += not report.ok
    return 1 if failed else 0


def _module_of(path: Path) -> ModuleType:
    if not path.is_file():
        raise GradcheckError(f"no such file: {path}")
    try:
        return import_file(path)
    except ImportFailed as exc:
        raise GradcheckError(str(exc)) from None


def _check_file(path: Path, args: argparse.Namespace) -> int:
    """Every check of one file: declared ones, then inferred ones; what is not checked, one line each."""
    from .declare.infer import Inferred
    from .plugin.collect import declared_checks, inferred_checks

    module = _module_of(path)
    declared = declared_checks(module)
    failed = 0
    for _, target in declared:
        report = check(target, examples=args.examples, seed=args.seed)
        print(report)
        failed += not report.ok
    for found in inferred_checks(module, skip={name for name, _ in declared}):
        if isinstance(found, Inferred):
            report = check(found.check, examples=args.examples, seed=args.seed)
            _say_inferred(report, found.check)
            print(report)
            failed += not report.ok
        else:
            print(f"{found.name}: NOT CHECKED: {found.message}")
    return 1 if failed else 0


def _say_inferred(report: Any, target: Any) -> None:
    """An inferred check's report says so first, and from what."""
    from .findings import Finding, Kind

    inferred = getattr(target, "inferred", None)
    if inferred:
        report.findings.insert(0, Finding(Kind.INFERRED, inferred["source"]))


def _suggest(args: argparse.Namespace) -> int:
    from .declare.infer import suggestion_text, write_suggestions
    from .plugin.collect import inferred_checks

    module = _module_of(args.file)
    found = inferred_checks(module)
    for item in found:
        print(suggestion_text(item))
        print()
    if args.write:
        written = write_suggestions(args.file, found)
        print(f"wrote {written} declarations into {args.file}")
    return 0


def _spec_reproduce(specs: Any, target: str, report: Any) -> str:
    """The reproduce line as a command, like the one grading gives (no decorator to add)."""
    from .grade.reproduce import reproduce_command, spec_for

    path_text, name = target.split("::", 1)
    return reproduce_command(spec_for(specs, name), path_text, report.config, report.seed,
                             nasty="nasty=True" in report.reproduce)


def _load(spec: str, specs: Any = None) -> Any:
    """``path/to/layers.py::affine_backward`` or ``package.module:affine_backward``.

    With ``specs`` (an assignment's), the function is checked as the spec declares it.
    """
    if "::" in spec:
        path_text, name = spec.split("::", 1)
        path = Path(path_text)
        if not path.is_file():
            raise GradcheckError(f"no such file: {path_text} (in target {spec!r})")
        module = _import_target(path)
    elif ":" in spec:
        module_name, name = spec.split(":", 1)
        module = _import(lambda: importlib.import_module(module_name), module_name)
    else:
        raise GradcheckError(f"expected FILE.py::NAME or module:NAME, got {spec!r}")
    if not hasattr(module, name):
        raise GradcheckError(f"{spec}: {module.__name__} has no {name!r}")
    if specs is not None:
        from .grade.reproduce import check_from_spec

        return check_from_spec(specs, module, name)
    target = getattr(module, name)
    chk = get_check(target)
    return chk if getattr(chk, "inferred", None) else target  # undecorated: the check inferred for it


def _import_target(path: Path) -> ModuleType:
    """The module of a user's file; a notebook's code cells run as in grading (magics skipped, and said)."""
    if path.suffix == ".ipynb":
        from .grade.notebooks import NotebookUnreadable, load_notebook

        try:
            loaded = load_notebook(path.resolve(), "_notebook_" + "".join(c if c.isalnum() else "_" for c in path.stem))
        except NotebookUnreadable as exc:
            raise GradcheckError(str(exc)) from None
        for note in loaded.notes:
            print(f"gradcheck: {note}", file=sys.stderr)
        return loaded.module
    try:
        return import_file(path)
    except ImportFailed as exc:
        raise GradcheckError(str(exc)) from None


def _import(load: Callable[[], ModuleType], what: str) -> ModuleType:
    """Run an import; an error in the user's module becomes one clear message."""
    try:
        return load()
    except Exception as exc:
        raise GradcheckError(f"could not import {what}: {describe_exception(exc)}") from None


if __name__ == "__main__":
    raise SystemExit(main())
