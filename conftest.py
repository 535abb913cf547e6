"""Root conftest: makes ``reference_models`` importable from the tests in a clone."""
