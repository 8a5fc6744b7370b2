"""pdftext: the text of a PDF's pages as lines (with their size and place) and tables (rows of cells).

Which engine reads the text was decided by measurement (tools/pdf_engines.py, words of a known text recovered):

  PDF                                      pdfplumber   pypdf         PDFium
  WeasyPrint, Latin only                   1.00         1.00          1.00
  WeasyPrint, Wingdings/emoji/Hangul       0.05         0.69 (NUL)    1.00
  matplotlib, Type 3 and Type 42 fonts     1.00         1.00          1.00
  LibreOffice export of a Korean deck      0.70 (학학)  0.70 (학학)   1.00
  a scanned page (image only)              nothing      nothing       nothing

A font with a custom encoding (WeasyPrint's own CMap, LibreOffice's ToUnicode ranges for Hangul) defeats pdfminer
and pypdf; PDFium (the pypdfium2 wheel, which bundles its binary) reads them all. So PDFium gives the text, and
pdfplumber only the geometry it is good at: the ruled tables, whose cells are then read by PDFium inside each
cell's box. A page where PDFium gives nothing readable (no text, NUL-padded, replacement characters) falls back
to pdfplumber's own text; a page neither reads and that holds an image is counted as an image-only page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_PAGE_CHARS = 200_000  # characters read from one page: a page of 10,000 lines is not a slide
# crossings of ruled lines handed to the table finder per page: it stores every crossing and searches them
# quadratically (measured: a 50 x 50 grid 0.8 s, 100 x 100 7 s, 150 x 150 36 s, 2,000 x 2,000 20 GB); a real table of
# 100 rows and 10 columns has 1,111
MAX_CROSSINGS = 4_000


@dataclass
class Line:
    text: str
    size: float
    top: float  # points from the top of the page
    bottom: float
    x0: float = 0.0
    x1: float = 0.0


@dataclass
class Page:
    lines: list[Line] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)
    images: int = 0
    engine: str = "pdfium"  # or "pdfplumber" (PDFium read nothing here), or "" (no text layer)
    notes: list[str] = field(default_factory=list)  # what was not read on this page, and why


def readable(text: str) -> bool:
    """Text an engine got right: some letters or digits, no NUL padding, few replacement characters."""
    if "\x00" in text or "(cid:" in text:
        return False
    letters = sum(c.isalnum() for c in text)
    return letters > 0 and text.count("\ufffd") < 0.2 * letters


def pages(path: str, max_pages: int) -> list[Page]:
    """The first `max_pages` pages, each read by PDFium with pdfplumber's tables and its text as the fallback."""
    import pdfplumber
    import pypdfium2

    out: list[Page] = []
    document = pypdfium2.PdfDocument(path, password="")
    try:
        with pdfplumber.open(path, password="") as plumbed:
            for number in range(min(max_pages, len(plumbed.pages))):
                plumber_page = plumbed.pages[number]
                pdfium_page = document[number]
                try:
                    out.append(_page(pdfium_page, plumber_page))
                finally:
                    pdfium_page.close()
                    plumber_page.close()
    finally:
        document.close()
    return out


def _page(pdfium_page: Any, plumber_page: Any) -> Page:
    crossings = _crossings(plumber_page)
    found = plumber_page.find_tables() if crossings <= MAX_CROSSINGS else []
    notes = [f"its ruled lines cross {crossings:,} times, over {MAX_CROSSINGS:,}: no table was searched for"] * (
        crossings > MAX_CROSSINGS
    )
    boxes = [t.bbox for t in found]
    textpage = pdfium_page.get_textpage()
    try:
        height = pdfium_page.get_height()
        lines = _pdfium_lines(textpage, height)
        if readable(" ".join(line.text for line in lines)):
            tables = [[[_cell(textpage, height, cell) for cell in row.cells] for row in t.rows] for t in found]
            return Page([ln for ln in lines if not _inside(ln, boxes)], tables, len(plumber_page.images), notes=notes)
    finally:
        textpage.close()
    outside = plumber_page.filter(lambda obj: not _inside_obj(obj, boxes))
    lines = [line for line in _plumber_lines(outside.extract_text_lines()) if readable(line.text)]
    tables = [[[" ".join((c or "").split()) for c in row] for row in t.extract()] for t in found]
    engine = "pdfplumber" if lines or any(any(c for c in row) for t in tables for row in t) else ""
    return Page(lines, tables, len(plumber_page.images), engine, notes)


def _crossings(plumber_page: Any) -> int:
    """How many crossings the table finder would search: distinct rows of horizontal rules times distinct columns of
    vertical ones (to 3 pt, its snapping distance), so a table drawn as one box per cell counts as its grid."""
    rows, columns = set(), set()
    for edge in plumber_page.edges:
        if edge.get("orientation") == "h":
            rows.add(round(float(edge["top"]) / 3))
        elif edge.get("orientation") == "v":
            columns.add(round(float(edge["x0"]) / 3))
    return len(rows) * len(columns)


def _pdfium_lines(textpage: Any, height: float) -> list[Line]:
    """PDFium's text split at its line breaks, each line with the box and the font size of its characters."""
    import pypdfium2.raw as pdfium_c

    count = min(textpage.count_chars(), MAX_PAGE_CHARS)
    if count <= 0:
        return []
    text = textpage.get_text_range(0, count)
    lines: list[Line] = []
    start = 0
    # PDFium numbers its characters as its text has them, generated spaces and line breaks included
    for match in [*re.finditer(r"\r\n|\r|\n", text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        if piece.strip() and end <= count:
            drawn = [i for i in range(start, end) if not text[i].isspace()][:400]
            boxes = [textpage.get_charbox(i) for i in drawn]  # (left, bottom, right, top), origin bottom left
            sizes = sorted(pdfium_c.FPDFText_GetFontSize(textpage.raw, i) for i in drawn)
            lines.append(
                Line(
                    text=" ".join(piece.split()),
                    size=round(sizes[len(sizes) // 2], 1) if sizes else 0.0,
                    top=height - max(b[3] for b in boxes),
                    bottom=height - min(b[1] for b in boxes),
                    x0=min(b[0] for b in boxes),
                    x1=max(b[2] for b in boxes),
                )
            )
        if match:
            start = match.end()
    return lines


def _cell(textpage: Any, height: float, box: tuple[float, float, float, float] | None) -> str:
    if box is None:
        return ""
    x0, top, x1, bottom = box
    return " ".join(str(textpage.get_text_bounded(x0, height - bottom, x1, height - top)).split())


def _plumber_lines(lines: list[dict[str, Any]]) -> list[Line]:
    return [
        Line(
            text=" ".join(str(line.get("text", "")).split()),
            size=round(line["chars"][0]["size"], 1),
            top=line["top"],
            bottom=line["bottom"],
            x0=line.get("x0", 0.0),
            x1=line.get("x1", 0.0),
        )
        for line in lines
        if line.get("chars")
    ]


def _inside(line: Line, boxes: list[tuple[float, float, float, float]]) -> bool:
    cx, cy = (line.x0 + line.x1) / 2, (line.top + line.bottom) / 2
    return any(x0 <= cx <= x1 and top <= cy <= bottom for x0, top, x1, bottom in boxes)


def _inside_obj(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    if "x0" not in obj or "top" not in obj:
        return False
    cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= cx <= x1 and top <= cy <= bottom for x0, top, x1, bottom in boxes)
