"""Per-group limits: what a group may submit, and how long it may run. One group that is too big or too slow must
not hold up the class; it gets the status `over-limit` or `timeout`, and a reason that names the limit and the
flag that raises it.

Also the run's other defaults (`DEFAULTS`), in plain Python: the command line shows them in `--help` without
loading pydantic models or YAML, and RunSettings (grader.config) takes its defaults from the same place."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# The validation problems that mean "over a limit the instructor can raise", not "broken data".
LIMIT_CODES = ("over-size-limit", "over-sample-limit", "over-test-limit", "over-reader-limit")


@dataclass(frozen=True)
class DataLimits:
    """What one group may submit. The defaults are far above the assignment (20+ samples, 5+ test questions) and
    keep one group's training and generation within minutes on one GPU."""

    max_samples: int = 20_000  # training samples, over all data files (--max-samples)
    max_tests: int = 500  # test questions: each is answered twice, by the base and the fine-tuned model (--max-tests)
    max_file_mb: int = 64  # per data or tests file (--max-file-mb)
    reader_memory_mb: int = 1024  # one reader of one student file, in its own process (--reader-memory-mb)
    reader_seconds: float = 60.0  # its CPU and wall-clock time (--reader-seconds)


DEFAULT_LIMITS = DataLimits()
DEFAULT_TIMEOUT = 3600.0  # seconds per group, every stage included (--timeout); also what a shard's time is sized by


Device = Literal["auto", "cpu", "cuda"]
Quantize = Literal["auto", "4bit", "none"]
Engine = Literal["class", "per-group"]


@dataclass(frozen=True)
class RunDefaults:
    """What a run uses when no flag says otherwise (RunSettings' field docs say what each one is)."""

    base_model: str = "demo"  # built locally: no download, no GPU
    out: Path = Path("reports")
    device: Device = "auto"
    quantize: Quantize = "auto"
    engine: Engine = "class"
    assignment: str = "Week 5 LoRA fine-tuning"
    timeout: float = DEFAULT_TIMEOUT


DEFAULTS = RunDefaults()


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


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The CPUs this process may actually use: its affinity mask, capped by a cgroup CPU quota (a container or a
    Slurm job with 4 CPUs on a 64-core host must not start 64 threads that the quota then throttles)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_quota(cgroup_root, proc_cgroup)
    return max(1, min(n, int(quota))) if quota is not None else max(1, n)


def cgroup_quota(cgroup_root: Path, proc_cgroup: Path) -> float | None:
    """CPUs allowed by the tightest CPU quota on this process's cgroup path (v2 cpu.max or v1 cfs_quota_us)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        _, controllers, where = [*line.split(":", 2), "", ""][:3]
        rel = Path(where.lstrip("/"))
        if controllers == "":  # v2: the limit may sit on any ancestor
            for folder in [cgroup_root / rel, *(cgroup_root / p for p in rel.parents)]:
                quotas += _quota_v2(folder / "cpu.max")
        elif "cpu" in controllers.split(","):
            for base in {cgroup_root / "cpu", cgroup_root / "cpu,cpuacct"}:
                for folder in (base / rel, base):
                    quotas += _quota_v1(folder)
    return min(quotas) if quotas else None


def _quota_v2(path: Path) -> list[float]:
    try:
        limit, period = path.read_text().split()[:2]
        return [] if limit == "max" else [int(limit) / int(period)]
    except (OSError, ValueError):
        return []


def _quota_v1(folder: Path) -> list[float]:
    try:
        limit = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return []
    return [limit / period] if limit > 0 and period > 0 else []


def set_threads(requested: int | None) -> tuple[int, str]:
    """torch's intra-op threads: --threads, else OMP_NUM_THREADS when the user set it, else the usable CPUs.
    Returns the number and where it came from, for the record."""
    import torch

    if requested is not None:
        n, source = requested, "--threads"
    elif os.environ.get("OMP_NUM_THREADS", "").strip().isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        n, source = int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    else:
        n, source = usable_cpus(), "CPUs usable by this process (affinity and cgroup quota)"
    torch.set_num_threads(n)
    return n, source
