"""The grading results in the formats platforms read: console, JSON, JUnit, Markdown, Gradescope.

Every writer takes the result of :func:`grade_folder` and writes atomically
(a partial file is never left behind under the final name).  Text that came from a
submission (its name, messages, output) may hold anything; each writer passes it
through :mod:`.safetext` first, so that every file is valid in its format.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..findings import Kind
from ..userfiles import write_atomically
from .safetext import clean, clean_data, markdown_cell, printable, xml_text
from .solution import forward_lines

#: Characters of a submission's printed output shown in the Markdown summary (CI pages are limited).
MARKDOWN_OUTPUT = 2000

__all__ = ["console_table", "write_json", "write_junit", "write_markdown", "write_gradescope", "cell"]


def cell(check: dict[str, Any]) -> str:
    """``ok``, ``WRONG b``, ``timeout`` ...: what a table shows for one check."""
    if check["ok"]:
        return "ok"
    wrong = [name for name, p in check.get("params", {}).items() if p.get("status") == "wrong"]
    kinds = [f["kind"] for f in check.get("findings", []) if Kind(f["kind"]).summarized]
    if wrong:
        return "WRONG " + ",".join(wrong) + (f" +{kinds[0]}" if kinds else "")
    return kinds[0] if kinds else "failed"


def console_table(result: dict[str, Any], *, verbose: bool = False) -> str:
    """The students x checks table printed at the end of ``gradcheck grade``.

    With ``verbose``, the per-parameter table of every check that did not pass follows.
    """
    result = clean_data(result, printable)
    names = [c["name"] for c in result["checks"]]
    header = ["student", *names, "score", "status"]
    rows = [header]
    for sub in result["submissions"]:
        by_name = {c["id"]: c for c in sub["checks"]}
        rows.append([sub["id"], *(cell(by_name[n]) if n in by_name else "-" for n in names),
                     f"{points(sub['score'])}/{points(sub['max_score'])}", sub["status"]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    total = sum(s["score"] for s in result["submissions"])
    possible = sum(s["max_score"] for s in result["submissions"])
    lines.append(f"{len(result['submissions'])} submissions graded in {result['time']:.1f} s; "
                 f"total {points(total)}/{points(possible)}" + ("; INTERRUPTED" if result.get("interrupted") else ""))
    if verbose:
        lines += _details(result)
    return "\n".join(lines)


def _details(result: dict[str, Any]) -> list[str]:
    """Each failed check's table, under the student and check it belongs to."""
    lines = []
    for sub in result["submissions"]:
        for check in sub["checks"]:
            if not check["ok"]:
                lines += ["", f"== {sub['id']}: {check['name']} ({check.get('status', 'failed')}, "
                              f"{points(check['score'])}/{points(check.get('max_score', check['points']))})"]
                lines += ["  " + line for line in str(check["table"]).splitlines()]
    return lines


def points(value: float) -> str:
    """Scores as every table shows them, cells and totals alike: at most two decimals."""
    return f"{round(value, 2):g}"


def _json(data: Any) -> str:
    return json.dumps(clean_data(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(result: dict[str, Any], path: Path) -> None:
    """The full results: run settings, the checks, one record per submission."""
    write_atomically(path, _json(result))


def write_junit(result: dict[str, Any], path: Path) -> None:
    """JUnit XML: one test suite per submission, one test case per check."""
    result = clean_data(result, xml_text)
    suites = ET.Element("testsuites")
    for sub in result["submissions"]:
        failures = sum(not c["ok"] for c in sub["checks"])
        suite = ET.SubElement(suites, "testsuite", name=sub["id"], tests=str(len(sub["checks"])),
                              failures=str(failures), time=str(sub.get("time", 0)))
        for check in sub["checks"]:
            case = ET.SubElement(suite, "testcase", classname=sub["id"], name=check["id"])
            if not check["ok"]:
                failure = ET.SubElement(case, "failure", message=check["table"], type=cell(check))
                failure.text = check["table"]
        if sub.get("output"):
            ET.SubElement(suite, "system-out").text = sub["output"]
    ET.indent(suites)
    write_atomically(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def write_markdown(result: dict[str, Any], path: Path) -> None:
    """A Markdown table for a CI page (``$GITHUB_STEP_SUMMARY``), then each failure's details, folded."""
    raw, result = result, clean_data(result, markdown_cell)
    names = [c["name"] for c in result["checks"]]
    lines = ["## Gradient checks", "", "| student | " + " | ".join(names) + " | score | status |",
             "|---" * (len(names) + 3) + "|"]
    for sub in result["submissions"]:
        by_name = {c["id"]: c for c in sub["checks"]}
        cells = [(":white_check_mark:" if by_name[n]["ok"] else f":x: {cell(by_name[n])}") if n in by_name else "-"
                 for n in names]
        lines.append(f"| {sub['id']} | " + " | ".join(cells)
                     + f" | {points(sub['score'])}/{points(sub['max_score'])} | {sub['status']} |")
    total = sum(s["score"] for s in result["submissions"])
    possible = sum(s["max_score"] for s in result["submissions"])
    lines += ["", f"{len(result['submissions'])} submissions, graded in {result['time']:.1f} s; "
                  f"total {points(total)}/{points(possible)}."]
    if forward_lines(result):  # which forwards were compared with the solution's (text already cleaned above)
        lines += ["", *(f"{line}  " for line in forward_lines(result))]
    lines += _markdown_details(raw)
    write_atomically(path, "\n".join(lines) + "\n")


def _markdown_details(result: dict[str, Any]) -> list[str]:
    """A folded section per student who lost points: the failed checks' tables and what it printed."""
    lines = []
    for sub in result["submissions"]:
        failed = [c for c in sub["checks"] if not c["ok"]]
        if not failed:
            continue
        text = "\n\n".join(str(c["table"]) for c in failed)
        if sub.get("output"):
            printed = str(sub["output"])
            cut = printed[:MARKDOWN_OUTPUT] + (" [...]" if len(printed) > MARKDOWN_OUTPUT else "")
            text += "\n\nwhat it printed:\n" + cut
        summary = f"{sub['id']}: {points(sub['score'])}/{points(sub['max_score'])}, {sub['status']}"
        lines += ["", f"<details><summary>{_html(summary)}</summary>", "", f"<pre>{_html(text)}</pre>", "",
                  "</details>"]
    return lines


def _html(text: str) -> str:
    """Text shown verbatim inside HTML: nothing in it can close the element or start another."""
    return html.escape(printable(clean(text)), quote=True)


def write_gradescope(result: dict[str, Any], path: Path) -> None:
    """Gradescope's results.json, for the one submission an autograder run sees."""
    if len(result["submissions"]) != 1:
        raise ValueError("--gradescope writes the results of exactly one submission")
    sub = result["submissions"][0]
    tests = [{
        "name": check["id"],
        "score": check["score"],
        "max_score": check["points"],
        "status": "passed" if check["ok"] else "failed",
        "output": check["table"],
        "visibility": "visible",
    } for check in sub["checks"]]
    data = {"score": sub["score"], "max_score": sub["max_score"], "execution_time": sub.get("time", 0.0),
            "tests": tests, "output": sub.get("output", "")[:8000]}
    write_atomically(path, _json(data))
