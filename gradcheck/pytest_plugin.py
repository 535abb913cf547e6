"""The pytest plugin (loaded through the ``pytest11`` entry point).

It stays deliberately small: it registers the ``gradcheck`` marker and shows the
per-parameter table when ``gc.assert_gradients`` fails inside a test.  It adds
nothing and costs nothing in a project that does not use gradcheck.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(examples=None, seed=None): tune the gradient check run by this test",
    )
