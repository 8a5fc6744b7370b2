"""deck: the slide layout helper under grader.slides (title, flowing text, tables, a picture, footers).

Text never runs off a slide because it is measured before it is placed: every line is wrapped with the real
advance widths of DejaVu Sans (the template's font, shipped with matplotlib; Hangul and Han count one em), every
paragraph has a fixed line pitch, and what does not fit continues on a next slide. Text boxes do not auto-fit,
so what a viewer shows is what was measured. The saved zip has fixed timestamps: same inputs, same bytes.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from grader.layout import templates_dir
from grader.storage import write_atomic
from grader.text import clean_text

TITLE_PT, BODY_PT, TABLE_PT, FOOT_PT = 28, 16, 11, 9
PITCH = 1.25  # line pitch in em, set on every paragraph: heights are exact, whatever the font's own metrics
INSET = 0.06 * 72  # text-box inset on every side, points
SLACK = 0.95  # wrap at 95% of the box: room for kerning and a viewer's substitute font
BULLET = 0.22 * 72  # hanging indent of a bulleted paragraph, points
FOOTER = 0.45 * 72  # band at the bottom kept for the footer, points
EMU = 12700  # per point
ACCENT, INK, MUTED, RED, GREEN, SHADE = "1F5F8B", "1D2731", "6C7A89", "C0392B", "2E8B57", "EEF3F7"
_IDEOGRAPH = re.compile(r"([\u2e80-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uff60])")  # breaks anywhere


@cache
def _font(bold: bool) -> Any:
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path(), "fonts", "ttf", name)), 100)


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of one line of text at `size` points."""
    wide = sum(_wide(c) for c in text)
    narrow = "".join(c for c in text if not _wide(c)) if wide else text
    return (wide * 100 + float(_font(bold).getlength(narrow))) * size / 100


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """Greedy line breaking at spaces (and anywhere in Chinese/Japanese), as a text renderer does.

    Each line keeps the space it broke at, so `"".join(lines)` is the text with its whitespace collapsed.
    """
    limit = width * SLACK
    lines: list[str] = []
    line = ""
    for word in text.split():
        for i, piece in enumerate(p for p in _IDEOGRAPH.split(word) if p):
            joined = f"{line} {piece}" if line and i == 0 else line + piece
            if text_width(joined, size, bold) <= limit:
                line = joined
                continue
            if line:
                lines.append(line + " " if i == 0 else line)
            line = piece
            while len(line) > 1 and text_width(line, size, bold) > limit:  # a word wider than the box breaks anywhere
                cut = _fit(line, limit, size, bold)
                lines.append(line[:cut])
                line = line[cut:]
    if line or not lines:
        lines.append(line)
    return lines


def _fit(text: str, limit: float, size: float, bold: bool) -> int:
    low, high = 1, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(text[:mid], size, bold) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class Para:
    text: str
    size: float = BODY_PT
    bold: bool = False
    bullet: bool = False
    color: str = INK
    before: float = 4.0  # space before, points
    align: str = "left"

    def lines(self, width: float) -> list[str]:
        return wrap(self.text, width - (BULLET if self.bullet else 0), self.size, self.bold)

    def height(self, n_lines: int) -> float:
        return self.before + n_lines * self.size * PITCH


@dataclass(frozen=True)
class Box:
    left: float  # points
    top: float
    width: float
    height: float

    @property
    def inner_width(self) -> float:
        return self.width - 2 * INSET

    @property
    def inner_height(self) -> float:
        return self.height - 2 * INSET


class Deck:
    """A deck on the template: slides with a title and measured content in the area below it."""

    def __init__(self, template: Path | None = None) -> None:
        from pptx import Presentation

        self.prs = Presentation(str(template or templates_dir() / "slides.pptx"))
        layouts = {layout.name: layout for layout in self.prs.slide_layouts}
        missing = {"Title Slide", "Title Only"} - set(layouts)
        if missing:
            raise ValueError(f"slide template has no layout named {', '.join(sorted(missing))}")
        self.cover, self.titled = layouts["Title Slide"], layouts["Title Only"]
        self.width, self.height = int(self.prs.slide_width or 0) / EMU, int(self.prs.slide_height or 0) / EMU
        title = self.titled.placeholders[0]
        top = (title.top + title.height) / EMU + 6
        self.area = Box(title.left / EMU, top, title.width / EMU, self.height - FOOTER - top)
        self.title_box = Box(title.left / EMU, title.top / EMU, title.width / EMU, title.height / EMU)

    def slide(self, title: str) -> Any:
        slide = self.prs.slides.add_slide(self.titled)
        size = TITLE_PT
        while size > 18 and text_width(title, size, True) > self.title_box.inner_width * SLACK:
            size -= 2
        frame = slide.shapes.title.text_frame
        self._paragraphs(
            frame, [Para(_one_line(title, self.title_box.inner_width, size), size, True, color=ACCENT, before=0)]
        )
        return slide

    def title_slide(self, title: str, lines: list[str], note: str = "") -> None:
        slide = self.prs.slides.add_slide(self.cover)
        heading, sub = slide.placeholders[0], slide.placeholders[1]
        width = heading.width / EMU - 2 * INSET
        self._paragraphs(heading.text_frame, [Para(_one_line(title, width, 36), 36, True, color=ACCENT, before=0)])
        from pptx.enum.text import MSO_ANCHOR

        heading.text_frame.vertical_anchor = MSO_ANCHOR.BOTTOM  # the name sits right above its subtitle
        sub_box = Box(sub.left / EMU, sub.top / EMU, sub.width / EMU, sub.height / EMU)
        wanted = [Para(line, 16, color=MUTED, before=2) for line in lines]
        if note:  # smaller, so that it always fits under the facts
            wanted.append(Para(note, 11, color=RED, before=8))
        paras = _fill(wanted, sub_box)[0]
        self._paragraphs(sub.text_frame, paras)

    def box(self, slide: Any, box: Box, paras: list[Para], fill: str | None = None) -> None:
        from pptx.dml.color import RGBColor
        from pptx.util import Emu

        shape = slide.shapes.add_textbox(
            Emu(round(box.left * EMU)),
            Emu(round(box.top * EMU)),
            Emu(round(box.width * EMU)),
            Emu(round(box.height * EMU)),
        )
        if fill:
            shape.fill.solid()
            shape.fill.fore_color.rgb = RGBColor.from_string(fill)
        self._paragraphs(shape.text_frame, paras)

    def _paragraphs(self, frame: Any, paras: list[Para]) -> None:
        from pptx.dml.color import RGBColor
        from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
        from pptx.util import Pt

        frame.word_wrap = True
        frame.auto_size = MSO_AUTO_SIZE.NONE
        frame.vertical_anchor = MSO_ANCHOR.TOP
        frame.margin_left = frame.margin_right = frame.margin_top = frame.margin_bottom = Pt(INSET)
        for i, para in enumerate(paras):
            paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            paragraph.line_spacing = Pt(para.size * PITCH)
            paragraph.space_before, paragraph.space_after = Pt(para.before), Pt(0)
            _bullet(paragraph, para.bullet)
            paragraph.alignment = {"left": PP_ALIGN.LEFT, "right": PP_ALIGN.RIGHT}[para.align]
            run = paragraph.add_run()
            run.text = para.text
            run.font.size, run.font.bold = Pt(para.size), para.bold
            run.font.color.rgb = RGBColor.from_string(para.color)

    def flow(self, title: str, paras: list[Para]) -> None:
        """Paragraphs under a title; what does not fit goes on continuation slides."""
        pages = _fill(paras, self.area)
        for n, page in enumerate(pages):
            self.box(self.slide(_numbered(title, n, len(pages))), self.area, page)

    def grid(self, title: str, columns: list[tuple[str, float]], rows: list[list[Para]]) -> None:
        """A table of measured text cells; rows pack onto slides, a row too tall for one continues on the next."""
        total = sum(share for _, share in columns)
        widths = [self.area.width * share / total for _, share in columns]
        header = [Para(name, TABLE_PT, True, color=ACCENT, before=0) for name, _ in columns]
        header_h = _row_height(header, widths)
        pages: list[list[tuple[list[Para], float]]] = [[]]
        full = self.area.height - header_h
        room, queue = full, list(rows)
        while queue:
            row = queue.pop(0)
            height = _row_height(row, widths)
            # a row that fits a slide stays whole; a taller one starts here if a third of the slide is free
            if height > room and pages[-1] and (height <= full or room < full / 3):
                pages.append([])
                room = full
            if height > room:
                row, rest = _split_row(row, widths, room)
                if rest:
                    queue.insert(0, rest)
                height = _row_height(row, widths)
            pages[-1].append((row, height))
            room -= height
        for n, page in enumerate(pages):
            slide = self.slide(_numbered(title, n, len(pages)))
            top = self.area.top
            for k, (cells, height) in enumerate([(header, header_h), *page]):
                left = self.area.left
                for cell, width in zip(cells, widths, strict=True):
                    self.box(slide, Box(left, top, width, height), [cell], SHADE if k == 0 or k % 2 == 0 else None)
                    left += width
                top += height

    def picture(self, title: str, image: Path, caption: str) -> None:
        from PIL import Image
        from pptx.util import Emu

        slide = self.slide(title)
        caption_para = Para(caption, TABLE_PT + 1, color=MUTED, before=0)
        caption_h = 2 * INSET + caption_para.height(len(caption_para.lines(self.area.inner_width)))
        with Image.open(image) as img:
            aspect = img.height / img.width
        width = min(self.area.width, (self.area.height - caption_h) / aspect)
        left = self.area.left + (self.area.width - width) / 2
        slide.shapes.add_picture(
            str(image), Emu(round(left * EMU)), Emu(round(self.area.top * EMU)), width=Emu(round(width * EMU))
        )
        top = self.area.top + width * aspect
        self.box(slide, Box(self.area.left, top, self.area.width, caption_h), [caption_para])

    def footers(self, left_text: str) -> None:
        """Group name and slide number on every slide but the cover, in the band kept free for them."""
        slides = list(self.prs.slides)
        half, top = self.area.width / 2, self.height - FOOTER + 6
        left = Para(_one_line(left_text, half - 2 * INSET, FOOT_PT), FOOT_PT, color=MUTED, before=0)
        for n, slide in enumerate(slides[1:], start=2):
            self.box(slide, Box(self.area.left, top, half, FOOTER - 8), [left])
            number = Para(f"{n} / {len(slides)}", FOOT_PT, color=MUTED, before=0, align="right")
            self.box(slide, Box(self.area.left + half, top, half, FOOTER - 8), [number])

    def save(self, path: Path, when: datetime) -> None:
        props = self.prs.core_properties
        props.author = props.last_modified_by = "grader"
        props.created = props.modified = when
        props.revision = 1
        save_reproducibly(self.prs, path)


def save_reproducibly(prs: Any, path: Path) -> None:
    """Save with every zip entry stamped 1980-01-01: python-pptx stamps them with the current time."""
    raw = io.BytesIO()
    prs.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    write_atomic(path, out.getvalue())


def _bullet(paragraph: Any, on: bool) -> None:
    """A hanging bullet, or explicitly none (placeholders would otherwise inherit the template's)."""
    ppr = paragraph._p.get_or_add_pPr()
    for old in ppr.findall("{http://schemas.openxmlformats.org/drawingml/2006/main}bu*"):
        ppr.remove(old)
    a = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    if on:
        ppr.set("marL", str(round(BULLET * EMU)))
        ppr.set("indent", str(-round(BULLET * EMU)))
        ppr.append(ppr.makeelement(f"{a}buChar", {"char": "•"}))
    else:
        ppr.set("marL", "0")
        ppr.set("indent", "0")
        ppr.append(ppr.makeelement(f"{a}buNone", {}))
    # schema order: lnSpc, spcBef, spcAft come before the bullet elements
    for tag in ("spcAft", "spcBef", "lnSpc"):
        element = ppr.find(f"{a}{tag}")
        if element is not None:
            ppr.remove(element)
            ppr.insert(0, element)


def _one_line(text: str, width: float, size: float) -> str:
    text = " ".join(clean_text(text).split())
    if text_width(text, size, True) <= width * SLACK:
        return text
    return text[: max(1, _fit(text, width * SLACK - text_width("…", size, True), size, True))].rstrip() + "…"


def _numbered(title: str, n: int, count: int) -> str:
    return title if count == 1 else f"{title} ({n + 1}/{count})"


def _fill(paras: list[Para], box: Box) -> list[list[Para]]:
    """Paragraphs into pages of `box`; a paragraph that does not fit is split at a line and continues."""
    pages: list[list[Para]] = [[]]
    room = box.inner_height
    queue = list(paras)
    while queue:
        para = queue.pop(0)
        lines = para.lines(box.inner_width)
        fits = int((room - para.before) // (para.size * PITCH))
        if fits >= len(lines):
            pages[-1].append(para)
            room -= para.height(len(lines))
            continue
        if fits >= 2 or (fits >= 1 and not pages[-1]):
            pages[-1].append(replace(para, text="".join(lines[:fits]).rstrip()))
            queue.insert(0, replace(para, text="".join(lines[fits:]), bullet=False, before=0))
        elif not pages[-1]:  # not even one line fits an empty page: the box is too small for this size
            raise ValueError(f"text box of {box.inner_height:.0f} pt cannot hold a {para.size} pt line")
        else:
            queue.insert(0, para)
        pages.append([])
        room = box.inner_height
    return [page for page in pages if page] or [[]]


def _row_height(row: list[Para], widths: list[float]) -> float:
    return max(2 * INSET + cell.height(len(cell.lines(w - 2 * INSET))) for cell, w in zip(row, widths, strict=True))


def _split_row(row: list[Para], widths: list[float], room: float) -> tuple[list[Para], list[Para] | None]:
    """The lines of each cell that fit in `room`, and the rest of the row (None when nothing is left)."""
    head, rest, left = [], [], False
    for cell, width in zip(row, widths, strict=True):
        lines = cell.lines(width - 2 * INSET)
        keep = int((room - 2 * INSET - cell.before) // (cell.size * PITCH))
        if keep < 1:
            raise ValueError(f"a table row of {room:.0f} pt cannot hold a {cell.size} pt line")
        head.append(replace(cell, text="".join(lines[:keep]).rstrip()))
        rest.append(replace(cell, text="".join(lines[keep:])))
        left = left or len(lines) > keep
    if not left:
        return head, None
    rest[0] = replace(rest[0], text=f"{rest[0].text} (cont.)".strip())
    return head, rest
