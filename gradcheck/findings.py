"""What a check can find, in one vocabulary: :class:`Kind` and :class:`Finding`.

Every layer speaks it: the adapters and detectors record findings while the user's
code runs, the engine collects them over examples, the report lists them, and the
plugin and the grader decide pass/fail from ``Kind.blocks_verdict`` alone.  Machines
read ``kind``, ``params`` and ``config``; the ``message`` is for people and is never
parsed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Kind", "Finding", "UserError"]


class Kind(str, Enum):
    """The kinds of finding.  A ``str`` enum: ``Kind.MUTATION == "mutation"`` holds."""

    MISMATCH = "mismatch"
    SHAPE = "shape"
    NOT_IMPLEMENTED = "not-implemented"
    ERROR = "error"
    MUTATION = "mutation"
    ACCUMULATION = "accumulation"
    NONDETERMINISM = "nondeterminism"
    PRECISION = "precision"
    #: A certain but practically negligible difference (a stabilizing ``+1e-7``): a note.
    TINY = "small-difference"
    KINK_EXCLUDED = "kink-excluded"
    CLIPPED_EXCLUDED = "clipped-excluded"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    IMPORT_ERROR = "import-error"
    UNDECLARED = "undeclared"
    SPEC_ERROR = "spec-error"
    # Undecorated code: the check was inferred (and from what); configurations its forward rejected.
    INFERRED = "inferred"
    REJECTED = "rejected"
    # Grading only: what happened to a submission's process, and its forward against the reference.
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"
    FORWARD_MISMATCH = "forward-mismatch"
    TOO_LARGE = "too-large"  # the submission exceeded the size or file count its copy may have

    # str() and format() give the value on every Python version (3.11 changed the mixin's).
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def blocks_verdict(self) -> bool:
        """A finding of this kind fails the check, whatever the gradient values."""
        return self not in _INFORMATIVE

    @property
    def summarized(self) -> bool:
        """Named in one-line summaries beside the wrong parameters (a mismatch is the parameters)."""
        return self.blocks_verdict and self is not Kind.MISMATCH

    @property
    def voids_credit(self) -> bool:
        """In grading: no partial credit for the right parameters of a check with this finding."""
        return self in (Kind.ERROR, Kind.NOT_IMPLEMENTED, Kind.NONDETERMINISM, Kind.MUTATION, Kind.ACCUMULATION)

    @property
    def from_detector(self) -> bool:
        """Found by rerunning the code, not by comparing values: reported at its own example."""
        return self in (Kind.MUTATION, Kind.ACCUMULATION)


_INFORMATIVE = frozenset({Kind.PRECISION, Kind.TINY, Kind.KINK_EXCLUDED, Kind.CLIPPED_EXCLUDED, Kind.INFERRED,
                          Kind.REJECTED})


@dataclass
class Finding:
    """One thing a check found, for machines: never parse the message.

    Parameters
    ----------
    kind : Kind or str
        What was found; a string is converted (``"mutation"``).
    message : str
        One sentence for a person, naming the function, argument or attribute at fault.
    params : list of str
        The parameters it concerns (empty: the whole check).
    config : dict
        The dims of the example where it was seen (filled in by the engine).
    site : str
        Where in the user's objects it happened (``RecurrentLayer.state_list[2]``);
        findings of one kind at the same site up to indices are one finding.
    """

    kind: Kind
    message: str
    params: list[str] = field(default_factory=list)
    config: dict[str, int] = field(default_factory=dict)
    site: str = ""

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        self.params = list(self.params)

    @property
    def key(self) -> tuple[str, tuple[str, ...], str]:
        """What makes two findings the same: kind, params and site with indices blurred."""
        return self.kind.value, tuple(self.params), re.sub(r"\d+", "#", self.site)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "params": list(self.params), "config": dict(self.config),
                "message": self.message, **({"site": self.site} if self.site else {})}


class UserError(Exception):
    """The user's code failed or returned something unusable; carries its :class:`Finding`.

    Raised where the failure is seen (inside an adapter's call), caught by the engine,
    which records ``.finding``.  ``kind`` is ``error``, ``shape`` or ``not-implemented``.
    """

    def __init__(self, kind: Kind | str, message: str, params: Sequence[str] = ()):
        super().__init__(message)
        self.finding = Finding(Kind(kind), message, list(params))

    @property
    def kind(self) -> Kind:
        return self.finding.kind

    @property
    def message(self) -> str:
        return self.finding.message

    @property
    def params(self) -> list[str]:
        return self.finding.params
