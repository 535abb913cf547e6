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
