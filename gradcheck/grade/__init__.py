"""The CI gate: grade a folder of untrusted submissions against an assignment spec.

Data flow: ``assignment`` (what to check) -> ``sandbox`` (one subprocess per submission,
limited, speaking ``wire``) -> ``proxy`` (checks whose user calls go through the
sandbox; the verdict is computed here, from plain arrays) -> ``session`` (one
submission, scored) -> ``writers`` (console, JSON, JUnit, Markdown, Gradescope).

This package imports nothing on its own: the untrusted ``worker`` runs inside it and
must start with only what it needs (numpy, ``wire``).
"""
