"""What a student runs in their own checkout to see a graded failure again, without decorators.

A failing check's record ends with a command such as::

    gradcheck check layers.py::relu_backward --spec assignment.py --at N=1,D=2 --seed 3

which checks the student's undecorated functions with the declaration the spec
gives them, at the configuration and seed where grading saw the failure.
"""

from __future__ import annotations

import shlex
from types import ModuleType
from typing import Any

import numpy as np

from ..declare.check import Check
from ..errors import GradcheckError
from .assignment import GradeSpec
from .speccheck import declared_check

__all__ = ["reproduce_command", "check_from_spec", "spec_for", "target_of", "object_check", "parse_dims"]


def reproduce_command(gspec: GradeSpec, file_name: str, config: dict[str, int], seed: int | None,
                      nasty: bool = False) -> str:
    """The ``gradcheck check`` command that repeats one graded example.

    Parameters
    ----------
    gspec
        The spec of the check.
    file_name
        The submission's file that defines the function checked.
    config, seed, nasty
        The example: its dims, the seed of its values, whether it drew nasty values.
    """
    target = f"{file_name}::{target_of(gspec)}"
    words = ["gradcheck", "check", target, "--spec", gspec.source or "assignment.py"]
    if config:
        words += ["--at", ",".join(f"{k}={v}" for k, v in config.items())]
    words += ["--seed", str(seed or 0)] + (["--nasty"] if nasty else [])
    return " ".join(shlex.quote(w) for w in words)


def target_of(gspec: GradeSpec) -> str:
    """What a student names on the command line: the backward, the ``fn``, or the class ``make`` builds."""
    if gspec.kind in ("layer", "model"):
        return gspec.student_names()[0]
    return str(gspec.backward or gspec.fn)


def spec_for(specs: list[GradeSpec], name: str) -> GradeSpec:
    """The spec that checks ``name`` (its backward, its ``fn``, its class, or the spec's own name)."""
    gspec = next((s for s in specs if name in (s.backward, s.fn, s.name)
                  or (s.kind in ("layer", "model") and name in s.student_names())), None)
    if gspec is None:
        known = ", ".join(s.backward or s.fn or s.name for s in specs)
        raise GradcheckError(f"the spec checks no {name!r}; it checks {known}")
    return gspec


def check_from_spec(specs: list[GradeSpec], module: ModuleType, name: str) -> Check:
    """The check of ``module.name`` as the spec declares it (the function needs no decorator)."""
    gspec = spec_for(specs, name)
    missing = [n for n in gspec.student_names() if not callable(getattr(module, n, None))]
    if missing:
        raise GradcheckError(f"{module.__name__} defines no {', '.join(missing)} (gc.spec({gspec.name!r}) needs it)")
    if gspec.kind in ("layer", "model"):
        return object_check(gspec, vars(module))
    if gspec.fn:
        return declared_check(gspec, getattr(module, gspec.fn))
    return declared_check(gspec, getattr(module, gspec.forward or ""), getattr(module, gspec.backward or ""))


def object_check(gspec: GradeSpec, namespace: dict[str, Any]) -> Check:
    """A class-layer or model spec's check on the student's own class, built here by ``make``."""
    from ..declare.attributes import get_path
    from ..declare.layers import LAYER_ARGS, LayerCheck, ModelCheck
    from .objects_proxy import with_make_dims

    def make(d: Any, rng: Any) -> Any:
        scope = {"__builtins__": __builtins__, "np": np, **namespace}
        return eval(str(gspec.make), scope, {"d": d, "rng": rng})  # noqa: S307 - the student's own code, in their checkout

    make.__name__ = make.__qualname__ = target_of(gspec)
    options = dict(gspec.layer if gspec.layer is not None else gspec.model or {})
    if gspec.layer is not None:
        options = {**LAYER_ARGS, **options}
        output = options.pop("output", None)
        options["reset"] = options["reset"] if options["steps"] else None
        options["output"] = (lambda layer: get_path(layer, output)) if output else None
        check: Check = LayerCheck(make, **options)
    else:
        check = ModelCheck(
            make, X=options.get("X"), y=options.get("y"), dims=options.get("dims"), where=options.get("where"),
            loss=options.get("loss", "loss"), params=options.get("params", "params"))
    check.space = with_make_dims(check.space, str(gspec.make), options.get("dims"), options.get("where"))
    return check


def parse_dims(text: str) -> dict[str, int]:
    """``"N=1,D=2"`` -> ``{"N": 1, "D": 2}``."""
    dims: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            dims[name.strip()] = int(value)
        except ValueError:
            raise GradcheckError(f"--at takes NAME=INT pairs, like --at N=1,D=2; got {part!r}") from None
    return dims
