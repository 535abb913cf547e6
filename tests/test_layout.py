"""The package's layers import only the layers before them, and no one's private names.

declare -> engine -> report -> checking -> plugin / grade -> cli: a module may import
its own layer and the ones before it (leaf modules such as ``errors`` and ``findings``
come first).  A test, so that a shortcut across the layers fails here, not in review.
"""

import ast
from pathlib import Path

import gradcheck

PACKAGE = Path(gradcheck.__file__).resolve().parent
#: Layer of each top-level name in the package; a module may import layers <= its own.
LAYERS = {
    "errors": 0, "findings": 0, "arrays": 0,
    "userfiles": 1, "declare": 1,
    "engine": 2,
    "report": 3,
    "checking": 4,
    "plugin": 5, "grade": 5,
    "cli": 6, "__main__": 7, "__init__": 7,
}


def _imports(path: Path):
    """``(importing module, imported module, names, line)`` for every ``from ... import`` in ``path``."""
    module = ".".join(("gradcheck", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield module, target, [a.name for a in node.names], node.lineno


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _all_imports():
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in _imports(path)]


def test_no_layer_imports_a_later_one():
    upward = [
        f"{module}:{line} imports {target}"
        for module, target, _, line in _all_imports()
        if target.startswith("gradcheck.") and _layer(module) in LAYERS and _layer(target) in LAYERS
        and LAYERS[_layer(target)] > LAYERS[_layer(module)]
    ]
    assert not upward, "\n".join(upward)


def test_no_module_imports_another_modules_private_name():
    private = [
        f"{module}:{line} imports {name} from {target}"
        for module, target, names, line in _all_imports()
        for name in names
        if target.startswith("gradcheck") and name.startswith("_") and not name.startswith("__")
    ]
    assert not private, "\n".join(private)


def test_every_top_level_name_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.name != "reference_models"}
    assert names <= set(LAYERS), sorted(names - set(LAYERS))
