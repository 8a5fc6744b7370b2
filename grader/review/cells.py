"""Part A cell corrections: `reports/part_a_cells.csv`, one row per corrected cell of the 13 x 4 grid.

Columns `group,parameter,question,answered,comment`: `parameter` is a Part A name (learning_rate, ...),
`question` one of what/effect/range/why, `answered` yes or no. Every bad line is named (file:line) before anything
runs, as for overrides.csv. A correction replaces the automatic reading of that one cell wherever Part A counts:
the grade (grade.part_a) and the report's grid, which says the instructor decided it.
"""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from grader.config import part_a_entries
from grader.errors import ConfigError
from grader.reading.writing import QUESTION_TEXT
from grader.records import ParamAnswer, ValidationRecord
from grader.storage import write_atomic

FILE = "part_a_cells.csv"
COLUMNS = ["group", "parameter", "question", "answered", "comment"]
YES, NO = ("yes", "true", "1", "✓"), ("no", "false", "0", "✗")


class Cell(BaseModel):
    """The instructor's decision on one cell: does this group's passage answer this question for this parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    parameter: str
    question: str
    answered: bool
    comment: str = ""


Cells = dict[str, dict[tuple[str, str], Cell]]  # group -> (parameter, question) -> its correction


def parameters() -> list[str]:
    return [entry["name"] for entry in part_a_entries()]


def load(path: Path, groups: list[str]) -> Cells:
    """The corrections of a part_a_cells.csv; raises ConfigError naming every bad line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"Part A corrections {path} cannot be read: {exc}") from exc
    names, problems = parameters(), []
    found: dict[tuple[str, str, str], int] = {}  # cell -> the line that set it
    cells: Cells = {}
    for line, row in enumerate(rows, start=2):
        cell, problem = _cell(row, groups, names)
        if problem:
            problems.append(f"{path}:{line}: {problem}")
        elif cell is not None:
            key = (cell.group, cell.parameter, cell.question)
            if key in found:
                problems.append(f"{path}:{line}: the same cell as line {found[key]}")
            found[key] = line
            cells.setdefault(cell.group, {})[(cell.parameter, cell.question)] = cell
    if problems:
        raise ConfigError(f"Part A corrections cannot be used (columns: {','.join(COLUMNS)}):\n" + "\n".join(problems))
    return cells


def _cell(row: dict[str, str], groups: list[str], names: list[str]) -> tuple[Cell | None, str]:
    group, parameter = (row.get("group") or "").strip(), (row.get("parameter") or "").strip()
    question, answered = (row.get("question") or "").strip(), (row.get("answered") or "").strip().lower()
    if group not in groups:
        near = difflib.get_close_matches(group, groups, n=1)
        return None, f"no group '{group}'" + (f" (did you mean '{near[0]}'?)" if near else "")
    if parameter not in names:
        return None, f"no Part A parameter '{parameter}' (parameters: {', '.join(names)})"
    if question not in QUESTION_TEXT:
        return None, f"no question '{question}' (questions: {', '.join(QUESTION_TEXT)})"
    if answered not in YES + NO:
        return None, f"answered {row.get('answered')!r} is neither yes nor no"
    return Cell(
        group=group, parameter=parameter, question=question, answered=answered in YES, comment=row.get("comment") or ""
    ), ""


def dump(cells: Cells) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for group in sorted(cells):
        for (parameter, question), c in sorted(cells[group].items()):
            writer.writerow([group, parameter, question, "yes" if c.answered else "no", c.comment])
    return buffer.getvalue().encode()


def save(path: Path, cells: Cells) -> None:
    write_atomic(path, dump(cells))


def applied(validation: ValidationRecord | None, corrections: dict[tuple[str, str], Cell]) -> ValidationRecord | None:
    """The validation record with the instructor's cells in place of the automatic reading: what grade and render
    read. The stored validate.json keeps the automatic reading, so the review shows both."""
    writing = validation.writing if validation else None
    if validation is None or writing is None or writing.file is None or not corrections:
        return validation
    answers = {a.name: a for a in writing.part_a}
    for name in parameters():
        mine = {q: c for (p, q), c in corrections.items() if p == name}
        if mine:
            answers[name] = _corrected(answers.get(name) or ParamAnswer(name=name), mine)
    part_a = [answers[n] for n in parameters() if n in answers]
    return validation.model_copy(update={"writing": writing.model_copy(update={"part_a": part_a})})


def _corrected(answer: ParamAnswer, mine: dict[str, Cell]) -> ParamAnswer:
    answered, evidence = dict(answer.answered), dict(answer.evidence)
    for question, c in mine.items():
        before = "✓" if answer.answered.get(question) else "✗"
        answered[question] = c.answered
        evidence[question] = f"corrected by the instructor (automatic {before})" + (
            f": {c.comment}" if c.comment else ""
        )
    for question in QUESTION_TEXT:
        answered.setdefault(question, False)
    where = answer.where or "corrected by the instructor"
    return answer.model_copy(update={"answered": answered, "evidence": evidence, "where": where})
