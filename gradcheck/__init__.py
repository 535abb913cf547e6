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
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports happen on first use, see __getattr__
    from .adapters import backward_of, problem, returns_grad
    from .errors import GradcheckError, GradientError, SpecError
    from .grade.assignment import spec
    from .objects import check_model, layer, model
    from .problems import Problem
    from .report import Finding, ParamReport, Report
    from .runner import assert_gradients, check, check_at
    from .specs import Dims, const, indices, labels

# Where each public name lives.  Importing them lazily keeps the pytest plugin,
# which pytest loads in every session, free for projects that never use it.
_HOME = {
    "backward_of": "adapters", "returns_grad": "adapters", "problem": "adapters",
    "layer": "objects", "model": "objects", "check_model": "objects", "spec": "grade.assignment",
    "Problem": "problems",
    "check": "runner", "check_at": "runner", "assert_gradients": "runner",
    "Report": "report", "ParamReport": "report", "Finding": "report",
    "Dims": "specs", "labels": "specs", "indices": "specs", "const": "specs",
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
    "Dims",
    "labels",
    "indices",
    "const",
    "GradcheckError",
    "GradientError",
    "SpecError",
]

__version__ = "0.1.0"
