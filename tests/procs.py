"""Waiting on a subprocess by what it says, not by the clock (shared machines are slow)."""

import os
import select
import subprocess
import time


def wait_for_line(proc: subprocess.Popen, prefix: bytes, timeout: float = 120.0) -> bytes:
    """Read ``proc``'s stderr (opened in binary mode) until a line starts with ``prefix``.

    Returns everything read; raises AssertionError if the line does not come in time.
    """
    fd, seen, end = proc.stderr.fileno(), b"", time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(end - time.monotonic(), 0))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break
        seen += chunk
        if any(line.startswith(prefix) for line in seen.splitlines()):
            return seen
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s; read: {seen[-2000:]!r}")
