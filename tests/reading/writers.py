"""Writes a corpus document as .pptx (python-pptx), .pdf (WeasyPrint, grader's own fonts), .docx (python-docx) or .md,
the way a student's tool lays it out, and says where each piece of text landed ('slide 3', 'page 2', 'table 1',
'paragraph 7', 'line 12'): the truth names those places.

Same inputs, same bytes: fixed core properties and zip timestamps for Office files, SOURCE_DATE_EPOCH for the PDF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from tests.reading.spec import Code, Doc, Element, Table

Places = list[tuple[str, str]]  # (text, where) for every title, paragraph, table row and code box
STAMP = datetime(2026, 10, 7, tzinfo=UTC)


def write(doc: Doc, path: Path) -> Places:
    writers: dict[str, Callable[[Doc, Path], Places]] = {"pptx": _pptx, "pdf": _pdf, "docx": _docx, "md": _md}
    return writers[doc.format](doc, path)


def _row_text(row: list[str]) -> str:
    return " | ".join(row)


def _pptx(doc: Doc, path: Path) -> Places:
    from pptx import Presentation
    from pptx.util import Emu, Inches, Pt

    from grader.outputs.deck import save_reproducibly

    prs = Presentation()
    prs.slide_width, prs.slide_height = Emu(12192000), Emu(6858000)
    places: Places = []
    for number, page in enumerate(doc.pages, start=1):
        where = f"slide {number}"
        only_text = all(isinstance(e, str) for e in page.body)
        layout = prs.slide_layouts[1] if only_text and doc.bullets and page.body else prs.slide_layouts[5]
        slide = prs.slides.add_slide(layout)
        slide.shapes.title.text = page.title
        places.append((page.title, where))
        if layout == prs.slide_layouts[1]:
            frame = slide.placeholders[1].text_frame
            places.extend((str(text), where) for text in page.body)
            for i, line in enumerate(line for text in page.body for line in str(text).split("\n")):
                para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
                para.text = line
                para.runs[0].font.size = Pt(14)
        else:
            top = 1.3
            for element in _grouped(page.body):
                if isinstance(element, Table):
                    rows, cols = len(element.rows), len(element.rows[0])
                    shape = slide.shapes.add_table(rows, cols, Inches(0.4), Inches(top), Inches(12.5), Inches(0.4))
                    for i, row in enumerate(element.rows):
                        for j, text in enumerate(row):
                            cell = shape.table.cell(i, j)
                            cell.text = text
                            for para in cell.text_frame.paragraphs:
                                for run in para.runs:
                                    run.font.size = Pt(9)
                        places.append((_row_text(row), where))
                    top += 0.45 * rows
                else:
                    texts = element if isinstance(element, list) else [element.text]
                    places.extend((text, where) for text in texts)
                    lines = [line for text in texts for line in text.split("\n")]
                    box = slide.shapes.add_textbox(Inches(0.5), Inches(top), Inches(12.3), Inches(0.35 * len(lines)))
                    box.text_frame.word_wrap = True
                    for i, line in enumerate(lines):
                        para = box.text_frame.paragraphs[0] if i == 0 else box.text_frame.add_paragraph()
                        para.text = line or " "
                        para.runs[0].font.size = Pt(11 if isinstance(element, Code) else 14)
                        if isinstance(element, Code):
                            para.runs[0].font.name = "Consolas"
                    top += 0.4 * len(lines)
        if page.notes:
            slide.notes_slide.notes_text_frame.text = page.notes
            places.append((page.notes, f"{where} notes"))
    props = prs.core_properties
    props.author = props.last_modified_by = "student"
    props.title = doc.pages[0].title
    props.created = props.modified = props.last_printed = STAMP
    props.revision = 1
    save_reproducibly(prs, path)
    return places


def _grouped(body: Sequence[Element]) -> list[list[str] | Table | Code]:
    """Consecutive paragraphs share one text box, as a student types them."""
    out: list[list[str] | Table | Code] = []
    for element in body:
        if isinstance(element, str):
            if out and isinstance(out[-1], list):
                out[-1].append(element)
            else:
                out.append([element])
        else:
            out.append(element)
    return out


def _pdf(doc: Doc, path: Path) -> Places:
    """One page per Page (a page break after each), so the truth can say 'page N'."""
    from grader.outputs.render import write_pdf

    places: Places = []
    parts = []
    for number, page in enumerate(doc.pages, start=1):
        where = f"page {number}"
        html = [f"<h2>{escape(page.title)}</h2>"]
        places.append((page.title, where))
        for element in page.body:
            if isinstance(element, Table):
                cells = "".join(
                    "<tr>"
                    + "".join(f"<{'th' if i == 0 else 'td'}>{escape(c)}</{'th' if i == 0 else 'td'}>" for c in r)
                    + "</tr>"
                    for i, r in enumerate(element.rows)
                )
                html.append(f"<table>{cells}</table>")
                places.extend((_row_text(r), where) for r in element.rows)
            elif isinstance(element, Code):
                html.append(f"<pre>{escape(element.text)}</pre>")
                places.append((element.text, where))
            else:
                html.append(f"<p>{escape(element).replace(chr(10), '<br>')}</p>")
                places.append((element, where))
        parts.append(f"<section>{''.join(html)}</section>")
    css = (
        "body{font-family:'DejaVu Sans','NanumGothic',sans-serif;font-size:10pt}@page{size:A4;margin:2cm}"
        "section{break-after:page}h2{font-size:15pt}p{margin:0 0 9pt 0}"
        "table{border-collapse:collapse;width:100%;font-size:8.5pt}th,td{border:0.8pt solid #444;padding:3pt;"
        "vertical-align:top;text-align:left}pre{font-family:'DejaVu Sans Mono',monospace;font-size:8.5pt}"
    )
    write_pdf(
        f"<!doctype html><html><head><meta charset='utf-8'><style>{css}</style></head><body>"
        + "".join(parts)
        + "</body></html>",
        path,
    )
    return places


def _docx(doc: Doc, path: Path) -> Places:
    import docx
    from docx.shared import Pt

    from grader.outputs.deck import save_reproducibly

    document = docx.Document()
    places: Places = []
    tables = 0

    def paragraph_number() -> str:
        return f"paragraph {len(document.paragraphs)}"

    for page in doc.pages:
        document.add_heading(page.title, level=2)
        places.append((page.title, paragraph_number()))
        for element in page.body:
            if isinstance(element, Table):
                table = document.add_table(rows=len(element.rows), cols=len(element.rows[0]))
                table.style = "Table Grid"
                for i, row in enumerate(element.rows):
                    for j, text in enumerate(row):
                        table.cell(i, j).text = text
                tables += 1
                places.extend((_row_text(r), f"table {tables}") for r in element.rows)
            elif isinstance(element, Code):
                for i, line in enumerate(element.text.split("\n")):
                    run = document.add_paragraph().add_run(line)
                    run.font.name, run.font.size = "Consolas", Pt(9)
                    if i == 0:
                        places.append((element.text, paragraph_number()))
            else:
                for i, line in enumerate(element.split("\n")):
                    document.add_paragraph(line, style="List Bullet" if doc.bullets and i == 0 else None)
                    if i == 0:
                        places.append((element, paragraph_number()))
    props = document.core_properties
    props.author = props.last_modified_by = "student"
    props.title = doc.pages[0].title
    props.created = props.modified = props.last_printed = STAMP
    props.revision = 1
    save_reproducibly(document, path)
    return places


def _md(doc: Doc, path: Path) -> Places:
    lines: list[str] = []
    places: Places = []
    for page in doc.pages:
        lines += [f"## {page.title}", ""]
        places.append((page.title, f"line {len(lines) - 1}"))
        for element in page.body:
            if isinstance(element, Table):
                for i, row in enumerate(element.rows):
                    lines.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
                    places.append((_row_text(row), f"line {len(lines)}"))
                    if i == 0:
                        lines.append("|" + "---|" * len(row))
                lines.append("")
            elif isinstance(element, Code):
                places.append((element.text, f"line {len(lines) + 2}"))
                lines += ["```", *element.text.splitlines(), "```", ""]
            else:
                places.append((element, f"line {len(lines) + 1}"))
                first, *rest = element.split("\n")
                lines += [("- " if doc.bullets else "") + first, *rest]
                if not doc.bullets:
                    lines.append("")
        if lines[-1]:
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return places
