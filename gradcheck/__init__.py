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

from .adapters import backward_of, problem, returns_grad
from .errors import GradcheckError, GradientError, SpecError
from .problem import Problem
from .report import Finding, ParamReport, Report
from .runner import assert_gradients, check, check_at
from .spec import Dims, const, indices, labels

__all__ = [
    "backward_of",
    "returns_grad",
    "problem",
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
