"""The ``gradcheck`` command (also ``python -m gradcheck``).

- ``gradcheck demo``: check the bundled reference models (correct ones and the
  buggy ones from real forum threads) and print their reports.
- ``gradcheck check FILE.py::NAME ...``: check declared functions from a file;
  ``gradcheck check layers.py``: every check in the file, declared or inferred.
- ``gradcheck suggest layers.py [--write]``: print the declarations inferred from
  docstrings and annotations (``--write`` inserts them into the file).
- ``gradcheck grade --spec SPEC SUBMISSIONS/``: grade a folder of student submissions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .checking import check
from .declare.calls import describe_exception
from .declare.functional import get_check
from .errors import GradcheckError
from .userfiles import ImportFailed, import_file

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
    run = sub.add_parser("check", help="check FILE.py (all its checks, declared or inferred), FILE.py::NAME "
                                       "or package.module:NAME")
    run.add_argument("targets", nargs="+", metavar="TARGET")
    _add_run_options(run)
    suggest = sub.add_parser("suggest", help="print the declarations inferred from docstrings and annotations")
    suggest.add_argument("file", type=Path, help="a .py file of undecorated layers")
    suggest.add_argument("--write", action="store_true", help="insert the inferred decorators into the file")
    _add_grade_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "grade":
            return _grade(args)
        if args.command == "suggest":
            return _suggest(args)
        return _check(args)
    except GradcheckError as err:
        print(f"gradcheck: {err}", file=sys.stderr)
        return 2


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


def _add_grade_parser(sub) -> None:
    grade = sub.add_parser("grade", help="grade a folder of student submissions against an assignment spec")
    grade.add_argument("submissions", type=Path, help="one sub-folder or .py file per student")
    grade.add_argument("--spec", type=Path, required=True, help="the assignment: a file with CHECKS = [gc.spec(...)]")
    grade.add_argument("--jobs", type=_positive_int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    grade.add_argument("--memory", type=_positive_int, default=2048, help="MB of memory per submission (default 2048)")
    grade.add_argument("--examples", type=_positive_int, default=30, help="examples per check (default 30)")
    grade.add_argument("--seed", type=int, default=0, help="seed of every check (default 0: the same for everyone)")
    grade.add_argument("--vary-seed", action="store_true", help="a different seed per student, derived from --seed")
    grade.add_argument("--json", type=Path, help="write the full results as JSON")
    grade.add_argument("--junitxml", type=Path, help="write JUnit XML, one test suite per student")
    grade.add_argument("--summary", type=Path, help="write a Markdown summary ($GITHUB_STEP_SUMMARY)")
    grade.add_argument("--gradescope", type=Path, help="write Gradescope's results.json (one submission)")
    grade.add_argument("--isolation", choices=("auto", "namespaces", "userns", "uid", "none"), default="auto",
                       help="how submissions are kept from the grader and each other (default auto: the strongest "
                            "this machine permits, refusing if none is; 'none' grades without isolation and every "
                            "output says so). See README, 'Threat model'")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")


def _grade(args) -> int:
    from .grade import grader, writers

    if args.timeout <= 0:
        raise GradcheckError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    progress = None if args.quiet else _progress_bar
    result = grader.grade_folder(args.spec, args.submissions, jobs=args.jobs, seed=args.seed,
                                 vary_seed=args.vary_seed, examples=args.examples, timeout=args.timeout,
                                 memory_mb=args.memory, progress=progress, isolation=args.isolation)
    if progress:
        print(file=sys.stderr)
    print(writers.console_table(result))
    print(f"isolation: {result['isolation']} ({result['isolation_detail']})")
    if args.json:
        writers.write_json(result, args.json)
    if args.junitxml:
        writers.write_junit(result, args.junitxml)
    if args.summary:
        writers.write_markdown(result, args.summary)
    if args.gradescope:
        try:
            writers.write_gradescope(result, args.gradescope)
        except ValueError as exc:
            raise GradcheckError(str(exc)) from None
    _stamp_isolation(args, result)
    failures = grader.required_failures(result)
    for student, check_name in failures:
        print(f"required check failed: {student}: {check_name}", file=sys.stderr)
    return 130 if result["interrupted"] else (1 if failures else 0)


def _stamp_isolation(args, result: dict) -> None:
    """Every output file names the isolation the run had (JSON carries it as the field ``isolation``)."""
    from .grade.isolation import stamp_outputs

    stamp_outputs(result, junit=args.junitxml, markdown=args.summary, gradescope=args.gradescope)


def _progress_bar(done: int, total: int, record: dict) -> None:
    width = 30
    filled = width * done // total
    print(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} {record['id'][:20]:20} {record['status']:12}",
          end="", file=sys.stderr, flush=True)


def _demo(args) -> int:
    surprises = 0
    started = time.perf_counter()
    for module_name, name, expected, what in DEMO:
        target = getattr(importlib.import_module(module_name), name)
        t0 = time.perf_counter()
        report = check(target, examples=args.examples, seed=args.seed)
        verdict = "as expected" if report.ok == expected else "UNEXPECTED"
        surprises += report.ok != expected
        print(f"== {module_name}.{name}: {what}  [{verdict}, {time.perf_counter() - t0:.2f} s]")
        print(report)
        print()
    total = time.perf_counter() - started
    print(f"{len(DEMO)} checks in {total:.1f} s; {len(DEMO) - surprises} verdicts as expected")
    return 1 if surprises else 0


def _check(args) -> int:
    failed = 0
    for spec in args.targets:
        if "::" not in spec and spec.endswith(".py"):
            failed += _check_file(Path(spec), args)
            continue
        target = _load(spec)
        report = check(target, examples=args.examples, seed=args.seed)
        print(report)
        failed += not report.ok
    return 1 if failed else 0


def _module_of(path: Path):
    if not path.is_file():
        raise GradcheckError(f"no such file: {path}")
    try:
        return import_file(path)
    except ImportFailed as exc:
        raise GradcheckError(str(exc)) from None


def _check_file(path: Path, args) -> int:
    """Every check of one file: declared ones, then inferred ones; what is not checked, one line each."""
    from .declare.infer import Inferred
    from .findings import Finding, Kind
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
            report.findings.insert(0, Finding(Kind.INFERRED, found.source))
            print(report)
            failed += not report.ok
        else:
            print(f"{found.name}: NOT CHECKED: {found.message}")
    return 1 if failed else 0


def _suggest(args) -> int:
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


def _load(spec: str):
    """``path/to/layers.py::affine_backward`` or ``package.module:affine_backward``."""
    if "::" in spec:
        path_text, name = spec.split("::", 1)
        path = Path(path_text)
        if not path.is_file():
            raise GradcheckError(f"no such file: {path_text} (in target {spec!r})")
        try:
            module = import_file(path)
        except ImportFailed as exc:
            raise GradcheckError(str(exc)) from None
    elif ":" in spec:
        module_name, name = spec.split(":", 1)
        module = _import(lambda: importlib.import_module(module_name), module_name)
    else:
        raise GradcheckError(f"expected FILE.py::NAME or module:NAME, got {spec!r}")
    if not hasattr(module, name):
        raise GradcheckError(f"{spec}: {module.__name__} has no {name!r}")
    target = getattr(module, name)
    get_check(target)
    return target


def _import(load, what: str):
    """Run an import; an error in the user's module becomes one clear message."""
    try:
        return load()
    except Exception as exc:
        raise GradcheckError(f"could not import {what}: {describe_exception(exc)}") from None


if __name__ == "__main__":
    raise SystemExit(main())
