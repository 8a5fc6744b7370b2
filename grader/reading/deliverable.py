"""read the deliverable: a group's own report or slides (.pptx, .pdf, .docx, .md, .ipynb) -> one Document.

The Document is text with its structure: blocks in reading order, each saying where it came from ("slide 7",
"page 3", "cell 4", "line 12"), tables as rows of cells, and where the images are (a loss screenshot is an image:
it is counted and placed, never OCR'd). Every file is untrusted: a .pptx/.docx is a zip whose entry count and
uncompressed size are checked before it is opened; pages, slides and characters are capped; nothing embedded
(macros, OLE objects, external links) is ever run or followed; an encrypted or broken file is one clear message.
"""

from __future__ import annotations

import itertools
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.limits import DEFAULT_LIMITS, DataLimits
from grader.outputs.text import symbols
from grader.reading.student_files import read_text, safe_file
from grader.records import BlockKind, DocBlock, DocTable, Document, Problem

MAX_BYTES = 64 << 20  # a deck full of screenshots is tens of MB
MAX_ZIP_ENTRIES = 5_000
MAX_UNZIPPED = 512 << 20
MAX_RATIO = 200  # uncompressed / compressed for one entry: far above XML (~10-20), a zip bomb is 1,000+
MAX_PAGES = 150  # slides or pages read
MAX_CHARS = 400_000  # text kept over the whole document
# Caps applied while reading, so that what a file holds never becomes millions of objects first (a deck of 40,000
# shapes a slide, a notebook printing 4M lines, a 70,000-row table): beyond them the rest is not read, and said.
MAX_BLOCKS = 20_000  # paragraphs, table rows and output lines over the whole document
MAX_SHAPES_PER_SLIDE = 1_000  # a dense real slide has under 100
MAX_SHAPES = 20_000  # over the deck
MAX_TABLES = 300
MAX_TABLE_ROWS = 200  # per table: a Q&A table of 20 questions, a loss table of 100 steps
MAX_TABLE_COLUMNS = 40
MAX_OUTPUT_LINES = 200  # per notebook output: a training log printed every step
MAX_PART_BYTES = 32 << 20  # one slide's or the document's XML, unzipped: a real one is under 2 MB
# The formats read() reads, in the order a group is told them; discovery and every message take them from here, so a
# new format is added once.
FORMATS = (".pptx", ".pdf", ".docx", ".ipynb", ".md")


def formats_said() -> str:
    """The formats as a group is told them: a Markdown report is REPORT.md."""
    return ", ".join("REPORT.md" if ext == ".md" else ext for ext in FORMATS)


# README.md of GitHub Classroom's template, or the assignment's own text pasted in: not the group's report
TEMPLATE_MARKS = (
    re.compile(r"classroom\.github\.com/(assets|a/)", re.IGNORECASE),
    re.compile(r"Each group must analyze and explain the meaning and role of the following parameters", re.I),
)


class Unreadable(Exception):
    """The file cannot be read as a document; the message says why and what to do."""


@dataclass
class _Budget:
    """What one document may still add while it is read: its blocks and characters. Readers stop once it is spent
    (`full`); `cut` collects what they left unread, said in the document's notes."""

    blocks: int = 0
    chars: int = 0
    cut: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.blocks >= MAX_BLOCKS or self.chars > MAX_CHARS

    def add(self, blocks: list[DocBlock], block: DocBlock) -> None:
        if not self.full:
            blocks.append(block)
            self.blocks += 1
            self.chars += len(block.text)
        elif not any(c.startswith("the rest of the document") for c in self.cut):
            self.cut.append(
                f"the rest of the document was not read from {block.where} on (over {MAX_BLOCKS:,} "
                f"paragraphs or {MAX_CHARS:,} characters)"
            )

    def rows(
        self, rows: Iterable[Any], cells: Callable[[Any], Iterable[str]], where: str, total: int
    ) -> list[list[str]]:
        """A table's first MAX_TABLE_ROWS rows of at most MAX_TABLE_COLUMNS cells, read lazily."""
        kept = [
            [_clean(c) for c in itertools.islice(cells(row), MAX_TABLE_COLUMNS)]
            for row in itertools.islice(rows, MAX_TABLE_ROWS)
        ]
        if total > MAX_TABLE_ROWS:
            self.cut.append(f"{where}: only the first {MAX_TABLE_ROWS} of {total:,} table rows were read")
        return kept

    def notes(self) -> list[str]:
        return self.cut[:10] + ([f"and {len(self.cut) - 10} more cut like these"] if len(self.cut) > 10 else [])


def choose(deliverables: list[str]) -> list[str]:
    """The group's documents, most likely the deliverable first: slides and reports before notebooks and
    Markdown, REPORT.md before README.md, shallow before deep."""

    def rank(relative: str) -> tuple[int, int, int, str]:
        name = relative.rsplit("/", 1)[-1].lower()
        ext = Path(name).suffix
        readme = name == "readme.md"
        named = bool(re.search(r"report|week|group|slide|발표|보고", name))
        return (
            (FORMATS.index(ext) if ext in FORMATS else 9) + (2 if readme else 0),
            not named,
            relative.count("/"),
            name,
        )

    return sorted((d for d in deliverables if Path(d).suffix.lower() in FORMATS), key=rank)


def read(group_dir: Path, relative: str, problems: list[Problem]) -> Document | None:
    """The document, or None with a problem that says why it could not be read."""
    path = safe_file(group_dir, relative, problems)
    if path is None:
        return None
    size = path.stat().st_size
    if size > MAX_BYTES:
        problems.append(_problem(relative, f"is {size >> 20} MB, over the {MAX_BYTES >> 20} MB a deliverable may be"))
        return None
    ext = path.suffix.lower()
    readers: dict[str, Callable[[Path, str], Document]] = {
        ".pptx": _pptx,
        ".pdf": _pdf,
        ".docx": _docx,
        ".ipynb": _ipynb,
    }
    try:
        if ext == ".md":
            text = read_text(group_dir, relative, 1 << 20, problems, truncate=True)
            if text is None:
                return None
            document = markdown(text, relative)
        else:
            if ext in (".pptx", ".docx"):
                _check_zip(path)
            document = readers[ext](path, relative)
    except Unreadable as exc:
        problems.append(_problem(relative, str(exc)))
        return None
    except Exception as exc:  # a malformed file of any kind: the group gets a message, the batch goes on
        from grader.reading import sandbox

        if sandbox.exhausted():  # in a reader child, at its memory limit: the limit, not a broken file
            raise MemoryError from exc
        problems.append(_problem(relative, f"cannot be read as {ext[1:]} ({type(exc).__name__}: {str(exc)[:120]})"))
        return None
    return _capped(document, problems)


def _read_as_json(group_dir: str, relative: str) -> str:
    """`read` in a reader child (grader.reading.sandbox): the document and its problems as JSON text for the parent."""
    problems: list[Problem] = []
    document = read(Path(group_dir), relative, problems)
    return json.dumps(
        {
            "document": document.model_dump(mode="json") if document else None,
            "problems": [p.model_dump(mode="json") for p in problems],
        }
    )


def read_bounded(
    group_dir: Path, relative: str, problems: list[Problem], limits: DataLimits = DEFAULT_LIMITS
) -> Document | None:
    """`read` in its own process, stopped at the reader's memory and time limits: a deliverable that would take
    gigabytes costs its own items ("could not be read within 1024 MB / 60 s"), never the group or the batch."""
    from grader.reading import sandbox

    answer, why = sandbox.attempt(  # in-process where fork is not available, bounded by the group's time only
        _read_as_json, str(group_dir), relative, memory_mb=limits.reader_memory_mb, seconds=limits.reader_seconds
    )
    if answer is None:
        rest = "; every other part of the group is" if why.startswith("could not") else ""
        problems.append(_problem(relative, f"{why}: nothing in it is graded{rest}"))
        return None
    raw = json.loads(answer)
    problems += [Problem.model_validate(p) for p in raw["problems"]]
    return Document.model_validate(raw["document"]) if raw["document"] else None


def _problem(relative: str, message: str) -> Problem:
    return Problem(
        file=relative,
        severity="warning",
        code="deliverable",
        message=message,
        hint="hand in the report as .pptx or .pdf (not encrypted, under 64 MB)",
    )


def _check_zip(path: Path) -> None:
    """Refuse a zip bomb before anything expands it: entries, total size and ratio from the central directory."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise Unreadable(f"is not a valid Office file ({exc}); re-save it from PowerPoint or Word") from exc
    if len(infos) > MAX_ZIP_ENTRIES:
        raise Unreadable(f"has {len(infos)} parts inside, over {MAX_ZIP_ENTRIES}: refused unopened")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED:
        raise Unreadable(
            f"would expand to {total >> 20} MB, over {MAX_UNZIPPED >> 20} MB: refused unopened (zip bomb?)"
        )
    for info in infos:
        if info.file_size > MAX_PART_BYTES and re.fullmatch(r"(ppt/slides/slide\d+|word/document)\.xml", info.filename):
            raise Unreadable(
                f"part {info.filename} is {info.file_size >> 20} MB of XML, over {MAX_PART_BYTES >> 20} MB "
                "(a real slide or report is under 2 MB): refused unopened"
            )
        if info.flag_bits & 0x1:
            raise Unreadable("is encrypted (password-protected): hand in an unprotected copy")
        if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Unreadable(
                f"part {info.filename[:60]} expands {info.file_size // max(info.compress_size, 1)}x: "
                "refused unopened (zip bomb?)"
            )


def _capped(document: Document, problems: list[Problem]) -> Document:
    kept, used = [], 0
    for block in document.blocks:
        if used + len(block.text) > MAX_CHARS:
            problems.append(
                _problem(document.file, f"has over {MAX_CHARS:,} characters of text; the rest was not read")
            )
            break
        kept.append(block)
        used += len(block.text)
    return document.model_copy(update={"blocks": kept})


def _clean(text: str) -> str:
    """Control characters out; symbol-font bullets and arrows (private use area) as what they mean."""
    return symbols(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]", "", text)).strip()


def _pptx(path: Path, relative: str) -> Document:
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    prs = Presentation(str(path))
    blocks: list[DocBlock] = []
    tables: list[DocTable] = []
    images: list[str] = []
    unseen: list[str] = []
    budget = _Budget()
    slides = list(prs.slides)
    size = (prs.slide_width or 0, prs.slide_height or 0)
    shapes_read = 0
    for number, slide in enumerate(slides[:MAX_PAGES], start=1):
        where = f"slide {number}"
        if budget.full or shapes_read >= MAX_SHAPES:
            budget.cut.append(
                f"slides {number} to {min(len(slides), MAX_PAGES)} were not read (over {MAX_SHAPES:,} "
                f"shapes or {MAX_CHARS:,} characters before them)"
            )
            break
        title = slide.shapes.title
        background = _background(slide)
        n_shapes = len(slide.shapes)
        # a group's children sit in the group's coordinates
        on_slide = {shape.shape_id for shape in itertools.islice(slide.shapes, MAX_SHAPES_PER_SLIDE)}
        flat = list(itertools.islice(_flat(slide.shapes, MSO_SHAPE_TYPE.GROUP), MAX_SHAPES_PER_SLIDE + 1))
        if len(flat) > MAX_SHAPES_PER_SLIDE or n_shapes > MAX_SHAPES_PER_SLIDE:
            budget.cut.append(f"{where}: only its first {MAX_SHAPES_PER_SLIDE:,} shapes were read")
        for shape in flat[:MAX_SHAPES_PER_SLIDE]:
            shapes_read += 1
            why = _unseen_shape(slide, shape, size if shape.shape_id in on_slide else (0, 0))
            text = _shape_text(shape)
            if why is None and text and getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                why = _unseen_runs(shape, background)
            if why is not None:  # read, never credited: a viewer cannot see it
                if text:
                    unseen.append(f"{where}: {len(text.split())} words {why}")
                continue
            kind = shape.shape_type
            if kind == MSO_SHAPE_TYPE.PICTURE or (kind == MSO_SHAPE_TYPE.PLACEHOLDER and _is_picture(shape)):
                images.append(where)
            elif getattr(shape, "has_table", False) and shape.has_table:
                if len(tables) >= MAX_TABLES:
                    continue
                grid = shape.table
                rows = budget.rows(grid.rows, lambda row: (cell.text for cell in row.cells), where, len(grid.rows))
                tables.append(DocTable(where=where, rows=rows))
                for r in rows:
                    if any(r):
                        budget.add(blocks, DocBlock(text=" | ".join(r), where=where, kind="table"))
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                is_title = title is not None and shape.shape_id == title.shape_id
                for para in shape.text_frame.paragraphs:
                    text = _clean(para.text)
                    if text:
                        shown: BlockKind = "title" if is_title else "code" if _monospace(para.runs) else "text"
                        budget.add(blocks, DocBlock(text=text, where=where, kind=shown))
        if slide.has_notes_slide:
            said = _clean(slide.notes_slide.notes_text_frame.text if slide.notes_slide.notes_text_frame else "")
            if said:
                budget.add(blocks, DocBlock(text=said, where=f"{where} notes", kind="notes"))
    notes = [f"only the first {MAX_PAGES} of {len(slides)} slides were read"] if len(slides) > MAX_PAGES else []
    notes += budget.notes()
    if unseen:
        notes.append(
            f"{UNSEEN}: " + "; ".join(unseen[:20]) + (f"; and {len(unseen) - 20} more" if len(unseen) > 20 else "")
        )
    return Document(
        file=relative, format="pptx", pages=len(slides), blocks=blocks, tables=tables, images=images, notes=notes
    )


UNSEEN = "text a viewer cannot see is read but not credited"
MIN_VISIBLE_PT = 6  # smaller text is not something a group presents


def _shape_text(shape: Any) -> str:
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return str(shape.text_frame.text).strip()
    if getattr(shape, "has_table", False) and shape.has_table:
        return " ".join(cell.text for row in shape.table.rows for cell in row.cells).strip()
    return ""


def _unseen_shape(slide: Any, shape: Any, size: tuple[int, int]) -> str | None:
    """Why nobody sees this shape in a slide show: a hidden slide, or a shape wholly outside the slide."""
    if slide._element.get("show") in ("0", "false"):
        return "on a hidden slide"
    box = [v for name in ("left", "top", "width", "height") if isinstance(v := getattr(shape, name, None), int)]
    if len(box) < 4 or not all(size):
        return None  # a placeholder that inherits its place: where the layout puts it, on the slide
    left, top, width, height = box
    if left >= size[0] or top >= size[1] or left + width <= 0 or top + height <= 0:
        return "placed outside the slide"
    return None


def _unseen_runs(shape: Any, background: str | None) -> str | None:
    """Why the text of this box cannot be read: every run tiny (under 6 pt), or coloured like the slide behind it."""
    runs = [run for para in shape.text_frame.paragraphs for run in para.runs if run.text.strip()]
    if not runs:
        return None
    sizes = [run.font.size.pt for run in runs if run.font.size is not None]
    if len(sizes) == len(runs) and max(sizes) < MIN_VISIBLE_PT:
        return f"in {max(sizes):g}-pt text"
    colours = [_rgb(run.font.color) for run in runs]
    if background is not None and not _filled(shape) and all(c == background for c in colours):
        return "coloured like the slide's background"
    return None


def _filled(shape: Any) -> bool:
    """The shape paints its own fill (white text in a navy box is visible): only text without one shows the slide."""
    try:
        kind = shape.fill.type
    except (AttributeError, TypeError, NotImplementedError):
        return True  # cannot tell: never call its text unseen
    return kind is not None and int(kind) != 5  # 5: MSO_FILL_TYPE.BACKGROUND


def _rgb(color: Any) -> str | None:
    try:
        return str(color.rgb) if color is not None and color.type is not None and color.rgb is not None else None
    except (AttributeError, ValueError):
        return None


def _background(slide: Any) -> str | None:
    """The slide's background colour as RRGGBB where it is certain: a solid sRGB fill on the slide, its layout or its
    master; white where none of them sets one (PowerPoint's default); None for pictures, gradients, theme colours."""
    ns = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    for part in (slide, slide.slide_layout, slide.slide_layout.slide_master):
        bg = part._element.find(f"{ns}cSld/{ns}bg")
        if bg is None:
            continue
        fill = bg.find(f"{ns}bgPr/{drawing}solidFill/{drawing}srgbClr")
        if fill is not None:
            return str(fill.get("val")).upper()
        reference = bg.find(f"{ns}bgRef")  # the theme's plain background fill (idx 1001) in its bg1 colour
        scheme = reference.find(f"{drawing}schemeClr") if reference is not None else None
        plain = reference is not None and reference.get("idx") == "1001" and len(reference) == 1
        if plain and scheme is not None and scheme.get("val") == "bg1" and _stock_colour_map(slide):
            return _theme_light(slide.slide_layout.slide_master)
        return None
    return "FFFFFF"


def _stock_colour_map(slide: Any) -> bool:
    """bg1 is the theme's light 1 colour: the master maps bg1 to lt1 and neither the slide nor its layout overrides
    the map (a dark theme maps bg1 to dk1: then nothing is judged)."""
    ns = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    for part in (slide, slide.slide_layout):
        override = part._element.find(f"{ns}clrMapOvr")
        if override is not None and override.find(f"{drawing}masterClrMapping") is None:
            return False
    colour_map = slide.slide_layout.slide_master._element.find(f"{ns}clrMap")
    return colour_map is not None and colour_map.get("bg1") == "lt1"


def _theme_light(master: Any) -> str | None:
    """The theme's light 1 colour (lt1: a plain background), as RRGGBB."""
    from lxml import etree
    from pptx.opc.constants import RELATIONSHIP_TYPE

    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    try:
        theme = etree.fromstring(master.part.part_related_by(RELATIONSHIP_TYPE.THEME).blob)
    except (KeyError, ValueError, etree.XMLSyntaxError):
        return None
    light = theme.find(f".//{drawing}clrScheme/{drawing}lt1")
    if light is None or len(light) == 0:
        return None
    colour = light[0]
    value = colour.get("lastClr") if colour.tag == f"{drawing}sysClr" else colour.get("val")
    return value.upper() if value else None


MONOSPACE = re.compile(r"mono|courier|consolas|menlo|monaco|d2coding|code|fixed|typewriter", re.IGNORECASE)


def _monospace(runs: Any) -> bool:
    """A paragraph whose every run with text is set in a monospace font: code on a slide, not the group's prose."""
    fonts = [run.font.name for run in runs if run.text.strip()]
    return bool(fonts) and all(name is not None and MONOSPACE.search(name) for name in fonts)


def _flat(shapes: Any, group: Any, depth: int = 0) -> Any:
    """Shapes in reading order, grouped shapes included (nesting capped: a group inside a group inside ...)."""
    for shape in shapes:
        if shape.shape_type == group and depth < 16:
            yield from _flat(shape.shapes, group, depth + 1)
        else:
            yield shape


def _is_picture(shape: Any) -> bool:
    try:
        return shape.image is not None
    except (AttributeError, ValueError):
        return False


def _pdf(path: Path, relative: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from grader.reading import pdftext

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("is encrypted (password-protected): hand in an unprotected copy")
        n_pages = len(reader.pages)
    except PdfReadError as exc:
        raise Unreadable(f"is not a readable PDF ({str(exc)[:100]}); export it again") from exc
    blocks: list[DocBlock] = []
    tables: list[DocTable] = []
    images: list[str] = []
    budget = _Budget()
    read = pdftext.pages(str(path), MAX_PAGES)
    for number, page in enumerate(read, start=1):
        where = f"page {number}"
        for block in _paragraphs(page.lines, where):
            budget.add(blocks, block)
        for rows in page.tables[: max(MAX_TABLES - len(tables), 0)]:
            cleaned = budget.rows(rows, lambda row: row, where, len(rows))
            tables.append(DocTable(where=where, rows=cleaned))
            for r in cleaned:
                if any(r):
                    budget.add(blocks, DocBlock(text=" | ".join(r), where=where, kind="table"))
        budget.cut += [f"{where}: {note}" for note in page.notes]
        images.extend(where for _ in range(page.images))
    notes = [f"only the first {MAX_PAGES} of {n_pages} pages were read"] if n_pages > MAX_PAGES else []
    notes += _text_layer_notes(read) + budget.notes()
    return Document(
        file=relative, format="pdf", pages=n_pages, blocks=blocks, tables=tables, images=images, notes=notes
    )


def _text_layer_notes(read: list[Any]) -> list[str]:
    """Pages without a text layer said as such (a scan is not an empty report), and pages PDFium could not read."""
    blank = [n for n, page in enumerate(read, start=1) if not page.engine]
    scanned = [n for n in blank if read[n - 1].images]
    notes = []
    if scanned:
        which = "every page" if len(scanned) == len(read) else f"page{'s' if len(scanned) > 1 else ''} {_span(scanned)}"
        notes.append(
            f"no text layer on {which}: {len(scanned)} page{'s are' if len(scanned) > 1 else ' is an'} "
            f"image{'s' if len(scanned) > 1 else ''} (a scan?); grader does not read text inside images: "
            "export the PDF from the program that wrote it"
        )
    fallback = [n for n, page in enumerate(read, start=1) if page.engine == "pdfplumber"]
    if fallback:
        notes.append(f"page{'s' if len(fallback) > 1 else ''} {_span(fallback)} read by pdfplumber (PDFium read none)")
    return notes


def _span(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:8]) + (f" and {len(numbers) - 8} more" if len(numbers) > 8 else "")


def _paragraphs(lines: list[Any], where: str) -> list[DocBlock]:
    """PDF lines joined into paragraphs: a line continues the one above when it follows closely in the same size;
    a line in a larger size than the page's body text is a title."""
    sizes = [line.size for line in lines]
    body = max(set(sizes), key=sizes.count) if sizes else 0.0
    blocks: list[DocBlock] = []
    previous: Any = None
    for line in lines:
        text = _clean(line.text)
        if not text:
            continue
        height = max(line.bottom - line.top, 1.0)
        title = line.size > body * 1.1
        joined = (
            previous is not None
            and blocks
            and blocks[-1].kind == "text"
            and not title
            and previous.size == line.size
            and line.top - previous.bottom < 0.6 * height
        )
        if joined:
            blocks[-1] = blocks[-1].model_copy(update={"text": f"{blocks[-1].text} {text}"})
        else:
            blocks.append(DocBlock(text=text, where=where, kind="title" if title else "text"))
        previous = line
    return blocks


def _docx(path: Path, relative: str) -> Document:
    import docx

    doc = docx.Document(str(path))
    blocks: list[DocBlock] = []
    tables: list[DocTable] = []
    budget = _Budget()
    for number, para in enumerate(doc.paragraphs, start=1):
        if budget.full:
            break
        text = _clean(para.text)
        if text:
            style = (para.style.name or "").lower() if para.style is not None else ""
            heading = style.startswith(("heading", "title"))
            budget.add(blocks, DocBlock(text=text, where=f"paragraph {number}", kind="title" if heading else "text"))
    for number, table in enumerate(itertools.islice(doc.tables, MAX_TABLES), start=1):
        where = f"table {number}"
        rows = table.rows
        kept = budget.rows(rows, lambda row: (cell.text for cell in row.cells), where, len(rows))
        tables.append(DocTable(where=where, rows=kept))
        for r in kept:
            if any(r):
                budget.add(blocks, DocBlock(text=" | ".join(r), where=where, kind="table"))
    images = ["document" for _ in doc.inline_shapes]
    return Document(
        file=relative, format="docx", pages=0, blocks=blocks, tables=tables, images=images, notes=budget.notes()
    )


def _ipynb(path: Path, relative: str) -> Document:
    """Markdown cells and the text the code printed; the code itself is never run (and not the report)."""
    try:
        nb = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise Unreadable(f"is not a valid notebook (JSON: {str(exc)[:80]})") from exc
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise Unreadable("is not a Jupyter notebook (no 'cells' list)")
    blocks: list[DocBlock] = []
    images: list[str] = []
    budget = _Budget()
    for number, cell in enumerate(cells, start=1):
        if budget.full:
            budget.cut.append(
                f"cells {number} to {len(cells)} were not read (over {MAX_BLOCKS:,} paragraphs or "
                f"{MAX_CHARS:,} characters before them)"
            )
            break
        if not isinstance(cell, dict):
            continue
        where = f"cell {number}"
        if cell.get("cell_type") == "markdown":
            for block in markdown(_joined(cell.get("source"))[:MAX_CHARS], relative, where).blocks:
                budget.add(blocks, block)
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            data: dict[str, Any] = output["data"] if isinstance(output.get("data"), dict) else {}
            text = _joined(output.get("text")) or _joined(data.get("text/plain"))
            shown = 0
            for line in _lines(text):
                if shown >= MAX_OUTPUT_LINES or budget.full:
                    budget.cut.append(
                        f"{where} output: only its first {shown} of {text.count(chr(10)) + 1:,} lines were read"
                    )
                    break
                if _clean(line):
                    budget.add(blocks, DocBlock(text=_clean(line), where=f"{where} output", kind="output"))
                    shown += 1
            if any(str(k).startswith("image/") for k in data):
                images.append(where)
    return Document(file=relative, format="ipynb", pages=len(cells), blocks=blocks, images=images, notes=budget.notes())


def _lines(text: str) -> Iterator[str]:
    """The lines of a text one by one: splitlines() on a 12 MB output builds 4M strings before the first is read."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield text[start:end].rstrip("\r")
        start = end + 1


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def markdown(text: str, relative: str, where: str | None = None) -> Document:
    """Headings, paragraphs, list items and table rows, each with its line (or its notebook cell)."""
    blocks: list[DocBlock] = []
    tables: list[DocTable] = []
    rows: list[list[str]] = []
    paragraph: list[str] = []
    start = 0
    images = []
    budget = _Budget()

    def flush_paragraph() -> None:
        if paragraph:
            budget.add(blocks, DocBlock(text=_clean(" ".join(paragraph)), where=where or f"line {start}"))
            paragraph.clear()

    def flush_table() -> None:
        if rows:
            if len(tables) < MAX_TABLES:
                tables.append(DocTable(where=where or f"line {start}", rows=rows[:MAX_TABLE_ROWS]))
            if len(rows) > MAX_TABLE_ROWS:
                budget.cut.append(
                    f"line {start}: only the first {MAX_TABLE_ROWS} of {len(rows):,} table rows were read"
                )
            rows.clear()

    fence = ""
    for number, line in enumerate(
        text.splitlines(), start=1
    ):  # a .md is read up to 1 MB; a notebook cell's to MAX_CHARS
        if budget.full:
            budget.cut.append(
                f"the rest was not read from line {number} on "
                f"(over {MAX_BLOCKS:,} paragraphs or {MAX_CHARS:,} characters)"
            )
            break
        stripped = line.strip()
        if fence or stripped.startswith(("```", "~~~")):  # a fenced block is code: kept, never read as prose
            flush_paragraph()
            flush_table()
            if not fence:
                fence = stripped[:3]
            elif stripped.startswith(fence):
                fence = ""
            elif stripped:
                budget.add(blocks, DocBlock(text=_clean(stripped), where=where or f"line {number}", kind="code"))
            continue
        if re.match(r"!\[[^\]]*\]\(", stripped):
            images.append(where or f"line {number}")
        if stripped.startswith("|"):
            flush_paragraph()
            cells = [_clean(c) for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                if not rows:
                    start = number
                rows.append(cells[:MAX_TABLE_COLUMNS] if len(rows) < MAX_TABLE_ROWS else [])
                if len(rows) <= MAX_TABLE_ROWS:
                    budget.add(blocks, DocBlock(text=" | ".join(cells), where=where or f"line {number}", kind="table"))
            continue
        flush_table()
        heading = re.match(r"#{1,6}\s+(.*)", stripped)
        item = re.match(r"([-*+]|\d+[.)])\s+(.*)", stripped)
        if heading or item or not stripped:
            flush_paragraph()
            if heading:
                budget.add(
                    blocks, DocBlock(text=_clean(heading.group(1)), where=where or f"line {number}", kind="title")
                )
            elif item:  # the marker stays: a quoted section renders as the list it was
                budget.add(blocks, DocBlock(text=_clean(stripped), where=where or f"line {number}"))
            continue
        if not paragraph:
            start = number
        paragraph.append(stripped)
    flush_paragraph()
    flush_table()
    return Document(
        file=relative,
        format="md",
        pages=0,
        blocks=[b for b in blocks if b.text],
        tables=tables,
        images=images,
        notes=budget.notes(),
    )


def is_template(document: Document) -> str | None:
    """Why this README is not the group's report (GitHub Classroom's template, the assignment's text), or None."""
    text = "\n".join(b.text for b in document.blocks)
    words = len(re.findall(r"\w+", text))
    raw = document.file.rsplit("/", 1)[-1].lower()
    if raw != "readme.md":
        from grader.reading.parta import ASSIGNMENT

        said = [b for b in document.blocks if b.kind != "title"]
        pasted = sum(bool(ASSIGNMENT.search(b.text)) for b in said)
        if TEMPLATE_MARKS[1].search(text) and pasted >= max(4, len(said) // 2):
            return f"it is the assignment's own text: {pasted} of its {len(said)} paragraphs are its questions"
        return None
    if TEMPLATE_MARKS[1].search(text):
        return "it is the assignment's own text, not the group's answers"
    if TEMPLATE_MARKS[0].search(text) and words < 80:
        return "it is GitHub Classroom's template README"
    if words < 25:
        return f"it has only {words} words"
    return None


def images_said(document: Document) -> str:
    """'3 images on slides 4-5' (loss screenshots are images: counted, never OCR'd)."""
    if not document.images:
        return "no images"
    places = sorted({int(m.group(1)) for w in document.images if (m := re.search(r"(\d+)", w))})
    unit = document.images[0].split(" ")[0] if document.images[0][0].isalpha() else "place"
    n = len(document.images)
    if not places:
        return f"{n} image{'s' if n > 1 else ''}"
    span = f"{places[0]}" if len(places) == 1 else f"{places[0]}-{places[-1]}"
    plural = "s" if len(places) > 1 else ""
    return f"{n} image{'s' if n > 1 else ''} on {unit}{plural} {span}"
