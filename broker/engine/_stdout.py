"""Capture what native code writes to file descriptor 1 (rego-cpp prints its errors there).

Trade-off: fd 1 is process-wide. While a capture is active, *any* thread's writes to stdout
(print, logging to stdout) land in our buffer instead of the terminal; we re-emit nothing, we only
attach the text to the error we raise. Captures are serialised by one process-wide lock. Callers
use this only around rego-cpp calls, which are slow anyway (ms), so the extra dup2/tempfile cost
(tens of µs) does not matter; the service's structured logs should go to stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()
_LIBC = ctypes.CDLL(None)


class Captured:
    """Holder filled with the captured text when the ``with`` block ends."""

    text = ""


@contextlib.contextmanager
def capture_fd1(enabled: bool = True) -> Iterator[Captured]:
    """Redirect fd 1 to a temporary file for the block; ``Captured.text`` has what was written."""
    box = Captured()
    if not enabled:
        yield box
        return
    with _LOCK, tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(sink.fileno(), 1)
            try:
                yield box
            finally:
                # C stdio buffers stdout when it is not a terminal; flush before switching back,
                # or the text would escape to the real stdout later.
                _LIBC.fflush(None)
                os.dup2(saved, 1)
        finally:
            os.close(saved)
        sink.seek(0)
        box.text = sink.read().decode("utf-8", "replace")
