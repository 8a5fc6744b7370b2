"""Builds `templates/slides.pptx`, the deck template: `python -m tools.slides_template [PATH]`.

The template is a committed asset (an instructor may restyle it in PowerPoint); this script is how it was made,
so a change to its look is a reviewable diff here rather than an opaque binary edit. It starts from python-pptx's
default template and makes it 16:9, sets the theme's fonts to those every run of the deck asks for (grader.outputs.deck:
Arial, and Malgun Gothic for East Asian text and for Hangul), its colours, styles titles, and adds an accent bar to
the master.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC
from pathlib import Path

from grader.layout import templates_dir
from grader.outputs.deck import EAST_ASIAN, LATIN

WIDTH, HEIGHT = 12192000, 6858000  # 13.333 x 7.5 in: exactly 16:9
COLORS = {"dk2": "1D2731", "lt2": "EEF3F7", "accent1": "1F5F8B", "accent2": "C0392B", "accent3": "2E8B57"}
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
P = "http://schemas.openxmlformats.org/presentationml/2006/main"


def _theme(xml: str) -> str:
    for scheme in ("majorFont", "minorFont"):
        xml = re.sub(
            rf'(<a:{scheme}><a:latin typeface=")[^"]*("/><a:ea typeface=")[^"]*"',
            rf'\g<1>{LATIN[0]}\g<2>{EAST_ASIAN[0]}"',
            xml,
        )
    # Hangul's own slot in both schemes: the default names Malgun Gothic by its Korean name; one name everywhere
    hangul = f'<a:font script="Hang" typeface="{EAST_ASIAN[0]}"/>'
    xml = re.sub(r'<a:font script="Hang" typeface="[^"]*"/>', hangul, xml)
    for name, rgb in COLORS.items():
        xml = re.sub(
            rf"<a:{name}><a:srgbClr val=\"[0-9A-F]{{6}}\"/></a:{name}>",
            f'<a:{name}><a:srgbClr val="{rgb}"/></a:{name}>',
            xml,
        )
    return xml


def _widen(prs: object) -> None:
    """Stretch the 4:3 master and layouts across the 16:9 width.

    Every geometry is read first (a layout placeholder inherits the master's until it has its own), then written
    back in full, so nothing is scaled twice.
    """
    parts = [prs.slide_master, *prs.slide_layouts]  # type: ignore[attr-defined]
    found = [(shape, shape.left, shape.top, shape.width, shape.height) for part in parts for shape in part.shapes]
    for shape, left, top, width, height in found:
        if width is not None:
            shape.left, shape.width = round(left * WIDTH / 9144000), round(width * WIDTH / 9144000)
            shape.top, shape.height = top, height


def _styles(master: object) -> None:
    """Titles: left-aligned, 28 pt, bold, accent colour. Body: 18 pt, and nothing smaller than 14 pt."""
    root = master._element  # type: ignore[attr-defined]
    title = root.find(f".//{{{P}}}titleStyle/{{{A}}}lvl1pPr")
    title.set("algn", "l")
    rpr = title.find(f"{{{A}}}defRPr")
    rpr.set("sz", "2800")
    rpr.set("b", "1")
    fill = rpr.find(f"{{{A}}}solidFill")
    fill.clear()
    fill.append(fill.makeelement(f"{{{A}}}schemeClr", {"val": "accent1"}))
    for level, size in zip(range(1, 10), (1800, 1600, 1400, 1400, 1400, 1400, 1400, 1400, 1400), strict=True):
        body = root.find(f".//{{{P}}}bodyStyle/{{{A}}}lvl{level}pPr")
        if body is not None:
            body.find(f"{{{A}}}defRPr").set("sz", str(size))


def _cover(layout: object) -> None:
    """The cover's subtitle starts where its title does, left-aligned like every other slide."""
    title, subtitle = layout.placeholders[0], layout.placeholders[1]  # type: ignore[attr-defined]
    subtitle.left, subtitle.width = title.left, title.width


def _title_band(*parts: object) -> None:
    """A slimmer title (0.3 to 1.15 in) than the default 1.25 in box, and the body below it: more room for content."""
    from pptx.util import Inches

    for part in parts:
        for shape in part.placeholders:  # type: ignore[attr-defined]
            kind = shape.placeholder_format.type
            if kind is not None and kind.name == "TITLE":
                shape.top, shape.height = Inches(0.3), Inches(0.85)
            elif kind is not None and kind.name in ("BODY", "OBJECT"):
                shape.top, shape.height = Inches(1.3), Inches(5.6)


def build(path: Path) -> Path:
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.enum.shapes import MSO_SHAPE
    from pptx.opc.constants import RELATIONSHIP_TYPE as RT
    from pptx.util import Emu, Inches

    from grader.outputs.deck import save_reproducibly

    prs = Presentation()
    prs.slide_width, prs.slide_height = Emu(WIDTH), Emu(HEIGHT)
    master = prs.slide_master
    theme = master.part.part_related_by(RT.THEME)
    theme._blob = _theme(theme.blob.decode()).encode()
    _widen(prs)
    _styles(master)
    _cover(prs.slide_layouts.get_by_name("Title Slide"))
    _title_band(master, *(layout for layout in prs.slide_layouts if layout.name in ("Title and Content", "Title Only")))
    # The accent bar: drawn on a scratch slide (masters have no add_shape), then moved into the master's tree.
    scratch = prs.slides.add_slide(prs.slide_layouts[6])
    bar = scratch.shapes.add_shape(MSO_SHAPE.RECTANGLE, 0, 0, Emu(WIDTH), Inches(0.12))
    bar.fill.solid()
    bar.fill.fore_color.rgb = RGBColor.from_string(COLORS["accent1"])
    bar.line.fill.background()
    bar.name = "Accent bar"
    master.shapes._spTree.insert(2, bar._element)
    slides = prs.slides._sldIdLst
    prs.part.drop_rel(slides[0].rId)
    slides.remove(slides[0])
    props = prs.core_properties
    props.title, props.author, props.last_modified_by, props.revision = "grader deck template", "grader", "grader", 1
    from datetime import datetime

    props.created = props.modified = datetime(2026, 1, 1, tzinfo=UTC)
    save_reproducibly(prs, path)
    return path


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else templates_dir() / "slides.pptx"))
