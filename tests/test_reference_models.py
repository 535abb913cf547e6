"""Both sides on the bundled reference models: every bug caught, no false alarm.

The buggy models come from real forum threads (``shared/seeds`` in the design
notes); each must fail with exactly its wrong parameters named and every other
parameter ok.  The correct ones must pass over many examples (14 runs of 40 here).
"""

import pytest
from gradcheck.reference_models import affine, char_rnn, mlp, relu, rnn, softmax_loss

import gradcheck as gc

CORRECT = [
    affine.affine_backward,
    relu.relu_backward,
    relu.relu_backward_ge,
    softmax_loss.softmax_loss,
    mlp.nn_cost,
    char_rnn.make_char_rnn,
    rnn.make_fixed_recurrent_layer,
]


@pytest.mark.parametrize("target", CORRECT, ids=lambda t: t.__name__)
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_models_pass(target, seed):
    report = gc.check(target, examples=40, seed=seed)
    assert report.ok, report
    assert report.examples == 40
    assert not report.findings, report.findings


def test_affine_mean_bias_names_b_at_n_2():
    report = gc.check(affine.affine_backward_mean_bias, seed=0)
    assert report.wrong_params() == ["b"]
    assert report.config["N"] == 2
    assert any("N=2: an extra /N?" in h for h in report.params["b"].hints), report


def test_relu_inverted_mask_names_x():
    report = gc.check(relu.relu_backward_inverted_mask, seed=0)
    assert report.wrong_params() == ["x"]


def test_softmax_gradient_missing_the_mean_says_missing_n():
    report = gc.check(softmax_loss.softmax_loss_no_mean_grad, seed=0)
    assert report.wrong_params() == ["x"]
    assert report.config["N"] >= 2
    n = report.config["N"]
    assert any(f"N={n}: a missing /N?" in h for h in report.params["x"].hints), report


def test_seed_003_flipped_sigmoid_is_a_sign_flip_on_theta2s_bias_column():
    report = gc.check(mlp.nn_cost_flipped_sigmoid, seed=0)
    # Theta1's two sign errors cancel: only Theta2 is wrong, and named as a piece of theta.
    assert report.wrong_params() == ["Theta2"], report
    assert report.params["Theta1"].ok
    theta2 = report.params["Theta2"]
    assert theta2.shape == (report.config["K"], report.config["H"] + 1)
    # The bias column is not regularised, so there the flip is exact, and said.
    assert any("sign is flipped" in h and "column 0" in h for h in theta2.hints), report
    for (_, col), analytic, numeric in theta2.worst:
        if col == 0:
            assert analytic == pytest.approx(-numeric, rel=1e-5)


def test_seed_001_output_delta_with_the_sigmoid_derivative_names_both_pieces():
    report = gc.check(mlp.nn_cost_output_derivative, seed=0)
    # The wrong output delta flows back into the hidden layer: both pieces are wrong.
    assert report.wrong_params() == ["Theta1", "Theta2"], report


def test_seed_002_bptt_off_by_one_names_the_recurrent_parameters_only():
    report = gc.check(char_rnn.make_char_rnn_buggy, seed=0)
    wrong = set(report.wrong_params())
    assert {"Wxh", "bhh"} <= wrong <= {"Wxh", "Whh", "bhh"}, report
    assert report.params["Who"].ok and report.params["bho"].ok
    assert report.config["T"] == 2, "one step has nothing to carry back; two show the bug"


def test_seed_002_at_one_step_is_right():
    assert gc.check_at(char_rnn.make_char_rnn_buggy, {"T": 1, "X": 2, "H": 3, "O": 2}).ok


def test_seed_000_names_w_at_three_steps_and_reports_the_in_place_write():
    report = gc.check(rnn.make_recurrent_layer, seed=0)
    assert not report.ok
    assert report.wrong_params() == ["W"]
    assert report.config["T"] == 3, "at two steps the wrong delta only meets the zero state"
    w = report.params["W"]
    assert w.n_wrong >= 1 and w.worst
    (index, analytic, numeric) = w.worst[0]
    assert abs(analytic - numeric) > 1e-3
    mutations = [f for f in report.findings if f.kind == "mutation"]
    assert len(mutations) == 1, report.findings
    assert "state_list" in mutations[0].message and mutations[0].params == ["W"]
    assert mutations[0].config["T"] == 2, "the write into the stored state shows from two steps"
    assert [f.kind for f in report.findings if f.kind == "mismatch"] == ["mismatch"]


def test_seed_000_at_two_steps_only_the_mutation_shows():
    report = gc.check_at(rnn.make_recurrent_layer, {"T": 2, "I": 4, "S": 3})
    assert report.params["W"].ok, report
    assert not report.ok
    assert [f.kind for f in report.findings] == ["mutation"]


def test_seed_000_fixed_layer_is_right_at_the_seeds_own_sizes():
    report = gc.check_at(rnn.make_fixed_recurrent_layer, {"T": 3, "I": 4, "S": 3})
    assert report.ok, report
    assert report.params["W"].n_checked == 9
