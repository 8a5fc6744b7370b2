"""The course's own files recognised by content: a lecture deck handed in earns nothing, copied passages are not
the group's words, and nothing changes without a course folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.config import part_a_entries
from grader.layout import Layout
from grader.reading import material, validate, writing
from tests.conftest import EXAMPLES

DECK = EXAMPLES / "course-group" / "Week5_Group3_report.pptx"


def _course(tmp_path: Path) -> Path:
    """A course folder: the lecture deck (here the example deck plays it) and the course's script."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(DECK, course / "W5_lecture.pptx")
    (course / "LoRA_fine_Tuning.py").write_text('LR = 2e-4\nprompt = f"{system}\\n\\nInstruction: {instruction}"\n')
    return course


def _own_deck(path: Path, paragraphs: list[str]) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Part A · learning_rate"
    frame = slide.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(9), Inches(4)).text_frame
    for i, text in enumerate(paragraphs):
        (frame.paragraphs[0] if i == 0 else frame.add_paragraph()).text = text
    prs.save(str(path))


def test_the_lecture_deck_handed_in_earns_nothing_and_says_so(tmp_path: Path) -> None:
    group = tmp_path / "group-9"
    group.mkdir()
    shutil.copy(DECK, group / "Week5_Group9_report.pptx")  # renamed: recognised by its content, not its name
    record = validate.run(group, "group-9", Layout(tmp_path / "out"), course=_course(tmp_path))
    written = record.writing
    assert written is not None and written.file is None and record.n_tests == 0
    assert written.skipped == [
        "Week5_Group9_report.pptx not counted: the whole deck is copied from the course's W5_lecture.pptx (100% of "
        "its text is the course's), not the group's work"
    ]
    assert all(not any(a.answered.values()) for a in written.part_a)
    assert "report (the whole deck is copied from the course's W5_lecture.pptx" in record.missing[-1]
    # without a course folder the same deck reads as before: the course folder is what makes the difference
    plain = validate.run(group, "group-9", Layout(tmp_path / "out2"))
    assert plain.writing is not None and plain.writing.file == "Week5_Group9_report.pptx" and plain.n_tests == 5


def test_passages_copied_from_the_lecture_are_not_the_groups_words(tmp_path: Path) -> None:
    lecture = [
        "What it controls: the size of each optimizer step on the LoRA weights.",
        "Typical range for LoRA on 7-8B models: 1e-4 to 3e-4 (course default 2e-4). We used 3e-4.",
    ]
    own = "학습률을 높이면 손실이 흔들리고, 낮추면 우리 지질 데이터 24개로는 거의 배우지 못한다."
    group = tmp_path / "g"
    group.mkdir()
    _own_deck(group / "report.pptx", [*lecture, own])
    course = material.load(str(_course(tmp_path).resolve()))
    written, _ = writing.read(group, ["report.pptx"], part_a_entries(), [], course)
    assert written.file == "report.pptx"
    assert written.copied == ["2 passages copied from the course's W5_lecture.pptx (not counted as the group's work)"]
    lr = written.answer("learning_rate")
    assert lr is not None and own in lr.excerpt and lecture[0] not in lr.excerpt
    assert lr.answered == {"what": False, "effect": True, "range": False, "why": True}  # the copied what/range: none
    plain, _ = writing.read(group, ["report.pptx"], part_a_entries(), [])
    assert plain.copied == [] and all(plain.answer("learning_rate").answered.values())


def test_shingles_are_by_content_and_short_passages_are_not_judged() -> None:
    course = material.Material(
        files={"lecture.pptx": material.shingles("The rank r sets how many dimensions the update has")}
    )
    assert course.source("the RANK r sets how   many dimensions, the update has!") == ("lecture.pptx", 1.0)
    assert course.source("lora_r | 16") is None  # a value row is too short to call copied
    assert course.source("Our rank r was chosen after two runs on twenty-four geology samples") is None


def test_the_courses_example_data_is_trained_on_but_not_counted_as_the_groups_samples(tmp_path: Path) -> None:
    from grader.measure import grade
    from tests.conftest import write_jsonl

    def sample(i: int, topic: str) -> dict[str, str]:
        return {
            "instruction": f"What does band {i} of the {topic} sensor record in the shortwave infrared region?",
            "context": "c",
            "answer": f"Band {i} records reflected light near {900 + 10 * i} nm, where {topic} minerals absorb.",
        }

    course = _course(tmp_path)
    write_jsonl(course / "example_data.jsonl", [sample(i, "course") for i in range(15)])
    group = tmp_path / "g"
    group.mkdir()
    write_jsonl(group / "all.jsonl", [sample(i, "course") for i in range(15)] + [sample(i, "ours") for i in range(8)])
    record = validate.run(group, "g", Layout(tmp_path / "out"), course=course)
    assert record.n_samples == 23 and record.n_course_samples == 15
    said = next(p for p in record.problems if p.code == "course-data")
    assert said.message == (
        "15 of 23 samples are copied from the course's example_data.jsonl: trained on, not counted as the group's "
        "samples"
    )
    item = next(i for i in grade.load_rubric() if i.id == "samples")
    decided = grade.samples(item, grade.Inputs(validation=record, train=None, score=None, report_md=None))
    fraction, reason = decided.fraction, decided.reason
    assert fraction == 8 / 20 and reason.endswith("(15 more are the course's example data, not counted)")
