"""HTML pictures of reports: a notebook cell, a CI page, a class dashboard.

Pure functions from the JSON-shaped records (``Report.to_dict()``, the records of
``--gradcheck-json`` and of ``gradcheck grade --json``) to HTML strings, so the
same code draws a report in Jupyter, the pytest page and the grader's dashboard.

Every page is self-contained (inline CSS and SVG, no network, no external script,
font or stylesheet); every text taken from a record is escaped; a verdict is
always written in words as well as coloured.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..findings import Kind
from .render import VERDICT_WORDS, excluded_text, format_dims, passed_summary

__all__ = ["STYLE", "heatmap", "page", "render_checks_page", "render_class_page", "render_fragment", "render_report"]

Record = Mapping[str, Any]

#: Worst entries shown per wrong parameter (the heatmap shows the rest).
SHOWN_ENTRIES = 5
#: Relative errors at or below LOW are drawn in the palest colour, at or above HIGH in the darkest.
LOW, HIGH = 1e-10, 1.0
#: Light yellow to dark red (ColorBrewer YlOrRd): error grows with darkness, readable in grey print.
PALETTE = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
OUTLINE = "#0033cc"  # wrong entries: a blue frame, distinct from every palette colour
#: Maps up to this many cells say each cell's error on hover; larger ones would weigh too much.
TITLED_CELLS = 1024
UNCHECKED, EXCLUDED, GRID = "#f0f0f0", "#9e9e9e", "#c8c8c8"

# .gc has its own white background: a dark notebook theme would otherwise put its dark text on dark.
STYLE = """
.gc{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;
  background:#fff;line-height:1.4;max-width:100%}
.gc h2,.gc h3{margin:.6em 0 .3em}
.gc h1,.gc h2,.gc h3,.gc h4,.gc p,.gc li,.gc td,.gc summary,.gc th code{overflow-wrap:anywhere}
.gc code,.gc pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.gc pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.4em;margin:.3em 0}
.gc .scroll{overflow-x:auto;max-width:100%}
.gc table{border-collapse:collapse;margin:.3em 0}
.gc th,.gc td{border:1px solid #ccc;padding:.15em .5em;text-align:left;vertical-align:top}
.gc td.num{text-align:right;font-variant-numeric:tabular-nums}
.gc .v{font-weight:700;padding:0 .35em;border-radius:3px;white-space:nowrap}
.gc .v-ok{background:#dff0d8;color:#1d5e20;border:1px solid #1d5e20}
.gc .v-bad{background:#fbe3e4;color:#8a1116;border:1px solid #8a1116}
.gc .v-warn{background:#fff3cd;color:#6b4e00;border:1px solid #6b4e00}
.gc .report{border-left:6px solid #1d5e20;padding:.2em .8em;margin:.8em 0}
.gc .report.failed{border-left-color:#8a1116}
.gc .maps{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.gc .maps>*{min-width:0}.gc .heatmap{flex:0 1 auto}.gc .maps>div{flex:1 1 20em}
.gc figure{margin:.3em 0}
.gc figcaption{font-size:.85em;color:#444;max-width:26em}
.gc svg{max-width:100%;height:auto}
.gc .bank{display:grid;gap:4px;align-items:start}
.gc .bank span{display:block;font-size:.75em;color:#444}
.gc .legend{display:flex;flex-wrap:wrap;gap:.2em 1em;font-size:.85em;align-items:center}
.gc .hint{color:#33415c}
.gc details{margin:.2em 0}
.gc summary{cursor:pointer}
.gc .student>summary{display:flex;flex-wrap:wrap;gap:.2em .8em;align-items:baseline;padding:.2em 0}
.gc .student>summary::before{content:'\\25B8'}.gc .student[open]>summary::before{content:'\\25BE'}
.gc .bar{display:inline-block;height:.8em;background:#4a7bb7;vertical-align:middle}
.gc .counts{display:flex;flex-wrap:wrap;gap:.4em}
@media print{.gc .report{break-inside:avoid}.gc details>summary{list-style:none}
  .gc .v{border-width:2px}.gc pre{background:none;border:1px solid #ccc}}
"""

# Opens every <details> before printing, so a printed page shows what the screen hides.
_PRINT_SCRIPT = ("<script>window.addEventListener('beforeprint',function(){"
                 "document.querySelectorAll('details').forEach(function(d){d.open=true})})</script>")


def _e(value: Any) -> str:
    """Escaped text: nothing from a record (names, messages, student output) can become markup."""
    return html.escape(str(value), quote=True)


# ----------------------------------------------------------------- numbers


def _num(value: Any) -> float:
    """A JSON float back to a float (``"inf"``, ``"nan"`` and None included)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt_err(value: Any) -> str:
    v = _num(value)
    return f"{v:.1e}" if math.isfinite(v) else str(v)


def _fmt_val(value: Any) -> str:
    v = _num(value) + 0.0
    return f"{v:.6g}" if math.isfinite(v) else str(v)


def _colour(rel: Any) -> str:
    v = _num(rel)
    if math.isnan(v):
        return PALETTE[-1]
    if v <= LOW:
        return PALETTE[0]
    if v >= HIGH:
        return PALETTE[-1]
    share = (math.log10(v) - math.log10(LOW)) / (math.log10(HIGH) - math.log10(LOW))
    return PALETTE[min(int(share * len(PALETTE)), len(PALETTE) - 1)]


# ----------------------------------------------------------------- verdicts

def _badge(text: str, tone: str) -> str:
    return f'<span class="v v-{tone}">{_e(text)}</span>'


def _param_badge(p: Record) -> str:
    status = p.get("status", "ok" if p.get("ok") else "wrong")
    tone = "ok" if p.get("ok") else "bad" if status != "unchecked" else "warn"
    text = VERDICT_WORDS.get(str(status), str(status))
    return _badge(text, tone) + _e(excluded_text(int(p.get("n_excluded", 0)), int(p.get("n_clipped", 0))))


def _wrong(p: Record) -> bool:
    """A parameter found wrong; one not compared (``unchecked``) is not ok, but not wrong either."""
    return not p.get("ok") and p.get("status") != "unchecked"


def _headline(record: Record) -> str:
    name = _e(record.get("name", record.get("id", "?")))
    dims = _e(format_dims(record.get("config", {})))
    examples = record.get("examples", 0)
    if record.get("ok"):
        summary = passed_summary(examples, record.get("config", {}), record.get("largest", {}))
        return f"{name}: {_badge('ok', 'ok')} ({_e(summary)})"
    if any(f.get("kind") == "spec-error" for f in record.get("findings", [])):
        return f"{name}: {_badge('SPEC ERROR', 'bad')} (a mistake in the declaration, not in the code checked)"
    if "expected_failure" in record:
        verdict = _badge("FAILED (expected)", "warn")
    else:
        verdict = _badge("FAILED", "bad")
    if not record.get("config"):
        return f"{name}: {verdict}"
    more = f" (smallest failing of {examples} examples)" if examples and examples > 1 else ""
    return f"{name}: {verdict} at {dims}{more}"


# ----------------------------------------------------------------- one report


def render_fragment(record: Record) -> str:
    """One report as a block of HTML with its own style: what Jupyter shows for ``gc.check(...)``."""
    return f'<div class="gc"><style>{STYLE}</style>{render_report(record)}</div>'


def render_report(record: Record, *, heading: str = "h3", note: str = "", anchor: str = "") -> str:
    """One report (a ``Report.to_dict()`` record) without the style: for pages that hold many.

    Parameters
    ----------
    record
        The report's dict, as ``Report.to_dict()`` or a ``--gradcheck-json`` record.
    heading
        The tag of its headline.
    note
        A line of text shown under the headline (escaped).
    anchor
        The section's ``id``, for links within the page.
    """
    failed = not record.get("ok")
    where = f' id="{_e(anchor)}"' if anchor else ""
    parts = [f'<section class="report{" failed" if failed else ""}"{where}>',
             f"<{heading}>{_headline(record)}</{heading}>"]
    if note:
        parts.append(f"<p>{_e(note)}</p>")
    params = record.get("params") or {}
    if params:
        parts.append(_param_table(params))
    for name, p in params.items():
        if _wrong(p):
            parts.append(_param_details(name, p))
    if any(p.get("error_map") for p in params.values()):
        parts.append(_legend())  # once per report, under its maps
    parts.append(_findings(record))
    if failed and record.get("reproduce"):
        parts.append(f"<p>reproduce: <code>{_e(record['reproduce'])}</code></p>")
    parts.append("</section>")
    return "".join(parts)


def _param_table(params: Mapping[str, Record]) -> str:
    rows = [("<tr><th scope='col'>param</th><th scope='col'>shape</th><th scope='col'>wrong/checked</th>"
            "<th scope='col'>max abs err</th><th scope='col'>max rel err</th><th scope='col'>verdict</th></tr>")]
    for name, p in params.items():
        checked = p.get("n_checked", 0)
        wrong = f"{'≥' if p.get('n_wrong_estimated') else ''}{p.get('n_wrong', 0)}/{checked}" if checked else "-"
        rows.append(
            f"<tr><th scope='row'><code>{_e(name)}</code></th><td><code>{_e(tuple(p.get('shape', ())))}</code></td>"
            f"<td class='num'>{_e(wrong)}</td>"
            f"<td class='num'>{_e(_fmt_err(p.get('max_abs_error')) if checked else '-')}</td>"
            f"<td class='num'>{_e(_fmt_err(p.get('max_rel_error')) if checked else '-')}</td>"
            f"<td>{_param_badge(p)}</td></tr>")
    return f"<div class='scroll'><table class='params'>{''.join(rows)}</table></div>"


def _param_details(name: str, p: Record) -> str:
    """The picture first, then the worst entries and hints beside it (below it when narrow)."""
    parts = [f"<div class='param maps' data-param='{_e(name)}'>"]
    if p.get("error_map"):
        parts.append(heatmap(name, p["error_map"], legend=False))
    parts.append("<div>")
    worst = p.get("worst") or []
    if worst:
        parts.append(_worst_table(name, p, worst))
    parts += [f"<p class='hint'>hint: {_e(h)}</p>" for h in p.get("hints") or []]
    parts.append("</div></div>")
    return "".join(parts)


def _worst_table(name: str, p: Record, worst: Sequence[Any]) -> str:
    rows = [(f"<caption>worst entries of <code>{_e(name)}</code></caption>"
            "<tr><th scope='col'>entry</th><th scope='col'>analytic</th><th scope='col'>numeric</th>"
            "<th scope='col'>difference</th></tr>")]
    for index, analytic, numeric in worst[:SHOWN_ENTRIES]:
        label = f"{name}[{', '.join(map(str, index))}]"
        diff = abs(_num(analytic) - _num(numeric))
        rows.append(f"<tr><th scope='row'><code>{_e(label)}</code></th><td class='num'>{_e(_fmt_val(analytic))}</td>"
                    f"<td class='num'>{_e(_fmt_val(numeric))}</td><td class='num'>{_e(_fmt_err(diff))}</td></tr>")
    more = int(p.get("n_wrong", 0)) - min(len(worst), SHOWN_ENTRIES)
    tail = f"<p>... {more} more wrong entries</p>" if more > 0 else ""
    return f"<div class='scroll'><table class='worst'>{''.join(rows)}</table></div>{tail}"


def _findings(record: Record) -> str:
    items = []
    for f in record.get("findings") or []:
        if f.get("kind") == "mismatch":
            continue
        where = f" (seen at {format_dims(f['config'])})" if f.get("config") else ""
        items.append(f"<li><strong>{_e(f.get('kind', '?'))}</strong>: {_e(f.get('message', ''))}{_e(where)}</li>")
    shown = {f.get("message") for f in record.get("findings") or []}
    items += [f"<li><strong>error</strong>: {_e(m)}</li>" for m in record.get("errors") or [] if m not in shown]
    return f"<ul class='findings'>{''.join(items)}</ul>" if items else ""


# ----------------------------------------------------------------- heatmaps


def heatmap(name: str, emap: Record, *, legend: bool = True) -> str:
    """The relative error per entry of one parameter, as inline SVG, wrong entries outlined.

    ``emap`` is a ``ParamReport.error_map`` record; ``legend`` adds the colour key.
    A 1-D parameter is a strip; 2-D a grid (rows x columns); 3-D and more a grid
    of small maps over the last two axes, one row of maps per index of axis 0 and
    the other leading axes folded along the row (a conv filter bank: filters x channels).
    """
    shape = [int(n) for n in emap.get("shape", [])]
    rel, marks = list(emap.get("rel", [])), str(emap.get("marks", ""))
    block = [int(b) for b in emap.get("block", [1] * len(shape))]
    if len(shape) <= 2:
        rows, cols = (1, 1) if not shape else (1, shape[0]) if len(shape) == 1 else (shape[0], shape[1])
        wrap = 64 if len(shape) == 1 else cols  # a long bias wraps rather than run off the page
        body = _svg(name, [], rel, marks, rows, cols, wrap)
    else:
        body = _bank(name, shape, rel, marks)
    blocked = [b for b in block if b > 1]
    caption = (f"relative error per entry of <code>{_e(name)}</code>, shape {_e(tuple(shape))}"
               if not blocked else
               f"relative error of <code>{_e(name)}</code>, folded: each cell is the worst of a "
               f"{_e(' x '.join(map(str, block)))} block of entries")
    if len(shape) >= 3:
        columns = "" if len(shape) == 3 else ", columns: axis 1" if len(shape) == 4 else f", columns: axes 1-{len(shape) - 3}"
        caption += f"; one map per index of the leading axes (rows: axis 0{columns})"
    key = _legend() if legend else ""
    return f"<figure class='heatmap' data-param='{_e(name)}'>{body}<figcaption>{caption}</figcaption>{key}</figure>"


def _bank(name: str, shape: list[int], rel: list[Any], marks: str) -> str:
    rows, cols = shape[-2], shape[-1]
    per_map = rows * cols
    leading = shape[:-2]
    n_maps = math.prod(leading)
    per_row = n_maps // leading[0]
    cells = []
    for m in range(n_maps):
        index = _unravel(m, leading)
        label = f"[{', '.join(map(str, index))}]"
        chunk = slice(m * per_map, (m + 1) * per_map)
        cells.append(f"<div><span>{_e(label)}</span>{_svg(name, index, rel[chunk], marks[chunk], rows, cols, cols)}</div>")
    return (f"<div class='scroll'><div class='bank' style='grid-template-columns:repeat({per_row},max-content)'>"
            f"{''.join(cells)}</div></div>")


def _unravel(flat: int, shape: Sequence[int]) -> list[int]:
    out = []
    for n in reversed(shape):
        out.append(flat % n)
        flat //= n
    return out[::-1]


def _svg(name: str, prefix: Sequence[int], rel: Sequence[Any], marks: str, rows: int, cols: int, wrap: int) -> str:
    n = len(rel)
    if rows == 1 and cols > wrap:
        rows, cols = -(-n // wrap), wrap
    size = 22 if cols <= 8 else 14 if cols <= 24 else 9 if cols <= 48 else 6
    width, height = cols * size + 2, rows * size + 2
    wrong = marks.count("X")
    label = f"{name}{list(prefix) if prefix else ''}: {wrong} wrong of {n} cells"
    parts = [(f"<svg role='img' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' aria-label='{_e(label)}'>"),
             f"<rect width='{width}' height='{height}' fill='{GRID}'/>"]  # shows as 1 px lines between cells
    outlines = []
    for k in range(n):
        r, c = divmod(k, cols)
        mark = marks[k] if k < len(marks) else " "
        fill = UNCHECKED if mark == " " else EXCLUDED if mark == "~" else _colour(rel[k])
        x, y = 1 + c * size, 1 + r * size
        tip = "not compared" if mark == " " else "excluded (kink or clip)" if mark == "~" else f"rel err {_fmt_err(rel[k])}"
        if mark == "X":
            tip += ", WRONG"
        title = f"<title>{tip}</title>" if n <= TITLED_CELLS else ""
        parts.append(f"<rect x='{x + 0.5}' y='{y + 0.5}' width='{size - 1}' height='{size - 1}' fill='{fill}'>"
                     f"{title}</rect>")
        if mark == "X":
            outlines.append(f"<rect class='wrong' x='{x + 0.75}' y='{y + 0.75}' width='{size - 1.5}' "
                            f"height='{size - 1.5}'/>")
    if outlines:  # drawn last, so no neighbour covers a frame
        parts += [f"<g fill='none' stroke='{OUTLINE}' stroke-width='1.5'>", *outlines, "</g>"]
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    stops = "".join(f"<rect x='{i * 14}' y='0' width='14' height='12' fill='{c}'/>" for i, c in enumerate(PALETTE))
    scale = (f"<svg width='{14 * len(PALETTE)}' height='12' role='img' "
             f"aria-label='colour scale of the relative error'>{stops}</svg>")
    frame = (f"<svg width='14' height='14' aria-hidden='true'><rect x='1' y='1' "
             f"width='12' height='12' fill='{PALETTE[-1]}' stroke='{OUTLINE}' stroke-width='2'/></svg>")
    swatch = ("<svg width='12' height='12' aria-hidden='true'>"
              "<rect width='12' height='12' fill='{}' stroke='#999'/></svg>")
    return (f"<div class='legend'><span>{LOW:.0e} {scale} {HIGH:g}+ relative error</span>"
            f"<span>{frame} framed: wrong</span><span>{swatch.format(EXCLUDED)} excluded</span>"
            f"<span>{swatch.format(UNCHECKED)} not compared</span></div>")


# ----------------------------------------------------------------- pages


def page(title: str, body: str) -> str:
    """A whole self-contained HTML document."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>body{{margin:1em}}{STYLE}</style></head>"
            f"<body><main class='gc'>{body}</main>{_PRINT_SCRIPT}</body></html>\n")


def _sort_failures_first(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (bool(r.get("ok")), "expected_failure" in r))


def render_checks_page(data: Record, *, title: str = "gradcheck report") -> str:
    """The page of a run of checks (``--gradcheck-json``'s data): failures first, then the rest.

    Parameters
    ----------
    data
        ``{"seed": S, "checks": [record, ...], "not_checked": [...]}``; a record may
        carry a ``description`` shown under its headline.
    title
        The page's title.
    """
    checks = list(data.get("checks") or [])
    failed = [r for r in checks if not r.get("ok") and "expected_failure" not in r]
    expected = [r for r in checks if "expected_failure" in r]
    seed = data.get("seed")
    summary = f"{len(checks)} checks, {len(failed)} failed" + (f", {len(expected)} failed as expected" if expected else "")
    if seed is not None:
        summary += f"; seed {seed} (rerun with --gradcheck-seed {seed})"
    parts = [(f"<h1>{_e(title)}</h1><p>{_badge('FAILED' if failed else 'all passed', 'bad' if failed else 'ok')} "
             f"{_e(summary)}</p>"), _contents(checks)]
    for n, record in enumerate(_sort_failures_first(checks)):
        note = str(record.get("description", ""))
        if record.get("id") and record.get("id") != record.get("name"):
            note = f"{record['id']}" + (f": {note}" if note else "")
        parts.append(render_report(record, heading="h2", note=note, anchor=f"check-{n}"))
    not_checked = data.get("not_checked") or []
    if not_checked:
        parts.append("<h2>Not checked</h2><ul>")
        parts += [f"<li><code>{_e(n.get('id', '?'))}</code>: {_e(n.get('message', ''))}</li>" for n in not_checked]
        parts.append("</ul>")
    return page(title, "".join(parts))


def _contents(checks: Sequence[Record]) -> str:
    rows = ["<tr><th scope='col'>check</th><th scope='col'>verdict</th><th scope='col'>wrong parameters</th></tr>"]
    for n, r in enumerate(_sort_failures_first(checks)):
        wrong = ", ".join(n for n, p in (r.get("params") or {}).items() if _wrong(p))
        verdict = _badge("ok", "ok") if r.get("ok") else _badge(
            "FAILED (expected)", "warn") if "expected_failure" in r else _badge("FAILED", "bad")
        rows.append(f"<tr><td><a href='#check-{n}'><code>{_e(r.get('id', r.get('name', '?')))}</code></a></td><td>{verdict}</td>"
                    f"<td>{_e(wrong)}</td></tr>")
    return f"<div class='scroll'><table class='contents'>{''.join(rows)}</table></div>"


# ----------------------------------------------------------------- the class dashboard

_STATUS_TONE = {"ok": "ok", "failed": "bad", "interrupted": "warn"}


def _status_badge(status: str) -> str:
    return _badge(status, _STATUS_TONE.get(status, "bad" if status != "ok" else "ok"))


def render_class_page(result: Record, *, title: str = "gradcheck: class results") -> str:
    """The instructor's dashboard of ``grade_folder``'s result (``gradcheck grade --json``'s data).

    Parameters
    ----------
    result
        ``{"checks": [{"name", "points", "required"}], "submissions": [record, ...], ...}``.
    title
        The page's title.
    """
    subs = list(result.get("submissions") or [])
    names = [c["name"] for c in result.get("checks") or []]
    total = sum(_num(s.get("score")) for s in subs)
    possible = sum(_num(s.get("max_score")) for s in subs)
    statuses = Counter(str(s.get("status", "?")) for s in subs)
    head = (f"<h1>{_e(title)}</h1><p>{len(subs)} submissions, graded in {_e(_fmt_secs(result.get('time')))}; "
            f"total {_e(f'{total:g}')}/{_e(f'{possible:g}')}"
            + (f"; spec <code>{_e(result['spec'])}</code>" if result.get("spec") else "")
            + (f"; isolation: {_e(result['isolation'])}" if result.get("isolation") else "")
            + (f"; {_badge('INTERRUPTED', 'bad')}" if result.get("interrupted") else "") + "</p>"
            + "<div class='counts' aria-label='submissions by status'>"
            + "".join(f"{_status_badge(s)}<span>{n}</span>" for s, n in sorted(statuses.items())) + "</div>")
    parts = [head, "<h2>Scores</h2>", _histogram(subs), "<h2>Checks</h2>", _per_check(names, subs),
             "<h2>Students</h2>", _students(names, subs)]
    return page(title, "".join(parts))


def _fmt_secs(value: Any) -> str:
    v = _num(value)
    return f"{v:.1f} s" if math.isfinite(v) else "?"


def _histogram(subs: Sequence[Record], bins: int = 10) -> str:
    counts = [0] * bins
    for s in subs:
        share = _num(s.get("score")) / _num(s.get("max_score")) if _num(s.get("max_score")) else 0.0
        counts[min(int(share * bins), bins - 1) if math.isfinite(share) else 0] += 1
    top = max(counts) or 1
    bar_w, plot_h = 44, 120
    bars = []
    for i, n in enumerate(counts):
        h = round(plot_h * n / top)
        x, y = i * bar_w, plot_h - h + 16
        lo, hi = 100 * i // bins, 100 * (i + 1) // bins
        bars.append(f"<rect x='{x + 4}' y='{y}' width='{bar_w - 8}' height='{h}' fill='#4a7bb7'>"
                    f"<title>{lo}-{hi}%: {n} submissions</title></rect>"
                    f"<text x='{x + bar_w / 2}' y='{y - 3}' text-anchor='middle' font-size='12'>{n}</text>"
                    f"<text x='{x + bar_w / 2}' y='{plot_h + 30}' text-anchor='middle' font-size='10'>{lo}-{hi}</text>")
    described = "; ".join(f"{100 * i // bins}-{100 * (i + 1) // bins}%: {n}" for i, n in enumerate(counts) if n)
    return (f"<figure class='histogram'><svg role='img' width='{bins * bar_w}' "
            f"height='{plot_h + 36}' viewBox='0 0 {bins * bar_w} {plot_h + 36}' "
            f"aria-label='score histogram: {_e(described)}'>{''.join(bars)}</svg>"
            "<figcaption>submissions per share of the marks, in %</figcaption></figure>")


def _per_check(names: Sequence[str], subs: Sequence[Record]) -> str:
    rows = [("<tr><th scope='col'>check</th><th scope='col'>passed</th><th scope='col'>parameters most often wrong</th>"
            "<th scope='col'>other findings</th></tr>")]
    for name in names:
        records = [c for s in subs for c in s.get("checks") or [] if c.get("id") == name]
        passed = sum(bool(c.get("ok")) for c in records)
        share = passed / len(records) if records else 0.0
        wrong = Counter(p for c in records for p, v in (c.get("params") or {}).items() if _wrong(v))
        kinds = Counter(f.get("kind") for c in records for f in c.get("findings") or []
                        if f.get("kind") not in ("mismatch", "kink-excluded", "clipped-excluded"))
        common = ", ".join(f"{_e(p)} ({n})" for p, n in wrong.most_common(5)) or "-"
        other = ", ".join(f"{_e(k)} ({n})" for k, n in kinds.most_common(5)) or "-"
        rows.append(f"<tr><th scope='row'><code>{_e(name)}</code></th><td><span class='bar' "
                    f"style='width:{round(60 * share)}px'></span> {passed}/{len(records)} ({100 * share:.0f}%)</td>"
                    f"<td>{common}</td><td>{other}</td></tr>")
    return f"<div class='scroll'><table class='checks'>{''.join(rows)}</table></div>"


def _students(names: Sequence[str], subs: Sequence[Record]) -> str:
    from_worst = sorted(subs, key=lambda s: (_num(s.get("score")) / (_num(s.get("max_score")) or 1), str(s.get("id"))))
    out = []
    for s in from_worst:
        by_name = {c.get("id"): c for c in s.get("checks") or []}
        cells = " ".join(_check_cell(n, by_name.get(n)) for n in names)
        summary = (f"<summary><strong>{_e(s.get('id', '?'))}</strong> "
                   f"<span>{_e(_points(s.get('score')))}/{_e(_points(s.get('max_score')))}</span> "
                   f"{_status_badge(str(s.get('status', '?')))} <span>{cells}</span></summary>")
        facts = [f"seed {s['seed']}" if s.get("seed") is not None else "",
                 f"graded in {_fmt_secs(s['time'])}" if s.get("time") is not None else ""]
        body = [f"<p>{_e('; '.join(f for f in facts if f))}</p>" if any(facts) else ""]
        body += [render_report(by_name[n], heading="h4") for n in names if n in by_name]
        if s.get("output"):
            body.append(f"<details><summary>output of the submission</summary><pre>{_e(s['output'])}</pre></details>")
        out.append(f"<details class='student' data-student='{_e(s.get('id', '?'))}'>{summary}{''.join(body)}</details>")
    return "".join(out)


def _check_cell(name: str, record: Record | None) -> str:
    if record is None:
        return f"{_e(name)}: -"
    if record.get("ok"):
        return f"{_e(name)}: {_badge('ok', 'ok')}"
    wrong = [p for p, v in (record.get("params") or {}).items() if v.get("status") == "wrong"]
    kinds = [f.get("kind") for f in record.get("findings") or [] if _summarized(f.get("kind"))]
    text = ("WRONG " + ",".join(wrong)) if wrong else (kinds[0] if kinds else "failed")
    return f"{_e(name)}: {_badge(str(text), 'bad')}"


def _summarized(kind: Any) -> bool:
    """A kind named beside the verdict: not a mismatch (the parameters say it), not a note."""
    try:
        return Kind(kind).summarized
    except ValueError:  # a record from another version: show what it says
        return True


def _points(value: Any) -> str:
    v = _num(value)
    return f"{round(v, 2):g}" if math.isfinite(v) else "?"
