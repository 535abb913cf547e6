"""Zero configuration on code as course solutions write it: options, reproduce lines, models, prose."""

import textwrap
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards: import once, before them.
import gradcheck.checking  # noqa: F401
import gradcheck.plugin.collect  # noqa: F401
from gradcheck.cli import main
from gradcheck.declare.infer import Inferred, infer_module
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
