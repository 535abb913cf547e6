"""The pytest plugin: options, collection, items, results (hooks in :mod:`.hooks`)."""
