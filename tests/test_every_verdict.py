"""Every verdict can be trusted: no exception escapes, no verdict hidden by another."""

import numpy as np
import pytest
from gradcheck.reference_models.rnn_cell import SPEC as RNN_CELL
from gradcheck.reference_models.rnn_cell import rnn_cell_forward

import gradcheck as gc

# ------------------------------------------------- user exceptions in gc.problem


def _problem_raising_in(where: str):
    @gc.problem(dims={"N": (1, 3)})
    def make(d, rng):
        W = rng.standard_normal((d.N, 2))

        def loss():
            if where == "loss":
                return float(np.sum(W**2) + undefined_name)  # noqa: F821  (the user's bug)
            return float(np.sum(W**2))

        def grads():
            if where == "grads":
                raise ValueError("operands could not be broadcast together")
            return {"W": 2 * W}

        return gc.Problem({"W": W}, loss, grads)

    return make


@pytest.mark.parametrize("where, kind, exc", [("loss", "not-implemented", "NameError"), ("grads", "error", "ValueError")])
def test_an_exception_in_a_problems_closure_is_a_finding_with_file_and_line(where, kind, exc):
    report = gc.check(_problem_raising_in(where), seed=0, examples=5)
    assert not report.ok
    [finding] = [f for f in report.findings if f.kind == kind]
    assert exc in finding.message and "test_every_verdict.py:" in finding.message, finding.message
    assert f"{where}()" in finding.message


def test_check_at_reports_an_exception_in_a_problems_closure():
    report = gc.check_at(_problem_raising_in("grads"), {"N": 2})
    assert not report.ok and "ValueError" in str(report)


# ------------------------------------------- one bad gradient hides no other


@pytest.mark.xfail(strict=True, reason="dba has one entry too many")
@gc.backward_of(rnn_cell_forward, **RNN_CELL)
def rnn_cell_backward_bad_bias_size(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = (1 - a_next**2) * da_next
    return {"dxt": parameters["Wax"].T @ dz, "da_prev": parameters["Waa"].T @ dz, "dWax": dz @ xt.T,
            "dWaa": dz @ a_prev.T, "dba": np.zeros(len(dz) + 1)}


def test_a_wrong_sized_gradient_leaves_verdicts_for_every_other_parameter():
    report = gc.check(rnn_cell_backward_bad_bias_size, seed=0)
    assert not report.ok
    assert list(report.params) == ["xt", "a_prev", "parameters.Wax", "parameters.Waa", "parameters.ba"]
    assert report.params["parameters.ba"].status == "error"
    for name in ["xt", "a_prev", "parameters.Wax", "parameters.Waa"]:
        assert report.params[name].ok and report.params[name].n_checked > 0, report


# ---------------------------------------------------------------- honest hints


def _pool_overwrite():
    def forward(x):
        N, C, H, W = x.shape
        out = np.zeros((N, C, H - 1, W - 1))
        for i in range(H - 1):
            for j in range(W - 1):
                out[:, :, i, j] = x[:, :, i:i + 2, j:j + 2].reshape(N, C, -1).max(axis=2)
        return out, x

    @gc.backward_of(forward, shapes={"x": "N,C,H,W"}, dims={"H": (2, 6), "W": (2, 6)})
    def backward(dout, x):
        dx = np.zeros_like(x)
        N, C, H, W = x.shape
        for n in range(N):
            for c in range(C):
                for i in range(H - 1):
                    for j in range(W - 1):
                        win = x[n, c, i:i + 2, j:j + 2]
                        a, b = np.unravel_index(np.argmax(win), win.shape)
                        dx[n, c, i + a, j + b] = dout[n, c, i, j]  # the bug: = where windows overlap
        return dx

    return backward


def test_one_wrong_entry_is_no_constant_factor():
    report = gc.check(_pool_overwrite(), seed=0)
    assert report.wrong_params() == ["x"]
    assert report.config["H"] * report.config["W"] <= 6, "H=2, W=3 is the smallest overlap"
    assert not any("constant factor" in h or " x the numeric one" in h for h in report.params["x"].hints), report


def _scaled_softmax_grad(factor):
    def fn(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        loss = float(np.sum(p[:, 0]))
        dx = p[:, :1] * ((np.arange(x.shape[1]) == 0) - p)
        return loss, dx * factor(x.shape[1])

    return gc.returns_grad(shapes={"x": "N,C"}, dims={"C": (2, 4), "N": (1, 1)})(fn)


def test_a_factor_equal_to_a_dim_is_only_named_when_a_second_configuration_agrees():
    # a constant 1/2 at C=2 looks like an extra /C: at C=3 it is still 1/2, so no /C claim
    report = gc.check_at(_scaled_softmax_grad(lambda c: 0.5), {"C": 2, "N": 1})
    [hint] = report.params["x"].hints
    assert "factor 1/2" in hint and "/C" not in hint, hint
    # a real extra /C: 1/2 at C=2, 1/3 at C=3
    report = gc.check_at(_scaled_softmax_grad(lambda c: 1 / c), {"C": 2, "N": 1})
    assert any("C=2: an extra /C?" in h for h in report.params["x"].hints), report


def test_a_uniform_tiny_error_names_no_rows_or_columns():
    @gc.returns_grad(shapes={"W": "R,K"}, dims={"R": (3, 3), "K": (3, 3)})
    def fn(W):
        return float(np.sum(np.sin(W))), np.cos(W) * (1 + 1e-5)

    report = gc.check(fn, seed=0, strict=True)
    assert not report.ok
    assert not any("right" in h for h in report.params["W"].hints), report


def test_repeated_indices_are_named_as_the_cause():
    from gradcheck.reference_models.buggy.embedding import word_embedding_backward_fancy_index

    report = gc.check(word_embedding_backward_fancy_index, seed=0)
    [hint] = report.params["W"].hints
    assert "indices that repeat in x" in hint and "np.add.at" in hint


def test_a_diagonal_only_softmax_jacobian_is_named():
    from gradcheck.reference_models.library_layers import make_softmax_diagonal

    report = gc.check(make_softmax_diagonal, seed=0)
    assert any("diagonal of the Jacobian" in h for h in report.params["x"].hints), report
    assert not any("/C" in h for h in report.params["x"].hints)


# ---------------------------------------------------------------------- reports


def test_a_passing_report_shows_the_largest_configuration_and_the_worst_example():
    from gradcheck.reference_models.affine import affine_backward

    report = gc.check(affine_backward, seed=0)
    assert report.ok
    assert sum(report.largest.values()) >= sum(report.config.values())
    headline = str(report).splitlines()[0]
    assert "last at" not in headline and "largest" in headline
    assert report.to_dict()["largest"] == report.largest


def test_smaller_failure_lowers_each_dim_in_turn():
    from gradcheck.engine.example import Outcome
    from gradcheck.engine.shrink import smaller_failure
    from gradcheck.engine.verdict import ProbeResult

    check = gc.check.__globals__["get_check"](_pool_overwrite())

    def judge(dims, seed):
        failed = dims["H"] >= 2 and dims["W"] >= 3
        return Outcome(dims, seed, probe_results={"x": ProbeResult("wrong" if failed else "ok")})

    start = Outcome({"N": 2, "C": 1, "H": 3, "W": 5}, 7, probe_results={"x": ProbeResult("wrong")})
    smallest = smaller_failure(check, start, judge)
    assert smallest.dims == {"N": 1, "C": 1, "H": 2, "W": 3}


def test_the_summary_line_agrees_with_the_table():
    from gradcheck.reference_models.library_layers import make_dense_stepping

    report = gc.check(make_dense_stepping, seed=0)
    verdicts = {p.name: p.status for p in report.params.values()}
    assert verdicts == {"X": "ok", "W": "error", "w0": "error"}
    assert "not-implemented" not in str(report)


@pytest.mark.parametrize("make, words", [
    (lambda x: (x + 0j, x), "is complex"),
    (lambda x: (np.array([object()] * x.size).reshape(x.shape), x), "dtype object"),
])
def test_complex_or_object_outputs_get_a_clear_verdict(make, words):
    @gc.backward_of(make, shapes={"x": "N"})
    def backward(dout, cache):
        return dout

    report = gc.check(backward, seed=0, examples=3)
    assert not report.ok and any(words in f.message for f in report.findings if f.kind == "error"), report


def test_integer_outputs_get_a_clear_verdict():
    @gc.backward_of(lambda x: (np.floor(x * 3).astype(int), x), shapes={"x": "N"})
    def backward(dout, cache):
        return dout

    report = gc.check(backward, seed=0, examples=3)
    assert not report.ok and any("integer dtype" in f.message for f in report.findings if f.kind == "error"), report


# ------------------------------------------------------------- the names people know


def test_check_at_with_the_users_own_arrays():
    from gradcheck.reference_models.affine import affine_backward

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    report = gc.check_at(affine_backward, inputs={"x": x, "w": w, "b": b}, eps=1e-6, rtol=1e-3, atol=1e-5)
    assert report.ok is True and bool(report)
    assert report.config == {"N": 3, "D": 4, "M": 5}
    assert report.examples == 1


def test_check_at_inputs_that_disagree_with_the_declaration_is_a_clear_error():
    from gradcheck.reference_models.affine import affine_backward

    with pytest.raises(gc.SpecError, match="dim D"):
        gc.check_at(affine_backward, inputs={"x": np.zeros((3, 4)), "w": np.zeros((5, 5)), "b": np.zeros(5)})
    with pytest.raises(gc.SpecError, match="does not take"):
        gc.check_at(affine_backward, inputs={"z": np.zeros(3)})


def test_check_at_inputs_finds_a_bug_at_those_values():
    from gradcheck.reference_models.affine import affine_backward_mean_bias

    x, w, b = np.ones((2, 3)), np.ones((3, 2)), np.zeros(2)
    report = gc.check_at(affine_backward_mean_bias, inputs={"x": x, "w": w, "b": b})
    assert report.wrong_params() == ["b"]


def test_dims_may_be_empty_for_a_check_without_dims():
    @gc.returns_grad(shapes={"x": "3"})
    def fn(x):
        return float(np.sum(x**2)), 2 * x

    assert gc.check_at(fn, {}).ok and gc.check_at(fn).ok and gc.check_at(fn, dims={}).ok


@pytest.mark.parametrize("bad", [{"rtol": -1}, {"atol": "x"}, {"eps": 0}, {"strict": "yes"}])
def test_bad_tolerances_are_clear_errors(bad):
    from gradcheck.reference_models.affine import affine_backward

    with pytest.raises(gc.SpecError, match=next(iter(bad))):
        gc.check(affine_backward, seed=0, **bad)


def test_every_public_function_documents_every_argument():
    import inspect

    for name in gc.__all__:
        obj = getattr(gc, name)
        if not inspect.isfunction(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        assert "Parameters\n----------" in doc, name
        for arg in inspect.signature(obj).parameters:
            if arg in ("kwargs", "check_args"):
                continue
            assert arg in doc.split("Parameters\n----------", 1)[1], f"{name} does not document {arg}"


def test_the_plugins_summary_line_names_each_parameter_by_its_verdict():
    from gradcheck.plugin.results import _what_failed

    record = {"params": {"W": {"ok": False, "status": "not-implemented"}, "b": {"ok": False, "status": "wrong"},
                         "x": {"ok": True, "status": "ok"}},
              "findings": [{"kind": "not-implemented"}, {"kind": "mutation"}], "config": {"N": 2}}
    assert _what_failed(record) == "not-implemented W; wrong b; mutation (at N=2)"


def test_a_note_is_never_the_verdict_in_the_class_page():
    from gradcheck.report.html import _check_cell

    record = {"ok": False, "params": {"W": {"status": "error"}},
              "findings": [{"kind": "small-difference"}, {"kind": "error"}]}
    assert ">error<" in _check_cell("dense", record) and "small-difference" not in _check_cell("dense", record)


# ------------------------------------------------------------ nothing compared


def _constant_pair(value):
    def forward(x, w, b):
        return np.full((x.shape[0], w.shape[1]), value), (x, w)

    @gc.backward_of(forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def backward(dout, cache):
        x, w = cache
        return 0 * x, 0 * w, 0 * w[0]

    return backward


@pytest.mark.parametrize("value", [0.0, 3.0])
def test_a_constant_forward_with_zero_gradients_is_not_a_pass(value):
    report = gc.check(_constant_pair(value), seed=0)
    assert not report.ok
    [finding] = [f for f in report.findings if f.kind == "not-implemented"]
    assert "nothing was compared" in finding.message and finding.params == ["x", "w", "b"], finding


def test_a_parameter_without_effect_beside_others_still_passes():
    """A bias cancelled by the centring after it (as before a batch norm) has gradient 0: right."""
    def forward(x, b):
        z = x + b
        return z - z.mean(axis=1, keepdims=True), None

    @gc.backward_of(forward, shapes={"x": "N,D", "b": "N,1"})
    def backward(dout, cache):
        return dout - dout.mean(axis=1, keepdims=True), np.zeros((dout.shape[0], 1))

    report = gc.check(backward, seed=0)
    assert report.ok, report


# ------------------------------------------------------- one bug does not hide another


def _crash_and_wrong_values():
    def forward(x, w):
        return x @ w, (x, w)

    @gc.backward_of(forward, shapes={"x": "N,D", "w": "D,M"}, dims={"N": (1, 3), "D": (1, 4), "M": (1, 3)})
    def backward(dout, cache):
        x, w = cache
        if x.shape[0] == 1:
            raise IndexError("index 1 is out of bounds for axis 0 with size 1")  # a crash at N=1 only
        dw = x.T @ dout
        if w.shape[0] >= 3:
            dw[2] *= 2  # and wrong values where D >= 3
        return dout @ w.T, dw

    return backward


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_crash_at_one_configuration_does_not_hide_wrong_values_at_another(seed):
    report = gc.check(_crash_and_wrong_values(), seed=seed)
    assert report.wrong_params() == ["w"], report
    assert report.config["N"] >= 2 and report.config["D"] >= 3, report.config
    [crash] = [f for f in report.findings if f.kind == "error"]
    assert "IndexError" in crash.message and crash.config["N"] == 1, crash
    assert "w[2, " in str(report)


def test_a_crash_everywhere_is_still_one_error():
    def forward(x):
        return 2 * x, x

    @gc.backward_of(forward, shapes={"x": "N,D"})
    def backward(dout, x):
        raise ValueError("operands could not be broadcast together")

    report = gc.check(backward, seed=0)
    assert not report.ok and [f.kind for f in report.findings if f.kind.blocks_verdict] == ["error"], report


def test_one_fixed_example_where_the_output_is_flat_is_not_called_unimplemented():
    def relu_forward(x):
        return np.maximum(x, 0), x

    @gc.backward_of(relu_forward, shapes={"x": "N,D"})
    def relu_backward(dout, x):
        return dout * (x > 0)

    report = gc.check_at(relu_backward, inputs={"x": -np.ones((2, 3))})
    assert report.ok, report
