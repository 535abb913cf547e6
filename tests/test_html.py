"""HTML reports without a browser: the DOM holds every wrong parameter, outlines, escaped text, no URLs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from dom import parse
from gradcheck.reference_models import affine
from gradcheck.reference_models.buggy import conv, pooling

import gradcheck as gc
import gradcheck.checking  # noqa: F401  (imported before pytester's runs, see test_plugin)
import gradcheck.plugin.collect  # noqa: F401
from gradcheck.report.error_map import MAP_CELLS, error_map
from gradcheck.report.html import heatmap, render_checks_page, render_class_page, render_fragment

CONV_DIMS = {'N': 1, 'C': 2, 'F': 3, 'H': 5, 'W': 5, 'HH': 3, 'WW': 3, 'S': 2, 'P': 0}  # x: 48 of 50 entries wrong
HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']


@pytest.fixture(scope="module")
def conv_report():
    return gc.check_at(conv.conv_backward_ignoring_stride, CONV_DIMS, seed=0)


@pytest.fixture(scope="module")
def bias_report():
    return gc.check(affine.affine_backward_mean_bias, seed=0, examples=20)


def heatmaps(root):
    return {f.attrs["data-param"]: f for f in root.find_all("figure", class_="heatmap")}


def test_every_wrong_parameter_has_its_table_row_entries_and_heatmap(conv_report, bias_report):
    for report in (conv_report, bias_report):
        assert report.wrong_params()
        root = parse(report._repr_html_())
        rows = {tr.find_all("th")[0].all_text(): tr.all_text() for tr in root.find_all("tr")
                if tr.parent and "params" in tr.parent.attrs.get("class", "") and tr.find_all("td")}
        assert set(rows) == set(report.params)
        maps = heatmaps(root)
        assert set(maps) == set(report.wrong_params())
        for name in report.wrong_params():
            assert "WRONG" in rows[name]  # the verdict in words, not only a colour
            worst = [t for t in root.find_all("table", class_="worst") if name in t.all_text()]
            assert worst and report.params[name].worst
        for name in set(report.params) - set(report.wrong_params()):
            assert "ok" in rows[name]


def test_wrong_entries_are_outlined_cell_for_cell(conv_report):
    root = parse(conv_report._repr_html_())
    assert set(conv_report.wrong_params()) == {"x", "w"}
    assert 0 < conv_report.params["x"].n_wrong < conv_report.params["x"].n_checked
    for name in conv_report.wrong_params():
        p = conv_report.params[name]
        figure = heatmaps(root)[name]
        cells = [r for r in figure.find_all("rect") if "wrong" not in r.attrs.get("class", "")
                 and r.find_all("title")]
        outlined = figure.find_all("rect", class_="wrong")
        assert len(cells) == int(np.prod(p.shape))  # a 4-D filter bank: one cell per entry
        assert len(outlined) == p.n_wrong
        wrong_tips = [c for c in cells if c.find_all("title")[0].all_text().endswith("WRONG")]
        assert len(wrong_tips) == p.n_wrong
        # the bank is laid out filters x channels: one small map per (f, c)
        assert len(figure.find_all("div", class_="bank")[0].find_all("svg")) == int(np.prod(p.shape[:-2]))


def test_a_bias_is_a_strip_and_maps_are_in_the_json(bias_report):
    data = json.loads(bias_report.to_json())
    emap = data["params"]["b"]["error_map"]
    assert emap["shape"] == list(bias_report.params["b"].shape)
    assert emap["marks"].count("X") == bias_report.params["b"].n_wrong
    assert data["params"]["x"]["error_map"] is None  # only wrong parameters carry a map
    assert data["reproduce"] == bias_report.reproduce


def test_large_parameters_are_folded_without_losing_a_wrong_entry():
    shape = (3, 70, 70)
    n = int(np.prod(shape))
    rel = np.full(n, 1e-9)
    wrong = np.zeros(n, bool)
    wrong[n - 1] = True
    rel[n - 1] = 0.5
    emap = error_map(shape, np.arange(n), rel, wrong, np.zeros(n, bool))
    cells = int(np.prod(emap["shape"]))
    assert cells <= MAP_CELLS and len(emap["rel"]) == len(emap["marks"]) == cells
    assert emap["marks"].count("X") == 1 and emap["marks"][-1] == "X" and max(emap["rel"]) == 0.5
    assert [-(-s // b) for s, b in zip(shape, emap["block"])] == emap["shape"]
    html = render_fragment({"name": "big", "ok": False, "config": {}, "params": {"W": {
        "ok": False, "status": "wrong", "shape": list(shape), "n_checked": n, "n_wrong": 1, "error_map": emap}}})
    assert "folded" in html and len(parse(html).find_all("rect", class_="wrong")) == 1


def test_bisection_maps_mark_what_was_not_compared():
    dims = {'N': 2, 'C': 2, 'H': 6, 'W': 6, 'PH': 2, 'PW': 2, 'S': 2}
    report = gc.check_at(pooling.max_pool_backward_first_element, dims, seed=0, mode="probe")
    p = report.params["x"]
    assert p.method == "probe" and not p.ok
    assert p.error_map["marks"].count("X") == p.n_wrong and " " in p.error_map["marks"]
    figure = heatmaps(parse(report._repr_html_()))["x"]
    assert len(figure.find_all("rect", class_="wrong")) == p.n_wrong
    assert "not compared" in figure.all_text()


def hostile_record():
    evil, evil2 = HOSTILE
    return {
        "id": evil, "name": evil2, "ok": False, "config": {evil: 2}, "examples": 3, "seed": 0,
        "errors": [f"backward raised {evil}"],
        "findings": [{"kind": evil, "params": [evil2], "config": {}, "message": f"message {evil2}"}],
        "params": {evil: {"ok": False, "status": "wrong", "shape": [2], "n_checked": 2, "n_wrong": 1,
                          "max_abs_error": 1.0, "max_rel_error": "inf", "worst": [[[0], "nan", 1.0]],
                          "hints": [evil2], "error_map": {"shape": [2], "block": [1], "rel": ["inf", None], "marks": "X "}},
                   evil2: {"ok": True, "status": "ok", "shape": [2], "n_checked": 2}},
        "reproduce": f"gc.check_at({evil})", "description": evil2,
    }


def hostile_class():
    record = {**hostile_record(), "id": "affine", "points": 2, "score": 0.0}
    return {"spec": HOSTILE[0], "time": 1.0, "interrupted": False, "checks": [{"name": "affine", "points": 2}],
            "submissions": [{"id": HOSTILE[1], "score": 0.0, "max_score": 2, "status": "crashed",
                             "checks": [record], "output": f"printed {HOSTILE[0]} {HOSTILE[1]}"}]}


@pytest.mark.parametrize("render", [
    lambda: render_fragment(hostile_record()),
    lambda: render_checks_page({"seed": 0, "checks": [hostile_record()], "not_checked": [
        {"id": HOSTILE[0], "message": HOSTILE[1]}]}),
    lambda: render_class_page(hostile_class()),
], ids=["fragment", "checks-page", "class-page"])
def test_names_and_messages_cannot_inject_html(render):
    text = render()
    root = parse(text)
    assert not root.find_all("img")
    scripts = root.find_all("script")
    assert all("beforeprint" in s.all_text() for s in scripts) and len(scripts) <= 1
    assert not any(k.startswith("on") for e in root.walk() for k in e.attrs)
    assert HOSTILE[0] in root.all_text() and HOSTILE[1] in root.all_text()  # shown, as text


def test_pages_are_self_contained(conv_report):
    pages = [render_fragment(conv_report.to_dict()),
             render_checks_page({"seed": 0, "checks": [conv_report.to_dict()]}),
             render_class_page(hostile_class())]
    for text in pages:
        assert not re.search(r"(?i)https?:|//[a-z0-9]|url\(|@import|<link|<iframe|<object|<embed", text)
        root = parse(text)
        for element in root.walk():
            for attr in ("src", "href", "xlink:href", "action"):
                value = element.attrs.get(attr)
                assert value is None or value.startswith("#"), (element.tag, attr, value)


def test_checks_page_puts_failures_first(conv_report):
    passing = gc.check(affine.affine_backward, seed=0, examples=5).to_dict()
    text = render_checks_page({"seed": 7, "checks": [passing, conv_report.to_dict()]})
    headings = [h.all_text() for h in parse(text).find_all("h2")]
    assert headings[0].startswith("conv_backward_ignoring_stride: FAILED") and headings[1].startswith("affine_backward: ok")
    assert conv_report.reproduce in parse(text).all_text()


def test_class_page_counts_statuses_and_common_mistakes():
    ok = {"id": "affine", "ok": True, "params": {}, "findings": [], "config": {}}
    wrong_b = {"id": "affine", "ok": False, "params": {"b": {"ok": False, "status": "wrong", "shape": [3]}},
               "findings": [], "config": {"N": 2}}
    timeout = {"id": "affine", "ok": False, "params": {}, "findings": [{"kind": "timeout", "message": "slow"}], "config": {}}
    subs = [{"id": f"s{i}", "score": s, "max_score": 2, "status": st, "checks": [c]} for i, (s, st, c) in
            enumerate([(2, "ok", ok), (1, "failed", wrong_b), (1, "failed", wrong_b), (0, "timeout", timeout)])]
    root = parse(render_class_page({"checks": [{"name": "affine"}], "submissions": subs, "time": 3.0}))
    row = root.find_all("table", class_="checks")[0].find_all("tr")[1].all_text()
    assert "1/4 (25%)" in row and "b (2)" in row and "timeout (1)" in row
    students = root.find_all("details", class_="student")
    assert [d.attrs["data-student"] for d in students] == ["s3", "s1", "s2", "s0"]  # lowest scores first
    assert "timeout" in students[0].find_all("summary")[0].all_text()
    assert "4 submissions" in root.all_text()
    bars = root.find_all("figure", class_="histogram")[0].find_all("rect")
    assert sorted(int(t.all_text().split(": ")[1].split()[0]) for b in bars for t in b.find_all("title")) == [0] * 7 + [1, 1, 2]


def test_pytest_writes_one_html_page_also_under_xdist(pytester):
    pytester.makepyfile(layers='''
import gradcheck as gc

def affine_forward(x, w, b):
    return x @ w + b, (x, w)

@gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)

@gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
def affine_backward_mean(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)
''')
    for extra in ([], ["-n", "2"]):
        result = pytester.runpytest("--gradcheck", "layers.py", "--gradcheck-seed", "1", "--gradcheck-html",
                                    "out/report.html", *extra)
        result.assert_outcomes(passed=1, failed=1)
        root = parse((pytester.path / "out" / "report.html").read_text())
        sections = root.find_all("section")
        assert len(sections) == 2 and "FAILED" in sections[0].all_text()
        assert set(heatmaps(root)) == {"b"}
        assert not list(pytester.path.glob("out/*.partial"))


def test_html_ini_key(pytester):
    pytester.makeini("[pytest]\ngradcheck_html = page.html\n")
    pytester.makepyfile(test_nothing="def test_x():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert "<!DOCTYPE html>" in (pytester.path / "page.html").read_text()


def test_demo_html_shows_the_seed_bugs_as_pictures(tmp_path, capsys):
    from gradcheck.cli import DEMO, main

    assert main(["demo", "--examples", "10", "--html", str(tmp_path / "demo.html")]) == 0
    root = parse((tmp_path / "demo.html").read_text())
    sections = root.find_all("section")
    bugs = [f"{module}.{name}" for module, name, expected, _ in DEMO if not expected]
    assert len(sections) == len(DEMO) + len(bugs)  # each bug also at the top of its ranges, to show its pattern
    failed = {s.find_all("p")[0].all_text().split(":")[0]: s for s in sections if "failed" in s.attrs["class"]}
    assert set(failed) == set(bugs) | {f"{b} (larger)" for b in bugs}
    larger = failed["gradcheck.reference_models.char_rnn.make_char_rnn_buggy (larger)"]
    cells = [t.all_text() for t in larger.find_all("title")]
    assert any(c.endswith("WRONG") for c in cells) and any(not c.endswith("WRONG") for c in cells)
    assert {"W", "b", "Theta2", "Wxh"} <= set(heatmaps(root))


@pytest.mark.parametrize("shape", [(), (1,), (70,), (3, 4), (2, 3, 4), (2, 3, 2, 2), (2, 1, 2, 3, 2), (5000,), (3, 40, 40)])
def test_every_rank_is_drawn_cell_for_cell(shape):
    n = int(np.prod(shape))
    rng = np.random.default_rng(n)
    rel = rng.random(n)
    wrong, excluded = rel > 0.6, (rel > 0.5) & (rel <= 0.6)
    emap = error_map(shape, np.arange(n), rel, wrong, excluded)
    figure = parse(heatmap("p", emap, legend=False))
    cells = [r for r in figure.find_all("rect") if r.attrs.get("fill") not in (None, "none", "#c8c8c8")
             and r.parent.tag == "svg" and r.parent.attrs.get("role") == "img"]
    assert len(cells) == int(np.prod(emap["shape"])) == len(emap["marks"])
    assert len(figure.find_all("rect", class_="wrong")) == emap["marks"].count("X")
    if n <= MAP_CELLS:
        assert emap["marks"].count("X") == wrong.sum() and emap["marks"].count("~") == excluded.sum()
    else:
        assert "folded" in figure.all_text()


def test_plain_text_stays_the_fallback(bias_report):
    class Printer:  # the part of IPython's pretty printer a _repr_pretty_ uses
        def __init__(self):
            self.parts = []

        def text(self, value):
            self.parts.append(value)

    printer = Printer()
    bias_report._repr_pretty_(printer, cycle=False)
    assert printer.parts == [str(bias_report)] and "WRONG" in printer.parts[0] and "<" not in printer.parts[0]


def test_a_passing_reports_headline_says_what_the_text_says():
    import html

    report = gc.check(affine.affine_backward, seed=0)
    text_headline = str(report).splitlines()[0]
    page = report._repr_html_()
    assert "last at" not in page
    assert html.escape(text_headline.split("ok (", 1)[1].rstrip(")")) in page
