"""The PDF report on hand-built records: no model needed. Hostile student text must stay text."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from grader.layout import Layout
from grader.outputs import plots, render, text
from tests.conftest import EXAMPLES, pdf_pages, pdf_text, report_data

HOSTILE = (
    '<script>alert(1)</script> {{ 7*7 }} {% raw %} <img src="file:///etc/passwd"> '
    '<link rel="attachment" href="file:///etc/passwd"> \x00\x0b\ud800\ufffe'
)
KOREAN = "학습률을 조정하는 것이 가장 중요했습니다"


def attachments(path: Path) -> list[str]:
    """Embedded files and file-attachment annotations anywhere in the PDF."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    found = list(reader.attachments)
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            if annot.get_object().get("/Subtype") == "/FileAttachment":
                found.append("annotation")
    return found


def test_html_escapes_student_text(tmp_path: Path) -> None:
    env = render._environment()
    assert all(env.autoescape(name) for name in ("report.html.j2", "summary.html.j2"))
    html = render.render_html(report_data(tmp_path, HOSTILE))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html and "{% raw %}" in html
    images = re.findall(r"<img[^>]*>", html)
    assert len(images) == 1 and 'src="data:image/png;base64,' in images[0]  # only our own plot
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="stylesheet" href="report.css">']
    assert "team &lt;b&gt;x&lt;/b&gt;" in html
    assert "\x00" not in html and "\ufffe" not in html


def test_markdown_is_sanitized() -> None:
    html = text.markdown_html(
        '# T\n\n<iframe src="x"></iframe> ![a](http://evil/x.png) [l](javascript:alert(1))'
        '\n\n<a href="file:///etc/passwd">x</a> <p style="background:url(http://evil)">s</p>'
        "\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    tags = re.findall(r"<(/?[a-zA-Z][^>]*)>", html)
    assert {t.strip("/") for t in tags} <= text.ALLOWED_TAGS  # allowlisted, and none carries an attribute
    assert "<table>" in html and "<h1>" in html and "&lt;a href" in html  # raw HTML is shown as text


def test_reflections_are_rendered_as_sanitized_markdown(tmp_path: Path) -> None:
    d = report_data(
        tmp_path,
        reflections="What worked:\n\n- the **dataset** from papers\n- logging every step\n\n<script>x</script> "
        "[site](http://evil.example) ![p](file:///etc/passwd)",
    )
    html = render.render_html(d)
    section = html[html.index("<h2>Reflections</h2>") : html.index("<h2>Rubric</h2>")]
    assert "<li>the <strong>dataset</strong> from papers</li>" in section and "<li>logging every step</li>" in section
    assert "<script>" not in section and "<a" not in section and "<img" not in section and "http://evil" not in section
    assert "&lt;script&gt;" in section


def test_fetcher_refuses_everything_but_assets() -> None:
    from weasyprint.urls import URLFetchingError

    fetcher = render.safe_fetcher()
    escape = render.templates_dir().as_uri() + "/../../../../../../etc/passwd"
    for url in ("file:///etc/passwd", escape, "http://127.0.0.1:9/x.css", "https://example.com/a.png", "ftp://x/y"):
        with pytest.raises(URLFetchingError):
            fetcher.fetch(url)
    assert fetcher.fetch((render.templates_dir() / "report.css").as_uri())


class Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(302)  # every answer is a redirect to a local file
        self.send_header("Location", "file:///etc/passwd")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_pdf_renderer_fetches_nothing_but_assets(tmp_path: Path) -> None:
    """Even HTML that got past escaping can neither read local files, reach the network, nor attach anything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web = f"http://127.0.0.1:{server.server_port}"
    html = f"""<html><head>
      <link rel="stylesheet" href="{web}/style.css"><link rel="attachment" href="file:///etc/passwd">
      <link rel="attachment" href="{web}/secret"><link rel="attachment" href="../../../../../../etc/hostname">
      <style>@import url("file:///etc/passwd"); @font-face {{ font-family: x; src: url({web}/font.ttf); }}
      body {{ background: url("{web}/bg.png"); font-family: x; }}</style></head>
      <body><p>safe text</p><img src="file:///etc/passwd"><img src="{web}/redirect.png">
      <object data="file:///etc/passwd"></object><iframe src="file:///etc/passwd"></iframe>
      <a href="file:///etc/passwd" rel="attachment">x</a></body></html>"""
    try:
        render.write_pdf(html, tmp_path / "r.pdf")
    finally:
        server.shutdown()
        server.server_close()
    assert Recorder.hits == []
    assert attachments(tmp_path / "r.pdf") == []
    text = pdf_text(tmp_path / "r.pdf")
    assert "safe text" in text and "root:" not in text


def test_pdf_content_and_layout(tmp_path: Path) -> None:
    from pypdf import PdfReader

    long_word = "Fe3+" * 120  # 480 characters without a space
    d = report_data(tmp_path, steps=150, questions=3, answer=f"{long_word} {KOREAN}", reflections=f"- {KOREAN}")
    layout = Layout(tmp_path / "out")
    record = render.run(d, layout, "g")
    pdf = layout.report_pdf("g")
    reader = PdfReader(str(pdf))
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)
    assert len(pages) >= 5 and f"page 1 of {len(pages)}" in text and f"page {len(pages)} of {len(pages)}" in text
    for needle in ("team <b>x</b>", "1.234", "Q1 about Kaolinite doublet near 2165 nm?", "learning_rate", "Rubric"):
        assert needle in text
    for section in ("Results summary", "Part A", "Training", "Test questions", "Discussion", "Reflections"):
        assert section in text
    # the 150-step log table spans pages and repeats its header on each
    assert sum("step epoch train loss eval loss learning rate" in p for p in pages) >= 2
    assert KOREAN.replace(" ", "") in text.replace(" ", "").replace("\n", "")
    fonts = {
        str(f.get_object().get("/BaseFont"))
        for p in reader.pages
        for f in (p["/Resources"].get("/Font") or {}).values()
    }
    # grader's own fonts whatever the machine has (a bare one has neither DejaVu nor a Hangul font): Hangul set
    # in NanumGothic, not as missing-glyph boxes; text a reader extracts whole (no NUL-padded custom encodings)
    assert any("DejaVu-Sans" in f for f in fonts) and any("NanumGothic" in f for f in fonts), fonts
    assert "\x00" not in text and record.missing_glyphs == ""
    assert attachments(pdf) == [] and record.report_pdf == "report.pdf"
    overflow = [
        (n, word)
        for n, (width, _, boxes) in enumerate(pdf_pages(pdf), start=1)
        for _, _, x_max, _, word in boxes
        if x_max > width - 16 / 25.4 * 72 + 1
    ]  # 16 mm margin
    assert overflow == []


def test_hostile_text_renders_pdf(tmp_path: Path) -> None:
    d = report_data(tmp_path, HOSTILE, group="g/../../x {{ 7*7 }}")
    layout = Layout(tmp_path / "out")
    render.run(d, layout, "g")
    text = pdf_text(layout.report_pdf("g"))
    assert "root:x:0:0" not in text and "{{ 7*7 }}" in text and "<script>" in text
    assert attachments(layout.report_pdf("g")) == []
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["g", "report.html", "report.pdf", "slides.pptx"]
    page = layout.report_html("g").read_text(encoding="utf-8")  # the PDF's HTML, for a browser: still text
    assert "&lt;script&gt;" in page and "<script" not in page and "default-src 'none'" in page


def test_same_inputs_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = []
    clock = time.time
    for run, later in (("a", 0), ("b", 3601)):
        # the second run an hour later, by the clock zip entries and font subsetting read: stamps must not leak
        monkeypatch.setattr(time, "time", lambda later=later: clock() + later)
        folder = tmp_path / run
        folder.mkdir()
        d = report_data(folder, reflections=f"- {KOREAN}")
        render.run(d, Layout(folder / "out"), "g")
        outputs.append(
            [(folder / "training.png").read_bytes()]
            + [(folder / "out" / "g" / n).read_bytes() for n in ("report.pdf", "slides.pptx")]
        )
    assert outputs[0] == outputs[1]


def test_undrawable_characters_are_named_once_with_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.outputs import fonts
    from grader.running import pipeline

    monkeypatch.setattr(fonts, "_system", frozenset)  # a machine with no fonts of its own: only grader's
    layout = Layout(tmp_path / "out")
    for name, words in (("a", "ภาษาไทย 🧪 학습"), ("b", KOREAN), ("c", "emoji 🧪🧪")):
        folder = tmp_path / name
        folder.mkdir()
        layout.group_dir(name).mkdir(parents=True)
        from grader.storage import save

        save(render.run(report_data(folder, reflections=words), layout, name), layout.record(name, "render"))
    assert load_missing(layout, "b") == "" and load_missing(layout, "c") == "🧪"
    assert set(load_missing(layout, "a")) == set("ภาษไทย🧪")
    note = pipeline.font_note(["a", "b", "c"], layout)
    assert note is not None and "reports of a, c;" in note and "apt-get install fonts-noto-core fonts-symbola" in note
    assert pipeline.font_note(["b"], layout) is None


def load_missing(layout: Layout, name: str) -> str:
    from grader.records import RenderRecord
    from grader.storage import load

    record = load(RenderRecord, layout.record(name, "render"))
    assert record is not None
    return record.missing_glyphs


def test_plots_use_the_figure_api_and_render_any_script(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from grader.records import LogEntry, TrainRecord

    plots.families()  # registers the shipped Hangul font
    assert Path(font_manager.findfont("NanumGothic", fallback_to_default=False)).name == "NanumGothic.ttf"
    record = TrainRecord(group="지질-팀 $\\frac{1}{0}$ ", log=[LogEntry(step=1, loss=2.0, learning_rate=1e-4)])
    # pytest turns warnings into errors here: a missing Hangul glyph or a mathtext parse would fail the test
    path = plots.training_plot(record, tmp_path / "t.png")
    plots.class_plot([], [], tmp_path / "c.png", "fewer than 5 graded groups")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "c.png").is_file()
    assert plt.get_fignums() == []  # nothing registered with pyplot: no figure leaks across a batch


def test_the_groups_markdown_leaves_out_the_sections_quoted_above() -> None:
    """Reflections and discussion appear once: in their own sections, not again in the reproduced REPORT.md."""
    from grader.reading.writing import REFLECTIONS

    md = (EXAMPLES / "good-group" / "REPORT.md").read_text(encoding="utf-8")
    once = "building the dataset from paper chunks"
    assert once in md
    shown = text.shown_report(md, [REFLECTIONS])
    assert once not in shown and "## Reflections" in shown and "quoted above" in shown
    assert "## Part B. Fine-tuning practice" in shown and "## Discussion" in shown
    assert once in text.shown_report(md)  # nothing quoted above: nothing left out
    nested = "# R\n## Reflections\nmine\n### detail\nalso mine\n## Next\nkept\n```\n# Reflections in code\n```\n"
    out = text.shown_report(nested, [REFLECTIONS])
    assert "mine" not in out and "## Next\nkept" in out and "# Reflections in code" in out


WINGDINGS_DECK = (
    "\uf0a7 data from papers \uf0e0 all.jsonl \uf0fc done \U0001f9ea\U0001f44d\ufe0f final fine "
    "\uf0d8 \uf0b7 learning rate \uf0e8 lower \uf0ab ภาษาไทย 학습률"
)


def test_a_deck_full_of_wingdings_and_emoji_keeps_the_reports_text_layer_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Symbol-font bullets as their meaning, emoji by name: every page reads whole in pypdf and pdfplumber."""
    import pdfplumber
    from pypdf import PdfReader

    from grader.outputs import fonts

    monkeypatch.setattr(fonts, "_system", frozenset)  # no font of the machine's own: only grader's
    d = report_data(tmp_path, WINGDINGS_DECK, questions=2, reflections=f"- {WINGDINGS_DECK}\n- {WINGDINGS_DECK}")
    record = render.run(d, Layout(tmp_path / "out"), "g")
    pdf = tmp_path / "out" / "g" / "report.pdf"
    pages = [page.extract_text() for page in PdfReader(str(pdf)).pages]
    joined = "\n".join(pages)
    assert "\x00" not in joined and "f i n a l" not in joined and "final fine" in joined
    for meaning in ("▪ data from papers → all.jsonl ✓ done", "[test tube] [thumbs up sign]", "➢ • learning rate ➔"):
        assert meaning in joined.replace("\n", " ")
    assert "[7 Thai characters]" in joined and "학습률" in joined and "\uf0ab" not in joined
    with pdfplumber.open(str(pdf)) as plumbed:
        plumbed_pages = [page.extract_text() or "" for page in plumbed.pages]
    assert all(page.strip() for page in plumbed_pages)
    squeezed = "".join("".join(plumbed_pages).split())
    assert "finalfine" in squeezed and "→all.jsonl✓done[testtube]" in squeezed
    assert set(record.missing_glyphs) == set("\U0001f9ea\U0001f44d\uf0abภาษาไทย")


def test_the_example_groups_reports_read_whole(tmp_path: Path) -> None:
    """grader's own PDF for the real-shaped examples: no NUL-padded text, no letter-spacing, no empty page."""
    import pdfplumber
    from pypdf import PdfReader

    from grader.reading import deliverable

    for group, name in (("course-group", "Week5_Group3_report.pptx"), ("course-group-lfs", "Week5_Group5_report.pdf")):
        document = deliverable.read(EXAMPLES / group, name, [])
        assert document is not None
        words = " ".join(b.text for b in document.blocks)
        d = report_data(tmp_path, words[:3000], group=group, reflections=words[:3000])
        render.run(d, Layout(tmp_path / group), "g")
        pdf = tmp_path / group / "g" / "report.pdf"
        pages = [page.extract_text() for page in PdfReader(str(pdf)).pages]
        assert all(page.strip() and "\x00" not in page for page in pages)
        assert not re.search(r"\b(\w ){6,}", "\n".join(pages))  # no "f i n a l" letter-spaced words
        with pdfplumber.open(str(pdf)) as plumbed:
            assert all((page.extract_text() or "").strip() for page in plumbed.pages)


def test_the_groups_own_comparison_without_an_expected_answer_is_shown_unscored(tmp_path: Path) -> None:
    import dataclasses

    from grader.measure import score
    from grader.outputs import report as report_module
    from grader.records import Answer, GenerationRecord

    answer = Answer(
        instruction="Which band records water vapour?",
        context="",
        expected="",
        base="blue",
        finetuned="940 nm",
        reported="the 940 nm band",
        reported_base="red light",
        source="deck.pptx, slide 20",
    )
    generation = GenerationRecord(group="g", answers=[answer])
    scored = score.run(generation)
    d = dataclasses.replace(
        report_data(tmp_path),
        generation=generation,
        score=scored,
        questions=report_module._questions(generation, scored),
        discussion=report_module.discussion(scored, [], None),
    )
    html = text.shown_text(render.render_html(d))
    assert "(the group gave no expected answer: not scored)" in html and "ROUGE-L" not in html.split("Q1.")[1][:300]
    assert "The base model, as the group reported it (not measured here): red light" in " ".join(html.split())
    assert "None of the 1 questions has an expected answer" in html
    assert "n/a" in html.split("ROUGE-L base → fine-tuned")[1][:40]


def test_an_unsure_part_a_reading_is_marked_for_the_instructor(tmp_path: Path) -> None:
    import dataclasses

    from grader.outputs.slides import _param_row
    from grader.records import ParamAnswer

    d = report_data(tmp_path)
    own = ParamAnswer(
        name="lora_r",
        where="deck.pptx, slide 3",
        excerpt="lora_r | LoRA rank",
        answered={"what": True, "effect": False, "range": False, "why": False},
        evidence={"what": "LoRA rank"},
        unsure="a very short passage (3 words)",
    )
    params = [dataclasses.replace(p, own=own, coverage="partly") if p.keys[0] == "lora_r" else p for p in d.params]
    html = " ".join(text.shown_text(render.render_html(dataclasses.replace(d, params=params))).split())
    assert "? check: a very short passage (3 words)" in html
    row = _param_row(next(p for p in params if p.keys[0] == "lora_r"), 400.0)
    assert row[0][0].text == "lora_r ? check"  # the deck marks the name; the speaker notes say why
    from grader.outputs.slides import _param_notes

    assert "? check: a very short passage (3 words)" in _param_notes(next(p for p in params if p.keys[0] == "lora_r"))
