"""Declarations: shapes, dim spaces, argument specs, and their error messages."""

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.declare.dims import DEFAULT_DIM_RANGE, Dims, DimSpace, Shape


def test_shape_resolves_names_ints_and_expressions():
    dims = {"N": 2, "D": 3, "H": 4, "K": 5}
    assert Shape("N,D").resolve(dims) == (2, 3)
    assert Shape(("N", 7)).resolve(dims) == (2, 7)
    assert Shape("H,D+1").resolve(dims) == (4, 4)
    assert Shape("H*(D+1)+K*(H+1)").resolve(dims) == (4 * 4 + 5 * 5,)
    assert Shape("").resolve(dims) == ()
    assert list(Shape("H*(D+1),N").names) == ["H", "D", "N"]


@pytest.mark.parametrize("bad", ["N,,D+", "N.size", "f(N)", "N;D"])
def test_shape_rejects_what_is_not_integer_arithmetic(bad):
    with pytest.raises(gc.SpecError, match="dimension|cannot read"):
        Shape(bad)


def test_shape_rejects_wrong_types_naming_the_argument():
    with pytest.raises(gc.SpecError, match=r"shapes\['x'\]=3.5"):
        Shape(3.5, name="shapes['x']")


def test_dims_attribute_and_item_access_and_helpful_missing_name():
    d = Dims({"N": 2, "S": 1})
    assert d.N == d["N"] == 2
    with pytest.raises(gc.SpecError, match=r"'P' is not defined \(known dims: N, S\)"):
        d.P  # noqa: B018 (the attribute access is what raises)


def test_dim_space_fills_default_ranges_in_order_of_appearance():
    space = DimSpace({"T": (2, 3)}, ["N", "T", "D"])
    assert space.names == ["T", "N", "D"]
    assert space.ranged["N"] == DEFAULT_DIM_RANGE


def test_pinned_constraint_is_enumerated_not_filtered():
    # Only a few of 8*4*4*3 combinations satisfy a conv-style output-size constraint.
    space = DimSpace(
        {"H": (1, 8), "HH": (1, 4), "P": (0, 3), "S": (1, 3)},
        ["H"],
        where=lambda d: d.H + 2 * d.P >= d.HH and (d.H + 2 * d.P - d.HH) % d.S == 0 and d.S > 1,
    )
    valid = space.combinations()
    assert valid and all((v["H"] + 2 * v["P"] - v["HH"]) % v["S"] == 0 and v["S"] > 1 for v in valid)
    sizes = [sum(v.values()) for v in valid]
    assert sizes == sorted(sizes), "smallest configurations come first so shrinking reaches them"


def test_derived_dims_are_computed_and_invalid_sizes_dropped():
    space = DimSpace({"H": (1, 3), "G": lambda d: 4 * d.H, "Hout": lambda d: d.H - 2}, ["H"])
    assert [v["G"] for v in space.combinations()] == [12]  # only H=3 leaves Hout >= 1
    with pytest.raises(gc.SpecError, match="no dims satisfy"):
        DimSpace({"H": (1, 2)}, ["H"], where=lambda d: d.H > 5).combinations()


@pytest.mark.parametrize(
    "dims, message",
    [
        ({"N": (3, 1)}, r"high=1 < low=3"),
        ({"N": (-1, 2)}, r"low=-1 < 0"),
        ({"N": "2"}, r"\(low, high\) integers"),
        ({"2N": (1, 2)}, r"identifiers"),
    ],
)
def test_dim_space_validates_ranges(dims, message):
    with pytest.raises(gc.SpecError, match=message):
        DimSpace(dims, [])


def test_labels_and_indices():
    rng = np.random.default_rng(0)
    d = Dims({"N": 6, "C": 3})
    y = gc.labels("N", classes="C", low=1).draw(d, rng)
    assert y.shape == (6,) and y.min() >= 1 and y.max() <= 3
    idx = gc.indices("N", size=50).draw(d, rng)
    assert len(set(idx.tolist())) < idx.size, "indices always contain a repeat"


def test_check_at_validates_dims():
    def f(x):
        return x.sum(), (x,)

    @gc.backward_of(f, shapes={"x": "N"}, dims={"N": (1, 3)})
    def b(dout, cache):
        return dout * np.ones_like(cache[0])

    with pytest.raises(gc.SpecError, match=r"unknown dims \['M'\]"):
        gc.check_at(b, {"N": 2, "M": 1})
    with pytest.raises(gc.SpecError, match=r"missing \['N'\]"):
        gc.check_at(b, {})
