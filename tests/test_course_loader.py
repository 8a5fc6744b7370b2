"""The course's own loader agrees with grader: for every data file in the repository (the example groups and the
messy-data fixtures), what `datasets.load_dataset("json", data_files=...)` loads, grader loads (same number of
records, same fields); what it rejects, grader rejects at the same record, with the line. Where grader reads a
document differently on purpose (samples under a wrapper key, parallel lists, an array of strings), it says so in
one message, and the test checks that message against what the loader did."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from grader.reading import discover
from grader.reading.json_lines import Reader, read_objects
from tests.conftest import EXAMPLES

datasets = pytest.importorskip("datasets")  # the `test` extra installs it

FIXTURES = Path(__file__).parent / "fixtures" / "data"
SHAPES = {"wrapped", "column-oriented", "strings-array"}  # documents grader reads on purpose unlike the loader
REFUSED_BUT_READ = {"raw-newline"}  # grader reads it (unambiguous), and says the course's loader refuses it


def data_files() -> list[Path]:
    files = sorted(FIXTURES.iterdir())
    for group in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        parts = discover.find_parts(group)
        files += [group / f for f in [*parts.data, *parts.tests]]
    return files


def course_load(path: Path, cache: Path) -> tuple[str, Any]:
    """('loaded', (rows, columns)) or ('rejected', (kind, n)): the record index or character offset the loader
    names."""
    try:
        loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = str(exc.__cause__)
        row = re.search(r"in row (\d+)", cause)
        position = re.search(r"at position (\d+)", cause)
        if row or position:
            return "rejected", ("row", int(row.group(1))) if row else ("position", int(position.group(1)))
        return "rejected", ("file", 0)  # pyarrow names no place ("The document is empty.")
    return "loaded", (loaded.num_rows, set(loaded.column_names))


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


@pytest.mark.parametrize("path", data_files(), ids=lambda p: str(p.relative_to(p.parents[2])))
def test_grader_reads_what_the_course_loader_reads(path: Path, tmp_path: Path) -> None:
    outcome, found = course_load(path, tmp_path / "cache")
    reader = Reader(path.name)
    records = list(read_objects(path, reader))
    shape = [p for p in reader.problems if p.code in SHAPES]
    if outcome == "loaded":
        rows, columns = found
        if shape:  # said in one message, at line 1, with what the loader makes of the file
            assert len(shape) == 1 and shape[0].line == 1
            if shape[0].code == "strings-array":
                assert columns == {"text"} and f"reads them as {rows} rows of one 'text' field" in shape[0].message
            else:
                document = json.loads(path.read_text(encoding="utf-8"))
                assert rows == 1 and columns == set(document)
            return
        assert len(records) == rows
        assert set().union(*(set(value) for _, value in records if isinstance(value, dict))) == columns
        assert not [p for p in reader.problems if p.severity == "error"]
        return
    refused = [p for p in reader.problems if p.severity == "error" or p.code in REFUSED_BUT_READ]
    assert refused and all(p.line is not None for p in refused), reader.problems
    where, index = found
    if where == "row":  # the loader's record index: the broken record is the one after `index` good ones
        first = refused[0]
        assert sum(1 for line, _ in records if line < first.line) == index, (first, index)
    elif where == "position":  # a character offset into the file: grader's first error is on that line
        text = path.read_text(encoding="utf-8-sig")
        assert refused[0].line == text.count("\n", 0, index) + 1, (refused[0], index)
