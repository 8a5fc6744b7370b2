"""The PPTX deck: measured text, continuation slides, the template, and LibreOffice's view of what fits."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from grader import deck, slides, text
from grader.layout import templates_dir
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
    """The committed template matches `python -m grader.slides_template`, part for part."""
    from pptx import Presentation

    from grader import slides_template

    built = slides_template.build(tmp_path / "slides.pptx")
    committed = templates_dir() / "slides.pptx"
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(committed) as b:
        assert a.namelist() == b.namelist()
        assert all(a.read(n) == b.read(n) for n in a.namelist())
    prs = Presentation(str(committed))
    assert prs.slide_width * 9 == prs.slide_height * 16 and len(prs.slides) == 0
    assert {"Title Slide", "Title Only"} <= {layout.name for layout in prs.slide_layouts}


def test_deck_tells_the_story_in_8_to_12_slides(tmp_path: Path) -> None:
    d = report_data(tmp_path, group="good-group", questions=6, reflections=f"- worked\n- {KOREAN}")
    slides.write_pptx(d, tmp_path / "s.pptx")
    names = titles(tmp_path / "s.pptx")
    assert 8 <= len(names) <= 12, names
    assert names[0] == "good-group"
    expected = ["Data", "Part A", "Training loss", "Results", "Test questions", "Discussion", "Reflections", "Rubric"]
    positions = [next(i for i, n in enumerate(names) if n.startswith(e)) for e in expected]
    assert positions == sorted(positions)
    text = "\n".join(deck_text(tmp_path / "s.pptx"))
    assert KOREAN in text and "1.234" in text and "Q6 about" in text and f"/ {len(names)}" in text


def test_long_answers_continue_on_next_slides(tmp_path: Path) -> None:
    answer = " ".join(f"w{i}" for i in range(600))  # ~3,000 characters: cut to CELL_CHARS, then split over slides
    d = report_data(tmp_path, questions=2, answer=answer)
    slides.write_pptx(d, tmp_path / "s.pptx")
    names = titles(tmp_path / "s.pptx")
    qa = [i for i, n in enumerate(names) if n.startswith("Test questions")]
    assert len(qa) >= 2 and all(names[i].endswith(f"/{len(qa)})") for i in qa)
    pages = deck_text(tmp_path / "s.pptx")
    shown = " ".join(pages[i] for i in qa)
    kept = text.shorten(answer, slides.CELL_CHARS).rstrip("…").split()
    assert all(f" {w} " in f" {shown.replace(chr(10), ' ')} " for w in kept[:-1])  # every kept word is shown
    assert "(cont.)" in shown


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


def test_no_text_runs_off_a_slide_in_libreoffice(tmp_path: Path) -> None:
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
        assert misplaced_words(pdf, footer_words(tmp_path / f"{name}.pptx")) == [], name
    assert len(titles(tmp_path / "good.pptx")) <= 12 and len(titles(tmp_path / "hostile.pptx")) <= 40
