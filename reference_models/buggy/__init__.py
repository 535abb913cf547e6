"""Buggy twins of the reference layers: one realistic mistake each.

Each twin is declared exactly like its correct model and marked
``@pytest.mark.xfail(strict=True, reason=...)``, the reason saying what is wrong
and when it shows.  ``pytest --gradcheck reference_models/`` reports them as
expected failures; the test suite asserts each fails with exactly its wrong
parameters named.
"""
