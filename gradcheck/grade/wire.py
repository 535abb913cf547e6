"""Messages between the grader and a submission's worker, safe to read from either side.

A message is one JSON document with NumPy arrays carried as ``.npy`` bytes
(base64), read back with ``allow_pickle=False``: nothing the worker sends can run
code in the grader.  Values: None, bool, int, float, str, arrays, lists/tuples
and dicts with string keys.  Frames are a 4-byte length and the document.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
from typing import Any

import numpy as np

__all__ = ["encode", "decode", "send", "receive", "WireError", "MAX_MESSAGE"]

#: Largest message accepted (a flood of output is not a message).
MAX_MESSAGE = 256 * 1024 * 1024


class WireError(Exception):
    """A message that could not be sent or read (the other side is gone or lying)."""


def encode(value: Any) -> Any:
    """A JSON-safe structure for ``value``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"__float__": repr(float(value))}  # keeps nan/inf and every bit
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise WireError("an array of Python objects cannot be sent")
        buffer = io.BytesIO()
        # Not np.ascontiguousarray: it turns a 0-d array (a number parameter) into shape (1,).
        np.save(buffer, value if value.flags.c_contiguous else value.copy(order="C"), allow_pickle=False)
        return {"__array__": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("only dicts with string keys can be sent")
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    raise WireError(f"a {type(value).__name__} cannot be sent")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        raw = base64.b64decode(value["__array__"])
        return np.load(io.BytesIO(raw), allow_pickle=False)
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): decode(v) for k, v in value["__dict__"].items()}
    raise WireError("unknown value in message")


def send(fd: int, message: Any) -> None:
    data = json.dumps(encode(message)).encode("utf-8")
    frame = struct.pack(">I", len(data)) + data
    view = memoryview(frame)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(fd: int) -> Any:
    (length,) = struct.unpack(">I", _read_exactly(fd, 4))
    if length > MAX_MESSAGE:
        raise WireError(f"message of {length} bytes refused")
    try:
        return decode(json.loads(_read_exactly(fd, length).decode("utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise WireError(f"unreadable message: {exc}") from None


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
