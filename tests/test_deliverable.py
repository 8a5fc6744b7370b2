"""The group's own deliverable read as text with its structure, every format, and every file treated as hostile."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import HTTPServer
from pathlib import Path

import pytest

from grader.config import part_a_entries
from grader.reading import deliverable, writing
from grader.records import Problem
from tests.conftest import EXAMPLES


def _read(folder: Path, name: str) -> tuple[object, list[Problem]]:
    problems: list[Problem] = []
    return deliverable.read(folder, name, problems), problems


def _deck(path: Path, slides: int = 1, text: str = "Part A · learning_rate") -> None:
    from pptx import Presentation

    prs = Presentation()
    for n in range(slides):
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = f"{text} {n + 1}" if slides > 1 else text
    prs.save(str(path))


def test_the_example_deck_and_report_read_with_their_places() -> None:
    deck, problems = _read(EXAMPLES / "course-group", "Week5_Group3_report.pptx")
    assert problems == [] and deck.format == "pptx" and deck.pages == 9
    assert deliverable.images_said(deck) == "1 image on slide 6"
    assert [t.where for t in deck.tables] == ["slide 5", "slide 7"] and len(deck.tables[1].rows) == 6
    assert any(b.where == "slide 6 notes" and "TensorBoard" in b.text for b in deck.blocks)
    assert any(b.kind == "title" and b.text == "Part A · 에폭 (num_train_epochs)" for b in deck.blocks)
    pdf, problems = _read(EXAMPLES / "course-group-lfs", "Week5_Group5_report.pdf")
    assert problems == [] and pdf.format == "pdf" and pdf.pages == 2
    assert deliverable.images_said(pdf) == "1 image on page 2"
    titles = [b.text for b in pdf.blocks if b.kind == "title"]
    assert "학습률 (learning_rate)" in titles and "Reflections (회고)" in titles
    paragraph = next(b.text for b in pdf.blocks if b.text.startswith("Epochs set how many"))
    assert "Typical values are 1 to 5." in paragraph  # lines joined into the paragraph they wrap


def test_grouped_shapes_docx_and_notebooks(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(1)).text_frame.text = "lora_r inside a group"
    prs.save(str(tmp_path / "g.pptx"))
    deck, _ = _read(tmp_path, "g.pptx")
    assert [b.text for b in deck.blocks] == ["lora_r inside a group"]

    import docx

    doc = docx.Document()
    doc.add_heading("Reflections", level=1)
    doc.add_paragraph("What worked: the 4-bit run.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Question", "Expected answer"
    table.cell(1, 0).text, table.cell(1, 1).text = "What is SAM?", "An angle."
    doc.save(str(tmp_path / "r.docx"))
    report, _ = _read(tmp_path, "r.docx")
    assert report.blocks[0].kind == "title" and report.blocks[0].text == "Reflections"
    assert report.tables[0].rows == [["Question", "Expected answer"], ["What is SAM?", "An angle."]]

    canary = tmp_path / "ran"
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Part A\n", "learning_rate controls the step size."]},
            {
                "cell_type": "code",
                "source": [f"open({str(canary)!r}, 'w').write('x')"],
                "outputs": [
                    {"output_type": "stream", "text": ["train_loss 2.41\n"]},
                    {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}},
                ],
            },
        ]
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(notebook))
    nb, _ = _read(tmp_path, "n.ipynb")
    texts = [b.text for b in nb.blocks]
    assert "learning_rate controls the step size." in texts and "train_loss 2.41" in texts
    assert not any("open(" in t for t in texts) and not canary.exists()  # code is neither run nor read as report
    assert deliverable.images_said(nb) == "1 image on cell 2"


def test_a_classroom_readme_or_the_assignment_text_is_not_the_report(tmp_path: Path) -> None:
    readme = (EXAMPLES / "course-group" / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme)
    doc, _ = _read(tmp_path, "README.md")
    assert deliverable.is_template(doc) == "it is GitHub Classroom's template README"
    pasted = "# Week 5\nEach group must analyze and explain the meaning and role of the following parameters\n" * 5
    (tmp_path / "README.md").write_text(pasted)
    doc, _ = _read(tmp_path, "README.md")
    assert deliverable.is_template(doc) == "it is the assignment's own text, not the group's answers"
    (tmp_path / "README.md").write_text("# Our report\n\n" + "We trained on 24 geology samples. " * 10)
    doc, _ = _read(tmp_path, "README.md")
    assert deliverable.is_template(doc) is None


def test_a_zip_bomb_and_a_zip_of_many_parts_are_refused_unopened(tmp_path: Path) -> None:
    _deck(tmp_path / "ok.pptx")
    bomb = tmp_path / "bomb.pptx"
    with zipfile.ZipFile(tmp_path / "ok.pptx") as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        with dst.open("ppt/media/huge.bin", "w") as fh:  # 300 MB of zeros, ~0.3 MB compressed
            chunk = bytes(1 << 20)
            for _ in range(300):
                fh.write(chunk)
    assert bomb.stat().st_size < 2 << 20
    doc, problems = _read(tmp_path, "bomb.pptx")
    assert doc is None and "refused unopened (zip bomb?)" in problems[0].message
    many = tmp_path / "many.pptx"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(deliverable.MAX_ZIP_ENTRIES + 1):
            zf.writestr(f"x/{i}", b"")
    doc, problems = _read(tmp_path, "many.pptx")
    assert doc is None and "parts inside" in problems[0].message


def test_encrypted_broken_and_oversized_files_are_one_clear_message(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    with open(tmp_path / "locked.pdf", "wb") as fh:
        writer.write(fh)
    doc, problems = _read(tmp_path, "locked.pdf")
    assert doc is None and "encrypted (password-protected)" in problems[0].message
    (tmp_path / "junk.pptx").write_bytes(b"PK\x03\x04 not really a zip" * 10)
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.7\n garbage")
    for name in ("junk.pptx", "junk.pdf"):
        doc, problems = _read(tmp_path, name)
        assert doc is None and problems[0].code == "deliverable" and problems[0].severity == "warning"
    with open(tmp_path / "big.pdf", "wb") as fh:
        fh.truncate(deliverable.MAX_BYTES + 1)
    doc, problems = _read(tmp_path, "big.pdf")
    assert doc is None and "over the 64 MB" in problems[0].message


def test_slides_and_characters_are_capped(tmp_path: Path) -> None:
    _deck(tmp_path / "long.pptx", slides=deliverable.MAX_PAGES + 10)
    doc, _ = _read(tmp_path, "long.pptx")
    assert doc.pages == deliverable.MAX_PAGES + 10 and len(doc.blocks) == deliverable.MAX_PAGES
    assert doc.notes == [f"only the first {deliverable.MAX_PAGES} of {deliverable.MAX_PAGES + 10} slides were read"]
    (tmp_path / "huge.md").write_text(("word " * 200 + "\n\n") * 1000)
    doc, problems = _read(tmp_path, "huge.md")
    assert sum(len(b.text) for b in doc.blocks) <= deliverable.MAX_CHARS
    assert any("characters of text; the rest was not read" in p.message for p in problems)


def test_macros_embedded_objects_and_external_links_are_never_followed(tmp_path: Path) -> None:
    from tests.test_render import Recorder  # records every request it gets

    Recorder.hits.clear()
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        from pptx import Presentation
        from pptx.util import Inches

        prs = Presentation()
        slide = prs.slides.add_slide(prs.slide_layouts[6])
        run = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.paragraphs[0].add_run()
        run.text = "learning_rate: see our notes"
        run.hyperlink.address = f"{url}/link"
        raw = io.BytesIO()
        prs.save(raw)
        with zipfile.ZipFile(raw) as src, zipfile.ZipFile(tmp_path / "m.pptx", "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "ppt/slides/_rels/slide1.xml.rels":  # an image linked from outside
                    data = data.replace(
                        b"</Relationships>",
                        f'<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                        f'relationships/image" Target="{url}/image.png" TargetMode="External"/>'
                        "</Relationships>".encode(),
                    )
                dst.writestr(info, data)
            dst.writestr("ppt/vbaProject.bin", b'Attribute VB_Name = "Evil"\nShell "touch pwned"')
            dst.writestr("ppt/embeddings/oleObject1.bin", b"\xd0\xcf\x11\xe0 an OLE object")
        doc, problems = _read(tmp_path, "m.pptx")
        assert problems == [] and [b.text for b in doc.blocks] == ["learning_rate: see our notes"]
        assert Recorder.hits == [] and not (tmp_path / "pwned").exists()
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_text_from_a_deck_stays_escaped_in_the_report(tmp_path: Path) -> None:
    from grader.config import part_a_entries
    from grader.outputs import render
    from grader.reading import writing
    from tests.conftest import report_data

    evil = "<script>alert(1)</script> {{ 7*7 }} learning_rate controls the step <b>size</b>"
    _deck(tmp_path / "e.pptx", text=evil)
    doc, _ = _read(tmp_path, "e.pptx")
    written, _ = writing.understand(doc, part_a_entries(), "s")
    assert "<script>" in written.answer("learning_rate").excerpt
    import dataclasses

    data = report_data(tmp_path)
    params = [dataclasses.replace(data.params[0], own=written.answer("learning_rate")), *data.params[1:]]
    html = render.render_html(dataclasses.replace(data, params=params))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # student text is data, never a template


@pytest.mark.slow
def test_the_committed_example_deliverables_are_what_the_builder_writes(tmp_path: Path) -> None:
    from tools import examples_build

    for name in ("course-group", "course-group-lfs"):
        (tmp_path / name).mkdir()
    examples_build.main(tmp_path)
    for group, name in (("course-group", "Week5_Group3_report.pptx"), ("course-group-lfs", "Week5_Group5_report.pdf")):
        built, _ = _read(tmp_path / group, name)
        committed, _ = _read(EXAMPLES / group, name)
        assert built.blocks == committed.blocks and built.tables == committed.tables
        assert built.images == committed.images


def test_a_pdf_with_custom_encoded_fonts_is_read_in_full(tmp_path: Path) -> None:
    """pdfplumber reads (almost) nothing of it and pypdf NUL-padded text; grader reads every word and the table."""
    import pdfplumber

    from tests import pdf_corpus

    want = pdf_corpus.weasy_custom_encoding(tmp_path / "report.pdf")
    with pdfplumber.open(tmp_path / "report.pdf") as pdf:
        assert pdf_corpus.KO not in (pdf.pages[0].extract_text() or "")  # the case this test is about
    doc, problems = _read(tmp_path, "report.pdf")
    assert problems == [] and doc.notes == []
    text = " ".join(b.text for b in doc.blocks)
    assert pdf_corpus.EN in text and pdf_corpus.KO in text and "→ The learning rate" in text
    assert doc.tables[0].rows == [["Parameter", "What it controls"], ["lora_r", "rank of the adapter matrices"]]
    assert [b.kind for b in doc.blocks][:1] == ["title"] and doc.blocks[0].text == "Part A"
    assert all(word in text for word in want.split())


def test_a_scanned_pdf_says_it_has_no_text_layer_not_that_it_is_empty(tmp_path: Path) -> None:
    from tests import pdf_corpus

    pdf_corpus.scanned(tmp_path / "scan.pdf")
    doc, problems = _read(tmp_path, "scan.pdf")
    assert problems == [] and doc.blocks == [] and doc.images == ["page 1"]
    assert doc.notes == [
        "no text layer on every page: 1 page is an image (a scan?); grader does not read text inside images: "
        "export the PDF from the program that wrote it"
    ]
    written, _ = writing.understand(doc, part_a_entries(), "s")
    assert written.notes == doc.notes


@pytest.mark.parametrize("name", ["matplotlib-type3", "matplotlib-type42", "libreoffice-korean-deck"])
def test_pdfs_as_groups_export_them_read_every_word(tmp_path: Path, name: str) -> None:
    import re

    from tests import pdf_corpus

    try:
        want = pdf_corpus.CORPUS[name](tmp_path / f"{name}.pdf")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    doc, problems = _read(tmp_path, f"{name}.pdf")
    words = re.findall(r"\w+", " ".join(b.text for b in doc.blocks))
    assert problems == [] and sorted(words) == sorted(re.findall(r"\w+", want))


def test_the_assignment_pasted_back_in_a_word_file_is_not_the_groups_report(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_heading("Part A. Parameter Analysis", level=1)
    doc.add_paragraph("Each group must analyze and explain the meaning and role of the following parameters used in")
    for name in ("learning_rate", "lora_r"):
        doc.add_heading(name, level=2)
        for question in (
            "1. What does this parameter control?",
            "2. What happens if we increase or decrease it?",
            "3. What is the typical good range or default value?",
            "4. Why is this important for our fine-tuning task (geology / hyperspectral domain)?",
        ):
            doc.add_paragraph(question)
    doc.save(str(tmp_path / "report.docx"))
    document, _ = _read(tmp_path, "report.docx")
    assert (
        deliverable.is_template(document) == "it is the assignment's own text: 9 of its 9 paragraphs are its questions"
    )
    written, _ = writing.read(tmp_path, ["report.docx"], part_a_entries(), [])
    assert written.file is None and written.skipped[0].startswith("report.docx not counted: it is the assignment's")


def test_markdown_code_fences_are_code_not_prose() -> None:
    text = "# Part A\n\n```python\nbf16=True  # set bf16\n```\n\nlearning_rate sets the step.\n"
    document = deliverable.markdown(text, "R.md")
    assert [(b.kind, b.text) for b in document.blocks] == [
        ("title", "Part A"),
        ("code", "bf16=True  # set bf16"),
        ("text", "learning_rate sets the step."),
    ]
