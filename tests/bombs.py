"""Files a hostile group could hand in, built small and fast for the tests (no committed binaries): each one, read
without grader's caps, would grow far past a reader's limits."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path


def _rewrite(source: Path, target: Path, part: str, change: dict[str, str]) -> None:
    """A copy of an Office zip with one part's XML changed (old -> new, each once)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                text = data.decode("utf-8")
                for old, new in change.items():
                    assert old in text, old
                    text = text.replace(old, new, 1)
                data = text.encode("utf-8")
            zout.writestr(info.filename, data)


def shapes_deck(path: Path, shapes: int, slides: int = 1) -> None:
    """A deck of `slides` slides with `shapes` text boxes each (40,000 a slide is a 2.7 MB file of ~2 GB parsed)."""
    from pptx import Presentation
    from pptx.util import Emu

    prs = Presentation()
    for _ in range(slides):
        slide = prs.slides.add_slide(prs.slide_layouts[6])
        slide.shapes.add_textbox(Emu(100), Emu(100), Emu(1_000_000), Emu(300_000)).text_frame.text = "box 0"
    plain = path.with_suffix(".plain.pptx")
    prs.save(str(plain))
    box = (
        '<p:sp><p:nvSpPr><p:cNvPr id="{i}" name="b"/><p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr><p:spPr><a:xfrm>'
        '<a:off x="100" y="100"/><a:ext cx="1000000" cy="300000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/>'
        "</a:prstGeom></p:spPr><p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:t>box {i}</a:t></a:r></a:p>"
        "</p:txBody></p:sp>"
    )
    many = "".join(box.format(i=i) for i in range(3, shapes + 3))
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if re.fullmatch(r"ppt/slides/slide\d+\.xml", info.filename):
                data = data.decode("utf-8").replace("</p:spTree>", many + "</p:spTree>", 1).encode("utf-8")
            zout.writestr(info.filename, data)
    plain.unlink()


def table_docx(path: Path, rows: int) -> None:
    """A report whose Reflections are a table of `rows` rows (70,000 rows: 3 GB and no report.pdf, unbounded)."""
    import docx

    document = docx.Document()
    document.add_heading("Reflections", level=1)
    document.add_paragraph("We learned that the learning rate matters most for a small dataset.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "row 0", "reflection 0"
    plain = path.with_suffix(".plain.docx")
    document.save(str(plain))
    with zipfile.ZipFile(plain) as zin:
        xml = zin.read("word/document.xml").decode("utf-8")
    row = re.search(r"<w:tr>.*?</w:tr>", xml, re.DOTALL)
    assert row is not None
    more = "".join(
        row.group(0).replace("row 0", f"row {i}").replace("reflection 0", f"reflection {i}") for i in range(1, rows)
    )
    _rewrite(plain, path, "word/document.xml", {"</w:tr></w:tbl>": "</w:tr>" + more + "</w:tbl>"})
    plain.unlink()


def printing_notebook(path: Path, lines: int) -> None:
    """A notebook whose training cell printed `lines` lines (4M lines: 12 MB, 2.3 GB read line by line unbounded)."""
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": ["# Week 5\n", "The learning rate controls the step size."],
        },
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": ["trainer.train()"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "".join(f"{i}\n" for i in range(lines))}],
        },
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook), encoding="utf-8")


def big_json_array(path: Path, samples: int, padding: int = 300) -> None:
    """A valid JSON array of samples, each with an extra list of `padding` numbers: ~2 KB of text a sample that
    parses into ~20 KB of Python objects."""
    row = {"instruction": "What is the reflectance of hematite at 860 nm?", "context": "x" * 200, "answer": "0.3."}
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[\n" + ",\n".join(json.dumps({**row, "n": [i] * padding}) for i in range(samples)) + "\n]\n")


def conflicting_script(path: Path, calls: int) -> None:
    """The course script with `calls` TrainingArguments calls that disagree on the learning rate."""
    body = "".join(f"args{i} = TrainingArguments(output_dir='o', learning_rate={i + 1}e-5)\n" for i in range(calls))
    path.write_text("from transformers import TrainingArguments\nLR = 2e-4\n" + body, encoding="utf-8")


def discussion_report(lines: int) -> str:
    """A REPORT.md whose Discussion runs `lines` lines (20,000 lines made a 412-slide deck)."""
    out = io.StringIO()
    out.write("# Week 5 report\n\n## Discussion\n\n")
    for i in range(lines):
        out.write(f"- Observation {i}: the loss fell after step {i} because the learning rate warmed up.\n")
    return out.getvalue()


def empty_objects_array(path: Path, objects: int) -> None:
    """A JSON array of `objects` empty objects, one per line: 4 bytes of file each, ~150 bytes once read (the line,
    its number, the dict): 15M of them (60 MB, under the 64 MB file cap) need over 2 GB to parse."""
    with path.open("w", encoding="ascii") as fh:
        fh.write("[\n")
        chunk = "{},\n" * 100_000
        for _ in range(objects // 100_000 - 1):
            fh.write(chunk)
        fh.write("{},\n" * 99_999 + "{}\n]\n")
