"""What a group's files can make grader do is bounded by grader's caps, not by the files: logs are thinned at read
time, tables shown bounded, forged TensorBoard records and adapter configs that PEFT would choke on are refused with
the field named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.llm import adapter
from tests.conftest import EXAMPLES, pdf_text, report_data


def test_a_huge_trainer_state_is_thinned_when_read_and_said(tmp_path: Path) -> None:
    group = tmp_path / "g"
    group.mkdir()
    history = [{"step": s, "loss": 3.0 - s * 1e-5, "learning_rate": 2e-4} for s in range(1, 50_001)]
    state = {"global_step": 50_000, "logging_steps": 1, "log_history": [*history, {"step": 50_000, "train_loss": 2.5}]}
    (group / "trainer_state.json").write_text(json.dumps(state))
    logs = adapter.group_logs(group)
    assert len(logs.log) == adapter.MAX_LOG_POINTS and logs.log[0].step == 1 and logs.log[-1].step == 50_000
    assert logs.train_loss == 2.5
    assert any("logs 50,001 entries: 2,000 of them, evenly spaced, are kept" in s for s in logs.sources)
    assert len(logs.model_dump_json()) < 200_000  # the record stays small whatever the file held


def test_the_reports_step_table_is_bounded(tmp_path: Path) -> None:
    from grader.layout import Layout
    from grader.outputs import render

    data = report_data(tmp_path, steps=500)
    render.run(data, Layout(tmp_path / "out"), "g")
    text = " ".join(pdf_text(tmp_path / "out" / "g" / "report.pdf").split())
    assert "… 440 more logged steps: every one is in the plot above and in train.json" in text


def test_tensorboard_records_with_a_bad_checksum_are_not_evidence(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "course-group" / "W5_materials" / "logs", group / "logs")
    events = next((group / "logs").iterdir())
    good = adapter.tfevents_scalars(events, group)
    assert good.get("train/train_loss")
    data = bytearray(events.read_bytes())
    data[-1] ^= 0xFF  # the last record's data checksum: what a hand-made file gets wrong
    events.write_bytes(bytes(data))
    forged = adapter.tfevents_scalars(events, group)
    assert adapter.BAD_CHECKSUM in forged
    logs = adapter.group_logs(group)
    assert any("fails TensorBoard's checksum" in s and "not read as evidence" in s for s in logs.sources)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("lora_dropout", 5, "lora_dropout = 5 is not a number >= 0 and < 1"),
        ("lora_alpha", 1e30, "lora_alpha = 1e+30 is not a number > 0 and <= 4096"),
        ("use_rslora", "yes", "use_rslora = 'yes' is not true or false"),
        ("bias", "all", "bias = 'all': only 'none' is loaded"),
        ("use_dora", True, "DoRA adapters carry magnitude vectors"),
        ("modules_to_save", ["lm_head"], "modules_to_save is set"),
        ("r", 0, "r = 0 is not an integer between 1 and 1024"),
    ],
)
def test_adapter_config_values_are_checked_field_by_field(tmp_path: Path, field: str, value: object, said: str) -> None:
    folder = tmp_path / "g" / "adapter"
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps({**config, field: value}))
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 2048)  # never reached: the config is refused first
    with pytest.raises(adapter.AdapterRefused, match=r"adapter_config\.json: ") as refused:
        adapter.check(folder, tmp_path / "g", None)
    assert said in str(refused.value)
    committed = adapter.committed(tmp_path / "g")
    assert committed is not None and not committed.usable and said in committed.problem


def _grid_pdf(n: int, gap: float = 4.0) -> bytes:
    """A one-page PDF of n x n ruled lines (a few KB): its table search grows with the square of the crossings."""
    size = int(20 + n * gap)
    ops = []
    for i in range(n):
        v = 10 + i * gap
        ops += [f"10 {v:.1f} m {size - 10} {v:.1f} l S", f"{v:.1f} 10 m {v:.1f} {size - 10} l S"]
    stream = ("0.1 w\n" + "\n".join(ops)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>" % (size, size),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _allocate(megabytes: int) -> str:
    return str(len(bytearray(megabytes << 20)))


def _spin() -> str:
    while True:
        pass


def _fail() -> str:
    return {}["k"]


def test_a_reader_is_stopped_at_its_memory_and_time_limits_alone() -> None:
    from grader.reading import sandbox

    with pytest.raises(sandbox.ReaderFailed, match="KeyError"):  # a parser's own failure is not called a limit
        sandbox.run(_fail, memory_mb=200, seconds=30)

    assert sandbox.run(_allocate, 10, memory_mb=200, seconds=30) == str(10 << 20)
    with pytest.raises(sandbox.OverLimit, match="needed more than 200 MB"):
        sandbox.run(_allocate, 4000, memory_mb=200, seconds=30)
    with pytest.raises(sandbox.OverLimit, match="did not finish within 2 s"):
        sandbox.run(_spin, memory_mb=200, seconds=2)


def test_a_grid_of_ruled_lines_is_read_without_a_table_search(tmp_path: Path) -> None:
    """A few KB of ruled lines that kept a table finder busy for minutes (its search grows with the square of the
    crossings): the page is read as text, the table search skipped and said; the group's other parts as usual."""
    from grader.reading import validate

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    (group / "REPORT.md").unlink()
    (group / "Week5_report.pdf").write_bytes(_grid_pdf(200))
    record = validate.run(group, "g")
    assert record.writing is not None and record.writing.file == "Week5_report.pdf"
    assert any("cross 40,000 times, over 4,000: no table was searched for" in n for n in record.writing.notes)
    assert record.status == "ok" and record.n_samples == 24 and record.n_tests == 6


def test_logs_that_would_take_more_memory_than_the_reader_has_cost_the_logs_only(tmp_path: Path) -> None:

    group = tmp_path / "g"
    group.mkdir()
    history = [{"step": s, "loss": 2.5, "learning_rate": 1e-4} for s in range(1, 300_001)]  # ~15 MB of JSON
    (group / "trainer_state.json").write_text(json.dumps({"global_step": 300_000, "log_history": history}))
    # in a fresh process: the child's budget is counted beyond the address space it inherits, and a test process
    # that freed hundreds of MB earlier would hand that slack to the child
    code = (
        "import sys; from pathlib import Path; from grader.llm import adapter; from grader.limits import DataLimits; "
        "print(adapter.group_logs_bounded(Path(sys.argv[1]), limits=DataLimits(reader_memory_mb=64)).model_dump_json())"
    )
    answer = subprocess.run([sys.executable, "-c", code, str(group)], capture_output=True, text=True, check=True)
    logs = adapter.ReportedLoss.model_validate_json(answer.stdout)
    assert logs.train_loss is None and not logs.log
    assert logs.sources[0].startswith("the group's logs could not be read within 64 MB")
    # with the default budget the same file is read, thinned
    assert len(adapter.group_logs_bounded(group).log) == adapter.MAX_LOG_POINTS


def test_text_a_viewer_cannot_see_is_read_but_never_credited(tmp_path: Path) -> None:
    """Part A as 1-pt text, as white text on a white slide, on a hidden slide and off the slide: none of it is the
    group's answer, the reader says so and the instructor is told; the visible slide still counts."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu, Pt

    from grader.config import part_a_entries
    from grader.measure import grade
    from grader.reading import validate

    names = [entry["name"] for entry in part_a_entries()]
    stuffing = " ".join(f"{p}: controls; increase it; default 1-5; matters for geology." for p in names)
    prs = Presentation()
    visible = prs.slides.add_slide(prs.slide_layouts[5])
    visible.shapes.title.text = "Reflections"
    visible.shapes.add_textbox(Emu(0), Emu(2_000_000), Emu(8_000_000), Emu(1_000_000)).text_frame.text = (
        "What worked: training on our 24 geology samples; the loss fell and the answers improved. " * 3
    )
    for how in ("tiny", "white", "hidden", "outside"):
        slide = prs.slides.add_slide(prs.slide_layouts[6])
        left = Emu(prs.slide_width + 100) if how == "outside" else Emu(0)
        run = slide.shapes.add_textbox(left, Emu(0), Emu(8_000_000), Emu(500_000)).text_frame.paragraphs[0].add_run()
        run.text = stuffing
        run.font.size = Pt(1) if how == "tiny" else Pt(18)
        if how == "white":
            run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
        if how == "hidden":
            slide._element.set("show", "0")
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    (group / "REPORT.md").unlink()
    prs.save(str(group / "Week5_report.pptx"))
    record = validate.run(group, "g")
    assert record.writing is not None and record.writing.file == "Week5_report.pptx"
    assert not any(a.where for a in record.writing.part_a)  # not one parameter credited
    assert record.writing.reflections is not None
    note = next(n for n in record.writing.notes if n.startswith("text a viewer cannot see"))
    for said in ("slide 2: 117 words in 1-pt text", "slide 3: 117 words coloured like the slide's background"):
        assert said in note
    assert "slide 4: 117 words on a hidden slide" in note and "slide 5: 117 words placed outside the slide" in note
    inputs = grade.Inputs(record, None, None, None, None)
    graded = {i.id: i for i in grade.run("g", grade.load_rubric(), inputs).items}
    assert graded["part_a"].points == 0 and graded["reflections"].points == 2
    assert any("text a viewer cannot see is read but not credited" in f for f in grade.flags(inputs))


def test_one_passage_pasted_for_every_parameter_is_template_text() -> None:
    from grader.config import part_a_entries
    from grader.reading import deliverable, writing

    names = [entry["name"] for entry in part_a_entries()]
    md = "# Part A\n\n" + "\n\n".join(f"{p}: controls; increase it; default 1-5; matters for geology." for p in names)
    written, _ = writing.understand(deliverable.markdown(md, "REPORT.md"), part_a_entries(), "s")
    assert all(a.where for a in written.part_a) and not any(any(a.answered.values()) for a in written.part_a)
    assert written.part_a[0].unsure.startswith("the same words as 12 other parameters with only the name changed")
    honest = md.replace("lora_r: controls; increase it", "lora_r: the rank controls the adapter's capacity; raise it")
    again, _ = writing.understand(deliverable.markdown(honest, "REPORT.md"), part_a_entries(), "s")
    assert any(again.answer("lora_r").answered.values())  # the one written for itself still counts


def test_visible_designs_are_never_called_unseen(tmp_path: Path) -> None:
    """White text in a navy box, a group whose child coordinates are offset, white text on a dark theme: all seen."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.enum.shapes import MSO_SHAPE
    from pptx.util import Emu

    from grader.reading import deliverable

    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    prs = Presentation()
    boxed = prs.slides.add_slide(prs.slide_layouts[6])
    box = boxed.shapes.add_shape(MSO_SHAPE.RECTANGLE, Emu(914400), Emu(914400), Emu(6000000), Emu(2000000))
    box.fill.solid()
    box.fill.fore_color.rgb = RGBColor(0x1F, 0x2A, 0x44)
    run = box.text_frame.paragraphs[0].add_run()
    run.text, run.font.color.rgb = "Final train loss: 1.87 after 3 epochs", RGBColor(0xFF, 0xFF, 0xFF)
    grouped = prs.slides.add_slide(prs.slide_layouts[6]).shapes.add_group_shape()
    grouped.shapes.add_textbox(
        Emu(20_000_000), Emu(500_000), Emu(3_000_000), Emu(800_000)
    ).text_frame.text = "Reflections: the training loss fell"
    xfrm = grouped._element.grpSpPr.find(f"{drawing}xfrm")
    for tag, x, y in (("off", 914400, 500000), ("ext", 3000000, 800000), ("chOff", 20000000, 500000)):
        xfrm.find(drawing + tag).set("x" if tag != "ext" else "cx", str(x))
        xfrm.find(drawing + tag).set("y" if tag != "ext" else "cy", str(y))
    xfrm.find(drawing + "chExt").set("cx", "3000000")
    xfrm.find(drawing + "chExt").set("cy", "800000")
    prs.save(str(tmp_path / "a.pptx"))
    dark = Presentation()
    colour_map = dark.slide_masters[0]._element.find(
        "{http://schemas.openxmlformats.org/presentationml/2006/main}clrMap"
    )
    colour_map.set("bg1", "dk1")
    colour_map.set("tx1", "lt1")
    box = dark.slides.add_slide(dark.slide_layouts[6]).shapes.add_textbox(Emu(0), Emu(0), Emu(6000000), Emu(900000))
    run = box.text_frame.paragraphs[0].add_run()
    run.text, run.font.color.rgb = "What worked: the learning rate 2e-4", RGBColor(0xFF, 0xFF, 0xFF)
    dark.save(str(tmp_path / "b.pptx"))
    for name, expected in (("a.pptx", 2), ("b.pptx", 1)):
        document = deliverable.read(tmp_path, name, [])
        assert document is not None and len(document.blocks) == expected and not document.notes, name


@pytest.mark.parametrize("kind", ["deck", "notebook", "docx", "markdown"])
def test_what_a_deliverable_holds_is_capped_while_it_is_read(tmp_path: Path, kind: str) -> None:
    """Shapes per slide, notebook output lines, table rows: past the cap the rest is not read, and the document says
    so; what is kept stays small whatever the file holds."""
    from grader.reading import deliverable
    from tests import bombs

    if kind == "deck":
        bombs.shapes_deck(tmp_path / "d.pptx", 5_000)
        name, said = "d.pptx", "slide 1: only its first 1,000 shapes were read"
    elif kind == "notebook":
        bombs.printing_notebook(tmp_path / "d.ipynb", 300_000)
        name, said = "d.ipynb", "cell 2 output: only its first 200 of 300,001 lines were read"
    elif kind == "docx":
        bombs.table_docx(tmp_path / "d.docx", 5_000)
        name, said = "d.docx", "table 1: only the first 200 of 5,000 table rows were read"
    else:
        rows = "".join(f"| q{i} | a{i} |\n" for i in range(5_000))
        (tmp_path / "d.md").write_text("# Report\n\n| question | answer |\n|---|---|\n" + rows, encoding="utf-8")
        name, said = "d.md", "line 3: only the first 200 of 5,001 table rows were read"
    problems: list = []
    document = deliverable.read(tmp_path, name, problems)
    assert document is not None, problems
    assert said in document.notes, document.notes
    assert len(document.blocks) <= deliverable.MAX_SHAPES_PER_SLIDE + 2
    assert all(len(t.rows) <= deliverable.MAX_TABLE_ROWS for t in document.tables)
    assert len(document.model_dump_json()) < 200_000


def test_a_data_file_over_the_readers_memory_costs_the_data_only(tmp_path: Path) -> None:
    """A valid 10 MB JSON array that parses into hundreds of MB: refused at the reader's limit with the file named,
    the group over-limit (the instructor can raise it), its config, tests and report read as usual."""
    from tests import bombs

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    (group / "data" / "train.jsonl").unlink()
    bombs.big_json_array(group / "data" / "train.json", 5_000)
    code = (
        "import sys; from pathlib import Path; from grader.reading import validate; "
        "from grader.limits import DataLimits; "
        "print(validate.run(Path(sys.argv[1]), 'g', limits=DataLimits(reader_memory_mb=64)).model_dump_json())"
    )
    answer = subprocess.run([sys.executable, "-c", code, str(group)], capture_output=True, text=True, check=True)
    from grader.records import ValidationRecord

    record = ValidationRecord.model_validate_json(answer.stdout)
    said = [p for p in record.problems if p.file == "data/train.json"]
    assert said and said[0].code == "over-reader-limit", record.problems
    assert said[0].message.startswith("could not be read within 64 MB")
    assert record.n_samples == 0 and record.n_tests == 6 and record.config.learning_rate == 2e-4
    assert record.writing is not None and record.writing.file == "REPORT.md"


@pytest.mark.parametrize("example", ["good-group", "weak-group", "broken-group", "course-group", "course-group-lfs"])
def test_the_bounded_config_reader_reads_what_the_in_process_one_does(example: str) -> None:
    from grader.limits import DEFAULT_LIMITS
    from grader.reading import part_a_values
    from grader.reading.discover import find_parts

    group = EXAMPLES / example
    parts = find_parts(group)
    here: list = []
    there: list = []
    direct = part_a_values.collect(group, parts, here)
    bounded = part_a_values.collect_bounded(group, parts, there, DEFAULT_LIMITS)
    assert there == here
    for name in ("config", "sources", "filled", "toml", "config_file", "script", "data_path"):
        assert getattr(bounded, name) == getattr(direct, name), name


@pytest.mark.parametrize(
    "source",
    ["x = " + "a+" * 100_000 + "a", "x = " + "(" * 300 + ")" * 300, "x = " + "-" * 200_000 + "1", "def f(:\n"],
)
def test_a_script_bomb_is_said_with_its_reason(source: str) -> None:
    from grader.reading import course_script

    found = course_script.parse(source)
    (_, message, hint), *_ = found.problems
    assert message.startswith("is not valid Python (") and "()" not in message and hint
    assert not found.values


def test_thousands_of_conflicting_calls_give_fifty_warnings_and_a_count(tmp_path: Path) -> None:
    from grader.reading import part_a_values
    from grader.reading.discover import find_parts
    from tests import bombs

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    bombs.conflicting_script(group / "train_lora.py", 3_000)  # under the 256 KB a script may be
    problems: list = []
    part_a_values.collect(group, find_parts(group), problems)
    said = [p for p in problems if p.file == "train_lora.py"]
    assert 40 <= len(said) <= 60, len(said)
    assert any("more conflicting values like the ones above" in p.message for p in said)
