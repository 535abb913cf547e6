"""The CI gate: grade a folder of untrusted submissions against an assignment spec.

Data flow: ``assignment`` (what to check) -> ``sandbox`` (one subprocess per submission,
limited, speaking ``wire``) -> ``remote`` (checks whose user calls go through the
sandbox; the verdict is computed here, from plain arrays) -> ``session`` (one
submission, scored) -> ``writers`` (console, JSON, JUnit, Markdown, Gradescope).
"""

from .assignment import GradeSpec, load_assignment, spec

__all__ = ["spec", "GradeSpec", "load_assignment"]
