"""Class layers and models in a spec: graded in the sandbox, with mutation and accumulation findings."""

import json
import subprocess
import sys

import pytest

import gradcheck as gc
from gradcheck.errors import SpecError

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

SPEC = """\
import gradcheck as gc
CHECKS = [
    gc.spec("linear", layer={"inputs": {"x": "N,D"}, "params": {"W": "dW", "b": "db"}},
            make="Linear(d.D, d.M)", points=2),
    gc.spec("relu", layer={"inputs": {"x": "N,D"}}, make="ReLU()"),
    gc.spec("net", model={"X": "N,D", "y": gc.labels("N", classes="C"), "dims": {"H": (1, 5), "C": (2, 4)}},
            make="TwoLayerNet(d.D, d.H, d.C, rng)"),
]
"""

LINEAR = """\
import numpy as np

class Linear:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T
"""
RELU = """
class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * (self.x > 0)
"""
NET = """
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, rng, reg=0.1):
        self.params = {"W1": rng.standard_normal((input_dim, hidden_dim)), "b1": rng.standard_normal(hidden_dim) * 0.1,
                       "W2": rng.standard_normal((hidden_dim, num_classes)), "b2": rng.standard_normal(num_classes) * 0.1}
        self.reg = reg

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        hidden = np.maximum(0, X @ W1 + b1)
        scores = hidden @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean() + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W2": hidden.T @ dscores + self.reg * W2, "b2": dscores.sum(axis=0)}
        dhidden = dscores @ W2.T * (hidden > 0)
        grads["W1"] = X.T @ dhidden + self.reg * W1
        grads["b1"] = dhidden.sum(axis=0)
        return loss, grads
"""
CORRECT = LINEAR + RELU + NET

# student -> (code, {check: cell})
CLASS = {
    "correct": (CORRECT, {"linear": "ok", "relu": "ok", "net": "ok"}),
    # wrong values: db averaged; dW1 without its regularisation term
    "buggy": (CORRECT.replace("dout.sum(axis=0)", "dout.mean(axis=0)")
              .replace("grads[\"W1\"] = X.T @ dhidden + self.reg * W1", "grads[\"W1\"] = X.T @ dhidden"),
              {"linear": "WRONG b", "relu": "ok", "net": "WRONG W1"}),
    # right values, but backward writes into the stored input (the mutation twin)
    "mutates": (CORRECT.replace("return dout * (self.x > 0)", "self.x *= (self.x > 0)\n        return dout * (self.x > 0)"),
                {"linear": "ok", "relu": "mutation", "net": "ok"}),
    # gradient buffers never reset: right on the first call only
    "accumulates": (CORRECT.replace("self.dW = self.x.T @ dout", "self.dW = getattr(self, 'dW', 0) + self.x.T @ dout"),
                    {"linear": "accumulation", "relu": "ok", "net": "ok"}),
    # an optimizer step inside model.loss
    "steps": (CORRECT.replace("        return loss, grads", "        self.params['W2'] -= 1e-3 * grads['W2']\n        return loss, grads"),
              {"linear": "ok", "relu": "ok", "net": "mutation"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("layers")
    (root / "spec.py").write_text(SPEC)
    subs = root / "subs"
    subs.mkdir()
    for student, (code, _) in CLASS.items():
        (subs / f"{student}.py").write_text(code)
    run = subprocess.run([sys.executable, "-m", "gradcheck", "grade", "--spec", str(root / "spec.py"), str(subs),
                          "--jobs", "2", "--timeout", "60", "--examples", "15", "--quiet", "--json", str(root / "r.json")],
                         capture_output=True, text=True, timeout=300)
    return run, json.loads((root / "r.json").read_text())


def test_class_layers_and_models_get_their_verdicts(graded):
    from gradcheck.grade.writers import cell

    run, result = graded
    got = {s["id"]: {c["id"]: cell(c) for c in s["checks"]} for s in result["submissions"]}
    assert got == {student: cells for student, (_, cells) in CLASS.items()}, run.stdout + run.stderr


def test_scores_partial_credit_and_no_credit_for_mutation(graded):
    subs = {s["id"]: s for s in graded[1]["submissions"]}
    assert subs["correct"]["score"] == subs["correct"]["max_score"] == 4
    linear = subs["buggy"]["checks"][0]
    assert linear["score"] == pytest.approx(2 * 2 / 3), "x and W right, b wrong"
    assert subs["mutates"]["checks"][1]["score"] == 0 and subs["accumulates"]["checks"][0]["score"] == 0


def test_findings_say_what_the_code_did(graded):
    subs = {s["id"]: s for s in graded[1]["submissions"]}
    mutation = [f for f in subs["mutates"]["checks"][1]["findings"] if f["kind"] == "mutation"]
    assert mutation and "ReLU.x was changed in place" in mutation[0]["message"], mutation
    accumulation = [f for f in subs["accumulates"]["checks"][0]["findings"] if f["kind"] == "accumulation"]
    assert accumulation and "W" in accumulation[0]["params"]
    step = [f for f in subs["steps"]["checks"][2]["findings"] if f["kind"] == "mutation"]
    assert step and "changed the parameter W2 in place" in step[0]["message"]
    wrong = subs["buggy"]["checks"][2]
    assert wrong["params"]["W1"]["status"] == "wrong" and wrong["params"]["W2"]["status"] == "ok"


def test_a_spec_for_a_class_is_checked_when_it_is_read():
    with pytest.raises(SpecError, match="make="):
        gc.spec("linear", layer={"inputs": {"x": "N,D"}})
    with pytest.raises(SpecError, match="not a Python expression"):
        gc.spec("linear", layer={"inputs": {"x": "N,D"}}, make="Linear(d.D,")
    with pytest.raises(SpecError, match="unknown arguments"):
        gc.spec("linear", layer={"input": {"x": "N,D"}}, make="Linear(d.D)")
    with pytest.raises(SpecError, match="as a string"):
        gc.spec("linear", layer={"inputs": {"x": "N,D"}, "forward": lambda layer, x: x}, make="Linear(d.D)")
    with pytest.raises(SpecError, match="layer= or model="):
        gc.spec("linear", layer={"inputs": {"x": "N,D"}}, make="Linear(d.D)", shapes={"x": "N,D"})
    spec = gc.spec("linear", layer={"inputs": {"x": "N,D"}}, make="Linear(d.D, d.M)")
    assert spec.kind == "layer" and spec.student_names() == ["Linear"]


def test_what_the_worker_claims_can_only_cost_marks():
    from gradcheck.grade.objects_proxy import RemoteLayer

    reply = {"findings": [{"kind": "mutation", "message": "Linear.x was changed in place", "site": "Linear.x"},
                          {"kind": "kink-excluded", "message": "excuse a wrong entry"},  # not a claim it may make
                          {"kind": "ok"}, "junk", 3]}
    claims = RemoteLayer.claims(reply, ["W"])
    assert [(c.kind.value, c.message, c.params) for c in claims] == [
        ("mutation", "Linear.x was changed in place", ["W"])]
    assert RemoteLayer.claims({"findings": 12}, ["W"]) == []


# ------------------------------------------- the same routine locally and in the worker

ZOO_SPEC = """\
import gradcheck as gc
from gradcheck.reference_models import class_layers, library_layers, lstm_layer, two_layer_net

CONV = {"inputs": {"x": "C,W"}, "dims": {"W": (1, 6), "K": (1, 3)}, "where": lambda d: d.W >= d.K,
        "params": {f"filters[{i}].{p}": f"filters[{i}].{p}_grad" for i in range(2) for p in ("weights", "bias")}}
KEPT = {**library_layers.DENSE, "params": {"W": "W_opt.grad", "w0": "w0_opt.grad"}}
LSTM = {**lstm_layer.STATEFUL, "output": "h_list[-1]", "backward": "backward"}  # the zoo's lambdas, as names
LINEAR, DENSE, SOFTMAX = class_layers.LINEAR, library_layers.DENSE, library_layers.SOFTMAX
CHECKS = [
    gc.spec("make_linear", layer=LINEAR, make="Linear(d.D, d.M, rng)"),
    gc.spec("make_linear_mean_grad", layer=LINEAR, make="LinearMeanGrad(d.D, d.M, rng)"),
    gc.spec("make_linear_accumulating", layer=LINEAR, make="LinearAccumulating(d.D, d.M, rng)"),
    gc.spec("make_conv_layer", layer=CONV, make="ConvLayer1D(d.C, d.K, 2, rng)"),
    gc.spec("make_relu", layer={"inputs": {"x": "N,D"}}, make="Relu()"),
    gc.spec("make_relu_in_place", layer={"inputs": {"x": "N,D"}}, make="ReluInPlace()"),
    gc.spec("make_dense", layer=KEPT, make="with_kept_gradients(Dense(d.D, d.M, rng))"),
    gc.spec("make_dense_stepping", layer=DENSE, make="Dense(d.D, d.M, rng)"),
    gc.spec("make_softmax", layer=SOFTMAX, make="Softmax()"),
    gc.spec("make_softmax_diagonal", layer=SOFTMAX, make="SoftmaxDiagonal()"),
    gc.spec("make_lstm_layer", layer=LSTM, make="LstmLayer(d.I, d.S, rng)"),
    gc.spec("make_lstm_layer_no_cell_carry", layer=LSTM, make="LstmLayerNoCellCarry(d.I, d.S, rng)"),
    gc.spec("make_two_layer_net", model=two_layer_net.MODEL, make="TwoLayerNet(d.D, d.H, d.C, rng)"),
    gc.spec("make_two_layer_net_no_reg_grad", model=two_layer_net.MODEL,
            make="TwoLayerNetNoRegGrad(d.D, d.H, d.C, rng)"),
]
"""
#: The zoo's make functions ZOO_SPEC grades.  Left out: FullConnectedLayer, RecurrentLayer and
#: SoftmaxWithLoss, whose declarations pass forward or backward functions, which a spec (names only)
#: cannot say.
ZOO_MAKES = {"class_layers": ["make_linear", "make_linear_mean_grad", "make_linear_accumulating", "make_conv_layer"],
             "library_layers": ["make_relu", "make_relu_in_place", "make_dense", "make_dense_stepping", "make_softmax",
                                "make_softmax_diagonal"],
             "lstm_layer": ["make_lstm_layer", "make_lstm_layer_no_cell_carry"],
             "two_layer_net": ["make_two_layer_net", "make_two_layer_net_no_reg_grad"]}
KEEP_GRADIENTS = """
def with_kept_gradients(layer):
    layer.W_opt, layer.w0_opt = KeepGradient(), KeepGradient()
    return layer
"""
ZOO_EXAMPLES = 15


def _student_source(module) -> str:
    """A zoo module as a student would hand it in: its classes and helpers, no gradcheck, no pytest."""
    import ast
    import inspect

    source = inspect.getsource(module)
    kept = []
    for node in ast.parse(source).body:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        imports = [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.Import) and imports != ["numpy"]:
            continue
        if getattr(node, "decorator_list", None) or "gc" in names or isinstance(node, ast.Expr):
            continue
        kept.append(ast.get_source_segment(source, node))
    return "\n\n".join(kept) + "\n"


@pytest.fixture(scope="module")
def zoo_graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    (root / "spec.py").write_text(ZOO_SPEC)
    (root / "subs" / "zoo").mkdir(parents=True)
    for module in ZOO_MAKES:
        source = _student_source(_zoo(module)) + (KEEP_GRADIENTS if module == "library_layers" else "")
        (root / "subs" / "zoo" / f"{module}.py").write_text(source)
    run = subprocess.run([sys.executable, "-m", "gradcheck", "grade", "--spec", str(root / "spec.py"),
                          str(root / "subs"), "--timeout", "240", "--examples", str(ZOO_EXAMPLES), "--quiet",
                          "--json", str(root / "r.json")], capture_output=True, text=True, timeout=400)
    assert (root / "r.json").exists(), run.stdout + run.stderr
    checks = json.loads((root / "r.json").read_text())["submissions"][0]["checks"]
    return {c["id"]: c for c in checks}


def _zoo(module):
    import importlib

    return importlib.import_module(f"gradcheck.reference_models.{module}")


def _verdicts(ok, params, findings):
    """What must agree: pass or fail, each parameter's status and hints, the kinds of finding on each parameter."""
    return {"ok": ok, "params": params, "findings": sorted({(kind, tuple(sorted(p))) for kind, p in findings})}


@pytest.mark.parametrize("module,make", [(m, f) for m, makes in ZOO_MAKES.items() for f in makes])
def test_the_zoos_class_layers_get_the_same_verdicts_locally_and_graded(zoo_graded, module, make):
    report = gc.check(getattr(_zoo(module), make),
                      examples=ZOO_EXAMPLES, seed=0)
    local = _verdicts(report.ok, {n: (p.status, p.hints) for n, p in report.params.items()},
                      [(f.kind.value, f.params) for f in report.findings])
    graded = zoo_graded[make]
    remote = _verdicts(graded["ok"], {n: (p["status"], p["hints"]) for n, p in graded["params"].items()},
                       [(f["kind"], f["params"]) for f in graded["findings"]])
    assert remote == local, (graded["findings"], report.findings)


# ------------------------------------------------- what a graded class layer is told

FINDINGS_SPEC = """\
import gradcheck as gc
DENSE = {"inputs": {"X": "N,D"}, "forward": "forward_pass", "backward": "backward_pass", "dims": {"M": (1, 4)}}
CHECKS = [
    gc.spec("stepping", layer=DENSE, make="Dense(d.D, d.M, rng)"),
    gc.spec("declared", layer={"inputs": {"x": "N,D"}, "params": {"W": "dW", "b": "db"}, "dims": {"M": (1, 4)}},
            make="Linear(d.D, d.M)"),
    gc.spec("by_name", layer={"inputs": {"x": "N,D"}, "dims": {"M": (1, 4)}, "params": ["W", "b"]},
            make="NoGradients(d.D, d.M)"),
    gc.spec("rounded", layer={"inputs": {"x": "N,D"}, "dims": {"M": (1, 4)}, "params": ["W", "b"]},
            make="Rounded(d.D, d.M)"),
]
"""
# Dense steps its optimizer inside backward_pass (ML-From-Scratch); Linear leaves db (twice the
# gradient: wrong at every size) but no dW; NoGradients leaves neither.
FINDINGS_STUDENT = """\
import numpy as np

class Dense:
    def __init__(self, n_inputs, n_units, rng):
        self.W = rng.uniform(-1, 1, (n_inputs, n_units))
        self.w0 = np.zeros((1, n_units))

    def forward_pass(self, X):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        self.W = self.W - 0.01 * self.layer_input.T.dot(accum_grad)
        self.w0 = self.w0 - 0.01 * accum_grad.sum(axis=0, keepdims=True)
        return accum_grad.dot(W.T)

class Linear:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.db = 2 * dout.sum(axis=0)
        return dout @ self.W.T

class NoGradients(Linear):
    def backward(self, dout):
        return dout @ self.W.T

class Rounded(Linear):
    def forward(self, x):
        return np.rint(super().forward(x)).astype(np.int64)
"""


@pytest.fixture(scope="module")
def told(tmp_path_factory):
    root = tmp_path_factory.mktemp("told")
    (root / "spec.py").write_text(FINDINGS_SPEC)
    (root / "subs").mkdir()
    (root / "subs" / "student.py").write_text(FINDINGS_STUDENT)
    run = subprocess.run([sys.executable, "-m", "gradcheck", "grade", "--spec", str(root / "spec.py"),
                          str(root / "subs"), "--timeout", "60", "--examples", "10", "--quiet",
                          "--json", str(root / "r.json")], capture_output=True, text=True, timeout=300)
    assert (root / "r.json").exists(), run.stdout + run.stderr
    return {c["id"]: c for c in json.loads((root / "r.json").read_text())["submissions"][0]["checks"]}


def _messages(check, param):
    return [f["message"] for f in check["findings"] if param in f["params"]]


def test_an_optimizer_step_inside_backward_is_said_as_such_when_graded(told):
    check = told["stepping"]
    assert {p: s["status"] for p, s in check["params"].items()} == {"X": "ok", "W": "error", "w0": "error"}
    for param in ("W", "w0"):
        said = _messages(check, param)
        assert len(said) == 1 and said[0].startswith(f"Dense.backward_pass changed {param} ("), said
        assert ("an optimizer step inside backward? Declare the gradient where the optimizer receives it"
                in said[0]), said


def test_a_declared_gradient_path_that_is_missing_names_layer_parameter_and_path(told):
    said = _messages(told["declared"], "W")
    assert said == ["Linear has no attribute 'dW' after backward: the spec expects the gradient of W there"]
    assert "AttributeError" not in json.dumps(told["declared"])


def test_one_missing_gradient_hides_no_other_when_graded(told):
    declared = {p: s["status"] for p, s in told["declared"]["params"].items()}
    assert declared == {"x": "ok", "W": "not-implemented", "b": "wrong"}, "b is judged: twice its gradient"
    by_name = told["by_name"]
    assert {p: s["status"] for p, s in by_name["params"].items()} == {
        "x": "ok", "W": "not-implemented", "b": "not-implemented"}
    assert _messages(by_name, "b") == [
        "NoGradients.backward left no gradient for b (looked for db, b_grad, grad_b, d_b, bgrad, gradb)"]


def test_an_integer_output_is_the_same_finding_graded_as_locally(told):
    rounded = told["rounded"]
    assert rounded["status"] == "error", rounded
    said = [f["message"] for f in rounded["findings"]]
    assert any("Rounded.forward has integer dtype int64" in m for m in said), said


def test_the_same_layers_checked_locally_get_the_same_verdicts(told):
    namespace = {}
    exec(FINDINGS_STUDENT, namespace)  # noqa: S102 - the test's own code
    local = {
        "stepping": gc.layer(inputs={"X": "N,D"}, forward="forward_pass", backward="backward_pass",
                             dims={"M": (1, 4)})(lambda d, rng: namespace["Dense"](d.D, d.M, rng)),
        "declared": gc.layer(inputs={"x": "N,D"}, params={"W": "dW", "b": "db"}, dims={"M": (1, 4)})(
            lambda d: namespace["Linear"](d.D, d.M)),
        "by_name": gc.layer(inputs={"x": "N,D"}, params=["W", "b"], dims={"M": (1, 4)})(
            lambda d: namespace["NoGradients"](d.D, d.M)),
        "rounded": gc.layer(inputs={"x": "N,D"}, params=["W", "b"], dims={"M": (1, 4)})(
            lambda d: namespace["Rounded"](d.D, d.M)),
    }
    for name, make in local.items():
        report = gc.check(make, examples=10, seed=0)
        assert {p: r.status for p, r in report.params.items()} == {
            p: s["status"] for p, s in told[name]["params"].items()}, name


WORKER_RUN = """\
import sys
import numpy as np
from gradcheck.grade import objects_worker

namespace = {}
exec(sys.argv[1], namespace)
plain = lambda value, what: value
built = objects_worker.answer({"op": "object_build", "kind": "layer", "make": "Linear(d.D, d.M)", "seed": 1,
                               "dims": {"N": 2, "D": 3, "M": 2}, "params": None, "inputs": {"x": [2, 3]}},
                              namespace, plain)
handle = built["handle"]
objects_worker.answer({"op": "object_forward", "handle": handle, "params": built["params"],
                       "inputs": {"x": np.ones((2, 3))}}, namespace, plain)
back = objects_worker.answer({"op": "object_backward", "handle": handle, "upstream": np.ones((2, 2))},
                             namespace, plain)
assert sorted(back["buffers"]) == ["W", "b"], back
print(sorted(m for m in sys.modules if m.split(".")[0] == "hypothesis" or m.startswith("gradcheck.")))
"""


def test_the_worker_builds_and_runs_a_layer_without_hypothesis_or_the_declarations():
    run = subprocess.run([sys.executable, "-c", WORKER_RUN, LINEAR], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    loaded = set(eval(run.stdout))  # noqa: S307 - the list the script printed
    assert "hypothesis" not in loaded
    assert loaded <= {"gradcheck", "gradcheck.arrays", "gradcheck.errors", "gradcheck.findings", "gradcheck.grade",
                      "gradcheck.grade.objects_worker", "gradcheck.declare", "gradcheck.declare.attributes",
                      "gradcheck.declare.dimvalues"}, loaded
