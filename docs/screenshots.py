"""Regenerate the README's pictures: ``python docs/screenshots.py`` (needs Chromium and the example class).

Writes docs/notebook-report.png (what ``gc.check(...)`` shows in Jupyter) and
docs/class-dashboard.png (``gradcheck grade ... --html``) with headless Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gradcheck.reference_models.buggy import rnn_layers

import gradcheck as gc
from gradcheck.report.html import page, render_class_page

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def shoot(html: str, out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(html, encoding="utf-8")
        flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=2000",
                 "--run-all-compositor-stages-before-draw", f"--user-data-dir={tmp}/profile",
                 f"--window-size={width},{height}", f"--screenshot={out}"]
        subprocess.run(["chromium", *flags, *(["--no-sandbox"] if os.geteuid() == 0 else []), source.as_uri()],
                       check=True, capture_output=True)


def main() -> None:
    report = gc.check_at(rnn_layers.lstm_step_backward_forget_next_c, {"N": 3, "D": 4, "H": 5})
    shoot(page("gc.check", report._repr_html_()), HERE / "notebook-report.png", 900, 1150)
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "class.json"
        # relative paths, so that the picture names the example folder, not this checkout
        subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "examples/assignment/submissions",
                        "--spec", "examples/assignment/assignment.py", "--jobs", "2", "--timeout", "6",
                        "--examples", "15", "--quiet", "--json", str(results)], cwd=ROOT, check=False,
                       capture_output=True)
        shoot(render_class_page(json.loads(results.read_text())), HERE / "class-dashboard.png", 1000, 900)


if __name__ == "__main__":
    main()
