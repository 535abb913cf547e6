"""Arrays inside user objects: one walker, snapshots, and the first changed entry.

Used wherever the tool must notice that user code wrote into an array it should
only have read (an input, ``dout``, the forward cache, a layer's stored state) and
wherever it must tell which arrays a function returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["walk", "array_ids", "first_change", "snapshot", "changes", "Snapshot"]

#: How deep the walker follows containers and attributes, and how many items per level.
MAX_DEPTH = 4
MAX_ITEMS = 256

Snapshot = dict[str, tuple[np.ndarray, np.ndarray]]
_SCALARS = (str, bytes, int, float, complex, bool, type(None))


def walk(obj: Any, path: str = "", *, skip: Callable[[str, Mapping[str, Any]], bool] | None = None,
         attributes: bool = True) -> Iterator[tuple[str, np.ndarray]]:
    """Every numeric array reachable from ``obj``, once each, with its path.

    Follows mappings, lists, tuples and (with ``attributes``) instance attributes,
    ``MAX_DEPTH`` levels deep; ``skip(name, attributes)`` leaves out attributes
    (gradient buffers that backward writes by design).
    """
    yield from _walk(obj, path, skip, attributes, set(), 0)


def _walk(obj: Any, path: str, skip: Any, attributes: bool, seen: set[int], depth: int
          ) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(obj, np.ndarray):
        if obj.dtype != object and id(obj) not in seen:
            seen.add(id(obj))
            yield path, obj
        return
    if depth > MAX_DEPTH or id(obj) in seen or isinstance(obj, _SCALARS):
        return
    seen.add(id(obj))
    if isinstance(obj, Mapping):
        for key, value in list(obj.items())[:MAX_ITEMS]:
            yield from _walk(value, f"{path}[{key!r}]", skip, attributes, seen, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj[:MAX_ITEMS]):
            yield from _walk(value, f"{path}[{i}]", skip, attributes, seen, depth + 1)
    elif attributes and hasattr(obj, "__dict__") and not callable(obj):
        found = vars(obj)
        for key, value in list(found.items())[:MAX_ITEMS]:
            if skip is None or not skip(key, found):
                yield from _walk(value, f"{path}.{key}", skip, attributes, seen, depth + 1)


def array_ids(value: Any) -> set[int]:
    """Ids of the arrays a function returned (a gradient, a tuple or dict of them)."""
    return {id(a) for _, a in walk(value, attributes=False)}


def first_change(before: np.ndarray, after: Any) -> str | None:
    """``first at [1, 0]: 0.5 -> 0`` if ``after`` differs from ``before``; None if equal."""
    if not isinstance(after, np.ndarray) or after.shape != before.shape:
        return None
    if np.array_equal(after, before):
        return None  # the usual case, in one pass (the NaN-aware comparison below takes five)
    if np.issubdtype(before.dtype, np.inexact):
        differ = ~((after == before) | (np.isnan(after) & np.isnan(before)))
    else:
        differ = after != before
    if not np.any(differ):
        return None
    first = tuple(int(i) for i in np.argwhere(differ)[0])
    return f"first at {list(first)}: {_value(before[first])} -> {_value(after[first])}"


def _value(x: Any) -> str:
    try:
        return f"{float(x):.6g}"
    except (TypeError, ValueError):
        return repr(x)


def snapshot(obj: Any, label: str, *, writable_only: bool = False) -> Snapshot:
    """Every array reachable from ``obj`` with a copy, for :func:`changes`.

    Keeping the array itself lets :func:`changes` see writes *into* it; an
    attribute rebound to a new array is not a mutation of the old one.
    ``writable_only``: read-only arrays (views the tool handed out, which a write
    through raises on) are left out, and cost no copy.
    """
    return {path: (array, array.copy()) for path, array in walk(obj, label, skip=is_gradient_buffer)
            if array.flags.writeable or not writable_only}


def is_gradient_buffer(name: str, siblings: Mapping[str, Any]) -> bool:
    """``dW`` next to ``W``, ``weights_grad``, ``gradient``, ``delta_list``: backward's to write."""
    lowered = name.lower()
    if "grad" in lowered or lowered.startswith("delta"):
        return True
    return (name.startswith("d_") and name[2:] in siblings) or (name.startswith("d") and name[1:] in siblings)


def changes(before: Snapshot, *, ignore: set[int] | frozenset[int] = frozenset()) -> list[tuple[str, str]]:
    """``(path, "first at [i]: a -> b")`` for each array written into since :func:`snapshot`.

    ``ignore`` holds ids of arrays that are meant to be written (gradient buffers).
    """
    found = []
    for path, (array, old) in before.items():
        if id(array) in ignore:
            continue
        change = first_change(old, array)
        if change:
            found.append((path, change))
    return found
