"""storage: how records and artifacts reach the disk: atomic writes with the user's umask, the output folder's lock,
per-file locks, the sweep of half-written files, and the content digests that key every cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from grader.errors import GraderError

R = TypeVar("R", bound=BaseModel)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + os.replace: a reader sees the old file or the new one, never half.
    The file gets the mode any tool would give it under the user's umask (mkstemp alone would leave it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """A new folder built beside `target` and swapped in when the block ends: a killed run leaves the old folder
    or no folder, never a half-written one (a stage that needs it then re-runs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    tmp.chmod(0o777 & ~UMASK)  # mkdtemp makes it 0700
    try:
        yield tmp
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)  # one rename away: a kill here leaves no folder, never a mixed one
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep(folder: Path) -> None:
    """Remove what a killed run left half-done in `folder`: the temp files and folders of the two functions above."""
    for leftover in [*folder.glob(".*.tmp"), *folder.glob(".*.old")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """One grader run per output folder: two at once would sweep each other's temp files and race on the records.

    An advisory lock (flock) that the kernel drops when the process dies, so a killed run never blocks the next.
    """
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; running two graders into one folder there is left to the user
        yield
        return
    with open(out / ".lock", "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise GraderError(
                f"another grader run (pid {holder}) is writing to {out}: wait for it to end, or pass another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """A blocking advisory lock on `path` (created): shards of one run that update one shared file take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save(record: BaseModel, path: Path) -> None:
    write_atomic(path, record.model_dump_json(indent=2).encode())


def load(cls: type[R], path: Path) -> R | None:
    """The stored record, or None when it is missing, unreadable or of another schema (then the stage re-runs)."""
    try:
        return cls.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def digest(*parts: Any) -> str:
    """A stable content hash of JSON-able parts (dicts sorted), used as cache key."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str, ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]
