"""deck: the slide layout helper under grader.outputs.slides (title, text, rows, pictures, speaker notes, footers).

A slide holds what reads from across a room: body text 14 pt or more, titles 24 pt or more. Text never runs off a
slide because it is measured before it is placed: every line is wrapped with the advance widths of DejaVu Sans
(shipped with matplotlib; Hangul and Han count one em), which is wider than Arial, the typeface the deck asks for,
so a viewer with Arial (or Liberation Sans, or Helvetica) shows every line with room to spare. Every paragraph has
a fixed line pitch and text boxes do not auto-fit, so what a viewer shows is what was measured. A slide is one
slide: what does not fit is cut at a whole paragraph and the slide says where the rest is (its speaker notes, the
PDF report), never continued on a slide of its own. The saved zip has fixed timestamps: same inputs, same bytes.
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
from grader.outputs.text import clean_text
from grader.storage import write_atomic

TITLE_PT, MIN_TITLE_PT, BODY_PT, SMALL_PT, FOOT_PT = 28, 24, 18, 14, 14  # SMALL_PT is the smallest size used
PITCH = 1.25  # line pitch in em, set on every paragraph: heights are exact, whatever the font's own metrics
INSET = 0.06 * 72  # text-box inset on every side, points
SLACK = 0.95  # wrap at 95% of the box: room for kerning and a viewer's substitute font
BULLET = 0.22 * 72  # hanging indent of a bulleted paragraph, points
FOOTER = 0.5 * 72  # band at the bottom kept for the footer, points
GAP = 0.2 * 72  # between two columns, points
EMU = 12700  # per point
ACCENT, INK, MUTED, RED, GREEN, SHADE = "1F5F8B", "1D2731", "6C7A89", "C0392B", "2E8B57", "EEF3F7"
# The typefaces every run asks for (the template's theme names the same): Arial, which PowerPoint, Keynote, Google
# Slides and LibreOffice (as metric-compatible Liberation Sans) all have; Malgun Gothic, Windows' and Office's
# Korean font, for Hangul. Its panose and Hangul charset let a viewer without it substitute a Korean Gothic
# (Apple SD Gothic Neo, NanumGothic, Noto Sans CJK KR: LibreOffice's own substitution list names them).
LATIN = ("Arial", "020B0604020202020204", "34", "0")  # typeface, panose, pitchFamily, charset
EAST_ASIAN = ("Malgun Gothic", "020B0503020000020004", "50", "-127")
_IDEOGRAPH = re.compile(r"([\u2e80-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uff60])")  # breaks anywhere
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"


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
    before: float = 6.0  # space before, points
    align: str = "left"

    def lines(self, width: float) -> list[str]:
        return wrap(self.text, width - (BULLET if self.bullet else 0), self.size, self.bold)

    def height(self, n_lines: int) -> float:
        return self.before + n_lines * self.size * PITCH


def clip(para: Para, width: float, max_lines: int) -> Para:
    """`para` cut at a word to at most `max_lines` lines of `width`, ending in "…" where something was cut."""
    lines = para.lines(width)
    if len(lines) <= max_lines:
        return para
    words = "".join(lines[:max_lines]).split()
    while words and len(replace(para, text=" ".join(words) + "…").lines(width)) > max_lines:
        words.pop()
    return replace(para, text=" ".join(words).rstrip(",;:–-") + "…")


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

    def split(self, share: float) -> tuple[Box, Box]:
        """Two columns side by side, the left one `share` of the width."""
        left = (self.width - GAP) * share
        return replace(self, width=left), replace(self, left=self.left + left + GAP, width=self.width - left - GAP)


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

    def slide(self, title: str, notes: str = "") -> Any:
        slide = self.prs.slides.add_slide(self.titled)
        size = TITLE_PT
        while size > MIN_TITLE_PT and text_width(title, size, True) > self.title_box.inner_width * SLACK:
            size -= 2
        frame = slide.shapes.title.text_frame
        self._paragraphs(
            frame, [Para(_one_line(title, self.title_box.inner_width, size), size, True, color=ACCENT, before=0)]
        )
        if notes:
            self.notes(slide, notes)
        return slide

    def title_slide(self, title: str, lines: list[str], note: str = "", notes: str = "") -> None:
        from pptx.enum.text import MSO_ANCHOR

        slide = self.prs.slides.add_slide(self.cover)
        heading, sub = slide.placeholders[0], slide.placeholders[1]
        width = heading.width / EMU - 2 * INSET
        self._paragraphs(heading.text_frame, [Para(_one_line(title, width, 36), 36, True, color=ACCENT, before=0)])
        heading.text_frame.vertical_anchor = MSO_ANCHOR.BOTTOM  # the name sits right above its subtitle
        sub_box = Box(sub.left / EMU, sub.top / EMU, sub.width / EMU, sub.height / EMU)
        wanted = [Para(line, BODY_PT, color=MUTED, before=2) for line in lines]
        self._paragraphs(sub.text_frame, fit(wanted, sub_box, "the speaker notes"))
        if note:  # its own box under the facts: the subtitle has room for them only
            top = sub_box.top + sub_box.height
            below = Box(sub_box.left, top, sub_box.width, self.height - FOOTER - top)
            self.box(slide, below, fit([Para(note, SMALL_PT + 2, color=RED, before=0)], below, "the speaker notes"))
        if notes:
            self.notes(slide, notes)

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
            paragraph.alignment = getattr(PP_ALIGN, para.align.upper())  # left, center, right
            _run(paragraph, para.text, para.size, para.bold, para.color)

    def notes(self, slide: Any, text: str) -> None:
        """The speaker notes: where the full text of what the slide shortened is kept."""
        frame = slide.notes_slide.notes_text_frame
        for i, line in enumerate(clean_text(text).splitlines() or [""]):
            paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            _run(paragraph, line, SMALL_PT, False, INK)

    def text(self, title: str, paras: list[Para], notes: str = "", rest: str = "the speaker notes") -> None:
        """One slide of paragraphs; what does not fit is left to `rest`, and the slide says so."""
        self.box(self.slide(title, notes), self.area, fit(paras, self.area, rest))

    def rows(self, title: str, columns: list[tuple[str, float]], rows: list[list[list[Para]]], notes: str = "") -> None:
        """A table on one slide: a header and rows of cells, each cell a few paragraphs. The caller sizes the rows
        to fit (a few per slide); rows that still do not fit are left to the speaker notes, and the slide says so."""
        total = sum(share for _, share in columns)
        widths = [self.area.width * share / total for _, share in columns]
        header = [[Para(name, SMALL_PT, True, color=ACCENT, before=0)] for name, _ in columns]
        more = Para("More rows in the speaker notes.", SMALL_PT, color=MUTED, before=0)
        more_h = 2 * INSET + more.height(1)
        slide = self.slide(title, notes)
        top, bottom = self.area.top, self.area.top + self.area.height + 0.5
        for k, cells in enumerate([header, *rows]):
            height = max(_cell_height(cell, w) for cell, w in zip(cells, widths, strict=True))
            last = k == len(rows)
            if top + height > (bottom if last else bottom - more_h):
                self.box(slide, Box(self.area.left, top, self.area.width, more_h), [more])
                return
            left = self.area.left
            for cell, width in zip(cells, widths, strict=True):
                self.box(slide, Box(left, top, width, height), cell, SHADE if k % 2 == 0 else None)
                left += width
            top += height

    def picture(self, title: str, image: Path | bytes, paras: list[Para], notes: str = "", beside: float = 0.0) -> None:
        """A picture with text: below it, or (`beside` > 0) in a left column of that share of the width."""
        from PIL import Image
        from pptx.util import Emu

        slide = self.slide(title, notes)
        source: Any = io.BytesIO(image) if isinstance(image, bytes) else str(image)
        with Image.open(source) as img:
            aspect = img.height / img.width
        if beside:
            column, room = self.area.split(beside)
            self.box(slide, column, fit(paras, column, "the speaker notes"))
        else:
            shown = fit(paras, replace(self.area, height=self.area.height / 2), "the speaker notes")
            text_h = 2 * INSET + sum(p.height(len(p.lines(self.area.inner_width))) for p in shown)
            room = replace(self.area, top=self.area.top + self.area.height - text_h, height=text_h)
            self.box(slide, room, shown)
            room = replace(self.area, height=self.area.height - text_h)
        width = min(room.width, room.height / aspect)
        left = room.left + (room.width - width) / 2
        top = room.top + (room.height - width * aspect) / 2 if beside else room.top
        if isinstance(source, io.BytesIO):
            source.seek(0)
        slide.shapes.add_picture(source, Emu(round(left * EMU)), Emu(round(top * EMU)), width=Emu(round(width * EMU)))

    def footers(self, left_text: str) -> None:
        """Group name and slide number on every slide but the cover, in the band kept free for them."""
        slides = list(self.prs.slides)
        half, top = self.area.width / 2, self.height - FOOTER + 2
        left = Para(_one_line(left_text, half - 2 * INSET, FOOT_PT), FOOT_PT, color=MUTED, before=0)
        for n, slide in enumerate(slides[1:], start=2):
            self.box(slide, Box(self.area.left, top, half, FOOTER - 4), [left])
            number = Para(f"{n} / {len(slides)}", FOOT_PT, color=MUTED, before=0, align="right")
            self.box(slide, Box(self.area.left + half, top, half, FOOTER - 4), [number])

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


def typeface(rpr: Any) -> None:
    """Ask for the deck's Latin and East Asian typefaces in a run's properties (after its fill: schema order)."""
    for tag in ("latin", "ea"):
        for old in rpr.findall(f"{A}{tag}"):
            rpr.remove(old)
    for tag, (name, panose, pitch, charset) in (("latin", LATIN), ("ea", EAST_ASIAN)):
        attrs = {"typeface": name, "panose": panose, "pitchFamily": pitch, "charset": charset}
        element = rpr.makeelement(f"{A}{tag}", attrs)
        later = [c for c in rpr if c.tag in (f"{A}cs", f"{A}sym", f"{A}hlinkClick", f"{A}hlinkMouseOver", f"{A}rtl")]
        if later:
            later[0].addprevious(element)
        else:
            rpr.append(element)


def _run(paragraph: Any, text: str, size: float, bold: bool, color: str) -> None:
    from pptx.dml.color import RGBColor
    from pptx.util import Pt

    run = paragraph.add_run()
    run.text = text
    run.font.size, run.font.bold = Pt(size), bold
    run.font.color.rgb = RGBColor.from_string(color)
    rpr = run._r.get_or_add_rPr()
    typeface(rpr)
    if HANGUL.search(text):  # the language tells PowerPoint to lay the run out with its Korean font
        rpr.set("lang", "ko-KR")
        rpr.set("altLang", "en-US")


def _bullet(paragraph: Any, on: bool) -> None:
    """A hanging bullet, or explicitly none (placeholders would otherwise inherit the template's)."""
    ppr = paragraph._p.get_or_add_pPr()
    for old in ppr.findall(f"{A}bu*"):
        ppr.remove(old)
    if on:
        ppr.set("marL", str(round(BULLET * EMU)))
        ppr.set("indent", str(-round(BULLET * EMU)))
        ppr.append(ppr.makeelement(f"{A}buChar", {"char": "•"}))
    else:
        ppr.set("marL", "0")
        ppr.set("indent", "0")
        ppr.append(ppr.makeelement(f"{A}buNone", {}))
    # schema order: lnSpc, spcBef, spcAft come before the bullet elements
    for tag in ("spcAft", "spcBef", "lnSpc"):
        element = ppr.find(f"{A}{tag}")
        if element is not None:
            ppr.remove(element)
            ppr.insert(0, element)


def _one_line(text: str, width: float, size: float) -> str:
    text = " ".join(clean_text(text).split())
    if text_width(text, size, True) <= width * SLACK:
        return text
    return text[: max(1, _fit(text, width * SLACK - text_width("…", size, True), size, True))].rstrip() + "…"


def _cell_height(cell: list[Para], width: float) -> float:
    return 2 * INSET + sum(p.height(len(p.lines(width - 2 * INSET))) for p in cell)


def fit(paras: list[Para], box: Box, rest: str) -> list[Para]:
    """The paragraphs that fit `box`, whole. When some do not, the last ones make room for a line saying the rest
    is in `rest`; a first paragraph too long for the box on its own is clipped with "…" rather than lost."""
    room = box.inner_height
    heights = [p.height(len(p.lines(box.inner_width))) for p in paras]
    if sum(heights) <= room:
        return paras
    more = Para(f"More in {rest}.", SMALL_PT, color=MUTED, before=8)
    room -= more.height(len(more.lines(box.inner_width)))
    kept: list[Para] = []
    for para, height in zip(paras, heights, strict=True):
        if height > room:
            lines = int((room - para.before) // (para.size * PITCH))
            if not kept and lines >= 1:
                kept.append(clip(para, box.inner_width, lines))
            break
        kept.append(para)
        room -= height
    if not kept:
        raise ValueError(f"text box of {box.inner_height:.0f} pt cannot hold a line of the text")
    return [*kept, more]
