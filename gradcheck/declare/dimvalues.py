"""The dims of one example, ``d.N`` and ``d["N"]``: what ``make(d, rng)`` and ``lambda d: ...`` receive.

Apart from :mod:`.dims` (which imports hypothesis for its strategies) so that the
grading worker can hand the dims to a spec's ``make`` while importing only numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..errors import SpecError

__all__ = ["Dims", "format_dims"]


class Dims(Mapping[str, int]):
    """The dims of one example: ``d.N`` and ``d["N"]`` both work.

    A missing name raises :class:`SpecError` naming the known dims, so a typo in a
    user's ``lambda d: d.Stride`` reads as a declaration problem, not a KeyError.
    """

    __slots__ = ("_values",)
    _values: dict[str, int]

    def __init__(self, values: Mapping[str, int]):
        object.__setattr__(self, "_values", dict(values))

    def __getitem__(self, name: str) -> int:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(self._values) or "none"
            raise SpecError(
                f"dimension {name!r} is not defined (known dims: {known}); "
                f"add it to dims=, e.g. dims={{{name!r}: (1, 4)}}"
            ) from None

    def __getattr__(self, name: str) -> int:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Dims are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return format_dims(self._values)

    def as_dict(self) -> dict[str, int]:
        return dict(self._values)


def format_dims(values: Mapping[str, int]) -> str:
    """``N=2, D=1`` (the order the dims were declared in)."""
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "(no dims)"
