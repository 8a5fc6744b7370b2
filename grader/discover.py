"""discover: a submissions folder -> one GroupRecord per direct sub-folder (plus roster groups that sent nothing).

The commit SHA and time are read from `.git` as plain files: no git process runs on a student repository
(a repository's own config could otherwise run commands, e.g. core.fsmonitor).
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import ConfigError
from grader.records import GroupRecord

MAX_GIT_OBJECT = 1 << 20


def _git_head(folder: Path) -> tuple[str | None, str | None]:
    git = folder / ".git"
    try:
        if git.is_symlink() or not git.is_dir():
            return None, None
        head = (git / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        sha = head
        if head.startswith("ref: "):
            ref = head[5:].strip()
            if ".." in ref or not re.fullmatch(r"[\w./-]+", ref):
                return None, None
            ref_file = git / ref
            if ref_file.is_file() and not ref_file.is_symlink():
                sha = ref_file.read_text(encoding="utf-8", errors="replace").strip()
            else:
                packed = (
                    (git / "packed-refs").read_text(encoding="utf-8", errors="replace")
                    if (git / "packed-refs").is_file()
                    else ""
                )
                match = re.search(rf"^([0-9a-f]{{40}}) {re.escape(ref)}$", packed, re.MULTILINE)
                sha = match.group(1) if match else ""
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            return None, None
        return sha, _commit_time(git, sha)
    except OSError:
        return None, None


def _commit_time(git: Path, sha: str) -> str | None:
    """The committer time of a loose commit object; None when it sits in a pack (we do not parse packs)."""
    obj = git / "objects" / sha[:2] / sha[2:]
    if not obj.is_file() or obj.is_symlink() or obj.stat().st_size > MAX_GIT_OBJECT:
        return None
    try:
        data = zlib.decompressobj().decompress(obj.read_bytes(), MAX_GIT_OBJECT)
    except zlib.error:
        return None
    match = re.search(rb"^committer .* (\d+) [+-]\d{4}$", data, re.MULTILINE)
    if not match:
        return None
    return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc).isoformat()


def read_roster(path: Path) -> list[dict[str, str]]:
    """A roster CSV with a `group` (or `group_name`) column; other columns (github_username, ...) are kept."""
    import csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"roster {path} cannot be read: {exc.strerror}") from exc
    for row in rows:
        row["group"] = (row.get("group") or row.get("group_name") or "").strip()
    if not rows or not all(row["group"] for row in rows):
        raise ConfigError(f"roster {path}: every row needs a 'group' (or 'group_name') value")
    return rows


def one(folder: Path) -> GroupRecord:
    """A single group folder (`grader preview .`): the group is named after the folder."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass a group's folder (its data, tests.jsonl, config, REPORT.md)")
    name = folder.resolve().name or "group"
    commit, when = _git_head(folder)
    return GroupRecord(group=name, path=str(folder), commit=commit, commit_time=when)


def run(submissions: Path, roster: list[dict[str, str]] | None = None) -> list[GroupRecord]:
    if not submissions.is_dir():
        raise ConfigError(
            f"submissions folder {submissions} does not exist; pass the folder that holds one sub-folder per group"
        )
    groups = []
    for folder in sorted(submissions.iterdir(), key=lambda p: p.name):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if folder.is_symlink():
            groups.append(
                GroupRecord(
                    group=folder.name,
                    path=str(folder),
                    status="failed",
                    message="the group folder is a symbolic link; refused",
                )
            )
            continue
        commit, when = _git_head(folder)
        groups.append(GroupRecord(group=folder.name, path=str(folder), commit=commit, commit_time=when))
    seen = {g.group for g in groups}
    for row in roster or []:
        if row["group"] not in seen:
            groups.append(
                GroupRecord(
                    group=row["group"],
                    path="",
                    roster_only=True,
                    status="skipped",
                    message="on the roster, but no submission folder",
                )
            )
    return groups
