"""Every calling convention, on both sides: correct code passes, each bug is named."""

import numpy as np
import pytest
from gradcheck.reference_models import class_layers, lstm_layer, min_char_rnn, normalization, rnn_cell, two_layer_net

import gradcheck as gc

# ----------------------------------------------------------- dict of parameters


def test_dict_parameters_are_reported_as_dict_entries():
    report = gc.check(rnn_cell.rnn_cell_backward, seed=0)
    assert report.ok, report
    assert list(report.params) == ["xt", "a_prev", "parameters.Wax", "parameters.Waa", "parameters.ba"]


def test_dict_parameter_gradient_of_the_wrong_shape_names_the_entry():
    report = gc.check(rnn_cell.rnn_cell_backward_flat_bias, seed=0)
    assert report.wrong_params() == ["parameters.ba"]
    assert report.params["parameters.ba"].status == "shape"
    assert "the values are right: only the shape is wrong" in report.params["parameters.ba"].hints
    (finding,) = [f for f in report.findings if f.kind == "shape"]
    assert finding.params == ["parameters.ba"] and "(1,)" in finding.message


# ------------------------------------------------------------ unrolled vector


def _unrolled_cost(order, scale_b=1.0):
    @gc.returns_grad(
        shapes={"theta": "D*M + M"},
        unroll={"theta": {"A": "D,M", "B": "M"}},
        unroll_order=order,
        args={"X": lambda d, rng: rng.standard_normal((d.N, d.D))},
        dims={"N": (1, 4)},
    )
    def cost(theta, X):
        D, M = X.shape[1], (theta.size) // (X.shape[1] + 1)
        A = theta[: D * M].reshape((D, M), order=order)
        B = theta[D * M:]
        R = X @ A + B
        grad_a, grad_b = 2 * X.T @ R, scale_b * 2 * R.sum(axis=0)
        return np.sum(R * R), np.concatenate([grad_a.ravel(order=order), grad_b])

    return cost


@pytest.mark.parametrize("order", ["C", "F"])
def test_unrolled_pieces_in_either_order(order):
    report = gc.check(_unrolled_cost(order), seed=1)
    assert report.ok, report
    assert list(report.params) == ["A", "B"]
    assert report.params["A"].shape == (report.config["D"], report.config["M"])


def test_unrolled_bug_names_the_piece_and_its_entries():
    report = gc.check(_unrolled_cost("F", scale_b=2.0), seed=1)
    assert report.wrong_params() == ["B"]
    assert report.params["B"].worst[0][0] == (0,)
    assert any("factor 2" in h for h in report.params["B"].hints)


@pytest.mark.parametrize("order", ["C", "F"])
def test_unrolled_entries_are_named_in_the_declared_order(order):
    @gc.returns_grad(shapes={"theta": "D*M"}, unroll={"theta": {"A": "D,M"}}, unroll_order=order)
    def cost(theta):
        A = theta.reshape((2, 3), order=order)
        grad = 2 * A
        grad[0, 1] += 1.0  # the one wrong entry
        return float(np.sum(A * A)), grad.ravel(order=order)

    report = gc.check_at(cost, {"D": 2, "M": 3})
    assert report.wrong_params() == ["A"]
    assert [index for index, _, _ in report.params["A"].worst] == [(0, 1)]


def test_unroll_pieces_that_do_not_add_up_are_a_clear_error():
    @gc.returns_grad(shapes={"theta": "D*M + M + 1"}, unroll={"theta": {"A": "D,M", "B": "M"}})
    def cost(theta):
        return float(theta @ theta), 2 * theta

    report = gc.check(cost, seed=0)
    assert not report.ok
    assert "pieces in unroll['theta'] add up to" in report.errors[0]


# ------------------------------------------------- module globals and clipping


def test_min_char_rnn_globals_are_set_per_call_and_restored():
    before = {n: getattr(min_char_rnn, n) for n in ("Wxh", "Whh", "Why", "bh", "by")}
    report = gc.check(min_char_rnn.lossFun, seed=0)
    assert report.ok, report
    assert list(report.params) == ["Wxh", "Whh", "Why", "bh", "by"]
    assert all(getattr(min_char_rnn, n) is a for n, a in before.items()), "the module's arrays must be restored"


def test_min_char_rnn_wrong_state_names_whh_only():
    report = gc.check(min_char_rnn.lossFun_wrong_state, seed=0)
    assert report.wrong_params() == ["Whh"]


def _clipped_square(clip):
    @gc.returns_grad(shapes={"x": "N"}, dims={"N": (3, 6)}, clip=clip)
    def f(x):
        return float(np.sum(3 * x**2)), np.clip(6 * x, -2, 2)  # clipped to [-2, 2]

    return f


def test_clipped_gradients_pass_when_declared_and_are_counted():
    assert gc.check(_clipped_square(2), seed=0).ok
    report = gc.check_at(_clipped_square(2), {"N": 6}, seed=3)
    assert report.ok, report
    x = report.params["x"]
    assert x.n_clipped >= 1 and x.n_excluded >= x.n_clipped
    assert any(f.kind == "clipped-excluded" for f in report.findings)


def test_clipping_not_declared_is_a_mismatch():
    assert not gc.check(_clipped_square(None), seed=0).ok


# --------------------------------------------------------------- class layers


def test_class_layer_gradient_attributes_found_by_name():
    report = gc.check(class_layers.make_linear, seed=0)
    assert report.ok, report
    assert list(report.params) == ["x", "W", "b"]


def test_class_layer_bug_names_w_from_n_2():
    report = gc.check(class_layers.make_linear_mean_grad, seed=0)
    assert report.wrong_params() == ["W"]
    assert report.config["N"] == 2


def test_declared_sign_convention_passes_and_undeclared_is_a_sign_hint():
    assert gc.check(class_layers.make_full_connected_layer, seed=0).ok

    @gc.layer(inputs={"input_array": "I,1"}, params={"W": "W_grad", "b": "b_grad"}, wrt=["W", "b"],
              output=lambda layer: layer.output, backward=class_layers._tutorial_backward, dims={"O": (1, 4)})
    def without_sign(d, rng):
        return class_layers.FullConnectedLayer(d.I, d.O, class_layers.SigmoidActivator(), rng)

    report = gc.check(without_sign, seed=0)
    assert report.wrong_params() == ["W", "b"]
    assert any("sign" in h and "flipped" in h for h in report.params["W"].hints), report


def test_parameters_in_a_list_of_objects_and_python_number_biases():
    report = gc.check(class_layers.make_conv_layer, seed=0)
    assert report.ok, report
    assert report.params["filters[1].bias"].shape == ()
    assert "filters[0].weights" in report.params


def test_missing_gradient_attribute_is_not_implemented_naming_it():
    class Half(class_layers.Linear):
        def backward(self, dout):
            self.dW = self.x.T @ dout
            return dout @ self.W.T

    @gc.layer(inputs={"x": "N,D"}, params={"W": "dW", "b": "db"}, dims={"M": (1, 3)})
    def make(d, rng):
        return Half(d.D, d.M, rng)

    report = gc.check(make, seed=0)
    assert not report.ok
    assert any(f.kind == "not-implemented" and f.params == ["b"] and "db" in f.message for f in report.findings)


def test_class_layer_writing_into_its_cached_input_is_a_mutation():
    class ReLU:
        def forward(self, x):
            self.x = x
            return np.maximum(x, 0)

        def backward(self, dout):
            self.x[self.x < 0] = 0  # corrupts the stored forward input
            return dout * (self.x > 0)

    @gc.layer(inputs={"x": "N,D"})
    def make(d):
        return ReLU()

    report = gc.check(make, seed=0)
    assert report.params["x"].ok
    assert any(f.kind == "mutation" and "ReLU.x" in f.message for f in report.findings), report.findings


# --------------------------------------------------------------------- models


def test_model_with_a_params_dict():
    assert gc.check(two_layer_net.make_two_layer_net, seed=0).ok
    report = gc.check(two_layer_net.make_two_layer_net_no_reg_grad, seed=0)
    assert report.wrong_params() == ["W1"]


def test_check_model_in_one_call():
    report = gc.check_model(
        lambda d, rng: two_layer_net.TwoLayerNet(d.D, d.H, d.C, rng),
        X="N,D", y=gc.labels("N", classes="C"), dims={"H": (1, 3), "C": (2, 3)}, seed=2, examples=20,
    )
    assert report.ok and report.examples == 20
    assert list(report.params) == ["W1", "b1", "W2", "b2"]


# ------------------------------------------------------ more real-code shapes


def test_stateful_lstm_with_twelve_parameter_attributes():
    report = gc.check(lstm_layer.make_lstm_layer, seed=0)
    assert report.ok, report
    assert len(report.params) == 12 and "Wfh" in report.params


def test_stateful_lstm_without_the_cell_carry_names_the_gates_feeding_the_cell():
    report = gc.check(lstm_layer.make_lstm_layer_no_cell_carry, seed=0)
    assert report.config["T"] == 2, "one step has nothing to carry"
    # At T=2 the step-1 input and candidate gates reach the loss only through c_1.
    assert report.wrong_params() == ["Wix", "bi", "Wcx", "bc"], report


def test_int_and_config_arguments_between_differentiable_ones():
    report = gc.check(normalization.groupnorm_backward, seed=0)
    assert report.ok, report
    assert report.config["C"] == report.config["G"] * report.config["K"]
