"""roster: a class list (one row per student or per group) -> the students of each group, matched to the folders.

Schools and GitHub Classroom hand out rosters in two shapes: one row per group (`group`), or one row per student
(`identifier`, `github_username`, `email`, `name`, `group`; Classroom's export spells the group `group_name` and the
student `identifier`). Several rows naming one group are its students. A roster group is matched to a folder by its
exact name, else by its name with case, spaces, `_` and `-` ignored ("Team alpha" is the folder "Team Alpha"), and
the match is said; a roster group with no folder is one `missing` group (listed once, however many students it
has), with the folder it most resembles as "did you mean".
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from grader.errors import ConfigError

MAX_ROSTER_BYTES = 5 << 20  # a class list of 100,000 students is under 5 MB
GROUP_COLUMNS = ("group", "group_name", "team", "team_name")
# the column each student field is read from, first found wins (Classroom's export: identifier, github_username)
STUDENT_COLUMNS = {
    "identifier": ("identifier", "roster_identifier", "student_id", "id", "sis_user_id", "id_number"),
    "github_username": ("github_username", "github", "username"),
    "email": ("email", "email_address", "e-mail"),
    "name": ("name", "student_name", "full_name", "student"),
}


@dataclass(frozen=True)
class Match:
    """How the roster met the folders: the rows (each with its folder's group name), what was said, what is missing."""

    rows: list[dict[str, str]]
    missing: dict[str, str]  # roster group -> why it is missing ("... (did you mean 'Group 31'?)")
    notes: list[str]  # matches that were not exact, said once per group


def normal(name: str) -> str:
    """A group name with case, spaces, `_` and `-` ignored: how a person reads "Team_alpha" and "team Alpha"."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


def read(path: Path) -> list[dict[str, str]]:
    """The roster's rows, each with `group`, `identifier`, `github_username`, `email`, `name` (empty when absent),
    `roster_identifier` (Classroom's name for the identifier) and `line` (its line in the file); other columns kept."""
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise ConfigError(f"roster {path} is over {MAX_ROSTER_BYTES >> 20} MB: is it the class list?")
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            raw = [(reader.line_num, row) for row in reader]
    except OSError as exc:
        raise ConfigError(f"roster {path} cannot be read: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"roster {path} is not a UTF-8 CSV file ({exc}); save it as 'CSV UTF-8'") from exc
    group_key = next((k for k in GROUP_COLUMNS if k in header), None)
    if group_key is None:
        raise ConfigError(
            f"roster {path}: every row needs a 'group' (or 'group_name', 'team') value; the header is "
            f"{', '.join(header) or 'empty'} (one row per student or per group)"
        )
    rows, problems = [], []
    for line, entry in raw:
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in entry.items() if isinstance(v, str)}
        if not any(cells.values()):
            continue  # a blank line a spreadsheet left
        row = {k: v for k, v in cells.items() if k}
        row["group"] = cells.get(group_key, "")
        for field, names in STUDENT_COLUMNS.items():
            row[field] = next((cells[n] for n in names if cells.get(n)), "")
        row["roster_identifier"] = row["identifier"]
        row["line"] = str(line)
        if not row["group"]:
            problems.append(f"{path}:{line}: '{group_key}' is empty (every student needs a group)")
        rows.append(row)
    if problems or not rows:
        raise ConfigError("\n".join(problems) or f"roster {path} has no rows")
    return rows


def match(rows: list[dict[str, str]], folders: list[str]) -> Match:
    """Each roster row's `group` set to the folder it names (exact, else by `normal`); the roster groups that name
    no folder, once each, with the closest unclaimed folder as a hint. The rows are new dicts; `roster_group` keeps
    the roster's own spelling."""
    by_normal: dict[str, list[str]] = {}
    for folder in folders:
        by_normal.setdefault(normal(folder), []).append(folder)
    resolved: dict[str, str | None] = {}
    notes = []
    for group in dict.fromkeys(r["group"] for r in rows):
        if group in folders:
            resolved[group] = group
            continue
        alike = by_normal.get(normal(group), [])
        resolved[group] = alike[0] if len(alike) == 1 else None
        if len(alike) == 1:
            notes.append(
                f"roster group '{group}' is the folder '{alike[0]}' (the names differ only in case or spacing)"
            )
    claimed = {f for f in resolved.values() if f}
    unclaimed = [f for f in folders if f not in claimed]
    missing: dict[str, str] = {}
    for group, found in resolved.items():
        if found is None:
            students = [r for r in rows if r["group"] == group]
            who = ", ".join(student_label(r) for r in students if student_label(r))
            close = difflib.get_close_matches(normal(group), [normal(f) for f in unclaimed], 1, 0.6)
            hint = next((f for f in unclaimed if close and normal(f) == close[0]), None)
            missing[group] = (
                "on the roster"
                + (f" ({len(students)} student(s): {who})" if who else "")
                + ", but no submission folder"
                + (f" (did you mean the folder '{hint}'?)" if hint else "")
            )
    matched = [{**r, "roster_group": r["group"], "group": resolved[r["group"]] or r["group"]} for r in rows]
    return Match(rows=matched, missing=missing, notes=notes)


def student_label(row: dict[str, str]) -> str:
    """A student as a person finds them on the roster: the name, else the username, else the identifier."""
    return row.get("name") or row.get("github_username") or row.get("identifier") or row.get("email") or ""


def unclaimed_note(folder: str, missing: list[str]) -> str:
    """What a graded folder with no student on the roster says: its grade reaches nobody until the roster names it."""
    close = difflib.get_close_matches(normal(folder), [normal(m) for m in missing], 1, 0.6)
    hint = next((m for m in missing if close and normal(m) == close[0]), None)
    return "no student on the roster is in this group" + (f" (did you mean the roster's '{hint}'?)" if hint else "")
