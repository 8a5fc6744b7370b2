"""Per-group limits: what a group may submit, and how long it may run. One group that is too big or too slow must
not hold up the class; it gets the status `over-limit` or `timeout`, and a reason that names the limit and the
flag that raises it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# The validation problems that mean "over a limit the instructor can raise", not "broken data".
LIMIT_CODES = ("over-size-limit", "over-sample-limit", "over-test-limit")


@dataclass(frozen=True)
class DataLimits:
    """What one group may submit. The defaults are far above the assignment (20+ samples, 5+ test questions) and
    keep one group's training and generation within minutes on one GPU."""

    max_samples: int = 20_000  # training samples, over all data files (--max-samples)
    max_tests: int = 500  # test questions: each is answered twice, by the base and the fine-tuned model (--max-tests)
    max_file_mb: int = 64  # per data or tests file (--max-file-mb)


DEFAULT_LIMITS = DataLimits()


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
