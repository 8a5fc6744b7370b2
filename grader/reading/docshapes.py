"""docshapes: a data file that is one JSON document rather than one sample per line, said in one message.

The shapes real groups hand in: samples under a wrapper key ({"data": {"train": [...]}}), column-oriented objects
(parallel lists of questions and answers, at the top or one table per category), and arrays of bare question
strings. Each message says what the document holds and a `jq` command that turns it into course samples; a test
applies every command and validates what it writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WRAPPERS = {"data", "train", "training", "samples", "examples", "records", "items", "rows", "dataset", "instances"}
SAMPLE_KEYS = {"instruction", "answer", "context", "system", "question", "output", "messages"}
MAX_WRAP_DEPTH = 4
# column names, as groups spell them, of each course field (singular, lower case; a plural 's' is dropped)
COLUMN_NAMES = {
    "instruction": ("instruction", "question", "prompt", "query", "q"),
    "context": ("context", "passage", "input", "source"),
    "answer": ("answer", "completion", "response", "output", "target", "a", "label"),
    "system": ("system", "system_prompt"),
}
QUESTION = re.compile(r"\?\s*$|^(what|why|how|which|when|where|who|explain|describe|name|list)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Table:
    """Parallel lists: `columns` each hold `rows` values."""

    columns: tuple[str, ...]
    rows: int


def records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value[:50])


def unwrap(doc: Any) -> tuple[list[str], Any]:
    """(the path of wrapper keys, what they hold): {"data": {"train": [...]}} -> (["data", "train"], [...])."""
    path: list[str] = []
    while isinstance(doc, dict) and len(path) < MAX_WRAP_DEPTH and not {str(k) for k in doc} & SAMPLE_KEYS:
        key = next(
            (k for k in doc if str(k).lower() in WRAPPERS and (records(doc[k]) or isinstance(doc[k], dict))), None
        )
        if key is None:
            break
        path.append(str(key))
        doc = doc[key]
    return path, doc


def table(value: Any) -> Table | None:
    """The parallel lists of a dict: two or more keys holding lists of plain values, all of one length."""
    if not isinstance(value, dict) or any(isinstance(value.get(k), str) for k in ("instruction", "answer")):
        return None  # one sample with list-valued extras (tags, keywords) is not a table
    columns = [
        str(k)
        for k, v in value.items()
        if isinstance(v, list) and v and all(isinstance(x, str | int | float) or x is None for x in v[:50])
    ]
    lengths = {len(value[k]) for k in columns}
    if len(columns) < 2 or len(lengths) != 1:
        return None
    return Table(tuple(columns), lengths.pop())


def categories(doc: Any) -> dict[str, Table] | None:
    """{category: table} when every value of the document is a table with the same columns."""
    if not isinstance(doc, dict) or not doc:
        return None
    tables = {str(k): table(v) for k, v in doc.items()}
    found = {k: t for k, t in tables.items() if t is not None}
    if len(found) != len(tables) or len({t.columns for t in found.values()}) != 1:
        return None
    return found


def field_of(column: str) -> str | None:
    name = column.lower().strip().replace(" ", "_").replace("-", "_")
    for candidate in (name, name.removesuffix("s")):
        for field, names in COLUMN_NAMES.items():
            if candidate in names:
                return field
    return None


def mapping(columns: tuple[str, ...]) -> dict[str, str]:
    """course field -> column, for the columns whose names say which field they are."""
    found: dict[str, str] = {}
    for column in columns:
        field = field_of(column)
        if field is not None and field not in found:
            found[field] = column
    return found


def jq_path(path: list[str]) -> str:
    return "." + "".join(f'["{p}"]' for p in path)


def _jq_object(columns: tuple[str, ...]) -> tuple[str, str]:
    """(the jq object that builds one sample from row `.` of `$d`, a caveat when the names do not say the fields)."""
    fields = mapping(columns)
    caveat = ""
    if "instruction" not in fields or "answer" not in fields:
        fields = {"instruction": columns[0], "answer": columns[1]}
        caveat = f" (check that '{columns[0]}' holds the questions and '{columns[1]}' the answers)"
    body = ", ".join(f'{field}: $d["{column}"][.]' for field, column in fields.items())
    return "{" + body + "}", caveat


def table_message(path: list[str], found: Table, file: str) -> tuple[str, str]:
    listed = ", ".join(repr(c) for c in found.columns[:6]) + (
        f" and {len(found.columns) - 6} more" if len(found.columns) > 6 else ""
    )
    where = f" under {' / '.join(repr(p) for p in path)}" if path else ""
    build, caveat = _jq_object(found.columns)
    return (
        f"column-oriented object{where}: {listed} each hold a list of {found.rows} values ({found.rows} pairs), "
        "not one object per sample",
        f"convert it: jq -c '{jq_path(path)} as $d | range($d[\"{found.columns[0]}\"] | length) | {build}' "
        f"{file} > all.jsonl{caveat}",
    )


def categories_message(path: list[str], found: dict[str, Table], file: str) -> tuple[str, str]:
    names = list(found)
    columns = next(iter(found.values())).columns
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    pairs = sum(t.rows for t in found.values())
    where = f" under {' / '.join(repr(p) for p in path)}" if path else ""
    build, caveat = _jq_object(columns)
    return (
        f"column-oriented object{where}: {len(names)} categories ({shown}), each with parallel lists "
        f"{', '.join(repr(c) for c in columns)}: {pairs} pairs in all, not one object per sample",
        f"convert it: jq -c '{jq_path(path)}[] | . as $d | range($d[\"{columns[0]}\"] | length) | {build}' "
        f"{file} > all.jsonl{caveat}",
    )


def strings_message(values: list[Any], file: str) -> tuple[str, str] | None:
    """One message for an array of bare strings (questions without answers), None for any other array."""
    if not values or not all(isinstance(v, str) for v in values):
        return None
    n = len(values)
    questions = sum(bool(QUESTION.search(v.strip())) for v in values)
    plural = "" if n == 1 else "s"
    what = (
        f"{n} question{plural} without answers: these look like test questions, not training samples"
        if questions * 2 >= n
        else f"{n} string{plural} without fields, not samples"
    )
    return (
        f"{what} (a JSON array of strings; the course's loader reads them as {n} row{plural} of one 'text' field)",
        f'as test questions: jq -c \'.[] | {{instruction: ., context: "", answer: ""}}\' {file} > tests.jsonl, '
        "then write each expected answer; a training sample needs its answer too",
    )
