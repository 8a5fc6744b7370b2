"""adjust: penalties and bonuses outside the rubric (late, plagiarism, manual, bonus) -> a group's adjusted total.

The file is `adjustments.csv` in the output folder (or `--adjustments FILE`), one adjustment a line:

    group,kind,points,reason,beyond_limits
    group 08,late,-2,submitted 3 days late,
    Team Alpha,plagiarism,-5,section 3 copied from group 11 (see the review),
    group 12,bonus,1,best error analysis of the class,

`kind` is late, plagiarism, manual or bonus; `points` is signed (late and plagiarism take points: <= 0; bonus gives:
>= 0; manual either); `reason` is required (it is shown to the group). Several lines for one group add up. The
adjusted total stays within 0 and the rubric's maximum, and says so when held there, unless a line's
`beyond_limits` is `yes` (the instructor allows that line to go below 0 or above the maximum). Every bad line is
named (file:line) before anything is graded.
"""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

from grader.errors import ConfigError
from grader.records import Adjustment, GradeRecord

FILE = "adjustments.csv"
KINDS = ("late", "plagiarism", "manual", "bonus")
SIGN = {"late": -1, "plagiarism": -1, "bonus": 1}  # the sign each kind must have (manual: either)
YES, NO = ("yes", "true", "1", "y"), ("", "no", "false", "0", "n")
Adjustments = dict[str, list[Adjustment]]


def load(path: Path, groups: list[str]) -> Adjustments:
    """group -> its adjustments, in file order; a ConfigError naming every bad line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            lines = [(reader.line_num, row) for row in reader]
            header = [h.strip().lower() for h in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"adjustments {path} cannot be read: {exc}") from exc
    absent = [c for c in ("group", "kind", "points", "reason") if c not in header]
    if absent:
        raise ConfigError(
            f"{path}:1: the header lacks {', '.join(absent)} (columns: group,kind,points,reason,beyond_limits)"
        )
    found: Adjustments = {}
    problems = []
    for line, raw in lines:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        if not any(row.values()):
            continue
        made = _one(row, f"{path.name}:{line}", groups)
        if isinstance(made, str):
            problems.append(f"{path}:{line}: {made}")
        else:
            found.setdefault(row["group"], []).append(made)
    if problems:
        raise ConfigError("adjustments cannot be used:\n" + "\n".join(problems))
    return found


def _one(row: dict[str, str], where: str, groups: list[str]) -> Adjustment | str:
    """One line as an Adjustment, or what is wrong with it."""
    group, kind = row.get("group", ""), row.get("kind", "").lower()
    if group not in groups:
        near = difflib.get_close_matches(group, groups, n=1)
        return f"no group '{group}'" + (f" (did you mean '{near[0]}'?)" if near else "")
    if kind not in KINDS:
        return f"kind '{row.get('kind', '')}' is not one of {', '.join(KINDS)}"
    try:
        points = float(row.get("points", ""))
    except ValueError:
        return f"points {row.get('points', '')!r} is not a number (a penalty is negative: -2)"
    if points != points or points in (float("inf"), float("-inf")):
        return f"points {row.get('points', '')!r} is not a finite number"
    sign = SIGN.get(kind)
    if sign is not None and points * sign < 0:
        return f"a {kind} adjustment must be {'<= 0 (it takes points)' if sign < 0 else '>= 0 (it gives points)'}"
    if not row.get("reason"):
        return "reason is empty: the group reads it in its report"
    beyond = row.get("beyond_limits", "").lower()
    if beyond not in YES + NO:
        return f"beyond_limits {beyond!r} is not yes or no"
    return Adjustment(kind=kind, points=points, reason=row["reason"], where=where, beyond_limits=beyond in YES)  # type: ignore[arg-type]


def apply(grade: GradeRecord, adjustments: list[Adjustment]) -> GradeRecord:
    """The grade with its adjustments added to the items' sum, held within 0..max unless a line allows otherwise."""
    if not adjustments:
        return grade
    items_total = round(sum(i.points for i in grade.items), 2)
    total = round(items_total + sum(a.points for a in adjustments), 2)
    limited = ""
    if not any(a.beyond_limits for a in adjustments):
        held = min(max(total, 0.0), grade.max_total)
        if held != total:
            limited = f"the adjusted total {total:g} was held at {held:g} (0..{grade.max_total:g})"
            total = held
    return grade.model_copy(
        update={"adjustments": list(adjustments), "items_total": items_total, "total": total, "limited": limited}
    )
