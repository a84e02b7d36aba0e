"""Host calls that can block for as long as the outside world decides (reading the host's stdin for a
guest's ReadFile/ReadConsole).  A Ctrl-C that arrives during one must end it, not wait for input: the
host's SIGINT handler (winhatch.runner) raises from inside such a call, and only there — anywhere else it
sets the dispatcher's flag and the machine stops at its next check."""
from __future__ import annotations

from contextlib import contextmanager

_depth = 0


@contextmanager
def blocking():
    """Mark the enclosed host call as one a Ctrl-C may interrupt with an exception."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def in_blocking_call() -> bool:
    return _depth > 0
