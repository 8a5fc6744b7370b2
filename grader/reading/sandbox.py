"""sandbox: a reader of student files run where a memory limit, a CPU-time limit and a wall-clock limit stop it alone.

A 26 KB PDF of ruled lines can make a table finder use 20 GB, a 2.7 MB deck of 800,000 shapes a few GB, before any
time limit fires. So a reader runs in a forked child process: the child lowers its own RLIMIT_AS (address space: its
size at the fork plus the budget) and RLIMIT_CPU before it reads anything, and the parent kills it at the wall-clock
limit. Whatever the file does costs that reader: the parent gets "could not be read within 1024 MB / 60 s" and
grades everything else. The child's answer comes back as
JSON text, never as a pickle of student data. The budget is counted beyond the address space the child inherits,
which includes heap the parent freed but still holds: the bound is the budget plus that slack, never unbounded.

RLIMIT_AS is enforced by Linux (the machines grader runs on: GPU boxes, Slurm nodes, GitHub's runners). macOS does
not enforce it: there the CPU-time and wall-clock limits still hold (SECURITY.md says so).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any


class OverLimit(Exception):
    """The reader was stopped by a limit; the message says which, in the words a report can show."""


class ReaderFailed(OverLimit):
    """The reader failed on the file (a parser error, not a limit): said as such, never as a limit."""


_LIMIT = 0  # in a reader child: its address-space limit in bytes


def _vm_bytes(field: str = "VmSize") -> int:
    """This process's address space now, or at its peak (0 where /proc does not say: then only the budget is the
    limit)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def exhausted() -> bool:
    """In a reader child: whether it came within 64 MB of its memory limit. A C parser that cannot allocate raises
    its own error (lxml: "XMLSyntaxError: unknown error"), which must be said as the limit it is, not as a broken
    file."""
    return _LIMIT > 0 and _vm_bytes("VmPeak") >= _LIMIT - (64 << 20)


def _child(write_fd: int, fn: Callable[..., str], args: tuple[Any, ...], memory_mb: int, seconds: float) -> None:
    """In the forked child: lower the limits, read, write the answer, and leave without running the parent's exit
    handlers (os._exit): the child must not flush the parent's buffers or close its files."""
    code = 0
    try:
        import resource

        global _LIMIT
        _LIMIT = limit = _vm_bytes() + (memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(int(seconds), 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        try:
            answer = json.dumps(["ok", fn(*args)])
        except MemoryError:
            answer = json.dumps(["memory", ""])
        except BaseException as exc:  # the reader's own failure, said; the parent decides what it means
            answer = json.dumps(["memory" if exhausted() else "error", f"{type(exc).__name__}: {str(exc)[:200]}"])
        data = answer.encode("utf-8", "surrogatepass")
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def run(fn: Callable[..., str], *args: Any, memory_mb: int, seconds: float) -> str:
    """fn(*args) -> JSON text, in a forked child bounded in memory, CPU and wall-clock time. Raises OverLimit when a
    limit stopped it (or it died), ReaderFailed when the reader itself failed. The parent's memory is shared
    copy-on-write, so a fork costs milliseconds; the child touches no model and no thread pool of the parent (readers
    are pure Python and C parsers)."""
    read_fd, write_fd = os.pipe()
    # the per-group deadline (SIGALRM) waits until the child exists and the parent holds its cleanup: a pending alarm
    # fires inside the try below, where the pipe is closed and the child killed and reaped
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork() in a threaded process (a progress bar or a tokenizer pool may run): the
            # child uses none of those threads' locks, only the reader's own code
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(read_fd)
        os.close(write_fd)
        raise ReaderFailed(f"could not start a reader process ({exc})") from exc
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, fn, args, memory_mb, seconds)
    chunks: list[bytes] = []
    code: int | None = None
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                raise OverLimit(f"did not finish within {seconds:g} s")
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        pipe.close()
        code = _reap(pid)
    try:
        status, payload = json.loads(b"".join(chunks).decode("utf-8", "surrogatepass"))
    except (ValueError, TypeError):  # no answer, or half of one: killed at its CPU limit, or by the kernel for memory
        how = f" (signal {-code})" if code is not None and code < 0 else ""
        raise OverLimit(f"was stopped at {memory_mb} MB / {seconds:g} s of CPU{how}") from None
    if status == "memory":
        raise OverLimit(f"needed more than {memory_mb} MB")
    if status == "error":
        raise ReaderFailed(str(payload))
    return str(payload)


def _reap(pid: int) -> int | None:
    """The child ended and waited for, whatever happened (a finished child exits by itself), with the alarm held
    off so no zombie is left; its exit status as waitpid tells it (negative: the signal that ended it)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def attempt(fn: Callable[..., str], *args: Any, memory_mb: int, seconds: float) -> tuple[str | None, str]:
    """`run`, with its failure in words instead of an exception: (answer, "") or (None, why), where why reads after
    a file's name: "could not be read within 1024 MB / 60 s (it needed more than 1024 MB)" or "cannot be read
    (ValueError: ...)". Where fork is not available the reader runs in-process, bounded by the group's time only."""
    if not available():
        return fn(*args), ""
    try:
        return run(fn, *args, memory_mb=memory_mb, seconds=seconds), ""
    except ReaderFailed as exc:
        return None, f"cannot be read ({exc})"
    except OverLimit as exc:
        return None, f"could not be read within {memory_mb} MB / {seconds:g} s (it {exc})"


def available() -> bool:
    """Whether readers can run bounded here (POSIX fork); elsewhere they run in-process, with the per-group time
    limit only."""
    return hasattr(os, "fork") and os.name == "posix"
