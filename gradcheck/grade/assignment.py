"""The instructor's side: ``CHECKS = [gc.spec(...), ...]`` in an assignment module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..declare.functional import BACKWARD_OF_ARGS
from ..errors import SpecError

__all__ = ["spec", "GradeSpec", "load_assignment", "CHECK_ARGS"]

#: The decorator arguments a spec may carry (as for @gc.backward_of / @gc.returns_grad).
CHECK_ARGS = tuple(BACKWARD_OF_ARGS)


@dataclass
class GradeSpec:
    """One graded check: which student function(s), how many points, how to draw inputs."""

    name: str
    backward: str | None = None
    forward: str | None = None
    fn: str | None = None
    points: float = 1.0
    required: bool = False
    reference: Callable[..., Any] | None = None
    check_args: dict[str, Any] = field(default_factory=dict)
    #: The spec file it was read from (its name only), for the reproduce command a student runs.
    source: str = ""
    #: A class layer or model: gc.layer's / gc.model's arguments, and the expression building it.
    layer: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    make: str | None = None
    #: With ``--solution``: the solution's forward of the same name, the trusted one when there is no reference.
    solution_forward: Callable[..., Any] | None = None

    @property
    def kind(self) -> str:
        if self.layer is not None:
            return "layer"
        if self.model is not None:
            return "model"
        return "returns_grad" if self.fn else "backward_of"

    def student_names(self) -> list[str]:
        if self.make is not None:
            from .objects_proxy import names_called

            return names_called(self.make)
        return [n for n in (self.fn, self.forward, self.backward) if n]


def spec(
    name: str,
    *,
    backward: str | None = None,
    forward: str | None = None,
    fn: str | None = None,
    points: float = 1,
    required: bool = False,
    reference: Callable[..., Any] | None = None,
    layer: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    make: str | None = None,
    **check_args: Any,
) -> GradeSpec:
    """Declare one graded check of the student's functions, named as strings.

    Parameters
    ----------
    name : str
        The check's name in the grade table.
    backward, forward : str, optional
        The student's functional pair (defaults ``name + "_backward"`` and
        ``name + "_forward"``).
    fn : str, optional
        Instead of a pair: a function returning ``(loss, grads)``.
    points : float
        What the check is worth.
    required : bool
        A failure here fails the whole submission.
    reference : callable, optional
        A trusted forward the student's forward must agree with.
    layer, model : dict, optional
        Instead of functions, a class the student writes: :func:`gc.layer`'s arguments
        (``inputs``, ``params``, ``steps``...; methods and ``output`` named as strings)
        or :func:`gc.model`'s (``X``, ``y``, ``dims``...).
    make : str, optional
        With ``layer``/``model``: the expression that builds the student's object from
        the drawn dims ``d`` (and ``rng``, ``np``), e.g. ``"Linear(d.D, d.M)"``; it is
        evaluated in the submission's sandbox.
    **check_args
        The decorator's arguments (``shapes=``, ``args=``, ``dims=``, ...).

    Returns
    -------
    GradeSpec
        For the assignment's list of checks.
    """
    if not isinstance(name, str) or not name:
        raise SpecError(f"gc.spec needs a name, like gc.spec('affine', ...), got {name!r}")
    if layer is not None or model is not None or make is not None:
        from .objects_proxy import object_spec

        return object_spec(name, points=points, required=required, layer=layer, model=model, make=make,
                           others={"backward": backward, "forward": forward, "fn": fn, "reference": reference,
                                   **check_args})
    unknown = sorted(set(check_args) - set(CHECK_ARGS))
    if unknown:
        raise SpecError(f"gc.spec({name!r}) got unknown arguments {unknown}; known: {', '.join(CHECK_ARGS)}")
    if "shapes" not in check_args:
        raise SpecError(f"gc.spec({name!r}) needs shapes=, e.g. shapes={{'x': 'N,D'}}")
    if fn is not None and (backward or forward):
        raise SpecError(f"gc.spec({name!r}): give fn= (returns its gradient) or forward=/backward=, not both")
    if fn is None:
        backward = backward or f"{name}_backward"
        forward = forward or f"{name}_forward"
    for label, value in (("fn", fn), ("forward", forward), ("backward", backward)):
        if value is not None and not (isinstance(value, str) and value.isidentifier()):
            raise SpecError(f"gc.spec({name!r}): {label}= names the student's function as a string, got {value!r}")
    if not (isinstance(points, (int, float)) and points >= 0):
        raise SpecError(f"gc.spec({name!r}): points must be a number >= 0, got {points!r}")
    if reference is not None and not callable(reference):
        raise SpecError(f"gc.spec({name!r}): reference must be a trusted forward function, got {reference!r}")
    return GradeSpec(name, backward, forward, fn, float(points), bool(required), reference, dict(check_args))


def load_assignment(path: Path) -> list[GradeSpec]:
    """The ``CHECKS`` list of an assignment spec file."""
    from ..userfiles import ImportFailed, import_file

    if not path.is_file():
        raise SpecError(f"no such assignment spec: {path}")
    try:
        module = import_file(path)
    except ImportFailed as exc:
        raise SpecError(f"the assignment spec {exc}") from None
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, (list, tuple)) or not checks or not all(isinstance(c, GradeSpec) for c in checks):
        raise SpecError(f"{path.name} must define CHECKS = [gc.spec(...), ...]")
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise SpecError(f"{path.name}: check names must be distinct, got {names}")
    for check in checks:
        check.source = path.name
    return list(checks)
