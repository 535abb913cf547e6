"""Root conftest: makes reference_models importable from the tests in a clone,
and provides the pytester fixture for the plugin tests."""

pytest_plugins = ["pytester"]
