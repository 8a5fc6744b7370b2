"""The PPTX deck: measured text, continuation slides, the template, and LibreOffice's view of what fits."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grader.layout import templates_dir
from grader.outputs import deck, slides
from tests.conftest import deck_text, pdf_pages, report_data, viewer_env

KOREAN = "학습률을 조정하는 것이 가장 중요했습니다"


def titles(path: Path) -> list[str]:
    from pptx import Presentation

    return [slide.shapes.title.text_frame.text for slide in Presentation(str(path)).slides]


def test_wrap_measures_real_widths() -> None:
    text = "Kaolinite shows a doublet near 2165 and 2205 nm " * 6 + "x" * 300 + f" {KOREAN} 高岭石的双峰吸收特征"
    lines = deck.wrap(text, 200, 12)
    assert "".join(lines) == " ".join(text.split())  # nothing lost, nothing added
    assert all(deck.text_width(line.rstrip(), 12) <= 200 * deck.SLACK for line in lines)
    assert len(lines) > 10 and any(line == "x" * len(line) for line in lines)  # the long word was broken
    # bold is wider than regular, Hangul is one em per syllable, "W" is wider than "i"
    assert deck.text_width("Mineral", 12, bold=True) > deck.text_width("Mineral", 12)
    assert deck.text_width("학습", 10) == pytest.approx(20)
    assert deck.text_width("WWWW", 12) > 2 * deck.text_width("iiii", 12)


def test_markdown_becomes_plain_paragraphs() -> None:
    paras = list(
        slides.markdown_paragraphs("## Worked\n\n- **data** from papers\n- [link](http://x) ok\n\nplain <b>x</b>")
    )
    assert [(p.text, p.bold, p.bullet) for p in paras] == [
        ("Worked", True, False),
        ("data from papers", False, True),
        ("link ok", False, True),
        ("plain <b>x</b>", False, False),
    ]


def test_template_is_what_its_builder_makes(tmp_path: Path) -> None:
    """The committed template matches `python -m tools.slides_template`, part for part."""
    from pptx import Presentation

    from tools import slides_template

    built = slides_template.build(tmp_path / "slides.pptx")
    committed = templates_dir() / "slides.pptx"
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(committed) as b:
        assert a.namelist() == b.namelist()
        assert all(a.read(n) == b.read(n) for n in a.namelist())
    prs = Presentation(str(committed))
    assert prs.slide_width * 9 == prs.slide_height * 16 and len(prs.slides) == 0
    with zipfile.ZipFile(committed) as z:  # the theme names the typefaces every run asks for
        theme = z.read("ppt/theme/theme1.xml").decode()
    for scheme in ("majorFont", "minorFont"):
        fonts = re.search(rf"<a:{scheme}>(.*?)</a:{scheme}>", theme)
        assert fonts is not None
        assert '<a:latin typeface="Arial"/><a:ea typeface="Malgun Gothic"/>' in fonts.group(1)
        assert '<a:font script="Hang" typeface="Malgun Gothic"/>' in fonts.group(1)
    assert {"Title Slide", "Title Only"} <= {layout.name for layout in prs.slide_layouts}


def test_deck_tells_the_story_in_8_to_12_slides(tmp_path: Path) -> None:
    d = report_data(tmp_path, group="good-group", questions=6, reflections=f"- worked\n- {KOREAN}")
    slides.write_pptx(d, tmp_path / "s.pptx")
    names = titles(tmp_path / "s.pptx")
    assert 8 <= len(names) <= 12, names
    assert names[0] == "good-group"
    expected = ["Part A", "Data and training", "Results", "Test questions", "Discussion", "Rubric"]
    positions = [next(i for i, n in enumerate(names) if n.startswith(e)) for e in expected]
    assert positions == sorted(positions)
    # 13 parameters on 4 slides of 3 or 4, 6 questions on 3 slides of 2
    assert next(n for n in names if n.startswith("Part A")).startswith("Part A: parameters 1–3 of 13")
    assert sum(n.startswith("Part A") for n in names) == 4 and sum(n.startswith("Test questions") for n in names) == 3
    text = "\n".join(deck_text(tmp_path / "s.pptx", notes=False))
    assert KOREAN in text and "1.234" in text and "Q6. Q6 about" in text and f"/ {len(names)}" in text
    assert "Fine-tuned [1.00]: Kaolinite doublet near 2165 nm" in text and "Base [0.10]: unrelated words" in text


def notes(path: Path) -> list[str]:
    from pptx import Presentation

    prs = Presentation(str(path))
    return [s.notes_slide.notes_text_frame.text if s.has_notes_slide else "" for s in prs.slides]


def test_long_answers_are_shortened_on_the_slide_and_whole_in_the_notes(tmp_path: Path) -> None:
    answer = " ".join(f"w{i}" for i in range(600)) + ". Second sentence."  # ~3,300 characters, one sentence
    d = report_data(tmp_path, questions=2, answer=answer)
    slides.write_pptx(d, tmp_path / "s.pptx")
    names, pages, said = titles(tmp_path / "s.pptx"), deck_text(tmp_path / "s.pptx", False), notes(tmp_path / "s.pptx")
    qa = [i for i, n in enumerate(names) if n.startswith("Test questions")]
    assert len(qa) == 1 and names[qa[0]] == "Test questions 1–2 of 2 [ROUGE-L]"  # never continued on a slide
    shown = " ".join(pages[qa[0]].split())
    kept = " ".join(f"w{i}" for i in range(slides.ANSWER_WORDS))
    assert f"Fine-tuned [1.00]: {kept}…" in shown and "w100" not in shown and "speaker notes" in shown
    assert said[qa[0]].count(answer) == 2  # both answers whole in the notes
    assert not any("(cont.)" in n or "(2/" in n for n in names)


def test_first_sentences_and_clip() -> None:
    assert slides.first_sentences("One two. Three four five. Six.", 5) == "One two. Three four five. …"
    assert slides.first_sentences("One two three four five six", 3) == "One two three…"
    assert slides.first_sentences("  ", 3) == ""
    para = deck.clip(deck.Para("word " * 100), 300, 2)
    assert para.text.endswith("…") and len(para.lines(300)) == 2
    assert deck.clip(deck.Para("short"), 300, 1).text == "short"


def runs(path: Path) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(part, text, the run's properties, its East Asian typeface) of every text run on the slides and in the
    speaker notes."""
    from lxml import etree

    a = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    found = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not re.match(r"ppt/(slides|notesSlides)/\w+\.xml$", name):
                continue
            for run in etree.fromstring(z.read(name)).iter(f"{a}r"):
                props = run.find(f"{a}rPr")
                ea = props.find(f"{a}ea") if props is not None else None
                text = "".join(t.text or "" for t in run.iter(f"{a}t"))
                found.append(
                    (
                        name,
                        text,
                        dict(props.attrib) if props is not None else {},
                        dict(ea.attrib) if ea is not None else {},
                    )
                )
    return found


def test_the_checks_see_small_type_and_hangul_without_its_typeface(tmp_path: Path) -> None:
    """The size and typeface checks of the LibreOffice test, on a deck spoiled by hand: they find both faults."""
    from pptx import Presentation
    from pptx.util import Pt

    slides.write_pptx(report_data(tmp_path, f"{KOREAN} 2165 nm", questions=1), tmp_path / "s.pptx")
    assert min(font_sizes(tmp_path / "s.pptx")[0]) >= deck.SMALL_PT
    prs = Presentation(str(tmp_path / "s.pptx"))
    run = next(
        r
        for s in prs.slides
        for sh in s.shapes
        if sh.has_text_frame
        for p in sh.text_frame.paragraphs
        for r in p.runs
        if deck.HANGUL.search(r.text)
    )
    run.font.size = Pt(9)
    props = run._r.get_or_add_rPr()
    props.remove(props.find(f"{deck.A}ea"))
    prs.save(str(tmp_path / "spoiled.pptx"))
    assert min(font_sizes(tmp_path / "spoiled.pptx")[0]) == 9
    assert [text for _, text, _, ea in runs(tmp_path / "spoiled.pptx") if not ea] == [run.text]


def test_every_hangul_run_asks_for_the_korean_typeface(tmp_path: Path) -> None:
    """PowerPoint picks a run's Korean glyphs from its East Asian typeface: every run that holds Hangul names one
    (Malgun Gothic, with its panose and Hangul charset so that a viewer without it substitutes a Korean Gothic)."""
    d = report_data(tmp_path, f"{KOREAN} 2165 nm", group=f"조 {KOREAN}", questions=2, reflections=f"- {KOREAN}")
    slides.write_pptx(d, tmp_path / "s.pptx")
    found = runs(tmp_path / "s.pptx")
    hangul = [r for r in found if deck.HANGUL.search(r[1])]
    assert {part.split("/")[1] for part, *_ in hangul} == {"slides", "notesSlides"}  # on slides and in the notes
    for part, text, props, ea in hangul:
        assert ea.get("typeface") == "Malgun Gothic" and ea.get("charset") == "-127", (part, text)
        assert props.get("lang") == "ko-KR", (part, text)
    assert all(ea.get("typeface") == "Malgun Gothic" for *_, ea in found)  # Latin runs too: Hangul may be typed in


def test_control_characters_and_lone_surrogates(tmp_path: Path) -> None:
    from pptx import Presentation

    nasty = "a\x00b\x0bc\x1fd\ud800e\udfff\ufffef {{ 7*7 }} <b>x</b>"
    d = report_data(tmp_path, nasty, group=nasty, reflections=nasty)
    slides.write_pptx(d, tmp_path / "s.pptx")
    text = "\n".join(deck_text(tmp_path / "s.pptx"))
    assert "abcdef {{ 7*7 }} <b>x</b>" in text
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe]", text)
    assert len(Presentation(str(tmp_path / "s.pptx")).slides) >= 8


def convert(decks: list[Path], out: Path) -> list[Path]:
    """PPTX -> PDF with LibreOffice headless, in a private profile so parallel runs do not collide."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice is not installed (Debian: libreoffice-impress)")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    profile = (out / "profile").as_uri()
    cmd = [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf", "--outdir", str(out)]
    subprocess.run([*cmd, *map(str, decks)], check=True, capture_output=True, timeout=180, env=viewer_env(out))
    return [out / f"{path.stem}.pdf" for path in decks]


def misplaced_words(pdf: Path, footer: set[str]) -> list[str]:
    """Words outside the content area: past the right margin, in the footer band (unless footer text), or piled
    on top of another word (text that overflowed its box into the next one)."""
    bad: list[str] = []
    for n, (width, height, boxes) in enumerate(pdf_pages(pdf), start=1):
        band = height - deck.FOOTER
        for x0, y0, x1, y1, word in boxes:
            if x0 < 0 or x1 > width - 0.5 * 72 + 2 or y0 < 0:
                bad.append(f"slide {n}: {word!r} past the edge ({x0:.0f}-{x1:.0f} of {width:.0f})")
            elif y1 > band + 1 and not (y0 >= band and word in footer):
                bad.append(f"slide {n}: {word!r} below the content area ({y1:.0f} > {band:.0f})")
        for i, (x0, y0, x1, y1, word) in enumerate(boxes):
            for a0, b0, a1, b1, other in boxes[i + 1 :]:
                overlap = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
                if overlap > 0.3 * min((x1 - x0) * (y1 - y0), (a1 - a0) * (b1 - b0)):
                    bad.append(f"slide {n}: {word!r} overlaps {other!r}")
    return bad


def footer_words(path: Path) -> set[str]:
    """The words of the shapes that the deck itself put in the footer band."""
    from pptx import Presentation

    prs = Presentation(str(path))
    band = prs.slide_height / 12700 - deck.FOOTER
    return {
        word
        for slide in prs.slides
        for shape in slide.shapes
        if shape.has_text_frame and shape.top / 12700 >= band
        for word in shape.text_frame.text.split()
    }


def body_words(pdf: Path) -> list[int]:
    """Words (with a letter or digit) between each page's title and its footer band, as LibreOffice laid them out."""
    area = deck.Deck().area
    counts = []
    for _, height, boxes in pdf_pages(pdf):
        band = height - deck.FOOTER
        counts.append(
            sum(1 for _, y0, _, y1, w in boxes if y0 >= area.top - 2 and y1 <= band + 1 and re.search(r"\w", w))
        )
    return counts


def font_sizes(path: Path) -> tuple[list[float], list[float]]:
    """Every size (pt) set on a run of the slides, and those of the titles (the speaker notes are not shown)."""
    from pptx import Presentation

    body, heads = [], []
    for slide in Presentation(str(path)).slides:
        for shape in slide.shapes:
            if not shape.has_text_frame:
                continue
            sizes = [r.font.size.pt for p in shape.text_frame.paragraphs for r in p.runs if r.font.size]
            (heads if shape == slide.shapes.title else body).extend(sizes)
    return body, heads


def deck_problems(pptx: Path, pdf: Path) -> list[str]:
    """What makes a slide unreadable from across a room: text off its box, a near-empty slide, small type, and
    Hangul without a Korean typeface."""
    bad = misplaced_words(pdf, footer_words(pptx))
    for n, count in enumerate(body_words(pdf), start=1):
        if n > 1 and count < MIN_WORDS:  # the cover is a title slide
            bad.append(f"slide {n}: {count} words")
    body, heads = font_sizes(pptx)
    if min(body) < deck.SMALL_PT or min(heads) < deck.MIN_TITLE_PT:
        bad.append(f"smallest text {min(body)} pt, smallest title {min(heads)} pt")
    bad += [
        f"{part}: {text!r} has no Korean typeface"
        for part, text, _, ea in runs(pptx)
        if deck.HANGUL.search(text) and not ea
    ]
    return bad


MIN_WORDS = 8  # fewer on a slide (the cover apart) is a fragment, not a slide


def test_decks_read_from_across_a_room_in_libreoffice(tmp_path: Path) -> None:
    """The real test of the measuring: LibreOffice lays the decks out, and every word must sit where it should."""
    cases = {
        "good": report_data(tmp_path, group="good-group", questions=6, reflections=f"- worked\n- {KOREAN}"),
        "hostile": report_data(
            tmp_path,
            "Illite " * 150 + "x" * 700 + f" {KOREAN * 8}",
            group="W" * 200,
            questions=7,
            answer=("MNF orders components by signal-to-noise " * 40) + "高岭石" * 60,
            reflections=("## Lessons\n\n" + "- " + "we learned a lot about spectra " * 30 + "\n") * 6,
        ),
    }
    decks = []
    for name, d in cases.items():
        slides.write_pptx(d, tmp_path / f"{name}.pptx")
        decks.append(tmp_path / f"{name}.pptx")
    for name, pdf in zip(cases, convert(decks, tmp_path), strict=True):
        assert deck_problems(tmp_path / f"{name}.pptx", pdf) == [], name
    assert len(titles(tmp_path / "good.pptx")) <= 12 and len(titles(tmp_path / "hostile.pptx")) <= 13


@pytest.mark.slow
def test_the_course_shaped_groups_deck_in_libreoffice(tmp_path: Path) -> None:
    """The course-shaped example graded end to end (demo model): its deck has 12 slides at most and passes the
    same checks, Korean Part A answers included."""
    from grader.config import RunSettings
    from grader.running.pipeline import run as grade_batch
    from tests.conftest import EXAMPLES

    shutil.copytree(EXAMPLES / "course-group", tmp_path / "subs" / "course-group")
    grade_batch(tmp_path / "subs", RunSettings(out=tmp_path / "out", cache_dir=None, max_new_tokens=48))
    pptx = tmp_path / "out" / "course-group" / "slides.pptx"
    assert len(titles(pptx)) <= 12, titles(pptx)
    (pdf,) = convert([pptx], tmp_path)
    assert deck_problems(pptx, pdf) == []
    assert any(deck.HANGUL.search(text) for _, text, _, _ in runs(pptx))  # its Part A answers in Korean are shown


def test_rows_that_do_not_fit_are_left_to_the_notes(tmp_path: Path) -> None:
    table = deck.Deck()
    rows = [[[deck.Para(f"row {i} " + "word " * 30)], [deck.Para(str(i))]] for i in range(12)]
    table.rows("Many rows", [("text", 4), ("n", 1)], rows, "every row")
    table.save(tmp_path / "t.pptx", datetime(2026, 1, 1, tzinfo=UTC))
    (shown,) = deck_text(tmp_path / "t.pptx", notes=False)
    assert "row 0" in shown and "row 11" not in shown and "More rows in the speaker notes." in shown
