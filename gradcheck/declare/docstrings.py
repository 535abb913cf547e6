"""Read what a function's docstring and annotations say about its arguments.

Three docstring styles cover most hand-written backpropagation:

- CS231n: an ``Inputs:`` list, ``- x: A numpy array ... of shape (N, d_1, ..., d_k)``,
  dictionaries with their keys indented below (``  - 'stride': ...``);
- deeplearning.ai: ``xt -- your input data ..., numpy array of shape (n_x, m)``, and
  ``parameters -- python dictionary containing:`` with its arrays indented below;
- numpy-doc: ``X : ndarray of shape (n_ex, n_in)`` under ``Parameters`` /
  ``----------`` (numpy-ml's ``:py:class:`ndarray <numpy.ndarray>` `` included);

and jaxtyping-style annotations (``Float[np.ndarray, "N D"]``, ``Int[...]``,
``Bool[...]``), plain ``float``/``int``/``dict`` annotations too.

:func:`read_arguments` returns one :class:`ArgDoc` per documented argument:
what kind of value it is (float array, integer array with its range, boolean
mask, float or int hyperparameter, dict of hyperparameters with its keys, dict of
arrays), its shape as dim names, and where that was read.  Nothing here runs
user code; :mod:`gradcheck.declare.infer` turns these into declarations.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArgDoc", "read_arguments", "read_docstring", "read_annotations", "returns_text", "VARIADIC"]

#: A shape entry standing for ``d_1, ..., d_k`` (any number of trailing dims).
VARIADIC = "*d"

ARRAY = "array"  # float array: differentiable
INT_ARRAY = "int-array"  # labels or indices
BOOL_ARRAY = "bool-array"  # a mask
FLOAT = "float"
INT = "int"
HYPER_DICT = "dict"  # a dict of hyperparameters: stride, pad, mode, ...
ARRAY_DICT = "array-dict"  # a dict of arrays: parameters = {"Wax": ..., ...}
UNKNOWN = "unknown"


@dataclass
class ArgDoc:
    """What is known about one argument, and where it was read.

    ``shape`` lists dim expressions (``["N", "D"]``, ``["D", "4*H"]``), with
    :data:`VARIADIC` for ``d_1, ..., d_k``; ``bound`` is the dim an integer array
    stays below (``0 <= y[i] < C`` -> ``"C"``); ``keys`` are a dict's entries.
    """

    name: str
    kind: str
    shape: list[str] | None = None
    bound: str | None = None
    indices: bool = False  # integer array of indices (embedding): draw repeats
    keys: dict[str, ArgDoc] = field(default_factory=dict)
    text: str = ""
    source: str = ""


# ------------------------------------------------------------------- entries

_CS231N_ITEM = re.compile(r"^(\s*)-\s+['\"]?([A-Za-z_]\w*)['\"]?\s*:\s?(.*)$")
_DLAI_ITEM = re.compile(r"^(\s*)([A-Za-z_]\w*)\s+--\s+(.*)$")
_NUMPYDOC_ITEM = re.compile(r"^(\s*)([A-Za-z_]\w*)\s+:\s*(.*)$")
#: The heading of what a function returns: ``Returns a tuple of:``, ``Outputs:``, ``Returns`` (not "Output of ...").
_RETURNS = re.compile(r"^\s*(returns?|outputs?|yields?)(\b[^:]*:)?\s*$", re.IGNORECASE)
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_NUMPYDOC_SECTIONS = {"parameters", "arguments", "args", "inputs", "other parameters", "attributes"}


@dataclass
class _Entry:
    indent: int
    name: str
    text: str
    children: list[_Entry] = field(default_factory=list)


def _entries(doc: str, *, returns: bool = False) -> list[_Entry]:
    """The argument entries of a docstring, nested by indentation.

    With ``returns=False`` the entries above the ``Returns`` section; with
    ``returns=True`` those below it.
    """
    lines = inspect.cleandoc(doc).splitlines()
    numpydoc = any(_UNDERLINE.match(line) for line in lines)
    section = None  # numpy-doc: the heading of the current section
    in_returns = False
    roots: list[_Entry] = []
    stack: list[_Entry] = []
    for i, line in enumerate(lines):
        if numpydoc and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and line.strip():
            section = line.strip().lower()
            in_returns = section.startswith(("return", "yield"))
            stack = []
            continue
        if _UNDERLINE.match(line):
            continue
        if not numpydoc and _RETURNS.match(line) and not _CS231N_ITEM.match(line) and not _DLAI_ITEM.match(line):
            in_returns, stack = True, []
            continue
        if in_returns != returns:
            continue
        match = _CS231N_ITEM.match(line) or _DLAI_ITEM.match(line)
        if match is None and numpydoc and (section in _NUMPYDOC_SECTIONS or returns):
            match = _NUMPYDOC_ITEM.match(line)
        if match is not None:
            entry = _Entry(len(match.group(1)), match.group(2), match.group(3).strip())
            while stack and stack[-1].indent >= entry.indent:
                stack.pop()
            (stack[-1].children if stack else roots).append(entry)
            stack.append(entry)
        elif stack and line.strip():
            indent = len(line) - len(line.lstrip())
            owner = next((e for e in reversed(stack) if e.indent < indent), None)
            if owner is not None:
                owner.text += " " + line.strip()
    return roots


def returns_text(fn: Any) -> str:
    """The text of the ``Returns`` part of ``fn``'s docstring ('' if none)."""
    doc = inspect.getdoc(fn) or ""
    lines = inspect.cleandoc(doc).splitlines()
    for i, line in enumerate(lines):
        heading = _RETURNS.match(line) and not _DLAI_ITEM.match(line)
        if heading or (line.strip().lower().startswith("returns") and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1])):
            return "\n".join(lines[i:])
    return ""


# --------------------------------------------------------------- descriptions

_SHAPE = re.compile(r"shape\s*(?:of\s*)?[:=]?\s*`*\s*\(([^()]*)\)", re.IGNORECASE)
_BARE_SHAPE = re.compile(r"(?:array|matrix|vector|ndarray)[^()]{0,40}?\(([A-Za-z_][^()]*)\)")
_BOUND = re.compile(r"(?:0|zero)\s*<=?\s*[A-Za-z_][\w]*(?:\[[^\]]*\])?\s*<\s*(\w+)")
_RANGE_WORDS = re.compile(r"range\s*\[?\s*0\s*,\s*([A-Za-z_]\w*)\s*\)")
_ARRAY_WORDS = re.compile(r"\b(numpy\s+(\w+\s+)?array|ndarray|[1-9]-?d\s+(array|tensor|matrix))\b")
_QUOTED = re.compile(r"""["']([A-Za-z_]\w*)["']""")
_HYPER_NAMES = {"reg", "p", "lam", "lambd", "lambda_", "eps", "momentum", "lr", "alpha", "beta1", "beta2", "l2", "decay"}


def _shape_of(text: str) -> list[str] | None:
    match = _SHAPE.search(text) or _BARE_SHAPE.search(text)
    if match is None:
        # "Inputs, of any shape": a batch of any trailing dims
        return ["N", VARIADIC] if re.search(r"\bof any shape\b|\bany shape\b", text, re.IGNORECASE) else None
    return _shape_items(match.group(1))


def _shape_items(inside: str) -> list[str] | None:
    """``"N, d_1, ..., d_k"`` -> ``["N", "..."]``; ``"D, 4H"`` -> ``["D", "4*H"]``; ``"M,"`` -> ``["M"]``."""
    items = [p.strip().strip("`'\"") for p in inside.split(",")]
    out: list[str] = []
    for item in items:
        if not item:
            continue
        in_run = bool(out) and out[-1] == VARIADIC
        if item in ("...", "\u2026") or re.fullmatch(r"[A-Za-z]_1", item):
            if not in_run:
                out.append(VARIADIC)  # d_1, ..., d_k: any number of trailing dims
            continue
        if in_run and re.fullmatch(r"[A-Za-z]_(k|n|K|\d+)", item):
            continue  # the last of d_1, ..., d_k
        item = re.sub(r"^(\d+)\s*([A-Za-z_])", r"\1*\2", item)  # 4H -> 4*H
        item = item.replace("'", "_prime")
        if not re.fullmatch(r"[\w\s*+\-()/]+", item):
            return None
        out.append(item)
    return out


def _kind_of(name: str, text: str) -> str:
    low = text.lower()
    if re.search(r"\bbool(ean)?\b|\bmask\b", low) and "shape" in low:
        return BOOL_ARRAY
    integer = re.search(r"\bint(eger)?s?\b|\bindices\b", low) or _BOUND.search(text) or (
        re.search(r"\blabels\b", low) and not re.search(r"predict|probabilit|score", low))
    if integer and ("shape" in low or _BOUND.search(text)):
        return INT_ARRAY
    if re.search(r"dict(ionary)?\b", low):
        return HYPER_DICT
    if _shape_of(text) is not None or _ARRAY_WORDS.search(low):  # "numpy 2D array": an array, shape unknown
        return ARRAY
    if re.search(r"\bfloat\b|\bscalar\b|\bstrength\b|\bprobability\b", low) or name in _HYPER_NAMES:
        return FLOAT
    if re.search(r"\bint\b|\binteger\b|\bnumber of\b", low):
        return INT
    return UNKNOWN


def _argdoc(entry: _Entry, source: str) -> ArgDoc:
    kind = _kind_of(entry.name, entry.text)
    doc = ArgDoc(entry.name, kind, _shape_of(entry.text), text=entry.text, source=source)
    if kind == INT_ARRAY:
        bound = _BOUND.search(entry.text) or _RANGE_WORDS.search(entry.text)
        doc.bound = bound.group(1) if bound else None
        doc.indices = bool(re.search(r"\bind(ex|ices)\b|\bidx\b|\bwords?\b", entry.text.lower()))
    if kind == HYPER_DICT:
        doc.keys = {child.name: _argdoc(child, source) for child in entry.children}
        if not doc.keys:  # deeplearning.ai: python dictionary containing "f" and "stride"
            doc.keys = {key: ArgDoc(key, UNKNOWN, text=entry.text, source=source) for key in _QUOTED.findall(entry.text)}
        if doc.keys and all(k.kind == ARRAY for k in doc.keys.values()):
            doc.kind = ARRAY_DICT
    return doc


def read_docstring(fn: Any) -> dict[str, ArgDoc]:
    """The arguments ``fn``'s docstring documents, in any of the three styles."""
    doc = inspect.getdoc(fn)
    if not doc:
        return {}
    source = f"the docstring of {getattr(fn, '__qualname__', fn)}"
    return {entry.name: _argdoc(entry, source) for entry in _entries(doc)}


# ---------------------------------------------------------------- annotations

_JAXTYPING = re.compile(r"^\s*(?:\w+\.)*(Float\w*|Int\w*|UInt\w*|Bool|Shaped|Num\w*|Real)\s*\[\s*[\w.]+\s*,\s*(['\"])(.*)\2\s*\]\s*$")


def _annotation_doc(name: str, annotation: Any, source: str) -> ArgDoc | None:
    dim_str = getattr(annotation, "dim_str", None)  # a jaxtyping class
    if isinstance(dim_str, str):
        prefix = getattr(annotation, "__name__", "Float")
        return _jaxtyping_doc(name, prefix, dim_str, source)
    if isinstance(annotation, str):
        match = _JAXTYPING.match(annotation)
        if match:
            return _jaxtyping_doc(name, match.group(1), match.group(3), source)
        annotation = {"float": float, "int": int, "dict": dict}.get(annotation.strip(), annotation)
    if annotation is float:
        return ArgDoc(name, FLOAT, source=source)
    if annotation is int:
        return ArgDoc(name, INT, source=source)
    if annotation is dict or getattr(annotation, "__origin__", None) is dict:
        return ArgDoc(name, HYPER_DICT, source=source)
    return None


def _jaxtyping_doc(name: str, prefix: str, dim_str: str, source: str) -> ArgDoc:
    dims = [VARIADIC if t.startswith(("*", "...")) else t for t in (t.lstrip("#") for t in dim_str.split())]
    # jaxtyping's b=3, _ or ?: not dims this reader can name, so no shape at all
    readable = all(d == VARIADIC or re.fullmatch(r"[A-Za-z_0-9][\w*+\-()/]*", d) for d in dims)
    kind = BOOL_ARRAY if prefix.startswith("Bool") else INT_ARRAY if prefix.startswith(("Int", "UInt")) else ARRAY
    return ArgDoc(name, kind, dims if readable else None, text=f"{prefix}[..., {dim_str!r}]", source=source)


def read_annotations(fn: Any) -> dict[str, ArgDoc]:
    """The arguments ``fn``'s annotations describe (jaxtyping style, float, int, dict)."""
    try:
        annotations = inspect.get_annotations(fn)
    except Exception:
        annotations = getattr(fn, "__annotations__", {}) or {}
    source = f"the annotations of {getattr(fn, '__qualname__', fn)}"
    out = {}
    for name, annotation in annotations.items():
        if name == "return":
            continue
        doc = _annotation_doc(name, annotation, source)
        if doc is not None:
            out[name] = doc
    return out


def read_arguments(fn: Any) -> dict[str, ArgDoc]:
    """Docstring and annotations together; an annotation with a shape wins over prose."""
    out = read_docstring(fn)
    for name, doc in read_annotations(fn).items():
        if name not in out or doc.shape is not None or out[name].kind == UNKNOWN:
            out[name] = doc
    return out
