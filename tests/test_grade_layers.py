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
