"""A bad line costs the data item and the line, not the group: training goes on with the usable samples
(grader.reading.validate.usable_despite), and the group is told which lines were skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.reading import validate
from tests.conftest import EXAMPLES


def test_one_trailing_comma_skips_one_line_not_the_group(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    data = next((group / "data").glob("*.jsonl"))
    lines = data.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rstrip().removesuffix("}") + ",}"  # a trailing comma inside the object on line 5
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = validate.run(group, "g")
    assert record.n_errors >= 1 and record.status == "ok", record.message
    assert record.n_records == len(lines) - 1
    said = validate.skipped_said(record)
    assert said.startswith(f"trained on {len(lines) - 1} of {len(lines)} samples; data/{data.name}:5")


def test_nothing_usable_is_still_invalid(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    for data in (group / "data").glob("*.jsonl"):
        data.write_text("{not json\n", encoding="utf-8")
    record = validate.run(group, "g")
    assert record.status == "failed"
