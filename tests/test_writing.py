"""What the group wrote, from its own slides or report: Part A per parameter and question, the Q&A it showed, its
discussion and reflections, each with its slide or page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from grader.config import part_a_entries
from grader.reading import deliverable, writing
from grader.reading.discover import find_parts
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
    assert lr.evidence["what"] == "the size of each optimizer step on the LoRA weights."  # the labelled line
    epochs = written.answer("num_train_epochs")  # the slide is in Korean: 에폭
    assert epochs.where.endswith("slide 3") and all(epochs.answered.values()) and epochs.evidence["what"] == "몇 번"
    alpha = written.answer("lora_alpha")  # a row of the table, decided by its first cell and the headers above it
    assert alpha.where.endswith("slide 5") and alpha.excerpt.startswith("lora_alpha |")
    assert alpha.evidence == {
        "what": "Scaling of the LoRA update (alpha / r)",  # the cell under "What it controls"
        "effect": "Higher alpha makes the update stronger, lower weaker",
        "range": "usually r to 2r (we used 16 with r 8)",
        "why": "Keeps the update strength comparable when we change the rank",  # under "Why for our data"
    }
    logging = written.answer("logging_steps")  # "How often the loss is logged | | |": the empty cells say nothing
    assert logging.answered == {"what": True, "effect": False, "range": False, "why": False}
    assert written.answer("warmup_ratio").status == "missing"  # named only in another row: not discussed
    assert sum(sum(a.answered.values()) for a in written.part_a) == 45
    assert written.reflections.where == "Week5_Group3_report.pptx, slide 9"
    assert "어려웠던 점" in written.reflections.text
    assert written.discussion.where == "Week5_Group3_report.pptx, slide 8"


def test_part_a_from_the_example_pdf_in_korean_and_english() -> None:
    written, tests = _written(EXAMPLES / "course-group-lfs")
    assert written.file == "Week5_Group5_report.pdf" and written.format == "pdf"
    lr = written.answer("learning_rate")  # 학습률은 ... 조절한다 / 높이면 / 보통 / 우리 지질 데이터
    assert lr.where == "Week5_Group5_report.pdf, page 1" and all(lr.answered.values())
    assert lr.evidence == {"what": "얼마나", "effect": "높이", "range": "1e-4~3e-4", "why": "우리"}
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
    from grader.layout import Layout
    from grader.reading import sample_files, validate
    from tests.conftest import write_jsonl

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "course-group", group)
    _, shown = _written(EXAMPLES / "course-group")
    rows = [{"instruction": t.instruction, "context": "c", "answer": t.answer} for t in shown[:3]]
    rows.append({"instruction": "A question the slides do not show?", "context": "c", "answer": "x"})
    write_jsonl(group / "tests.jsonl", rows)
    layout = Layout(tmp_path / "out")
    record = validate.run(group, "g", layout)
    tests = sample_files.load_samples(layout.tests("g"))
    assert record.tests_file == "tests.jsonl" and len(tests) == 4
    assert [t.reported for t in tests[:3]] == [t.reported for t in shown[:3]] and tests[3].reported == ""


def _slides(path: Path, slides: list[tuple[str, list[str], list[list[str]] | None]], mono: bool = False) -> None:
    """A deck: per slide a title, text paragraphs (set in Consolas when `mono`) and an optional table."""
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for title, paragraphs, rows in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = title
        if paragraphs:
            frame = slide.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(9), Inches(2)).text_frame
            for i, text in enumerate(paragraphs):
                para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
                run = para.add_run()
                run.text = text
                if mono and text.startswith(("def ", "    ", "prompt", "print")):
                    run.font.name = "Consolas"
        if rows:
            shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(0.5), Inches(4), Inches(9), Inches(2))
            for i, row in enumerate(rows):
                for j, text in enumerate(row):
                    shape.table.cell(i, j).text = text
    prs.save(str(path))


def test_a_qa_table_without_an_expected_column_is_the_groups_own_comparison(tmp_path: Path) -> None:
    rows = [
        ["No.", "Question (질문)", "Base model 답변", "Fine-tuned 답변"],
        ["1", "What causes the Al-OH absorption near 2200 nm?", "Water.", "Al-OH bending and stretching in clays."],
        ["2", "카올리나이트의 흡수 위치는?", "모르겠습니다", "2165 nm와 2207 nm 부근"],
        ["3", 'f"Instruction: {ins}\\nContext: {ctx}"', "", ""],  # the prompt template: not a question
    ]
    _slides(tmp_path / "deck.pptx", [("Results", [], None), ("Test Q&A", [], rows)])
    written, tests = writing.understand(deliverable.read(tmp_path, "deck.pptx", []), part_a_entries(), "s")
    assert [t.instruction for t in tests] == [rows[1][1], rows[2][1]] and written.tests_found == 2
    assert [(t.answer, t.reported_base, t.reported) for t in tests] == [("", r[2], r[3]) for r in rows[1:3]]
    assert all(t.source == "deck.pptx, slide 2" for t in tests)


def test_code_and_prompts_on_slides_are_never_questions_and_each_question_names_its_slide(tmp_path: Path) -> None:
    """The issue's deck: a format_row f-string and a smoke-test prompt on slide 2 (code), real Q&A on slides 3-4."""
    code = [
        "def format_row(r):",
        "    return f\"Instruction: {r['instruction']}\\nContext: {r['context']}\\nAnswer:\"",
        'prompt = "Question: What is hyperspectral imaging?"',
        "print(model.generate(prompt))",
    ]
    qa3 = [
        "Q1. Question: Which mineral shows a doublet near 2165 nm?",
        "Expected: Kaolinite.",
        "Model answer: Kaolinite",
    ]
    qa4 = ["Q2. Question: Which band records water vapour?", "Expected: 940 nm.", "Model answer: 940 nm band"]
    _slides(tmp_path / "deck.pptx", [("Code", code, None), ("Q&A 1", qa3, None), ("Q&A 2", qa4, None)], mono=True)
    document = deliverable.read(tmp_path, "deck.pptx", [])
    assert [b.kind for b in document.blocks if b.where == "slide 1"][1:] == ["code"] * 4
    _, tests = writing.understand(document, part_a_entries(), "s")
    assert [(t.instruction, t.source) for t in tests] == [
        ("Which mineral shows a doublet near 2165 nm?", "deck.pptx, slide 2"),
        ("Which band records water vapour?", "deck.pptx, slide 3"),
    ]
    # the same code in a plain font is recognised by its shape ({...} placeholders, f-strings, calls)
    _slides(tmp_path / "plain.pptx", [("Code", code, None), ("Q&A 1", qa3, None)])
    _, tests = writing.understand(deliverable.read(tmp_path, "plain.pptx", []), part_a_entries(), "s")
    assert [t.instruction for t in tests] == ["Which mineral shows a doublet near 2165 nm?"]
    assert writing.looks_like_code("What is the {mineral} band?") == "{mineral}"
    assert writing.looks_like_code("If the learning rate doubles, what happens to the loss?") is None


def test_extracted_questions_are_said_with_every_place_and_what_came_with_them(tmp_path: Path) -> None:
    from grader.layout import Layout
    from grader.reading import validate

    group = tmp_path / "g"
    group.mkdir()
    qa = ["Q1. Question: Which mineral shows a doublet near 2165 nm?", "Expected: Kaolinite."]
    rows = [["Question", "Base model", "Fine-tuned"], ["Which band records water vapour?", "red", "940 nm"]]
    _slides(group / "report.pptx", [("Q&A", qa, None), ("More", [], None), ("Ours vs base", [], rows)])
    record = validate.run(group, "g", Layout(tmp_path / "out"))
    said = next(p.message for p in record.problems if p.code == "tests-extracted")
    assert said.startswith("1 test questions read from slide 3 of the deliverable")  # the table wins over labels
    assert "0 with an expected answer, 1 with the answer the group's model gave" in said
    assert "1 without an expected answer: shown, not scored by ROUGE" in said
    assert (
        validate._places([*map(_at, ("d.pptx, slide 16", "d.pptx, slide 20", "d.pptx, slide 16"))]) == "slides 16, 20"
    )


def _at(source: str) -> object:
    from grader.records import Sample

    return Sample(system="s", instruction="q", context="", answer="", source=source)


KO_HEADERS = [
    "Parameter",
    "역할 (What it controls)",
    "증가 / 감소하면?",
    "권장 범위 (Typical range)",
    "우리 데이터에서 왜 중요한가",
]


def test_a_table_headed_by_the_four_questions_answers_them_cell_by_cell(tmp_path: Path) -> None:
    rows = [
        KO_HEADERS,
        ["lora_r", "rank = adapter capacity", "r↑ 파라미터↑", "8, 16, 32", "데이터가 작아서 r=8~16이면 충분"],
        ["lora_alpha", "LoRA update 스케일 (alpha / r)", "크면 update가 강해짐", "보통 r의 2배", "중요함"],
        ["warmup_ratio", "lr을 서서히 올리는 구간의 비율", "", "0.03", "-"],
    ]
    reflections = ["개선할 점: 다음에는 logging_steps=1로 하고 validation set 추가"]  # not Part A evidence
    code = ["args = TrainingArguments(bf16=True,  # set bf16 for A100"]
    _slides(
        tmp_path / "d.pptx", [("Part A", [], rows), ("Code", code, None), ("회고 (Reflections)", reflections, None)]
    )
    written, _ = writing.understand(deliverable.read(tmp_path, "d.pptx", []), part_a_entries(), "s")
    r, alpha, warmup = (written.answer(n) for n in ("lora_r", "lora_alpha", "warmup_ratio"))
    assert all(r.answered.values()) and r.evidence["what"] == "rank = adapter capacity"  # the header decides
    assert alpha.answered == {"what": True, "effect": True, "range": True, "why": False}  # "중요함" says nothing
    assert warmup.answered == {"what": True, "effect": False, "range": True, "why": False}  # empty and "-"
    assert written.answer("logging_steps").status == "missing" and written.answer("bf16").status == "missing"
    assert r.unsure == "" and alpha.unsure == ""


def test_prose_gives_each_parameter_its_own_sentences_and_marks_what_is_unsure(tmp_path: Path) -> None:
    (tmp_path / "REPORT.md").write_text(
        "# Part A\n\n"
        "per_device_train_batch_size is the number of samples in one pass, and gradient_accumulation_steps is how "
        "many passes are summed before an update. A larger batch needs more memory.\n\n"
        "We left include_mlp on.\n\n"
        "## Reflections\n\nNext time we would increase num_train_epochs for our small geology set.\n",
        encoding="utf-8",
    )
    written, _ = writing.understand(deliverable.read(tmp_path, "REPORT.md", []), part_a_entries(), "s")
    batch, accumulation = written.answer("per_device_train_batch_size"), written.answer("gradient_accumulation_steps")
    assert batch.evidence == {"what": "is the", "effect": "larger"} and "larger batch" in batch.excerpt.lower()
    assert accumulation.evidence == {"what": "is how"} and "A larger" not in accumulation.excerpt
    assert written.answer("num_train_epochs").status == "missing"  # only the reflections name it
    mlp = written.answer("include_mlp")
    assert mlp.unsure == "a very short passage (4 words)" and not any(mlp.answered.values())


def test_the_assignments_questions_pasted_under_each_parameter_answer_nothing(tmp_path: Path) -> None:
    questions = [
        "1. What does this parameter control?",
        "2. What happens if we increase or decrease it?",
        "3. What is the typical good range or default value?",
        "4. Why is this important for our fine-tuning task (geology / hyperspectral domain)?",
    ]
    _slides(tmp_path / "d.pptx", [("learning_rate", questions, None), ("lora_r", questions, None)])
    written, _ = writing.understand(deliverable.read(tmp_path, "d.pptx", []), part_a_entries(), "s")
    assert sum(sum(a.answered.values()) for a in written.part_a) == 0
