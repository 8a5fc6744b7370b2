"""The review's files and pages without a browser: the Part A cells file (format, validation, where it counts),
overrides written by the review, the decisive words marked, the report page, and `grade --rescore` keeping a cell."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.errors import ConfigError
from grader.measure import grade
from grader.records import ValidationRecord
from grader.review import cells, corrections, pages
from tests.conftest import EXAMPLES

REPORT = "# Report\n\n## Part A\n\n- learning_rate: how fast the model learns.\n- lora_r: rank.\n"


def _validation() -> ValidationRecord:
    from grader.config import part_a_entries
    from grader.reading import deliverable, writing

    written, _ = writing.understand(deliverable.markdown(REPORT, "REPORT.md"), part_a_entries(), "system")
    return ValidationRecord(group="team-7", writing=written)


def _part_a_points(validation: ValidationRecord | None) -> float:
    item = next(i for i in grade.load_rubric() if i.id == "part_a")
    return grade.part_a(item, grade.Inputs(validation, None, None, None)).fraction * 52


def test_every_bad_line_of_the_cells_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / cells.FILE
    path.write_text(
        "group,parameter,question,answered,comment\n"
        "team-7,learning_rate,why,yes,ok\n"
        "team7,learning_rate,why,yes,\n"
        "team-7,learning_rat,why,yes,\n"
        "team-7,lora_r,how,yes,\n"
        "team-7,lora_r,why,maybe,\n"
        "team-7,learning_rate,why,no,again\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        cells.load(path, ["team-7"])
    said = str(raised.value)
    assert f"{path}:3: no group 'team7' (did you mean 'team-7'?)" in said
    assert f"{path}:4: no Part A parameter 'learning_rat'" in said
    assert f"{path}:5: no question 'how' (questions: what, effect, range, why)" in said
    assert f"{path}:6: answered 'maybe' is neither yes nor no" in said
    assert f"{path}:7: the same cell as line 2" in said
    assert f"{path}:2" not in said


def test_a_corrected_cell_counts_in_the_grade_and_says_who_decided_it() -> None:
    validation = _validation()
    automatic = validation.writing.answer("lora_r") if validation.writing else None
    assert automatic is not None and not automatic.answered["why"]
    fix = cells.Cell(group="team-7", parameter="lora_r", question="why", answered=True, comment="slide 4 says why")
    corrected = cells.applied(validation, {("lora_r", "why"): fix})
    assert corrected is not None and corrected.writing is not None
    answer = corrected.writing.answer("lora_r")
    assert answer is not None and answer.answered["why"]
    assert answer.evidence["why"] == "corrected by the instructor (automatic ✗): slide 4 says why"
    assert _part_a_points(corrected) == pytest.approx(_part_a_points(validation) + 1)
    assert validation.writing and not validation.writing.answer("lora_r").answered["why"]  # type: ignore[union-attr]
    # a parameter the group never discussed can be given a cell too
    ghost = cells.Cell(group="team-7", parameter="warmup_ratio", question="what", answered=True)
    more = cells.applied(validation, {("warmup_ratio", "what"): ghost})
    assert _part_a_points(more) == pytest.approx(_part_a_points(validation) + 1)


def test_the_review_writes_files_the_next_run_reads_and_refuses_a_bad_one(tmp_path: Path) -> None:
    rubric = grade.load_rubric()
    corrections.set_points(tmp_path, rubric, ["team-7"], "team-7", "part_a", 3.5, "read slide 4, 'rate'")
    loaded = grade.load_overrides(tmp_path / "overrides.csv", rubric, ["team-7"])
    assert loaded[("team-7", "part_a")].points == 3.5
    assert loaded[("team-7", "part_a")].comment == "read slide 4, 'rate'"
    before = (tmp_path / "overrides.csv").read_bytes()
    with pytest.raises(ConfigError, match=r"outside 0\.\.4"):
        corrections.set_points(tmp_path, rubric, ["team-7"], "team-7", "part_a", 9, "")
    assert (tmp_path / "overrides.csv").read_bytes() == before
    corrections.set_points(tmp_path, rubric, ["team-7"], "team-7", "part_a", None, "")
    assert grade.load_overrides(tmp_path / "overrides.csv", rubric, ["team-7"]) == {}
    fix = cells.Cell(group="team-7", parameter="lora_r", question="why", answered=True, comment="a, b")
    corrections.set_cell(tmp_path, ["team-7"], fix, "team-7", "lora_r", "why")
    assert cells.load(tmp_path / cells.FILE, ["team-7"]) == {"team-7": {("lora_r", "why"): fix}}
    corrections.set_cell(tmp_path, ["team-7"], None, "team-7", "lora_r", "why")
    assert cells.load(tmp_path / cells.FILE, ["team-7"]) == {}


def test_the_decisive_words_are_marked_where_they_stand() -> None:
    shown = pages.marked("LR controls how FAST it learns; 1e-4 to 3e-4 is usual.", {"what": "how fast", "range": "x"})
    assert shown == [("LR controls ", ""), ("how FAST", "what"), (" it learns; 1e-4 to 3e-4 is usual.", "")]


def test_the_report_page_runs_no_script_and_carries_its_style() -> None:
    page = pages.report_page('<html><head><link rel="stylesheet" href="report.css"></head><body>x</body></html>')
    assert "default-src 'none'" in page and "script-src" not in page
    assert "<style>" in page and "@page" in page and 'href="report.css"' not in page


@pytest.mark.slow
def test_a_rescore_keeps_a_corrected_cell_and_the_dashboard_shows_every_group(tmp_path: Path) -> None:
    from grader.config import RunSettings
    from grader.running import pipeline

    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in ("team-7", "<b onclick=x>bold"):
        group = subs / name
        shutil.copytree(EXAMPLES / "weak-group", group)
        tests = [json.loads(line) for line in (group / "tests.jsonl").read_text().splitlines() if line]
        (group / "answers.jsonl").write_text("".join(json.dumps({**t, "finetuned": t["answer"]}) + "\n" for t in tests))
    first = {r.group: r for r in pipeline.run(subs, RunSettings(out=out, preview=True))}
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;b onclick=x&gt;bold" in index and "<b onclick" not in index and "team-7" in index
    fix = cells.Cell(group="team-7", parameter="lora_alpha", question="what", answered=True)
    corrections.set_cell(out, list(first), fix, "team-7", "lora_alpha", "what")
    again = {r.group: r for r in pipeline.run(subs, RunSettings(out=out, rescore=True))}
    part_a = next(i.points for i in grade.load_rubric() if i.id == "part_a")
    assert again["team-7"].items["part_a"] == pytest.approx(first["team-7"].items["part_a"] + part_a / 52, abs=0.011)
    assert again["<b onclick=x>bold"].items["part_a"] == first["<b onclick=x>bold"].items["part_a"]
