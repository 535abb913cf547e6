"""Text a submission produced, made safe for every output format.

A submission controls much of what ends up in the results: its folder and file
names, its exception messages, what it prints.  Any of these may hold lone
surrogates (a folder named with the byte ``0xff`` reads as ``'\\udcff'``), NUL,
ESC or other control characters.  Each output format gets a version of the text
it can always hold, with the odd characters written as visible escapes
(``\\xff``, ``\\x1b``) so that nothing is silently lost and nothing crashes a
writer, breaks a parser or drives a terminal.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

__all__ = ["path_id", "clean", "printable", "xml_text", "markdown_cell", "clean_data"]

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Not allowed in XML 1.0 at all (https://www.w3.org/TR/xml/#charsets), or invisible
#: controls a reader of the file should see as escapes.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: What a terminal or a Markdown page must not receive raw: every control character
#: but tab and newline (ESC starts terminal escape sequences, CR overwrites a line).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def path_id(name: str) -> str:
    """A file or folder name as text any format can hold: undecodable bytes become ``\\xNN``.

    >>> path_id(os.fsdecode(b"caf\\xe9"))
    'caf\\\\xe9'
    """
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def clean(text: str) -> str:
    """``text`` without lone surrogates (written ``\\xNN`` or ``\\uNNNN``): encodable as UTF-8."""
    return _SURROGATE.sub(_escape, text)


def printable(text: str) -> str:
    """``text`` for a terminal: control characters other than tab and newline written as escapes."""
    return _CONTROL.sub(_escape, text)


def xml_text(text: str) -> str:
    """``text`` holding only characters XML 1.0 allows (others written as escapes)."""
    return _NOT_XML.sub(_escape, text)


def markdown_cell(text: str) -> str:
    """``text`` inside one Markdown table cell: one line, no raw HTML, no stray column."""
    text = printable(text).replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def clean_data(value: Any, text: Callable[[str], str] = clean) -> Any:
    """A copy of a JSON-like structure with every string (keys too) passed through ``text``.

    Floats that are not finite become the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (strict JSON has no NaN), as in a check record's error columns.
    """
    if isinstance(value, str):
        return text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {text(str(k)): clean_data(v, text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_data(v, text) for v in value]
    return text(repr(value))
