"""The pytest route against the Python API on the same checks: what pytest adds.

    python benchmarks/pytest_route.py               # the reference zoo, min of 3 runs each
    python benchmarks/pytest_route.py --repeat 1 DIR

Runs ``pytest --gradcheck DIR`` from the project's root in a fresh interpreter, and in another fresh
interpreter the same checks through ``gc.check`` (same seed, same examples, the
``@pytest.mark.gradcheck`` settings the plugin would apply).  Both wall times
include starting Python and importing; their difference is the cost of pytest's
startup, collection and reporting.  A third run times the bare interpreter with
``import gradcheck``, the start-up both share.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

API = r"""
import importlib, sys, time
from pathlib import Path
import gradcheck as gc
from gradcheck.plugin.collect import declared_checks

folder = Path(sys.argv[1])
sys.path.insert(0, str(folder.parent))  # the folder is a package (the zoo's buggy twins import relatively)
start = time.perf_counter()
checks = failed = 0
for path in sorted(folder.rglob("*.py")):
    if path.name == "__init__.py":
        continue
    module = importlib.import_module(".".join((folder.name, *path.relative_to(folder).with_suffix("").parts)))
    for attr, check in declared_checks(module):
        marks = [m for m in getattr(getattr(module, attr), "pytestmark", []) if m.name == "gradcheck"]
        tuned = dict(marks[0].kwargs) if marks else {}
        tuned.setdefault("seed", 0)
        report = gc.check(check, **tuned)
        checks += 1
        failed += not report.ok
print(f"checks={checks} failed={failed} seconds_in_checks={time.perf_counter() - start:.3f}")
"""


def timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - t0, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(HERE / "reference_models"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = str(Path(args.folder).resolve())
    cwd = str(HERE)  # the project's root, as a user runs it (its conftest and ini file apply)
    pytest_cmd = [sys.executable, "-m", "pytest", "--gradcheck", folder, "--gradcheck-seed", "0", "-q",
                  "-p", "no:randomly"]
    api_cmd = [sys.executable, "-c", API, folder]
    bare_cmd = [sys.executable, "-c", "import gradcheck, numpy, hypothesis"]
    runs = {"pytest --gradcheck": pytest_cmd, "Python API (gc.check)": api_cmd, "python -c 'import gradcheck'": bare_cmd}
    best: dict[str, tuple[float, str]] = {}
    for label, cmd in runs.items():
        results = [timed(cmd, cwd) for _ in range(args.repeat)]
        best[label] = min(results, key=lambda r: r[0])
    summary = best["pytest --gradcheck"][1].strip().splitlines()
    api = re.search(r"checks=(\d+) failed=(\d+) seconds_in_checks=([\d.]+)", best["Python API (gc.check)"][1])
    for label, (seconds, _) in best.items():
        print(f"{label:32s} {seconds:7.2f} s")
    print(f"pytest's last line: {summary[-1] if summary else '?'}")
    if api:
        print(f"API: {api.group(1)} checks, {api.group(2)} failing (the buggy twins), "
              f"{float(api.group(3)):.2f} s inside gc.check")
    over = best["pytest --gradcheck"][0] - best["Python API (gc.check)"][0]
    print(f"pytest route overhead over the API: {over:+.2f} s (min of {args.repeat} runs each, fresh interpreters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
