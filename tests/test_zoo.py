"""The reference zoo on both sides: correct layers pass, every buggy twin is named.

Every twin in ``reference_models/buggy`` must fail with exactly its wrong
parameters; where its bug only shows in some configurations, the smallest
failing configuration found must be one of them, and a configuration where it
cannot show must pass.
"""

import importlib
import pkgutil

import gradcheck.reference_models.buggy as buggy
import pytest
from gradcheck.reference_models import activations, conv, dropout, embedding, normalization, pooling, rnn_layers, svm

import gradcheck as gc

CORRECT = [
    activations.leaky_relu_backward,
    activations.sigmoid_backward,
    activations.tanh_backward,
    svm.svm_loss_naive,
    svm.svm_loss_vectorized,
    dropout.dropout_backward,
    normalization.batchnorm_backward,
    normalization.layernorm_backward,
    conv.conv_backward_naive,
    pooling.max_pool_backward_naive,
    embedding.word_embedding_backward,
    rnn_layers.rnn_step_backward,
    rnn_layers.rnn_backward,
    rnn_layers.lstm_step_backward,
    rnn_layers.lstm_backward,
    rnn_layers.gru_step_backward,
    rnn_layers.temporal_softmax_loss,
]
NON_SMOOTH = {"leaky_relu_backward", "svm_loss_naive", "svm_loss_vectorized", "max_pool_backward_naive", "dropout_backward"}


@pytest.mark.parametrize("target", CORRECT, ids=lambda t: t.__name__)
def test_correct_layer_passes(target):
    seeds = (0, 1) if target.__name__ in NON_SMOOTH else (0,)
    for seed in seeds:
        report = gc.check(target, examples=40, seed=seed)
        assert report.ok, report
        assert not [f for f in report.findings if f.kind != "kink-excluded"], report.findings


def _twins():
    found = []
    for info in pkgutil.iter_modules(buggy.__path__):
        module = importlib.import_module(f"{buggy.__name__}.{info.name}")
        for obj in vars(module).values():
            check = getattr(obj, "__gradcheck__", None)
            if check is not None and check.declared_in is vars(module):
                found.append(obj)
    return found


TWINS = {t.__name__: t for t in _twins()}

# twin -> (exactly the wrong parameters, what the smallest failing config must show)
EXPECTED = {
    "leaky_relu_backward_slope_one": (["x"], None),
    "sigmoid_backward_twice": (["x"], None),
    "tanh_backward_no_square": (["x"], None),
    "svm_loss_naive_no_correct_class": (["W"], None),
    "svm_loss_vectorized_half_reg": (["W"], None),
    "dropout_backward_no_mask": (["x"], None),
    "dropout_backward_unscaled": (["x"], None),
    "batchnorm_backward_no_mean_terms": (["x"], None),
    "layernorm_backward_batch_axis": (["x"], None),
    "conv_backward_ignoring_stride": (["x", "w"], lambda d: d["S"] >= 2),
    "conv_backward_bad_crop": (["x"], lambda d: d["P"] >= 1),
    "max_pool_backward_first_element": (["x"], lambda d: d["PH"] * d["PW"] > 1),
    "max_pool_backward_overwrite": (["x"], lambda d: d["S"] < max(d["PH"], d["PW"])),
    "word_embedding_backward_fancy_index": (["W"], lambda d: d["N"] * d["T"] >= 2),
    "rnn_backward_no_carry": (["x", "h0", "Wx", "Wh", "b"], lambda d: d["T"] >= 2),
    "rnn_step_backward_next_h": (["Wh"], None),
    "lstm_step_backward_forget_next_c": (["x", "prev_h", "Wx", "Wh", "b"], None),
    "gru_step_backward_no_direct_path": (["prev_h"], None),
    "temporal_softmax_loss_unmasked_grad": (["x"], None),
}


def test_every_twin_has_an_expectation_and_there_are_at_least_15():
    assert len(TWINS) >= 15
    assert set(TWINS) == set(EXPECTED), set(TWINS) ^ set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_buggy_twin_is_named_exactly(name):
    wrong, shows_when = EXPECTED[name]
    report = gc.check(TWINS[name], seed=0)
    assert report.wrong_params() == wrong, report
    assert all(p.ok for n, p in report.params.items() if n not in wrong)
    if shows_when is not None:
        assert shows_when(report.config), report.config


@pytest.mark.parametrize(
    "name, dims",
    [
        ("conv_backward_ignoring_stride", {"N": 1, "C": 1, "F": 1, "H": 3, "W": 3, "HH": 2, "WW": 2, "S": 1, "P": 1}),
        ("conv_backward_bad_crop", {"N": 1, "C": 2, "F": 2, "H": 3, "W": 4, "HH": 2, "WW": 2, "S": 1, "P": 0}),
        ("max_pool_backward_overwrite", {"N": 1, "C": 1, "H": 4, "W": 4, "PH": 2, "PW": 2, "S": 2}),
        ("rnn_backward_no_carry", {"N": 2, "T": 1, "D": 3, "H": 2}),
        ("word_embedding_backward_fancy_index", {"N": 1, "T": 1, "V": 4, "D": 3}),
    ],
)
def test_twin_passes_where_its_bug_cannot_show(name, dims):
    assert gc.check_at(TWINS[name], dims).ok
