"""Configurations the forward pass rejects: invalid inputs, not bugs.

A declaration inferred from a docstring cannot know the constraints no docstring
states (a convolution's ``(H + 2 * pad - HH) % stride == 0``).  For a check that
allows it (``check.reject_invalid``), an example whose forward pass raises an
assertion or a shape error *before any gradient is computed* is rejected, like
hypothesis' ``assume``: the search goes on with other configurations.  The
report says what share was rejected and the first message; a forward that
rejects every configuration is a declaration problem, never a gradient verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REJECTING", "allows_rejection", "is_rejection", "Rejections"]

#: What a forward pass raises when its input is not valid for it.
REJECTING = (AssertionError, ValueError, IndexError)


def allows_rejection(check: object) -> bool:
    return bool(getattr(check, "reject_invalid", False))


def is_rejection(error: BaseException) -> bool:
    """A user error caused by an assertion or a shape error in the user's code."""
    return isinstance(error.__cause__, REJECTING)


@dataclass
class Rejections:
    """How many examples were rejected, and the first message."""

    count: int = 0
    first: str = ""

    def add(self, message: str) -> None:
        self.count += 1
        self.first = self.first or message

    def finding_message(self, examples: int) -> str:
        total = self.count + examples
        share = 100.0 * self.count / total if total else 100.0
        return (f"{self.count} of {total} configurations ({share:.0f}%) were rejected by the forward pass as "
                f"invalid inputs, not bugs; first: {self.first}")

    def everything_message(self) -> str:
        return (f"the forward pass rejected every configuration tried ({self.count}), so no gradient was checked: "
                f"the declaration does not fit the function; first: {self.first}")
