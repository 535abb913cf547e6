"""An entry that feeds several outputs: the contributions are measured, and the hint says which one was kept."""

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.declare.problem import Problem
from gradcheck.engine.contributions import entry_contributions


def test_contributions_are_the_upstream_times_each_outputs_slope_and_the_entry_is_restored():
    x = np.array([0.3, -1.2, 0.7])
    g = np.array([2.0, -0.5])
    before = x.copy()

    def terms():  # out = [x0 * x1, x1 + x2]: x1 feeds both outputs
        return [np.array([x[0] * x[1], x[1] + x[2]]) * g]

    problem = Problem({"x": x}, lambda: float(sum(t.sum() for t in terms())), lambda: {}, terms=terms)
    found = entry_contributions(problem, "x", (1,))
    assert [(c.output, c.index) for c in found] == [(0, (0,)), (0, (1,))]
    assert np.allclose([c.value for c in found], [g[0] * x[0], g[1]], rtol=1e-8)
    assert [(c.index, round(c.value, 6)) for c in entry_contributions(problem, "x", (2,))] == [((1,), -0.5)]
    assert np.array_equal(x, before)  # restored bit for bit


def test_no_terms_no_contributions():
    problem = Problem({"x": np.ones(2)}, lambda: 0.0, lambda: {})
    assert entry_contributions(problem, "x", (0,)) is None


def test_max_pool_overwrite_under_overlapping_windows_is_explained_at_its_smallest_configuration():
    from gradcheck.reference_models.buggy.pooling import max_pool_backward_overwrite

    report = gc.check(max_pool_backward_overwrite, seed=0)
    d = report.config
    assert d["S"] < d["PH"] or d["S"] < d["PW"], report  # windows overlap where it fails
    [hint] = report.params["x"].hints
    assert "changes 2 output entries" in hint and "alone" in hint, hint
    assert "+= (or np.add.at)" in hint and "overlap" in hint, hint
    index = ", ".join(map(str, report.params["x"].worst[0][0]))
    assert hint.startswith(f"x[{index}] changes"), hint


def test_a_gradient_not_carried_through_time_keeps_the_own_steps_contribution():
    from gradcheck.reference_models.buggy.rnn_layers import rnn_backward_no_carry

    report = gc.check(rnn_backward_no_carry, seed=0)
    hints = " ".join(report.params["x"].hints)
    assert "alone" in hints and "not carried back to earlier time steps" in hints, report


@pytest.mark.parametrize("twin", ["conv.conv_backward_ignoring_stride", "pooling.max_pool_backward_first_element",
                                  "normalization.batchnorm_backward_no_mean_terms", "dropout.dropout_backward_unscaled",
                                  "rnn_layers.lstm_step_backward_forget_next_c"])
def test_other_bugs_get_no_contribution_hint(twin):
    import importlib

    module, name = twin.rsplit(".", 1)
    fn = getattr(importlib.import_module(f"gradcheck.reference_models.buggy.{module}"), name)
    report = gc.check(fn, seed=0)
    assert not report.ok
    for p in report.params.values():
        assert not any("contribution" in h for h in p.hints), (p.name, p.hints)


def test_a_named_cause_is_not_repeated_by_the_measured_hint():
    from gradcheck.reference_models.buggy.embedding import word_embedding_backward_fancy_index
    from gradcheck.reference_models.library_layers import make_softmax_diagonal

    [hint] = gc.check(word_embedding_backward_fancy_index, seed=0).params["W"].hints
    assert "indices that repeat" in hint
    hints = gc.check(make_softmax_diagonal, seed=0).params["x"].hints
    assert any("diagonal of the Jacobian" in h for h in hints) and not any("changes 2 output" in h for h in hints)


POOL_SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("max_pool", forward="max_pool_forward_naive", backward="max_pool_backward_naive", shapes={"x": "N,C,H,W"},
                  args={"pool_param": lambda d: {"pool_height": d.PH, "pool_width": d.PW, "stride": d.S}},
                  dims={"N": (1, 2), "C": (1, 2), "H": (1, 5), "W": (1, 5), "PH": (1, 3), "PW": (1, 3), "S": (1, 2)},
                  where=lambda d: d.H >= d.PH and d.W >= d.PW and (d.H - d.PH) % d.S == 0
                  and (d.W - d.PW) % d.S == 0)]
"""


POOL_SUBMISSION = """\
import numpy as np


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - PH) // S, 1 + (W - PW) // S))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * S:i * S + PH, j * S:j * S + PW]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * S + r, j * S + s] = dout[n, c, i, j]  # overwrites: += needed
    return dx
"""


@pytest.mark.sandbox
def test_a_graded_max_pool_overwrite_gets_the_same_hint(tmp_path):
    import json
    import subprocess
    import sys

    (tmp_path / "spec.py").write_text(POOL_SPEC)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "student.py").write_text(POOL_SUBMISSION)
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(tmp_path / "spec.py"),
                          str(tmp_path / "subs"), "--quiet", "--timeout", "30", "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=180)
    [record] = json.loads((tmp_path / "r.json").read_text())["submissions"][0]["checks"]
    assert record["status"] == "wrong", (run.stdout, run.stderr, record)
    hints = record["params"]["x"]["hints"]
    assert any("alone" in h and "+= (or np.add.at)" in h for h in hints), hints


def test_the_hint_costs_one_rebuild_and_two_passes_per_entry_tried(monkeypatch):
    from gradcheck.reference_models.buggy import pooling as buggy

    calls = {"forward": 0}
    forward = buggy.max_pool_forward_naive

    def counted(*args):
        calls["forward"] += 1
        return forward(*args)

    check = gc.check.__globals__["get_check"](buggy.max_pool_backward_overwrite)
    monkeypatch.setattr(check, "fn", counted)
    dims = {"N": 1, "C": 1, "H": 1, "W": 3, "PH": 1, "PW": 2, "S": 1}
    report = gc.check_at(buggy.max_pool_backward_overwrite, dims, seed=1)
    with_hint = calls["forward"]
    calls["forward"] = 0
    monkeypatch.setattr("gradcheck.checking.kept_contribution_hints", lambda *args, **kwargs: None)
    gc.check_at(buggy.max_pool_backward_overwrite, dims, seed=1)
    assert any("alone" in h for h in report.params["x"].hints), report
    assert with_hint - calls["forward"] == 1 + 2, (with_hint, calls)
