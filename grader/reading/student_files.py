"""The one way a student file is opened: inside its group folder, never through a link, a regular file, capped.

Every stage reads submissions through here, so a link to /etc/passwd or to another group, a FIFO that would block,
or a file that would fill memory is refused with a problem that names it, the same way everywhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.records import Problem


def safe_file(group_dir: Path, relative: str, problems: list[Problem]) -> Path | None:
    """The file inside the group folder, or None (and a problem) when it is a link, leaves the folder or is not a
    regular file. None without a problem when it does not exist."""
    path = group_dir / relative
    root = group_dir.resolve()
    try:
        for part in [path, *path.parents]:
            if part == group_dir:
                break
            if part.is_symlink():
                problems.append(
                    Problem(
                        file=relative,
                        code="symlink",
                        message="is a symbolic link; refused, not read",
                        hint="commit the file itself, not a link to it",
                    )
                )
                return None
        resolved = path.resolve()
        mode = os.stat(resolved, follow_symlinks=False).st_mode if resolved.exists() else None
    except OSError as exc:
        problems.append(Problem(file=relative, code="unreadable", message=f"cannot be read: {exc.strerror}"))
        return None
    if not resolved.is_relative_to(root):
        problems.append(Problem(file=relative, code="outside", message="resolves outside the group folder; refused"))
        return None
    if mode is None:
        return None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        problems.append(
            Problem(file=relative, code="not-a-file", message=f"is {kind}; not read", hint="commit a plain file")
        )
        return None
    return resolved


LFS_MAGIC = b"version https://git-lfs.github.com/spec/"


def is_lfs_pointer(path: Path) -> bool:
    """A Git LFS pointer committed where the file should be (`git lfs pull` was never run)."""
    with path.open("rb") as fh:
        return fh.read(len(LFS_MAGIC)) == LFS_MAGIC


def read_capped(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file that is not a link, at most `cap` of them; None for anything else. Opened
    non-blocking and without following links, then checked on the open descriptor: a FIFO named .git/HEAD can
    neither block the batch nor can /dev/zero behind a link fill memory."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(cap)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(
    group_dir: Path, relative: str, cap: int, problems: list[Problem], *, truncate: bool = False
) -> str | None:
    """The file's text (UTF-8, BOM dropped, undecodable bytes replaced), or None. Over `cap` bytes it is refused,
    or with `truncate` (a report: its start is worth reading) cut to `cap`; either way the problem says so."""
    path = safe_file(group_dir, relative, problems)
    if path is None:
        return None
    with path.open("rb") as fh:
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        problems.append(
            Problem(
                file=relative,
                severity="warning",
                code="file-too-large",
                message=f"is over {cap >> 10} KB; " + ("only the first part is used" if truncate else "not read"),
                hint="commit the file without generated bulk",
            )
        )
        if not truncate:
            return None
        raw = raw[:cap]
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")
