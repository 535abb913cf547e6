"""How much of a folder gradcheck checks with no declaration: inferred vs not, and the wall time.

    python benchmarks/infer_measure.py                       # examples/undecorated and reference_models
    python benchmarks/infer_measure.py --examples 20 DIR...  # other folders

Decorators are ignored: every file is copied with its ``@gc.*`` and
``@pytest.mark.*`` decorators removed (so the bundled reference models count as
undecorated code), then each checkable thing is inferred from names, docstrings
and annotations and, where inferred, checked.  Prints one line per file, the
reasons for what could not be inferred, and the totals.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradcheck.checking import check  # noqa: E402
from gradcheck.declare.infer import Inferred  # noqa: E402
from gradcheck.plugin.collect import declared_checks, inferred_checks  # noqa: E402
from gradcheck.userfiles import ImportFailed, import_file  # noqa: E402


def strip_decorators(source: str) -> str:
    """The module without its gradcheck and pytest decorators."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            node.decorator_list = [d for d in node.decorator_list
                                   if not ast.unparse(d).startswith(("gc.", "pytest.mark"))]
    return ast.unparse(tree) + "\n"


def undecorated_copy(folder: Path, into: Path) -> Path:
    target = into / folder.name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*.py"):
        path.write_text(strip_decorators(path.read_text()))
    return target


def measure(folder: Path, examples: int) -> Counter:
    totals: Counter = Counter()
    for path in sorted(folder.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        try:
            module = import_file(path)
        except ImportFailed as exc:
            print(f"  {path.relative_to(folder.parent)}: {exc}")
            continue
        line = Counter()
        for found in inferred_checks(module, skip={n for n, _ in declared_checks(module)}):
            if isinstance(found, Inferred):
                report = check(found.check, examples=examples, seed=0)
                line["passed" if report.ok else "failed"] += 1
                line["inferred"] += 1
            else:
                line["not inferred"] += 1
                for missing in found.missing:
                    totals["reason: " + _reason(missing)] += 1
                print(f"    not inferred: {found.name}: {found.message}")
        totals.update(line)
        print(f"  {path.relative_to(folder.parent)}: {dict(line) or 'nothing checkable'}")
    return totals


REASONS = (
    ("documents no shape", "no shapes: arguments not documented (no docstring or annotations)"),
    ("describes it without", "an argument described without a shape or a type"),
    ("how to build", "a class whose constructor arguments are not documented as ints"),
    ("the range of", "an integer array without its range"),
    ("a value for", "a hyperparameter gradcheck has no value for"),
    ("the keys of", "a dict without its keys"),
    ("parameters (after backward", "a class without gradient attributes"),
)


def _reason(missing: str) -> str:
    """The kind of thing that was missing, without the names."""
    return next((reason for key, reason in REASONS if key in missing), missing.split("(")[0].strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path,
                        default=[ROOT / "examples" / "undecorated", ROOT / "reference_models"])
    parser.add_argument("--examples", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gradcheck-infer-") as tmp:
        for folder in args.folders:
            copy = undecorated_copy(folder.resolve(), Path(tmp))
            started = time.perf_counter()
            print(f"{folder} (decorators removed):")
            totals = measure(copy, args.examples)
            elapsed = time.perf_counter() - started
            reasons = {k[8:]: v for k, v in totals.items() if k.startswith("reason: ")}
            print(f"== {folder}: {totals['inferred']} inferred ({totals['passed']} passed, {totals['failed']} failed), "
                  f"{totals['not inferred']} not inferred; {elapsed:.1f} s")
            for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
                print(f"   {count:3d}  {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
