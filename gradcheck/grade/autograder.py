"""A Gradescope autograder: ``gradcheck autograder spec.py --solution solution/ -o autograder.zip``.

The zip holds what Gradescope asks for (its "autograder specifications"):

- ``setup.sh``, run once as root when Gradescope builds the image: installs Python
  if missing, then the gradcheck bundled in the zip with its dependencies (numpy,
  pytest, hypothesis, and nbformat for notebook submissions);
- ``run_autograder``, run for every submission: copies ``/autograder/submission``
  into a submissions folder of one student and writes
  ``/autograder/results/results.json`` with ``gradcheck grade --gradescope``; if
  grading itself cannot run, it still writes a results.json that says why;
- ``spec/``: the assignment spec and the ``.py`` files beside it (a trusted
  reference forward, say) -- never the solution;
- ``gradcheck-src/``: this gradcheck, so the image grades with the version the
  solution was checked with.

Before writing the zip, the spec and the solution go through the gate of ``gradcheck
grade --solution`` with the same settings: a spec mistake, or a solution short of
full marks, and the zip is not written (it would cost every student those marks).  ``GRADCHECK_AUTOGRADER_ROOT`` moves
``/autograder`` elsewhere (tests run the script in a temporary folder).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import GradcheckError

__all__ = ["AutograderSettings", "build_autograder", "ROOT_ENV"]

#: Environment variable that replaces ``/autograder`` in ``run_autograder``.
ROOT_ENV = "GRADCHECK_AUTOGRADER_ROOT"
#: The core dependencies, when the installed metadata cannot be read.
DEFAULT_DEPENDENCIES = ["numpy>=1.23", "pytest>=8.0", "hypothesis>=6.70"]


@dataclass(frozen=True)
class AutograderSettings:
    """How every submission is graded (the ``gradcheck grade`` options written into ``run_autograder``)."""

    timeout: float = 60.0
    memory_mb: int = 2048
    examples: int = 50
    seed: int = 0

    def grade_options(self) -> list[str]:
        return ["--timeout", f"{self.timeout:g}", "--memory", str(self.memory_mb), "--examples", str(self.examples),
                "--seed", str(self.seed)]


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-pip
fi
# Newer Ubuntu images mark the system Python as managed (PEP 668); this image is ours.
export PIP_BREAK_SYSTEM_PACKAGES=1
# System-wide, not under /root: the submissions run under another uid and must import it.
python3 -m pip install -q "./gradcheck-src[grade]"
python3 -m gradcheck --version
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it must always leave a results.json.
set -uo pipefail
ROOT="${{{root_env}:-/autograder}}"
RESULTS="$ROOT/results/results.json"
SUBMISSIONS="$(mktemp -d)"
mkdir -p "$ROOT/results" "$SUBMISSIONS/{student}"
# The spec, its reference and the results are the grader's: a submission running under
# another uid must not read them (gradcheck itself is installed system-wide by setup.sh).
chmod -R go-rwx "$ROOT/source" "$ROOT/results"
cp -R "$ROOT/submission/." "$SUBMISSIONS/{student}/"
cd "$ROOT/source"
rm -f "$RESULTS"
python3 -m gradcheck grade --spec "spec/{spec}" "$SUBMISSIONS" --gradescope "$RESULTS" {options} --quiet \\
    2> "$SUBMISSIONS/.stderr"
code=$?
cat "$SUBMISSIONS/.stderr" >&2
if [ ! -s "$RESULTS" ]; then
    # Grading could not run (a broken install, a spec error): say so instead of a blank failure.
    python3 - "$RESULTS" "$code" "$SUBMISSIONS/.stderr" <<'EOF'
import json, sys
message = open(sys.argv[3], errors="replace").read()[-4000:]
json.dump({{"score": 0, "output": "The autograder could not grade this submission (gradcheck exit code "
           + sys.argv[2] + "); please tell your instructor.\\n" + message, "tests": []}}, open(sys.argv[1], "w"))
EOF
fi
rm -rf "$SUBMISSIONS"
exit 0
"""


def build_autograder(spec: Path, solution: Path, out: Path, settings: AutograderSettings, *,
                     include: list[Path] | None = None, check_solution: bool = True) -> None:
    """Write Gradescope's autograder zip to ``out``.

    Parameters
    ----------
    spec : Path
        The assignment spec (``CHECKS = [gc.spec(...)]``).  The ``.py`` files beside it
        are bundled too (what it imports), except any inside ``solution``.
    solution : Path
        The instructor's solution: a folder, ``.py`` file or notebook, graded first.
    out : Path
        Where to write the zip.
    settings : AutograderSettings
        Time, memory, examples and seed of every grading run.
    include : list of Path, optional
        More files the spec needs, put beside it.
    check_solution : bool
        Apply the gate first: refuse to build on a spec mistake or a solution short of full marks.
    """
    from .assignment import load_assignment

    if not spec.is_file():
        raise GradcheckError(f"no such assignment spec: {spec}")
    if not solution.exists():
        raise GradcheckError(f"no such solution: {solution} (a folder, .py file or .ipynb notebook)")
    if not re.fullmatch(r"[\w.-]+\.py", spec.name):
        raise GradcheckError(f"name the spec file with letters, digits, '_', '-' and '.' only, got {spec.name!r}")
    load_assignment(spec)  # a broken spec fails here, with its own message
    if check_solution:
        _check_solution(spec, solution, settings)
    files = _spec_files(spec, solution, include or [])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_text(archive, "setup.sh", SETUP_SH)
            _add_text(archive, "run_autograder", RUN_AUTOGRADER.format(
                root_env=ROOT_ENV, student="student", spec=spec.name,
                options=" ".join(shlex.quote(o) for o in settings.grade_options())))
            for path in files:
                archive.write(path, f"spec/{path.name}")
            _add_package(archive)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _check_solution(spec: Path, solution: Path, settings: AutograderSettings) -> None:
    """The gate ``gradcheck grade --solution`` applies: a sound spec, and full marks for the solution."""
    from .assignment import load_assignment
    from .gate import gate_problems

    problems = gate_problems(load_assignment(spec), solution, seed=settings.seed, examples=settings.examples,
                             timeout=settings.timeout, memory_mb=settings.memory_mb)
    if problems:
        raise GradcheckError(f"no autograder written: with {spec.name}, every student would lose these marks "
                             "too; fix the spec or the solution:\n  " + "\n  ".join(problems))


def _spec_files(spec: Path, solution: Path, include: list[Path]) -> list[Path]:
    solution = solution.resolve()
    siblings = [p for p in sorted(spec.resolve().parent.glob("*.py"))
                if p != spec.resolve() and p != solution and solution not in p.parents]
    for extra in include:
        if not extra.is_file():
            raise GradcheckError(f"--include {extra}: no such file")
    files = [spec.resolve(), *siblings, *(p.resolve() for p in include)]
    names = [p.name for p in files]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise GradcheckError(f"two files named {', '.join(clash)} would go beside the spec; rename one")
    return files


def _add_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16  # an executable script, as Gradescope runs it
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def _add_package(archive: zipfile.ZipFile) -> None:
    """This gradcheck, as a project ``pip install`` can build (its files and a pyproject.toml)."""
    import gradcheck

    package = Path(gradcheck.__file__).parent
    zoo = Path(importlib.import_module("gradcheck.reference_models").__path__[0])
    for root, prefix in ((package, "gradcheck"), (zoo, "gradcheck/reference_models")):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
                relative = path.relative_to(root)
                if root == package and relative.parts[0] == "reference_models":
                    continue  # an installed copy of the zoo: added from its own folder
                archive.write(path, f"gradcheck-src/{prefix}/{relative.as_posix()}")
    _add_text(archive, "gradcheck-src/pyproject.toml", _pyproject(gradcheck.__version__))


def _pyproject(version: str) -> str:
    try:
        requires = importlib.metadata.requires("gradcheck") or []
        core = [r for r in requires if "extra ==" not in r] or DEFAULT_DEPENDENCIES
    except importlib.metadata.PackageNotFoundError:
        core = DEFAULT_DEPENDENCIES
    deps = ", ".join(f'"{r}"' for r in core)
    return f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "gradcheck"
version = "{version}"
requires-python = ">=3.10"
dependencies = [{deps}]

[project.optional-dependencies]
grade = ["nbformat>=5"]

[project.scripts]
gradcheck = "gradcheck.cli:main"

[project.entry-points.pytest11]
gradcheck = "gradcheck.plugin.hooks"

[tool.setuptools.packages.find]
include = ["gradcheck*"]

[tool.setuptools.package-data]
gradcheck = ["py.typed"]
"""
