"""Hints and detectors on both sides: the pattern present -> said; a correct model -> silence."""

import numpy as np
import pytest
from gradcheck.reference_models import char_rnn, class_layers, pooling, relu, rnn, svm, two_layer_net
from gradcheck.reference_models.buggy import pooling as buggy_pooling

import gradcheck as gc


def _backward(grad):
    """A backward for ``out = x @ w`` whose w-gradient is ``grad(x, dout)``."""

    def forward(x, w):
        return x @ w, (x, w)

    @gc.backward_of(forward, shapes={"x": "N,D", "w": "D,M"}, dims={"N": (2, 4), "D": (2, 4), "M": (2, 4)})
    def backward(dout, cache):
        x, w = cache
        return dout @ w.T, grad(x, dout)

    return backward


# ---------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    "grad, words",
    [
        (lambda x, dout: -(x.T @ dout), "sign of the analytic gradient of w is flipped"),
        (lambda x, dout: 0.5 * (x.T @ dout), "off by a factor 1/2"),
        (lambda x, dout: np.zeros((x.shape[1], dout.shape[1])), "all zeros"),
        (lambda x, dout: np.ones((x.shape[1], dout.shape[1])), "every entry of the analytic gradient of w is 1"),
        (lambda x, dout: (x.T @ dout) * np.arange(x.shape[1])[:, None].clip(max=1), "row 0 is wrong"),
    ],
    ids=["sign", "factor", "zeros", "all-equal", "rows"],
)
def test_each_pattern_is_named(grad, words):
    report = gc.check(_backward(grad), seed=0)
    assert report.wrong_params() == ["w"]
    assert words in " ".join(report.params["w"].hints), report


def test_all_zeros_is_the_not_implemented_verdict():
    report = gc.check(_backward(lambda x, dout: np.zeros((x.shape[1], dout.shape[1]))), seed=0)
    assert report.params["w"].status == "not-implemented"
    assert any(f.kind == "not-implemented" and f.params == ["w"] for f in report.findings)


def test_a_single_zero_entry_is_not_called_not_implemented():
    report = gc.check(relu.relu_backward_inverted_mask, seed=0)
    assert report.params["x"].shape == (1, 1), "shrinks to one entry, where a 0 says little"
    assert report.params["x"].status == "wrong" and not report.params["x"].hints


def test_seed_002_only_some_rows_right_and_the_map_shows_them():
    report = gc.check_at(char_rnn.make_char_rnn_buggy, {"T": 4, "X": 4, "H": 3, "O": 2}, seed=0)
    wxh = report.params["Wxh"]
    # Row 1 is right only because character 1 never occurs here (0 in both): no claim about it.
    assert not any("row 1 of Wxh is right" in h for h in wxh.hints)
    assert wxh.pattern == ["XXX", "...", "XXX", "XXX"]
    assert "wrong entries of Wxh (rows x columns" in str(report)


def test_no_map_when_every_entry_is_wrong_or_none_is():
    report = gc.check(_backward(lambda x, dout: -(x.T @ dout)), seed=0)
    assert report.params["w"].pattern == [] and report.params["x"].pattern == []


@pytest.mark.parametrize("target", [svm.svm_loss_vectorized, pooling.max_pool_backward_naive,
                                    two_layer_net.make_two_layer_net, rnn.make_fixed_recurrent_layer])
def test_correct_models_get_no_hint_and_no_map(target):
    report = gc.check(target, seed=3)
    assert report.ok, report
    assert all(not p.hints and not p.pattern for p in report.params.values())


# ------------------------------------------------------------------ detectors


def test_accumulation_is_reported_alongside_right_first_values():
    report = gc.check(class_layers.make_linear_accumulating, seed=0)
    assert not report.ok
    assert all(p.ok for p in report.params.values()), "the first backward is right"
    (finding,) = [f for f in report.findings if f.kind == "accumulation"]
    assert finding.params == ["W", "b"] and "then" in finding.message


def test_a_layer_that_resets_its_buffers_is_not_accumulating():
    report = gc.check(class_layers.make_linear, seed=0)
    assert report.ok and not report.findings


def _affine32(bug: bool):
    def forward(x, w, b):
        x, w, b = (a.astype(np.float32) for a in (x, w, b))
        return x @ w + b, (x, w)

    @gc.backward_of(forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def backward(dout, cache):
        x, w = cache
        dout = dout.astype(np.float32)
        return dout @ w.T, x.T @ dout, dout.mean(axis=0) if bug else dout.sum(axis=0)

    return backward


def test_float32_code_is_checked_at_float32_precision_and_says_so():
    report = gc.check(_affine32(bug=False), seed=0, examples=100)
    assert report.ok, report
    (note,) = report.findings
    assert note.kind == "precision" and "float32" in note.message and "1.2e-07" in note.message


def test_float32_code_with_a_bug_still_fails():
    report = gc.check(_affine32(bug=True), seed=0)
    assert report.wrong_params() == ["b"]


def test_float32_model_parameters():
    def make(d, rng):
        model = two_layer_net.TwoLayerNet(d.D, d.H, d.C, rng)
        model.params = {k: v.astype(np.float32) for k, v in model.params.items()}
        return model

    report = gc.check_model(make, X="N,D", y=gc.labels("N", classes="C"), dims={"H": (1, 4), "C": (2, 3)}, seed=1)
    assert report.ok, report
    kinds = {f.kind for f in report.findings}
    assert "precision" in kinds and kinds <= {"precision", "kink-excluded"}  # ReLU may sit at a kink


def test_saturated_sigmoid_and_tiny_gradients_are_no_false_alarm():
    def forward(x):
        out = 1 / (1 + np.exp(-x))
        return out, out

    @gc.backward_of(forward, shapes={"x": "N,D"}, ranges={"x": (-35, 35)})
    def backward(dout, out):
        return dout * out * (1 - out)

    assert gc.check(backward, seed=0, examples=100).ok


# ------------------------------------------------------------------ nasty mode


def test_nasty_values_sit_on_zeros_and_ties():
    from gradcheck.declare.dims import draw_values

    values = draw_values(np.random.default_rng(0), -1, 1, 1000, nasty=True)
    assert np.mean(values == 0) > 0.05
    assert len(np.unique(values)) < 600


@pytest.mark.parametrize("target", [relu.relu_backward, relu.relu_backward_ge, pooling.max_pool_backward_naive,
                                    svm.svm_loss_naive, two_layer_net.make_two_layer_net])
def test_correct_non_smooth_layers_pass_in_nasty_mode(target):
    for seed in (0, 1):
        report = gc.check(target, seed=seed, examples=60, nasty=True)
        assert report.ok, report


def test_nasty_mode_still_catches_bugs_and_says_how_to_replay():
    report = gc.check(buggy_pooling.max_pool_backward_overwrite, seed=0, nasty=True)
    assert report.wrong_params() == ["x"]
    assert report.reproduce.endswith("nasty=True)")
