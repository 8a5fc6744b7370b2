"""What the group wrote, from its own slides or report: Part A per parameter and question, the Q&A it showed, its
discussion and reflections, each with its slide or page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from grader import deliverable, writing
from grader.config import part_a_entries
from grader.discover import find_parts
from tests.conftest import EXAMPLES, viewer_env


def _written(group: Path) -> tuple[object, list]:
    return writing.read(group, find_parts(group).deliverables, part_a_entries(), [])


def test_part_a_from_the_example_deck() -> None:
    written, _ = _written(EXAMPLES / "course-group")
    assert written.file == "Week5_Group3_report.pptx" and written.images == "1 image on slide 6"
    assert written.others == ["README.md"]
    lr = written.answer("learning_rate")
    assert lr.where == "Week5_Group3_report.pptx, slide 2" and all(lr.answered.values())
    assert lr.excerpt.startswith("Part A · learning_rate What it controls: the size of each optimizer step")
    epochs = written.answer("num_train_epochs")  # the slide is in Korean: 에폭
    assert epochs.where.endswith("slide 3") and all(epochs.answered.values()) and epochs.evidence["what"] == "정한다"
    alpha = written.answer("lora_alpha")  # a row of the table, decided by its first cell
    assert alpha.where.endswith("slide 5") and alpha.excerpt.startswith("lora_alpha |")
    assert alpha.answered == {"what": True, "effect": True, "range": True, "why": False}
    assert written.answer("warmup_ratio").status == "missing"  # named only in another row: not discussed
    assert sum(sum(a.answered.values()) for a in written.part_a) == 39
    assert written.reflections.where == "Week5_Group3_report.pptx, slide 9"
    assert "어려웠던 점" in written.reflections.text
    assert written.discussion.where == "Week5_Group3_report.pptx, slide 8"


def test_part_a_from_the_example_pdf_in_korean_and_english() -> None:
    written, tests = _written(EXAMPLES / "course-group-lfs")
    assert written.file == "Week5_Group5_report.pdf" and written.format == "pdf"
    lr = written.answer("learning_rate")  # 학습률은 ... 조절한다 / 높이면 / 보통 / 우리 지질 데이터
    assert lr.where == "Week5_Group5_report.pdf, page 1" and all(lr.answered.values())
    assert lr.evidence == {"what": "조절", "effect": "높이", "range": "보통", "why": "우리"}
    assert all(written.answer("lora_r").answered.values())  # 랭크는 ..., a Korean name before a particle
    assert written.answer("include_mlp").answered == {"what": True, "effect": False, "range": False, "why": False}
    assert written.answer("lr_scheduler_type").status == "missing" and written.answer("bf16").status == "missing"
    assert written.reflections.where == "Week5_Group5_report.pdf, page 2" and "개선할 점" in written.reflections.text
    assert [t.instruction for t in tests][:2] == [
        "What causes the Al-OH absorption near 2200 nm?",
        "Which sensor records 940 nm water vapour?",
    ]
    assert all(t.source == "Week5_Group5_report.pdf, page 2" for t in tests) and len(tests) == 5
    assert tests[2].answer == "Near 920 nm, with a shoulder near 650 nm."
    assert tests[2].reported == "Goethite absorbs near 920 nm."


def test_q_and_a_table_from_the_deck_with_the_groups_own_answers() -> None:
    _, tests = _written(EXAMPLES / "course-group")
    assert len(tests) == 5 and tests[0].source == "Week5_Group3_report.pptx, slide 7"
    assert tests[0].instruction == "Which mineral shows a doublet absorption near 2165 and 2207 nm?"
    assert tests[0].answer == "Kaolinite shows the Al-OH doublet near 2165 and 2207 nm."
    assert tests[0].reported.startswith("Kaolinite, which has a doublet absorption")


def test_korean_headers_and_nothing_found(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    rows = [["질문", "문맥", "정답", "모델 답변"], ["카올리나이트의 흡수는?", "점토 광물", "2165 nm", "2200 nm 부근"]]
    table = slide.shapes.add_table(2, 4, Inches(0.5), Inches(0.5), Inches(9), Inches(2)).table
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            table.cell(i, j).text = text
    prs.save(str(tmp_path / "발표.pptx"))
    document = deliverable.read(tmp_path, "발표.pptx", [])
    written, tests = writing.understand(document, part_a_entries(), "s")
    assert len(tests) == 1 and tests[0].context == "점토 광물" and tests[0].reported == "2200 nm 부근"
    (tmp_path / "notes.md").write_text("# Notes\n\nWe trained the model.\n")
    written, tests = writing.understand(deliverable.read(tmp_path, "notes.md", []), part_a_entries(), "s")
    assert tests == [] and "looked for a table headed question / expected answer / model answer" in written.looked_for


@pytest.mark.slow
def test_the_same_deck_exported_as_pdf_reads_the_same(tmp_path: Path) -> None:
    """Groups often hand in their slides as a PDF: LibreOffice's export must give the same Part A and Q&A."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (Debian: libreoffice-impress-nogui)")
    deck = EXAMPLES / "course-group" / "Week5_Group3_report.pptx"
    subprocess.run(
        [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(deck)],
        check=True,
        capture_output=True,
        timeout=180,
        env=viewer_env(tmp_path),
    )
    document = deliverable.read(tmp_path, "Week5_Group3_report.pdf", [])
    written, tests = writing.understand(document, part_a_entries(), "s")
    from_deck, deck_tests = _written(EXAMPLES / "course-group")
    assert [t.instruction for t in tests] == [t.instruction for t in deck_tests]
    assert [t.reported for t in tests] == [t.reported for t in deck_tests]
    same = [a.name for a in written.part_a if a.answered == from_deck.answer(a.name).answered]
    # a name wrapped inside a narrow PDF table cell ("gradient_accumulati on_steps") can be lost; no more than two
    assert len(same) >= 11, [a.name for a in written.part_a if a.name not in same]
    assert written.images == "1 image on page 6" and written.reflections.where.endswith("page 9")


def test_a_tests_file_keeps_its_questions_and_gains_the_answers_the_deliverable_showed(tmp_path: Path) -> None:
    from grader import dataio, validate
    from grader.layout import Layout
    from tests.conftest import write_jsonl

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "course-group", group)
    _, shown = _written(EXAMPLES / "course-group")
    rows = [{"instruction": t.instruction, "context": "c", "answer": t.answer} for t in shown[:3]]
    rows.append({"instruction": "A question the slides do not show?", "context": "c", "answer": "x"})
    write_jsonl(group / "tests.jsonl", rows)
    layout = Layout(tmp_path / "out")
    record = validate.run(group, "g", layout)
    tests = dataio.load_samples(layout.tests("g"))
    assert record.tests_file == "tests.jsonl" and len(tests) == 4
    assert [t.reported for t in tests[:3]] == [t.reported for t in shown[:3]] and tests[3].reported == ""
