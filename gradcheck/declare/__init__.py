"""How users say what to check: dims and shapes, arguments, calling conventions.

Each declaration (a decorator on the user's function, or a spec) becomes a
:class:`~gradcheck.declare.check.Check` that builds one
:class:`~gradcheck.declare.problem.Problem` per example for the engine.
"""
