"""The ``gradcheck`` command: demo verdicts, checking a file, clear errors."""

import textwrap

from gradcheck.cli import main


def test_demo_gets_every_verdict_right(capsys):
    assert main(["demo", "--examples", "20"]) == 0
    out = capsys.readouterr().out
    assert "19 verdicts as expected" in out
    assert "make_recurrent_layer: FAILED at T=3" in out
    assert "RecurrentLayer.state_list[2] was changed in place" in out


def test_check_a_file_with_a_sibling_import(tmp_path, capsys):
    (tmp_path / "helpers.py").write_text("def forward(x):\n    return 2 * x, x\n")
    (tmp_path / "layers.py").write_text(textwrap.dedent("""
        import gradcheck as gc
        from helpers import forward

        @gc.backward_of(forward, shapes={"x": "N"})
        def backward(dout, cache):
            return 3 * dout
    """))
    assert main(["check", f"{tmp_path / 'layers.py'}::backward", "--seed", "1"]) == 1
    assert "x[0]" in capsys.readouterr().out


def test_import_error_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import numpy\nfrom layers import nothing_here\n")
    assert main(["check", f"{tmp_path / 'broken.py'}::f"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradcheck: could not import")
    assert "broken.py:2" in err and "Traceback" not in err


def test_undeclared_target_says_which_decorator_to_add(tmp_path, capsys):
    (tmp_path / "plain.py").write_text("def affine_backward(dout, cache):\n    pass\n")
    assert main(["check", f"{tmp_path / 'plain.py'}::affine_backward"]) == 2
    assert "@gc.backward_of" in capsys.readouterr().err


def test_at_on_a_whole_file_is_refused_instead_of_ignored(tmp_path, capsys):
    layers = tmp_path / "layers.py"
    layers.write_text("def relu_forward(x):\n    return x, x\n")
    assert main(["check", str(layers), "--at", "N=1"]) == 2
    assert "--at and --spec check one function" in capsys.readouterr().err
