"""Named dimensions, shapes, and the hypothesis strategy over them.

A check is declared in terms of *named dimensions* shared across its arguments
(``"N,D"`` for ``x`` and ``"D,M"`` for ``w`` share ``D``).  This module turns those
declarations into:

- :class:`DimSpace`: the set of valid dim assignments, and a hypothesis strategy
  over it that shrinks towards the smallest configuration;
- :class:`Shape`: a parsed shape whose entries are dim names, ints or small
  arithmetic expressions (``"H,D+1"``, ``"H*(D+1)+K*(H+1)"``);
- the values of differentiable arrays (:func:`draw_values`, :func:`check_value_range`).

The non-differentiable arguments are in :mod:`gradcheck.declare.args`.

Everything here validates its input when declared and raises :class:`SpecError`
with ``name=value`` in the message.
"""

from __future__ import annotations

import ast
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import SpecError
from .dimvalues import Dims, format_dims

__all__ = [
    "Dims",
    "DimSpace",
    "Shape",
    "draw_values",
    "format_dims",
    "check_value_range",
    "DEFAULT_DIM_RANGE",
    "DEFAULT_VALUE_RANGE",
]

#: Range of a dim that appears in a shape but not in ``dims=``.  It reaches 3+
#: so that batch sizes above 1 and sequences longer than 2 are always drawn.
DEFAULT_DIM_RANGE = (1, 4)
#: Values of differentiable arrays are drawn uniformly from this range.
DEFAULT_VALUE_RANGE = (-1.0, 1.0)
#: In nasty mode, the share of entries put on a coarse grid (exact zeros, ties).
NASTY_SHARE = 0.5


def draw_values(rng: np.random.Generator, low: float, high: float, size: Any, *, nasty: bool = False) -> np.ndarray:
    """Uniform values in ``[low, high)``; with ``nasty``, half of them on a grid of halves.

    The grid puts values where non-smooth code has its kinks and ties: exact zeros
    (ReLU), equal entries (max-pool, argmax), values on round bounds (clip at 0.5).
    """
    # rng.uniform's values bit for bit (low + (high - low) * u, the same doubles drawn), scaled in
    # place: one temporary less, a sixth of the time of a large draw
    values = np.asarray(rng.random(size=size))
    values *= high - low
    values += low
    if not nasty:
        return values
    grid = np.arange(np.ceil(low * 2), np.floor(high * 2) + 1) / 2
    if grid.size == 0:
        return values
    on_grid = rng.random(size=np.shape(values)) < NASTY_SHARE
    return np.asarray(np.where(on_grid, rng.choice(grid, size=np.shape(values)), values))


#: Constrained dims are enumerated; a declaration spanning more combinations is refused.
MAX_ENUMERATED = 200_000

DimValue = tuple[int, int] | Callable[..., int]


# --------------------------------------------------------------------------- shapes

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _check_expr(node: ast.AST, text: str) -> set[str]:
    """Names used by a dim expression; rejects anything but integer arithmetic."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return set()
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _check_expr(node.left, text) | _check_expr(node.right, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _check_expr(node.operand, text)
    raise SpecError(
        f"cannot read {text!r} as a dimension: use dim names, integers and + - * // % "
        f"(e.g. 'N,D' or 'H,D+1')"
    )


def _eval_expr(node: ast.AST, dims: Mapping[str, int]) -> int:
    if isinstance(node, ast.Name):
        return dims[node.id]
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int)  # _check_expr admitted ints only
        return node.value
    if isinstance(node, ast.UnaryOp):
        return -_eval_expr(node.operand, dims)
    assert isinstance(node, ast.BinOp)  # _check_expr admitted nothing else
    return int(_BINOPS[type(node.op)](_eval_expr(node.left, dims), _eval_expr(node.right, dims)))


class Shape:
    """A parsed shape: ``Shape("N,D")``, ``Shape(("N", 3))``, ``Shape("H*(D+1)")``."""

    def __init__(self, spec: str | tuple[Any, ...] | list[Any] | int, *, name: str = "shape") -> None:
        items = self._split(spec, name)
        self.text = spec if isinstance(spec, str) else ",".join(map(str, items))
        self._items = [self._parse_item(item, name) for item in items]
        # Ordered by first appearance, so reports list dims as the user wrote them.
        self.names: dict[str, None] = {}
        for node, _ in self._items:
            self.names.update(dict.fromkeys(n.id for n in ast.walk(node) if isinstance(n, ast.Name)))

    @staticmethod
    def _split(spec: Any, name: str) -> list[Any]:
        if isinstance(spec, str):
            if not spec.strip() or spec.strip() in ("()", "scalar"):
                return []
            return [part for part in _split_top_level(spec)]
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            return [int(spec)]
        if isinstance(spec, (tuple, list)):
            return list(spec)
        raise SpecError(
            f"expected a shape like 'N,D' or ('N', 3) but got {name}={spec!r} "
            f"(type={type(spec).__name__})"
        )

    @staticmethod
    def _parse_item(item: Any, name: str) -> tuple[ast.expr, set[str]]:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if item < 0:
                raise SpecError(f"negative size in {name}: {item!r}")
            return ast.Constant(int(item)), set()
        if not isinstance(item, str) or not item.strip():
            raise SpecError(f"each entry of {name} must be a dim name, an int or an expression; got {item!r}")
        try:
            node = ast.parse(item.strip(), mode="eval").body
        except SyntaxError:
            raise SpecError(f"cannot read {item!r} in {name} as a dimension expression") from None
        return node, _check_expr(node, item)

    def resolve(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(_eval_expr(node, dims) for node, _ in self._items)

    def bind(self, shape: tuple[int, ...]) -> dict[str, int]:
        """The dims an array of ``shape`` fixes: one per axis declared by a bare name."""
        if len(shape) != len(self._items):
            return {}
        return {node.id: int(n) for (node, _), n in zip(self._items, shape) if isinstance(node, ast.Name)}

    def __repr__(self) -> str:
        return f"Shape({self.text!r})"


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in (s.strip() for s in parts) if p]


# ----------------------------------------------------------------------- dim space


def _check_range(name: str, value: Any, what: str = "dims") -> tuple[int, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        raise SpecError(
            f"expected {what}[{name!r}] to be (low, high) integers or a callable, got {value!r}"
        )
    low, high = int(value[0]), int(value[1])
    if low < 0:
        raise SpecError(f"Cannot have {what}[{name!r}] low={low} < 0")
    if high < low:
        raise SpecError(f"Cannot have {what}[{name!r}] high={high} < low={low}")
    return low, high


class DimSpace:
    """All valid assignments of the named dims of one check.

    ``ranged`` dims are drawn; ``derived`` dims are computed from the others in
    declaration order; ``where`` keeps only the assignments a predicate accepts.

    The dims that ``where`` and the derived dims read (*constrained* dims) are
    enumerated once, and the valid combinations sorted from the smallest up, so
    hypothesis samples them directly and shrinks towards the smallest failing
    configuration, with no filtering and no health-check trouble even for a
    constraint that pins a dim to a formula.  The other dims are drawn
    independently.  Which dims are read is learned by watching the predicates
    run over the enumeration itself, so a dim read on one branch only is found.
    """

    def __init__(
        self,
        dims: Mapping[str, DimValue] | None,
        shape_names: Iterable[str],
        where: Callable[[Dims], bool] | None = None,
    ):
        if dims is not None and not isinstance(dims, Mapping):
            raise SpecError(f"expected dims to be a dict of name -> (low, high), got dims={dims!r}")
        if where is not None and not callable(where):
            raise SpecError(f"expected where to be a predicate on the dims, got where={where!r}")
        self.where = where
        self.ranged: dict[str, tuple[int, int]] = {}
        self.derived: dict[str, Callable[[Dims], int]] = {}
        for name, value in (dims or {}).items():
            if not isinstance(name, str) or not name.isidentifier():
                raise SpecError(f"dim names must be identifiers, got {name!r} in dims=")
            if callable(value):
                self.derived[name] = value
            else:
                self.ranged[name] = _check_range(name, value)
        for name in shape_names:
            if name not in self.ranged and name not in self.derived:
                self.ranged[name] = DEFAULT_DIM_RANGE
        self._valid: list[dict[str, int]] | None = None
        self._constrained: list[str] = []

    @property
    def names(self) -> list[str]:
        return [*self.ranged, *self.derived]

    def complete(self, drawn: Mapping[str, int], *, reads: set[str] | None = None) -> Dims | None:
        """Add derived dims and apply ``where``; None if the assignment is invalid.

        ``reads`` collects the names the predicates look up.
        """
        values = dict(drawn)
        for name, fn in self.derived.items():
            value = _call_predicate(fn, values, reads, f"dims[{name!r}]")
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SpecError(f"dims[{name!r}] must compute an int, got {value!r}")
            if value < 1:
                return None
            values[name] = int(value)
        if self.where is not None and not _call_predicate(self.where, values, reads, "where="):
            return None
        return Dims(values)

    def validate(self) -> None:
        """Raise :class:`SpecError` now if no configuration is valid."""
        self.combinations()

    def combinations(self) -> list[dict[str, int]]:
        """Valid combinations of the constrained dims, smallest first."""
        if self._valid is not None:
            return self._valid
        constrained: list[str] = []
        while True:
            reads: set[str] = set()
            found = self._combinations(constrained, reads)
            new = [n for n in self.ranged if n in reads and n not in constrained]
            if not new:
                break
            constrained += new
            if _product(self.ranged[n] for n in constrained) > MAX_ENUMERATED:
                raise SpecError(
                    f"dims {constrained} are constrained by where=/derived dims and span more than "
                    f"{MAX_ENUMERATED} combinations; narrow their ranges"
                )
        if not found:
            raise SpecError(
                f"no dims satisfy the declaration: ranges {self.ranged}"
                + (" with where=" if self.where else "")
                + "; widen the ranges or relax the constraint"
            )
        found.sort(key=lambda d: (sum(d[n] for n in constrained), [d[n] for n in constrained]))
        self._constrained, self._valid = constrained, found
        return found

    def _combinations(self, constrained: list[str], reads: set[str]) -> list[dict[str, int]]:
        lows = {n: lo for n, (lo, _) in self.ranged.items()}
        found = []
        for combo in itertools.product(*(range(lo, hi + 1) for lo, hi in (self.ranged[n] for n in constrained))):
            dims = self.complete({**lows, **dict(zip(constrained, combo))}, reads=reads)
            if dims is not None:
                found.append({n: dims[n] for n in [*constrained, *self.derived]})
        return found

    def strategy(self) -> SearchStrategy[Dims]:
        valid = self.combinations()
        free = {n: st.integers(lo, hi) for n, (lo, hi) in self.ranged.items() if n not in self._constrained}
        order = self.names
        return st.tuples(_one_of_valid(valid), st.fixed_dictionaries(free)).map(
            lambda pair: Dims({n: {**pair[0], **pair[1]}[n] for n in order})
        )

    def at(self, values: Mapping[str, int]) -> Dims:
        """The Dims for explicit values (``check_at``); derived dims are computed."""
        if not isinstance(values, Mapping):
            raise SpecError(f"expected dims to be a dict like {{'N': 2}}, got {values!r}")
        unknown = set(values) - set(self.ranged) - set(self.derived)
        if unknown:
            raise SpecError(f"unknown dims {sorted(unknown)}; this check has {self.names}")
        missing = [n for n in self.ranged if n not in values]
        if missing:
            raise SpecError(f"check_at needs a value for every drawn dim; missing {missing}")
        drawn = {n: int(values[n]) for n in self.ranged}
        dims = self.complete(drawn)
        if dims is None:
            raise SpecError(f"dims {format_dims(drawn)} do not satisfy the check's where= constraint")
        for name in self.derived:
            if name in values and values[name] != dims[name]:
                raise SpecError(f"dims[{name!r}]={values[name]} but its formula gives {dims[name]}")
        return dims


def _one_of_valid(valid: list[dict[str, int]]) -> SearchStrategy[dict[str, int]]:
    """One valid combination, drawn one dim at a time among the values still possible.

    Picking a whole combination at once leaves a rare hyperparameter rare (stride 2
    in a fraction of the combinations, or in none of 50 examples); drawing each dim
    from its feasible values, those with the fewest values first, reaches every
    stride and padding often.  Each draw shrinks to its smallest value.
    """
    if not valid or not valid[0]:
        return st.just(valid[0] if valid else {})
    names = sorted(valid[0], key=lambda n: len({c[n] for c in valid}))

    @st.composite
    def pick(draw: Any) -> dict[str, int]:
        pool = valid
        for name in names:
            value = draw(st.sampled_from(sorted({c[name] for c in pool})))
            pool = [c for c in pool if c[name] == value]
        return pool[0]

    return pick()


def _product(ranges: Iterable[tuple[int, int]]) -> int:
    size = 1
    for low, high in ranges:
        size *= high - low + 1
    return size


class _RecordingDims(Dims):
    """Dims that note which names a predicate reads."""

    __slots__ = ("_reads",)
    _reads: set[str]

    def __init__(self, values: Mapping[str, int], reads: set[str]):
        super().__init__(values)
        object.__setattr__(self, "_reads", reads)

    def __getitem__(self, name: str) -> int:
        self._reads.add(name)
        return super().__getitem__(name)


def _call_predicate(fn: Callable[..., Any], values: Mapping[str, int], reads: set[str] | None, label: str) -> Any:
    dims = Dims(values) if reads is None else _RecordingDims(values, reads)
    try:
        return fn(dims)
    except SpecError:
        raise
    except Exception as exc:  # a bug in the user's lambda: name it
        raise SpecError(f"{label} raised {type(exc).__name__}: {exc} at {format_dims(values)}") from exc


def check_value_range(name: str, value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value)
    ):
        raise SpecError(f"expected ranges[{name!r}] to be (low, high) numbers, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not np.isfinite(low) or not np.isfinite(high) or high <= low:
        raise SpecError(f"Cannot have ranges[{name!r}] high={value[1]!r} <= low={value[0]!r}")
    return low, high
