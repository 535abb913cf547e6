"""Checks inferred from docstrings and annotations: reading, pairing, rejection, messages, plugin, CLI."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules afterwards: import once, before them.
import gradcheck.checking  # noqa: F401
import gradcheck.plugin.collect  # noqa: F401
from gradcheck.checking import check
from gradcheck.cli import main
from gradcheck.declare import docstrings as ds
from gradcheck.declare.infer import (
    Inferred,
    NotInferred,
    backward_partner,
    infer_module,
    is_loss_function,
)
from gradcheck.plugin.collect import inferred_checks
from gradcheck.userfiles import import_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "undecorated"


def module_from(tmp_path: Path, text: str, name: str = "layers"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return import_file(path)


def by_name(found):
    return {f.name: f for f in found}


@pytest.fixture(scope="module")
def cs231n():
    return import_file(EXAMPLES / "cs231n_layers.py")


@pytest.fixture(scope="module")
def cs231n_inferred(cs231n):
    return by_name(infer_module(cs231n))


# ------------------------------------------------------------ docstring formats


def test_cs231n_inputs_list_with_variadic_shape_and_one_tuple(cs231n):
    args = ds.read_docstring(cs231n.affine_forward)
    assert (args["x"].kind, args["x"].shape) == (ds.ARRAY, ["N", ds.VARIADIC])
    assert (args["w"].shape, args["b"].shape) == (["D", "M"], ["M"])
    assert args["x"].source == "the docstring of affine_forward"


def test_cs231n_integer_arrays_with_their_range_and_a_boolean_mask(cs231n):
    y = ds.read_docstring(cs231n.softmax_loss)["y"]
    assert (y.kind, y.shape, y.bound, y.indices) == (ds.INT_ARRAY, ["N"], "C", False)
    words = ds.read_docstring(cs231n.word_embedding_forward)["x"]
    assert (words.kind, words.shape, words.bound, words.indices) == (ds.INT_ARRAY, ["N", "T"], "V", True)
    mask = ds.read_docstring(cs231n.temporal_softmax_loss)["mask"]
    assert (mask.kind, mask.shape) == (ds.BOOL_ARRAY, ["N", "T"])


def test_cs231n_dicts_of_hyperparameters_list_their_keys(cs231n):
    conv = ds.read_docstring(cs231n.conv_forward_naive)["conv_param"]
    assert conv.kind == ds.HYPER_DICT and list(conv.keys) == ["stride", "pad"]
    bn = ds.read_docstring(cs231n.batchnorm_forward)["bn_param"]
    assert list(bn.keys)[:3] == ["mode", "eps", "momentum"]
    reg = ds.read_docstring(cs231n.svm_loss_naive)["reg"]
    assert reg.kind == ds.FLOAT


def test_lstm_sizes_written_4H_are_expressions(cs231n):
    args = ds.read_docstring(cs231n.lstm_step_forward)
    assert args["Wx"].shape == ["D", "4*H"] and args["b"].shape == ["4*H"]


def test_deeplearning_ai_double_dash_and_a_nested_dict_of_arrays():
    cells = import_file(EXAMPLES / "dlai_cells.py")
    args = ds.read_docstring(cells.rnn_cell_forward)
    assert args["xt"].shape == ["n_x", "m"] and args["a_prev"].shape == ["n_a", "m"]
    params = args["parameters"]
    assert params.kind == ds.ARRAY_DICT
    assert {k: v.shape for k, v in params.keys.items()} == {
        "Wax": ["n_a", "n_x"], "Waa": ["n_a", "n_a"], "Wya": ["n_y", "n_a"], "ba": ["n_a", "1"], "by": ["n_y", "1"]}
    assert "a_next" not in args  # the Returns section is not read as arguments


def test_numpydoc_with_a_sphinx_class_reference(tmp_path):
    module = module_from(tmp_path, '''
        def dense_forward(X, W):
            """The layer.

            Parameters
            ----------
            X : :py:class:`ndarray <numpy.ndarray>` of shape `(n_ex, n_in)`
                The examples.
            W : ndarray of shape (n_in, n_out)
                Weights.

            Returns
            -------
            Y : ndarray of shape (n_ex, n_out)
            """
    ''')
    args = ds.read_docstring(module.dense_forward)
    assert {n: a.shape for n, a in args.items()} == {"X": ["n_ex", "n_in"], "W": ["n_in", "n_out"]}


def test_jaxtyping_annotations_as_strings_and_as_classes():
    class FakeFloat:  # what jaxtyping's Float[np.ndarray, "N D"] exposes
        dim_str = "N D"
        __name__ = "Float"

    def fn(x: 'Float[np.ndarray, "batch feat"]', y: 'Int[np.ndarray, "batch"]',  # noqa: F821, F722
           m: 'Bool[np.ndarray, "batch"]', z: FakeFloat, reg: float, size: int):  # noqa: F821, F722
        pass

    args = ds.read_annotations(fn)
    assert (args["x"].kind, args["x"].shape) == (ds.ARRAY, ["batch", "feat"])
    assert args["y"].kind == ds.INT_ARRAY and args["m"].kind == ds.BOOL_ARRAY
    assert args["z"].shape == ["N", "D"]
    assert (args["reg"].kind, args["size"].kind) == (ds.FLOAT, ds.INT)
    assert args["x"].source.startswith("the annotations of ")

    def odd(x: 'Float[np.ndarray, "b=3 c"]'):  # noqa: F821, F722
        pass

    assert ds.read_annotations(odd)["x"].shape is None  # not a dim name: no shape rather than a wrong one


def test_any_shape_is_a_batch_of_trailing_dims(cs231n):
    assert ds.read_docstring(cs231n.relu_forward)["x"].shape == ["N", ds.VARIADIC]


# ------------------------------------------------------------------ pairing rules


@pytest.mark.parametrize("backward, forward", [
    ("affine_backward", "affine_forward"),
    ("conv_backward_naive", "conv_forward_naive"),
    ("conv_backward_fast", "conv_forward_fast"),
    ("rnn_step_backward", "rnn_step_forward"),
    ("step_backward", "step_forward"),
    ("affine_backward_mean_bias", "affine_forward"),  # a variant named by a suffix
])
def test_a_backward_is_paired_with_its_forward_by_name(backward, forward):
    names = {n: (lambda: None) for n in ("affine_forward", "conv_forward_naive", "conv_forward_fast",
                                          "rnn_step_forward", "step_forward")}
    for n, f in names.items():
        f.__name__ = n
    assert backward_partner(backward, names).__name__ == forward


def test_a_backward_with_no_forward_is_not_a_pair():
    assert backward_partner("relu_backward", {"sigmoid_forward": lambda: None}) is None
    assert backward_partner("conv_backward_odd", {"conv_forward_a": lambda: 0, "conv_forward_b": lambda: 0}) is None


@pytest.mark.parametrize("name, expected", [
    ("svm_loss_naive", True), ("softmax_loss", True), ("lossFun", True), ("compute_cost", True),
    ("nn_cost", True), ("glossary", False), ("loss_backward", False), ("costume", False),
    ("plot_loss", False), ("test_softmax_loss", False),
])
def test_loss_functions_by_name(name, expected):
    def fn():
        pass
    assert is_loss_function(name, fn) is expected


def test_inferred_declarations_of_the_cs231n_layers(cs231n_inferred):
    expected = {
        "affine_backward": "@gc.backward_of(affine_forward, shapes={'x': 'N,d_1,d_2', 'w': 'D,M', 'b': 'M'}, "
                           "dims={'D': lambda d: d.d_1 * d.d_2})",
        "batchnorm_backward": "@gc.backward_of(batchnorm_forward, shapes={'x': 'N,D', 'gamma': 'D', 'beta': 'D'}, "
                              "args={'bn_param': {'mode': 'train', 'eps': 1e-5, 'momentum': 0.9}})",
        "dropout_backward": "@gc.backward_of(dropout_forward, shapes={'x': 'N,d_1,d_2'}, "
                            "args={'dropout_param': {'p': 0.5, 'mode': 'train', 'seed': 0}})",
        "svm_loss_naive": "@gc.returns_grad(shapes={'W': 'D,C', 'X': 'N,D'}, wrt=['W'], "
                          "args={'y': gc.labels('N', classes='C'), 'reg': 0.1})",
        "word_embedding_backward": "@gc.backward_of(word_embedding_forward, shapes={'W': 'V,D'}, "
                                   "args={'x': gc.indices('N,T', size='V')})",
        "lstm_step_backward": "@gc.backward_of(lstm_step_forward, shapes={'x': 'N,D', 'prev_h': 'N,H', "
                              "'prev_c': 'N,H', 'Wx': 'D,4*H', 'Wh': 'H,4*H', 'b': '4*H'}, outputs=2)",
    }
    for name, declaration in expected.items():
        assert cs231n_inferred[name].declaration == declaration
    assert cs231n_inferred["affine_backward"].source == "shapes read from the docstring of affine_forward"


def test_conv_and_pool_get_the_constraints_their_assertions_state(cs231n_inferred):
    conv = cs231n_inferred["conv_backward_naive"].declaration
    assert "args={'conv_param': lambda d: {'stride': d.stride, 'pad': d.pad}}" in conv
    assert "dims={'stride': (1, 2), 'pad': (0, 1)}" in conv
    assert "(d.H + 2 * d.pad - d.HH) % d.stride == 0" in conv
    pool = cs231n_inferred["max_pool_backward_naive"].declaration
    assert "'pool_height': d.pool_height" in pool and "(d.H - d.pool_height) % d.stride == 0" in pool


def test_every_cs231n_layer_is_inferred_and_passes(cs231n_inferred):
    assert all(isinstance(f, Inferred) for f in cs231n_inferred.values())
    assert len(cs231n_inferred) == 15
    for found in cs231n_inferred.values():
        report = check(found.check, examples=15, seed=0)
        assert report.ok, report


def test_dict_of_parameters_with_gradients_keyed_dWax():
    cells = by_name(infer_module(import_file(EXAMPLES / "dlai_cells.py")))
    rnn = cells["rnn_cell_backward"]
    # Wya and by only shape yt_pred, which gets no upstream gradient: not returned, not checked.
    assert rnn.check.wrt == ["xt", "a_prev", "parameters.Wax", "parameters.Waa", "parameters.ba"]
    assert "outputs=2" in cells["lstm_cell_backward"].declaration
    assert "ranges={'AL': (0.05, 0.95)}" in cells["compute_cost"].declaration  # a probability: inside (0, 1)
    assert "gc.labels('1,m', classes=2)" in cells["compute_cost"].declaration


def test_class_layers_in_each_attribute_style():
    classes = by_name(infer_module(import_file(EXAMPLES / "class_layers.py")))
    assert "params={'W': 'dW', 'b': 'db'}" in classes["Affine"].declaration
    assert "params={'W': 'grad_W'}" in classes["Dense"].declaration
    assert '''params={"params['U']": "grads['U']", "params['V']": "grads['V']"}''' in classes["Bilinear"].declaration
    assert '''"parameters['gamma']": "gradients['gamma']"''' in classes["Scale"].declaration
    assert "params={}" in classes["Sigmoid"].declaration  # no parameters: its input gradient is checked
    assert classes["Affine"].declaration.endswith("def make_affine(d, rng):\n    return Affine(d.n_in, d.n_out)")
    assert classes["Dense"].source == "shapes read from the annotations of Dense.forward"
    for found in classes.values():
        assert check(found.check, examples=10, seed=0).ok


# ------------------------------------------------------------ rejected configurations

REJECTING = '''
import numpy as np

def even_forward(x, w):
    """
    Inputs:
    - x: data of shape (N, D)
    - w: weights of shape (D, M)
    """
    assert x.shape[0] % 2 == 0, "the batch must be even"
    return x @ w, (x, w)

def even_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout

def never_forward(x):
    """
    Inputs:
    - x: data of shape (N, D)
    """
    raise ValueError("operands could not be broadcast together")

def never_backward(dout, cache):
    return dout
'''


def test_configurations_the_forward_rejects_are_not_bugs_and_are_counted(tmp_path):
    found = by_name(infer_module(module_from(tmp_path, REJECTING)))
    report = check(found["even_backward"].check, examples=20, seed=0)
    assert report.ok, report
    rejected = [f for f in report.findings if f.kind == "rejected"]
    assert len(rejected) == 1
    message = rejected[0].message
    assert "configurations (" in message and "were rejected by the forward pass as invalid inputs, not bugs" in message
    assert message.endswith("first: even_forward raised AssertionError: the batch must be even "
                            "(layers.py:10, in even_forward)")
    assert all(v % 2 == 0 for k, v in report.config.items() if k == "N")


def test_a_forward_that_rejects_everything_is_a_declaration_problem(tmp_path):
    found = by_name(infer_module(module_from(tmp_path, REJECTING)))
    report = check(found["never_backward"].check, examples=10, seed=0)
    assert not report.ok and not report.params
    assert [f.kind for f in report.findings] == ["spec-error"]
    assert report.findings[0].message.startswith(
        "the forward pass rejected every configuration tried (")
    assert "the declaration does not fit the function; first: never_forward raised ValueError" in report.findings[0].message


def test_declared_checks_still_report_what_their_forward_raises(tmp_path):
    module = module_from(tmp_path, REJECTING + '''
import gradcheck as gc
declared = gc.backward_of(even_forward, shapes={"x": "N,D", "w": "D,M"})(lambda dout, cache: None)
''', name="declared")
    report = check(module.declared, examples=10, seed=0)
    assert not report.ok and any(f.kind == "error" and "the batch must be even" in f.message for f in report.findings)


def test_an_error_in_backward_is_never_a_rejection(tmp_path):
    text = REJECTING.replace("x, w = cache\n    return", "x, w = cache\n    assert False, 'oops'\n    return")
    found = by_name(infer_module(module_from(tmp_path, text, name="late")))
    report = check(found["even_backward"].check, examples=10, seed=0)
    assert not report.ok and any(f.kind == "error" and "oops" in f.message for f in report.findings)


# -------------------------------------------------------- what could not be inferred

UNINFERABLE = '''
def scale_forward(x, a):
    return x * a, (x, a)

def scale_backward(dout, cache):
    return dout, dout

def label_loss(x, y):
    """
    Inputs:
    - x: scores of shape (N, C)
    - y: integer labels of shape (N,)
    """
    return 0.0, x

def pool_forward(x, pool_param):
    """
    Inputs:
    - x: Input data, of shape (N, C, H, W)
    - pool_param: dictionary with the following keys:
      - 'pool_height': The height of each pooling region
      - 'dilation_mode': how windows are spaced
    """
    return x, x

def pool_backward(dout, cache):
    return dout

class Layer:
    def __init__(self, units, activation):
        self.W = 0

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout
'''


def test_messages_say_exactly_what_could_not_be_inferred_and_what_to_add(tmp_path):
    found = by_name(infer_module(module_from(tmp_path, UNINFERABLE, name="odd")))
    assert all(isinstance(f, NotInferred) for f in found.values())
    assert found["scale_backward"].message == (
        "could not infer what x, a are (scale_forward documents no shape for any of them, in its docstring or "
        "annotations); to check it add: @gc.backward_of(scale_forward, shapes={'x': '...', 'a': '...'})  "
        "above def scale_backward")
    assert found["label_loss"].message == (
        "could not infer the range of the integer array y (the docstring of label_loss does not say "
        "0 <= y[i] < C); to check it add: @gc.returns_grad(shapes={'x': 'N,C'}, "
        "args={'y': gc.labels('N', classes='C')})  above def label_loss")
    assert found["pool_backward"].message == (
        "could not infer a value for pool_param['dilation_mode'] (not a hyperparameter gradcheck knows); "
        "to check it add: @gc.backward_of(pool_forward, shapes={'x': 'N,C,H,W'}, "
        "args={'pool_param': lambda d: {'pool_height': d.pool_height, 'dilation_mode': ...}}, "
        "dims={'pool_height': (1, 3)})  above def pool_backward")
    assert found["Layer"].message == (
        "could not infer how to build a Layer (its constructor takes activation, not documented as ints); "
        "what x is (Layer.forward documents no shape for x, in its docstring or annotations); to check it add: "
        "@gc.layer(inputs={'x': '...'}, params={...}, dims={'units': (1, 4)}) on a make(d, rng) "
        "that returns Layer(d.units, ...)")
    assert all("\n" not in f.message for f in found.values())


# --------------------------------------------------------------------- the plugin


@pytest.fixture
def undecorated(pytester):
    shutil.copytree(EXAMPLES, pytester.path / "undecorated", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def test_the_plugin_checks_every_undecorated_layer_and_catches_every_twin(undecorated):
    result = undecorated.runpytest("--gradcheck", "undecorated", "--gradcheck-json", "out.json",
                                   "--gradcheck-seed", "0", "--gradcheck-examples", "30", "-p", "no:randomly")
    data = json.loads((undecorated.path / "out.json").read_text())
    checks = {r["id"]: r for r in data["checks"]}
    twins = {i for i in checks if "_buggy.py::" in i}
    correct = set(checks) - twins
    assert len(correct) == 23 and len(twins) == 22
    assert all(checks[i]["ok"] for i in correct), [i for i in correct if not checks[i]["ok"]]
    assert not any(checks[i]["ok"] for i in twins), [i for i in twins if checks[i]["ok"]]
    assert data["not_checked"] == []
    assert all(r["inferred"]["source"].startswith("shapes read from ") for r in checks.values())
    result.assert_outcomes(passed=23, failed=22)
    affine = checks["undecorated/cs231n_layers_buggy.py::affine_backward"]
    assert affine["params"]["b"]["status"] == "wrong" and affine["findings"][0] == {
        "kind": "inferred", "params": [], "config": {},
        "message": "shapes read from the docstring of affine_forward"}
    assert "inferred: shapes read from the docstring of affine_forward" in result.stdout.str()


def test_verbose_prints_the_inferred_declarations(undecorated):
    result = undecorated.runpytest("--gradcheck", "undecorated/class_layers.py", "-v", "--gradcheck-examples", "5")
    out = result.stdout.str()
    assert "INFERRED undecorated/class_layers.py::Affine: shapes read from the docstring of Affine.forward" in out
    assert "    @gc.layer(inputs={'X': 'n_ex,n_in'}, params={'W': 'dW', 'b': 'db'}" in out


def test_what_cannot_be_inferred_is_one_line_in_the_summary_and_the_json(pytester):
    (pytester.path / "impl").mkdir()
    (pytester.path / "impl" / "odd.py").write_text(textwrap.dedent(UNINFERABLE))
    result = pytester.runpytest("--gradcheck", "impl", "--gradcheck-json", "out.json")
    result.assert_outcomes(skipped=4)
    assert ("NOT CHECKED impl/odd.py::label_loss: could not infer the range of the integer array y"
            in result.stdout.str())
    entry = {r["name"]: r for r in json.loads((pytester.path / "out.json").read_text())["not_checked"]}["label_loss"]
    assert entry["missing"] == [("the range of the integer array y (the docstring of label_loss does not say "
                                 "0 <= y[i] < C)")]
    assert entry["declaration"].startswith("@gc.returns_grad(shapes={'x': 'N,C'}")


# ------------------------------------------------------------------------ the CLI


def test_suggest_prints_and_writes_the_decorators_then_check_runs_them(tmp_path, capsys):
    target = tmp_path / "cs231n_layers.py"
    shutil.copy(EXAMPLES / "cs231n_layers.py", target)
    assert main(["suggest", str(target)]) == 0
    out = capsys.readouterr().out
    assert "# affine_backward: shapes read from the docstring of affine_forward\n@gc.backward_of(affine_forward" in out
    assert main(["suggest", str(target), "--write"]) == 0
    assert "wrote 15 declarations" in capsys.readouterr().out
    text = target.read_text()
    assert "import numpy as np\nimport gradcheck as gc\n" in text
    assert "dims={'D': lambda d: d.d_1 * d.d_2})\ndef affine_backward(dout, cache):" in text
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(target, fresh / "written.py")
    assert main(["check", str(fresh / "written.py"), "--examples", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == 15 and "inferred:" not in out  # now declared, not inferred


def test_check_a_whole_file_of_undecorated_code(tmp_path, capsys):
    shutil.copy(EXAMPLES / "class_layers.py", tmp_path / "class_layers.py")
    shutil.copy(EXAMPLES / "class_layers_buggy.py", tmp_path / "class_layers_buggy.py")
    assert main(["check", str(tmp_path / "class_layers.py"), "--examples", "5"]) == 0
    assert capsys.readouterr().out.count("inferred: shapes read from") == 5
    assert main(["check", str(tmp_path / "class_layers_buggy.py"), "--examples", "10"]) == 1
    assert capsys.readouterr().out.count("FAILED at") == 5


def test_inferred_checks_skip_what_the_module_declares(tmp_path):
    module = module_from(tmp_path, '''
        import gradcheck as gc
        def double_forward(x):
            """
            Inputs:
            - x: data of shape (N, D)
            """
            return 2 * x, None

        @gc.backward_of(double_forward, shapes={"x": "N,D"})
        def double_backward(dout, cache):
            return 2 * dout
    ''', name="declared_here")
    assert inferred_checks(module) == []


def test_a_description_starting_with_output_is_not_the_returns_heading(tmp_path):
    module = module_from(tmp_path, '''
        def layer_forward(x, w):
            """
            Inputs:
            - x: data of shape (N, D),
              Output of the previous layer.
            - w: weights of shape (D, M)

            Returns a tuple of:
            - out: of shape (N, M)
            """
    ''', name="outputs_word")
    assert {n: a.shape for n, a in ds.read_docstring(module.layer_forward).items()} == {"x": ["N", "D"], "w": ["D", "M"]}


def test_a_forward_that_never_returns_does_not_hang_collection(tmp_path, monkeypatch):
    monkeypatch.setattr(gradcheck.plugin.collect, "INFERENCE_SECONDS", 0.5)
    module = module_from(tmp_path, '''
        def spin_forward(x):
            """
            Inputs:
            - x: data of shape (N, D)
            """
            while True:
                pass

        def spin_backward(dout, cache):
            return dout
    ''', name="spinning")
    (found,) = inferred_checks(module)
    assert isinstance(found, NotInferred)
    assert found.message.startswith("could not infer a declaration (running spin_backward once to infer it "
                                    "ran out of time)")
