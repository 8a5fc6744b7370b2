"""Per-group wall-clock limits: one group that trains or generates for too long must not hold up the class."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class GroupTimeout(BaseException):
    """A group ran out of its time. A BaseException, so that no library's `except Exception` swallows it."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise GroupTimeout in the block once `seconds` have passed (SIGALRM: main thread, POSIX).

    Python checks for signals between bytecodes, so a long training loop or generation stops within one torch
    operation. Elsewhere (another thread, no SIGALRM) the block runs without a limit.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return
    if seconds <= 0:
        raise GroupTimeout
    signal_number = signal.SIGALRM

    def expire(signum: int, frame: Any) -> None:
        raise GroupTimeout

    previous = signal.signal(signal_number, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal_number, previous)
