"""The engine on small inline layers: verdicts, named parameters, clear errors."""

import json

import numpy as np
import pytest

import gradcheck as gc

AFFINE = {"x": "N,D", "w": "D,M", "b": "M"}


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def _affine(db=lambda dout: dout.sum(axis=0), dw=lambda x, dout: x.T @ dout, **kwargs):
    @gc.backward_of(affine_forward, shapes=AFFINE, **kwargs)
    def affine_backward(dout, cache):
        x, w = cache
        return dout @ w.T, dw(x, dout), db(dout)

    return affine_backward


def test_correct_affine_passes_with_a_table_of_every_parameter():
    report = gc.check(_affine(), seed=3)
    assert report.ok, report
    assert list(report.params) == ["x", "w", "b"]
    assert all(p.n_wrong == 0 and p.n_checked == int(np.prod(p.shape)) for p in report.params.values())
    assert report.examples >= 20
    assert "affine_backward: ok" in str(report)


def test_bias_mean_bug_names_b_only_at_the_smallest_failing_config():
    report = gc.check(_affine(db=lambda dout: dout.mean(axis=0)), seed=3)
    assert not report.ok
    assert report.wrong_params() == ["b"]
    assert report.params["x"].ok and report.params["w"].ok
    assert report.config["N"] == 2, "the bug needs N >= 2; shrinking finds N=2"
    assert report.config["D"] == 1 and report.config["M"] == 1
    b = report.params["b"]
    assert b.n_wrong == b.n_checked == 1
    (index, analytic, numeric), = b.worst
    assert index == (0,) and analytic == pytest.approx(numeric / 2)
    text = str(report)
    assert "FAILED at N=2, D=1, M=1" in text and "WRONG" in text and "b[0]" in text
    assert any("factor 1/2" in h for h in b.hints)


def test_transposed_weight_gradient_is_named_with_a_hint():
    report = gc.check(_affine(dw=lambda x, dout: (x.T @ dout).T, where=lambda d: d.D == d.M), seed=1)
    assert report.wrong_params() == ["w"]
    assert any("transpose" in h for h in report.params["w"].hints), report


def test_sign_flip_hint():
    report = gc.check(_affine(db=lambda dout: -dout.sum(axis=0)), seed=0)
    assert report.wrong_params() == ["b"]
    assert any("sign" in h and "flipped" in h for h in report.params["b"].hints)


def test_same_seed_same_examples_same_verdict():
    a = gc.check(_affine(db=lambda dout: dout.mean(axis=0)), seed=11)
    b = gc.check(_affine(db=lambda dout: dout.mean(axis=0)), seed=11)
    assert a.to_dict() == b.to_dict()
    assert a.examples == b.examples


def test_report_is_json_safe_and_has_the_contract_fields():
    report = gc.check(_affine(db=lambda dout: dout.mean(axis=0)), seed=2)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {"id", "name", "ok", "config", "errors", "params", "findings", "examples"}
    assert set(data["params"]["b"]) >= {
        "ok", "shape", "n_checked", "n_wrong", "max_abs_error", "max_rel_error", "worst", "hints",
    }
    assert data["params"]["b"]["ok"] is False


def test_assert_gradients_raises_an_assertion_error_carrying_the_table():
    with pytest.raises(AssertionError) as info:
        gc.assert_gradients(_affine(db=lambda dout: dout.mean(axis=0)), seed=0)
    assert isinstance(info.value, gc.GradientError)
    assert "b[0]" in str(info.value) and not info.value.report.ok
    assert gc.assert_gradients(_affine(), seed=0, examples=5).ok


def test_check_at_runs_exactly_one_example():
    report = gc.check_at(_affine(db=lambda dout: dout.mean(axis=0)), {"N": 3, "D": 2, "M": 2}, seed=5)
    assert report.examples == 1
    assert report.config == {"N": 3, "D": 2, "M": 2}
    assert report.wrong_params() == ["b"]
    assert gc.check_at(_affine(db=lambda dout: dout.mean(axis=0)), {"N": 1, "D": 2, "M": 2}).ok


# --- user errors become clear messages, never tracebacks ----------------------------


def _relu_like(backward_body, **kwargs):
    def forward(x):
        return np.maximum(0, x), x

    @gc.backward_of(forward, shapes={"x": "N,D"}, **kwargs)
    def relu_backward(dout, x):
        return backward_body(dout, x)

    return relu_backward


def test_exception_in_backward_is_an_error_entry_naming_the_function():
    def body(dout, x):
        return dout @ np.ones((7, 7))

    report = gc.check(_relu_like(body), seed=0)
    assert not report.ok
    assert report.errors and "relu_backward raised ValueError" in report.errors[0]
    assert "test_engine.py" in report.errors[0], "the message points at the user's line"
    assert [f.kind for f in report.findings][:1] == ["error"]


@pytest.mark.parametrize(
    "body, kind, status",
    [
        (lambda dout, x: None, "not-implemented", "not-implemented"),
        (lambda dout, x: (_ for _ in ()).throw(NotImplementedError()), "not-implemented", None),
        (lambda dout, x: (dout * (x > 0)).reshape(1, -1), "shape", "shape"),
    ],
)
def test_not_implemented_and_shape_verdicts(body, kind, status):
    report = gc.check(_relu_like(body), seed=0)
    assert not report.ok
    assert kind in [f.kind for f in report.findings]
    if status:
        assert report.params["x"].status == status


def test_right_values_in_the_wrong_shape_say_exactly_that():
    def forward(x, b):
        return x + b, None

    @gc.backward_of(forward, shapes={"x": "N,D", "b": "D"})
    def backward(dout, cache):
        return dout, dout.sum(axis=0, keepdims=True)  # (1, D) for a (D,) parameter

    report = gc.check(backward, seed=0)
    b = report.params["b"]
    assert not report.ok and b.status == "shape" and b.n_wrong == 0
    assert "(1, " in report.errors[0] and "but b has shape" in report.errors[0]
    assert any("values are right" in h for h in b.hints)


def test_wrong_number_of_gradients():
    def forward(x, w):
        return x * w, (x, w)

    @gc.backward_of(forward, shapes={"x": "N", "w": "N"})
    def backward(dout, cache):
        return (dout * cache[1],)

    report = gc.check(backward, seed=0)
    assert "returned 1 gradients, expected 2 (x, w, in that order)" in report.errors[0]


def test_nan_gradient_is_wrong_with_a_hint():
    report = gc.check(_relu_like(lambda dout, x: np.where(x > 0.5, np.nan, dout * (x > 0))), seed=0)
    assert report.wrong_params() == ["x"]
    assert any("NaN" in h for h in report.params["x"].hints)


def test_backward_writing_into_dout_is_reported():
    def body(dout, x):
        dout[x <= 0] = 0  # right values, but it destroys the caller's upstream gradient
        return dout

    report = gc.check(_relu_like(body), seed=0)
    assert report.params["x"].ok
    assert not report.ok
    assert any(f.kind == "mutation" and "upstream gradient" in f.message for f in report.findings)


def test_backward_writing_into_the_cache_is_reported():
    def forward(x):
        out = np.tanh(x)
        return out, out

    @gc.backward_of(forward, shapes={"x": "N"})
    def backward(dout, out):
        out **= 2  # in place on the cache: the seed 000 mistake
        return dout * (1 - out)

    report = gc.check(backward, seed=0)
    assert report.params["x"].ok
    assert any(f.kind == "mutation" and "cache" in f.message for f in report.findings), report


def test_forward_writing_into_its_input_is_reported():
    def forward(x):
        np.maximum(x, 0, out=x)
        return x.copy(), x

    @gc.backward_of(forward, shapes={"x": "N,D"})
    def backward(dout, x):
        return dout * (x > 0)

    report = gc.check(backward, seed=0)
    assert any(f.kind == "mutation" and "wrote into its argument x" in f.message for f in report.findings)


def test_nondeterministic_forward_is_said_instead_of_garbage_gradients():
    noise = np.random.default_rng()

    def forward(x):
        mask = noise.random(x.shape) > 0.5
        return x * mask, mask

    @gc.backward_of(forward, shapes={"x": "N,D"})
    def backward(dout, mask):
        return dout * mask

    report = gc.check(backward, seed=0, examples=10)
    assert not report.ok
    assert any(f.kind == "nondeterminism" for f in report.findings), report


def test_timeout_ends_an_infinite_loop_cleanly():
    def body(dout, x):
        while True:
            pass

    report = gc.check(_relu_like(body), seed=0, timeout=0.5)
    assert not report.ok
    assert [f.kind for f in report.findings] == ["timeout"]


# --- non-differentiable points are never reported ------------------------------------


@pytest.mark.parametrize("mask", [lambda x: x > 0, lambda x: x >= 0])
def test_relu_sub_gradient_choices_pass_even_at_exact_zeros(mask):
    @gc.problem(dims={"N": (1, 4), "D": (1, 4)})
    def make(d, rng):
        x = rng.uniform(-1, 1, (d.N, d.D))
        x[:, 0] = 0.0  # a kink in every example
        g = rng.standard_normal(x.shape)
        return gc.Problem({"x": x}, loss=lambda: float(np.sum(np.maximum(0, x) * g)), grads=lambda: {"x": g * mask(x)})

    report = gc.check(make, seed=0, examples=40)
    assert report.ok, report
    assert report.params["x"].n_excluded >= 1


def test_relu_with_a_wrong_mask_fails_even_at_exact_zeros():
    @gc.problem(dims={"N": (1, 4), "D": (1, 4)})
    def make(d, rng):
        x = rng.uniform(-1, 1, (d.N, d.D))
        x[:, 0] = 0.0
        g = rng.standard_normal(x.shape)
        return gc.Problem({"x": x}, loss=lambda: float(np.sum(np.maximum(0, x) * g)), grads=lambda: {"x": g * (x < 0)})

    assert gc.check(make, seed=0).wrong_params() == ["x"]


def test_hinge_and_clip_and_l1_pass():
    def forward(x, w):
        s = x @ w
        return np.sum(np.maximum(0, 1 - s)) + np.abs(w).sum() + np.clip(x, -0.5, 0.5).sum(), (x, w, s)

    @gc.backward_of(forward, shapes={"x": "N,D", "w": "D"})
    def backward(dout, cache):
        x, w, s = cache
        active = (1 - s) > 0
        dx = -np.outer(active, w) + ((x > -0.5) & (x < 0.5))
        dw = -(x * active[:, None]).sum(axis=0) + np.sign(w)
        return dout * dx, dout * dw

    report = gc.check(backward, seed=0, examples=60)
    assert report.ok, report


def test_maxpool_ties_pass():
    @gc.problem(dims={"N": (1, 4), "K": (2, 4)})
    def make(d, rng):
        x = rng.uniform(-1, 1, (d.N, d.K))
        x[:, 1] = x[:, 0] = x.max(axis=1) + 0.1  # two maxima tie in every window
        g = rng.standard_normal(d.N)

        def grads():
            dx = np.zeros_like(x)
            dx[np.arange(d.N), x.argmax(axis=1)] = g
            return {"x": dx}

        return gc.Problem({"x": x}, loss=lambda: float(np.sum(x.max(axis=1) * g)), grads=grads)

    report = gc.check(make, seed=0, examples=40)
    assert report.ok, report
    assert report.params["x"].n_excluded >= 2


def test_escape_hatch_problem():
    @gc.problem(dims={"N": (1, 4)})
    def make(d, rng):
        w = rng.standard_normal(d.N)
        return gc.Problem({"w": w}, loss=lambda: float(np.sum(np.sin(w))), grads=lambda: {"dw": np.cos(w)})

    assert gc.check(make, seed=0).ok

    @gc.problem(dims={"N": (1, 4)})
    def make_bad(d, rng):
        w = rng.standard_normal(d.N)
        return gc.Problem({"w": w}, loss=lambda: float(np.sum(np.sin(w))), grads=lambda: {"w": np.sin(w)})

    report = gc.check(make_bad, seed=0)
    assert report.wrong_params() == ["w"]


def test_declaration_errors_name_the_argument():
    with pytest.raises(gc.SpecError, match=r"neither in shapes= .* nor in args="):
        gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M"})(lambda dout, cache: None)
    with pytest.raises(gc.SpecError, match=r"'z', which is not an argument of affine_forward"):
        gc.backward_of(affine_forward, shapes={"z": "N"})(lambda dout, cache: None)
    with pytest.raises(gc.SpecError, match=r"wrt names 'q'"):
        gc.backward_of(affine_forward, shapes=AFFINE, wrt=["q"])(lambda dout, cache: None)
    with pytest.raises(gc.SpecError, match=r"not a declared check"):
        gc.check(affine_forward)


def test_example_database_replays_a_failure_first(tmp_path):
    from hypothesis.database import DirectoryBasedExampleDatabase

    db = DirectoryBasedExampleDatabase(tmp_path)
    buggy = _affine(db=lambda dout: dout.mean(axis=0))
    first = gc.check(buggy, database=db)
    again = gc.check(buggy, database=db)
    assert not first.ok and not again.ok and first.seed is None
    assert again.examples < first.examples, "the saved failure is tried first"
    with pytest.raises(gc.SpecError, match="not both"):
        gc.check(buggy, database=db, seed=1)


def test_a_users_folder_named_gradcheck_keeps_its_file_and_line(tmp_path):
    from gradcheck.userfiles import import_file

    folder = tmp_path / "gradcheck" / "hw"
    folder.mkdir(parents=True)
    (folder / "layers.py").write_text(
        "import gradcheck as gc\n"
        "def scale_forward(x):\n"
        "    return 2 * x, x\n"
        "@gc.backward_of(scale_forward, shapes={'x': 'N'})\n"
        "def scale_backward(dout, cache):\n"
        "    raise ValueError('not yet')\n"
    )
    module = import_file(folder / "layers.py")
    report = gc.check(module.scale_backward, seed=0)
    assert "ValueError: not yet (layers.py:6, in scale_backward)" in report.errors[0]


def test_a_problem_whose_source_names_a_loss_method_still_reads_its_gradients():
    # source= is the user's text: "Net.loss()" names where the gradients come from, not the loss closure.
    @gc.problem(dims={"N": (1, 3)})
    def make(d, rng):
        w = rng.standard_normal(d.N)
        return gc.Problem({"w": w}, lambda: float(np.sum(w ** 2)), lambda: {"w": 2 * w}, source="Net.loss()")

    report = gc.check(make, seed=0, examples=5)
    assert report.ok, report
