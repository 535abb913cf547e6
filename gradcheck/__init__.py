"""gradcheck: find the wrong parameter in hand-written NumPy backpropagation.

Declare how your forward and backward fit together with one decorator, then
``gc.check`` searches shapes, values and hyperparameters for a configuration
where the gradients are wrong, and reports, per parameter, which entries are
wrong in the smallest failing configuration::

    import gradcheck as gc

    @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def affine_backward(dout, cache):
        ...

    report = gc.check(affine_backward)
    assert report.ok, report

Everything not listed in ``__all__`` is internal.

PYTEST_DONT_REWRITE: pytest loads this package as a plugin; its asserts are its own,
and a session that imported it before pytest (pytester, a conftest) gets no warning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports happen on first use, see __getattr__
    from .checking import assert_gradients, check, check_at, check_model
    from .declare.args import const, indices, labels
    from .declare.dims import Dims
    from .declare.functional import backward_of, problem, returns_grad
    from .declare.layers import layer, model
    from .declare.problem import Problem
    from .errors import GradcheckError, GradientError, SpecError
    from .findings import Finding, Kind
    from .grade.assignment import spec
    from .report.model import ParamReport, Report

# Where each public name lives.  Importing them lazily keeps the pytest plugin,
# which pytest loads in every session, free for projects that never use it.
_HOME = {
    "backward_of": "declare.functional", "returns_grad": "declare.functional", "problem": "declare.functional",
    "layer": "declare.layers", "model": "declare.layers", "spec": "grade.assignment",
    "Problem": "declare.problem",
    "check": "checking", "check_at": "checking", "assert_gradients": "checking", "check_model": "checking",
    "Report": "report.model", "ParamReport": "report.model", "Finding": "findings", "Kind": "findings",
    "Dims": "declare.dims", "labels": "declare.args", "indices": "declare.args", "const": "declare.args",
    "GradcheckError": "errors", "GradientError": "errors", "SpecError": "errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "backward_of",
    "returns_grad",
    "problem",
    "layer",
    "model",
    "check_model",
    "spec",
    "Problem",
    "check",
    "check_at",
    "assert_gradients",
    "Report",
    "ParamReport",
    "Finding",
    "Kind",
    "Dims",
    "labels",
    "indices",
    "const",
    "GradcheckError",
    "GradientError",
    "SpecError",
]

__version__ = "0.1.0"
