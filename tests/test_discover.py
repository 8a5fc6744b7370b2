from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from grader.errors import ConfigError
from grader.reading import discover


def fake_repo(folder: Path, sha: str, when: int) -> None:
    git = folder / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(sha + "\n")
    body = f"tree {'0' * 40}\nauthor A <a@x> {when} +0900\ncommitter A <a@x> {when} +0900\n\nmsg\n".encode()
    obj = git / "objects" / sha[:2] / sha[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(zlib.compress(b"commit %d\x00" % len(body) + body))


def test_groups_commits_and_roster(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    (subs / "b-group").mkdir(parents=True)
    (subs / ".hidden").mkdir()
    (subs / "notes.txt").write_text("x")
    fake_repo(subs / "a-group", "ab" * 20, 1_700_000_000)
    os.symlink(subs / "b-group", subs / "c-link")
    roster = tmp_path / "roster.csv"
    roster.write_text("group,github_username\na-group,kim\nz-group,lee\n")
    groups = {g.group: g for g in discover.run(subs, discover.read_roster(roster))}
    assert list(groups) == ["a-group", "b-group", "c-link", "z-group"]
    assert groups["a-group"].commit == "ab" * 20 and groups["a-group"].commit_time == "2023-11-14T22:13:20+00:00"
    assert groups["b-group"].commit is None
    assert groups["c-link"].status == "failed" and "symbolic link" in groups["c-link"].message
    assert groups["z-group"].roster_only


def test_missing_folder_and_bad_roster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        discover.run(tmp_path / "nope")
    bad = tmp_path / "r.csv"
    bad.write_text("name\nx\n")
    with pytest.raises(ConfigError, match="'group'"):
        discover.read_roster(bad)
