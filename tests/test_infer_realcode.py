"""Zero configuration on code as course solutions write it: options, reproduce lines, models, prose."""

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules afterwards: import once, before them.
import gradcheck.checking  # noqa: F401
import gradcheck.errors
import gradcheck.plugin.collect  # noqa: F401
from gradcheck.cli import main
from gradcheck.declare.infer import Inferred, NotInferred, infer_module
from gradcheck.userfiles import import_file


def module_from(tmp_path: Path, text: str, name: str = "layers"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return import_file(path)


def by_name(found):
    return {f.name: f for f in found}


LEAKY = '''
    import numpy as np


    def leaky_relu_forward(x, alpha=0.01):
        """
        Inputs:
        - x: Inputs, of any shape
        - alpha: slope for x < 0

        Returns a tuple of:
        - out: Output, of the same shape as x
        - cache: x
        """
        return np.where(x > 0, x, alpha * x), x


    def leaky_relu_backward(dout, cache, alpha=0.01):
        x = cache
        return np.where(x > 0, dout, alpha * dout)


    def leaky_relu_backward_hard(dout, cache):
        x = cache
        return np.where(x > 0, dout, 0.01 * dout)  # right for the forward's default only


    def pool_forward(A_prev, mode="max"):
        """
        Arguments:
        A_prev -- Input data, numpy array of shape (m, n_C)
        mode -- the pooling mode you would like to use, defined as a string ("max" or "average")
        """
        return A_prev * 2.0, A_prev


    def pool_backward(dA, cache, mode="max"):
        return dA * 2.0
'''


def test_an_option_after_the_cache_is_not_an_upstream_gradient_and_keeps_its_default(tmp_path, capsys):
    found = by_name(infer_module(module_from(tmp_path, LEAKY)))
    for name in ("leaky_relu_backward", "leaky_relu_backward_hard", "pool_backward"):
        assert isinstance(found[name], Inferred), found[name]
        assert "outputs=" not in found[name].declaration
        assert "alpha" not in found[name].declaration and "mode" not in found[name].declaration
    assert main(["check", str(tmp_path / "layers.py"), "--examples", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == 3 and "FAILED" not in out


SCALE = '''
    def scale_forward(x, w):
        """
        Inputs:
        - x: A numpy array of shape (N, D)
        - w: A numpy array of shape (D,)

        Returns a tuple of:
        - out: of shape (N, D)
        - cache: (x, w)
        """
        return x * w, (x, w)


    def scale_backward(dout, cache):
        x, w = cache
        return dout * w, (dout * x).sum(axis=0) * 2   # dw is twice too big
'''


def run(tmp_path: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *words], cwd=tmp_path, capture_output=True, text=True, timeout=300)


def printed(output: str, label: str) -> str:
    return next(line.split(f"{label}: ", 1)[1] for line in output.splitlines() if line.strip().startswith(label + ":"))


def test_every_printed_command_reruns_an_inferred_check_that_failed(tmp_path):
    (tmp_path / "layers.py").write_text(textwrap.dedent(SCALE))
    whole = run(tmp_path, "gradcheck", "check", "layers.py", "--seed", "3")
    assert whole.returncode == 1 and "scale_backward: FAILED" in whole.stdout
    python_line = printed(whole.stdout, "reproduce")
    again = run(tmp_path, "gradcheck", "check", "layers.py::scale_backward", "--seed", "3")
    assert again.returncode == 1, again.stderr
    assert "inferred: shapes read from the docstring of scale_forward" in again.stdout
    assert "WRONG" in again.stdout
    code = f"import gradcheck as gc\nfrom layers import scale_backward\nprint({python_line})"
    by_hand = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert by_hand.returncode == 0, by_hand.stderr
    assert "scale_backward: FAILED" in by_hand.stdout and "WRONG" in by_hand.stdout
    tested = run(tmp_path, "pytest", "-p", "no:cacheprovider", "--gradcheck", "layers.py")
    rerun = shlex.split(printed(tested.stdout, "rerun"))
    assert rerun[0] == "pytest"
    rerun_result = run(tmp_path, *rerun, "-p", "no:cacheprovider")
    assert "1 failed" in rerun_result.stdout and "scale_backward: FAILED" in rerun_result.stdout, rerun_result.stdout


def test_an_undecorated_function_that_cannot_be_inferred_says_what_is_missing(tmp_path):
    module = module_from(tmp_path, "def odd_forward(x):\n    return x, x\n\ndef odd_backward(dout, cache):\n"
                                   "    return dout\n", name="odd")
    with pytest.raises(gradcheck.errors.SpecError, match="could not infer what x is"):
        gradcheck.checking.check_at(module.odd_backward, {})


MODEL = '''
    import numpy as np


    class TwoLayerNet(object):
        def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
            self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                           "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}

        def loss(self, X, y=None):
            """
            Inputs:
            - X: Array of input data of shape (N, d_1, ..., d_k)
            - y: Array of labels, of shape (N,). y[i] gives the label for X[i].
            """
            h = np.maximum(0, X.reshape(X.shape[0], -1) @ self.params["W1"] + self.params["b1"])
            s = h @ self.params["W2"] + self.params["b2"]
            p = np.exp(s - s.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            N = X.shape[0]
            loss = -np.log(p[np.arange(N), y]).mean()
            ds = p.copy()
            ds[np.arange(N), y] -= 1
            ds /= N
            dh = (ds @ self.params["W2"].T) * (h > 0)
            return loss, {"W2": h.T @ ds, "b2": ds.sum(0), "W1": X.reshape(N, -1).T @ dh, "b1": dh.sum(0)}
'''


def test_a_model_class_is_listed_with_a_declaration_that_checks_it(tmp_path, capsys):
    module = module_from(tmp_path, MODEL, name="fc_net")
    (found,) = infer_module(module)
    assert isinstance(found, NotInferred) and found.name == "TwoLayerNet"
    assert main(["check", str(tmp_path / "fc_net.py")]) == 0
    assert "TwoLayerNet: NOT CHECKED" in capsys.readouterr().out
    declaration, make = found.declaration.split(" on a make(d, rng) that returns ")
    declared = tmp_path / "declared.py"
    declared.write_text(textwrap.dedent(MODEL) + f"\nimport gradcheck as gc\n\n\n{declaration}\n"
                        f"def make(d, rng):\n    return {make}\n")
    assert main(["check", str(declared), "--examples", "10"]) == 0
    assert "make: ok (" in capsys.readouterr().out


BASES = '''
    from abc import abstractmethod


    class Layer:
        @abstractmethod
        def forward(self, x):
            pass

        def backward(self, previous_grad):
            return previous_grad


    class Objective(object):
        def forward(self, outputs, targets):
            raise NotImplementedError()

        def backward(self, outputs, targets):
            """The gradient."""
            raise NotImplementedError


    class Dense(Layer):
        def forward(self, x):
            return x

        def backward(self, previous_grad):
            return previous_grad


    def conv_forward_strides(x, w):
        return x @ w, (x, w)


    def conv_backward_strides(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout


    conv_forward_fast = conv_forward_strides
    conv_backward_fast = conv_backward_strides
'''


def test_abstract_bases_are_skipped_and_an_alias_is_listed_once(tmp_path):
    found = infer_module(module_from(tmp_path, BASES))
    assert [f.name for f in found] == ["Dense", "conv_backward_strides"]


SAME_AS = '''
    import numpy as np


    def softmax_loss_naive(W, X, y, reg):
        """
        Inputs:
        - W: A numpy array of shape (D, C) containing weights.
        - X: A numpy array of shape (N, D) containing a minibatch of data.
        - y: A numpy array of shape (N,) containing training labels; y[i] = c means
          that X[i] has label c, where 0 <= c < C.
        - reg: (float) regularization strength

        Returns a tuple of:
        - loss as single float
        - gradient with respect to weights W; an array of same shape as W
        """
        return softmax_loss_vectorized(W, X, y, reg)


    def softmax_loss_vectorized(W, X, y, reg):
        """
        Softmax loss function, vectorized version.

        Inputs and outputs are the same as softmax_loss_naive.
        """
        s = X @ W
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        N = X.shape[0]
        loss = -np.log(p[np.arange(N), y]).mean() + reg * np.sum(W * W)
        p[np.arange(N), y] -= 1
        return loss, X.T @ p / N + 2 * reg * W
'''


def test_inputs_and_outputs_the_same_as_another_function_take_its_declaration(tmp_path):
    found = by_name(infer_module(module_from(tmp_path, SAME_AS, name="softmax")))
    fast, naive = found["softmax_loss_vectorized"], found["softmax_loss_naive"]
    assert isinstance(fast, Inferred), fast
    assert fast.declaration == naive.declaration
    assert fast.source == "shapes read from the docstring of softmax_loss_naive"


POOL = '''
    import numpy as np


    def pool_forward(A_prev, hparameters, mode="max"):
        """
        Arguments:
        A_prev -- Input data, numpy array of shape (m, n_H_prev, n_W_prev, n_C_prev)
        hparameters -- python dictionary containing "f" and "stride"
        mode -- the pooling mode you would like to use, defined as a string ("max" or "average")
        """
        f, s = hparameters["f"], hparameters["stride"]
        m, H, W, C = A_prev.shape
        A = np.zeros((m, 1 + (H - f) // s, 1 + (W - f) // s, C))
        for h in range(A.shape[1]):
            for w in range(A.shape[2]):
                A[:, h, w, :] = A_prev[:, h * s:h * s + f, w * s:w * s + f, :].mean(axis=(1, 2))
        return A, (A_prev, hparameters)


    def pool_backward(dA, cache, mode="max"):
        A_prev, hparameters = cache
        f, s = hparameters["f"], hparameters["stride"]
        dA_prev = np.zeros_like(A_prev)
        for h in range(dA.shape[1]):
            for w in range(dA.shape[2]):
                dA_prev[:, h * s:h * s + f, w * s:w * s + f, :] += dA[:, h:h + 1, w:w + 1, :] / (f * f)
        return dA_prev
'''


def test_the_keys_of_a_dict_quoted_in_prose_are_read(tmp_path, capsys):
    (found,) = infer_module(module_from(tmp_path, POOL, name="cnn"))
    assert isinstance(found, Inferred), found
    assert "args={'hparameters': lambda d: {'f': d.f, 'stride': d.stride}}" in found.declaration
    assert main(["check", str(tmp_path / "cnn.py"), "--examples", "10"]) == 0
    assert "pool_backward: ok (" in capsys.readouterr().out


KINDS = '''
    import numpy as np


    def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
        """
        Inputs:
        - x: Input to the convolutional layer
        - pool_param: Parameters for the pooling layer
        """
        raise NotImplementedError


    def conv_relu_pool_backward(dout, cache):
        raise NotImplementedError


    class HellingerDistance:
        def forward(self, outputs, targets):
            """
            Parameters
            ----------
            outputs : numpy 2D array
                outputs in (0, 1), such as softmax output of a neural network.
            targets : numpy 2D array
                Either a vector of int giving the correct class index per data point
                or a 2D tensor of one-hot encoding of the correct class.
            """
            return np.mean(np.sum((np.sqrt(outputs) - np.sqrt(targets)) ** 2, axis=1) / np.sqrt(2))

        def backward(self, outputs, targets):
            return (np.sqrt(outputs) - np.sqrt(targets)) / (np.sqrt(2) * np.sqrt(outputs))
'''


def test_suggestions_put_a_dict_in_args_and_never_an_array_in_dims(tmp_path):
    found = by_name(infer_module(module_from(tmp_path, KINDS, name="layer_utils")))
    sandwich = found["conv_relu_pool_backward"].declaration
    assert "'pool_param': lambda d: {'pool_height'" in sandwich and "'pool_param': '...'" not in sandwich
    hellinger = found["HellingerDistance"]
    assert "dims=" not in hellinger.declaration
    assert "inputs={'outputs': '...', 'targets': '...'}" in hellinger.declaration
    assert "the shape of outputs" in hellinger.message and "without a shape or a type" not in hellinger.message


def test_a_folder_without_init_inside_a_package_is_imported_as_python_would(tmp_path, capsys):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "layers.py").write_text(textwrap.dedent(SCALE))
    (tmp_path / "pkg" / "sub" / "net.py").write_text(textwrap.dedent('''
        from ..layers import scale_forward


        def double_forward(x, w):
            """
            Inputs:
            - x: A numpy array of shape (N, D)
            - w: A numpy array of shape (D,)
            """
            out, cache = scale_forward(x, w)
            return 2 * out, cache


        def double_backward(dout, cache):
            x, w = cache
            return 2 * dout * w, 2 * (dout * x).sum(axis=0)
    '''))
    module = import_file(tmp_path / "pkg" / "sub" / "net.py")
    assert module.__name__ == "pkg.sub.net"
    assert main(["check", str(tmp_path / "pkg" / "sub" / "net.py"), "--examples", "5"]) == 0
    assert "double_backward: ok (" in capsys.readouterr().out


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    (tmp_path / "layers.py").write_text(textwrap.dedent(SCALE))
    process = subprocess.Popen([sys.executable, "-m", "gradcheck", "check", "layers.py::scale_backward"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # as `| head -1` does once it has its line
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 1 and "Traceback" not in errors, errors
