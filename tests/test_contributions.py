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
