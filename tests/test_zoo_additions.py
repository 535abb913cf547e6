"""The zoo's models from public libraries and hand-written problems, on both sides.

Each correct model passes (a stabilizer with at most a note); each twin fails
with the finding that names its bug.
"""

import numpy as np
import pytest
from gradcheck.reference_models import embedding, library_layers, rnn, softmax_loss
from gradcheck.reference_models.buggy import embedding as buggy_embedding

import gradcheck as gc


@pytest.mark.parametrize("target", [library_layers.make_relu, library_layers.make_dense, library_layers.make_softmax,
                                    rnn.make_fixed_recurrent_problem, embedding.word_embedding_backward],
                         ids=lambda t: t.__name__)
def test_correct_models_pass_without_findings(target):
    report = gc.check(target, seed=0)
    assert report.ok and not report.findings, report


def test_a_class_layer_writing_into_dout_is_reported_like_backward_of_does():
    report = gc.check(library_layers.make_relu_in_place, seed=0)
    assert not report.ok and report.params["x"].ok, "the values are right: the write is the bug"
    [write] = [f for f in report.findings if f.kind == "mutation"]
    assert write.site == "dout" and "ReluInPlace.backward wrote into its upstream gradient dout" in write.message


def test_dropout_scaling_dout_in_place_is_reported():
    class Dropout:  # numpy-ml: dLdy *= self._mask / (1 - p)
        def __init__(self, rng):
            self.rng = rng

        def forward(self, x):
            self.mask = (np.random.default_rng(0).random(x.shape) > 0.5).astype(float)
            return x * self.mask * 2.0

        def backward(self, dLdy):
            dLdy *= self.mask * 2.0
            return dLdy

    @gc.layer(inputs={"x": "N,D"})
    def make(d, rng):
        return Dropout(rng)

    report = gc.check(make, seed=0)
    assert not report.ok
    assert any(f.kind == "mutation" and f.site == "dout" for f in report.findings), report


def test_an_optimizer_step_inside_backward_is_named_as_such():
    report = gc.check(library_layers.make_dense_stepping, seed=0)
    assert not report.ok
    assert report.params["X"].ok, "the input's gradient is still checked"
    messages = [f.message for f in report.findings]
    assert any(m.startswith("Dense.backward_pass changed W (") and "an optimizer step inside backward?" in m
               and "Declare the gradient where the optimizer receives it" in m for m in messages), messages
    assert not [f for f in report.findings if f.kind in ("not-implemented", "nondeterminism")], report


def test_an_optimizer_step_is_found_for_declared_params_too():
    @gc.layer(params=["W", "w0"], **library_layers.DENSE)
    def make(d, rng):
        return library_layers.Dense(d.D, d.M, rng)

    report = gc.check(make, seed=0)
    assert not report.ok
    assert {f.params[0] for f in report.findings if "optimizer step" in f.message} == {"W", "w0"}
    assert not [f for f in report.findings if f.kind in ("not-implemented", "nondeterminism")], report


def test_a_problem_whose_grads_reruns_the_forward_shows_the_state_list_write():
    report = gc.check(rnn.make_recurrent_problem, seed=0)
    assert not report.ok and report.wrong_params() == ["W"]
    [write] = [f for f in report.findings if f.kind == "mutation"]
    assert write.site.startswith("RecurrentLayer.state_list[") and "after backward" in write.message


def test_a_layer_held_in_a_closure_shows_the_state_list_write():
    @gc.problem(dims=rnn.DIMS)
    def make(d, rng):
        layer = rnn.RecurrentLayer(d.I, d.S, rnn.TanhActivator(), rng=rng)
        x, g = rng.uniform(-1, 1, (d.T, d.I, 1)), rng.standard_normal((d.S, 1))

        def loss():
            layer.reset_state()
            for t in range(d.T):
                layer.forward(x[t])
            return float(np.sum(g * layer.state_list[-1]))

        def grads():  # backward only: loss() ran the forward just before
            rnn._sensitivity_then_backward(layer, g)
            return {"W": layer.gradient}

        return gc.Problem({"W": layer.W}, loss, grads)

    report = gc.check(make, seed=0)
    assert any(f.kind == "mutation" and f.site.startswith("RecurrentLayer.state_list[") for f in report.findings)


def test_state_every_forward_changes_is_not_blamed_on_backward():
    @gc.problem(dims={"N": (1, 3)})
    def make(d, rng):
        state = {"calls": np.zeros(1), "out": None}
        W = rng.standard_normal((d.N, 2))

        def loss():
            state["calls"] += 1  # a counter every forward moves (like running means)
            state["out"] = W * 2
            return float(np.sum(W**2))

        return gc.Problem({"W": W}, loss, lambda: {"W": 2 * W})

    report = gc.check(make, seed=0)
    assert report.ok and not report.findings, report


def test_a_stabilizer_is_a_note_not_a_failure():
    report = gc.check(softmax_loss.softmax_loss_stabilized, seed=0, examples=300)
    assert report.ok, report
    [note] = [f for f in report.findings if f.kind == "small-difference"]
    assert not gc.Kind.TINY.blocks_verdict
    assert "stabilizing constant" in note.message and "relative" in note.message
    assert 1e-7 < report.params["x"].tiny_rel_error < 1e-4


@pytest.mark.parametrize("kwargs", [{"strict": True}, {"rtol": 1e-9}, {"atol": 1e-12, "rtol": 0}])
def test_strict_or_a_tight_rtol_atol_fails_on_the_stabilizer(kwargs):
    report = gc.check(softmax_loss.softmax_loss_stabilized, seed=0, examples=300, **kwargs)
    assert not report.ok and report.wrong_params() == ["x"]


def test_a_loose_rtol_passes_without_the_practical_floor():
    report = gc.check(softmax_loss.softmax_loss_stabilized, seed=0, examples=300, rtol=1e-3, atol=1e-5)
    assert report.ok
    assert all("rtol=0.001" in f.message for f in report.findings if f.kind == "small-difference")


def test_the_stabilized_twin_is_still_caught():
    report = gc.check(softmax_loss.softmax_loss_stabilized_wrong_scale, seed=0)
    assert report.wrong_params() == ["x"]


def test_the_class_layer_softmax_with_loss_and_its_stabilizer_passes_with_a_note():
    from gradcheck.reference_models.library_layers import make_softmax_with_loss, make_softmax_with_loss_unscaled

    report = gc.check(make_softmax_with_loss, seed=0, examples=300)
    assert report.ok, report
    assert [f.kind for f in report.findings if f.kind == "small-difference"] == ["small-difference"], report
    assert not gc.check(make_softmax_with_loss, seed=0, examples=300, strict=True).ok
    twin = gc.check(make_softmax_with_loss_unscaled, seed=0)
    assert twin.wrong_params() == ["x"] and any("/N" in h for h in twin.params["x"].hints), twin


def test_the_full_softmax_jacobian_twin_is_caught():
    report = gc.check(library_layers.make_softmax_diagonal, seed=0)
    assert report.wrong_params() == ["x"]


def test_the_repeated_index_twin_is_caught():
    report = gc.check(buggy_embedding.word_embedding_backward_fancy_index, seed=0)
    assert report.wrong_params() == ["W"]


def test_the_plugin_takes_strict_from_the_marker_and_the_command_line(pytester):
    pytester.makepyfile(test_stab="""
        import numpy as np
        import pytest
        import gradcheck as gc

        def _p(x):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        def stabilized(x, y):
            n = x.shape[0]
            p = _p(x)
            dx = p.copy()
            dx[np.arange(n), y] -= 1
            return -np.log(p[np.arange(n), y] + 1e-7).sum() / n, dx / n

        SPEC = dict(shapes={"x": "N,C"}, args={"y": gc.labels("N", classes="C")}, dims={"C": (5, 5), "N": (1, 1)})

        @gc.returns_grad(**SPEC)
        def loose(x, y):
            return stabilized(x, y)

        @pytest.mark.gradcheck(strict=True)
        @gc.returns_grad(**SPEC)
        def tight(x, y):
            return stabilized(x, y)
    """)
    result = pytester.runpytest("--gradcheck", "test_stab.py", "--gradcheck-examples", "300", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result = pytester.runpytest("--gradcheck", "test_stab.py", "--gradcheck-examples", "300", "--gradcheck-strict",
                                "-p", "no:randomly")
    result.assert_outcomes(failed=2)


def _zoo_twins():
    import importlib
    import pkgutil

    import gradcheck.reference_models as zoo

    for info in pkgutil.walk_packages(zoo.__path__, zoo.__name__ + "."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            check = getattr(obj, "__gradcheck__", None)
            marks = getattr(obj, "pytestmark", [])
            if check is not None and check.declared_in is vars(module) and any(m.name == "xfail" for m in marks):
                yield obj


def test_the_practical_floor_costs_no_twin_of_the_zoo():
    """The calibration: every twin's wrong values are far above the floor, and named the same with it."""
    from gradcheck.engine.verdict import PRACTICAL_RTOL

    smallest = []
    for twin in _zoo_twins():
        strict, default = gc.check(twin, seed=0, strict=True), gc.check(twin, seed=0)
        assert not default.ok and default.wrong_params() == strict.wrong_params(), twin.__name__
        smallest += [p.max_rel_error for p in strict.params.values() if p.status == "wrong"]
    assert len(smallest) >= 30
    assert min(smallest) >= 100 * PRACTICAL_RTOL, min(smallest)
