"""The exceptions gradcheck raises.

``SpecError`` is for a mistake in how a check is *declared* (a shape string that
does not parse, a dim with no range): it is raised at declaration time, where the
user can see which argument is at fault.  ``GradientError`` is the failed verdict.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GradcheckError", "SpecError", "GradientError"]


class GradcheckError(Exception):
    """Base class of every exception raised by gradcheck itself."""


class SpecError(GradcheckError, ValueError):
    """A check was declared with arguments that cannot work.

    The message names the argument and shows its value (``name=value``).
    """


class GradientError(GradcheckError, AssertionError):
    """Raised by :func:`gradcheck.assert_gradients`: the gradients are wrong.

    ``.report`` holds the full :class:`gradcheck.Report`; ``str(err)`` is its table.
    """

    def __init__(self, report: Any):
        self.report = report
        super().__init__(str(report))
