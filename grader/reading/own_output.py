"""own_output: telling grader's own output folders apart from a group's work, by what they hold, not by their name.

`grader preview .` run inside a group's repository writes its output folder there (`reports/` unless `--out` says
otherwise). Discovery and `grader validate .` must not read that folder as the group's data, a second group or its
report, whatever it is called: a folder is grader's when it holds the records grader writes (batch.json of a run,
or a group's results.json beside its discover.json, written by this program). The folder also gets a .gitignore
of its own (`*`), so a `git add .` leaves it out without touching the group's .gitignore.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.layout import Layout
from grader.reading.student_files import read_capped
from grader.storage import write_atomic

MAX_RECORD = 1 << 20
GITIGNORE = "# written by grader: its output is not the group's work (delete this folder at will)\n*\n"


def _json(path: Path) -> dict[str, object] | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        raw = read_capped(path, MAX_RECORD)
        found = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def is_output(folder: Path) -> bool:
    """True for a run's output folder (its batch.json) or one group's output folder (results.json + discover.json)."""
    batch = _json(Layout(folder).batch_json)
    if batch is not None and "graded_now" in batch and "model_loads" in batch:
        return True
    results = _json(Layout.results_in(folder))
    return results is not None and "grader_version" in results and (folder / "discover.json").is_file()


def holds_output(folder: Path) -> bool:
    """True for a run's output folder, and for a folder holding group output folders only (a run killed before its
    batch.json)."""
    if is_output(folder):
        return True
    try:
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return False
    skipped = ("cache", Layout(folder).shards_dir.name, "bench")
    return bool(subs) and all(is_output(p) for p in subs if p.name not in skipped)


def mark(out: Path, group_dir: Path) -> bool:
    """Give an output folder inside the group's folder its own .gitignore; True when it was written."""
    try:
        inside = out.resolve().is_relative_to(group_dir.resolve())
    except OSError:
        return False
    if not inside or out.resolve() == group_dir.resolve():
        return False
    ignore = out / ".gitignore"
    if not ignore.exists():
        write_atomic(ignore, GITIGNORE.encode())
    return True
